"""GPU slots (archssl.train.gpus) on a CPU machine: N simulated GPUs (ARCHSSL_GPUS=N), many concurrent jobs;
no two running jobs ever hold the same device, every job runs, a killed job's devices are free again, and
the workstation profile bounds and pins jobs through Snakemake."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from archssl.train import gpus

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# a job: records when it ran and on which devices, holding its devices for `hold` seconds
RECORDER = textwrap.dedent("""
    import json, os, sys, time
    out, hold = sys.argv[1], float(sys.argv[2])
    t0 = time.time()
    time.sleep(hold)
    with open(out, "w") as f:
        json.dump({"devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": t0, "end": time.time(),
                   "pid": os.getpid()}, f)
""")


def _env(tmp_path: Path, n: str | None = "2") -> dict:
    e = dict(os.environ)
    e.pop("CUDA_VISIBLE_DEVICES", None)
    e.pop("SLURM_JOB_ID", None)
    if n is not None:
        e["ARCHSSL_GPUS"] = n
    e["ARCHSSL_GPU_LOCK_DIR"] = str(tmp_path / "locks")
    e["PATH"] = f"{BIN}:{e['PATH']}"
    return e


def _launch(tmp_path, name, count=1, hold=0.4, env=None, extra=()):
    rec = tmp_path / "recorder.py"
    if not rec.exists():
        rec.write_text(RECORDER)
    return subprocess.Popen([sys.executable, "-m", "archssl.train.gpus", "--count", str(count), *extra, "--",
                             sys.executable, str(rec), str(tmp_path / f"{name}.json"), str(hold)],
                            env=env or _env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _records(tmp_path, names):
    return {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in names}


def assert_no_shared_device(recs: dict):
    """No two jobs that ran at the same time held a common device."""
    items = list(recs.items())
    for i, (a, ra) in enumerate(items):
        for b, rb in items[i + 1:]:
            shared = set(ra["devices"].split(",")) & set(rb["devices"].split(","))
            overlap = ra["start"] < rb["end"] and rb["start"] < ra["end"]
            assert not (shared and overlap), f"{a} {ra} and {b} {rb} ran at the same time on {shared}"


def test_pool_sources_and_parsing(monkeypatch):
    assert gpus.device_pool({"ARCHSSL_GPUS": "3"}) == (["0", "1", "2"], "ARCHSSL_GPUS")
    assert gpus.device_pool({"ARCHSSL_GPUS": "0,2", "CUDA_VISIBLE_DEVICES": "5"})[0] == ["0", "2"]
    assert gpus.device_pool({"CUDA_VISIBLE_DEVICES": "4,5"}) == (["4", "5"], "CUDA_VISIBLE_DEVICES")
    # one id in CUDA_VISIBLE_DEVICES is a device, not a count; CUDA ignores what follows an invalid entry
    assert gpus.device_pool({"CUDA_VISIBLE_DEVICES": "3"})[0] == ["3"]
    assert gpus.device_pool({"CUDA_VISIBLE_DEVICES": "1,-1,2"})[0] == ["1"]
    assert gpus.device_pool({"CUDA_VISIBLE_DEVICES": ""})[0] == []
    monkeypatch.setattr(gpus.shutil, "which", lambda name: None)
    assert gpus.device_pool({}) == ([], "nvidia-smi -L")
    with pytest.raises(gpus.GPUSlotError, match="ARCHSSL_GPUS='0,,1'"):
        gpus.device_pool({"ARCHSSL_GPUS": "0,,1"})
    with pytest.raises(gpus.GPUSlotError, match="listed twice"):
        gpus.device_pool({"ARCHSSL_GPUS": "1,1"})
    # inside a SLURM job the slots are the job's own (SLURM renumbers each job's devices from 0)
    assert gpus.lock_dir({"SLURM_JOB_ID": "42"}).name.endswith("-slurm42")
    assert gpus.lock_dir({"ARCHSSL_GPU_LOCK_DIR": "/x/y"}) == Path("/x/y")


def test_acquire_takes_free_devices_and_a_closed_lock_frees_them(tmp_path):
    env = {"ARCHSSL_GPUS": "2", "ARCHSSL_GPU_LOCK_DIR": str(tmp_path)}
    a, _ = gpus.acquire(1, env=env)
    b, _ = gpus.acquire(1, env=env)
    assert [d for d, _ in a] == ["0"] and [d for d, _ in b] == ["1"]
    with pytest.raises(TimeoutError, match="no 1 of the GPUs 0,1 became free within 0.2 s"):
        gpus.acquire(1, env=env, wait_timeout=0.2, poll_s=0.05)
    gpus.release(a)
    c, _ = gpus.acquire(1, env=env)
    assert [d for d, _ in c] == ["0"]
    with pytest.raises(gpus.GPUSlotError, match="asks for 3 GPUs, but this machine has 2"):
        gpus.acquire(3, env=env)
    gpus.release(b + c)


def test_concurrent_jobs_never_share_a_device_and_all_run(tmp_path):
    """Seven jobs of one device and one of two, on two simulated GPUs, all started at once."""
    names = [f"j{i}" for i in range(7)]
    procs = {n: _launch(tmp_path, n) for n in names}
    procs["pair"] = _launch(tmp_path, "pair", count=2)
    for n, p in procs.items():
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (n, err)
        assert "archssl gpus: CUDA_VISIBLE_DEVICES=" in err, err
    recs = _records(tmp_path, procs)
    assert sorted(recs["pair"]["devices"].split(",")) == ["0", "1"]
    assert all(recs[n]["devices"] in ("0", "1") for n in names), recs
    assert {recs[n]["devices"] for n in names} == {"0", "1"}  # both devices used
    assert_no_shared_device(recs)
    # at most two ran at any moment
    events = sorted([(r["start"], 1) for r in recs.values()] + [(r["end"], -1) for r in recs.values()])
    running = peak = 0
    for _, d in events:
        running += d
        peak = max(peak, running)
    assert peak <= 2


def test_a_killed_job_frees_its_device(tmp_path):
    env = _env(tmp_path, "1")
    victim = _launch(tmp_path, "victim", hold=60, env=env)
    deadline = time.time() + 30
    while not any((tmp_path / "locks").glob("gpu-0.lock")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the recorder now holds device 0 (the lock went with exec)
    waiting = _launch(tmp_path, "next", hold=0.1, env=env, extra=("--wait-timeout", "0.5"))
    _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == gpus.EXIT_TIMEOUT, err
    assert "waiting for 1 free GPU(s) of 0" in err
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    after = _launch(tmp_path, "after", hold=0.1, env=env, extra=("--wait-timeout", "20"))
    _, err = after.communicate(timeout=60)
    assert after.returncode == 0, err
    assert _records(tmp_path, ["after"])["after"]["devices"] == "0"


def test_no_gpu_runs_the_command_unpinned_and_errors_are_named(tmp_path):
    env = _env(tmp_path, None)
    env["CUDA_VISIBLE_DEVICES"] = ""
    p = _launch(tmp_path, "cpu", env=env)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0 and "no GPU found (CUDA_VISIBLE_DEVICES); running" in err, err
    r = subprocess.run([sys.executable, "-m", "archssl.train.gpus", "--count", "1", "--", "no-such-command-x"],
                       env=_env(tmp_path), capture_output=True, text=True)
    assert r.returncode == 127 and "cannot run 'no-such-command-x'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "archssl.train.gpus", "--count", "3", "--", "true"],
                       env=_env(tmp_path), capture_output=True, text=True)
    assert r.returncode == 2 and "asks for 3 GPUs, but this machine has 2 (ARCHSSL_GPUS: 0,1)" in r.stderr


PINNED = textwrap.dedent("""
    import json, os, sys, time
    from archssl.train.gpus import pin
    devices = pin(int(sys.argv[2]))
    t0 = time.time()
    time.sleep(float(sys.argv[3]))
    json.dump({"devices": os.environ["CUDA_VISIBLE_DEVICES"], "pinned": devices, "start": t0, "end": time.time()},
              open(sys.argv[1], "w"))
