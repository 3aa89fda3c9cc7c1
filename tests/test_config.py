"""Config validation: schema (with defaults) and registry names, errors naming the key at fault."""

import copy
from pathlib import Path

import pytest
import yaml

from archssl.config import ConfigError, load_config
from archssl.plan import validate_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cfg():
    return load_config(ROOT / "config" / "config.yaml")


def test_default_config_is_valid_and_defaults_are_filled(cfg):
    specs = validate_config(cfg)
    assert len(specs) >= 8
    assert {s["family"] for s in specs} == {"resnet", "mobilenetv2"}
    assert cfg["features"]["dtype"] == "float32"  # filled from the schema
    assert cfg["pretrain"]["optimizer"]["trust_coefficient"] == 1e-3
    assert cfg["data"]["pretrain_split"] == "train"


@pytest.mark.parametrize("preset", sorted(p.name for p in (ROOT / "config" / "studies").glob("*.yaml")))
def test_presets_are_valid(preset):
    validate_config(load_config(ROOT / "config" / "studies" / preset))


@pytest.mark.parametrize("edit,message", [
    (lambda c: c.update(colour="red"), "config key 'colour': unknown key"),
    (lambda c: c["pretrain"].update(epcohs=3), "config key 'pretrain.epcohs': unknown key"),
    (lambda c: c["pretrain"].update(epochs="ten"), "config key 'pretrain.epochs': 'ten' is not of type 'integer'"),
    (lambda c: c["features"].update(dtype="int8"), "config key 'features.dtype'"),
    (lambda c: c["data"]["downstream"].append("cifar11"), "config key 'data.downstream[8]': unknown dataset 'cifar11'"),
    (lambda c: c["data"].update(pretrain="imagenet1k"), "config key 'data.pretrain': unknown dataset"),
    (lambda c: c["data"].update(pretrain_split="unlabeled"), "config key 'data.pretrain_split'"),
    (lambda c: c.update(methods=["simclr", "dino"]), "config key 'methods[1]': unknown SSL method 'dino'"),
    (lambda c: c["probe"].update(name="svm"), "config key 'probe.name': unknown probe 'svm'"),
    (lambda c: c["analysis"].update(reference="cifar10"), "config key 'analysis.reference'"),
    (lambda c: c["archs"]["sample"]["space"][0].update(family="vit"), "vit"),
    (lambda c: c["archs"].update(specs=[{"family": "resnet", "depths": [0, 1]}]), "depths"),
    (lambda c: c.pop("methods"), "'methods' is a required property"),
    (lambda c: c["pretrain"]["method_params"].update(simclr={"dataset": "imagenet1k"}),
     "config key 'pretrain.method_params.simclr.dataset': unknown dataset 'imagenet1k'"),
    (lambda c: c["pretrain"]["method_params"].update(simclr={"dataset": "digits", "split": "unlabeled"}),
     "config key 'pretrain.method_params.simclr.split': dataset 'digits' has no split 'unlabeled'"),
    (lambda c: c["pretrain"]["method_params"].update(simclr={"split": "test"}),
     "config key 'pretrain.method_params.simclr.split': dataset 'pool' has no split 'test'"),
    (lambda c: c["pretrain"]["method_params"].update(rotation={"optimizer": {"name": "sgd", "lr": "fast"}}),
     "config key 'pretrain.method_params.rotation.optimizer.lr'"),
    (lambda c: c["pretrain"]["method_params"].update(rotation={"epochs": 0}),
     "config key 'pretrain.method_params.rotation.epochs'"),
    (lambda c: c["pretrain"]["method_params"].update(jigsaw={"precision": "fp16"}),
     "config key 'pretrain.method_params.jigsaw.precision'"),
    (lambda c: c["pretrain"]["method_params"].update(rotation={"head": {"kind": "mlpp"}}),
     "config key 'pretrain.method_params.rotation.head.kind': 'mlpp' is not one of ['none', 'linear'"),
    (lambda c: c["pretrain"]["method_params"].update(byol={"predictor": {"hidden": 0}}),
     "config key 'pretrain.method_params.byol.predictor.hidden': 0 is less than the minimum of 1"),
    (lambda c: c["pretrain"]["method_params"].update(moco={"head": {"kind": "mlp", "width": 64}}),
     "config key 'pretrain.method_params.moco.head.width': unknown key; allowed here: bn, hidden, kind, out"),
    (lambda c: c.update(methods=["random", "supervised"]),
     "config key 'data.pretrain': method 'supervised' needs a labelled pretraining set, but 'pool' has no labels"),
    (lambda c: c.update(methods=["random", "supervised"]) or c["pretrain"]["method_params"].update(
        supervised={"dataset": "pool"}),
     "config key 'pretrain.method_params.supervised.dataset': method 'supervised' needs a labelled"),
])
def test_bad_configs_name_the_key(cfg, edit, message):
    bad = copy.deepcopy(cfg)
    edit(bad)
    with pytest.raises(ConfigError) as e:
        validate_config(bad)
    assert message in str(e.value)


