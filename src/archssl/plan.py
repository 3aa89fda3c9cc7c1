"""The plan of a study: a validated config turned, once and without torch, into typed job specs per stage.

>>> from archssl.plan import plan
>>> p = plan(config)                      # doctest: +SKIP
>>> p.pretrain["simclr"].to_dict()        # every value that decides the pretraining result

:func:`plan` fills every default from the schema (``archssl/schemas/config.schema.yaml``, shipped with the
package) and from the method and probe descriptors, and rejects, naming the config key, everything a job
would reject: unknown keys, types and ranges anywhere (method and probe params, projection heads, dataset
options), feature taps an architecture does not have, patch geometries that do not fit the image size,
labelled methods on unlabelled sets.

A job spec (:class:`PretrainJob`, :class:`FeaturesJob`, :class:`ProbeJob`) holds every value that decides a
stage's result, defaults included, and nothing that only changes how the job runs (workers, inference batch
size, checkpoint interval, threads, device: :class:`PretrainExec`, :class:`FeaturesExec`, :class:`ProbeExec`).
The workflow passes a job spec as the rule's ``params`` (so Snakemake reruns exactly what a change affects)
and the execution settings on the command line; ``archssl <stage> --job JSON`` runs it; the Python API
(:func:`archssl.train.loop.pretrain`, :func:`archssl.evaluate.features.run_features_job`,
:func:`archssl.evaluate.probe_job.run_probe`) takes the same specs.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from archssl.config import ConfigError, Run, load_schema, resolve_run, validate_schema
from archssl.params import ParamError, check_keys, error_message, errors
from archssl.utils import deep_merge, stable_hash

#: the figures of a study, per method (the baseline gets the first three; untrained runs no pretext figure;
#: the others only where the study provides what they need: :func:`planned_figures`)
FIGURES = ("corr_heatmap", "vs_reference", "acc_vs_params", "honesty", "pretext_vs_downstream", "topk", "depth",
           "width")
#: the figures of the whole study (their stem is the name alone)
STUDY_FIGURES = ("ablations", "ranking_consistency", "negatives", "heads", "augment", "tsne")
#: the knobs of the Good-practices figures: what a run's changed params may touch to join a knob's series
KNOB_KEYS = {"negatives": ("queue_size", "negatives", "batch_size"), "heads": ("head",),
             "crop": ("augment.crop_scale",), "jitter": ("augment.jitter_strength",)}


@functools.lru_cache(maxsize=None)
def _schema_defaults(section: str) -> dict:
    """The defaults of the schema's top-level ``section`` (e.g. ``pretrain``)."""
    props = load_schema()["properties"][section]["properties"]
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}


def section(name: str, values: dict | None) -> dict:
    """A (partial) top-level config section with every default of the schema filled in, validated; errors
    name ``name.<key>``."""
    root = load_schema()
    schema = {**root["properties"][name], "$defs": root["$defs"]}
    out = copy.deepcopy(values or {})
    errs = errors(out, schema)
    if errs:
        raise ConfigError(error_message(errs[0], name))
    return out


class _Spec:
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
class DataRef(_Spec):
    """Where one dataset split is read from and how it is opened: ``root`` is what
    :meth:`archssl.data.DatasetSource.open` takes (for built-in sets the folder of generated sets); None
    when the config does not say where an on-disk set lives (the plan's ``problems`` say so)."""

    name: str
    split: str | None
    root: str | None
    builtin: bool
    options: dict = field(default_factory=dict)

    def open(self, image_size: int, split: str | None = None, **extra: Any):
        """The dataset (``archssl.data`` source) of ``split`` (default: this ref's)."""
        from archssl.data import get_dataset

        if self.root is None:
            raise ConfigError(f"dataset {self.name!r} is read from disk: set data.data_root (or "
                              f"data.roots.{self.name}) in the config")
        return get_dataset(self.name).open(split or self.split, Path(self.root), int(image_size),
                                           **{**self.options, **extra})