""")


def test_pin_in_process_as_features_and_probe_jobs_do(tmp_path):
    """archssl features / probe with --exec gpus=N pin themselves (archssl.train.gpus.pin) in the process."""
    (tmp_path / "pinned.py").write_text(PINNED)
    procs = {f"p{i}": subprocess.Popen([sys.executable, str(tmp_path / "pinned.py"), str(tmp_path / f"p{i}.json"),
                                        "1", "0.4"], env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
             for i in range(4)}
    for n, p in procs.items():
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "archssl gpus: CUDA_VISIBLE_DEVICES=" in err
    recs = _records(tmp_path, procs)
    assert all(r["devices"] in ("0", "1") and r["pinned"] == [r["devices"]] for r in recs.values()), recs
    assert_no_shared_device(recs)


def test_the_cli_pins_features_and_probe_jobs_from_exec(monkeypatch):
    from archssl import cli
    from archssl.plan import FeaturesExec, ProbeExec, exec_args, parse_exec

    assert parse_exec("device=cuda,gpus=2", ProbeExec).gpus == 2
    assert exec_args(FeaturesExec(gpus=1)).endswith(",gpus=1") and "gpus" not in exec_args(FeaturesExec())
    calls = []
    monkeypatch.setattr(gpus, "pin", lambda n, **kw: calls.append(n))
    import archssl.evaluate.probe_job as probe_job

    monkeypatch.setattr(probe_job, "run_probe", lambda *a, **kw: None)
    cli.cmd_probe(type("A", (), {"features": ["f.h5"], "out": ["o.json"], "threads": 1, "exec": "gpus=1",
                                 "job": {"name": "lbfgs_logreg", "params": {}, "tap": None}})())
    assert calls == [1]


SNAKEFILE = """
rule all:
    input: expand("out/{i}.json", i=range(6)), "out/pair.json"

