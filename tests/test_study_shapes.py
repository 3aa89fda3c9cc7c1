"""The seed studies' shapes at micro scale, run end to end by snakemake: every figure the plan draws for the
shape (:func:`archssl.plan.planned_figures`) renders, is in the report's file list, and headless Chromium
shows its caption with the numbers of the tables behind it.

- Revisiting (Kolesnikov et al.): the four pretext tasks on ResNet v1 and v2 (two widths), VGG-BN and RevNet,
  probed at several taps: depth, width, pretext-vs-downstream, ranking consistency, top-k.
- Good practices (Appalaraju et al.): MoCo v2 with head, augmentation, negatives, hard-negative, momentum and
  schedule variants, the supervised baseline under the same crop, InstDisc and SimCLR at two K each, on one
  architecture as in the paper: ablations, heads, negatives, augment, t-SNE.

1 epoch, a 256-image pool, 2 downstream datasets: the point is the analysis and the report, not the numbers.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from support.report import rendered_captions, report_files
from support.studies import build_study
from support.workflow import ROOT, planned, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

_TINY = {"epochs": 1, "batch_size": 64, "warmup_epochs": 0}
_PROBE = {"name": "lbfgs_logreg", "params": {"num_l2": 3, "l2_min": 1e-3, "l2_max": 1.0}, "group_datasets": True}


def _micro(study: str, image_size: int) -> dict:
    """What both shapes share: the built-in suite's 256-image pool, two downstream datasets."""
    return {"study": study, "seed": 0, "results": "results",
            "data": {"image_size": image_size, "builtin": {"seed": 0, "pool_size": 256}, "pretrain": "pool",
                     "downstream": ["shape", "textures"]}}


REVISITING = {
    **_micro("micro_revisiting", 32),
    "archs": {"specs": [
        {"family": "resnet", "block": "basic", "depths": [1, 1, 1, 1], "width": 4, "stem": "cifar", "version": "v1"},
        {"family": "resnet", "block": "basic", "depths": [1, 1, 1, 1], "width": 4, "stem": "cifar", "version": "v2",
         "widen": 2},
        {"family": "revnet", "depths": [1, 1, 1, 1], "width": 2, "stem": "cifar"},
        {"family": "vgg", "depths": [1, 1, 1], "width": 4, "fc_dim": 16, "fc_pool": 1},
    ]},
    "methods": ["random", "rotation", "exemplar", "jigsaw", "relpatch"],
    "pretrain": {**_TINY, "optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4},
                 "method_params": {"rotation": {"head": {"kind": "mlp", "hidden": 32, "out": 16}},
                                   "exemplar": {"copies": 2, "head": {"kind": "linear", "out": 16}},
                                   # 16-px patches (the 7-px tiles upsampled): VGG's poolings need them
                                   "jigsaw": {"num_permutations": 24, "hidden": 32, "patch_size": 16,
                                              "head": {"kind": "linear", "out": 16}},
                                   "relpatch": {"hidden": 32, "patch_size": 16, "head": {"kind": "linear", "out": 16}}}},
    "features": {"taps": ["block2", "block3", "prelogits"], "group_datasets": True,
                 "patch_eval": "patch_average"},
    "probe": {**_PROBE, "tap": "all"},
    "analysis": {"reference": "shape", "bootstrap": {"n_resamples": 200}},
}

