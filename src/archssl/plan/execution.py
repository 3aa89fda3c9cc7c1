"""Execution-only settings per stage: how a job runs, never its result beyond float round-off (device,
workers, inference batch size, checkpoint interval, GPUs of its own). The workflow passes them as one word
(:func:`exec_args`, the rule's ``archssl_exec`` resource: changing it reruns nothing), a job parses them back
(:func:`parse_exec`, typed by the dataclass fields)."""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass

from archssl.config import ConfigError
from archssl.plan.schema import schema_defaults


@dataclass(frozen=True)
class PretrainExec:
    """How a pretraining job runs (never its result beyond float round-off): ``device``, DataLoader
    ``num_workers``, checkpoint interval in epochs, ``compile`` (torch.compile of the backbone and head, 0/1),
    ``checkpoint_minutes`` (also checkpoint mid-epoch once this much wall-clock time passed; 0: never)."""

    device: str = schema_defaults("pretrain")["device"]
    num_workers: int = schema_defaults("pretrain")["num_workers"]
    checkpoint_every: int = schema_defaults("pretrain")["checkpoint_every"]
    compile: int = int(schema_defaults("pretrain")["compile"])
    checkpoint_minutes: float = schema_defaults("pretrain")["checkpoint_minutes"]


@dataclass(frozen=True)
class FeaturesExec:
    """How a features job runs: ``device``, ``num_workers``, the inference ``batch_size``, and ``gpus``: how
    many GPUs of its own the job takes from the slot allocator before it starts (:mod:`archssl.train.gpus`;
    None: none; the workflow sets it from ``resources.features.gpus``)."""

    device: str = schema_defaults("features")["device"]
    num_workers: int = schema_defaults("features")["num_workers"]
    batch_size: int = schema_defaults("features")["batch_size"]
    gpus: int | None = None


@dataclass(frozen=True)
class ProbeExec:
    """How a probe job runs: the probe's ``device`` and torch ``num_threads`` (null: the job's threads), and
    ``gpus`` (as :class:`FeaturesExec`'s; from ``resources.probe.gpus``)."""

    device: str = "auto"
    num_threads: int | None = None
    gpus: int | None = None


def exec_args(settings) -> str:
    """Execution settings as one word, ``device=cuda,num_workers=4`` (the jobs' ``--exec``; unset ones left
    out): the workflow passes it as a resource, which reruns nothing when it changes."""
    return ",".join(f"{k}={v}" for k, v in asdict(settings).items() if v is not None)


def _parse(key: str, value: str, kind, text: str):
    """``value`` of ``--exec`` key ``key`` as ``kind`` (str, int, float, or one of them or None)."""
    options = [t for t in typing.get_args(kind) if t is not type(None)] or [kind]
    if value in ("", "None", "null") and type(None) in typing.get_args(kind):
        return None
    try:
        return options[0](value)
    except ValueError:
        raise ConfigError(f"--exec {text!r}: {key}={value!r} is not {options[0].__name__}") from None


def parse_exec(text: str | None, cls):
    """``--exec device=cuda,num_workers=4`` -> ``cls`` (one of the ``*Exec`` classes; unset: its defaults),
    each value parsed as its field's type."""
    kinds = typing.get_type_hints(cls)
    out = {}
    for item in filter(None, (text or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in kinds:
            raise ConfigError(f"--exec {text!r}: {item!r} is not KEY=VALUE with a key of {', '.join(kinds)}")
        out[key] = _parse(key, value, kinds[key], text)
    return cls(**out)