def dataset_ref(name: str, data_cfg: dict, results: str, split: str | None = None) -> DataRef:
    """The one rule of where dataset ``name`` lives: built-in sets under ``<results>/data``, on-disk ones at
    ``data.roots.<name>``, else ``<data.data_root>/<name>``."""
    from archssl.data import get_dataset

    src = get_dataset(name)
    opts = copy.deepcopy((data_cfg.get("options") or {}).get(name) or {})
    if src.builtin:
        return DataRef(name, split, f"{results}/data", True, opts)
    roots = data_cfg.get("roots") or {}
    if name in roots:
        root = str(Path(roots[name]).expanduser())
    elif data_cfg.get("data_root"):
        root = str(Path(data_cfg["data_root"]).expanduser() / name)
    else:
        root = None
    return DataRef(name, split, root, False, opts)


# ------------------------------------------------------------------------------------------- execution


@dataclass(frozen=True)
class PretrainExec:
    """How a pretraining job runs (never its result beyond float round-off): ``device``, DataLoader
    ``num_workers``, checkpoint interval in epochs, ``compile`` (torch.compile of the backbone and head, 0/1),
    ``checkpoint_minutes`` (also checkpoint mid-epoch once this much wall-clock time passed; 0: never)."""

    device: str = _schema_defaults("pretrain")["device"]
    num_workers: int = _schema_defaults("pretrain")["num_workers"]
    checkpoint_every: int = _schema_defaults("pretrain")["checkpoint_every"]
    compile: int = int(_schema_defaults("pretrain")["compile"])
    checkpoint_minutes: float = _schema_defaults("pretrain")["checkpoint_minutes"]


@dataclass(frozen=True)
class FeaturesExec:
    """How a features job runs: ``device``, ``num_workers``, the inference ``batch_size``, and ``gpus``: how
    many GPUs of its own the job takes from the slot allocator before it starts (:mod:`archssl.train.gpus`;
    None: none; the workflow sets it from ``resources.features.gpus``)."""

    device: str = _schema_defaults("features")["device"]
    num_workers: int = _schema_defaults("features")["num_workers"]
    batch_size: int = _schema_defaults("features")["batch_size"]
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


