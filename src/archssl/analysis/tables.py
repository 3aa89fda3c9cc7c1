"""Collect probe results into tidy tables (long format, one row per observation) and correlations.

Written to ``out_dir``:

``accuracy.csv``
    method, arch, family, params, flops, widen, rep_size, dataset, tap, metric, value, primary, ci_lo, ci_hi,
    n_test: every test metric of every probe (``primary`` marks the dataset's own metric: top-1, mean
    per-class accuracy or 11-point mAP) with its bootstrap interval over test images, computed in the probe
    job (``test_ci`` of the probe JSON; NaN for probe files without one, and for mAP).
``correlations.csv``
    method, dataset_a, dataset_b, kind (pearson | spearman | kendall), family (``all`` or a family with >= 3
    architectures), n, value, p_value, ci_lo, ci_hi, n_degenerate, reason: correlation across architectures
    of the primary metric between every pair of datasets, with its bootstrap interval over architectures
    (:func:`archssl.analysis.stats.correlation_table`).
``honesty.csv``
    method, baseline, dataset, n, mean, baseline_mean, mean_gain, wins, losses, ties, std, min, max, ci_lo,
    ci_hi, wilcoxon_statistic, wilcoxon_p, sign_statistic, sign_p: each SSL method against the untrained
    baseline on the same architectures, the interval of the mean gain (bootstrap over architectures) and
    paired Wilcoxon signed-rank and sign tests (:func:`archssl.analysis.stats.honesty_stats_table`).
``ranks.csv``
    method, dataset, arch, family, value, ci_lo, ci_hi, rank: the primary metric per architecture and its
    rank among the architectures (1 = best; ties share the average rank).
``best.csv``
    method, dataset, arch, value, ci_lo, ci_hi, runner_up, runner_up_value, within_ci: the best architecture
    per dataset; ``within_ci`` counts the other architectures whose accuracy lies inside its interval.
``topk.csv``
    method, reference, dataset, k, n, overlap: the fraction of the k best architectures on the reference
    dataset that are among the k best on the other (:func:`archssl.analysis.stats.topk_overlap`).
``consistency.csv``
    ranking, dataset, m, n, w, chi2, p_value, mean_tau: agreement of the architecture ranking across methods
    (raters: the trained methods, items: architectures) and of the method ranking across architectures, per
    dataset (Kendall's W, its chi-square test, and the mean pairwise Kendall tau).
``taps.csv`` (several taps probed)
    method, family, tap, depth, dataset, n, mean, ci_lo, ci_hi: mean accuracy per tap over a family's
    architectures, bootstrap interval over them.
``pretext_correlations.csv``
    method, dataset, kind, n, value, p_value, ci_lo, ci_hi: pretext metric against downstream accuracy
    across architectures.
``knobs.csv``
    knob (negatives | heads | crop | jitter), method, run, level, dataset, n, mean, ci_lo, ci_hi: the runs of
    a method that vary one Good-practices knob (:func:`archssl.plan.knob_series`), mean accuracy over
    architectures with its interval.
``pretext.csv``
    method, arch, family, params, epochs, loss, pretext_metric, pretext_value: the end of each pretraining.
``ablations.csv`` (studies with variants)
    variant, method, against, change, seed, dataset, n, mean, against_mean, mean_delta, wins, losses: each
    variant against its method as the study configures it (or against the entry its ``against`` names), on the
    same architectures (the Good-practices tables: head, augmentation, negatives, schedule; a variant that
    changes only the seed measures seed noise), with ties, the interval of the mean delta and the paired tests
    as in ``honesty.csv``.

Every file read is checked first (:mod:`archssl.integrity`): a probe JSON (its digest, keys and metrics in
[0, 1]), a metrics CSV, an architecture spec (its content must give the arch id of its name); one that fails
is set aside as ``<name>.corrupt``, so that the workflow's rerun rebuilds it, and the error names it.

Every interval takes ``analysis.bootstrap`` (n_resamples, confidence, seed) from the manifest; each cell's
seed is :func:`~archssl.evaluate.bootstrap.stable_seed` of that seed and the cell's names, so adding a dataset
or method leaves the other cells' intervals as they are.
"""

