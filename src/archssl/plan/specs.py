"""The job specs: every value that decides a stage's result, defaults included (:class:`PretrainJob`,
:class:`FeaturesJob`, :class:`ProbeJob`; the NAS search's is :class:`archssl.plan.nas.NASSearchJob`), and
:class:`DataRef`, where one dataset split is read from. A spec is a rule's ``params`` (as JSON: a change
reruns exactly the jobs it affects) and what ``archssl <stage> --job JSON`` runs."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from archssl.catalog import METHODS, PROBES
from archssl.catalog.datasets import DATASETS
from archssl.catalog.methods import PRETRAIN_OVERRIDES, RESERVED_KEYS
from archssl.catalog.probes import EXECUTION_PARAMS
from archssl.config import ConfigError
from archssl.layout import Layout
from archssl.params import check_keys
from archssl.plan.execution import ProbeExec
from archssl.plan.schema import section
from archssl.utils import deep_merge, stable_hash


class Spec:
    """JSON round trip shared by the job specs (tuples become lists)."""

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in fields(cls)}
        check_keys(d, names, cls.__name__)
        kw = dict(d)
        if "data" in kw and isinstance(kw["data"], dict):
            kw["data"] = DataRef(**kw["data"])
        if "datasets" in kw:
            kw["datasets"] = {k: DataRef(**v) for k, v in kw["datasets"].items()}
        return cls(**kw)

    def digest(self) -> str:
        return stable_hash(self.to_dict())


@dataclass(frozen=True)
class DataRef(Spec):
    """Where one dataset split is read from and how it is opened: ``root`` is what
    :meth:`archssl.catalog.datasets.DatasetInfo.open` takes (for built-in sets the folder of generated sets); None
    when the config does not say where an on-disk set lives (the plan's ``problems`` say so).
    :func:`archssl.data.open_ref` opens it."""

    name: str
    split: str | None
    root: str | None
    builtin: bool
    options: dict = field(default_factory=dict)


def dataset_ref(name: str, data_cfg: dict, results: str, split: str | None = None) -> DataRef:
    """The one rule of where dataset ``name`` lives: built-in sets under ``<results>/data``, on-disk ones at
    ``data.roots.<name>``, else ``<data.data_root>/<name>``."""
    src = DATASETS.get(name)
    opts = copy.deepcopy((data_cfg.get("options") or {}).get(name) or {})
    if src.builtin:
        return DataRef(name, split, Layout(results).data_dir, True, opts)
    roots = data_cfg.get("roots") or {}
    if name in roots:
        root = str(Path(roots[name]).expanduser())
    elif data_cfg.get("data_root"):
        root = str(Path(data_cfg["data_root"]).expanduser() / name)
    else:
        root = None
    return DataRef(name, split, root, False, opts)


@dataclass(frozen=True)
class PretrainJob(Spec):
    """Every value that decides a pretraining result. An untrained run (``trains`` false: the random
    baseline) depends only on the spec, its seed and the images, batch size and memory format of its BN
    statistics: its optimisation fields are None."""

    run: str
    method: str
    trains: bool
    seed: int
    image_size: int
    data: DataRef | None
    batch_size: int
    epochs: int | None = None
    optimizer: dict | None = None
    warmup_epochs: float | None = None
    final_lr: float | None = None
    cosine: bool | None = None
    augment: dict | None = None
    method_params: dict = field(default_factory=dict)
    precision: str | None = None
    channels_last: bool | None = None

    def fingerprint(self, spec: dict) -> str:
        """The identity of this job on ``spec`` (checkpoints resume only under the same one)."""
        return stable_hash({"job": self.to_dict(), "spec": spec})

    @classmethod
    def build(cls, method: str, *, run: str | None = None, seed: int = 0, image_size: int = 32,
              data: DataRef | None = None, pretrain: dict | None = None, method_params: dict | None = None,
              where: str | None = None) -> "PretrainJob":
        """The job of ``method`` from a (partial) ``pretrain`` section and the run's ``method_params``
        (the reserved keys included: augment, dataset, split, and the per-method overrides); every missing
        value from the schema and the method's descriptor. ``where`` names the method_params in errors."""
        info = METHODS.get(method)
        where = where or f"pretrain.method_params.{method}"
        p = section("pretrain", pretrain)
        mp = copy.deepcopy(method_params or {})
        check_keys(mp, [*info.params, *RESERVED_KEYS], where)
        own = {k: v for k, v in mp.items() if k not in RESERVED_KEYS}
        s = dict(p)
        # the run's own settings replace pretrain's (the optimizer whole: its unset keys take the schema's
        # defaults, not pretrain.optimizer's); augment is merged key by key over pretrain.augment
        for k in [*PRETRAIN_OVERRIDES, "augment"]:
            if k in mp:
                v = deep_merge(p["augment"], mp["augment"]) if k == "augment" else mp[k]
                try:
                    s[k] = section("pretrain", {k: v})[k]
                except ConfigError as e:  # name the run's key, not pretrain's
                    raise ConfigError(str(e).replace("'pretrain.", f"'{where}.", 1)) from None
        resolved = info.resolve(own, where)
        info.check(resolved, {"batch_size": s["batch_size"], "image_size": image_size}, where)
        common = dict(run=run or method, method=method, trains=info.trains, seed=int(seed),
                      image_size=int(image_size), data=data, batch_size=int(s["batch_size"]),
                      channels_last=bool(s["channels_last"]))
        if not info.trains:
            return cls(**common)
        return cls(**common, epochs=int(s["epochs"]), optimizer=s["optimizer"],
                   warmup_epochs=float(s["warmup_epochs"]), final_lr=float(s["final_lr"]), cosine=bool(s["cosine"]),
                   augment=s["augment"], method_params=resolved, precision=s["precision"])


@dataclass(frozen=True)
class FeaturesJob(Spec):
    """Every value that decides the feature files of one run: the taps, the stored dtype, the image size,
    the datasets (where they live, their options) and, for patch-based runs evaluated on patches, the
    patch geometry (None: full images)."""

    run: str
    method: str
    image_size: int
    taps: tuple[str, ...]
    dtype: str
    datasets: dict
    patches: dict | None = None

    def only(self, names) -> "FeaturesJob":
        """This job restricted to the datasets ``names`` (a one-file job's spec: adding a dataset to the
        study leaves the other files' specs as they are)."""
        return replace(self, datasets={n: self.datasets[n] for n in names})


@dataclass(frozen=True)
class ProbeJob(Spec):
    """The probe (registry name), its params with every default (execution-only ones excluded), the
    tap to probe (a name, null: the deepest extracted, or ``all``) and the bootstrap of the test metric's
    interval over test images (``analysis.bootstrap``: n_resamples, confidence, seed; it decides the
    interval stored with each result)."""

    name: str
    params: dict
    tap: str | None
    bootstrap: dict = field(default_factory=lambda: section("analysis", {})["bootstrap"])

    @classmethod
    def build(cls, probe: dict | None = None, bootstrap: dict | None = None) -> tuple["ProbeJob", ProbeExec]:
        """The job and execution settings of a (partial) ``probe`` config section and a (partial)
        ``analysis.bootstrap``."""
        boot = section("analysis", {"bootstrap": bootstrap or {}})["bootstrap"]
        s = section("probe", probe)
        if s["name"] not in PROBES:
            raise ConfigError(f"config key 'probe.name': unknown probe {s['name']!r}; known: "
                              f"{', '.join(PROBES.names())}")
        params = PROBES.get(s["name"]).resolve(s["params"], "probe.params")
        ex = ProbeExec(**{k: params.pop(k) for k in EXECUTION_PARAMS})
        return cls(s["name"], params, s["tap"], boot), ex
