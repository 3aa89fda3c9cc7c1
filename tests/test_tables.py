"""Tables against independent references: pandas' own correlation methods and plain arithmetic."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from archssl.plan import planned_figures

from archssl.analysis.tables import build_tables

SPECS = {
    "a1": {"family": "resnet", "block": "basic", "depths": [1, 1, 1, 1], "width": 8, "stem": "cifar"},
    "a2": {"family": "resnet", "block": "basic", "depths": [2, 1, 1, 1], "width": 8, "stem": "cifar"},
    "a3": {"family": "resnet", "block": "basic", "depths": [1, 1, 1, 1], "width": 16, "stem": "cifar"},
    "a4": {"family": "mobilenetv2", "width_mult": 0.25, "stem": "cifar"},
    "a5": {"family": "mobilenetv2", "width_mult": 0.5, "stem": "cifar"},
}


@pytest.fixture
def study(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "archs").mkdir()
    for a, spec in SPECS.items():
        (tmp_path / "archs" / f"{a}.yaml").write_text(yaml.safe_dump(spec))
    probes, truth = [], {}
    for method in ("random", "simclr"):
        for a in SPECS:
            for ds in ("d1", "d2", "d3"):
                v = float(rng.uniform(0.2, 0.6) + (0.3 if method == "simclr" else 0.0))
                truth[(method, a, ds)] = v
                p = tmp_path / "probes" / method / a / f"{ds}.json"
                p.parent.mkdir(parents=True, exist_ok=True)
                doc = {"method": method, "arch": a, "dataset": ds, "metric": "top1", "value": v, "tap": "prelogits",
                       "results": [{"tap": "prelogits", "metric": "top1", "value": v,
                                    "test": {"top1": v, "mean_per_class": v - 0.01}}]}
                p.write_text(json.dumps(doc))
                probes.append(str(p))
            m = tmp_path / "pretrain" / method / a / "metrics.csv"
            m.parent.mkdir(parents=True, exist_ok=True)
            m.write_text("epoch,loss,contrastive_top1,lr,images_per_s,seconds\n1,5.0,0.2,1,10,1\n2,4.0,0.4,1,10,1\n")
    man = {"study": "t", "probes": probes, "archs_dir": str(tmp_path / "archs"),
           "pretrain_dir": str(tmp_path / "pretrain"), "image_size": 32, "reference": "d1", "baseline": "random",
           "correlations": ["pearson", "spearman", "kendall"], "figures": planned_figures(["random", "simclr"], "random")}
    (tmp_path / "study.json").write_text(json.dumps(man))
    return tmp_path, truth


def test_tables_are_tidy_and_correct(study):
    root, truth = study
    build_tables(root / "study.json", root / "tables")
    acc = pd.read_csv(root / "tables" / "accuracy.csv")
    assert set(acc.columns) >= {"method", "arch", "family", "params", "dataset", "metric", "value"}
    assert len(acc) == 2 * 5 * 3 * 2  # methods x archs x datasets x metrics
    prim = acc[acc["primary"]].set_index(["method", "arch", "dataset"])["value"]
    for k, v in truth.items():
        assert prim[k] == pytest.approx(v)

    corr = pd.read_csv(root / "tables" / "correlations.csv")
    for method in ("random", "simclr"):
        m = pd.DataFrame({ds: [truth[(method, a, ds)] for a in SPECS] for ds in ("d1", "d2", "d3")})
        for kind in ("pearson", "spearman", "kendall"):
            ref = m.corr(method=kind)
            got = corr[(corr.method == method) & (corr.kind == kind) & (corr.family == "all")].set_index(
                ["dataset_a", "dataset_b"])["value"]
            for a in ref.index:
                for b in ref.columns:
                    if a != b:
                        assert got[(a, b)] == pytest.approx(ref.loc[a, b], abs=1e-12)

    hon = pd.read_csv(root / "tables" / "honesty.csv")
    for ds in ("d1", "d2", "d3"):
        row = hon[hon.dataset == ds].iloc[0]
        gains = [truth[("simclr", a, ds)] - truth[("random", a, ds)] for a in SPECS]
        assert row["mean_gain"] == pytest.approx(np.mean(gains))
        assert row["wins"] == sum(g > 0 for g in gains)

    pre = pd.read_csv(root / "tables" / "pretext.csv")
    assert set(pre["pretext_metric"]) == {"contrastive_top1"} and (pre["pretext_value"] == 0.4).all()


def test_figures_are_drawn_for_every_method(study):
    from archssl.analysis.figures import make_figures
    from archssl.plan import planned_figures as expected_figures

    root, _ = study
    build_tables(root / "study.json", root / "tables")
    written = make_figures(root / "tables", root / "figures")
    stems = sorted(p.stem for p in written if p.suffix == ".png")
    assert sorted(p.stem for p in written if p.suffix == ".pdf") == stems  # every figure also as PDF
    assert stems == sorted(expected_figures(["random", "simclr"], "random"))
    assert all(p.stat().st_size > 5000 for p in written)


def test_probe_paths_from_a_pattern_are_every_combination():
    from archssl.analysis.tables import probe_paths

    got = probe_paths({"pattern": "r/{method}/{arch}/{dataset}.json", "method": ["random", "simclr"],
                       "arch": ["a1", "a2", "a3"], "dataset": ["d1", "d2"]})
    assert len(got) == 12 and len(set(got)) == 12
    assert got[0] == Path("r/random/a1/d1.json") and got[-1] == Path("r/simclr/a3/d2.json")
    assert probe_paths(["x.json", "y.json"]) == [Path("x.json"), Path("y.json")]


def test_accuracy_table_order_does_not_depend_on_the_probe_file_order(study):
    root, _ = study
    man = json.loads((root / "study.json").read_text())
    a = build_tables(root / "study.json", root / "t1")["accuracy"]
    man["probes"] = man["probes"][::-1]
    (root / "study.json").write_text(json.dumps(man))
    b = build_tables(root / "study.json", root / "t2")["accuracy"]
    pd.testing.assert_frame_equal(a, b)
    assert (root / "t1" / "accuracy.csv").read_text() == (root / "t2" / "accuracy.csv").read_text()


def test_honesty_gain_that_cancels_is_an_exact_tie():
    from archssl.analysis.tables import honesty_table

    # +0.1 on one architecture and -0.1 on the other: float arithmetic gives -1.4e-17, the table must say 0
    rows = [("simclr", "a", 0.7), ("simclr", "b", 0.1), ("random", "a", 0.6), ("random", "b", 0.2)]
    acc = pd.DataFrame([{"method": m, "arch": a, "dataset": "d", "metric": "top1", "value": v, "primary": True,
                         "family": "resnet", "params": 1, "tap": "prelogits"} for m, a, v in rows])
    assert ((0.7 - 0.6) + (0.1 - 0.2)) / 2 != 0.0
    row = honesty_table(acc, "random").iloc[0]
    assert row["mean_gain"] == 0.0 and not row["mean_gain"] > 0
    assert row["wins"] == 1


def _add_method(root: Path, truth: dict, method: str, offset: float, rng) -> None:
    """Probe results and metrics of one more method (or variant) in the study fixture's layout."""
    man = json.loads((root / "study.json").read_text())
    for a in SPECS:
        for ds in ("d1", "d2", "d3"):
            v = float(truth[("simclr", a, ds)] + offset + rng.normal(0, 0.02))
            truth[(method, a, ds)] = v
            p = root / "probes" / method / a / f"{ds}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps({"method": method, "arch": a, "dataset": ds, "results": [
                {"tap": "prelogits", "metric": "top1", "value": v, "test": {"top1": v}}]}))
            man["probes"].append(str(p))
        m = root / "pretrain" / method / a / "metrics.csv"
        m.parent.mkdir(parents=True, exist_ok=True)
        m.write_text("epoch,loss,contrastive_top1,lr,images_per_s,seconds\n1,5.0,0.3,1,10,1\n")
    (root / "study.json").write_text(json.dumps(man))


