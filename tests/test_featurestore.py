"""Feature files: layout, round trip, atomic writes, and validation of broken files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from archssl.evaluate.featurestore import (
    FORMAT_VERSION,
    FeatureFileError,
    FeatureWriter,
    is_valid,
    list_taps,
    read_attrs,
    read_features,
    validate,
    write_features,
)

ATTRS = {
    "arch": "resnet_b2222_w64",
    "method": "simclr",
    "dataset": "textures",
    "preprocessing": {"image_size": 32, "mean": [0.5, 0.5, 0.5], "pool": "gap"},
    "code_version": "0.1.0+abc",
    "config_hash": "deadbeef",
}


def make_splits(rng, n=(40, 10, 12), dims=(8, 16), k=5, multilabel=False):
    splits = {}
    for split, m in zip(("train", "val", "test"), n):
        feats = {f"block{i + 3}": rng.normal(size=(m, d)).astype(np.float32) for i, d in enumerate(dims)}
        if multilabel:
            labels = (rng.random((m, k)) < 0.3).astype(np.float32)
        else:
            labels = rng.integers(0, k, m)
        splits[split] = {"features": feats, "labels": labels, "indices": rng.permutation(m)}
    return splits


def test_roundtrip_layout_and_attrs(tmp_path):
    rng = np.random.default_rng(0)
    splits = make_splits(rng)
    path = write_features(tmp_path / "sub" / "f.h5", splits, ATTRS)
    assert path.exists() and is_valid(path) and is_valid(path, deep=True)
    # raw layout as documented
    with h5py.File(path, "r") as f:
        assert f.attrs["complete"] == 1 and f.attrs["format_version"] == FORMAT_VERSION
        assert [t.decode() if isinstance(t, bytes) else t for t in f.attrs["taps"]] == ["block3", "block4"]
        assert json.loads(f.attrs["preprocessing"]) == ATTRS["preprocessing"]
        ds = f["train/features/block4"]
        assert ds.dtype == np.float32 and ds.shape == (40, 16) and ds.chunks is not None
        assert f["train/labels"].dtype == np.int64 and f["val/indices"].dtype == np.int64
    fs = read_features(path, tap="block3")
    assert fs.tap == "block3" and fs.taps == ["block3", "block4"]
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(fs[split].X, splits[split]["features"]["block3"])
        np.testing.assert_array_equal(fs[split].y, splits[split]["labels"])
        np.testing.assert_array_equal(fs[split].indices, splits[split]["indices"])
        assert fs[split].X.dtype == np.float32
    assert fs.attrs["arch"] == ATTRS["arch"] and fs.attrs["config_hash"] == "deadbeef"
    assert fs.preprocessing == ATTRS["preprocessing"]
    # default tap is the deepest (last listed)
    assert read_features(path).tap == "block4"
    assert list_taps(path) == ["block3", "block4"]
    assert read_attrs(path)["dataset"] == "textures"
    # subset of splits
    only = read_features(path, splits=("test",))
    assert set(only.splits) == {"test"}
    # no temporary files left behind
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.h5"]


def test_float16_and_multilabel(tmp_path):
    rng = np.random.default_rng(1)
    splits = make_splits(rng, multilabel=True)
    path = write_features(tmp_path / "f16.h5", splits, ATTRS, dtype="float16")
    with h5py.File(path, "r") as f:
        assert f["val/features/block3"].dtype == np.float16
        assert f["val/labels"].dtype == np.float32 and f["val/labels"].shape == (10, 5)
    fs = read_features(path, tap="block3")
    assert fs["val"].X.dtype == np.float32 and fs.multilabel
    np.testing.assert_allclose(fs["val"].X, splits["val"]["features"]["block3"], rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(fs["val"].y, splits["val"]["labels"])


def test_write_rejects_bad_input_and_leaves_nothing(tmp_path):
    rng = np.random.default_rng(2)
    splits = make_splits(rng)
    splits["val"]["features"]["block3"][3, 1] = np.nan
    with pytest.raises(FeatureFileError, match="NaN/inf"):
        write_features(tmp_path / "nan.h5", splits, ATTRS)
    assert list(tmp_path.iterdir()) == []
    big = make_splits(rng)
    big["train"]["features"]["block4"][0, 0] = 1e6  # overflows float16
    with pytest.raises(FeatureFileError, match="float16"):
        write_features(tmp_path / "big.h5", big, ATTRS, dtype="float16")
    bad = make_splits(rng)
    bad["test"]["labels"] = bad["test"]["labels"][:-1]
    with pytest.raises(FeatureFileError, match="indices but"):
        write_features(tmp_path / "rows.h5", bad, ATTRS)
    with pytest.raises(FeatureFileError, match="missing required attributes"):
        write_features(tmp_path / "attrs.h5", make_splits(rng), {"arch": "a"})
    mixed = make_splits(rng)
    del mixed["val"]["features"]["block4"]
    with pytest.raises(FeatureFileError, match="taps"):
        write_features(tmp_path / "taps.h5", mixed, ATTRS)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    path = write_features(tmp_path / "f.h5", make_splits(rng), ATTRS)
    before = read_features(path)["train"].X.copy()
    calls = {"n": 0}
    orig = h5py.Group.create_dataset

    def failing(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (simulated)")
        return orig(self, *a, **kw)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError, match="simulated"):
        write_features(path, make_splits(rng), ATTRS)
    monkeypatch.undo()
    np.testing.assert_array_equal(read_features(path)["train"].X, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5"]


def test_killed_writer_leaves_no_complete_looking_file(tmp_path):
    """SIGKILL in the middle of writing (deterministically, from inside h5py): the target never appears."""
    target = tmp_path / "killed.h5"
    code = textwrap.dedent(
        f"""
        import os, signal, h5py, numpy as np
        from archssl.evaluate.featurestore import write_features
        orig = h5py.Group.create_dataset
        n = [0]
        def boom(self, *a, **kw):
            n[0] += 1
            if n[0] == 4:
                os.kill(os.getpid(), signal.SIGKILL)
            return orig(self, *a, **kw)
        h5py.Group.create_dataset = boom
        rng = np.random.default_rng(0)
        feats = {{"t": rng.normal(size=(100, 8)).astype(np.float32)}}
        split = {{"features": feats, "labels": np.zeros(100, dtype=np.int64), "indices": np.arange(100)}}
        write_features({str(target)!r}, {{"train": split, "val": split, "test": split}}, {ATTRS!r})
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    assert not target.exists()
    assert not is_valid(target)
    leftovers = list(tmp_path.iterdir())
    assert all(p.name.startswith(".killed.h5.") and p.name.endswith(".tmp") for p in leftovers)
    for p in leftovers:  # the partial temp file is itself recognisably incomplete
        assert not is_valid(p)