from __future__ import annotations

import json
import logging
import re
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd

from archssl.analysis import stats
from archssl.analysis.stats import (correlation, correlation_ci, honesty_stats_table, kendalls_w, mean_pairwise_tau,
                                    topk_overlap)
from archssl.catalog.archs import count_flops, count_params, normalize, out_dim
from archssl.catalog.figures import TABLES
from archssl.evaluate.bootstrap import bootstrap_mean_ci, stable_seed
from archssl.integrity import CorruptArtifact, read_json, read_metrics, read_probe_result, read_spec, set_aside
from archssl.plan import KNOB_KEYS, knob_series
from archssl.utils import METRICS_STANDARD_COLUMNS as STANDARD_COLUMNS
from archssl.utils import atomic_path

log = logging.getLogger("archssl.tables")

CORRELATIONS = ("pearson", "spearman", "kendall")


def _checked(read, path: Path, **kw):
    """``read(path, **kw)`` (a validating reader of :mod:`archssl.integrity`); a stage output that fails its
    check is set aside as ``<name>.corrupt`` (the workflow's rerun rebuilds it) and the error names it."""
    try:
        return read(path, **kw)
    except CorruptArtifact as e:
        dest = set_aside(path)
        raise CorruptArtifact(f"{e}; set aside as {dest.name}: rerun to rebuild it") from e


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _arch_info(archs_dir: Path, arch: str, image_size: int, cache: dict) -> dict:
    if arch not in cache:
        path = archs_dir / f"{arch}.yaml"
        # a content-derived id (`<readable>-<6 hex>`, archssl.catalog.archs.arch_id) must match the spec it names
        spec = _checked(read_spec, path, expect_id=arch if re.search(r"-[0-9a-f]{6}$", arch) else None)
        cache[arch] = {"family": spec["family"], "params": int(count_params(spec)),
                       "flops": int(count_flops(spec, image_size)), "widen": normalize(spec).get("widen"),
                       "rep_size": int(out_dim(spec))}
    return cache[arch]


def accuracy_table(probe_files: list[Path], archs_dir: Path, image_size: int) -> pd.DataFrame:
    rows, cache = [], {}
    docs, bad = [], []
    for path in probe_files:  # every bad file is named (and set aside) at once: one rerun rebuilds them all
        try:
            docs.append(_checked(read_probe_result, path))
        except CorruptArtifact as e:
            bad.append(str(e))
    if bad:
        raise CorruptArtifact("\n".join(bad))
    for doc in docs:
        info = _arch_info(archs_dir, doc["arch"], image_size, cache)
        for r in doc["results"]:
            ci = r.get("test_ci") or {}
            for metric, value in r["test"].items():
                lo, hi = ci.get(metric) or (float("nan"), float("nan"))
                rows.append({"method": doc["method"], "arch": doc["arch"], **info, "dataset": doc["dataset"],
                             "tap": r["tap"], "metric": metric, "value": float(value),
                             "primary": metric == r["metric"], "ci_lo": float(lo), "ci_hi": float(hi),
                             "n_test": r.get("n_test")})
    if not rows:
        raise ValueError("no probe results to tabulate")
    # one row order whatever order the probe files came in
    keys = ["method", "arch", "dataset", "tap", "metric"]
    return pd.DataFrame(rows).sort_values(keys, kind="stable").reset_index(drop=True)


def primary_matrix(acc: pd.DataFrame, method: str) -> pd.DataFrame:
    """arch x dataset matrix of the primary metric at the deepest probed tap, for one method."""
    d = acc[(acc["method"] == method) & acc["primary"]]
    d = d.drop_duplicates(["arch", "dataset", "tap"])
    # one tap per (arch, dataset): the one the probe job reported as its main result comes last
    d = d.groupby(["arch", "dataset"], sort=True).tail(1)
    return d.pivot(index="arch", columns="dataset", values="value")


