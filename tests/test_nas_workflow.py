"""NAS through the DAG (issue 14): config errors named at plan time, the random architectures of the space, and a
micro study with a search run by snakemake: the searched architecture is pretrained, probed and tabulated, a
killed search resumes, a rerun plans nothing, a changed search reruns only the search and its architecture's jobs.
"""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from support.studies import MICRO, copy_study
from support.workflow import planned, snakemake, write_config

from archssl.config import ConfigError
from archssl.plan import plan

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# 9 searchable blocks at 16 px (as tests/test_nas.py); 35,840-196,128 params with these ops
TINY = {"width_mult": 0.25, "depths": [1, 1, 2, 1, 2, 1, 2], "stem": "small", "last_channel": 64}
OPS = ["3x3_MBConv3", "5x5_MBConv6", "zero"]
SEARCH = {"epochs": 2, "warmup_epochs": 1, "batch_size": 64, "holdout": 128, "arch_every": 2, "space": TINY,
          "ops": OPS, "target": {"value": 120000}, "random": {"n": 1, "seed": 0, "tolerance": 0.2}}


def nas_config(**search) -> dict:
    cfg = copy.deepcopy(MICRO)
    cfg["archs"]["specs"] = cfg["archs"]["specs"][:1]  # the small ResNet as the handcrafted reference
    cfg["methods"] = ["simclr"]
    cfg["analysis"]["baseline"] = "simclr"
    cfg["features"] = {"group_datasets": True}
    cfg["probe"]["group_datasets"] = True
    cfg["nas"] = {"searches": {"s0": {**copy.deepcopy(SEARCH), **search}}}
    return cfg


# ----------------------------------------------------------------------------------------------- plan time


@pytest.mark.parametrize("edit, key, words", [
    (lambda s: s.update(target={"value": 1000}), "nas.searches.s0.target.value", "below the smallest"),
    (lambda s: s.update(target={"value": 5e6}), "nas.searches.s0.target.value", "above the largest"),
    (lambda s: s.update(ops=["3x3_MBConv3", "9x9_MBConv6"]), "nas.searches.s0.ops[1]", "unknown op"),
    (lambda s: s.update(space={**TINY, "stem": "imagenet", "depths": [1, 1, 2, 1, 2, 1, 2]}, image_size=8),
     "nas.searches.s0.space", "does not fit"),
    (lambda s: s.update(epochz=3), "nas.searches.s0.epochz", "unknown key"),
    (lambda s: s.update(method="random"), "nas.searches.s0.method", "does not train"),
    (lambda s: s.update(random={"n": 2, "tolerance": 0.2}, target=None), "nas.searches.s0.random.params", "missing"),
])
def test_bad_search_config_is_named_at_plan_time(edit, key, words):
    cfg = nas_config()
    edit(cfg["nas"]["searches"]["s0"])
    with pytest.raises(ConfigError) as e:
        plan(cfg)
    assert f"config key '{key}'" in str(e.value) and words in str(e.value)


def test_space_that_does_not_fit_the_study_image_size_is_named():
    """A search at 32 px whose space would not fit the study's 16-px pretraining of the searched network."""
    cfg = nas_config(image_size=32, space={**TINY, "stem": "imagenet"})
    cfg["data"]["image_size"] = 4
    cfg["archs"]["specs"] = [{"family": "resnet", "block": "basic", "depths": [1], "width": 4, "stem": "cifar"}]
    with pytest.raises(ConfigError, match=r"config key 'nas.searches.s0.space'.*does not fit 4x4"):
        plan(cfg)


def test_plan_has_the_searched_id_and_random_archs_of_the_window():
    from archssl.catalog.archs import count_params, normalize

    cfg = nas_config(random={"n": 4, "seed": 3, "tolerance": 0.1})
    p = plan(copy.deepcopy(cfg))
    assert "nas-s0" in p.archs and p.archs["nas-s0"]["nas_search"] == "s0"
    ids = p.nas.random["s0"]
    assert len(ids) == len(set(ids)) == 4
    for a in ids:
        spec = p.archs[a]
        assert normalize(spec) == spec and spec["family"] == "mobilenetv2"
        assert 108000 <= count_params(spec) <= 132000  # counted on the built spec, not the space's closed form
        assert {k: v for k, v in spec.items() if k not in ("blocks",)} == \
               {k: v for k, v in p.nas.examples["nas-s0"].items() if k not in ("blocks",)}
    assert plan(copy.deepcopy(cfg)).nas.random["s0"] == ids  # deterministic given the seed
    other = copy.deepcopy(cfg)
    other["nas"]["searches"]["s0"]["random"]["seed"] = 4
    assert plan(other).nas.random["s0"] != ids
    job = p.nas.searches["s0"]
    assert job.settings["image_size"] == 16 and "checkpoint_every" not in job.settings
    assert job.method == "simclr" and job.method_params["head"]["hidden"] == 32  # pretrain.method_params.simclr
    assert job.settings["augment"]["crop_scale"] is not None
    assert type(job).from_dict(json.loads(job.to_json())) == job
    roles = p.nas.roles(p.archs)
    assert roles["nas-s0"] == "searched" and [roles[a] for a in ids] == ["random"] * 4


# ---------------------------------------------------------------------------------------------- the DAG