def test_a_method_can_pretrain_on_its_own_set(cfg):
    """method_params.<m>.dataset / split: the supervised baseline on a labelled set, the SSL methods on the pool."""
    from archssl.plan import plan

    def pretrain_set(p, m):
        return p.pretrain[m].data.name, p.pretrain[m].data.split

    cfg["methods"] = ["random", "simclr", "supervised"]
    cfg["pretrain"]["method_params"]["supervised"] = {"dataset": "photo_source", "label_smoothing": 0.1}
    p = plan(copy.deepcopy(cfg))
    assert pretrain_set(p, "supervised") == ("photo_source", "train")
    assert pretrain_set(p, "simclr") == ("pool", "train")
    cfg["pretrain"]["method_params"]["supervised"]["split"] = "val"
    assert pretrain_set(plan(cfg), "supervised") == ("photo_source", "val")


def test_unreadable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("study: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_validation_does_not_depend_on_key_order(cfg):
    a = copy.deepcopy(cfg)
    b = yaml.safe_load(yaml.safe_dump(cfg, sort_keys=True))
    assert validate_config(a) == validate_config(b)


def test_method_params_are_checked_against_the_methods_own_keys(cfg):
    bad = copy.deepcopy(cfg)
    bad["pretrain"]["method_params"]["simclr"]["temprature"] = 0.1
    with pytest.raises(ConfigError, match="'pretrain.method_params.simclr.temprature': unknown key"):
        validate_config(bad)
    bad = copy.deepcopy(cfg)
    bad["pretrain"]["method_params"]["simclr"]["augment"] = {"crop_scale": [0.2, 1.0], "blur": 1}
    with pytest.raises(ConfigError, match="pretrain.method_params.simclr.augment"):
        validate_config(bad)
    ok = copy.deepcopy(cfg)
    ok["pretrain"]["method_params"]["simclr"]["augment"] = {"blur_p": 0.5}
    validate_config(ok)


def _with_variants(c, variants, listed=None):
    c["variants"] = variants
    c["methods"] = [*c["methods"], *(variants if listed is None else listed)]


@pytest.mark.parametrize("variants,listed,message", [
    ({"simclr_x": {"method": "simclr", "params": {"temprature": 0.1}}}, None,
     "config key 'variants.simclr_x.params.temprature': unknown key"),
    ({"simclr_x": {"method": "simclr", "params": {"head": {"kind": "mlpp"}}}}, None,
     "config key 'variants.simclr_x.params.head.kind': 'mlpp' is not one of"),
    ({"simclr_x": {"method": "simclr", "params": {"cosine": "no"}}}, None,
     "config key 'variants.simclr_x.params.cosine': 'no' is not of type 'boolean'"),
    ({"simclr_x": {"method": "simclr", "params": {"batch_size": 0}}}, None,
     "config key 'variants.simclr_x.params.batch_size': 0 is less than the minimum of 1"),
    ({"simclr_x": {"method": "simclr", "params": {"split": "unlabeled"}}}, None,
     "config key 'variants.simclr_x.params.split': dataset 'pool' has no split 'unlabeled'"),
    ({"simclr_x": {"method": "simclar"}}, None, "config key 'variants.simclr_x.method': unknown SSL method 'simclar'"),
    ({"a": {"method": "simclr"}, "b": {"method": "a"}}, None,
     "config key 'variants.b.method': unknown SSL method 'a' (a variant configures a registered method"),
    ({"moco": {"method": "simclr"}}, [], "config key 'variants.moco': a variant may not take the name"),
    ({"Simclr-x": {"method": "simclr"}}, [], "config key 'variants'"),
    ({"simclr_x": {"method": "simclr", "seed": -1}}, None, "config key 'variants.simclr_x.seed'"),
    ({"simclr_x": {"method": "simclr", "parms": {}}}, None, "config key 'variants.simclr_x.parms': unknown key"),
    ({"simclr_x": {"method": "simclr"}}, ["simclr_y"], "config key 'methods[2]': unknown SSL method or variant "
                                                       "'simclr_y'; known methods:"),
    ({"simclr_x": {"method": "simclr", "against": "moco"}}, None,
     "config key 'variants.simclr_x.against': 'moco' is not another entry of methods"),
    ({"simclr_x": {"method": "simclr", "against": "simclr_x"}}, None,
     "config key 'variants.simclr_x.against': 'simclr_x' is not another entry of methods"),
])
def test_bad_variants_name_the_key(cfg, variants, listed, message):
    _with_variants(cfg, variants, listed)
    with pytest.raises(ConfigError) as e:
        validate_config(cfg)
    assert message in str(e.value)


def test_a_variants_params_are_not_method_params(cfg):
    _with_variants(cfg, {"simclr_x": {"method": "simclr"}})
    cfg["pretrain"]["method_params"]["simclr_x"] = {"temperature": 0.1}
    with pytest.raises(ConfigError, match=r"'pretrain.method_params.simclr_x': unknown SSL method 'simclr_x' "
                                          r"\(variants' params go under variants.simclr_x.params\)"):
        validate_config(cfg)


def test_variants_resolve_to_their_method_with_params_merged_and_their_seed(cfg):
    from archssl.config import resolve_run

    cfg["seed"] = 7
    _with_variants(cfg, {
        "simclr_nohead": {"method": "simclr", "params": {"head": {"kind": "none"}, "cosine": False}},
        "simclr_s3": {"method": "simclr", "seed": 3, "note": "seed replicate"},
        "simclr_crop": {"method": "simclr", "params": {"augment": {"crop_scale": [0.02, 0.1]}}},
    })
    cfg["pretrain"]["method_params"]["simclr"]["augment"] = {"crop_scale": [0.5, 1.0], "blur_p": 0.5}
    validate_config(cfg)
    plain = resolve_run(cfg, "simclr")
    assert (plain.method, plain.seed, plain.is_variant, plain.note) == ("simclr", 7, False, "")
    nohead = resolve_run(cfg, "simclr_nohead")
    assert nohead.method == "simclr" and nohead.is_variant and nohead.seed == 7
    # nested mappings merged key by key: the head keeps the study's hidden/out, only its kind changes
    assert nohead.params["head"] == {"kind": "none", "hidden": 512, "out": 128}
    assert nohead.params["temperature"] == 0.5 and nohead.params["cosine"] is False
    assert nohead.note == "head.kind=none, cosine=false"
    assert plain.against == "simclr" and nohead.against == "simclr"
    s3 = resolve_run(cfg, "simclr_s3")
    assert s3.seed == 3 and s3.params == plain.params and s3.note == "seed replicate"
    crop = resolve_run(cfg, "simclr_crop")
    # lists are replaced, the augment mapping's other keys kept
    assert crop.params["augment"] == {"crop_scale": [0.02, 0.1], "blur_p": 0.5}
    assert crop.note == "augment.crop_scale=[0.02, 0.1]"
    # the study's own method_params are untouched by resolving variants
    assert cfg["pretrain"]["method_params"]["simclr"]["head"] == {"kind": "mlp", "hidden": 512, "out": 128}


def test_a_variant_may_be_compared_with_another_variant_without_its_method_in_the_study(cfg):
    from archssl.config import resolve_run

    cfg["variants"] = {"moco_k512": {"method": "moco", "params": {"queue_size": 512}},
                       "moco_k512_nohead": {"method": "moco", "params": {"queue_size": 512, "head": {"kind": "none"}},
                                            "against": "moco_k512"}}
    cfg["methods"] = ["random", "moco_k512_nohead", "moco_k512"]
    validate_config(cfg)
    assert resolve_run(cfg, "moco_k512_nohead").against == "moco_k512"
    assert resolve_run(cfg, "moco_k512_nohead").params["queue_size"] == 512
    # moco is not in the study and moco_k512 names no `against`: a run like any other, not compared
    assert resolve_run(cfg, "moco_k512").against is None and resolve_run(cfg, "moco_k512").is_variant


#: each overlay (config/overlays/) and the preset it is given after
OVERLAYS = {"mini_methods_seed1.yaml": "mini_methods.yaml", "girish_seed1.yaml": "girish.yaml"}


def test_every_overlay_is_listed_with_its_preset():
    assert sorted(p.name for p in (ROOT / "config" / "overlays").glob("*.yaml")) == sorted(OVERLAYS)


@pytest.mark.parametrize("overlay,preset", sorted(OVERLAYS.items()))
def test_overlays_are_valid_over_their_preset_as_snakemake_merges_them(overlay, preset):
    from snakemake.utils import update_config

    from archssl.config import deep_merge

    base = load_config(ROOT / "config" / "studies" / preset)
    top = load_config(ROOT / "config" / "overlays" / overlay)
    merged = copy.deepcopy(base)
    update_config(merged, top)  # what `snakemake --configfile PRESET OVERLAY` does
    assert deep_merge(base, top) == merged  # what `archssl config validate PRESET OVERLAY` does
    validate_config(merged)
    if merged["results"] == base["results"]:
        # an overlay writing into its preset's results only adds runs: everything that exists stays valid
        assert set(base["methods"]) < set(merged["methods"]) and set(top) <= {"methods", "variants"}


def test_the_seed_overlay_reruns_every_method_with_seed_1_and_keeps_the_presets_settings():
    from archssl.config import deep_merge, resolve_run

    base = load_config(ROOT / "config" / "studies" / "mini_methods.yaml")
    cfg = deep_merge(base, load_config(ROOT / "config" / "overlays" / "mini_methods_seed1.yaml"))
    validate_config(cfg)
    runs = [resolve_run(cfg, m) for m in cfg["methods"]]
    assert sorted(r.method for r in runs) == sorted(base["methods"])
    for r in runs:
        assert r.seed == 1 and r.params == (base["pretrain"]["method_params"].get(r.method) or {})
    assert cfg["analysis"]["baseline"] == "random_s1"