def test_ablation_table_compares_each_variant_with_its_method_on_the_same_architectures(study):
    from archssl.analysis.figures import make_figures
    from archssl.plan import planned_figures as expected_figures

    root, truth = study
    rng = np.random.default_rng(1)
    _add_method(root, truth, "simclr_nohead", -0.05, rng)
    _add_method(root, truth, "simclr_s1", 0.0, rng)
    _add_method(root, truth, "simclr_nohead_s1", -0.05, rng)
    # simclr_nohead_s1 against simclr_nohead (`against`: a knob compared within another variant's setting)
    variants = {"simclr_nohead": {"method": "simclr", "change": "head.kind=none", "seed": 0},
                "simclr_s1": {"method": "simclr", "change": "seed=1", "seed": 1},
                "simclr_nohead_s1": {"method": "simclr", "against": "simclr_nohead", "change": "seed=1", "seed": 1}}
    man = json.loads((root / "study.json").read_text())
    man["variants"] = [{"variant": k, **v} for k, v in variants.items()]
    man["figures"] = expected_figures(["random", "simclr", *variants], "random", list(variants))
    (root / "study.json").write_text(json.dumps(man))
    build_tables(root / "study.json", root / "tables")
    abl = pd.read_csv(root / "tables" / "ablations.csv")
    assert len(abl) == 3 * 3 and list(dict.fromkeys(abl["variant"])) == list(variants)  # the study's order
    for name, v in variants.items():
        ref = v.get("against", "simclr")
        for ds in ("d1", "d2", "d3"):
            row = abl[(abl.variant == name) & (abl.dataset == ds)]
            assert len(row) == 1
            row = row.iloc[0]
            deltas = [truth[(name, a, ds)] - truth[(ref, a, ds)] for a in SPECS]
            assert (row["method"], row["against"], row["change"], row["seed"], row["n"]) == (
                "simclr", ref, v["change"], v["seed"], 5)
            assert row["mean_delta"] == pytest.approx(sum(deltas) / len(deltas), abs=1e-12)
            assert row["mean"] == pytest.approx(sum(truth[(name, a, ds)] for a in SPECS) / 5)
            assert row["against_mean"] == pytest.approx(sum(truth[(ref, a, ds)] for a in SPECS) / 5)
            assert (row["wins"], row["losses"]) == (sum(d > 0 for d in deltas), sum(d < 0 for d in deltas))
    # the variants are methods of the study too: in the honesty table against the baseline
    hon = pd.read_csv(root / "tables" / "honesty.csv")
    assert {"simclr_nohead", "simclr_s1"} <= set(hon["method"])
    written = make_figures(root / "tables", root / "figures")
    methods = ["random", "simclr", *variants]
    assert sorted(p.stem for p in written if p.suffix == ".png") == sorted(expected_figures(methods, "random",
                                                                                            list(variants)))
    assert (root / "figures" / "ablations.png").stat().st_size > 5000