GOOD_PRACTICES = {
    **_micro("micro_good_practices", 16),
    "archs": {"specs": [{"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"}]},
    "methods": ["random", "moco", "supervised", "instdisc", "simclr",
                "moco_nohead", "moco_fixedhead", "moco_crop_extreme", "supervised_crop_extreme", "moco_jitter_1",
                "moco_k64", "moco_hard", "moco_mom05", "moco_nocosine", "instdisc_k32", "simclr_b32"],
    "variants": {
        "moco_nohead": {"method": "moco", "params": {"head": {"kind": "none"}}},
        "moco_fixedhead": {"method": "moco", "params": {"head": {"kind": "fixed_random"}}},
        "moco_crop_extreme": {"method": "moco", "params": {"augment": {"crop_scale": [0.02, 0.1]}}},
        "supervised_crop_extreme": {"method": "supervised", "params": {"augment": {"crop_scale": [0.02, 0.1]}}},
        "moco_jitter_1": {"method": "moco", "params": {"augment": {"jitter_strength": 1.0}}},
        "moco_k64": {"method": "moco", "params": {"queue_size": 64}},
        "moco_hard": {"method": "moco", "params": {"hard_negatives": True}},
        "moco_mom05": {"method": "moco", "params": {"momentum": 0.5}},
        "moco_nocosine": {"method": "moco", "params": {"cosine": False}},
        "instdisc_k32": {"method": "instdisc", "params": {"negatives": 32}},
        "simclr_b32": {"method": "simclr", "params": {"batch_size": 32}},
    },
    "pretrain": {**_TINY, "optimizer": {"name": "sgd", "lr": 0.03, "weight_decay": 1e-4, "momentum": 0.9},
                 "augment": {"crop_scale": [0.2, 1.0], "jitter_strength": 0.5},
                 "method_params": {
                     "moco": {"queue_size": 256, "momentum": 0.99, "head": {"kind": "mlp", "hidden": 32, "out": 16}},
                     "supervised": {"dataset": "shape"},
                     "instdisc": {"negatives": 128, "loss": "softmax", "head": {"kind": "linear", "out": 16}},
                     "simclr": {"head": {"kind": "mlp", "hidden": 32, "out": 16}}}},
    "probe": _PROBE,
    "analysis": {"reference": "shape", "bootstrap": {"n_resamples": 200}},
}

SHAPES = {"revisiting": REVISITING, "good_practices": GOOD_PRACTICES}
# the figure kinds each shape is for (the rest of its list follows from the plan too)
EXPECTED = {"revisiting": {"depth", "width", "pretext_vs_downstream", "ranking_consistency", "topk", "honesty",
                           "corr_heatmap", "vs_reference", "acc_vs_params"},
            "good_practices": {"ablations", "heads", "negatives", "augment", "tsne", "honesty"}}


@pytest.fixture(scope="module", params=list(SHAPES))
def built(request, tmp_path_factory):
    """A micro study of the shape, run and reported."""
    name = request.param
    work = build_study(tmp_path_factory, name, SHAPES[name])
    snakemake(work, "--report", "results/report.html")
    return name, work


def test_every_planned_figure_renders_and_is_in_the_report(built):
    from archssl.plan import plan, split_stem

    name, work = built
    p = plan(yaml.safe_load((work / "micro.yaml").read_text()))
    res = work / "results"
    kinds = {split_stem(s)[0] for s in p.figures}
    assert EXPECTED[name] <= kinds, sorted(EXPECTED[name] - kinds)
    for stem in p.figures:
        assert (res / "figures" / f"{stem}.png").stat().st_size > 5000, stem
        assert (res / "figures" / f"{stem}.pdf").stat().st_size > 1000, stem
    listed = report_files((res / "report.html").read_text())
    assert {f"{s}.png" for s in p.figures} <= listed, sorted({f"{s}.png" for s in p.figures} - listed)
    # every figure's numbers are written, and nothing is left to do
    numbers = json.loads((res / "figures" / "numbers.json").read_text())
    assert {stem for per in numbers.values() for stem in per} == set(p.figures)
    assert all(numbers[split_stem(s)[0]][s] for s in p.figures), numbers
    assert planned(work) == []


def _fmt(v, fmt):
    return f"{v:{fmt}}"


def _ci(v, lo, hi, fmt):
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]" if np.isfinite(lo) and np.isfinite(hi) else f"{v:{fmt}}"


