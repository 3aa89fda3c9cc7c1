"""The study presets of config/studies: each plans as stated (mini, CIFAR-scale and full-scale versions of the
three seed papers), and the same config gives the same results: two runs of the micro study from empty
results folders give identical architecture ids, data splits, weights, features, probe results and tables."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from support.studies import MICRO, copy_study
from support.workflow import ROOT, planned, snakemake, write_config

STUDIES = ROOT / "config" / "studies"
PAPERS = ("girish", "revisiting", "good_practices")


def _plan(path: Path):
    from archssl.config import load_config
    from archssl.plan import plan

    return plan(load_config(path))


@pytest.mark.parametrize("paper", PAPERS)
def test_each_paper_has_a_mini_a_cifar_and_a_full_preset(paper):
    """Mini: the built-in suite (no data_root); CIFAR and full: datasets read from disk, GPU resources."""
    mini, cifar, full = (_plan(STUDIES / f"{paper}{s}.yaml") for s in ("", "_cifar", "_full"))
    assert all(d.builtin for d in mini.datasets.values()) and mini.config["data"]["image_size"] == 32
    for p in (cifar, full):
        assert not any(d.builtin for d in p.datasets.values())
        assert p.config["resources"]["pretrain"]["gpus"] >= 1
    assert cifar.config["data"]["image_size"] == 32 and full.config["data"]["image_size"] == 224
    assert {mini.config["results"], cifar.config["results"], full.config["results"]} == {
        f"results/{paper}", f"results/{paper}_cifar", f"results/{paper}_full"}


def test_the_mini_studies_plan_each_papers_figures():
    girish, revisiting, good = (_plan(STUDIES / f"{p}.yaml") for p in PAPERS)
    # the architecture study: sampled ResNets and MobileNets, SimCLR, every task, the NAS search
    fams = {s["family"] for s in girish.archs.values()}
    assert fams == {"resnet", "mobilenetv2"} and set(girish.runs) == {"random", "simclr"}
    assert len(girish.datasets) == 8 and list(girish.nas.searches) == ["simclr_s0"]
    assert {"corr_heatmap_simclr", "vs_reference_simclr", "acc_vs_params_simclr", "topk_simclr",
            "honesty_simclr"} <= set(girish.figures)
    # Revisiting: four pretext tasks x five architecture kinds, probes at several depths, widths
    assert set(revisiting.runs) == {"random", "rotation", "exemplar", "jigsaw", "relpatch"}
    kinds = {(s["family"], s.get("version"), s.get("final_relu")) for s in revisiting.archs.values()}
    assert {("resnet", "v1", True), ("resnet", "v2", True), ("resnet", "v2", False), ("revnet", None, True),
            ("vgg", None, None)} <= kinds
    for m in ("rotation", "exemplar", "jigsaw", "relpatch"):
        assert {f"depth_{m}", f"width_{m}", f"pretext_vs_downstream_{m}"} <= set(revisiting.figures)
    assert "ranking_consistency" in revisiting.figures
    # Good practices: heads, augmentation strength (MoCo v2 and supervised), negatives, ablations
    assert {"ablations", "negatives", "heads", "augment"} <= set(good.figures)
    methods = {r.method for r in good.runs.values()}
    assert {"moco", "instdisc", "simclr", "supervised", "random"} == methods
    assert any(r.params.get("hard_negatives") for r in good.runs.values())


# ------------------------------------------------------------------------------------- same config, same results


def _h5_arrays(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _probe_results(path: Path) -> list:
    """A probe file's results without what describes the run rather than its outcome (times)."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if not any(t in k for t in ("seconds", "time"))}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip(json.loads(path.read_text())["results"])


