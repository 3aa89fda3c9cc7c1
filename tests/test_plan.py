"""The plan (archssl.plan): one torch-free resolution of a study into job specs, with every default from the
schema and the descriptors, every bad key rejected by name before any job, and the same specs for the Python
API and the workflow."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from archssl.cli import main
from archssl.config import ConfigError, load_schema
from archssl.plan import FeaturesExec, PretrainExec, PretrainJob, ProbeJob, parse_exec, plan, planned_figures
from support.studies import MICRO  # the micro study of the workflow tests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

@pytest.fixture
def cfg():
    return copy.deepcopy(MICRO)


def test_architecture_ids_are_pinned(cfg):
    """Content-derived ids: the same on every machine and code version (renaming one renames its results)."""
    assert list(plan(cfg).archs) == ["resnet-basic-d11-w4-cifar-428a25", "mbv2-x0.25-d1111111-small-56c299"]


def test_the_default_study_plans_without_importing_torch():
    code = ("import sys, yaml; from archssl.plan import plan; "
            "p = plan(yaml.safe_load(open('config/config.yaml'))); "
            "assert len(p.archs) == 8 and p.pretrain['simclr'].epochs == 4; "
            "bad = [m for m in ('torch', 'torchvision') if m in sys.modules]; "
            "print('imported:', bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_default_comes_from_the_schema(cfg):
    """The job specs, the execution settings and the augmentation dataclass take the schema's defaults."""
    from archssl.train.augment import AugmentConfig

    schema = load_schema()["properties"]
    pre, feat = schema["pretrain"]["properties"], schema["features"]["properties"]
    p = plan(cfg)
    job = p.pretrain["simclr"]
    assert job.final_lr == pre["final_lr"]["default"] and job.precision == pre["precision"]["default"]
    assert job.augment == {k: v["default"] for k, v in pre["augment"]["properties"].items()}
    assert job.optimizer["weight_decay"] == pre["optimizer"]["properties"]["weight_decay"]["default"]
    aug = AugmentConfig()
    assert [list(aug.crop_scale), aug.blur_p] == [pre["augment"]["properties"]["crop_scale"]["default"],
                                                   pre["augment"]["properties"]["blur_p"]["default"]]
    assert PretrainExec() == PretrainExec(pre["device"]["default"], pre["num_workers"]["default"],
                                          pre["checkpoint_every"]["default"], pre["compile"]["default"]) == p.pretrain_exec
    assert FeaturesExec() == FeaturesExec(feat["device"]["default"], feat["num_workers"]["default"],
                                          feat["batch_size"]["default"]) == p.features_exec
    # the method's own defaults (its descriptor), merged under the config's
    assert job.method_params == {"temperature": 0.5, "head": {"kind": "mlp", "hidden": 32, "out": 16, "bn": True}}


def test_the_python_api_and_the_workflow_build_the_same_job_specs(cfg):
    """PretrainJob.build / ProbeJob.build (the API) and plan() (what the workflow passes) agree, and the CLI's
    `archssl plan` prints the same spec."""
    p = plan(copy.deepcopy(cfg))
    api = PretrainJob.build("simclr", run="simclr", seed=0, image_size=16, data=p.pretrain["simclr"].data,
                            pretrain=cfg["pretrain"], method_params=cfg["pretrain"]["method_params"]["simclr"])
    assert api == p.pretrain["simclr"]
    assert PretrainJob.from_dict(json.loads(api.to_json())) == api
    assert ProbeJob.build(cfg["probe"])[0] == p.probe


