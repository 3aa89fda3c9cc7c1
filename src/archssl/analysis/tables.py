"""Collect probe results into tidy tables (long format, one row per observation) and correlations.

Written to ``out_dir``:

``accuracy.csv``
    method, arch, family, params, flops, dataset, tap, metric, value, primary: every test metric of every
    probe (``primary`` marks the dataset's own metric: top-1, mean per-class accuracy or 11-point mAP).
``correlations.csv``
    method, dataset_a, dataset_b, kind (pearson | spearman | kendall), value, p_value, n: correlation across
    architectures of the primary metric between every pair of datasets.
``honesty.csv``
    method, baseline, dataset, n, mean, baseline_mean, mean_gain, wins, std, min, max: each SSL method
    against the untrained baseline on the same architectures.
``pretext.csv``
    method, arch, family, params, epochs, loss, pretext_metric, pretext_value: the end of each pretraining.
``ablations.csv`` (studies with variants)
    variant, method, against, change, seed, dataset, n, mean, against_mean, mean_delta, wins, losses: each
    variant against its method as the study configures it (or against the entry its ``against`` names), on the
    same architectures (the Good-practices tables: head, augmentation, negatives, schedule; a variant that
    changes only the seed measures seed noise).
"""

from __future__ import annotations

import json
import logging
from itertools import combinations, product
from pathlib import Path

import pandas as pd
import yaml

from archssl.utils import METRICS_STANDARD_COLUMNS as STANDARD_COLUMNS
from archssl.utils import atomic_path

log = logging.getLogger("archssl.tables")

CORRELATIONS = ("pearson", "spearman", "kendall")


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _arch_info(archs_dir: Path, arch: str, image_size: int, cache: dict) -> dict:
    if arch not in cache:
        from archssl.archs import count_flops, count_params

        path = archs_dir / f"{arch}.yaml"
        with open(path) as f:
            spec = yaml.safe_load(f)
        cache[arch] = {"family": spec["family"], "params": int(count_params(spec)),
                       "flops": int(count_flops(spec, image_size))}
    return cache[arch]


def accuracy_table(probe_files: list[Path], archs_dir: Path, image_size: int) -> pd.DataFrame:
    rows, cache = [], {}
    for path in probe_files:
        with open(path) as f:
            doc = json.load(f)
        info = _arch_info(archs_dir, doc["arch"], image_size, cache)
        for r in doc["results"]:
            for metric, value in r["test"].items():
                rows.append({"method": doc["method"], "arch": doc["arch"], **info, "dataset": doc["dataset"],
                             "tap": r["tap"], "metric": metric, "value": float(value),
                             "primary": metric == r["metric"]})
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


def correlation_table(acc: pd.DataFrame, kinds=CORRELATIONS) -> pd.DataFrame:
    from scipy import stats

    fns = {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}
    rows = []
    for method in sorted(acc["method"].unique()):
        m = primary_matrix(acc, method)
        for a, b in combinations(m.columns, 2):
            pair = m[[a, b]].dropna()
            for kind in kinds:
                n = len(pair)
                if n >= 3 and pair[a].nunique() > 1 and pair[b].nunique() > 1:
                    res = fns[kind](pair[a].to_numpy(), pair[b].to_numpy())
                    value, p = float(res.statistic), float(res.pvalue)
                else:
                    value, p = float("nan"), float("nan")
                for x, y in ((a, b), (b, a)):
                    rows.append({"method": method, "dataset_a": x, "dataset_b": y, "kind": kind, "value": value,
                                 "p_value": p, "n": n})
    return pd.DataFrame(rows, columns=["method", "dataset_a", "dataset_b", "kind", "value", "p_value", "n"])


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


def honesty_table(acc: pd.DataFrame, baseline: str) -> pd.DataFrame:
    rows = []
    if baseline not in set(acc["method"]):
        return pd.DataFrame(rows)
    base = primary_matrix(acc, baseline)
    for method in sorted(set(acc["method"]) - {baseline}):
        for ds, pair in _paired(primary_matrix(acc, method), base):
            rows.append({"method": method, "baseline": baseline, "dataset": ds, "n": len(pair),
                         "mean": pair["m"].mean(), "baseline_mean": pair["b"].mean(),
                         "mean_gain": _exact_ties((pair["m"] - pair["b"]).mean()),
                         "wins": int((pair["m"] > pair["b"]).sum()),
                         "std": pair["m"].std(ddof=0), "min": pair["m"].min(), "max": pair["m"].max()})
    return pd.DataFrame(rows)


ABLATION_COLUMNS = ["variant", "method", "against", "change", "seed", "dataset", "n", "mean", "against_mean",
                    "mean_delta", "wins", "losses"]


def ablation_table(acc: pd.DataFrame, variants: list[dict]) -> pd.DataFrame:
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
        for ds, pair in _paired(primary_matrix(acc, name), primary_matrix(acc, against)):
            rows.append({"variant": name, "method": v["method"], "against": against, "change": v["change"],
                         "seed": v["seed"], "dataset": ds, "n": len(pair), "mean": pair["m"].mean(),
                         "against_mean": pair["b"].mean(),
                         "mean_delta": _exact_ties((pair["m"] - pair["b"]).mean()),
                         "wins": int((pair["m"] > pair["b"]).sum()), "losses": int((pair["m"] < pair["b"]).sum())})
    return pd.DataFrame(rows, columns=ABLATION_COLUMNS)


def pretext_table(pretrain_dir: Path, acc: pd.DataFrame) -> pd.DataFrame:
    rows = []
    archs = acc.drop_duplicates(["method", "arch"])[["method", "arch", "family", "params"]]
    for r in archs.itertuples(index=False):
        path = pretrain_dir / r.method / r.arch / "metrics.csv"
        if not path.exists():
            continue
        m = pd.read_csv(path)
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
    """``study``: the manifest JSON the workflow writes (probe files, folders, baseline, image size)."""
    with open(study) as f:
        man = json.load(f)
    probe_files = probe_paths(man["probes"])
    acc = accuracy_table(probe_files, Path(man["archs_dir"]), int(man["image_size"]))
    tables = {
        "accuracy": acc,
        "correlations": correlation_table(acc, man.get("correlations", CORRELATIONS)),
        "honesty": honesty_table(acc, man["baseline"]),
        "pretext": pretext_table(Path(man["pretrain_dir"]), acc),
    }
    if man.get("variants"):
        tables["ablations"] = ablation_table(acc, man["variants"])
    out_dir = Path(out_dir)
    for name, df in tables.items():
        _write_csv(df, out_dir / f"{name}.csv")
    with atomic_path(out_dir / "study.json") as tmp:
        tmp.write_text(json.dumps({k: man.get(k) for k in ("study", "reference", "baseline", "image_size", "variants",
                                                            "figures")},
                                  indent=2))
    log.info("tables: %d probe results, %d architectures, %d datasets, %d methods -> %s", len(probe_files),
             acc["arch"].nunique(), acc["dataset"].nunique(), acc["method"].nunique(), out_dir)
    return tables


__all__ = ["build_tables", "accuracy_table", "ablation_table", "correlation_table", "honesty_table",
           "pretext_table", "primary_matrix"]