BOOTSTRAP = {"n_resamples": 2000, "confidence": 0.95, "seed": 0}
CORRELATION_TABLE_COLUMNS = ["method", "dataset_a", "dataset_b", "kind", "family", "n", "value", "p_value", "ci_lo",
                             "ci_hi", "n_degenerate", "reason"]
TEST_COLUMNS = ["ties", "ci_lo", "ci_hi", "wilcoxon_statistic", "wilcoxon_p", "sign_statistic", "sign_p"]


def _boot(boot: dict | None) -> dict:
    return {**BOOTSTRAP, **(boot or {})}


def families(acc: pd.DataFrame) -> pd.Series:
    """arch -> family."""
    return acc.drop_duplicates("arch").set_index("arch")["family"]


def ci_matrix(acc: pd.DataFrame, method: str, column: str) -> pd.DataFrame:
    """arch x dataset matrix of ``column`` (ci_lo, ci_hi) of the rows :func:`primary_matrix` reads."""
    d = acc[(acc["method"] == method) & acc["primary"]]
    d = d.drop_duplicates(["arch", "dataset", "tap"]).groupby(["arch", "dataset"], sort=True).tail(1)
    if column not in d:
        return pd.DataFrame(index=sorted(d["arch"].unique()), columns=sorted(d["dataset"].unique()), dtype=float)
    return d.pivot(index="arch", columns="dataset", values=column)


def correlation_table(acc: pd.DataFrame, kinds=CORRELATIONS, boot: dict | None = None) -> pd.DataFrame:
    """Per method, :func:`archssl.analysis.stats.correlation_table` of its primary matrix (overall and per
    family with >= 3 architectures), seed ``stable_seed(seed, method)``."""
    b = _boot(boot)
    parts = []
    for method in sorted(acc["method"].unique()):
        t = stats.correlation_table(primary_matrix(acc, method), kinds, b["n_resamples"], b["confidence"],
                                    stable_seed(b["seed"], method), families=families(acc))
        parts.append(t.rename(columns={"pvalue": "p_value"}).assign(method=method))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return out.reindex(columns=CORRELATION_TABLE_COLUMNS)


def _exact_ties(gain: float) -> float:
    """A mean gain with float round-off removed: accuracies are ratios of small counts, so a gain within
    1e-12 of zero is a tie (e.g. +0.1 on one architecture and -0.1 on another sums to -2.8e-17)."""
    return 0.0 if abs(gain) < 1e-12 else float(gain)


def _paired(m: pd.DataFrame, base: pd.DataFrame):
    """Per dataset, the architectures both arch x dataset matrices have: (dataset, pair with columns m, b)."""
    for ds in m.columns:
        pair = pd.concat([m[ds].rename("m"), base[ds].rename("b")], axis=1).dropna() if ds in base else None
        if pair is not None and not pair.empty:
            yield ds, pair


def _long(acc: pd.DataFrame, methods) -> pd.DataFrame:
    """method, arch, dataset, value: the primary matrix of each of ``methods``, long."""
    parts = [primary_matrix(acc, m).stack().rename("value").reset_index().assign(method=m) for m in methods]
    return pd.concat(parts, ignore_index=True)


def _tests(acc: pd.DataFrame, method: str, against: str, boot: dict) -> dict:
    """dataset -> the paired-test columns (``TEST_COLUMNS``) of ``method`` against ``against``."""
    b = _boot(boot)
    t = honesty_stats_table(_long(acc, [method, against]), method, against, n_resamples=b["n_resamples"],
                            confidence=b["confidence"], seed=b["seed"])
    out = {}
    for ds, g in t.groupby("dataset"):
        row = {"ties": int(g["ties"].iloc[0]), "ci_lo": g["ci_lo"].iloc[0], "ci_hi": g["ci_hi"].iloc[0]}
        for r in g.itertuples():
            row[f"{r.test}_statistic"], row[f"{r.test}_p"] = r.statistic, r.pvalue
        out[ds] = row
    return out