def test_a_seed_replicate_of_the_untrained_baseline_is_compared_but_has_no_pretext_figure(study):
    from archssl.analysis.figures import make_figures
    from archssl.plan import planned_figures as expected_figures

    root, truth = study
    man = json.loads((root / "study.json").read_text())
    for a in SPECS:
        for ds in ("d1", "d2", "d3"):
            v = truth[("random", a, ds)] + 0.01
            p = root / "probes" / "random_s1" / a / f"{ds}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps({"method": "random_s1", "arch": a, "dataset": ds, "results": [
                {"tap": "prelogits", "metric": "top1", "value": v, "test": {"top1": v}}]}))
            man["probes"].append(str(p))
        m = root / "pretrain" / "random_s1" / a / "metrics.csv"  # what an untrained run writes
        m.parent.mkdir(parents=True, exist_ok=True)
        m.write_text("epoch,loss,seconds\n0,nan,1.5\n")
    man["variants"] = [{"variant": "random_s1", "method": "random", "change": "seed=1", "seed": 1}]
    man["figures"] = expected_figures(["random", "simclr", "random_s1"], "random", ["random_s1"],
                                      untrained=["random", "random_s1"])
    (root / "study.json").write_text(json.dumps(man))
    build_tables(root / "study.json", root / "tables")
    abl = pd.read_csv(root / "tables" / "ablations.csv")
    assert len(abl) == 3 and np.allclose(abl["mean_delta"], 0.01) and (abl["wins"] == 5).all()
    written = sorted(p.stem for p in make_figures(root / "tables", root / "figures") if p.suffix == ".png")
    assert written == sorted(expected_figures(["random", "simclr", "random_s1"], "random", ["random_s1"],
                                              untrained=["random", "random_s1"]))
    assert "honesty_random_s1" in written and "pretext_vs_downstream_random_s1" not in written


