"""Faults during pretraining: a job SIGKILLed (or stopped by SIGTERM, as SLURM does at a time limit) in the
middle of an epoch resumes from its last mid-epoch checkpoint and ends with the same weights, bit for bit on
the CPU, as a run that was never interrupted.

Each run is a separate process (``RUN`` below). Its dataset can hold the run at a chosen item of a chosen
epoch: it writes a marker file and waits there, so the test knows the run is mid-epoch, past at least one
mid-epoch checkpoint (``checkpoint_minutes`` is tiny: one after every step), before it sends the signal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

RUN = r'''
import json, logging, os, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
from archssl.plan import PretrainExec, PretrainJob
from archssl.train.loop import pretrain

args = json.loads(sys.argv[1])
out, hold = Path(args["out"]), args.get("hold")  # hold: [epoch, item]: wait there for the test


class Images(torch.utils.data.Dataset):
    """48 seeded 16x16 images; counts the items asked for, per epoch (48 of them each)."""

    def __init__(self):
        g = torch.Generator().manual_seed(123)
        self.images = torch.randint(0, 256, (48, 3, 16, 16), dtype=torch.uint8, generator=g)
        self.asked = 0

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        if hold and self.asked == hold[0] * len(self) + hold[1]:
            (out / "held").write_text("1")
            deadline = time.time() + 60
            while not (out / "go").exists() and time.time() < deadline:
                time.sleep(0.01)
        self.asked += 1
        return self.images[i], 0


job = PretrainJob.build(args["method"], seed=7, image_size=16,
                        pretrain={"epochs": 2, "batch_size": 8, "optimizer": {"name": "lars", "lr": 0.5},
                                  "warmup_epochs": 0.5},
                        method_params=args["params"])
exe = PretrainExec(device="cpu", checkpoint_minutes=args["minutes"])
pretrain({"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"}, Images(), job,
         out / "run", exe)
'''

PARAMS = {
    "simclr": {"head": {"hidden": 16, "out": 8}},
    "moco": {"queue_size": 32, "momentum": 0.9, "head": {"hidden": 16, "out": 8}, "hard_negatives": True},
}
STEPS = 48 // 8  # per epoch


def start(out: Path, method: str, minutes: float, hold=None) -> subprocess.Popen:
    out.mkdir(parents=True, exist_ok=True)
    args = {"out": str(out), "method": method, "params": PARAMS[method], "minutes": minutes, "hold": hold}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", RUN, json.dumps(args)], stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def wait_held(out: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not (out / "held").exists():
        assert proc.poll() is None, f"the run ended before reaching the hold point:\n{proc.stderr.read()}"
        assert time.time() < deadline, "the run never reached the hold point"
        time.sleep(0.02)


def weights(out: Path) -> dict:
    return torch.load(out / "run" / "backbone.pt", weights_only=False)["state_dict"]


def run_here(out: Path, method: str) -> dict:
    """The uninterrupted run, in this process (the same computation as ``RUN``; a fresh process would give
    the same bits), with a checkpoint after every step: checkpoints must not change the result."""
    import logging

    code = RUN.replace("args = json.loads(sys.argv[1])", "args = _args").replace("logging.basicConfig", "(lambda **k: 0)")
    threads = torch.get_num_threads()
    try:
        exec(compile(code, "RUN", "exec"), {"_args": {"out": str(out), "method": method, "params": PARAMS[method],
                                                      "minutes": 1e-6, "hold": None}, "__name__": "run"})
    finally:
        torch.set_num_threads(threads)
        logging.getLogger("archssl.pretrain").handlers.clear()
    return weights(out)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return {method: run_here(tmp_path_factory.mktemp(f"ref_{method}"), method) for method in PARAMS}


def same(a: dict, b: dict) -> list[str]:
    """Keys whose tensors differ (bitwise)."""
    assert a.keys() == b.keys()
    return [k for k in a if not torch.equal(a[k], b[k])]


def kill_mid_epoch(out: Path, method: str) -> str:
    """Start a run, SIGKILL it while it is held at the 5th image of batch 4 of epoch 2 (steps 1-3 of epoch 2
    done and checkpointed), check what it left; returns its log."""
    proc = start(out, method, minutes=1e-6, hold=[1, 3 * 8 + 4])
    wait_held(out, proc)
    proc.send_signal(signal.SIGKILL)
    rc, err = finish(proc)
    assert rc == -signal.SIGKILL
    assert "checkpoint at epoch 2, step 3/6 (mid-epoch)" in err, err[-3000:]
    assert not (out / "run" / "backbone.pt").exists()
    state = torch.load(out / "run" / "checkpoint.pt", weights_only=False)
    assert (state["epoch"], state["step"]) == (1, 3)  # 0-based epoch in progress, steps done in it
    prev = torch.load(out / "run" / "checkpoint.prev.pt", weights_only=False)  # the previous good one
    assert (prev["epoch"], prev["step"]) == (1, 2)
    return err


def test_sigkill_mid_epoch_resumes_from_the_mid_epoch_checkpoint_with_the_same_weights(tmp_path, reference):
    kill_mid_epoch(tmp_path, "simclr")
    rc, err = finish(start(tmp_path, "simclr", minutes=0))
    assert rc == 0, err
    line = next((x for x in err.splitlines() if "resuming from" in x), err[-3000:])
    print(f"simclr rerun: {line}")
    assert "checkpoint.pt at epoch 2/2, step 3 (mid-epoch)" in line
    assert same(weights(tmp_path), reference["simclr"]) == []
    assert not (tmp_path / "run" / "checkpoint.pt").exists() and not (tmp_path / "run" / "checkpoint.prev.pt").exists()


def test_an_unreadable_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, reference):
    # MoCo (queue, momentum encoder, hard negatives drawn from torch's generator): its state and randomness
    # at step 2 of epoch 2 come back from the previous checkpoint
    kill_mid_epoch(tmp_path, "moco")
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"truncated")  # as if the disk filled up mid-write
    rc, err = finish(start(tmp_path, "moco", minutes=0))
    assert rc == 0, err
    line = next((x for x in err.splitlines() if "resuming from" in x), err[-3000:])
    print(f"moco rerun: {line}")
    ckpt = tmp_path / "run" / "checkpoint.pt"
    assert f"{ckpt}: not a readable checkpoint (" in err and "trying checkpoint.prev.pt" in err, err[-3000:]
    assert f"{ckpt} set aside as checkpoint.pt.corrupt" in err
    assert "checkpoint.prev.pt at epoch 2/2, step 2 (mid-epoch)" in line
    assert same(weights(tmp_path), reference["moco"]) == []


def test_sigterm_checkpoints_at_the_next_step_and_exits_for_a_retry(tmp_path, reference):
    from archssl.train.loop import PREEMPTED_EXIT

    # no time-based checkpoints: the only mid-epoch checkpoint is the one the signal asks for
    proc = start(tmp_path, "simclr", minutes=0, hold=[0, 2 * 8 + 1])
    wait_held(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    (tmp_path / "go").write_text("1")  # the step in progress (epoch 1, step 3) completes, then it stops
    rc, err = finish(proc)
    assert rc == PREEMPTED_EXIT, err[-3000:]
    assert "SIGTERM: checkpoint written at epoch 1, step 3/6" in err, err[-3000:]
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert (state["epoch"], state["step"]) == (0, 3)
    (tmp_path / "go").unlink()
    (tmp_path / "held").unlink()

    rc, err = finish(start(tmp_path, "simclr", minutes=0))
    assert rc == 0, err
    assert "at epoch 1/2, step 3 (mid-epoch)" in err, err[-3000:]
    assert same(weights(tmp_path), reference["simclr"]) == []
