"""Checked reads and writes of the files the stages hand each other: nothing a stage reads is silently wrong.

Torch files (``checkpoint.pt``, ``checkpoint.prev.pt``, ``backbone.pt``; a NAS search's checkpoints too) carry a
content digest, written with the file and checked on every read (:func:`save_sealed`, :func:`load_sealed`): a
blake2b-128 over the saved dict's content in a fixed order (keys sorted; tensors by dtype, shape and raw bytes;
numbers and strings by their ``repr``), stored under :data:`DIGEST_KEY`. A file that cannot be unpickled, whose
content differs from its digest (bit rot, an interrupted copy, an edit) or whose weights hold NaN/inf raises
:class:`CorruptArtifact` naming the file. Probe results (JSON) carry the same kind of digest over their
canonical JSON (:func:`seal_json`, :func:`read_probe_result`). Checkpoints rotate (:func:`save_checkpoint` keeps
the one replaced as ``checkpoint.prev.pt``) and a resume takes the newest that passes its check
(:func:`load_checkpoint`). Feature files have their own per-dataset digests
(:mod:`archssl.evaluate.featurestore`).

Files written before digests existed (no :data:`DIGEST_KEY`): a ``backbone.pt`` or probe JSON is accepted
with a warning (its structure and finiteness are still checked, and ``archssl status`` lists it as
unverified, with the command that rebuilds it); a checkpoint of the older format is not resumed from (the
loop starts afresh, saying so): checkpoints are transient and a wrong resume is worse than a slower one.

The other stage outputs (metrics CSV, architecture specs, the study manifest) are validated on read
(:func:`read_metrics`, :func:`read_spec`, :func:`read_json`); every failure is an :class:`ArtifactError`
naming the file. Where the workflow can rebuild a file, the reader sets it aside as ``<name>.corrupt``
(:func:`set_aside`) so that the rerun rebuilds it.

Torch is imported only by the torch-file functions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from archssl.catalog.archs import arch_id, normalize
from archssl.utils import atomic_path, canonical_json

log = logging.getLogger("archssl.integrity")

DIGEST_KEY = "content_digest"
ALGO = "blake2b-128"


class ArtifactError(RuntimeError):
    """A stage output that is missing, unreadable or malformed. The message names the file."""


class CorruptArtifact(ArtifactError):
    """A stage output that cannot be read or whose content differs from the digest written with it."""


# --------------------------------------------------------------------------------------------- digests


def _update(h, obj: Any) -> None:
    import numpy as np

    torch = _torch_if_loaded()
    if torch is not None and torch.is_tensor(obj):
        t = obj.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    elif isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"A{a.dtype.str}{a.shape}:".encode())
        h.update(a.view(np.uint8).data if a.size else b"")
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}:".encode())
        for k in sorted(obj, key=lambda k: (type(k).__name__, repr(k))):
            h.update(f"K{k!r}=".encode())
            _update(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)}:".encode())
        for v in obj:
            _update(h, v)
    else:  # numbers, strings, None, booleans, torch.Size / dtypes: their repr is stable across save and load
        h.update(f"V{type(obj).__name__}:{obj!r};".encode())


def _torch_if_loaded():
    import sys

    return sys.modules.get("torch")


def content_digest(obj: Any) -> str:
    """The blake2b-128 hex digest of ``obj``'s content (nested dicts, lists, tensors, arrays, scalars); a dict's
    :data:`DIGEST_KEY` entry is left out."""
    if isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if k != DIGEST_KEY}
    h = hashlib.blake2b(digest_size=16)
    _update(h, obj)
    return h.hexdigest()


def seal(state: dict) -> dict:
    """``state`` with its content digest under :data:`DIGEST_KEY`."""
    return {**{k: v for k, v in state.items() if k != DIGEST_KEY},
            DIGEST_KEY: {"algo": ALGO, "value": content_digest(state)}}


def verify(state: dict, path: str | os.PathLike, what: str) -> bool:
    """Check ``state`` (read from ``path``) against its recorded digest: True if it matches, False if it has
    none (a file from before digests); raises :class:`CorruptArtifact` if it differs."""
    rec = state.get(DIGEST_KEY)
    if rec is None:
        return False
    if not isinstance(rec, dict) or rec.get("algo") != ALGO or not isinstance(rec.get("value"), str):
        raise CorruptArtifact(f"{path}: not a valid {what}: malformed {DIGEST_KEY} entry {rec!r}")
    got = content_digest(state)
    if got != rec["value"]:
        raise CorruptArtifact(f"{path}: content differs from the digest written with it (recorded "
                              f"{rec['value'][:12]}, now {got[:12]}): the {what} was altered or damaged after "
                              f"it was written")
    return True


# ------------------------------------------------------------------------------------------ torch files


def nonfinite_keys(obj: Any, prefix: str = "") -> list[str]:
    """Key paths of the floating-point tensors in ``obj`` (nested dicts / lists) that hold NaN/inf."""
    import torch

    out = []
    if torch.is_tensor(obj):
        if obj.is_floating_point() and not torch.isfinite(obj).all():
            out.append(prefix or "(tensor)")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out += nonfinite_keys(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += nonfinite_keys(v, f"{prefix}[{i}]")
    return out


def _some(names: Sequence[str], k: int = 5) -> str:
    return ", ".join(names[:k]) + (" ..." if len(names) > k else "")


def save_sealed(state: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` ``state`` with its content digest (:func:`seal`), atomically (:func:`archssl.utils.atomic_path`)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(seal(state), tmp)
    return Path(path)


def load_sealed(path: str | os.PathLike, what: str, finite: Iterable[str] = (), required: Iterable[str] = (),
                map_location="cpu", legacy: str = "warn") -> tuple[dict, bool]:
    """Read a torch file written by :func:`save_sealed` and check it: (state, verified).

    Raises :class:`CorruptArtifact` naming ``path`` when the file cannot be unpickled or is not a dict, lacks
    one of the ``required`` keys, differs from its digest, or holds NaN/inf in a floating-point tensor under
    one of the ``finite`` keys. A file without a digest (``verified`` False): ``legacy="warn"`` accepts it with
    a warning, ``legacy="ignore"`` without one (the caller decides), ``legacy="refuse"`` raises
    :class:`CorruptArtifact`."""
    import torch

    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: no such {what}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # noqa: BLE001 - truncated, garbage, or a pickle of something else
        raise CorruptArtifact(f"{path}: not a readable {what} ({type(e).__name__}: {_short(e)})") from e
    if not isinstance(state, dict):
        raise CorruptArtifact(f"{path}: not a readable {what} (holds a {type(state).__name__}, not a dict)")
    verified = verify(state, path, what)
    if not verified:
        if legacy == "refuse":
            raise CorruptArtifact(f"{path}: {what} without a content digest (written by an older archssl); "
                                  f"it cannot be verified")
        if legacy == "warn":
            log.warning("%s: %s without a content digest (written by an older archssl): not verified; "
                        "`archssl status` lists it, rebuild it with --forcerun", path, what)
    missing = [k for k in required if k not in state]
    if missing:
        raise CorruptArtifact(f"{path}: not a valid {what}: lacks {', '.join(missing)}")
    bad = [b for k in finite for b in nonfinite_keys(state.get(k), k)]
    if bad:
        raise CorruptArtifact(f"{path}: {what} holds NaN/inf values in {_some(bad)}")
    return state, verified


def save_checkpoint(state: dict, path: str | os.PathLike, prev: str | os.PathLike) -> None:
    """Write a checkpoint ``state`` atomically onto ``path`` with its content digest (:func:`save_sealed`),
    keeping the one it replaces as ``prev`` (:func:`load_checkpoint` falls back to it if the newest fails its
    check)."""
    path = Path(path)
    if path.exists():
        os.replace(path, prev)
    save_sealed(state, path)


def load_checkpoint(paths: Sequence[Path], fingerprint: str, *, fmt: int, keys: Iterable[str],
                    finite: Iterable[str], map_location="cpu",
                    fresh: str = "starting from scratch (epoch 1)") -> tuple[tuple[Path, dict] | None, list[Path]]:
    """(path, state) of the first of ``paths`` that passes its check (:func:`load_sealed`: readable, the content
    its digest says, finite tensors under ``finite``), is of format ``fmt`` with a digest, holds every key of
    ``keys`` and was written for ``fingerprint`` (None: none is), and the paths that failed the check (the
    caller sets them aside with :func:`set_aside`). Each rejection is logged naming the file and what happens
    instead: the next path, or ``fresh`` after the last."""
    bad: list[Path] = []
    present = [Path(p) for p in paths if Path(p).exists()]
    for i, path in enumerate(present):
        instead = f"trying {present[i + 1].name}" if i + 1 < len(present) else fresh
        try:
            state, _ = load_sealed(path, "checkpoint", finite=finite, required=("format",),
                                   map_location=map_location, legacy="ignore")
        except CorruptArtifact as e:
            log.warning("%s; %s", e, instead)
            bad.append(path)
            continue
        if state.get("format") != fmt or DIGEST_KEY not in state:
            log.warning("%s: a checkpoint of an older archssl (format %s, no content digest) is not resumed "
                        "from; %s", path, state.get("format"), instead)
            continue
        if state.get("fingerprint") != fingerprint:
            log.warning("%s: written for a different config; %s", path, instead)
            continue
        missing = [k for k in keys if k not in state]
        if missing:
            log.warning("%s: not a valid checkpoint (lacks %s); %s", path, ", ".join(missing), instead)
            bad.append(path)
            continue
        return (path, state), bad
    return None, bad


def _short(e: BaseException, n: int = 160) -> str:
    s = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return s if len(s) <= n else s[: n - 3] + "..."


def set_aside(path: str | os.PathLike) -> Path:
    """Rename ``path`` to ``<name>.corrupt`` (kept for inspection; the workflow rebuilds the original)."""
    path = Path(path)
    dest = path.with_name(path.name + ".corrupt")
    path.replace(dest)
    return dest


# ----------------------------------------------------------------------------------------- text files


def read_json(path: str | os.PathLike, what: str, required: Iterable[str] = ()) -> dict:
    """A JSON object from ``path``, with the ``required`` keys; :class:`ArtifactError` (a
    :class:`CorruptArtifact` for unparsable content) naming the file otherwise."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CorruptArtifact(f"{path}: not a valid {what} ({type(e).__name__}: {_short(e)})") from e
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise CorruptArtifact(f"{path}: not a valid {what} (invalid JSON: {e})") from None
    if not isinstance(doc, dict):
        raise CorruptArtifact(f"{path}: not a valid {what} (a JSON {type(doc).__name__}, not an object)")
    missing = [k for k in required if k not in doc]
    if missing:
        raise CorruptArtifact(f"{path}: not a valid {what} (lacks {', '.join(missing)})")
    return doc