def honesty_table(acc: pd.DataFrame, baseline: str, boot: dict | None = None) -> pd.DataFrame:
    rows = []
    if baseline not in set(acc["method"]):
        return pd.DataFrame(rows)
    base = primary_matrix(acc, baseline)
    for method in sorted(set(acc["method"]) - {baseline}):
        tests = _tests(acc, method, baseline, boot)
        for ds, pair in _paired(primary_matrix(acc, method), base):
            rows.append({"method": method, "baseline": baseline, "dataset": ds, "n": len(pair),
                         "mean": pair["m"].mean(), "baseline_mean": pair["b"].mean(),
                         "mean_gain": _exact_ties((pair["m"] - pair["b"]).mean()),
                         "wins": int((pair["m"] > pair["b"]).sum()), "losses": int((pair["m"] < pair["b"]).sum()),
                         "std": pair["m"].std(ddof=0), "min": pair["m"].min(), "max": pair["m"].max(),
                         **tests[ds]})
    return pd.DataFrame(rows)


ABLATION_COLUMNS = ["variant", "method", "against", "change", "seed", "dataset", "n", "mean", "against_mean",
                    "mean_delta", "wins", "losses", *TEST_COLUMNS]


def ablation_table(acc: pd.DataFrame, variants: list[dict], boot: dict | None = None) -> pd.DataFrame:
    """Each variant against its method (or its ``against``) on the same architectures, in the order given.
    ``variants``: ``[{"variant": name, "method": ..., "against": ..., "change": ..., "seed": ...}]`` (the study
    manifest's); a variant whose reference is not in the study is left out (logged)."""
    rows = []
    present = set(acc["method"])
    for v in variants:
        name, against = v["variant"], v.get("against", v["method"])
        if name not in present:
            continue
        if against not in present:
            log.warning("ablations: %s is not compared: %s is not in the study", name, against)
            continue
        tests = _tests(acc, name, against, boot)
        for ds, pair in _paired(primary_matrix(acc, name), primary_matrix(acc, against)):
            rows.append({"variant": name, "method": v["method"], "against": against, "change": v["change"],
                         "seed": v["seed"], "dataset": ds, "n": len(pair), "mean": pair["m"].mean(),
                         "against_mean": pair["b"].mean(),
                         "mean_delta": _exact_ties((pair["m"] - pair["b"]).mean()),
                         "wins": int((pair["m"] > pair["b"]).sum()), "losses": int((pair["m"] < pair["b"]).sum()),
                         **tests[ds]})
    return pd.DataFrame(rows, columns=ABLATION_COLUMNS)


def rank_table(acc: pd.DataFrame) -> pd.DataFrame:
    """method, dataset, arch, family, value, ci_lo, ci_hi, rank (1 = best; ties: average rank)."""
    fam = families(acc)
    parts = []
    for method in sorted(acc["method"].unique()):
        m = primary_matrix(acc, method)
        lo, hi = ci_matrix(acc, method, "ci_lo"), ci_matrix(acc, method, "ci_hi")
        for ds in m.columns:
            v = m[ds].dropna()
            parts.append(pd.DataFrame({"method": method, "dataset": ds, "arch": v.index, "family": fam.reindex(v.index).values,
                                       "value": v.values, "ci_lo": lo[ds].reindex(v.index).values,
                                       "ci_hi": hi[ds].reindex(v.index).values,
                                       "rank": v.rank(ascending=False, method="average").values}))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["method", "dataset", "rank", "arch"], kind="stable").reset_index(drop=True)