rule one:
    output: "out/{i}.json"
    wildcard_constraints: i="[0-9]+"
    resources: gpu=1
    shell: "python -m archssl.train.gpus --count 1 -- python {RECORDER} {output} 1.0"

rule pair:
    output: "out/pair.json"
    resources: gpu=2
    shell: "python -m archssl.train.gpus --count 2 -- python {RECORDER} {output} 1.0"
"""


@pytest.mark.workflow
def test_workstation_profile_bounds_and_pins_jobs(tmp_path):
    """The shipped profile with --resources gpu=2 on 2 simulated GPUs and 4 cores: 7 GPU jobs, never more than
    2 GPUs' worth at once, each on devices of its own."""
    (tmp_path / "recorder.py").write_text(RECORDER)
    (tmp_path / "Snakefile").write_text(SNAKEFILE.replace("{RECORDER}", str(tmp_path / "recorder.py")))
    r = subprocess.run([str(BIN / "snakemake"), "--profile", str(ROOT / "profiles" / "workstation"),
                        "--resources", "gpu=2", "--cores", "4", "--snakefile", str(tmp_path / "Snakefile"),
                        "--directory", str(tmp_path)], env=_env(tmp_path), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    recs = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")}
    assert len(recs) == 7
    assert sorted(recs["pair"]["devices"].split(",")) == ["0", "1"]
    assert_no_shared_device(recs)
    used = [(r["start"], 1, len(r["devices"].split(","))) for r in recs.values()]
    events = sorted([(s, n) for s, _, n in used] + [(r["end"], -len(r["devices"].split(","))) for r in recs.values()])
    busy = peak = 0
    for _, d in events:
        busy += d
        peak = max(peak, busy)
    assert peak <= 2
