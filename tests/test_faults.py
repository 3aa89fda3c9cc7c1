"""Faults a study meets on real machines: a closed pipe, a full disk, a shared cluster's umask. Each gets a
clear message naming the file, and nothing incomplete is left under a target's name."""

import contextlib
import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from archssl.cli import main

BIN = Path(sys.executable).parent
ATTRS = {"arch": "a", "dataset": "d", "method": "m", "preprocessing": {}, "code_version": "x", "config_hash": "y"}


def test_a_closed_pipe_ends_the_cli_quietly():
    """`archssl archs list ... | head -1`: the reader closes the pipe after one line."""
    r = subprocess.run(f"{BIN / 'archssl'} archs list --preset girish | head -1", shell=True, capture_output=True,
                       text=True, env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert r.stdout.startswith("id,family,params,flops")
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr


@contextlib.contextmanager
def small_disk(path: Path, size: str = "256k"):
    """A tmpfs of ``size`` at ``path`` (root only); skipped where mounting is not allowed, except in CI."""
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs in CI: {r.stderr.decode()}")
        pytest.skip(f"mounting a tmpfs needs root: {r.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def test_a_full_disk_while_writing_features_is_one_clean_error(tmp_path):
    """HDF5 reports a full disk from its buffers (uncatchable errors, then a segfault, before); the writer now
    fails first with ENOSPC naming the target and leaves no file behind (in a fresh process: exit 0, no
    segfault, no h5py error spam)."""
    with small_disk(tmp_path / "disk") as disk:
        code = f"""
import errno, sys, numpy as np
from archssl.evaluate.featurestore import FeatureWriter
try:
    with FeatureWriter({str(disk / 'x.h5')!r}, {ATTRS!r}, ["prelogits"]) as w:
        for _ in range(40):
            w.append("train", {{"prelogits": np.ones((500, 64), np.float32)}}, np.zeros(500, np.int64))
except OSError as e:
    print("ENOSPC" if e.errno == errno.ENOSPC else e, e.filename)
"""
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.split() == ["ENOSPC", str(disk / "x.h5")]
        assert "RuntimeError" not in r.stderr
        assert list(disk.iterdir()) == []


def test_a_full_disk_in_a_cli_write_names_the_path_and_keeps_nothing(tmp_path, capsys):
    with small_disk(tmp_path / "disk", "64k") as disk:
        big = json.dumps({"x": "y" * 200_000})
        with pytest.raises(SystemExit) as e:
            main(["write", "--value", big, "--out", str(disk / "v.json")])
        assert e.value.code == 1
        err = capsys.readouterr().err
        assert f"no space left on the device writing {disk / 'v.json'}" in err and "Traceback" not in err
        assert list(disk.iterdir()) == []


def test_outputs_follow_the_umask(tmp_path):
    """Atomic writers create their temporary file 0600; the published file has the mode a plain open() gives
    (0644 under umask 022, 0664 under 002): colleagues on a shared cluster can read results."""
    from archssl.evaluate.featurestore import FeatureWriter
    from archssl.utils import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"a": 1})
        with FeatureWriter(tmp_path / "f.h5", ATTRS, ["prelogits"]) as w:
            w.append("train", {"prelogits": np.ones((3, 2), np.float32)}, np.zeros(3, np.int64))
        os.umask(0o002)
        write_json(tmp_path / "b.json", {"b": 1})
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE((tmp_path / p).stat().st_mode)  # noqa: E731
    assert (mode("a.json"), mode("f.h5"), mode("b.json")) == (0o644, 0o644, 0o664)


def test_an_enospc_from_the_rename_step_names_the_target(tmp_path, monkeypatch):
    """Where the disk fills at the last step (fsync, rename), the error names the target, not the temporary
    file, and the temporary file is removed."""
    import archssl.utils as U

    def full(tmp, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(U, "publish", full)
    with pytest.raises(OSError) as e:
        U.write_json(tmp_path / "a.json", {"a": 1})
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "a.json")
    assert list(tmp_path.iterdir()) == []