def expected_numbers(name: str, res: Path) -> dict[str, list[str]]:
    """Per figure kind, strings its caption must show, formatted here from the tables' CSVs."""
    t = {n: pd.read_csv(res / "tables" / f"{n}.csv") for n in ("honesty", "correlations", "knobs", "consistency",
                                                              "topk", "pretext_correlations")}
    out: dict[str, list[str]] = {}
    h = t["honesty"]
    out["honesty"] = [f"gain {_ci(r.mean_gain, r.ci_lo, r.ci_hi, '+.3f')}, wins {r.wins}/{r.n}" for r in h.itertuples()]
    c = t["correlations"]
    c = c[(c["family"] == "all") & (c["kind"] == "spearman") & (c["dataset_a"] == "shape") & c["value"].notna()]
    if len(c):
        out["vs_reference"] = [f"rho = {_ci(r.value, r.ci_lo, r.ci_hi, '.2f')}" for r in c.itertuples()]
    if name == "revisiting":
        taps = pd.read_csv(res / "tables" / "taps.csv")
        out["depth"] = [f"{r.tap} {_ci(r.mean, r.ci_lo, r.ci_hi, '.3f')}" for r in taps.itertuples()]
        out["ranking_consistency"] = [f"W = {r.w:.2f}" for r in t["consistency"].itertuples() if np.isfinite(r.w)]
        out["topk"] = [f"top-{r.k} {r.overlap:.2f}" for r in t["topk"].itertuples()]
        pc = t["pretext_correlations"]
        pc = pc[(pc["kind"] == "spearman") & pc["value"].notna()]
        out["pretext_vs_downstream"] = [f"rho = {_ci(r.value, r.ci_lo, r.ci_hi, '.2f')}" for r in pc.itertuples()]
    else:
        abl = pd.read_csv(res / "tables" / "ablations.csv")
        out["ablations"] = [f"mean change {g['mean_delta'].mean():+.3f} over {len(g)} datasets"
                            for _, g in abl.groupby("variant")]
        k = t["knobs"][t["knobs"]["dataset"] == "mean"]
        for fig, knobs in (("negatives", ("negatives",)), ("heads", ("heads",)), ("augment", ("crop", "jitter"))):
            out[fig] = [f"{r.level} {_ci(r.mean, r.ci_lo, r.ci_hi, '.3f')}" for r in k[k["knob"].isin(knobs)].itertuples()]
    return out


def _loo_knn(X, y, k=5):
    """Leave-one-out k-NN accuracy, brute force (ties in the vote to the smallest label)."""
    d = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1, kind="stable")[:, :k]
    pred = np.array([np.bincount(y[row], minlength=y.max() + 1).argmax() for row in nn])
    return float((pred == y).mean())


def _silhouette(X, y):
    """Mean silhouette, from its definition (Rousseeuw 1987)."""
    d = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    s = []
    for i in range(len(X)):
        same = (y == y[i])
        same[i] = False
        if not same.any():
            s.append(0.0)
            continue
        a = d[i, same].mean()
        b = min(d[i, y == c].mean() for c in np.unique(y) if c != y[i])
        s.append((b - a) / max(a, b))
    return float(np.mean(s))


def test_tsne_points_and_scores_agree_with_a_recomputation(built):
    name, work = built
    if name != "good_practices":
        pytest.skip("the t-SNE figure is the Good-practices shape's")
    from archssl.evaluate.featurestore import read_features
    from archssl.plan import plan

    p = plan(yaml.safe_load((work / "micro.yaml").read_text()))
    spec = p.tsne()
    assert [(r["method"], r["knob"], r["runs"]) for r in spec["rows"]] == [
        ("moco", "crop", ["moco", "moco_crop_extreme"]), ("supervised", "crop", ["supervised", "supervised_crop_extreme"]),
        ("moco", "jitter", ["moco", "moco_jitter_1"])]
    pts = pd.read_csv(work / "results" / "figures" / "tsne.csv")
    lines = json.loads((work / "results" / "figures" / "numbers.json").read_text())["tsne"]["tsne"]
    assert set(pts["run"]) == set(spec["files"])
    for run, g in pts.groupby("run"):
        # the same test images in every panel, at most 5 classes, at most 60 images each
        assert list(g["index"]) == list(pts[pts["run"] == "moco"]["index"])
        assert g["label"].nunique() <= 5 and g["label"].value_counts().max() <= 60
        feats = read_features(work / spec["files"][run], None, splits=("test",))["test"]
        pos = {int(i): j for j, i in enumerate(feats.indices)}
        rows = [pos[int(i)] for i in g["index"]]
        assert (feats.y[rows] == g["label"].values).all()
        X, y = g[["x", "y"]].to_numpy(), g["label"].to_numpy()
        Xf = feats.X[rows].astype(np.float64)
        Xf /= np.linalg.norm(Xf, axis=1, keepdims=True)  # cosine kNN = euclidean kNN of unit vectors
        want = (f"5-NN {_loo_knn(X, y):.2f} and silhouette {_silhouette(X, y):.2f} in 2-D, "
                f"5-NN {_loo_knn(Xf, y):.2f} in the feature space")
        assert any(line.startswith(f"``{run}`` (") and line.endswith(want) for line in lines), (want, lines)