def test_archssl_plan_prints_the_workflow_spec(cfg, tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    main(["plan", str(tmp_path / "c.yaml"), "--stage", "pretrain", "--run", "simclr"])
    assert json.loads(capsys.readouterr().out) == plan(cfg).pretrain["simclr"].to_dict()


def test_adding_a_dataset_leaves_the_one_file_feature_specs_of_the_others(cfg):
    a = plan(copy.deepcopy(cfg))
    cfg["data"]["downstream"].append("digits")
    b = plan(cfg)
    assert a.features["simclr"].only(["shape"]) == b.features["simclr"].only(["shape"])
    assert list(b.features["simclr"].datasets) == ["shape", "textures", "digits"]


def test_execution_settings_are_not_in_the_job_specs(cfg):
    a = plan(copy.deepcopy(cfg))
    cfg["pretrain"].update(num_workers=3, checkpoint_every=5, device="cpu")
    cfg["features"] = {"batch_size": 7, "num_workers": 2, "device": "cpu"}
    cfg["probe"]["params"].update(device="cpu", num_threads=2)
    b = plan(cfg)
    assert a.pretrain == b.pretrain and a.features == b.features and a.probe == b.probe
    assert b.pretrain_exec == PretrainExec("cpu", 3, 5, 0) and b.features_exec == FeaturesExec("cpu", 2, 7)
    assert (b.probe_exec.device, b.probe_exec.num_threads) == ("cpu", 2)


def test_ssl_views_come_from_the_whole_image_of_real_sets(cfg):
    """Trained, non-patch methods on an on-disk set read its whole-image view; the random baseline's BN
    statistics and the patch tasks keep the evaluation view; built-in sets have only one view."""
    cfg["data"].update(pretrain="imagenet", downstream=["cifar10"], data_root="/nonexistent")
    cfg["analysis"] = {}
    cfg["methods"] = ["random", "simclr", "jigsaw"]
    p = plan(cfg)
    assert p.pretrain["simclr"].data.options == {"view": "pretrain"}
    assert p.pretrain["random"].data.options == {} and p.pretrain["jigsaw"].data.options == {}
    assert plan(copy.deepcopy(MICRO)).pretrain["simclr"].data.options == {}


def test_execution_settings_travel_as_one_word():
    assert parse_exec("device=cuda:1,num_workers=4,compile=1", PretrainExec) == PretrainExec("cuda:1", 4, 1, 1)
    assert parse_exec(None, FeaturesExec) == FeaturesExec()
    with pytest.raises(ConfigError, match="'workers=2' is not KEY=VALUE with a key of device, num_workers"):
        parse_exec("workers=2", PretrainExec)


def test_a_changed_default_changes_exactly_the_specs_that_rely_on_it(cfg, monkeypatch):
    """A code default (here SimCLR's temperature in its descriptor) is in the spec of every run that relies on
    it, and in no other: changing it reruns simclr's jobs, not random's, nor a run that sets it."""
    from archssl.catalog import METHODS

    cfg["variants"] = {"simclr_t1": {"method": "simclr", "params": {"temperature": 1.0}}}
    cfg["methods"] = ["random", "simclr", "simclr_t1"]
    before = plan(copy.deepcopy(cfg))
    monkeypatch.setitem(METHODS.get("simclr").params["temperature"], "default", 0.2)
    after = plan(copy.deepcopy(cfg))
    changed = {m for m in before.pretrain if before.pretrain[m] != after.pretrain[m]}
    assert changed == {"simclr"}
    assert after.pretrain["simclr"].method_params["temperature"] == 0.2


# ------------------------------------------------------------------------------------------ bad keys

BAD = [  # (edit, the key the message must name): one per config section
    (lambda c: c.update(bogus=1), "'bogus': unknown key"),
    (lambda c: c["data"].update(imagesize=32), "'data.imagesize': unknown key"),
    (lambda c: c["data"]["builtin"].update(pool=5), "'data.builtin.pool': unknown key"),
    (lambda c: c["data"].update(options={"shape": {"resize": 1.1}}), "'data.options.shape'"),
    (lambda c: c["data"].update(options={"cifar11": {}}), "'data.options.cifar11': unknown dataset"),
    (lambda c: c["archs"].update(sampel={}), "'archs.sampel'"),
    (lambda c: c["pretrain"].update(epoch=3), "'pretrain.epoch': unknown key"),
    (lambda c: c["pretrain"]["optimizer"].update(lrr=1), "'pretrain.optimizer.lrr': unknown key"),
    (lambda c: c["pretrain"].update(augment={"flip": 0.5}), "'pretrain.augment.flip': unknown key"),
    (lambda c: c["pretrain"]["method_params"]["simclr"].update(temprature=0.1),
     "'pretrain.method_params.simclr.temprature': unknown key"),
    (lambda c: c["pretrain"]["method_params"]["simclr"].update(temperature=-1),
     "'pretrain.method_params.simclr.temperature': -1 is less than or equal to the minimum of 0"),
    (lambda c: c["pretrain"]["method_params"]["simclr"]["head"].update(width=3),
     "'pretrain.method_params.simclr.head.width': unknown key"),
    (lambda c: c["pretrain"]["method_params"]["simclr"].update(epochs="ten"),
     "'pretrain.method_params.simclr.epochs': 'ten' is not of type 'integer'"),
    (lambda c: c["pretrain"]["method_params"].update(moco={"momentum": 1.5}),
     "'pretrain.method_params.moco.momentum': 1.5 is greater than or equal to the maximum of 1"),
    (lambda c: c["pretrain"]["method_params"].update(moco={"queue_size": 64}),
     "'pretrain.method_params.moco.queue_size': 64 is smaller than the batch (128)"),
    (lambda c: c["pretrain"]["method_params"].update(jigsaw={"jitter": 0.9}), "'pretrain.method_params.jigsaw.jitter'"),
    (lambda c: c.update(variants={"simclr_x": {"method": "simclr", "params": {"temperature": 0}}},
                        methods=["random", "simclr", "simclr_x"]),
     "'variants.simclr_x.params.temperature': 0 is less than or equal to the minimum of 0"),
    (lambda c: c.update(features={"tap": ["block1"]}), "'features.tap': unknown key"),
    (lambda c: c.update(features={"taps": ["block9"]}), "'features.taps[0]': architecture resnet-basic-d11-w4-cifar-428a25 has no tap"),
    (lambda c: c["probe"]["params"].update(num_l3=5), "'probe.params.num_l3': unknown key"),
    (lambda c: c["probe"]["params"].update(l2_min=10.0), "'probe.params.l2_min': 10.0 exceeds l2_max"),
    (lambda c: c["probe"].update(tap="block1"), "'probe.tap': 'block1' is not one of features.taps"),
    (lambda c: c.update(analysis={"referense": "shape"}), "'analysis.referense': unknown key"),
    (lambda c: c.update(resources={"default": {"thread": 2}}), "'resources.default.thread': unknown key"),
    (lambda c: c["data"].update(image_size=8) or c["archs"].update(
        specs=[{"family": "vgg", "depths": [1, 1, 1, 1, 1], "width": 4}]), "'data.image_size'"),
]


@pytest.mark.parametrize("edit,key", BAD, ids=[k.split("'")[1] for _, k in BAD])
def test_a_bad_key_in_any_section_is_named_by_config_validate(cfg, tmp_path, capsys, edit, key):
    edit(cfg)
    with pytest.raises(ConfigError) as e:
        plan(copy.deepcopy(cfg))
    assert key in str(e.value)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(SystemExit) as ex:
        main(["config", "validate", str(tmp_path / "bad.yaml")])
    assert ex.value.code == 2 and key in capsys.readouterr().err


# ----------------------------------------------------------------------------------- one new method


def test_a_new_method_is_one_module_plus_one_registry_line(cfg, tmp_path, monkeypatch):
    """A no-op method defined here (its module) and registered with one line plans, validates its params and
    pretrains through the loop, with no other file touched."""
    import torch

    from archssl.catalog import METHODS, MethodInfo, register_method
    from archssl.methods.base import SSLMethod
    from archssl.params import number
    from archssl.train.loop import pretrain

    class NoOp(SSLMethod):
        """The loss is the mean feature times ``scale``: trains, learns nothing useful."""

        def training_step(self, images, augment, **inputs):
            z = self.backbone(augment(images))
            return self.cfg["scale"] * z.mean(), {"noop_mean": float(z.mean())}

    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))  # leave the registry as it was
    register_method(MethodInfo("noop", NoOp, pretext_metric="noop_mean", params={"scale": number(1.0, gt=0)}))

    cfg["methods"] = ["random", "noop"]
    cfg["pretrain"]["method_params"]["noop"] = {"scale": 0.5}
    p = plan(copy.deepcopy(cfg))
    assert p.pretrain["noop"].method_params == {"scale": 0.5}
    assert "pretext_vs_downstream_noop" in p.figures
    bad = copy.deepcopy(cfg)
    bad["pretrain"]["method_params"]["noop"] = {"scale": 0}
    with pytest.raises(ConfigError, match="'pretrain.method_params.noop.scale'"):
        plan(bad)

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return 32

        def __getitem__(self, i):
            return torch.full((3, 16, 16), i * 7 % 256, dtype=torch.uint8), 0

    job = PretrainJob.build("noop", image_size=16, pretrain={"epochs": 1, "batch_size": 16}, method_params={})
    pretrain(MICRO["archs"]["specs"][0], Images(), job, tmp_path)
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].startswith("epoch,loss,noop_mean,lr")