def best_table(ranks: pd.DataFrame) -> pd.DataFrame:
    """The best architecture per (method, dataset) (highest value; equal values: first by name), the runner-up
    and ``within_ci``: how many other architectures score inside the best one's interval (NaN without one)."""
    rows = []
    for (method, ds), g in ranks.groupby(["method", "dataset"], sort=True):
        g = g.sort_values(["value", "arch"], ascending=[False, True], kind="stable")
        top, rest = g.iloc[0], g.iloc[1:]
        within = (int(((rest["value"] >= top["ci_lo"]) & (rest["value"] <= top["ci_hi"])).sum())
                  if pd.notna(top["ci_lo"]) else float("nan"))
        rows.append({"method": method, "dataset": ds, "arch": top["arch"], "family": top["family"],
                     "value": top["value"], "ci_lo": top["ci_lo"], "ci_hi": top["ci_hi"],
                     "runner_up": rest["arch"].iloc[0] if len(rest) else "",
                     "runner_up_value": rest["value"].iloc[0] if len(rest) else float("nan"), "within_ci": within})
    return pd.DataFrame(rows)


def topk_table(acc: pd.DataFrame, reference: str, ks=(1, 3, 5)) -> pd.DataFrame:
    """Per method and dataset other than ``reference``: the top-k overlap with the reference's ranking for
    each k in ``ks`` below the number of architectures compared."""
    rows = []
    for method in sorted(acc["method"].unique()):
        m = primary_matrix(acc, method)
        if reference not in m:
            continue
        for ds in m.columns:
            if ds == reference:
                continue
            n = int(m[[reference, ds]].dropna().shape[0])
            for k in ks:
                if k < n:
                    rows.append({"method": method, "reference": reference, "dataset": ds, "k": int(k), "n": n,
                                 "overlap": topk_overlap(m[reference], m[ds], int(k))})
    return pd.DataFrame(rows, columns=["method", "reference", "dataset", "k", "n", "overlap"])


CONSISTENCY_COLUMNS = ["ranking", "dataset", "m", "n", "w", "chi2", "p_value", "mean_tau"]


def consistency_table(acc: pd.DataFrame, methods) -> pd.DataFrame:
    """Per dataset, agreement of rankings among ``methods`` (the trained non-variant ones): of architectures
    across methods (raters: methods) and of methods across architectures (raters: architectures)."""
    methods = [m for m in methods if m in set(acc["method"])]
    rows = []
    if len(methods) < 2:
        return pd.DataFrame(rows, columns=CONSISTENCY_COLUMNS)
    mats = {m: primary_matrix(acc, m) for m in methods}
    for ds in sorted(set.intersection(*(set(x.columns) for x in mats.values()))):
        wide = pd.DataFrame({m: mats[m][ds] for m in methods})  # arch x method
        for ranking, x in (("architectures across methods", wide.T), ("methods across architectures", wide)):
            w = kendalls_w(x)
            rows.append({"ranking": ranking, "dataset": ds, "m": w.m, "n": w.n, "w": w.w, "chi2": w.chi2,
                         "p_value": w.pvalue, "mean_tau": mean_pairwise_tau(x)})
    return pd.DataFrame(rows, columns=CONSISTENCY_COLUMNS)


def _mean_ci(values, boot: dict, *keys) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.shape[0] < 2:
        return float("nan"), float("nan")
    b = _boot(boot)
    return bootstrap_mean_ci(v, b["n_resamples"], b["confidence"], stable_seed(b["seed"], *keys))


def taps_table(acc: pd.DataFrame, taps, boot: dict | None = None) -> pd.DataFrame:
    """Mean primary accuracy per (method, family, tap, dataset) over the family's architectures, with the
    bootstrap interval over them; ``depth`` is the tap's position in ``taps`` (shallow to deep)."""
    d = acc[acc["primary"]].drop_duplicates(["method", "arch", "dataset", "tap"])
    order = {t: i for i, t in enumerate(taps)}
    rows = []
    for (method, fam, tap, ds), g in d.groupby(["method", "family", "tap", "dataset"], sort=True):
        lo, hi = _mean_ci(g["value"], boot, "taps", method, fam, tap, ds)
        rows.append({"method": method, "family": fam, "tap": tap, "depth": order.get(tap, len(order)), "dataset": ds,
                     "n": len(g), "mean": g["value"].mean(), "ci_lo": lo, "ci_hi": hi})
    cols = ["method", "family", "tap", "depth", "dataset", "n", "mean", "ci_lo", "ci_hi"]
    return pd.DataFrame(rows, columns=cols).sort_values(["method", "family", "dataset", "depth"]).reset_index(drop=True)