def json_digest(doc: dict) -> str:
    """The content digest of a JSON document: blake2b-128 of its canonical JSON, :data:`DIGEST_KEY` left out."""
    body = {k: v for k, v in doc.items() if k != DIGEST_KEY}
    return hashlib.blake2b(canonical_json(body).encode(), digest_size=16).hexdigest()


def seal_json(doc: dict) -> dict:
    """``doc`` with its digest (:func:`json_digest`) under :data:`DIGEST_KEY`; the values must survive a JSON
    round trip unchanged (plain numbers, strings, lists, dicts)."""
    plain = json.loads(canonical_json({k: v for k, v in doc.items() if k != DIGEST_KEY}))
    return {**plain, DIGEST_KEY: {"algo": ALGO, "value": json_digest(plain)}}


PROBE_KEYS = ("method", "arch", "dataset", "results")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def read_probe_result(path: str | os.PathLike) -> dict:
    """A probe result JSON (:func:`archssl.evaluate.probe_job.run_probe`), checked: its digest where it has
    one, the keys the tables read, and finite test metrics in [0, 1] (accuracies and mAP)."""
    what = "probe result"
    doc = read_json(path, what, PROBE_KEYS)
    rec = doc.get(DIGEST_KEY)
    if rec is not None:
        if not isinstance(rec, dict) or not isinstance(rec.get("value"), str):
            raise CorruptArtifact(f"{path}: not a valid {what} (malformed {DIGEST_KEY} {rec!r})")
        got = json_digest(doc)
        if got != rec["value"]:
            raise CorruptArtifact(f"{path}: not a valid {what} (content differs from the digest written with "
                                  f"it: recorded {rec['value'][:12]}, now {got[:12]})")
    results = doc["results"]
    if not isinstance(results, list) or not results:
        raise CorruptArtifact(f"{path}: not a valid {what} ('results' must be a non-empty list)")
    for i, r in enumerate(results):
        where = f"results[{i}]"
        if not isinstance(r, dict) or not all(k in r for k in ("tap", "metric", "test")):
            raise CorruptArtifact(f"{path}: not a valid {what} ({where} lacks tap, metric or test)")
        test = r["test"]
        if not isinstance(test, dict) or r["metric"] not in test:
            raise CorruptArtifact(f"{path}: not a valid {what} ({where}.test lacks its metric {r['metric']!r})")
        for m, v in test.items():
            if not _number(v) or not math.isfinite(v) or not 0.0 <= v <= 1.0:
                raise CorruptArtifact(f"{path}: not a valid {what} ({where}.test.{m} = {v!r}: not a number in "
                                      f"[0, 1])")
    for k in ("method", "arch", "dataset"):
        if not isinstance(doc[k], str) or not doc[k]:
            raise CorruptArtifact(f"{path}: not a valid {what} ({k!r} = {doc[k]!r})")
    return doc