@pytest.mark.workflow
@pytest.mark.slow
def test_two_runs_of_the_same_study_from_scratch_are_identical(finished, tmp_path):
    """A second run of the micro study in an empty folder: the same architecture ids, every data split (images
    and labels) bit for bit, the same weights bit for bit, the same feature matrices, probe selections and test
    scores (with their bootstrap intervals), and the same tables."""
    import torch

    again = tmp_path / "again"
    again.mkdir()
    write_config(again, MICRO)
    snakemake(again, "--cores", "2")
    a, b = finished / "results", again / "results"

    def files(root, pattern):
        return sorted(p.relative_to(root) for p in root.rglob(pattern))

    assert files(a, "archs/*.yaml") == files(b, "archs/*.yaml") and files(a, "archs/*.yaml")

    def same_h5(pattern):
        found = files(a, pattern)
        assert found and found == files(b, pattern), pattern
        for rel in found:
            x, y = _h5_arrays(a / rel), _h5_arrays(b / rel)
            assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x), rel

    same_h5("data/*/images.h5")
    weights = files(a, "pretrain/*/*/backbone.pt")
    assert weights == files(b, "pretrain/*/*/backbone.pt") and len(weights) == 4
    for rel in weights:
        wa = torch.load(a / rel, weights_only=False)["state_dict"]
        wb = torch.load(b / rel, weights_only=False)["state_dict"]
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), rel
    same_h5("features/**/*.h5")
    probes = files(a, "probes/**/*.json")
    assert probes == files(b, "probes/**/*.json") and len(probes) == 8
    for rel in probes:
        assert _probe_results(a / rel) == _probe_results(b / rel), rel
    tables = files(a, "tables/*.csv")
    assert tables == files(b, "tables/*.csv") and len(tables) >= 5
    for rel in tables:
        assert (a / rel).read_text() == (b / rel).read_text(), rel


@pytest.mark.workflow
def test_a_second_seed_added_to_a_finished_study_runs_only_its_own_jobs(finished, tmp_path):
    """Extending a finished study with a seed replicate (as config/overlays/girish_seed1.yaml does): the plan
    holds the new run's pretraining, features and probes and the aggregates, nothing that exists."""
    import copy

    work = copy_study(finished, tmp_path)
    cfg = copy.deepcopy(MICRO)
    cfg["methods"] = [*cfg["methods"], "simclr_s1"]
    cfg["variants"] = {"simclr_s1": {"method": "simclr", "seed": 1}}
    write_config(work, cfg)
    jobs = planned(work)
    per_run = [(r, w) for r, w in jobs if "method" in w]
    assert per_run and all(w["method"] == "simclr_s1" for _, w in per_run)
    assert sum(r == "pretrain" for r, _ in per_run) == 2  # one per architecture
    assert {r for r, w in jobs if "method" not in w} <= {"study_manifest", "tables", "figures", "provenance", "all"}


@pytest.mark.workflow
@pytest.mark.parametrize("preset,pretrain_jobs", [("revisiting_full", 19 * 5), ("good_practices_full", 33)])
def test_full_presets_dry_run_without_data(preset, pretrain_jobs, tmp_path):
    """A full-scale preset plans its whole DAG with no dataset on disk (the datasets are checked when it runs)."""
    import yaml

    cfg = yaml.safe_load((STUDIES / f"{preset}.yaml").read_text())
    cfg["data"]["data_root"] = str(tmp_path / "datasets")
    write_config(tmp_path, cfg, "full.yaml")
    jobs = planned(tmp_path, config="full.yaml")
    assert sum(r == "pretrain" for r, _ in jobs) == pretrain_jobs
    assert sum(r == "probe" for r, _ in jobs) == pretrain_jobs * len(cfg["data"]["downstream"])


def test_gpu_hours_of_one_simclr_resnet50_epoch_on_imagenet_is_its_images_over_the_rate(tmp_path):
    """benchmarks/gpu_hours.py by hand: SimCLR on ResNet-50 at 224 px is the reference network, so one epoch
    of ImageNet's 1,281,167 training images at R images/s takes 1,281,167 / R seconds; a random-init run costs
    no training; feature extraction is a third (one forward pass) per image of each downstream set."""
    import importlib.util

    import yaml

    spec = importlib.util.spec_from_file_location("gpu_hours", ROOT / "benchmarks" / "gpu_hours.py")
    gh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gh)
    cfg = {"study": "one", "results": "results", "seed": 0,
           "data": {"image_size": 224, "data_root": "/datasets", "pretrain": "imagenet", "downstream": ["cifar10"]},
           "archs": {"named": ["resnet50"]}, "methods": ["random", "simclr"], "pretrain": {"epochs": 1}}
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(cfg))
    h = gh.estimate(tmp_path / "one.yaml", 1000.0)["hours"]
    assert h["pretrain"] == pytest.approx(1_281_167 / 1000.0 / 3600, rel=1e-12)
    # two runs (random and simclr) extract features of cifar10's 60,000 images, a forward pass = 1/3, of 2 views
    assert h["features"] == pytest.approx(2 * 60_000 / 3 / 2 / 1000.0 / 3600, rel=1e-12)
    assert h["nas_search"] == 0 and h["total"] == pytest.approx(h["pretrain"] + h["features"])
