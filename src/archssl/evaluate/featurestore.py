"""Frozen-backbone features on disk: one HDF5 file per (method, arch, dataset).

Layout (``format_version`` 2)::

    /                                   root attributes (see below)
    /<split>/                           one group per split: ``train``, ``val``, ``test``
    /<split>/features/<tap>             (N, D) float32 or float16, chunked by rows
    /<split>/labels                     (N,) int64 class index, or (N, C) float32 multi-hot
    /<split>/indices                    (N,) int64: the sample's index within its split

Root attributes:

``arch``, ``method``, ``dataset``
    ids of the backbone, the run (the study's name for it: an SSL method or a variant of one) and the dataset
    (strings). The workflow also writes ``ssl_method``: the registered method a variant configures.
``taps``
    list of tap names (the layers features were taken from), ordered shallow to deep. Every split
    holds every tap.
``preprocessing``
    JSON string describing how images were turned into features (resolution, normalisation, pooling...).
``code_version``, ``config_hash``
    provenance strings.
``format_version``
    integer, :data:`FORMAT_VERSION`.
``digests``
    JSON ``{"<split>/features/<tap>": blake2b-128 hex, "<split>/labels": ..., "<split>/indices": ...}`` of
    every dataset's bytes, computed while writing.
``complete``
    ``1``; written last, after every dataset. A file without it is never treated as valid.

Extra attributes passed to :func:`write_features` are stored too (strings, numbers, or JSON strings for
dicts/lists of non-strings).

Files are written atomically: the data go to a temporary file in the target's directory, which is flushed,
``fsync``-ed and then ``os.replace``-d onto the target name, so a job killed at any moment leaves either no
file or the previous complete file, never a partial file under the target name.

Reading (:func:`read_features`) validates the file and raises :class:`FeatureFileError` naming the path and
the problem for: a missing ``complete`` flag, a truncated or corrupt file, a missing split or tap, row-count
mismatches between features, labels and indices, wrong dtypes/ranks, NaN/inf features, and content that
differs from its digest (:class:`CorruptFeatureFile`: the probe job sets such a file aside as ``*.corrupt``,
so the rerun rebuilds it).
:func:`is_valid` is the cheap structural check (no full data scan unless ``deep=True``) the workflow uses to
decide whether a file must be rebuilt.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from archssl.utils import publish, temp_path_for

FORMAT_VERSION = 2  # 2: a digest of every dataset (root attribute ``digests``), checked on read
SPLITS = ("train", "val", "test")
REQUIRED_ATTRS = ("arch", "method", "dataset", "preprocessing", "code_version", "config_hash")
FEATURE_DTYPES = ("float32", "float16")
_CHUNK_BYTES = 1 << 20  # ~1 MiB row chunks
_SCAN_ROWS = 65536  # rows per block when scanning for NaN/inf


class FeatureFileError(RuntimeError):
    """A feature file that is missing, incomplete, corrupt or inconsistent. The message names the file."""


class CorruptFeatureFile(FeatureFileError):
    """A complete feature file whose content differs from the digest written with it."""


@dataclass
class SplitData:
    """One split of one tap: ``X`` (N, D) float32, ``y`` (N,) int64 or (N, C) float32, ``indices`` (N,) int64."""

    X: np.ndarray
    y: np.ndarray
    indices: np.ndarray

    @property
    def multilabel(self) -> bool:
        return self.y.ndim == 2

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass
class FeatureSet:
    """The features of one tap of one file, per split, with the file's root attributes."""

    path: str
    tap: str
    splits: dict[str, SplitData]
    attrs: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, split: str) -> SplitData:
        try:
            return self.splits[split]
        except KeyError:
            raise KeyError(f"{self.path}: split {split!r} was not read; read: {sorted(self.splits)}") from None

    @property
    def taps(self) -> list[str]:
        return list(self.attrs.get("taps", []))

    @property
    def preprocessing(self) -> Any:
        """The ``preprocessing`` attribute parsed from JSON."""
        raw = self.attrs.get("preprocessing")
        return json.loads(raw) if isinstance(raw, str) else raw

    @property
    def multilabel(self) -> bool:
        return any(s.multilabel for s in self.splits.values())

    def xy(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        s = self[split]
        return s.X, s.y


# --------------------------------------------------------------------------------------------- writing


def _attr_value(key: str, value: Any, path: Path) -> Any:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if key == "preprocessing":
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if isinstance(value, (str, bool, int, float, np.integer, np.floating)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True)
    if value is None:
        return json.dumps(None)
    raise FeatureFileError(f"{path}: attribute {key!r} has unsupported type {type(value).__name__}")


def _check_finite_rows(arr: np.ndarray, what: str, path: Path, offset: int = 0) -> None:
    """Raise naming the first bad row (``offset`` + its row in ``arr``) when ``arr`` holds NaN/inf."""
    for start in range(0, arr.shape[0], _SCAN_ROWS):
        block = arr[start : start + _SCAN_ROWS]
        if not np.isfinite(block).all():
            bad = ~np.isfinite(block)
            row = offset + start + int(np.argwhere(bad)[0][0])
            n_bad = int(bad.any(axis=tuple(range(1, block.ndim))).sum()) if block.ndim > 1 else int(bad.sum())
            raise FeatureFileError(
                f"{path}: {what} contains NaN/inf values (first bad row {row}; {n_bad} bad rows in block "
                f"starting at {offset + start})"
            )


def _validate_split_arrays(path: Path, split: str, payload: Mapping[str, Any], taps: Sequence[str] | None):
    for key in ("features", "labels", "indices"):
        if key not in payload:
            raise FeatureFileError(f"{path}: split {split!r} lacks {key!r}")
    feats = payload["features"]
    if not isinstance(feats, Mapping) or not feats:
        raise FeatureFileError(f"{path}: split {split!r}: 'features' must be a non-empty dict tap -> array")
    if taps is not None and list(feats) != list(taps):
        raise FeatureFileError(f"{path}: split {split!r} has taps {list(feats)}, other splits have {list(taps)}")
    labels = np.asarray(payload["labels"])
    indices = np.asarray(payload["indices"])
    if labels.ndim not in (1, 2):
        raise FeatureFileError(f"{path}: split {split!r}: labels must be (N,) or (N, C), got {labels.shape}")
    if labels.ndim == 1 and not np.issubdtype(labels.dtype, np.integer):
        raise FeatureFileError(f"{path}: split {split!r}: 1-D labels must be integers, got {labels.dtype}")
    if labels.ndim == 2 and not np.isfinite(labels).all():
        raise FeatureFileError(f"{path}: split {split!r}: multi-hot labels contain NaN/inf")
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise FeatureFileError(f"{path}: split {split!r}: indices must be (N,) integers, got {indices.shape} {indices.dtype}")
    n = labels.shape[0]
    if indices.shape[0] != n:
        raise FeatureFileError(f"{path}: split {split!r}: {indices.shape[0]} indices but {n} labels")
    for tap, arr in feats.items():
        arr = np.asarray(arr)
        if arr.ndim != 2:
            raise FeatureFileError(f"{path}: split {split!r} tap {tap!r}: features must be (N, D), got {arr.shape}")
        if arr.shape[0] != n:
            raise FeatureFileError(
                f"{path}: split {split!r} tap {tap!r}: {arr.shape[0]} feature rows but {n} labels"
            )
    return labels, indices


def write_features(
    path: str | os.PathLike,
    splits: Mapping[str, Mapping[str, Any]],
    attrs: Mapping[str, Any],
    dtype: str = "float32",
    compression: str | None = None,
) -> Path:
    """Write a feature file atomically and return its path.

    ``splits[split] = {"features": {tap: (N, D) array}, "labels": (N,) int or (N, C) multi-hot,
    "indices": (N,) int}``; splits must be among ``train``/``val``/``test`` and share the same taps (in the
    same order, shallow to deep). ``attrs`` must hold :data:`REQUIRED_ATTRS`; ``preprocessing`` may be a dict
    (stored as JSON). ``taps``, ``format_version`` and ``complete`` are set here. ``dtype`` is the on-disk
    feature dtype (``float32`` or ``float16``); features must be finite (and, for float16, within its range).
    For data that do not fit in memory, stream them with :class:`FeatureWriter`.
    """
    path = Path(path)
    if not splits:
        raise FeatureFileError(f"{path}: no splits to write")
    first, payload = next(iter(splits.items()))
    _validate_split_arrays(path, first, payload, None)  # its taps are the file's: every split must share them
    # the writer checks every split (names, shapes, taps, dimensions, finiteness) and leaves no file on error
    with FeatureWriter(path, attrs, list(payload["features"]), dtype=dtype, compression=compression) as w:
        for split, p in splits.items():
            w.append(split, p["features"], p["labels"], p["indices"])
    return path


def _check_header_args(path: Path, attrs: Mapping[str, Any], taps: Sequence[str], dtype: str) -> None:
    if dtype not in FEATURE_DTYPES:
        raise FeatureFileError(f"{path}: feature dtype must be one of {FEATURE_DTYPES}, got {dtype!r}")
    missing = [k for k in REQUIRED_ATTRS if k not in attrs]
    if missing:
        raise FeatureFileError(f"{path}: missing required attributes {missing}")
    reserved = {"taps", "format_version", "complete"} & set(attrs)
    if reserved:
        raise FeatureFileError(f"{path}: attributes {sorted(reserved)} are set by write_features, not the caller")
    if not taps:
        raise FeatureFileError(f"{path}: no taps to write")
    for tap in taps:
        if not isinstance(tap, str) or not tap or "/" in tap:
            raise FeatureFileError(f"{path}: invalid tap name {tap!r}")


class FeatureWriter:
    """Streams one feature file to disk, batch by batch, and publishes it atomically.

    Memory stays at one batch however large the dataset (ImageNet's 1.28 M x 2048 float32 features are
    10 GB). Use as a context manager::

        with FeatureWriter(path, attrs, taps=["block3", "prelogits"], dtype="float16") as w:
            for x, y, idx in batches:               # any number of batches per split, splits in any order
                w.append("train", {"block3": f3, "prelogits": f4}, y, idx)

    Rows go to a temporary file in the target's directory; on a clean exit the ``complete`` flag is set,
    the file is flushed, ``fsync``-ed and ``os.replace``-d onto ``path``; on an exception (or a kill) the
    temporary file is removed (or left under its ``.tmp`` name) and ``path`` is untouched. Every batch is
    checked as it arrives (NaN/inf, float16 overflow, taps, dimensions, row counts), errors naming the file,
    split, tap and row.
    """

    def __init__(self, path: str | os.PathLike, attrs: Mapping[str, Any], taps: Sequence[str],
                 dtype: str = "float32", compression: str | None = None):
        self.path = Path(path)
        _check_header_args(self.path, attrs, taps, dtype)
        self.attrs = dict(attrs)
        self.taps = list(taps)
        self.dtype = dtype
        self.compression = compression
        self.rows: dict[str, int] = {}
        self._dims: dict[str, int] = {}
        self._f = None
        self._tmp: Path | None = None
        self._digests: dict[str, Any] = {}  # dataset name -> running blake2b of the rows written, in order

    def __enter__(self) -> "FeatureWriter":
        import h5py

        self._tmp = temp_path_for(self.path)
        try:
            self._f = h5py.File(self._tmp, "w")
            for key, value in self.attrs.items():
                self._f.attrs[key] = _attr_value(key, value, self.path)
            self._f.attrs["taps"] = self.taps
            self._f.attrs["format_version"] = FORMAT_VERSION
        except BaseException:
            self._abort()
            raise
        return self

    def append(self, split: str, features: Mapping[str, Any], labels: Any, indices: Any = None) -> None:
        """Append rows to ``split``: ``features[tap]`` (n, D) for every tap, ``labels`` (n,) int or (n, C)
        multi-hot, ``indices`` (n,) int (default: the running row number within the split)."""
        if self._f is None:
            raise RuntimeError("FeatureWriter.append outside its `with` block")
        path = self.path
        if split not in SPLITS:
            raise FeatureFileError(f"{path}: unknown split {split!r}; expected one of {SPLITS}")
        if not isinstance(features, Mapping) or list(features) != self.taps:
            got = list(features) if isinstance(features, Mapping) else type(features).__name__
            raise FeatureFileError(f"{path}: split {split!r}: batch has taps {got}, the file's taps are {self.taps}")
        start = self.rows.get(split, 0)
        labels = np.asarray(labels)
        if indices is None:
            indices = np.arange(start, start + labels.shape[0], dtype=np.int64)
        labels, indices = _validate_split_arrays(
            path, split, {"features": features, "labels": labels, "indices": indices}, self.taps)
        need = sum(np.asarray(v).shape[0] * np.asarray(v).shape[1] for v in features.values()) * \
            np.dtype(self.dtype).itemsize + labels.nbytes + indices.nbytes
        self._check_space(2 * need + 2 * _CHUNK_BYTES)
        g = self._f[split] if split in self._f else self._new_split(split, features, labels)
        n = labels.shape[0]
        for tap in self.taps:
            arr = np.asarray(features[tap])
            if arr.shape[1] != self._dims[tap]:
                raise FeatureFileError(f"{path}: tap {tap!r} has dimension {arr.shape[1]} in {split!r} but "
                                       f"{self._dims[tap]} elsewhere")
            what = f"split {split!r} tap {tap!r} features"
            _check_finite_rows(arr, what, path, offset=start)
            with np.errstate(over="ignore"):  # float16 overflow is reported just below
                out = arr.astype(self.dtype, copy=False)
            if self.dtype == "float16":
                _check_finite_rows(out, f"{what} (after float16 cast: overflow)", path, offset=start)
            self._append(g["features"][tap], f"{split}/features/{tap}", out, start)
        if g["labels"].shape[1:] != labels.shape[1:]:
            raise FeatureFileError(f"{path}: split {split!r}: labels of shape {labels.shape[1:]} after "
                                   f"{g['labels'].shape[1:]}")
        self._append(g["labels"], f"{split}/labels", labels.astype(g["labels"].dtype, copy=False), start)
        self._append(g["indices"], f"{split}/indices", indices.astype(np.int64, copy=False), start)
        self._flush()
        self.rows[split] = start + n

    def _append(self, ds, name: str, rows: np.ndarray, start: int) -> None:
        rows = np.ascontiguousarray(rows)
        self._digests.setdefault(name, hashlib.blake2b(digest_size=16)).update(rows.tobytes())
        _append_rows(ds, rows, start)

    def _check_space(self, need: int) -> None:
        """Fail cleanly (ENOSPC naming the target) before a write the disk has no room for: HDF5 reports a
        full disk only from its buffers, in errors Python cannot catch."""
        st = os.statvfs(self._tmp.parent)
        if st.f_bavail * st.f_frsize < need:
            self._abort()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    def _flush(self) -> None:
        """Write HDF5's buffers out now, so that a full disk fails here (catchable) rather than when h5py
        releases its objects (uncatchable errors, then a segfault)."""
        try:
            self._f.flush()
        except (OSError, RuntimeError) as e:
            if "errno = 28" not in str(e) and getattr(e, "errno", None) != errno.ENOSPC:
                raise
            # free the space first, so that closing the file (which writes again) can succeed
            os.truncate(self._tmp, 0)
            self._abort()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path)) from None

    def _new_split(self, split: str, features: Mapping[str, Any], labels: np.ndarray):
        g = self._f.create_group(split)
        fg = g.create_group("features")
        itemsize = np.dtype(self.dtype).itemsize
        for tap in self.taps:
            d = np.asarray(features[tap]).shape[1]
            if d < 1:
                raise FeatureFileError(f"{self.path}: tap {tap!r} has no feature dimensions")
            if self._dims.setdefault(tap, d) != d:
                raise FeatureFileError(f"{self.path}: tap {tap!r} has dimension {d} in {split!r} but "
                                       f"{self._dims[tap]} elsewhere")
            rows = max(1, _CHUNK_BYTES // max(1, d * itemsize))
            fg.create_dataset(tap, shape=(0, d), maxshape=(None, d), dtype=self.dtype, chunks=(rows, d),
                              compression=self.compression)
        tail = labels.shape[1:]
        g.create_dataset("labels", shape=(0, *tail), maxshape=(None, *tail),
                         dtype=np.int64 if labels.ndim == 1 else np.float32)
        g.create_dataset("indices", shape=(0,), maxshape=(None,), dtype=np.int64)
        return g

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            if not self.rows:
                raise FeatureFileError(f"{self.path}: no splits to write")
            self._f.attrs["digests"] = json.dumps({k: h.hexdigest() for k, h in sorted(self._digests.items())})
            self._flush()
            self._f.attrs["complete"] = 1  # last
            self._f.flush()
            self._f.close()
            self._f = None
            publish(self._tmp, self.path)
        except BaseException:
            self._abort()
            raise

    def _abort(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            except Exception:  # noqa: BLE001 - the original error matters, not the close
                pass
            self._f = None
        if self._tmp is not None:
            try:
                self._tmp.unlink()
            except FileNotFoundError:
                pass


def _append_rows(ds, rows: np.ndarray, start: int) -> None:
    n = rows.shape[0]
    if n == 0:
        return
    ds.resize(start + n, axis=0)
    ds[start:start + n] = rows


# --------------------------------------------------------------------------------------------- reading


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [_decode(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _open(path: Path):
    import h5py

    if not path.exists():
        raise FeatureFileError(f"{path}: feature file does not exist")
    try:
        return h5py.File(path, "r")
    except OSError as exc:  # truncated, not HDF5, ...
        raise FeatureFileError(f"{path}: cannot open as HDF5 (truncated or corrupt file?): {exc}") from exc


def _check_header(f, path: Path) -> dict[str, Any]:
    try:
        attrs = {k: _decode(v) for k, v in f.attrs.items()}
    except (OSError, RuntimeError, KeyError) as exc:
        raise FeatureFileError(f"{path}: cannot read root attributes (corrupt file?): {exc}") from exc
    if attrs.get("complete") != 1:
        raise FeatureFileError(f"{path}: file is incomplete (no 'complete' flag); the writing job did not finish")
    fv = attrs.get("format_version")
    if fv != FORMAT_VERSION:
        raise FeatureFileError(f"{path}: unsupported format_version {fv!r}; this code reads {FORMAT_VERSION}")
    missing = [k for k in REQUIRED_ATTRS + ("taps", "digests") if k not in attrs]
    if missing:
        raise FeatureFileError(f"{path}: missing root attributes {missing}")
    taps = attrs["taps"]
    if isinstance(taps, str):
        taps = [taps]
    if not isinstance(taps, list) or not taps:
        raise FeatureFileError(f"{path}: attribute 'taps' must be a non-empty list of names, got {taps!r}")
    attrs["taps"] = taps
    return attrs


def _split_datasets(f, path: Path, split: str, taps: Iterable[str]):
    """Return (feature datasets per tap, labels ds, indices ds) after checking names, ranks, dtypes, rows."""
    if split not in f:
        present = [s for s in SPLITS if s in f]
        raise FeatureFileError(f"{path}: split {split!r} is missing; present: {present}")
    g = f[split]
    for key in ("features", "labels", "indices"):
        if key not in g:
            raise FeatureFileError(f"{path}: split {split!r} lacks {key!r}")
    labels, indices = g["labels"], g["indices"]
    if labels.ndim == 1:
        if labels.dtype.kind not in "iu":
            raise FeatureFileError(f"{path}: split {split!r}: 1-D labels must be integers, got {labels.dtype}")
    elif labels.ndim == 2:
        if labels.dtype.kind != "f":
            raise FeatureFileError(f"{path}: split {split!r}: multi-hot labels must be float, got {labels.dtype}")
    else:
        raise FeatureFileError(f"{path}: split {split!r}: labels must be (N,) or (N, C), got {labels.shape}")
    if indices.ndim != 1 or indices.dtype.kind not in "iu":
        raise FeatureFileError(f"{path}: split {split!r}: indices must be (N,) integers, got {indices.shape}")
    n = labels.shape[0]
    if indices.shape[0] != n:
        raise FeatureFileError(f"{path}: split {split!r}: {indices.shape[0]} indices but {n} labels")
    feats = {}
    for tap in taps:
        if tap not in g["features"]:
            raise FeatureFileError(
                f"{path}: split {split!r} has no features for tap {tap!r}; present: {sorted(g['features'])}"
            )
        ds = g["features"][tap]
        if ds.ndim != 2 or ds.dtype.kind != "f":
            raise FeatureFileError(f"{path}: split {split!r} tap {tap!r}: expected (N, D) floats, got {ds.shape} {ds.dtype}")
        if ds.shape[0] != n:
            raise FeatureFileError(
                f"{path}: split {split!r} tap {tap!r}: shape mismatch, {ds.shape[0]} feature rows but {n} labels"
            )
        feats[tap] = ds
    return feats, labels, indices


def _read_array(ds, path: Path, what: str, digests: Mapping[str, str] | None = None) -> np.ndarray:
    """``ds`` read whole; with ``digests`` (the file's ``digests`` attribute) its content is checked against
    the digest written with it (:class:`CorruptFeatureFile` on a mismatch)."""
    try:
        arr = ds[()]
    except (OSError, RuntimeError, ValueError) as exc:
        raise FeatureFileError(f"{path}: cannot read {what} (corrupt or truncated data): {exc}") from exc
    if digests is not None:
        name = ds.name.lstrip("/")
        got = hashlib.blake2b(np.ascontiguousarray(arr).tobytes(), digest_size=16).hexdigest()
        if digests.get(name) != got:
            raise CorruptFeatureFile(f"{path}: {what} do not match the digest written with them (the file was "
                                     f"changed after it was written: bit rot, an interrupted copy); it is set aside "
                                     f"as {path.name}.corrupt and the workflow rebuilds it")
    return arr


def _resolve_tap(path: Path, taps: list[str], tap: str | None) -> str:
    if tap is None:
        return taps[-1]
    if tap not in taps:
        raise FeatureFileError(f"{path}: tap {tap!r} is not in the file; taps: {taps}")
    return tap


def read_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """The validated root attributes of a complete feature file (no data read)."""
    path = Path(path)
    with _open(path) as f:
        return _check_header(f, path)


def list_taps(path: str | os.PathLike) -> list[str]:
    """Tap names of a complete feature file, shallow to deep."""
    return list(read_attrs(path)["taps"])


def read_features(
    path: str | os.PathLike,
    tap: str | None = None,
    splits: Sequence[str] = SPLITS,
    check_finite: bool = True,
) -> FeatureSet:
    """Read and validate one tap of a feature file.

    ``tap=None`` picks the deepest tap (the last of the ``taps`` attribute, i.e. penultimate features by the
    writer's convention). Features are returned as float32 (float16 files are upcast). Raises
    :class:`FeatureFileError` (message names the path) when the file is incomplete, truncated/corrupt, lacks a
    requested split or the tap, has mismatched row counts, or contains NaN/inf features.
    """
    path = Path(path)
    if isinstance(splits, str):
        splits = (splits,)
    with _open(path) as f:
        attrs = _check_header(f, path)
        digests = json.loads(attrs["digests"])
        tap = _resolve_tap(path, attrs["taps"], tap)
        out: dict[str, SplitData] = {}
        dim = None
        for split in splits:
            feats, labels_ds, indices_ds = _split_datasets(f, path, split, [tap])
            X = _read_array(feats[tap], path, f"split {split!r} tap {tap!r} features", digests).astype(
                np.float32, copy=False)
            if dim is not None and X.shape[1] != dim:
                raise FeatureFileError(f"{path}: tap {tap!r} has dimension {X.shape[1]} in {split!r}, {dim} elsewhere")
            dim = X.shape[1]
            if check_finite:
                _check_finite_rows(X, f"split {split!r} tap {tap!r} features", path)
            y = _read_array(labels_ds, path, f"split {split!r} labels", digests)
            y = y.astype(np.int64, copy=False) if y.ndim == 1 else y.astype(np.float32, copy=False)
            if y.ndim == 2 and not np.isfinite(y).all():
                raise FeatureFileError(f"{path}: split {split!r}: multi-hot labels contain NaN/inf")
            idx = _read_array(indices_ds, path, f"split {split!r} indices", digests).astype(np.int64, copy=False)
            out[split] = SplitData(X=X, y=y, indices=idx)
    return FeatureSet(path=str(path), tap=tap, splits=out, attrs=attrs)


def validate(path: str | os.PathLike, deep: bool = False, splits: Sequence[str] = SPLITS) -> dict[str, Any]:
    """Raise :class:`FeatureFileError` if the file is not a complete, consistent feature file; return its attrs.

    The default check opens the file and checks the header and every split/tap's names, dtypes and shapes
    (metadata only). ``deep=True`` also reads all data and rejects NaN/inf features (what :func:`read_features`
    checks).
    """
    path = Path(path)
    with _open(path) as f:
        attrs = _check_header(f, path)
        for split in splits:
            feats, labels_ds, indices_ds = _split_datasets(f, path, split, attrs["taps"])
            if deep:
                for tap, ds in feats.items():
                    for start in range(0, ds.shape[0], _SCAN_ROWS):
                        block = _read_rows(ds, start, path, f"split {split!r} tap {tap!r} features")
                        _check_finite_rows(block, f"split {split!r} tap {tap!r} features", path)
                _read_array(labels_ds, path, f"split {split!r} labels")
                _read_array(indices_ds, path, f"split {split!r} indices")
    return attrs


def _read_rows(ds, start: int, path: Path, what: str) -> np.ndarray:
    try:
        return ds[start : start + _SCAN_ROWS]
    except (OSError, RuntimeError, ValueError) as exc:
        raise FeatureFileError(f"{path}: cannot read {what} rows {start}+ (corrupt or truncated data): {exc}") from exc


def is_valid(path: str | os.PathLike, deep: bool = False, splits: Sequence[str] = SPLITS) -> bool:
    """True if :func:`validate` passes (cheap metadata check by default; ``deep=True`` scans the data)."""
    try:
        validate(path, deep=deep, splits=splits)
    except FeatureFileError:
        return False
    return True
