"""`snakemake -n` time of the study configs, for this checkout against an earlier revision, in one run.

Each revision's Snakefile and package (``PYTHONPATH=<its src>``, so it shadows the editable install) run
``python -m snakemake -n`` on the same config in an empty directory, ``--repeats`` times interleaved; the
median wall time per (revision, config) and the ratio after/before are printed. ``--record`` appends them to
``benchmarks/RESULTS.md``.

    .venv/bin/python benchmarks/dag_time.py --before 9abfb33 --record
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from loader_throughput import machine, machine_line  # noqa: E402


def dry_run(tree: Path, config: str, work: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "snakemake", "-n", "--quiet", "--snakefile", str(tree / "Snakefile"),
           "--directory", str(work), "--configfile", str(tree / config)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    secs = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{tree}: snakemake -n {config} failed:\n{r.stderr[-2000:]}")
    return secs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="the earlier revision (a commit of this repository)")
    ap.add_argument("--after", default=None, help="the later revision (default: this checkout as it is)")
    ap.add_argument("--configs", nargs="+", default=["config/config.yaml", "config/studies/girish_full.yaml"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        old, new = Path(tmp) / "before", (Path(tmp) / "after" if a.after else ROOT)
        for tree, rev in ((old, a.before), (new, a.after)):
            if tree != ROOT:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), rev], check=True)
        try:
            times: dict[tuple[str, str], list[float]] = {}
            for _ in range(a.repeats):
                for label, tree in (("before", old), ("after", new)):
                    for cfg in a.configs:
                        with tempfile.TemporaryDirectory() as work:
                            times.setdefault((label, cfg), []).append(dry_run(tree, cfg, Path(work)))
        finally:
            for tree in (old, new):
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    rows = []
    for cfg in a.configs:
        b, n = statistics.median(times[("before", cfg)]), statistics.median(times[("after", cfg)])
        rows.append(f"| `{cfg}` | {b:.2f} | {n:.2f} | {n / b:.2f} |")
        print(f"{cfg}: before {b:.2f} s, after {n:.2f} s, after/before {n / b:.2f}")
    if a.record:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        text = (f"\n## `snakemake -n` time, before and after the plan ({stamp})\n\n{machine_line(machine())}\n\n"
                f"Before: revision `{a.before}`; after: {f'revision `{a.after}`' if a.after else 'this checkout'}. Median of {a.repeats} interleaved runs, "
                f"`python -m snakemake -n --quiet` in an empty directory.\n\n"
                "| config | before s | after s | after / before |\n|---|---:|---:|---:|\n" + "\n".join(rows) +
                f"\n\nRe-run: `.venv/bin/python benchmarks/dag_time.py --before {a.before}"
                f"{f' --after {a.after}' if a.after else ''} --record`\n")
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
