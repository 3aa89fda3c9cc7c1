"""The workflow as SLURM jobs: a micro study through the shipped profile on a real (one-node) cluster, run as
users type it, from the repository root: ``snakemake --profile slurm --cores 64`` (plus the test's
``--configfile`` and a ``--directory`` for its results).

Needs a running SLURM with partition "main" (``sudo bash .ci/slurm-up.sh`` brings one up on Debian: no
accounting, so this is also the no-slurmdbd case); skipped otherwise, or failed when ARCHSSL_REQUIRE_SLURM=1
(for CI, where the cluster must be there). Checks that every non-local job went through sbatch and is in
SLURM's own record (slurmctld's, via squeue/scontrol) as COMPLETED, that the config's and the profile's
resources became the SLURM requests (memory, time limit, CPUs), that the profile's groups batch the probes
(fewer SLURM jobs than Snakemake jobs), and that the study's outputs exist.
"""

import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from support.studies import MICRO

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PARTITION = "main"  # the (default) partition of .ci/slurm-up.sh
TIMEOUT_S = 1200
pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

def _run(*cmd, timeout=20):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _no_cluster(reason: str):
    if os.environ.get("ARCHSSL_REQUIRE_SLURM") == "1":
        pytest.fail(f"ARCHSSL_REQUIRE_SLURM=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def node_cpus() -> int:
    """CPUs of the test partition's node; skips when there is no usable SLURM cluster."""
    if shutil.which("sbatch") is None:
        _no_cluster("sbatch not on PATH: no SLURM here (`sudo bash .ci/slurm-up.sh` brings up a one-node cluster)")
    try:
        r = _run("sinfo", "-h", "-p", PARTITION, "-o", "%t %c")
    except (OSError, subprocess.TimeoutExpired) as e:
        _no_cluster(f"SLURM cluster not up: sinfo failed ({e})")
    if r.returncode != 0:
        _no_cluster(f"SLURM cluster not up: sinfo: {r.stderr.strip() or r.returncode}")
    usable = [line.split() for line in r.stdout.splitlines()
              if line.split() and line.split()[0].rstrip("*~#$@^-") in ("idle", "mix", "alloc", "comp")]
    if not usable:
        _no_cluster(f"SLURM cluster not up: no usable node in partition {PARTITION!r} "
                    f"(sinfo: {r.stdout.strip() or 'no such partition'})")
    return int(usable[0][1].rstrip("+"))


def micro_slurm(threads: int) -> dict:
    """MICRO, cut to few SLURM jobs that still cover every stage (17 Snakemake jobs, 13 of them non-local, as
    of writing): one architecture, the datasets grouped into one features job per (method, architecture),
    one probe job per feature file (4), which the profile's group `probes` batches into SLURM jobs. Distinct
    resources per stage so that the test can see them in SLURM's records."""
    cfg = copy.deepcopy(MICRO)
    cfg["archs"]["specs"] = cfg["archs"]["specs"][:1]
    cfg["features"] = {"group_datasets": True}
    cfg["probe"] = {**cfg["probe"], "group_datasets": False}
    cfg["resources"] = {
        "pretrain": {"threads": threads, "mem_mb": 1500, "runtime": 15},
        "features": {"threads": 1, "mem_mb": 800, "runtime": 12},
    }
    return cfg


def job_record(slurm_id: str) -> dict:
    """A finished job's fields from slurmctld (kept for MinJobAge seconds after the job ends)."""
    r = _run("scontrol", "-o", "show", "job", slurm_id)
    assert r.returncode == 0, f"scontrol show job {slurm_id}: {r.stderr}"
    return dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)