def read_metrics(path: str | os.PathLike, columns: Sequence[str] = ("epoch", "loss")):
    """A pretraining ``metrics.csv`` as a DataFrame: parsable, at least one row, the ``columns``, numeric
    values and increasing epochs; :class:`CorruptArtifact` naming the file otherwise."""
    import pandas as pd

    path = Path(path)
    what = "metrics CSV"
    try:
        m = pd.read_csv(path)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such {what}") from None
    except Exception as e:  # noqa: BLE001 - pandas raises many kinds (ParserError, EmptyDataError, UnicodeError)
        raise CorruptArtifact(f"{path}: not a valid {what} ({type(e).__name__}: {_short(e)})") from e
    missing = [c for c in columns if c not in m.columns]
    if missing or m.empty:
        raise CorruptArtifact(f"{path}: not a valid {what} ("
                              + (f"lacks column(s) {', '.join(missing)}" if missing else "no rows") + ")")
    nonnum = [c for c in m.columns if not pd.api.types.is_numeric_dtype(m[c])]
    if nonnum:
        raise CorruptArtifact(f"{path}: not a valid {what} (non-numeric values in {', '.join(nonnum)})")
    ep = m["epoch"]
    if ep.isna().any() or (ep.diff().dropna() <= 0).any() or (ep < 0).any():
        raise CorruptArtifact(f"{path}: not a valid {what} (epochs {ep.tolist()} are not increasing)")
    return m


def read_spec(path: str | os.PathLike, expect_id: str | None = None) -> dict:
    """An architecture spec YAML: a mapping that names its family (and, with ``expect_id``, whose content
    gives that arch id: the file name the workflow derived from it); :class:`CorruptArtifact` otherwise."""
    import yaml

    path = Path(path)
    what = "architecture spec"
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise CorruptArtifact(f"{path}: not a valid {what} ({type(e).__name__}: {_short(e)})") from e
    if not isinstance(spec, dict) or not isinstance(spec.get("family"), str):
        raise CorruptArtifact(f"{path}: not a valid {what} (a mapping with a 'family' key expected)")
    if expect_id is not None:
        try:
            got = arch_id(normalize(spec))
        except Exception as e:  # noqa: BLE001 - an invalid spec
            raise CorruptArtifact(f"{path}: not a valid {what} ({_short(e)})") from e
        if got != expect_id:
            raise CorruptArtifact(f"{path}: not a valid {what} (its content is architecture {got}, not "
                                  f"{expect_id})")
    return spec