def pretext_correlation_table(acc: pd.DataFrame, pretext: pd.DataFrame, kinds=CORRELATIONS,
                              boot: dict | None = None) -> pd.DataFrame:
    """Per method with a pretext metric and dataset: the correlation across architectures of the pretext
    metric with the primary accuracy, and its bootstrap interval (pairs resampled together)."""
    b = _boot(boot)
    rows = []
    cols = ["method", "dataset", "kind", "n", "value", "p_value", "ci_lo", "ci_hi", "reason"]
    if pretext.empty:
        return pd.DataFrame(rows, columns=cols)
    for method, p in pretext.groupby("method", sort=True):
        p = p.set_index("arch")["pretext_value"]
        m = primary_matrix(acc, method)
        for ds in m.columns:
            j = pd.concat([p.rename("x"), m[ds].rename("y")], axis=1).dropna()
            for kind in kinds:
                r = correlation(j["x"], j["y"], kind)
                ci = correlation_ci(j["x"], j["y"], kind, b["n_resamples"], b["confidence"],
                                    stable_seed(b["seed"], "pretext", method, ds))
                rows.append({"method": method, "dataset": ds, "kind": kind, "n": len(j), "value": r.statistic,
                             "p_value": r.pvalue, "ci_lo": ci.low, "ci_hi": ci.high, "reason": ci.reason})
    return pd.DataFrame(rows, columns=cols)


KNOB_LEVEL = {"negatives": lambda r: f"K={r['K']}", "heads": lambda r: str(r["head"]),
              "crop": lambda r: f"{r['crop_min']:g}-{r['crop_max']:g}", "jitter": lambda r: f"{r['jitter']:g}"}
KNOB_SORT = {"negatives": lambda r: r["K"], "heads": lambda r: 0, "crop": lambda r: r["crop_min"],
             "jitter": lambda r: r["jitter"]}


def knob_table(acc: pd.DataFrame, runs: dict, boot: dict | None = None) -> pd.DataFrame:
    """For each Good-practices knob and method whose runs vary it (:func:`archssl.plan.knob_series`): each
    run's mean primary accuracy over architectures per dataset, with the bootstrap interval over them."""
    cols = ["knob", "method", "run", "level", "order", "dataset", "n", "mean", "ci_lo", "ci_hi"]
    rows = []
    for knob in KNOB_KEYS:
        for method, names in knob_series(runs, knob).items():
            for name in names:
                if name not in set(acc["method"]):
                    continue
                m = primary_matrix(acc, name)
                for ds in m.columns:
                    v = m[ds].dropna()
                    lo, hi = _mean_ci(v, boot, "knob", knob, name, ds)
                    rows.append({"knob": knob, "method": method, "run": name, "level": KNOB_LEVEL[knob](runs[name]),
                                 "order": KNOB_SORT[knob](runs[name]), "dataset": ds, "n": len(v),
                                 "mean": v.mean(), "ci_lo": lo, "ci_hi": hi})
                # the run's mean over datasets per architecture (architectures probed on every dataset)
                v = m.dropna().mean(axis=1)
                lo, hi = _mean_ci(v, boot, "knob", knob, name, "mean")
                rows.append({"knob": knob, "method": method, "run": name, "level": KNOB_LEVEL[knob](runs[name]),
                             "order": KNOB_SORT[knob](runs[name]), "dataset": "mean", "n": len(v), "mean": v.mean(),
                             "ci_lo": lo, "ci_hi": hi})
    return pd.DataFrame(rows, columns=cols)