def test_ablation_table_leaves_out_a_variant_whose_method_is_not_in_the_study(study):
    from archssl.analysis.tables import ABLATION_COLUMNS, ablation_table, accuracy_table

    root, _ = study
    man = json.loads((root / "study.json").read_text())
    acc = accuracy_table([Path(p) for p in man["probes"]], root / "archs", 32)
    abl = ablation_table(acc, [{"variant": "simclr", "method": "moco", "change": "x", "seed": 0}])
    assert abl.empty and list(abl.columns) == ABLATION_COLUMNS


def test_figure_stems_split_into_figure_and_method_names_with_underscores():
    from archssl.plan import FIGURES, split_stem
    from archssl.plan import planned_figures as expected_figures

    methods = ["random", "simclr", "simclr_no_head", "moco_k512_vs_x"]
    stems = expected_figures(methods, "random", ["simclr_no_head", "moco_k512_vs_x"])
    pairs = [split_stem(s) for s in stems]
    assert ("ablations", "") in pairs
    assert {m for _, m in pairs} == {*methods, ""}
    assert ("pretext_vs_downstream", "moco_k512_vs_x") in pairs and ("acc_vs_params", "simclr_no_head") in pairs
    assert {f for f, _ in pairs} == {*FIGURES[:5], "ablations"}
    with pytest.raises(ValueError, match="not a figure stem"):
        split_stem("heatmap_simclr")


def test_every_figure_kind_has_its_drawing_numbers_and_caption_and_every_table_its_caption():
    from archssl.catalog.figures import FIGURE_KINDS, TABLES

    report = Path(__file__).resolve().parents[1] / "workflow" / "report"
    for kind in FIGURE_KINDS.values():
        assert callable(kind.load_draw()) and callable(kind.load_numbers()), kind.name
        assert kind.prepare is None or callable(kind.load_prepare()), kind.name
        assert (report / kind.caption).is_file(), kind.caption
        # the caption states the kind's own numbers
        assert f'snakemake.params.numbers.get("{kind.name}", {{}})' in (report / kind.caption).read_text()
    assert sorted(p.stem for p in (report / "figures").glob("*.rst")) == sorted(FIGURE_KINDS)
    assert all((report / f"{t}.rst").is_file() for t in TABLES)


def test_a_figure_kind_reads_only_declared_tables_of_the_table_list():
    from archssl.catalog.figures import FigureKind

    with pytest.raises(ValueError, match="unknown tables"):
        FigureKind("x", "method", draw="m:d", numbers="m:n", caption="figures/x.rst", tables=("accurcy",))
    with pytest.raises(ValueError, match="must be among its tables"):
        FigureKind("x", "method", draw="m:d", numbers="m:n", caption="figures/x.rst", needs=("honesty",))
    with pytest.raises(ValueError, match="scope"):
        FigureKind("x", "arch", draw="m:d", numbers="m:n", caption="figures/x.rst")


