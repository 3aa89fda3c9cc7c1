"""`snakemake -n` at scale: the workflow against a bare Snakefile with the same jobs and rule shape, in one run.

Two studies: ``config/studies/girish_full.yaml`` (the Girish study at full scale, ~5,900 jobs) and a synthetic
study of about ``--synthetic-jobs`` (default 10,000) jobs on the built-in mini suite (sampled ResNets, three
methods, one job per feature file and per probe). For each, the benchmark writes into a temporary folder a
*bare* Snakefile with the same rules, file patterns, wildcard constraints, logs, local rules, input
functions and targets as ours, but no plan, no params, resources, threads or conda env, and shell commands
that only ``touch`` their outputs: what Snakemake itself costs for that DAG. Both run
``python -m snakemake -n --quiet`` in an empty directory, ``--repeats`` times interleaved; the job
counts of the two (one more run each, ``--quiet rules``, which prints them) must agree; the medians and their ratio (ours / bare) are printed, and ``--record`` appends
them to ``benchmarks/RESULTS.md``. Limits (this machine): girish at most 10 s, synthetic at most 60 s;
``--check`` exits 1 when one is exceeded or a job count differs.

    .venv/bin/python benchmarks/dag_scale.py --record
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from loader_throughput import machine, machine_line  # noqa: E402

GIRISH = "config/studies/girish_full.yaml"
#: limits of ``snakemake -n`` here (seconds), per study label
LIMITS = {"girish_full": 10.0, "synthetic": 60.0}
#: jobs per architecture of the synthetic study: arch_spec + 3 methods x (pretrain + 8 features + 8 probes)
_SYN_METHODS = ["random", "simclr", "moco"]
_MINI = ["photo_source", "textures", "shape", "count", "position", "orientation", "digits", "faces"]


def synthetic_config(jobs: int) -> dict:
    """A mini-suite study of about ``jobs`` Snakemake jobs: sampled ResNets, ``random``/``simclr``/``moco``,
    per-file features and probes (the cluster shape)."""
    per_arch = 1 + len(_SYN_METHODS) * (1 + 2 * len(_MINI))
    fixed = len(_MINI) + 1 + 5  # prepare_data (downstream + pool), study_manifest, tables, figures, provenance, all
    n = max(3, round((jobs - fixed) / per_arch))
    return {
        "study": "synthetic", "seed": 0, "results": "results/synthetic",
        "data": {"image_size": 32, "pretrain": "pool", "downstream": list(_MINI)},
        "archs": {"sample": {"n": n, "seed": 0, "space": [{
            "family": "resnet", "fixed": {"stem": "cifar", "block": "basic"},
            "choices": {"width": [8, 16, 32]},
            "per_stage": {"depths": [[1, 2, 3, 4]] * 4}}]}},
        "methods": list(_SYN_METHODS),
        "features": {"taps": ["prelogits"], "group_datasets": False},
        "probe": {"name": "lbfgs_logreg", "group_datasets": False},
        "analysis": {"reference": "photo_source", "baseline": "random"},
    }


def _load(paths: list[Path]) -> dict:
    from archssl.config import merge_files

    return merge_files([str(p) for p in paths])


def bare_snakefile(cfg: dict) -> str:
    """A Snakefile with our rules' shape for the planned study ``cfg`` and nothing of ours at parse time."""
    from archssl.plan import plan

    p = plan(cfg)
    res = p.results
    archs = list(p.archs)
    methods = list(p.methods)
    down = list(p.downstream)
    searches = list(p.nas.searches)

    def data_in(ref):
        return f"{ref.root}/{ref.name}/images.h5" if ref.builtin else f"{res}/data/checked/{ref.name}.txt"

    data_of = {n: data_in(r) for n, r in p.datasets.items()}
    pre_data = {m: data_in(j.data) for m, j in p.pretrain.items()}
    nas_data = {s: data_in(j.data) for s, j in p.nas.searches.items()}
    real = sorted({r.name for r in [*p.datasets.values(), *(j.data for j in p.pretrain.values()),
                                    *(j.data for j in p.nas.searches.values())] if not r.builtin})
    multi_tap = p.probe.tap == "all" and len(cfg["features"]["taps"]) >= 2
    tables = ["accuracy", "correlations", "honesty", "pretext", "ranks", "best", "topk", "consistency",
              "pretext_correlations", "knobs", *(["taps"] if multi_tap else []),
              *(["ablations"] if cfg.get("variants") else [])]
    L = f"{res}/logs"
    out = [
        "# bare: the shape of archssl's workflow for one study, nothing computed at parse time",
        f"RES = {res!r}",
        f"ARCHS = {archs!r}",
        f"METHODS = {methods!r}",
        f"DOWN = {down!r}",
        f"DATA_OF = {data_of!r}",
        f"PRE_DATA = {pre_data!r}",
        f"NAS_DATA = {nas_data!r}",
        f"SEARCHES = {searches!r}",
        f"FIGURES = {list(p.figures)!r}",
        'wildcard_constraints:\n    method="[a-z0-9_]+",\n    arch="[a-z0-9._-]+",\n    dataset="[a-z0-9_]+",',
        "localrules:\n    arch_spec,\n    study_manifest,\n    provenance,"
        + ("\n    nas_arch_spec,\n    nas_manifest," if searches else ""),
        'FEATURES = expand(f"{RES}/features/{{method}}/{{arch}}/{{dataset}}.h5", method=METHODS, arch=ARCHS, '
        "dataset=DOWN)",
        'PROBES = expand(f"{RES}/probes/{{method}}/{{arch}}/{{dataset}}.json", method=METHODS, arch=ARCHS, '
        "dataset=DOWN)",
        f"""rule all:
    input:
        FEATURES,
        "{res}/config.resolved.yaml",
        "{res}/tables/accuracy.csv",
        expand("{res}/figures/{{stem}}.png", stem=FIGURES),
        {'"' + res + '/nas/tables/searched_vs_random.csv",' if searches else ''}
    default_target: True""",
        f"""rule prepare_data:
    output: "{res}/data/{{dataset}}/images.h5"
    log: "{L}/prepare_data/{{dataset}}.log"
    shell: "touch {{output}}"
""",
        f"""rule check_data:
    output: "{res}/data/checked/{{dataset}}.txt"
    log: "{L}/check_data/{{dataset}}.log"
    shell: "touch {{output}}"
""" if real else "",
        f"""rule arch_spec:
    output: "{res}/archs/{{arch}}.yaml"
    wildcard_constraints:
        arch="(?!nas-)[a-z0-9._-]+",
    log: "{L}/arch_spec/{{arch}}.log"
    shell: "touch {{output}}"
""",
        f"""rule pretrain:
    input:
        spec="{res}/archs/{{arch}}.yaml",
        data=lambda wc: PRE_DATA[wc.method],
    output:
        backbone="{res}/pretrain/{{method}}/{{arch}}/backbone.pt",
        metrics="{res}/pretrain/{{method}}/{{arch}}/metrics.csv",
    log: "{L}/pretrain/{{method}}/{{arch}}.log"
    shell: "touch {{output}}"
""",
    ]
    if cfg["features"]["group_datasets"]:
        out.append(f"""rule features:
    input:
        backbone="{res}/pretrain/{{method}}/{{arch}}/backbone.pt",
        data=[DATA_OF[d] for d in DOWN],
    output: expand("{res}/features/{{{{method}}}}/{{{{arch}}}}/{{dataset}}.h5", dataset=DOWN)
    log: "{L}/features/{{method}}/{{arch}}.log"
    shell: "touch {{output}}"
""")
    else:
        out.append(f"""rule features:
    input:
        backbone="{res}/pretrain/{{method}}/{{arch}}/backbone.pt",
        data=lambda wc: DATA_OF[wc.dataset],
    output: "{res}/features/{{method}}/{{arch}}/{{dataset}}.h5"
    log: "{L}/features/{{method}}/{{arch}}/{{dataset}}.log"
    shell: "touch {{output}}"
""")
    if cfg["probe"]["group_datasets"]:
        out.append(f"""rule probe:
    input: expand("{res}/features/{{{{method}}}}/{{{{arch}}}}/{{dataset}}.h5", dataset=DOWN)
    output: expand("{res}/probes/{{{{method}}}}/{{{{arch}}}}/{{dataset}}.json", dataset=DOWN)
    log: "{L}/probe/{{method}}/{{arch}}.log"
    shell: "touch {{output}}"
""")
    else:
        out.append(f"""rule probe:
    input: "{res}/features/{{method}}/{{arch}}/{{dataset}}.h5"
    output: "{res}/probes/{{method}}/{{arch}}/{{dataset}}.json"
    log: "{L}/probe/{{method}}/{{arch}}/{{dataset}}.log"
    shell: "touch {{output}}"
""")
    table_outs = "\n".join(f'        {t}="{res}/tables/{t}.csv",' for t in tables)
    out.append(f"""rule study_manifest:
    output: "{res}/study.json"
    log: "{L}/study_manifest.log"
    shell: "touch {{output}}"

rule tables:
    input:
        manifest="{res}/study.json",
        probes=PROBES,
        specs=expand("{res}/archs/{{arch}}.yaml", arch=ARCHS),
        metrics=expand("{res}/pretrain/{{method}}/{{arch}}/metrics.csv", method=METHODS, arch=ARCHS),
    output:
{table_outs}
        meta="{res}/tables/study.json",
    log: "{L}/tables.log"
    shell: "touch {{output}}"

rule figures:
    input:
        meta="{res}/tables/study.json",
        tables=[{", ".join(f'"{res}/tables/{t}.csv"' for t in tables)}],
    output:
        expand("{res}/figures/{{stem}}.png", stem=FIGURES),
        expand("{res}/figures/{{stem}}.pdf", stem=FIGURES),
    log: "{L}/figures.log"
    shell: "touch {{output}}"

rule provenance:
    input: expand("{res}/archs/{{arch}}.yaml", arch=ARCHS)
    output:
        config="{res}/config.resolved.yaml",
        provenance="{res}/provenance.json",
    log: "{L}/provenance.log"
    shell: "touch {{output}}"
""")
    if searches:
        out.append(f"""rule nas_search:
    input: data=lambda wc: NAS_DATA[wc.search]
    output:
        genotype="{res}/nas/{{search}}/genotype.yaml",
        trajectory="{res}/nas/{{search}}/trajectory.csv",
        metrics="{res}/nas/{{search}}/metrics.csv",
    wildcard_constraints:
        search="[a-z0-9_]+",
    log: "{L}/nas_search/{{search}}.log"
    shell: "touch {{output}}"

rule nas_arch_spec:
    input: "{res}/nas/{{search}}/genotype.yaml"
    output: "{res}/archs/nas-{{search}}.yaml"
    wildcard_constraints:
        search="[a-z0-9_]+",
    log: "{L}/nas_arch_spec/{{search}}.log"
    shell: "touch {{output}}"

rule nas_manifest:
    output: "{res}/nas/study.json"
    log: "{L}/nas_manifest.log"
    shell: "touch {{output}}"

rule nas_figures:
    input:
        study="{res}/nas/study.json",
        accuracy="{res}/tables/accuracy.csv",
        genotypes=expand("{res}/nas/{{search}}/genotype.yaml", search=SEARCHES),
        trajectories=expand("{res}/nas/{{search}}/trajectory.csv", search=SEARCHES),
        metrics=expand("{res}/nas/{{search}}/metrics.csv", search=SEARCHES),
    output:
        table="{res}/nas/tables/searched_vs_random.csv",
        archs="{res}/nas/tables/archs.csv",
        versus="{res}/nas/figures/searched_vs_random.png",
        trajectories=expand("{res}/nas/figures/trajectory_{{s}}.png", s=SEARCHES),
        genotypes=expand("{res}/nas/figures/genotype_{{s}}.png", s=SEARCHES),
    log: "{L}/nas_figures.log"
    shell: "touch {{output}}"
""")
    return "\n\n".join(x for x in out if x) + "\n"