def test_the_browser_shows_every_caption_with_its_numbers(built):
    """The report in headless Chromium, each result's panel opened in turn: every figure's panel renders its
    kind's caption (its first words and the seed paper's finding), the numbers of that figure, and the
    numbers of the tables behind it (formatted here from the CSVs)."""
    from archssl.plan import plan, split_stem

    name, work = built
    res = work / "results"
    p = plan(yaml.safe_load((work / "micro.yaml").read_text()))
    shown, captions = rendered_captions(res / "report.html")
    assert "Snakemake" in shown
    by_kind: dict[str, str] = {}
    for stem in p.figures:
        kind = split_stem(stem)[0]
        src = (ROOT / "workflow" / "report" / "figures" / f"{kind}.rst").read_text()
        first = " ".join(src.split("\n", 2)[1].split()[:5])
        last = src.rstrip().rsplit("\n\n", 1)[-1]
        assert last.startswith("Seed paper"), kind  # each caption ends with the seed paper's finding
        text = captions[f"{stem}.png"]
        assert first in text and " ".join(last.split()[:8]) in text, (stem, text[:300])
        assert f"Numbers of {stem}:" in text, stem
        by_kind[kind] = text
    for kind, strings in expected_numbers(name, res).items():
        if kind not in by_kind:
            continue
        assert strings, kind
        for s in strings:
            assert s in by_kind[kind], (kind, s)


def test_tsne_is_planned_only_where_a_method_varies_the_augmentation():
    """The t-SNE figure (and its feature files) only in a study whose method runs vary the crop or the jitter;
    its rows go from the weakest augmentation to the strongest; without such runs, no figure and no inputs."""
    import copy

    from archssl.plan import plan

    gp = plan(copy.deepcopy(GOOD_PRACTICES))
    spec = gp.tsne()
    assert "tsne" in gp.figures and spec["dataset"] == "shape" and spec["arch"] == next(iter(gp.archs))
    crop = next(r for r in spec["rows"] if r["method"] == "moco" and r["knob"] == "crop")
    assert crop["levels"] == ["crop 0.2-1", "crop 0.02-0.1"]
    assert set(spec["files"]) == {"moco", "moco_crop_extreme", "supervised", "supervised_crop_extreme", "moco_jitter_1"}
    assert all(f == f"results/features/{n}/{spec['arch']}/shape.h5" for n, f in spec["files"].items())
    # only heads and negatives vary: no t-SNE
    cfg = copy.deepcopy(GOOD_PRACTICES)
    drop = {"moco_crop_extreme", "supervised_crop_extreme", "moco_jitter_1"}
    cfg["methods"] = [m for m in cfg["methods"] if m not in drop]
    cfg["variants"] = {k: v for k, v in cfg["variants"].items() if k not in drop}
    p = plan(cfg)
    assert "tsne" not in p.figures and "augment" not in p.figures and "heads" in p.figures and p.tsne() is None
    assert "tsne" not in plan(copy.deepcopy(REVISITING)).figures