def test_a_new_figure_kind_is_one_record_plus_its_drawing_module(study, tmp_path, monkeypatch):
    """A kind registered at run time (a record and a module with draw and numbers) is planned, split, drawn
    with the tables it names (and no others) and its numbers written, like the built-in ones."""
    from archssl.analysis.figures import make_figures
    from archssl.catalog.figures import FIGURE_KINDS, FigureKind
    from archssl.plan import split_stem

    (tmp_path / "gain_bars_mod.py").write_text(
        "import matplotlib.pyplot as plt\n\n"
        "def draw(data, method):\n"
        "    fig, ax = plt.subplots()\n"
        "    h = data.tables['honesty']\n"
        "    ax.bar(range(3), h[h['method'] == method]['mean_gain'])\n"
        "    return fig\n\n"
        "def numbers(data, method):\n"
        "    h = data.tables['honesty']\n"
        "    return [f\"tables {sorted(data.tables)}\", f\"{len(h[h['method'] == method])} datasets\"]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    kind = FigureKind("gain_bars", "method", tables=("honesty",), needs=("honesty",),
                      when=lambda facts, method: method != facts.baseline, draw="gain_bars_mod:draw",
                      numbers="gain_bars_mod:numbers", caption="figures/gain_bars.rst")
    monkeypatch.setitem(FIGURE_KINDS, kind.name, kind)
    root, _ = study
    stems = planned_figures(["random", "simclr"], "random")
    assert "gain_bars_simclr" in stems and "gain_bars_random" not in stems
    assert split_stem("gain_bars_simclr") == ("gain_bars", "simclr")
    man = json.loads((root / "study.json").read_text())
    man["figures"] = stems
    (root / "study.json").write_text(json.dumps(man))
    build_tables(root / "study.json", root / "tables")
    written = make_figures(root / "tables", root / "figures", formats=("png",))
    assert root / "figures" / "gain_bars_simclr.png" in written
    numbers = json.loads((root / "figures" / "numbers.json").read_text())
    assert numbers["gain_bars"] == {"gain_bars_simclr": ["tables ['honesty']", "3 datasets"]}


def test_the_tables_written_are_the_planned_tables(study):
    from archssl.plan.figures import planned_tables

    root, _ = study
    build_tables(root / "study.json", root / "tables")
    written = sorted(p.stem for p in (root / "tables").glob("*.csv"))
    assert written == sorted(planned_tables(multi_tap=False, variants=False))
    assert planned_tables(multi_tap=True, variants=True)[-2:] == ["taps", "ablations"]