def parse_exec(text: str | None, cls):
    """``--exec device=cuda,num_workers=4`` -> ``cls`` (one of the ``*Exec`` classes; unset: its defaults)."""
    kinds = {f.name: f.type for f in fields(cls)}
    out = {}
    for item in filter(None, (text or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in kinds:
            raise ConfigError(f"--exec {text!r}: {item!r} is not KEY=VALUE with a key of {', '.join(kinds)}")
        out[key] = (value if "str" in str(kinds[key]) else float(value) if "float" in str(kinds[key])
                    else int(value))
    return cls(**out)


# -------------------------------------------------------------------------------------------- pretrain


@dataclass(frozen=True)
class PretrainJob(_Spec):
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
        from archssl.methods import METHODS, PRETRAIN_OVERRIDES, RESERVED_KEYS

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


# -------------------------------------------------------------------------------------------- features


@dataclass(frozen=True)
class FeaturesJob(_Spec):
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
        from dataclasses import replace

        return replace(self, datasets={n: self.datasets[n] for n in names})


@dataclass(frozen=True)
class ProbeJob(_Spec):
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
        from archssl.evaluate.probes import EXECUTION_PARAMS, PROBES

        boot = section("analysis", {"bootstrap": bootstrap or {}})["bootstrap"]
        s = section("probe", probe)
        if s["name"] not in PROBES:
            raise ConfigError(f"config key 'probe.name': unknown probe {s['name']!r}; known: "
                              f"{', '.join(PROBES.names())}")
        params = PROBES.get(s["name"]).resolve(s["params"], "probe.params")
        ex = ProbeExec(**{k: params.pop(k) for k in EXECUTION_PARAMS})
        return cls(s["name"], params, s["tap"], boot), ex


# ------------------------------------------------------------------------------------------------ plan


@dataclass
class Plan:
    """A study resolved once: architectures, runs, job specs, execution settings, datasets, the analysis
    manifest and the figures it will draw."""

    config: dict
    archs: dict[str, dict]
    runs: dict[str, Run]
    pretrain: dict[str, PretrainJob]
    features: dict[str, FeaturesJob]
    probe: ProbeJob
    pretrain_exec: PretrainExec
    features_exec: FeaturesExec
    probe_exec: ProbeExec
    datasets: dict[str, DataRef]
    figures: list[str]
    problems: list[str]
    #: the NAS searches (archssl.nas.plan.NASPlan); their architectures (``nas-<search>``) are in ``archs`` as
    #: ``{family, nas_search}`` records, not specs (the search writes results/archs/nas-<search>.yaml), their
    #: random architectures with their specs
    nas: Any = None

    @property
    def results(self) -> str:
        return self.config["results"]

    @property
    def methods(self) -> list[str]:
        return list(self.config["methods"])

    @property
    def downstream(self) -> list[str]:
        return list(self.config["data"]["downstream"])

    @property
    def variants(self) -> list[str]:
        """The variants the ablation table compares (with their method or ``against``)."""
        return [n for n, r in self.runs.items() if r.is_variant and r.against is not None]

    @property
    def reference(self) -> str:
        return self.config["analysis"]["reference"] or self.downstream[0]

    def tsne(self, classes: int = 5, per_class: int = 60) -> dict | None:
        """What the t-SNE figure reads (None where the study does not draw it): the feature files of the
        augmentation runs (:func:`tsne_rows`) on the first architecture and the reference dataset, the tap
        (None: the deepest), and the subsample (``classes`` classes, ``per_class`` test images each, seeded)."""
        if "tsne" not in self.figures:
            return None
        rows = tsne_rows(_manifest_runs(self.runs, self.pretrain))
        arch, ds = next(iter(self.archs)), self.reference
        names = list(dict.fromkeys(n for r in rows for n in r["runs"]))
        tap = self.probe.tap if self.probe.tap not in (None, "all") else None
        return {"arch": arch, "dataset": ds, "tap": tap, "rows": rows, "classes": classes, "per_class": per_class,
                "seed": self.config["seed"],
                "files": {n: f"{self.results}/features/{n}/{arch}/{ds}.h5" for n in names}}

    def resources(self, stage: str) -> dict:
        r = dict(self.config["resources"]["default"])
        r.update(self.config["resources"].get(stage) or {})
        return r

    def manifest(self) -> dict:
        """What the tables and figures jobs read: the probe files (as a pattern), folders, reference,
        baseline, correlations, variants and the planned figures."""
        res = self.results
        return {
            "study": self.config["study"],
            "probes": {"pattern": f"{res}/probes/{{method}}/{{arch}}/{{dataset}}.json", "method": self.methods,
                       "arch": list(self.archs), "dataset": self.downstream},
            "archs_dir": f"{res}/archs", "pretrain_dir": f"{res}/pretrain",
            "image_size": self.config["data"]["image_size"], "reference": self.reference,
            "baseline": self.config["analysis"]["baseline"], "correlations": self.config["analysis"]["correlations"],
            "variants": [{"variant": v, "method": self.runs[v].method, "against": self.runs[v].against,
                          "change": self.runs[v].note, "seed": self.runs[v].seed} for v in self.variants],
            "figures": self.figures,
            "runs": _manifest_runs(self.runs, self.pretrain),
            "ranked": [m for m, r in self.runs.items() if not r.is_variant and self.pretrain[m].trains
                       and m != self.config["analysis"]["baseline"]],
            "taps": list(self.config["features"]["taps"]), "probe": self.probe.name,
            "bootstrap": self.config["analysis"]["bootstrap"], "topk": self.config["analysis"]["topk"],
        }


def run_knobs(job: PretrainJob) -> dict:
    """The Good-practices knobs of one run, from its job spec (defaults included): ``K`` negatives per query
    (MoCo's queue, InstDisc's memory-bank draws, SimCLR's 2 x batch - 2), the projection ``head`` kind, the
    crop's min and max area and the colour-jitter strength (None where the method has no such knob)."""
    if not job.trains:
        return {"K": None, "head": None, "crop_min": None, "crop_max": None, "jitter": None}
    mp, aug = job.method_params, job.augment or {}
    k = {"moco": mp.get("queue_size"), "instdisc": mp.get("negatives"),
         "simclr": 2 * job.batch_size - 2}.get(job.method)
    head = mp["head"].get("kind") if isinstance(mp.get("head"), dict) else None
    crop = aug.get("crop_scale") or [None, None]
    return {"K": k, "head": head, "crop_min": crop[0], "crop_max": crop[1], "jitter": aug.get("jitter_strength")}


def knob_series(runs: dict, knob: str) -> dict[str, list[str]]:
    """Per registered method, the runs of the manifest's ``runs`` that vary only ``knob`` (a key of
    ``KNOB_KEYS``: its plain run, and its variants whose changed params all lie under the knob's keys), where
    they take at least 2 values of it; a method with fewer is left out."""
    value = {"negatives": lambda r: r["K"], "heads": lambda r: r["head"],
             "crop": lambda r: (r["crop_min"], r["crop_max"]), "jitter": lambda r: r["jitter"]}[knob]
    keys = KNOB_KEYS[knob]
    out = {}
    for method in dict.fromkeys(r["method"] for r in runs.values()):
        names = [n for n, r in runs.items() if r["method"] == method and r["trains"] and value(r) is not None
                 and (not r["variant"] or (r["changed"] and all(
                     any(c == k or c.startswith(k + ".") for k in keys) for c in r["changed"])))]
        if len({json.dumps(value(runs[n])) for n in names}) >= 2:
            out[method] = names
    return out


def tsne_rows(runs: dict) -> list[dict]:
    """The rows of the t-SNE figure: per method whose runs vary the crop or the colour jitter
    (:func:`knob_series` of the manifest's ``runs``), those runs from the weakest augmentation to the strongest
    (crops: the largest area first; jitter: the weakest first), with their levels."""
    strength = {"crop": lambda r: -(r["crop_min"] + r["crop_max"]), "jitter": lambda r: r["jitter"]}
    level = {"crop": lambda r: f"crop {r['crop_min']:g}-{r['crop_max']:g}", "jitter": lambda r: f"jitter {r['jitter']:g}"}
    rows = []
    for knob in ("crop", "jitter"):
        for method, names in knob_series(runs, knob).items():
            names = sorted(names, key=lambda n: strength[knob](runs[n]))
            rows.append({"method": method, "knob": knob, "runs": names,
                         "levels": [level[knob](runs[n]) for n in names]})
    return rows


def split_stem(stem: str) -> tuple[str, str]:
    """(figure, method) of a figure stem from :func:`planned_figures`; method names may hold underscores
    (variants), so the split is by the known figure names."""
    if stem in STUDY_FIGURES:
        return stem, ""
    for name in FIGURES:
        if stem.startswith(name + "_"):
            return name, stem[len(name) + 1:]
    raise ValueError(f"{stem!r} is not a figure stem (<figure>_<method> with a figure of {', '.join(FIGURES)})")


ACROSS_ARCHS = ("corr_heatmap", "vs_reference", "acc_vs_params", "pretext_vs_downstream")


def planned_figures(methods, baseline: str, variants=(), untrained=(), *, n_datasets: int = 2,
                    n_archs: int = 2, multi_tap: bool = False, widths: bool = False, ranked=(),
                    runs: dict | None = None) -> list[str]:
    """The figure stems a study draws: ``<figure>_<method>`` per method, the study-level ones by name.

    Per method: ``corr_heatmap``, ``vs_reference`` (with >= 2 datasets), ``acc_vs_params``; ``honesty``
    (not the baseline); ``pretext_vs_downstream`` (trained, not the baseline); of these, a study of one
    architecture draws only ``honesty`` (the others are over architectures: ``ACROSS_ARCHS``); ``topk`` (>= 3 architectures
    and >= 2 datasets); ``depth`` (``multi_tap``: several taps probed); ``width`` (``widths``: the
    architectures differ in width or representation size; not the baseline). Study: ``ablations`` (variants),
    ``ranking_consistency`` (>= 2 methods in ``ranked``, the trained non-variant methods, and >= 2
    architectures), ``negatives`` / ``heads`` / ``augment`` (a method's runs vary K / the head / the crop or
    jitter: :func:`knob_series` of the manifest's ``runs``), ``tsne`` (a method's runs vary the crop or the
    jitter: :func:`tsne_rows`)."""
    out = []
    for method in sorted(methods):
        names = FIGURES[:5] if method != baseline else FIGURES[:3]
        if method in untrained:
            names = [n for n in names if n != "pretext_vs_downstream"]
        if n_datasets < 2:
            names = [n for n in names if n not in ("corr_heatmap", "vs_reference")]
        if n_archs < 2:  # each of these draws one point per architecture, or correlates over architectures
            names = [n for n in names if n not in ACROSS_ARCHS]
        names = list(names)
        if n_archs >= 3 and n_datasets >= 2:
            names.append("topk")
        if multi_tap:
            names.append("depth")
        if widths and method != baseline:
            names.append("width")
        out.extend(f"{name}_{method}" for name in names)
    out += ["ablations"] if variants else []
    out += ["ranking_consistency"] if len(ranked) >= 2 and n_archs >= 2 else []
    runs = runs or {}
    out += ["negatives"] if knob_series(runs, "negatives") else []
    out += ["heads"] if knob_series(runs, "heads") else []
    out += ["augment"] if knob_series(runs, "crop") or knob_series(runs, "jitter") else []
    out += ["tsne"] if tsne_rows(runs) else []
    return out


def _manifest_runs(runs: dict, pretrain: dict) -> dict:
    """The manifest's ``runs``: per entry of methods its method, whether it trains, whether it is a variant,
    the params it changes (flattened keys) and its knobs (:func:`run_knobs`)."""
    from archssl.config import _flat

    return {n: {"method": r.method, "trains": pretrain[n].trains, "variant": r.is_variant,
                "changed": sorted(k.split("=", 1)[0] for k in _flat(r.changes)), **run_knobs(pretrain[n])}
            for n, r in runs.items()}


def _check_datasets(cfg: dict) -> None:
    from archssl.data import DATASETS, DatasetError

    d = cfg["data"]
    known = ", ".join(DATASETS.names())
    if d["pretrain"] not in DATASETS:
        raise ConfigError(f"config key 'data.pretrain': unknown dataset {d['pretrain']!r}; known: {known}")
    if d["pretrain_split"] not in DATASETS.get(d["pretrain"]).splits:
        raise ConfigError(f"config key 'data.pretrain_split': dataset {d['pretrain']!r} has no split "
                          f"{d['pretrain_split']!r}; it has {', '.join(DATASETS.get(d['pretrain']).splits)}")
    for i, name in enumerate(d["downstream"]):
        if name not in DATASETS:
            raise ConfigError(f"config key 'data.downstream[{i}]': unknown dataset {name!r}; known: {known}")
        if DATASETS.get(name).num_classes < 2:
            raise ConfigError(f"config key 'data.downstream[{i}]': dataset {name!r} has no labels to probe")
    for name, opts in d["options"].items():
        if name not in DATASETS:
            raise ConfigError(f"config key 'data.options.{name}': unknown dataset {name!r}; known: {known}")
        try:
            DATASETS.get(name).resolve_options(opts)
        except (ValueError, DatasetError) as e:
            raise ConfigError(f"config key 'data.options.{name}': {e}") from None


def _check_runs(cfg: dict) -> None:
    from archssl.methods import METHODS

    variants = cfg["variants"]
    for name, v in variants.items():
        if name in METHODS:
            raise ConfigError(f"config key 'variants.{name}': a variant may not take the name of a registered "
                              f"method; call it e.g. {name}_v1")
        if v["method"] not in METHODS:
            hint = " (a variant configures a registered method, not another variant)" if v["method"] in variants else ""
            raise ConfigError(f"config key 'variants.{name}.method': unknown SSL method {v['method']!r}{hint}; "
                              f"known: {', '.join(METHODS.names())}")
    for i, m in enumerate(cfg["methods"]):
        if m not in METHODS and m not in variants:
            what, known = ("SSL method or variant", "known methods") if variants else ("SSL method", "known")
            raise ConfigError(f"config key 'methods[{i}]': unknown {what} {m!r}; {known}: {', '.join(METHODS.names())}"
                              + (f"; variants: {', '.join(variants)}" if variants else ""))
    for m in cfg["pretrain"]["method_params"]:
        if m not in METHODS:
            hint = f" (variants' params go under variants.{m}.params)" if m in variants else ""
            raise ConfigError(f"config key 'pretrain.method_params.{m}': unknown SSL method {m!r}{hint}; "
                              f"known: {', '.join(METHODS.names())}")
    for m in cfg["methods"]:
        against = variants[m].get("against") if m in variants else None
        if against is not None and (against not in cfg["methods"] or against == m):
            raise ConfigError(f"config key 'variants.{m}.against': {against!r} is not another entry of methods")
    if cfg["analysis"]["baseline"] not in cfg["methods"]:
        raise ConfigError(f"config key 'analysis.baseline': {cfg['analysis']['baseline']!r} is not one of methods")
    ref = cfg["analysis"]["reference"]
    if ref is not None and ref not in cfg["data"]["downstream"]:
        raise ConfigError(f"config key 'analysis.reference': {ref!r} is not one of data.downstream")


def _params_key(cfg: dict, run: Run, key: str) -> str:
    """The config key that sets ``key`` of a run's params (the variant's own, else its method's)."""
    if key in run.changes:
        return f"variants.{run.name}.params.{key}"
    if key in (cfg["pretrain"]["method_params"].get(run.method) or {}):
        return f"pretrain.method_params.{run.method}.{key}"
    return "data.pretrain"


def pretrain_set(cfg: dict, params: dict, key) -> tuple[str, str]:
    """(dataset, split) a run with ``params`` (its method_params, or a search's settings) pretrains on: its own
    ``dataset`` / ``split``, else ``data.pretrain`` / ``data.pretrain_split``; checked against the registry,
    errors naming ``key("dataset")`` / ``key("split")``."""
    from archssl.data import DATASETS

    d = cfg["data"]
    name = params.get("dataset", d["pretrain"])
    split = params.get("split", "train" if "dataset" in params else d["pretrain_split"])
    if name not in DATASETS:
        raise ConfigError(f"config key '{key('dataset')}': unknown dataset {name!r}; known: "
                          f"{', '.join(DATASETS.names())}")
    if split not in DATASETS.get(name).splits:
        raise ConfigError(f"config key '{key('split')}': dataset {name!r} has no split "
                          f"{split!r}; it has {', '.join(DATASETS.get(name).splits)}")
    return name, split


def _pretrain_job(cfg: dict, run: Run) -> PretrainJob:
    from archssl.data import DATASETS

    d = cfg["data"]
    where = f"variants.{run.name}.params" if run.is_variant else f"pretrain.method_params.{run.method}"
    name, split = pretrain_set(cfg, run.params, lambda k: _params_key(cfg, run, k))
    from archssl.methods import METHODS

    ref = dataset_ref(name, d, cfg["results"], split)
    info = METHODS.get(run.method)
    if info.trains and not info.patch_based and "pretrain" in DATASETS.get(name).views:
        # SSL views are cut from the whole decoded image, as in the papers (not from the evaluation centre
        # crop); patch-based tasks and the BN statistics of untrained runs keep the evaluation view
        ref = DataRef(ref.name, ref.split, ref.root, ref.builtin, {"view": "pretrain", **ref.options})
    job = PretrainJob.build(run.method, run=run.name, seed=run.seed, image_size=d["image_size"], data=ref,
                            pretrain=cfg["pretrain"], method_params=run.params, where=where)

    if "labels" in METHODS.get(run.method).batch_inputs and DATASETS.get(name).num_classes < 2:
        raise ConfigError(f"config key '{_params_key(cfg, run, 'dataset')}': method {run.name!r} needs a labelled "
                          f"pretraining set, but {name!r} has no labels; set "
                          f"pretrain.method_params.{run.method}.dataset to a labelled dataset")
    return job


def _features_job(cfg: dict, run: Run, pre: PretrainJob, datasets: dict[str, DataRef]) -> FeaturesJob:
    from archssl.methods import METHODS

    f = cfg["features"]
    patches = None
    if f["patch_eval"] == "patch_average" and METHODS.get(run.method).patch_based:
        from archssl.methods.patchcfg import PatchConfig

        patches = {k: pre.method_params[k] for k in PatchConfig.KEYS}
    return FeaturesJob(run.name, run.method, cfg["data"]["image_size"], tuple(f["taps"]), f["dtype"],
                       {d: datasets[d] for d in cfg["data"]["downstream"]}, patches)


def _check_taps(cfg: dict, archs: dict[str, dict]) -> None:
    from archssl.archs import tap_names

    taps = cfg["features"]["taps"]
    for arch, spec in archs.items():
        have = tap_names(spec)
        for i, t in enumerate(taps):
            if t not in have:
                raise ConfigError(f"config key 'features.taps[{i}]': architecture {arch} has no tap {t!r}; "
                                  f"it has {', '.join(have)}")
    tap = cfg["probe"]["tap"]
    if tap not in (None, "all") and tap not in taps:
        raise ConfigError(f"config key 'probe.tap': {tap!r} is not one of features.taps ({', '.join(taps)}); "
                          f"give one of them, null (the deepest) or all")


def _check_image_size(cfg: dict, archs: dict[str, dict]) -> None:
    from archssl.archs import count_flops

    size = cfg["data"]["image_size"]
    for arch, spec in archs.items():
        try:
            count_flops(spec, size)
        except ValueError as e:
            raise ConfigError(f"config key 'data.image_size': architecture {arch} does not fit {size}-px "
                              f"images ({e})") from None


def _check_patch_size(cfg: dict, pretrain: dict, archs: dict[str, dict]) -> None:
    """Patch-based runs (jigsaw, relpatch) feed each architecture patches of a fraction of the image: every
    architecture must take them (a deep VGG pools an 8-px patch to nothing)."""
    from archssl.archs import count_flops
    from archssl.methods import METHODS
    from archssl.methods.patchcfg import PatchConfig

    for name, job in pretrain.items():
        if not METHODS.get(job.method).patch_based:
            continue
        pc = PatchConfig.from_params(job.method_params)
        px = pc.patch_size or pc.geometry(job.image_size)[2]
        for arch, spec in archs.items():
            try:
                count_flops(spec, px)
            except ValueError as e:
                raise ConfigError(f"config key 'methods': {name} ({job.method}) trains on {px}-px patches of "
                                  f"{job.image_size}-px images, too small for architecture {arch} ({e}); set "
                                  f"pretrain.method_params.{job.method}.patch_size, raise data.image_size or "
                                  f"use a shallower architecture") from None


def plan(cfg: dict) -> Plan:
    """Validate ``cfg`` (defaults filled in place) and resolve the whole study; raises :class:`ConfigError`
    naming the key at fault."""
    from archssl.archs import ArchSpecError, arch_id, resolve
    from archssl.methods import METHODS

    validate_schema(cfg)
    cfg["variants"] = cfg.get("variants") or {}
    _check_datasets(cfg)
    _check_runs(cfg)
    try:
        specs = resolve(cfg["archs"])
    except ArchSpecError as e:
        raise ConfigError(f"config key 'archs': {e}") from e
    archs = {arch_id(s): s for s in specs}
    from archssl.nas.plan import plan_nas

    nas = plan_nas(cfg, archs)  # adds nas-<search> ({family, nas_search}: the search writes its spec), random archs
    _check_taps(cfg, nas.checkable(archs))
    _check_image_size(cfg, nas.checkable(archs))
    d = cfg["data"]
    names = dict.fromkeys(d["downstream"])
    datasets = {n: dataset_ref(n, d, cfg["results"]) for n in names}
    runs = {m: resolve_run(cfg, m) for m in cfg["methods"]}
    try:
        for m, mp in cfg["pretrain"]["method_params"].items():  # also those of methods the study does not run
            PretrainJob.build(m, image_size=d["image_size"], pretrain=cfg["pretrain"], method_params=mp)
        pretrain = {m: _pretrain_job(cfg, r) for m, r in runs.items()}
        _check_patch_size(cfg, pretrain, nas.checkable(archs))
        probe, probe_exec = ProbeJob.build(cfg["probe"], cfg["analysis"]["bootstrap"])
    except ConfigError:
        raise
    except ParamError as e:
        raise ConfigError(str(e)) from None
    features = {m: _features_job(cfg, r, pretrain[m], datasets) for m, r in runs.items()}
    p, f = cfg["pretrain"], cfg["features"]
    untrained = [m for m, r in runs.items() if not METHODS.get(r.method).trains]
    # the Revisiting knobs: a family at several widening factors or representation sizes (rep_dim)
    shapes = {(s["family"], s.get("widen"), s.get("rep_dim")) for s in nas.checkable(archs).values()}
    fams = {f for f, _, _ in shapes}
    figures = planned_figures(cfg["methods"], cfg["analysis"]["baseline"],
                              [n for n, r in runs.items() if r.is_variant and r.against is not None],
                              untrained=untrained, n_datasets=len(d["downstream"]), n_archs=len(archs),
                              multi_tap=cfg["probe"]["tap"] == "all" and len(cfg["features"]["taps"]) >= 2,
                              widths=any(len({(w, r) for g, w, r in shapes if g == f}) >= 2 for f in fams),
                              ranked=[m for m, r in runs.items() if not r.is_variant and m not in untrained
                                      and m != cfg["analysis"]["baseline"]],
                              runs=_manifest_runs(runs, pretrain))
    refs = [*datasets.values(), *(j.data for j in pretrain.values()), *(j.data for j in nas.searches.values())]
    problems = sorted({f"dataset {r.name!r} is read from disk, but the config sets neither data.data_root "
                       f"nor data.roots.{r.name}" for r in refs if r.root is None})
    return Plan(config=cfg, archs=archs, runs=runs, pretrain=pretrain, features=features, probe=probe,
                pretrain_exec=PretrainExec(p["device"], p["num_workers"], p["checkpoint_every"], int(p["compile"]),
                                           p["checkpoint_minutes"]),
                features_exec=FeaturesExec(f["device"], f["num_workers"], f["batch_size"]),
                probe_exec=probe_exec, datasets=datasets, figures=figures, problems=problems, nas=nas)


__all__ = ["DataRef", "FIGURES", "KNOB_KEYS", "STUDY_FIGURES", "knob_series", "run_knobs", "tsne_rows", "FeaturesExec", "FeaturesJob", "Plan", "PretrainExec", "PretrainJob",
           "ProbeExec", "ProbeJob", "dataset_ref", "exec_args", "parse_exec", "plan", "planned_figures", "split_stem"]
