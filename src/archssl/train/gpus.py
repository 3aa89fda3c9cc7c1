"""GPU slots: pin each job of one machine to GPUs of its own, so that two jobs never share a device.

Snakemake bounds how many GPUs the running jobs ask for together (``--resources gpu=N``), but it does not
say *which* device a job gets: every job would see all devices and start on device 0. Each GPU stage of the
workflow pins every GPU job: pretraining starts through this module (the rule's ``archssl_launch``
resource, so that torchrun's processes share the devices)::

    python -m archssl.train.gpus --count 2 -- torchrun ... -m archssl.cli pretrain --job ...

which takes ``--count`` free devices of this machine, sets ``CUDA_VISIBLE_DEVICES`` to them and ``exec``s
the command; features and probe jobs take theirs in the process (:func:`pin`, from ``--exec gpus=N``, an
execution setting: the rules' shell commands are as before, so finished results are not rerun). A device is taken by an exclusive ``fcntl.flock`` on its slot file in the lock folder; the
lock belongs to the open file, whose descriptor the command inherits through ``exec``, so the device stays
taken exactly as long as the command (or any process it started that kept the descriptor) runs, and is
free again when it ends, however it ends (a crash or SIGKILL included: the kernel drops the lock). No state
to clean up, no daemon.

The devices (the *pool*), first found of:

1. ``ARCHSSL_GPUS``: a comma-separated list of device ids (``0,1,3``) or a count (``4`` = ``0,1,2,3``);
2. ``CUDA_VISIBLE_DEVICES`` as it is when the job starts (e.g. set by SLURM to the job's allocation, or by
   the user to leave some devices out);
3. the devices ``nvidia-smi -L`` lists.

With an empty pool (no GPU on this machine) the command runs as it is, unpinned (a note on stderr).

The lock folder is ``ARCHSSL_GPU_LOCK_DIR``, else ``<tmp>/archssl-gpus-<uid>`` (one per user and machine:
every Snakemake of this user on this machine shares it), inside a SLURM job ``...-slurm<job id>``: SLURM
already gives each job devices of its own and renumbers them from 0, so the slots only have to keep apart
the jobs run side by side inside one allocation (a group job's probes).

If fewer than ``--count`` devices are free (another Snakemake, or a user's process, holds some), the job
waits, polling, and says so once on stderr (``--wait-timeout``: give up after that many seconds, exit 75).
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: exit status when no slots became free within --wait-timeout (EX_TEMPFAIL: a retry may succeed)
EXIT_TIMEOUT = 75


class GPUSlotError(RuntimeError):
    """A bad request (more devices than the pool has, a malformed ARCHSSL_GPUS, ...)."""


def parse_pool(text: str, where: str) -> list[str]:
    """Device ids from ``0,1,3`` (ids, or GPU UUIDs) or a count ``4``; ``where`` names the source in errors."""
    text = text.strip()
    if not text:
        return []
    if text.isdigit() and "," not in text and where == "ARCHSSL_GPUS":
        return [str(i) for i in range(int(text))]
    ids = [t.strip() for t in text.split(",")]
    if any(not t for t in ids):
        raise GPUSlotError(f"{where}={text!r}: an empty entry; give device ids separated by commas, e.g. 0,1")
    if len(set(ids)) != len(ids):
        raise GPUSlotError(f"{where}={text!r}: a device is listed twice")
    # CUDA stops at the first invalid entry ("-1" hides everything after it)
    out = []
    for t in ids:
        if t.startswith("-"):
            break
        out.append(t)
    return out


def _nvidia_smi_ids() -> list[str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in out.splitlines() if l.startswith("GPU "))]


def device_pool(env: dict | None = None) -> tuple[list[str], str]:
    """(device ids, where they came from) of this machine or allocation (see the module docstring)."""
    env = os.environ if env is None else env
    if env.get("ARCHSSL_GPUS") is not None:
        return parse_pool(env["ARCHSSL_GPUS"], "ARCHSSL_GPUS"), "ARCHSSL_GPUS"
    if env.get("CUDA_VISIBLE_DEVICES") is not None:
        return parse_pool(env["CUDA_VISIBLE_DEVICES"], "CUDA_VISIBLE_DEVICES"), "CUDA_VISIBLE_DEVICES"
    return _nvidia_smi_ids(), "nvidia-smi -L"


def lock_dir(env: dict | None = None) -> Path:
    """The folder of the slot files (``ARCHSSL_GPU_LOCK_DIR``, else per user, machine and SLURM job)."""
    env = os.environ if env is None else env
    if env.get("ARCHSSL_GPU_LOCK_DIR"):
        return Path(env["ARCHSSL_GPU_LOCK_DIR"])
    name = f"archssl-gpus-{os.getuid()}"
    if env.get("SLURM_JOB_ID"):
        name += f"-slurm{env['SLURM_JOB_ID']}"
    return Path(tempfile.gettempdir()) / name


def _slot_name(device: str) -> str:
    return "gpu-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in device) + ".lock"


def try_acquire(devices: list[str], count: int, folder: Path) -> list[tuple[str, int]] | None:
    """Lock ``count`` free devices of ``devices`` (in pool order), as (device, open fd) pairs; None (and
    nothing held) when fewer are free."""
    folder.mkdir(parents=True, exist_ok=True)
    held: list[tuple[str, int]] = []
    for dev in devices:
        if len(held) == count:
            break
        fd = os.open(folder / _slot_name(dev), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                continue
            raise
        held.append((dev, fd))
    if len(held) < count:
        release(held)
        return None
    for dev, fd in held:  # who holds it, for people looking at the lock folder
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {' '.join(sys.argv[1:])[:500]}\n".encode())
    return held


def release(held: list[tuple[str, int]]) -> None:
    for _, fd in held:
        os.close(fd)  # closing the last descriptor of the open file drops the flock


def acquire(count: int, *, env: dict | None = None, poll_s: float = 0.5, wait_timeout: float | None = None,
            log=sys.stderr) -> tuple[list[tuple[str, int]], str]:
    """Wait for and lock ``count`` devices of the pool: (held (device, fd) pairs, pool source). Empty when
    the pool is (no GPUs here). Raises :class:`GPUSlotError` for a request the pool can never meet,
    TimeoutError past ``wait_timeout`` seconds."""
    if count < 1:
        raise GPUSlotError(f"--count {count}: ask for at least one device")
    devices, source = device_pool(env)
    if not devices:
        return [], source
    if count > len(devices):
        raise GPUSlotError(f"the job asks for {count} GPUs, but this machine has {len(devices)} "
                           f"({source}: {','.join(devices)}); lower the stage's resources.<stage>.gpus or "
                           f"set ARCHSSL_GPUS")
    folder = lock_dir(env)
    t0 = time.monotonic()
    said = False
    while True:
        held = try_acquire(devices, count, folder)
        if held is not None:
            return held, source
        if wait_timeout is not None and time.monotonic() - t0 >= wait_timeout:
            raise TimeoutError(f"no {count} of the GPUs {','.join(devices)} became free within {wait_timeout:g} s "
                               f"(slot locks in {folder})")
        if not said:
            print(f"archssl gpus: waiting for {count} free GPU(s) of {','.join(devices)} (slot locks in {folder})",
                  file=log, flush=True)
            said = True
        time.sleep(poll_s)


#: the slots :func:`pin` holds (open descriptors: the locks last as long as this process)
_PINNED: list[tuple[str, int]] = []


def pin(count: int, *, wait_timeout: float | None = None) -> list[str]:
    """Take ``count`` devices for this process, in the process: wait for and lock them, set
    ``CUDA_VISIBLE_DEVICES`` (before anything initialises CUDA) and hold them until the process exits. The
    devices taken ([] with no GPUs here). Used by ``archssl features`` / ``archssl probe`` with
    ``--exec gpus=N``; a process pins once (a second call returns the devices it holds)."""
    if _PINNED:
        return [d for d, _ in _PINNED]
    held, source = acquire(count, wait_timeout=wait_timeout)
    if not held:
        print(f"archssl gpus: no GPU found ({source}); running unpinned", file=sys.stderr, flush=True)
        return []
    _PINNED.extend(held)
    devices = ",".join(d for d, _ in held)
    os.environ["CUDA_VISIBLE_DEVICES"] = devices
    os.environ["ARCHSSL_GPU_SLOTS"] = devices
    print(f"archssl gpus: CUDA_VISIBLE_DEVICES={devices} (of {source})", file=sys.stderr, flush=True)
    return [d for d, _ in held]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m archssl.train.gpus",
                                 description="Run a command pinned to GPUs of its own (CUDA_VISIBLE_DEVICES).")
    ap.add_argument("--count", type=int, required=True, help="how many devices the command needs")
    ap.add_argument("--wait-timeout", type=float, default=None,
                    help="give up (exit 75) after waiting this many seconds for free devices (default: wait)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    a = ap.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command given (python -m archssl.train.gpus --count N -- COMMAND ...)")
    try:
        held, source = acquire(a.count, wait_timeout=a.wait_timeout)
    except GPUSlotError as e:
        print(f"archssl gpus: {e}", file=sys.stderr)
        return 2
    except TimeoutError as e:
        print(f"archssl gpus: {e}", file=sys.stderr)
        return EXIT_TIMEOUT
    env = dict(os.environ)
    if held:
        devices = ",".join(d for d, _ in held)
        env["CUDA_VISIBLE_DEVICES"] = devices
        env["ARCHSSL_GPU_SLOTS"] = devices
        for _, fd in held:
            os.set_inheritable(fd, True)  # the command holds the locks until it exits
        print(f"archssl gpus: CUDA_VISIBLE_DEVICES={devices} (of {source})", file=sys.stderr, flush=True)
    else:
        print(f"archssl gpus: no GPU found ({source}); running {cmd[0]} unpinned", file=sys.stderr, flush=True)
    try:
        os.execvpe(cmd[0], cmd, env)
    except OSError as e:
        print(f"archssl gpus: cannot run {cmd[0]!r}: {e}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