def test_statistics_of_the_tables_equal_scipy_on_the_same_data(study):
    """Every coefficient, test statistic and interval of the new table columns recomputed with scipy.stats on
    the same numbers (intervals: scipy.stats.bootstrap with the seed the table states it uses)."""
    from scipy import stats as ss

    from archssl.evaluate.bootstrap import stable_seed

    root, truth = study
    man = json.loads((root / "study.json").read_text())
    man["bootstrap"] = {"n_resamples": 500, "confidence": 0.9, "seed": 3}
    man["ranked"] = ["random", "simclr"]
    (root / "study.json").write_text(json.dumps(man))
    build_tables(root / "study.json", root / "tables")
    t = {n: pd.read_csv(root / "tables" / f"{n}.csv") for n in ("honesty", "correlations", "consistency", "topk",
                                                               "ranks", "best", "pretext_correlations")}
    archs = list(SPECS)
    boot = dict(n_resamples=500, confidence_level=0.9, method="percentile")
    for r in t["honesty"].itertuples():
        a = np.array([truth[("simclr", x, r.dataset)] for x in archs])
        b = np.array([truth[("random", x, r.dataset)] for x in archs])
        w = ss.wilcoxon(a, b)
        assert (r.wilcoxon_statistic, r.wilcoxon_p) == pytest.approx((w.statistic, w.pvalue), abs=1e-12)
        wins = int((a > b).sum())
        assert r.sign_statistic == wins and r.sign_p == pytest.approx(ss.binomtest(wins, len(a)).pvalue, abs=1e-12)
        ci = ss.bootstrap((a - b,), np.mean, rng=np.random.default_rng(
            stable_seed(3, "honesty", "simclr", "random", r.dataset)), **boot).confidence_interval
        assert (r.ci_lo, r.ci_hi) == pytest.approx((ci.low, ci.high), abs=1e-12)
    c = t["correlations"]
    for r in c[(c.family == "all") & (c.dataset_a < c.dataset_b)].itertuples():
        x = np.array([truth[(r.method, a, r.dataset_a)] for a in archs])
        y = np.array([truth[(r.method, a, r.dataset_b)] for a in archs])
        fn = {"pearson": ss.pearsonr, "spearman": ss.spearmanr, "kendall": ss.kendalltau}[r.kind]
        assert (r.value, r.p_value) == pytest.approx(tuple(fn(x, y)), abs=1e-12)
        res = ss.bootstrap((x, y), lambda u, v: fn(u, v).statistic, paired=True, vectorized=False,
                           rng=np.random.default_rng(stable_seed(stable_seed(3, r.method), "all",
                                                                 r.dataset_a, r.dataset_b)), **boot)
        assert (r.ci_lo, r.ci_hi) == pytest.approx(tuple(res.confidence_interval), abs=1e-9) or r.n_degenerate > 0
    fam = c[c.family == "resnet"]  # a1..a3: the per-family rows use only that family's architectures
    r = fam[(fam.kind == "spearman") & (fam.method == "simclr")].iloc[0]
    assert r.n == 3 and r.value == pytest.approx(ss.spearmanr(
        [truth[("simclr", a, r.dataset_a)] for a in ("a1", "a2", "a3")],
        [truth[("simclr", a, r.dataset_b)] for a in ("a1", "a2", "a3")]).statistic, abs=1e-12)
    assert set(c.family) == {"all", "resnet"}  # mobilenetv2 has 2 architectures: no per-family row
    # ranking agreement: W from Friedman's chi-square (scipy), tau from kendalltau
    for r in t["consistency"].itertuples():
        mat = pd.DataFrame({m: [truth[(m, a, r.dataset)] for a in archs] for m in ("random", "simclr")}, index=archs)
        raters = mat.T if r.ranking.startswith("architectures") else mat
        chi2 = ss.friedmanchisquare(*raters.T.to_numpy()).statistic if raters.shape[1] >= 3 else None
        if chi2 is not None:
            assert r.chi2 == pytest.approx(chi2, rel=1e-9)
            assert r.w == pytest.approx(chi2 / (raters.shape[0] * (raters.shape[1] - 1)), rel=1e-9)
    # top-k overlap by sets; rank 1 is the best; best.csv names it
    for r in t["topk"].itertuples():
        top = lambda ds: set(sorted(archs, key=lambda a: -truth[(r.method, a, ds)])[:r.k])
        assert r.overlap == pytest.approx(len(top("d1") & top(r.dataset)) / r.k)
    for r in t["best"].itertuples():
        assert r.arch == max(archs, key=lambda a: truth[(r.method, a, r.dataset)])
    rk = t["ranks"]
    assert (rk[rk["rank"] == 1].set_index(["method", "dataset"])["arch"]
            == t["best"].set_index(["method", "dataset"])["arch"]).all()
    # pretext metric (0.4 for every run in this fixture) is constant: no coefficient, and the table says so
    assert t["pretext_correlations"]["value"].isna().all()


def test_probe_test_intervals_equal_scipy_bootstrap_over_test_images():
    """The interval the probe job stores (test_ci) is scipy.stats.bootstrap of the per-image correctness of the
    top-scoring class, with the stored seed; mean_per_class resamples within each class."""
    from scipy import stats as ss

    from archssl.evaluate.probes.base import test_intervals

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 150)
    scores = rng.normal(size=(150, 3)) + 1.5 * np.eye(3)[y]
    ci = test_intervals(scores, y, {"n_resamples": 400, "confidence": 0.9, "seed": 11})
    correct = (scores.argmax(1) == y).astype(float)
    ref = ss.bootstrap((correct,), np.mean, n_resamples=400, confidence_level=0.9, method="percentile",
                       rng=np.random.default_rng(11)).confidence_interval
    assert ci["top1"] == pytest.approx([ref.low, ref.high], abs=1e-12) and ci["seed"] == 11
    lo, hi = ci["top1"]
    assert lo < correct.mean() < hi and 0.05 < hi - lo < 0.2  # 150 images: an interval of about +-6 points
    groups = tuple(correct[y == c] for c in range(3))
    ref = ss.bootstrap(groups, lambda *s, axis: np.mean([np.mean(g, axis=axis) for g in s], axis=0), batch=400,
                       n_resamples=400, confidence_level=0.9, method="percentile",
                       rng=np.random.default_rng(11)).confidence_interval
    assert ci["mean_per_class"] == pytest.approx([ref.low, ref.high], abs=1e-12)