def _raw_file(path, n=(6, 4, 4), d=3, complete=True, nan=False, label_rows=None, taps=("t",), drop=None):
    with h5py.File(path, "w") as f:
        for key, value in ATTRS.items():
            f.attrs[key] = value if isinstance(value, str) else json.dumps(value)
        f.attrs["taps"] = list(taps)
        f.attrs["format_version"] = FORMAT_VERSION
        digests = {}
        for split, m in zip(("train", "val", "test"), n):
            if drop == split:
                continue
            g = f.create_group(split)
            X = np.ones((m, d), dtype=np.float32)
            if nan and split == "val":
                X[1, 2] = np.inf
            arrays = {f"features/{t}": X for t in taps}
            arrays["labels"] = np.zeros(label_rows or m, dtype=np.int64)
            arrays["indices"] = np.arange(label_rows or m, dtype=np.int64)
            for name, a in arrays.items():
                g.create_dataset(name, data=a)
                digests[f"{split}/{name}"] = hashlib.blake2b(a.tobytes(), digest_size=16).hexdigest()
        f.attrs["digests"] = json.dumps(digests)
        if complete:
            f.attrs["complete"] = 1


@pytest.mark.parametrize(
    "kwargs, match, cheap_valid",
    [
        (dict(complete=False), "incomplete", False),
        (dict(drop="val"), "split 'val' is missing", False),
        (dict(label_rows=2), "shape mismatch", False),
        (dict(nan=True), "NaN/inf", True),  # only a data scan sees NaN
    ],
)
def test_read_rejects_broken_files(tmp_path, kwargs, match, cheap_valid):
    path = tmp_path / "raw.h5"
    _raw_file(path, **kwargs)
    with pytest.raises(FeatureFileError, match=match) as exc:
        read_features(path)
    assert str(path) in str(exc.value)
    assert is_valid(path) is cheap_valid
    assert is_valid(path, deep=True) is False


def test_a_value_altered_file_fails_its_digest_and_the_probe_job_sets_it_aside(tmp_path):
    """One feature value changed in place (bit rot, an interrupted copy): the file still opens and is
    structurally valid, but its content no longer matches the digest written with it."""
    from archssl.evaluate.featurestore import CorruptFeatureFile
    from archssl.evaluate.probe_job import run_probe
    from archssl.plan import ProbeJob

    rng = np.random.default_rng(5)
    path = write_features(tmp_path / "f.h5", make_splits(rng, n=(40, 10, 10), dims=(8,)), ATTRS)
    assert read_features(path).tap
    with h5py.File(path, "r+") as f:
        f["train/features/block3"][3, 2] += 1.0
    assert is_valid(path)
    with pytest.raises(CorruptFeatureFile, match="do not match the digest written with them") as e:
        read_features(path)
    assert str(path) in str(e.value)
    job, exe = ProbeJob.build({"params": {"num_l2": 3}})
    with pytest.raises(CorruptFeatureFile):
        run_probe(path, tmp_path / "p.json", job, exe)
    assert not path.exists() and (tmp_path / "f.h5.corrupt").exists() and not (tmp_path / "p.json").exists()