@pytest.mark.workflow
def test_search_through_the_dag_resumes_reruns_nothing_and_only_its_arch(micro_data, tmp_path):
    work = copy_study(micro_data, tmp_path)  # the micro study's datasets (prepared once per session), nothing else
    cfg = nas_config()
    write_config(work, cfg)
    res = work / "results"
    # a search killed after its first epoch: the workflow's job resumes from its checkpoint
    snakemake(work, "--cores", "2", "results/data/pool/images.h5")
    job = plan(copy.deepcopy(cfg)).nas.searches["s0"]
    subprocess.run([str(BIN / "archssl"), "nas-search", "--job", job.to_json(), "--out-dir", str(res / "nas/s0"),
                    "--stop-after-epochs", "1", "--threads", "1"], check=True, cwd=work, capture_output=True)
    assert (res / "nas/s0/checkpoint.pt").exists() and not (res / "nas/s0/genotype.yaml").exists()

    snakemake(work, "--cores", "2")
    log = (res / "logs/nas_search/s0.log").read_text()
    assert "resuming the search" in log and "epoch 2/2" in log and "argmax" in log and "E[params]" in log
    from archssl.catalog.archs import load_spec

    assert load_spec(res / "archs/nas-s0.yaml") == load_spec(res / "nas/s0/genotype.yaml")
    acc = pd.read_csv(res / "tables/accuracy.csv")
    assert set(acc[acc["arch"] == "nas-s0"]["dataset"]) == {"shape", "textures"}
    assert (res / "pretrain/simclr/nas-s0/backbone.pt").exists()
    vs = pd.read_csv(res / "nas/tables/searched_vs_random.csv")
    got = vs[(vs["group"] == "searched") & (vs["dataset"] == "shape")]["mean"].item()
    want = acc[(acc["arch"] == "nas-s0") & (acc["dataset"] == "shape") & acc["primary"]]["value"].item()
    assert got == pytest.approx(want)
    assert set(vs["group"]) >= {"searched", "random"} and any(g.startswith("reference:") for g in vs["group"])
    traj = pd.read_csv(res / "nas/s0/trajectory.csv")
    assert sorted(traj["epoch"].unique()) == [0, 1, 2]
    # the numbers the captions state, recomputed from accuracy.csv and trajectory.csv
    numbers = json.loads((res / "nas/figures/numbers.json").read_text())
    primary = acc[acc["primary"] & (acc["method"] == "simclr")]
    roles = json.loads((res / "nas/study.json").read_text())["roles"]
    mean_of = primary.groupby("arch")["value"].mean()
    (line,) = [x for x in numbers["nas_vs_random"]["searched_vs_random"] if "on ``mean``" in x]
    randoms = [a for a, r in roles.items() if r == "random"]
    assert f"searched {mean_of['nas-s0']:.3f} (n = 1," in line
    assert f"random {mean_of[randoms].mean():.3f}" in line
    probs = traj[OPS].max(axis=1)
    last_line, = [x for x in numbers["nas_trajectory"]["trajectory_s0"] if "at the last epoch (epoch 2)" in x]
    assert last_line.endswith(f"{probs[traj['epoch'] == 2].mean():.3f}")
    from archssl.catalog.archs import count_params

    assert f"{count_params(load_spec(res / 'archs/nas-s0.yaml')):,} parameters" in (
        numbers["nas_genotype"]["genotype_s0"][0])
    for f in ("trajectory_s0.png", "genotype_s0.png", "searched_vs_random.png"):
        assert (res / "nas/figures" / f).stat().st_size > 0

    assert planned(work) == []  # nothing changed: nothing planned

    cfg["nas"]["searches"]["s0"]["arch_lr"] = 0.01  # a search setting: that search and its arch's jobs
    write_config(work, cfg)
    jobs = planned(work)
    rules = sorted(r for r, _ in jobs)
    assert rules == sorted(["nas_search", "nas_arch_spec", "pretrain", "features", "probe", "tables",
                            "figures", "nas_figures", "provenance", "all"]), rules
    for rule, wc in jobs:
        assert wc.get("arch", "nas-s0") == "nas-s0" and wc.get("search", "s0") == "s0", (rule, wc)
    assert yaml.safe_load((work / "micro.yaml").read_text())["nas"]["searches"]["s0"]["arch_lr"] == 0.01


# ------------------------------------------------------------------------------------------- the captions


@pytest.mark.parametrize("caption, kind", [("nas_vs_random", "nas_vs_random"), ("nas_trajectory", "nas_trajectory"),
                                           ("nas_genotype", "nas_genotype")])
def test_nas_captions_state_their_numbers_as_the_report_renders_them(caption, kind):
    """The caption templates rendered as Snakemake's report renders them (Jinja2 with ``snakemake.params``,
    then reStructuredText by docutils): every line of the figure kind's numbers appears under its stem, and an
    empty list says so."""
    from types import SimpleNamespace

    import jinja2
    from docutils.core import publish_parts

    numbers = {kind: {"stem_a": ["``simclr`` on ``mean``: searched 0.412", "second line 0.250"], "stem_b": []},
               "other_kind": {"stem_c": ["not this one"]}}
    template = (ROOT / "workflow/report" / f"{caption}.rst").read_text()
    text = jinja2.Template(template).render(snakemake=SimpleNamespace(params=SimpleNamespace(numbers=numbers)))
    html = publish_parts(text, writer="html", settings_overrides={"report_level": 2, "halt_level": 2})["body"]
    shown = " ".join(jinja2.filters.do_striptags(html).split())
    assert "Numbers of stem_a: simclr on mean: searched 0.412 second line 0.250" in shown
    assert "Numbers of stem_b: none" in shown and "not this one" not in shown