def pretext_table(pretrain_dir: Path, acc: pd.DataFrame) -> pd.DataFrame:
    rows = []
    archs = acc.drop_duplicates(["method", "arch"])[["method", "arch", "family", "params"]]
    for r in archs.itertuples(index=False):
        path = pretrain_dir / r.method / r.arch / "metrics.csv"
        if not path.exists():
            continue
        m = _checked(read_metrics, path)
        last = m.iloc[-1]
        extra = [c for c in m.columns if c not in STANDARD_COLUMNS]
        rows.append({"method": r.method, "arch": r.arch, "family": r.family, "params": r.params,
                     "epochs": int(last["epoch"]), "loss": float(last["loss"]),
                     "pretext_metric": extra[0] if extra else "",
                     "pretext_value": float(last[extra[0]]) if extra else float("nan")})
    return pd.DataFrame(rows)


def probe_paths(probes: list[str] | dict) -> list[Path]:
    """The manifest's ``probes``: a list of paths, or ``{"pattern": ".../{method}/{arch}/{dataset}.json",
    "method": [...], "arch": [...], "dataset": [...]}`` for every combination (what the workflow writes: a
    study of thousands of probes stays a short command-line argument)."""
    if isinstance(probes, dict):
        keys = [k for k in probes if k != "pattern"]
        return [Path(probes["pattern"].format(**dict(zip(keys, combo))))
                for combo in product(*(probes[k] for k in keys))]
    return [Path(p) for p in probes]


def build_tables(study: Path, out_dir: Path) -> dict[str, pd.DataFrame]:
    """The tables of the module docstring (:data:`archssl.catalog.figures.TABLES`) from ``study``, the manifest
    JSON the workflow writes (probe files, folders, baseline, image size), written to ``out_dir`` as
    ``<name>.csv``, with ``study.json`` (the manifest's keys the figures read); returns them by name."""
    man = read_json(study, "study manifest", ("probes", "archs_dir", "pretrain_dir", "image_size", "baseline",
                                               "reference"))
    probe_files = probe_paths(man["probes"])
    acc = accuracy_table(probe_files, Path(man["archs_dir"]), int(man["image_size"]))
    boot = _boot(man.get("bootstrap"))
    kinds = man.get("correlations", CORRELATIONS)
    pretext = pretext_table(Path(man["pretrain_dir"]), acc)
    ranks = rank_table(acc)
    tables = {
        "accuracy": acc,
        "correlations": correlation_table(acc, kinds, boot),
        "honesty": honesty_table(acc, man["baseline"], boot),
        "pretext": pretext,
        "ranks": ranks,
        "best": best_table(ranks),
        "topk": topk_table(acc, man["reference"], man.get("topk", (1, 3, 5))),
        "consistency": consistency_table(acc, man.get("ranked", [])),
        "pretext_correlations": pretext_correlation_table(acc, pretext, kinds, boot),
        "knobs": knob_table(acc, man.get("runs") or {}, boot),
    }
    if acc["tap"].nunique() > 1:
        tables["taps"] = taps_table(acc, man.get("taps") or sorted(acc["tap"].unique()), boot)
    if man.get("variants"):
        tables["ablations"] = ablation_table(acc, man["variants"], boot)
    out_dir = Path(out_dir)
    for name in TABLES:  # the tables the workflow's rule declares (taps and ablations where the study has them)
        if name in tables:
            _write_csv(tables[name], out_dir / f"{name}.csv")
    with atomic_path(out_dir / "study.json") as tmp:
        tmp.write_text(json.dumps({k: man.get(k) for k in ("study", "reference", "baseline", "image_size", "variants",
                                                            "figures", "runs", "ranked", "taps", "probe",
                                                            "bootstrap", "topk")},
                                  indent=2))
    log.info("tables: %d probe results, %d architectures, %d datasets, %d methods -> %s", len(probe_files),
             acc["arch"].nunique(), acc["dataset"].nunique(), acc["method"].nunique(), out_dir)
    return tables


__all__ = ["build_tables", "accuracy_table", "ablation_table", "best_table", "consistency_table",
           "correlation_table", "honesty_table", "knob_table", "pretext_correlation_table", "pretext_table",
           "primary_matrix", "rank_table", "taps_table", "topk_table"]