def test_missing_tap_and_missing_file(tmp_path):
    path = tmp_path / "raw.h5"
    _raw_file(path, taps=("a", "b"))
    assert read_features(path, tap="a").tap == "a"
    with pytest.raises(FeatureFileError, match="tap 'zz' is not in the file") as exc:
        read_features(path, tap="zz")
    assert str(path) in str(exc.value)
    with pytest.raises(FeatureFileError, match="does not exist"):
        read_features(tmp_path / "nope.h5")
    assert not is_valid(tmp_path / "nope.h5")


def test_truncated_and_garbage_files(tmp_path):
    rng = np.random.default_rng(4)
    path = write_features(tmp_path / "f.h5", make_splits(rng, n=(400, 100, 100), dims=(64,)), ATTRS)
    data = path.read_bytes()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(FeatureFileError) as exc:
        read_features(trunc)
    assert str(trunc) in str(exc.value)
    assert not is_valid(trunc)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(FeatureFileError, match="cannot open as HDF5"):
        validate(garbage)
    assert not is_valid(garbage)


@pytest.mark.parametrize("multilabel", [False, True])
def test_streamed_file_equals_the_file_written_in_one_go(tmp_path, multilabel):
    """FeatureWriter: batches of uneven sizes, splits in any order, give the same file content as one call."""
    rng = np.random.default_rng(3)
    splits = make_splits(rng, n=(41, 9, 0), multilabel=multilabel)
    whole = read_all(write_features(tmp_path / "whole.h5", splits, ATTRS, dtype="float16"))
    with FeatureWriter(tmp_path / "streamed.h5", ATTRS, ["block3", "block4"], dtype="float16") as w:
        for split in ("test", "val", "train"):
            p = splits[split]
            n = len(p["labels"])
            cuts = [0, *sorted(rng.choice(np.arange(1, max(n, 2)), size=min(3, max(n - 1, 0)), replace=False)), n]
            for a, b in zip(cuts[:-1], cuts[1:]):
                w.append(split, {t: v[a:b] for t, v in p["features"].items()}, p["labels"][a:b], p["indices"][a:b])
            if n == 0:
                w.append(split, p["features"], p["labels"], p["indices"])
        assert not (tmp_path / "streamed.h5").exists()  # published only at the end
    streamed = read_all(tmp_path / "streamed.h5")
    assert whole.keys() == streamed.keys()
    for k in whole:
        np.testing.assert_array_equal(whole[k], streamed[k], err_msg=k)
    assert read_attrs(tmp_path / "streamed.h5")["taps"] == ["block3", "block4"]


def read_all(path):
    out = {}
    for tap in list_taps(path):
        fs = read_features(path, tap=tap)
        for split, d in fs.splits.items():
            out[f"{split}/{tap}"] = d.X
            out[f"{split}/labels"] = d.y
            out[f"{split}/indices"] = d.indices
    return out


def test_streaming_errors_name_the_row_and_leave_nothing(tmp_path):
    rng = np.random.default_rng(4)
    target = tmp_path / "f.h5"
    good = rng.normal(size=(10, 4)).astype(np.float32)
    bad = good.copy()
    bad[7, 2] = np.nan
    with pytest.raises(FeatureFileError, match=r"f\.h5: split 'train' tap 'prelogits' features contains NaN/inf "
                                               r"values \(first bad row 17;"):
        with FeatureWriter(target, ATTRS, ["prelogits"]) as w:
            w.append("train", {"prelogits": good}, np.zeros(10, dtype=int))
            w.append("train", {"prelogits": bad}, np.zeros(10, dtype=int))
    with pytest.raises(FeatureFileError, match="dimension 5 in 'val' but 4 elsewhere"):
        with FeatureWriter(target, ATTRS, ["prelogits"]) as w:
            w.append("train", {"prelogits": good}, np.zeros(10, dtype=int))
            w.append("val", {"prelogits": good[:, :1].repeat(5, 1)}, np.zeros(10, dtype=int))
    with pytest.raises(FeatureFileError, match="batch has taps \\['block3'\\], the file's taps are \\['prelogits'\\]"):
        with FeatureWriter(target, ATTRS, ["prelogits"]) as w:
            w.append("train", {"block3": good}, np.zeros(10, dtype=int))
    with pytest.raises(RuntimeError, match="interrupted"):
        with FeatureWriter(target, ATTRS, ["prelogits"]) as w:
            w.append("train", {"prelogits": good}, np.zeros(10, dtype=int))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []  # no target, no temporary file
    with pytest.raises(FeatureFileError, match="no splits to write"):
        with FeatureWriter(target, ATTRS, ["prelogits"]):
            pass
    assert list(tmp_path.iterdir()) == []