def test_planned_figures_follow_the_study():
    assert planned_figures(["random"], "random") == ["corr_heatmap_random", "vs_reference_random",
                                                     "acc_vs_params_random"]
    stems = planned_figures(["random", "rand2"], "random", ["rand2"], untrained=["random", "rand2"])
    assert "pretext_vs_downstream_rand2" not in stems and "honesty_rand2" in stems and stems[-1] == "ablations"
    # one architecture: nothing over architectures (no correlation, no scatter of one point), only honesty
    assert planned_figures(["random", "simclr"], "random", n_archs=1) == ["honesty_simclr"]


# ------------------------------------------------------------------------------------- packaging


@pytest.mark.workflow
def test_a_non_editable_install_validates_a_config_from_another_folder(tmp_path):
    """The schema ships with the package: a wheel installed elsewhere (here into a target folder that shadows
    the editable checkout) validates the default config from an unrelated directory."""
    wheels, target, cwd = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    cwd.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)], check=True,
                   capture_output=True)
    (wheel,) = wheels.glob("archssl-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True,
                   capture_output=True)
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "PYTHONPATH": str(target), "HOME": str(tmp_path)}
    where = subprocess.run([sys.executable, "-c", "import archssl; print(archssl.__file__)"], cwd=cwd, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target)), where
    r = subprocess.run([sys.executable, "-m", "archssl.cli", "config", "validate", str(ROOT / "config" / "config.yaml")],
                       cwd=cwd, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "valid; 8 architectures" in r.stdout, r.stdout + r.stderr


def test_patch_tasks_on_an_architecture_too_deep_for_their_patches_fail_before_any_job():
    """Jigsaw on 32-px images cuts 7-px patches; a 5-block VGG pools them to nothing: the plan says so, naming
    the run, the architecture and the key that fixes it; a 3-block VGG without FC layers takes them."""
    cfg = copy.deepcopy(MICRO)
    cfg["data"]["image_size"] = 32
    cfg["methods"] = ["random", "jigsaw"]
    cfg["archs"] = {"specs": [{"family": "vgg", "depths": [1, 1, 1, 1, 1], "width": 4, "fc_dim": 16, "fc_pool": 1}]}
    with pytest.raises(ConfigError, match=r"config key 'methods': jigsaw \(jigsaw\) trains on 7-px patches.*"
                                          r"pretrain.method_params.jigsaw.patch_size"):
        plan(copy.deepcopy(cfg))
    cfg["archs"] = {"specs": [{"family": "vgg", "depths": [1, 1, 1], "width": 4, "fc_dim": 0}]}
    plan(cfg)
