"""The NAS outputs of a study: searched vs random vs handcrafted tables, and three kinds of figure.

:func:`make_nas_outputs` reads the NAS manifest (``results/nas/study.json``, written by the workflow from
:meth:`archssl.plan.nas.NASPlan.manifest`: per search its architecture, seed, ops, space, random architectures
and their parameter window, and the role of every architecture: ``searched``, ``random`` or ``reference``), the
study's ``tables/accuracy.csv`` and each search's ``trajectory.csv`` / ``genotype.yaml``, and writes under
``out_dir``:

- ``tables/searched_vs_random.csv``: per method and dataset (and ``mean``, the mean over the datasets), one row
  per group: ``searched`` (the searched architectures, one per search: over the search seeds), ``random`` (the
  random architectures of the same space and size), and one ``reference:<arch>`` per handcrafted reference;
  ``n``, ``mean``, ``std`` (sample, ddof 1; empty for n = 1), ``min``, ``max`` of the test accuracy (primary
  metric), ``params_mean``; and for searched rows ``beats_random``, the fraction of random architectures whose
  accuracy is below the searched mean;
- ``tables/archs.csv``: per architecture its role, search(es), family, parameters and the architecture string
  (``k5e6`` per block, ``--`` for zero) of a searched or random one;
- ``figures/trajectory_<search>.png``: the probability of each op per searchable block over the search epochs
  (stacked; the end of the warm-up marked);
- ``figures/genotype_<search>.png``: the derived architecture block by block (kernel size by colour and width,
  expansion by height, zero ops as empty slots), with each block's channels and stride;
- ``figures/searched_vs_random.png``: accuracy against parameters per dataset (one panel each, plus the mean),
  searched (per seed), random (with the window of their parameter counts) and handcrafted architectures;
- ``figures/numbers.json``: the numbers behind each figure (``{kind: {stem: [line, ...]}}``, kinds
  ``nas_vs_random``, ``nas_trajectory``, ``nas_genotype``; :func:`nas_numbers`), which the figures' captions
  in the report state.

Accuracy is the primary metric of the probe at one tap per architecture (``prelogits`` when probed, else the
first tap in the table). The method compared is the one each search used when the study pretrains with it
(else every method of the table gets its rows, and the figure shows the first).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import yaml
from matplotlib.patches import Rectangle

from archssl.analysis.figures.text import num
from archssl.catalog.archs import arch_id, count_params, load_spec
from archssl.catalog.nas import build_space, short_op
from archssl.utils import atomic_path

log = logging.getLogger("archssl.nas")

ROLE_STYLE = {"searched": dict(marker="*", s=160, color="#d62728", zorder=4),
              "random": dict(marker="o", s=28, color="#7f7f7f", alpha=0.8, zorder=2),
              "reference": dict(marker="s", s=60, color="#1f77b4", zorder=3)}
KERNEL_COLOR = {3: "#9ecae1", 5: "#4292c6", 7: "#08519c"}


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix[1:], dpi=110, bbox_inches="tight")
    plt.close(fig)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def primary_accuracy(acc: pd.DataFrame) -> pd.DataFrame:
    """One accuracy per (method, arch, dataset): the primary metric at ``prelogits`` (else the first tap)."""
    a = acc[acc["primary"].astype(str).str.lower() == "true"].copy()
    if "tap" in a.columns:
        taps = sorted(a["tap"].astype(str).unique())
        tap = "prelogits" if "prelogits" in taps else taps[0]
        a = a[a["tap"].astype(str) == tap]
    return a[["method", "arch", "family", "params", "dataset", "value"]].reset_index(drop=True)


def _stats(values: pd.Series) -> dict:
    v = values.astype(float)
    return {"n": int(len(v)), "mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
            "min": float(v.min()), "max": float(v.max())}


def comparison_table(acc: pd.DataFrame, study: dict) -> pd.DataFrame:
    """The searched vs random vs reference rows (module docstring) of the primary accuracies ``acc``."""
    roles = study["roles"]
    searches = study["searches"]
    methods = sorted({s["method"] for s in searches.values()} & set(acc["method"])) or sorted(acc["method"].unique())
    refs = [a for a, r in roles.items() if r == "reference"]
    random_ids = sorted({a for s in searches.values() for a in s["random"]})
    searched = [s["arch"] for s in searches.values()]
    rows = []
    for method in methods:
        m = acc[acc["method"] == method]
        per_ds = {d: g for d, g in m.groupby("dataset", sort=True)}
        mean_over = m.groupby("arch", as_index=False).agg(value=("value", "mean"), params=("params", "first"))
        for dataset, g in [*per_ds.items(), ("mean", mean_over)]:
            by_arch = g.set_index("arch")
            groups = [("searched", searched), ("random", random_ids), *((f"reference:{r}", [r]) for r in refs)]
            rand_vals = by_arch["value"].reindex(random_ids).dropna()
            for group, ids in groups:
                vals = by_arch["value"].reindex(ids).dropna()
                if vals.empty:
                    continue
                row = {"method": method, "dataset": dataset, "group": group, **_stats(vals),
                       "params_mean": float(by_arch["params"].reindex(vals.index).astype(float).mean())}
                if group == "searched":
                    row["beats_random"] = (float((rand_vals < row["mean"]).mean()) if len(rand_vals) else math.nan)
                rows.append(row)
    return pd.DataFrame(rows, columns=["method", "dataset", "group", "n", "mean", "std", "min", "max", "params_mean",
                                       "beats_random"])


def _space(s: dict):
    return build_space(s["space"], s["ops"], s["image_size"], "nas")


def _arch_string(space, spec: dict) -> str:
    try:
        return space.describe(space.choices(spec))
    except ValueError:
        return ""


def archs_table(acc: pd.DataFrame, study: dict, specs: dict[str, dict]) -> pd.DataFrame:
    """Per architecture: role, search(es), family, params, the op string of a searched or random one."""
    info = acc.groupby("arch").agg(family=("family", "first"), params=("params", "first"))
    rows = []
    for arch, role in study["roles"].items():
        of = [n for n, s in study["searches"].items() if arch == s["arch"] or arch in s["random"]]
        text = ""
        if of and arch in specs:
            text = _arch_string(_space(study["searches"][of[0]]), specs[arch])
        rows.append({"arch": arch, "role": role, "searches": " ".join(of),
                     "family": info["family"].get(arch, specs.get(arch, {}).get("family", "")),
                     "params": info["params"].get(arch, math.nan), "ops": text})
    return pd.DataFrame(rows)


# -------------------------------------------------------------------------------------------- figures


def trajectory_figure(traj: pd.DataFrame, ops: list[str], name: str, warmup: int):
    """Per block, the stacked probabilities of its candidate ops over the epochs."""
    blocks = list(dict.fromkeys(traj["block"]))
    cols = min(6, len(blocks))
    rows = math.ceil(len(blocks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 1.9 * rows + 0.6), squeeze=False, sharex=True,
                             sharey=True)
    cmap = plt.get_cmap("tab10")
    colors = {op: ("#dddddd" if op == "zero" else cmap(i % 10)) for i, op in enumerate(ops)}
    for ax, block in zip(axes.flat, blocks):
        b = traj[traj["block"] == block].sort_values("epoch")
        have = [op for op in ops if op in b.columns and b[op].notna().any()]
        ax.stackplot(b["epoch"], *[b[op].astype(float).fillna(0.0) for op in have],
                     colors=[colors[op] for op in have], linewidth=0)
        if 0 < warmup < b["epoch"].max():
            ax.axvline(warmup, color="k", lw=0.8, ls="--")
        ax.set_title(block, fontsize=8)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(blocks):]:
        ax.set_visible(False)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[o]) for o in ops]
    fig.legend(handles, ops, loc="lower center", ncol=min(7, len(ops)), fontsize=7, frameon=False)
    fig.suptitle(f"search {name}: op probabilities per block over the epochs (dashed: end of warm-up)", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return fig


def genotype_figure(space, spec: dict, title: str):
    """The derived architecture block by block: one box per searchable block (stem, first block and last conv
    fixed: drawn as labels)."""
    choices = space.choices(spec)
    n = len(space.slots)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * n + 2), 2.8))
    x = 0.0
    last_stage = None
    for slot, c in zip(space.slots, choices):
        op = slot.ops[c]
        if last_stage is not None and slot.stage != last_stage:
            ax.axvline(x - 0.15, color="#bbbbbb", lw=0.8)
        last_stage = slot.stage
        if op == "zero":
            ax.add_patch(Rectangle((x, 0.05), 0.7, 0.9, fill=False, ls=":", ec="#999999"))
            ax.text(x + 0.35, 0.5, "zero", ha="center", va="center", fontsize=6, rotation=90, color="#777777")
        else:
            k, e = op.split("_MBConv")
            k, e = int(k.split("x")[0]), int(e)
            h = 0.25 + 0.75 * e / 8
            ax.add_patch(Rectangle((x, 0.5 - h / 2), 0.7, h, color=KERNEL_COLOR.get(k, "#6baed6")))
            ax.text(x + 0.35, 0.5, f"k{k}e{e}", ha="center", va="center", fontsize=6, rotation=90, color="w")
        ax.text(x + 0.35, -0.08, f"{slot.out}" + ("/2" if slot.stride > 1 else ""), ha="center", va="top",
                fontsize=6)
        x += 0.85
    ax.text(-0.2, 0.5, "stem +\nMBConv1", ha="right", va="center", fontsize=7)
    ax.text(x + 0.1, 0.5, f"1x1 conv\n{space.base.get('last_channel', '')}", ha="left", va="center", fontsize=7)
    ax.set_xlim(-1.4, x + 1.3)
    ax.set_ylim(-0.35, 1.05)
    ax.axis("off")
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in KERNEL_COLOR.values()]
    ax.legend(handles, [f"{k}x{k}" for k in KERNEL_COLOR], loc="upper right", fontsize=6, ncol=3, frameon=False,
              bbox_to_anchor=(1.0, 1.25))
    ax.set_title(title + "\n(box height: expansion; below: output channels, /2 = stride 2)", fontsize=8)
    return fig


def versus_figure(acc: pd.DataFrame, study: dict, method: str):
    """Accuracy against parameters per dataset (and their mean): searched, random, handcrafted."""
    roles = study["roles"]
    m = acc[acc["method"] == method]
    datasets = sorted(m["dataset"].unique())
    mean = m.groupby("arch", as_index=False).agg(value=("value", "mean"), params=("params", "first"))
    panels = [*((d, m[m["dataset"] == d]) for d in datasets), ("mean over datasets", mean)]
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.9 * rows), squeeze=False)
    windows = [s["window"] for s in study["searches"].values() if s.get("window")]
    for ax, (title, g) in zip(axes.flat, panels):
        for lo, hi in {tuple(w) for w in windows}:
            ax.axvspan(lo, hi, color="#eeeeee", zorder=0)
        for role in ("random", "reference", "searched"):
            r = g[g["arch"].map(roles) == role]
            if not r.empty:
                ax.scatter(r["params"].astype(float), r["value"].astype(float), label=role, **ROLE_STYLE[role])
        for _, row in g[g["arch"].map(roles) == "reference"].iterrows():
            ax.annotate(row["arch"].split("-")[0], (float(row["params"]), float(row["value"])), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("parameters", fontsize=8)
        ax.set_ylabel("test accuracy", fontsize=8)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    h, lab = axes.flat[0].get_legend_handles_labels()
    fig.legend(h, lab, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{method}: searched vs random (same space, shaded: their parameter window) vs handcrafted",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    return fig


def _group_text(r) -> str:
    spread = f" +- {r['std']:.3f}" if math.isfinite(r["std"]) else ""
    return f"{num(r['mean'])}{spread} (n = {int(r['n'])}, {r['params_mean']:,.0f} params)"


def nas_numbers(table: pd.DataFrame, method: str, trajectories: dict[str, tuple[pd.DataFrame, list[str], int]],
                genotypes: dict[str, tuple[str, int, str]]) -> dict[str, dict[str, list[str]]]:
    """The numbers the NAS figures' captions state, one short line each (RST: names literal).

    - ``nas_vs_random`` / ``searched_vs_random``: per dataset of ``method`` (``mean`` first) the mean test
      accuracy of the searched, random and each reference group of ``table`` (:func:`comparison_table`), and
      the fraction of random architectures below the searched mean;
    - ``nas_trajectory`` / ``trajectory_<search>``: of each search's (trajectory, ops, warm-up epochs), the
      mean over blocks of the top op's probability at initialisation, at the end of the warm-up and at the last
      epoch, and the most probable op of every block at the last epoch;
    - ``nas_genotype`` / ``genotype_<search>``: of each search's (id, parameters, op string), the derived
      architecture."""
    vs: list[str] = []
    m = table[table["method"] == method]
    datasets = ["mean", *sorted(d for d in m["dataset"].unique() if d != "mean")]
    for dataset in datasets:
        g = m[m["dataset"] == dataset].set_index("group")
        parts = [f"{group} {_group_text(g.loc[group])}" for group in g.index]
        if "searched" in g.index and math.isfinite(g.loc["searched", "beats_random"]):
            parts.append(f"searched above {100 * g.loc['searched', 'beats_random']:.0f}% of the random ones")
        vs.append(f"``{method}`` on ``{dataset}``: " + "; ".join(parts))
    traj_lines: dict[str, list[str]] = {}
    for name, (t, ops, warmup) in trajectories.items():
        cols = [op for op in ops if op in t.columns]
        probs = t[cols].apply(pd.to_numeric, errors="coerce")
        top = probs.max(axis=1)
        epochs = sorted(t["epoch"].unique())
        phases = [("initialisation", epochs[0]), ("the last epoch", epochs[-1])]
        if epochs[0] < warmup < epochs[-1]:
            phases.insert(1, ("the end of the warm-up", warmup))
        lines = [f"mean top-op probability at {label} (epoch {e}): {top[t['epoch'] == e].mean():.3f}"
                 for label, e in phases]
        last = t["epoch"] == epochs[-1]
        best = probs[last].idxmax(axis=1)
        lines.append("most probable op per block at the last epoch: " + ", ".join(
            f"{b} {short_op(op)} ({p:.2f})" for b, op, p in zip(t.loc[last, "block"], best, top[last])))
        traj_lines[f"trajectory_{name}"] = lines
    geno_lines = {f"genotype_{name}": [f"``{aid}``: {params:,} parameters", f"ops per stage: {text or 'n/a'}"]
                  for name, (aid, params, text) in genotypes.items()}
    return {"nas_vs_random": {"searched_vs_random": vs}, "nas_trajectory": traj_lines, "nas_genotype": geno_lines}


def make_nas_outputs(study_path: Path, tables_dir: Path, out_dir: Path) -> list[Path]:
    """Write the NAS tables and figures (module docstring); returns their paths."""
    matplotlib.use("Agg")
    study = json.loads(Path(study_path).read_text())
    acc = primary_accuracy(pd.read_csv(Path(tables_dir) / "accuracy.csv"))
    archs_dir = Path(study_path).parent.parent / "archs"
    specs = {}
    for arch in study["roles"]:
        f = archs_dir / f"{arch}.yaml"
        if f.exists():
            specs[arch] = load_spec(f)
    out_dir = Path(out_dir)
    written = []
    table = comparison_table(acc, study)
    _write_csv(table, out_dir / "tables" / "searched_vs_random.csv")
    _write_csv(archs_table(acc, study, specs), out_dir / "tables" / "archs.csv")
    written += [out_dir / "tables" / "searched_vs_random.csv", out_dir / "tables" / "archs.csv"]
    trajectories, genotypes = {}, {}
    for name, s in study["searches"].items():
        traj, warmup = pd.read_csv(s["trajectory"]), int(s["warmup_epochs"])
        trajectories[name] = (traj, s["ops"], warmup)
        fig = trajectory_figure(traj, s["ops"], name, warmup)
        _save(fig, out_dir / "figures" / f"trajectory_{name}.png")
        spec = yaml.safe_load(Path(s["genotype"]).read_text())
        space = _space(s)
        spec = load_spec(s["genotype"]) if spec else spec
        aid, params = arch_id(spec), count_params(spec)
        genotypes[name] = (aid, params, _arch_string(space, spec))
        fig = genotype_figure(space, spec, f"{s['arch']} ({aid}): {params:,} params, "
                                           f"{s['method']} search, seed {s['seed']}")
        _save(fig, out_dir / "figures" / f"genotype_{name}.png")
        written += [out_dir / "figures" / f"trajectory_{name}.png", out_dir / "figures" / f"genotype_{name}.png"]
    methods = [s["method"] for s in study["searches"].values() if s["method"] in set(acc["method"])]
    method = methods[0] if methods else sorted(acc["method"].unique())[0]
    _save(versus_figure(acc, study, method), out_dir / "figures" / "searched_vs_random.png")
    written.append(out_dir / "figures" / "searched_vs_random.png")
    numbers = nas_numbers(table, method, trajectories, genotypes)
    with atomic_path(out_dir / "figures" / "numbers.json") as tmp:
        tmp.write_text(json.dumps(numbers, indent=1))
    written.append(out_dir / "figures" / "numbers.json")
    mean = table[(table["dataset"] == "mean") & (table["method"] == method)]
    for _, r in mean.iterrows():
        log.info("%s, mean over datasets, %s: %.4f +- %.4f (n=%d, %.0f params)", method, r["group"], r["mean"],
                 0.0 if math.isnan(r["std"]) else r["std"], r["n"], r["params_mean"])
    return written


__all__ = ["archs_table", "comparison_table", "genotype_figure", "make_nas_outputs", "nas_numbers",
           "primary_accuracy", "trajectory_figure", "versus_figure"]