def test_micro_study_runs_as_slurm_jobs_with_the_shipped_profile(node_cpus, tmp_path):
    work = tmp_path / "study"
    work.mkdir()
    threads = min(2, node_cpus)
    (tmp_path / "micro.yaml").write_text(yaml.safe_dump(micro_slurm(threads), sort_keys=False))
    env = dict(os.environ)
    env["PATH"] = f"{BIN}:{env['PATH']}"  # sbatch --export=ALL hands it to the jobs: they run `archssl`
    env["OMP_NUM_THREADS"] = "1"
    # two probes to a SLURM job: the group job asks for the sum of its probes' CPUs, and this node may have
    # only 2 (the profile's default, 4, would ask for 4)
    group = min(2, node_cpus)
    cmd = ["snakemake", "--profile", "slurm", "--cores", "64",
           "--configfile", str(tmp_path / "micro.yaml"), "--directory", str(work),
           "--group-components", f"probes={group}"]
    log = work / "snakemake.out"
    t0 = time.time()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
            rc = None
    text = log.read_text()
    run_id = re.search(r"SLURM run ID: (\S+)", text)
    if rc is None and run_id:  # cancel what is left of this run's jobs (named after the run ID)
        _run("scancel", "--name", run_id.group(1))
    print(f"slurm micro study ({' '.join(cmd[:5])}): {time.time() - t0:.0f}s")
    assert rc == 0, f"snakemake {'timed out' if rc is None else f'failed ({rc})'}:\n{text[-6000:]}"
    assert run_id, text[-3000:]

    # every job but the local ones went through sbatch; which rule each was, from Snakemake's own log (a
    # group job is submitted under its group's id, a UUID, not a job number)
    submitted = dict(re.findall(r"Job (\S+) has been submitted with SLURM jobid (\d+)", text))
    rule_of = {jobid: rule for rule, jobid in re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)",
                                                         text, flags=re.M)}
    by_rule: dict[str, list[str]] = {}
    for job, slurm_id in submitted.items():
        by_rule.setdefault(rule_of.get(job, "group probes"), []).append(slurm_id)
    assert {"prepare_data", "pretrain", "features", "group probes", "tables", "figures"} <= set(by_rule), by_rule
    assert "probe" not in by_rule, by_rule  # no probe went to SLURM on its own

    # tiny jobs batched: the 4 probes went as 4 / group SLURM jobs, so fewer SLURM jobs than Snakemake jobs
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", text.split("Job stats:")[1].split("Reasons")[0], flags=re.M))
    local = {"all", "arch_spec", "study_manifest", "provenance"}
    cluster_jobs = sum(int(n) for rule, n in stats.items() if rule != "total" and rule not in local)
    assert int(stats["probe"]) == 4
    assert len(by_rule["group probes"]) == -(-4 // group), by_rule
    assert len(submitted) == cluster_jobs - 4 + len(by_rule["group probes"]) < cluster_jobs, (stats, submitted)
    print(f"{cluster_jobs} non-local Snakemake jobs ({stats['probe']} probes) -> {len(submitted)} SLURM jobs")

    # SLURM's own record: every submitted job, under this run's name, COMPLETED
    q = _run("squeue", "-h", "--states=all", "--name", run_id.group(1), "-o", "%i|%T|%j")
    states = {line.split("|")[0]: line.split("|")[1] for line in q.stdout.split()}
    print(f"squeue --states=all --name {run_id.group(1)}: {len(states)} jobs, states {sorted(set(states.values()))}")
    assert set(submitted.values()) <= set(states), (submitted, states)
    assert {states[i] for i in submitted.values()} == {"COMPLETED"}, states

    # the config's resources (pretrain, features) and the shipped profile's default-resources (prepare_data:
    # no resources of its own) became the SLURM requests; --cores 64 capped none of them
    for rule, mem, limit, cpus in [("pretrain", "1500M", "00:15:00", threads),
                                   ("features", "800M", "00:12:00", 1),
                                   ("prepare_data", "4000M", "01:00:00", 1)]:
        for slurm_id in by_rule[rule]:
            rec = job_record(slurm_id)
            assert rec["Partition"] == PARTITION, rec
            assert rec["TimeLimit"] == limit, (rule, rec["TimeLimit"])
            assert f"mem={mem}" in rec["TRES"], (rule, rec["TRES"])
            assert int(rec["NumCPUs"]) == cpus, (rule, rec["NumCPUs"])
            assert rec["JobState"] == "COMPLETED", rec
            print(f"scontrol show job {slurm_id}: {rule} {rec['JobState']} cpus={rec['NumCPUs']} "
                  f"{rec['TRES']} limit={rec['TimeLimit']}")
    # a probe group job asks for what its probes (1 CPU, 2000 MB, 60 min each: the config's defaults) need
    # side by side: the sum of CPUs and memory, the longest runtime
    for slurm_id in by_rule["group probes"]:
        rec = job_record(slurm_id)
        assert rec["JobState"] == "COMPLETED", rec
        n = int(rec["NumCPUs"])
        assert 1 <= n <= group and f"mem={2000 * n}M" in rec["TRES"], rec
        assert rec["TimeLimit"] == "01:00:00", rec
        print(f"scontrol show job {slurm_id}: group probes cpus={n} {rec['TRES']} limit={rec['TimeLimit']}")

    # the study's outputs
    res = work / "results"
    for rel in ("tables/accuracy.csv", "tables/correlations.csv", "config.resolved.yaml", "provenance.json",
                "figures/honesty_simclr.png"):
        assert (res / rel).exists(), rel
    assert len(list((res / "pretrain").rglob("backbone.pt"))) == 2
    assert len(list((res / "probes").rglob("*.json"))) == 2 * 1 * 2