def dry_run(snakefile: Path, configfiles: list[Path], work: Path, count: bool = False):
    """(wall, CPU) seconds of ``python -m snakemake -n --quiet`` (the DAG, then the dry run's early exit);
    with ``count``, instead ``--quiet rules`` (which also prints the job stats, and goes through the dry-run
    scheduler that evaluates every job's resources) and its job counts: (seconds, total, per rule)."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "--quiet", *(["rules"] if count else []),
           "--snakefile", str(snakefile), "--directory", str(work), "--cores", "1"]
    if configfiles:
        cmd += ["--configfile", *map(str, configfiles)]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
    secs = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if r.returncode != 0:
        raise SystemExit(f"{snakefile}: snakemake -n failed:\n{(r.stdout + r.stderr)[-3000:]}")
    if not count:
        return (secs, cpu), None, None
    counts = {}
    stats = (r.stdout + r.stderr).split("Job stats:")[-1]
    for line in stats.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m:
            counts[m.group(1)] = int(m.group(2))
        if line.strip().startswith("total"):
            break
    if "total" not in counts:
        raise SystemExit(f"{snakefile}: no job stats in the output of snakemake -n:\n{r.stdout[-2000:]}")
    return secs, counts.pop("total"), counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--synthetic-jobs", type=int, default=10000, help="about this many jobs in the synthetic study")
    ap.add_argument("--studies", nargs="+", default=["girish_full", "synthetic"], choices=["girish_full", "synthetic"])
    ap.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if a limit is exceeded or job counts differ")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    load_before = machine()["load"]
    with tempfile.TemporaryDirectory(prefix="dag_scale_") as tmp:
        tmp = Path(tmp)
        studies: dict[str, tuple[list[Path], Path]] = {}
        for label in a.studies:
            if label == "girish_full":
                cfgs = [ROOT / GIRISH]
            else:
                cfgs = [tmp / "synthetic.yaml"]
                cfgs[0].write_text(yaml.safe_dump(synthetic_config(a.synthetic_jobs), sort_keys=False))
            bare = tmp / f"bare_{label}" / "Snakefile"
            bare.parent.mkdir()
            bare.write_text(bare_snakefile(_load(cfgs)))
            studies[label] = (cfgs, bare)
        times: dict[tuple[str, str], list[float]] = {}
        cpus: dict[tuple[str, str], list[float]] = {}
        jobs: dict[tuple[str, str], tuple[int, dict]] = {}
        runs = [(label, kind, snakefile, files) for label, (cfgs, bare) in studies.items()
                for kind, snakefile, files in (("ours", ROOT / "Snakefile", cfgs), ("bare", bare, []))]
        for label, kind, snakefile, files in runs:  # the job counts, once (not timed)
            with tempfile.TemporaryDirectory(dir=tmp) as work:
                _, total, per_rule = dry_run(snakefile, files, Path(work), count=True)
            jobs[(label, kind)] = (total, per_rule)
            print(f"{label} {kind}: {total} jobs", flush=True)
        for _ in range(a.repeats):
            for label, kind, snakefile, files in runs:
                with tempfile.TemporaryDirectory(dir=tmp) as work:
                    (secs, cpu), _, _ = dry_run(snakefile, files, Path(work))
                times.setdefault((label, kind), []).append(secs)
                cpus.setdefault((label, kind), []).append(cpu)
                print(f"{label} {kind}: {secs:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    load_after = machine()["load"]
    rows, failed = [], []
    for label in studies:
        ours, bare = statistics.median(times[(label, "ours")]), statistics.median(times[(label, "bare")])
        c_ours, c_bare = statistics.median(cpus[(label, "ours")]), statistics.median(cpus[(label, "bare")])
        (n_ours, r_ours), (n_bare, r_bare) = jobs[(label, "ours")], jobs[(label, "bare")]
        if (n_ours, r_ours) != (n_bare, r_bare):
            failed.append(f"{label}: job counts differ: ours {n_ours} {r_ours}, bare {n_bare} {r_bare}")
        if ours > LIMITS[label]:
            failed.append(f"{label}: ours {ours:.2f} s exceeds the limit of {LIMITS[label]:.0f} s")
        name = GIRISH if label == "girish_full" else f"synthetic ({a.synthetic_jobs} asked)"
        rows.append(f"| `{name}` | {n_ours} | {ours:.2f} | {bare:.2f} | **{ours / bare:.2f}x** | {c_ours:.2f} | "
                    f"{c_bare:.2f} | {c_ours / c_bare:.2f}x | {LIMITS[label]:.0f} |")
        print(f"{label}: {n_ours} jobs; wall: ours {ours:.2f} s (runs {', '.join(f'{t:.2f}' for t in times[(label, 'ours')])}), "
              f"bare {bare:.2f} s ({', '.join(f'{t:.2f}' for t in times[(label, 'bare')])}), ours/bare {ours / bare:.2f}x; "
              f"CPU: ours {c_ours:.2f} s, bare {c_bare:.2f} s, ours/bare {c_ours / c_bare:.2f}x; limit {LIMITS[label]:.0f} s (wall)")
    for f in failed:
        print("FAIL:", f)
    if a.record:
        m = machine()
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        text = (f"\n## `snakemake -n` at scale: ours against a bare Snakefile of the same DAG ({stamp})\n\n"
                f"{machine_line(m)} Load average before {load_before}, after {load_after}.\n\n"
                f"Median of {a.repeats} interleaved runs of `python -m snakemake -n --quiet` in an empty "
                "directory (job counts from one more run each with `--quiet rules`). Bare: a Snakefile generated per study with our rules, file patterns, wildcard "
                "constraints, logs, local rules, input functions and targets, and nothing else (no plan, params, "
                "resources, threads or conda env; shell `touch`); the job counts per rule agree.\n\n"
                "| study | jobs | ours s | bare s | ours / bare | ours CPU s | bare CPU s | CPU ours / bare | limit s |\n"
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
                + "\n".join(rows)
                + f"\n\nRe-run: `.venv/bin/python benchmarks/dag_scale.py --repeats {a.repeats} --record`\n")
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write(text)
    return 1 if (a.check and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
