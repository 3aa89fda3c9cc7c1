"""Running the workflow in a test: snakemake on a study folder, its dry-run plan, the config it reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def env() -> dict[str, str]:
    """The environment of a snakemake run: this venv's scripts first on PATH, one OpenMP thread."""
    e = dict(os.environ)
    e["PATH"] = f"{BIN}:{e['PATH']}"
    e["OMP_NUM_THREADS"] = "1"
    return e


def snakemake(workdir: Path, *args, check=True, config="micro.yaml", **kw):
    """Run the repository's Snakefile in ``workdir`` with ``workdir/config``; with ``check``, a failed run raises
    with the ends of its output and of each failed job's log."""
    cmd = [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / config), *args]
    kw.setdefault("env", env())
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"snakemake failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
                             f"{failed_job_logs(workdir, r.stderr)}")
    return r


def failed_job_logs(workdir: Path, stderr: str, tail: int = 3000) -> str:
    """The end of each failed job's log file (snakemake's ``log: ... (check log file(s) for error details)``
    lines), so that a failure in CI, whose output only keeps its tail, still shows why the job failed."""
    out = []
    for line in stderr.splitlines():
        m = re.match(r"^\s*log: (.*) \(check log file\(s\) for error details\)", line)
        for rel in (m.group(1).split(", ") if m else []):
            log = Path(workdir) / rel
            text = log.read_text(errors="replace")[-tail:] if log.is_file() else "(no log file)"
            out.append(f"\n--- {rel} (last {tail} characters) ---\n{text}")
    return "".join(out)


def planned(workdir: Path, *args, config="micro.yaml", **kw) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run (with snakemake arguments ``args``) would run."""
    out = snakemake(workdir, "-n", *args, config=config, **kw)
    jobs = []
    for line in (out.stdout + out.stderr).splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if m:
            jobs.append((m.group(1), {}))
            continue
        m = re.match(r"^wildcards: (.*)$", line.strip())
        if m and jobs:
            jobs[-1][1].update(dict(kv.split("=", 1) for kv in m.group(1).split(", ")))
    return jobs


def write_config(workdir: Path, cfg: dict, name="micro.yaml"):
    (workdir / name).write_text(yaml.safe_dump(cfg, sort_keys=False))
