"""The NAS part of a study's plan (``nas: {searches: {NAME: {...}}}``): torch-free, called by :func:`archssl.plan.plan`.

Each named search becomes

- a :class:`NASSearchJob` (the ``nas_search`` rule's param: every value that decides the search's result, the
  settings with every default of :func:`archssl.catalog.nas.validate_settings`, the SSL method with its resolved params,
  where the images are read), and its execution settings (:class:`archssl.plan.PretrainExec`: device, workers,
  checkpoint interval; the rule's ``--exec`` resource, which reruns nothing when it changes);
- the architecture ``nas-NAME`` of the study, known by name from the start (its spec is what the search writes,
  ``results/archs/nas-NAME.yaml``; ``Plan.archs`` holds a :func:`pending` record for it, not a spec): it is pretrained, probed and tabulated
  like every other architecture, and a change of the search reruns that search and that architecture's jobs;
- optionally (``random: {n, seed, tolerance, params}``), ``n`` architectures drawn uniformly at random from the
  same space (one op per block, independently and uniformly among its candidates), kept when their parameter
  count is within ``tolerance`` (a fraction) of ``params`` (default: the search's ``target.value`` when the
  target counts parameters), without duplicates; deterministic given ``seed``, in closed form (the space's
  per-op costs, no network built). They are ordinary specs of the study (content ids, ``arch_spec`` rule).

Keys of a search besides the search settings (:data:`archssl.catalog.nas.DEFAULTS`): ``method`` (default ``simclr``),
``method_params`` (the method's own params; default: ``pretrain.method_params.<method>``), ``dataset`` /
``split`` (default ``data.pretrain`` / ``data.pretrain_split``), ``random``. Defaults that come from the study:
``image_size`` (``data.image_size``), ``seed`` (the study's ``seed``), ``augment`` (the pretraining
augmentations, ``pretrain.augment`` merged with the method's ``augment``; the search's ``augment`` merged over
them). ``checkpoint_every`` is an execution setting (not in the job spec).

Errors are :class:`archssl.config.ConfigError` naming the key (``config key 'nas.searches.s1.target.value':
...``): unknown keys, an infeasible size target, unknown ops, a space that does not fit the image size (of the
search and of the study's pretraining), a method that does not train, a random window no network reaches.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

from archssl.catalog import METHODS
from archssl.catalog.archs import arch_id
from archssl.catalog.datasets import DATASETS
from archssl.catalog.methods import RESERVED_KEYS
from archssl.catalog.nas import DEFAULTS, NASSettingsError, build_space, validate_settings
from archssl.config import ConfigError
from archssl.layout import Layout
from archssl.params import ParamError
from archssl.plan.checks import pretrain_set
from archssl.plan.execution import PretrainExec, exec_args
from archssl.plan.schema import schema_defaults, section
from archssl.plan.specs import DataRef, PretrainJob, Spec, dataset_ref
from archssl.utils import deep_merge

#: the keys of a search besides the settings
SEARCH_KEYS = ("method", "method_params", "dataset", "split", "random")
RANDOM_DEFAULTS = {"n": 5, "seed": 0, "tolerance": 0.1, "params": None}
#: give up drawing a search's random architectures after this many candidates per requested one
RANDOM_TRIES = 20_000
#: prefix of a searched architecture's id (``nas-<search>``); no content id of a family starts with it
PREFIX = "nas-"


def searched_arch(search: str) -> str:
    """The architecture id of search ``search``'s derived network."""
    return f"{PREFIX}{search}"


def pending(search: str) -> dict:
    """What the plan knows of a searched architecture (its entry in ``Plan.archs``): its family and its search.
    Not a spec (normalize, count_params and build reject the ``nas_search`` key): the spec is the search's
    result, ``results/archs/nas-<search>.yaml``; read specs from there."""
    return {"family": "mobilenetv2", "nas_search": search}


def is_pending(spec: dict | None) -> bool:
    return isinstance(spec, dict) and "nas_search" in spec


@dataclass(frozen=True)
class NASSearchJob(Spec):
    """Every value that decides a search's result: its name, the SSL method and its resolved params, the
    complete settings (``checkpoint_every`` excluded: an execution setting) and the pretraining images."""

    search: str
    method: str
    method_params: dict
    settings: dict
    data: DataRef

    @property
    def arch(self) -> str:
        return searched_arch(self.search)

    @property
    def where(self) -> str:
        """The config key of this search (errors of the job name it)."""
        return f"nas.searches.{self.search}"

    def run_settings(self, checkpoint_every: int = 1) -> dict:
        """The settings :func:`archssl.nas.search.search` takes (the execution's checkpoint interval added)."""
        return {**copy.deepcopy(self.settings), "checkpoint_every": int(checkpoint_every)}


@dataclass
class NASPlan:
    """The searches of a study: job specs, execution settings, the searched architecture ids, the random
    architectures (ids and specs) of each search and their parameter window."""

    searches: dict = field(default_factory=dict)  # name -> NASSearchJob
    execs: dict = field(default_factory=dict)  # name -> archssl.plan.PretrainExec
    random: dict[str, list[str]] = field(default_factory=dict)  # name -> random arch ids
    random_specs: dict[str, dict] = field(default_factory=dict)  # random arch id -> spec
    windows: dict[str, list[float]] = field(default_factory=dict)  # name -> [min, max] params of its random archs
    #: searched arch id -> one network of its space (taps and the fit to an image size are the same for all)
    examples: dict[str, dict] = field(default_factory=dict)

    def checkable(self, archs: dict) -> dict[str, dict]:
        """``archs`` with each searched architecture (a :func:`pending` record) stood for by a network of its
        space (for the checks of taps and image size, the same for every network of the space)."""
        return {a: self.examples.get(a, s) for a, s in archs.items()}

    @property
    def searched(self) -> dict[str, str]:
        """Searched architecture id -> its search."""
        return {job.arch: name for name, job in self.searches.items()}

    def exec_arg(self, name: str) -> str:
        return exec_args(self.execs[name])

    def roles(self, archs) -> dict[str, str]:
        """``searched`` / ``random`` / ``reference`` of every architecture id of the study (``archs``)."""
        rand = {a for ids in self.random.values() for a in ids}
        searched = self.searched
        return {a: "searched" if a in searched else "random" if a in rand else "reference" for a in archs}

    def manifest(self, archs, results: str) -> dict:
        """What the NAS figures read besides the tables: per search its architecture, method, seed, ops, target,
        random architectures and window, and every architecture's role."""
        return {
            "searches": {
                name: {"arch": job.arch, "method": job.method, "seed": job.settings["seed"],
                       "dataset": job.data.name, "epochs": job.settings["epochs"],
                       "warmup_epochs": job.settings["warmup_epochs"], "ops": job.settings["ops"],
                       "space": job.settings["space"], "image_size": job.settings["image_size"],
                       "target": job.settings["target"], "random": self.random.get(name, []),
                       "window": self.windows.get(name),
                       "genotype": Layout(results).nas_file("genotype.yaml", name),
                       "trajectory": Layout(results).nas_file("trajectory.csv", name),
                       "metrics": Layout(results).nas_file("metrics.csv", name)}
                for name, job in self.searches.items()},
            "roles": self.roles(archs),
        }


def _err(e: NASSettingsError) -> ConfigError:
    return ConfigError(f"config key '{e.key}': {e.problem}")


def _method(cfg: dict, s: dict, where: str):
    """(method, resolved own params, resolved augment) of a search, checked like a pretraining run's."""

    method = s.get("method", "simclr")
    if method not in METHODS:
        raise ConfigError(f"config key '{where}.method': unknown SSL method {method!r}; known: "
                          f"{', '.join(METHODS.names())}")
    if not METHODS.get(method).trains:
        raise ConfigError(f"config key '{where}.method': method {method!r} does not train; a search needs a "
                          f"trained SSL loss")
    given = "method_params" in s
    mp = copy.deepcopy(s["method_params"] if given else (cfg["pretrain"]["method_params"].get(method) or {}))
    if not isinstance(mp, dict):
        raise ConfigError(f"config key '{where}.method_params': expected a mapping, got {mp!r}")
    mp_where = f"{where}.method_params" if given else f"pretrain.method_params.{method}"
    own = {k: v for k, v in mp.items() if k not in RESERVED_KEYS or k == "augment"}
    try:
        job = PretrainJob.build(method, image_size=s["image_size"],
                                pretrain={**cfg["pretrain"], "batch_size": s["batch_size"]},
                                method_params=own, where=mp_where)
    except ConfigError:
        raise
    except ParamError as e:
        raise ConfigError(str(e)) from None
    return method, job.method_params, job.augment


def _data(cfg: dict, s: dict, method: str, where: str):

    d = cfg["data"]
    name, split = pretrain_set(cfg, s, lambda k: f"{where}.{k}")
    if "labels" in METHODS.get(method).batch_inputs and DATASETS.get(name).num_classes < 2:
        raise ConfigError(f"config key '{where}.dataset': method {method!r} needs labels, but {name!r} has none")
    return dataset_ref(name, d, cfg["results"], split)


def _random(r, space, settings: dict, where: str) -> tuple[list[dict], list[float]]:
    """The random architectures of a search: (specs, [min, max] params)."""
    key = f"{where}.random"
    if not isinstance(r, dict):
        raise ConfigError(f"config key '{key}': expected a mapping {{n, seed, tolerance, params}}, got {r!r}")
    unknown = sorted(set(r) - set(RANDOM_DEFAULTS))
    if unknown:
        raise ConfigError(f"config key '{key}.{unknown[0]}': unknown key; known: {', '.join(RANDOM_DEFAULTS)}")
    r = {**RANDOM_DEFAULTS, **r}
    n, seed, tol, centre = r["n"], r["seed"], r["tolerance"], r["params"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"config key '{key}.n': expected an int >= 1, got {n!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"config key '{key}.seed': expected an int, got {seed!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ConfigError(f"config key '{key}.tolerance': expected a fraction in (0, 1), got {tol!r}")
    target = settings["target"]
    if centre is None:
        if target is None or target["kind"] != "params":
            raise ConfigError(f"config key '{key}.params': missing: the parameter count the random architectures "
                              f"are drawn around (it defaults to {where}.target.value only when the target counts "
                              f"params)")
        centre = target["value"]
    if isinstance(centre, bool) or not isinstance(centre, (int, float)) or centre <= 1:
        raise ConfigError(f"config key '{key}.params': expected a number > 1, got {centre!r}")
    lo, hi = centre * (1 - tol), centre * (1 + tol)
    smallest, largest = space.bounds("params")
    if hi < smallest or lo > largest:
        raise ConfigError(f"config key '{key}.params': the window {lo:.0f}-{hi:.0f} params is outside the space "
                          f"({smallest}-{largest} params)")

    rng = random.Random(seed)
    out: dict[str, dict] = {}
    for _ in range(RANDOM_TRIES * n):
        choices = [rng.randrange(len(slot.ops)) for slot in space.slots]
        if lo <= space.size(choices, "params") <= hi:
            spec = space.spec(choices)
            out.setdefault(arch_id(spec), spec)
            if len(out) == n:
                return list(out.values()), [lo, hi]
    raise ConfigError(f"config key '{key}.tolerance': only {len(out)} of {n} distinct architectures of the space "
                      f"have {lo:.0f}-{hi:.0f} params in {RANDOM_TRIES * n} uniform draws; widen the tolerance, "
                      f"move params toward the middle of the space ({smallest}-{largest}) or lower n")


def plan_nas(cfg: dict, archs: dict[str, dict]) -> NASPlan:
    """Resolve ``cfg['nas']`` (validated by the schema, defaults filled) against the study; adds the searched
    ids (:func:`pending` records) and the random architectures (specs) to ``archs`` in place. Raises ConfigError naming the key."""
    out = NASPlan()
    searches = (cfg.get("nas") or {}).get("searches") or {}
    p = cfg["pretrain"]
    for name, s in searches.items():
        where = f"nas.searches.{name}"
        s = copy.deepcopy(s or {})
        unknown = sorted(set(s) - set(DEFAULTS) - set(SEARCH_KEYS))
        if unknown:
            raise ConfigError(f"config key '{where}.{unknown[0]}': unknown key; known: "
                              f"{', '.join([*SEARCH_KEYS, *DEFAULTS])}")
        extra = {k: s.pop(k) for k in SEARCH_KEYS if k in s}
        s.setdefault("image_size", cfg["data"]["image_size"])
        s.setdefault("seed", int(cfg.get("seed", 0)))
        checkpoint_every = s.pop("checkpoint_every", schema_defaults("pretrain")["checkpoint_every"])
        try:
            # the ops, the target and the fit at the search's image size (and the keys' types and ranges)
            settings = validate_settings({**s, "checkpoint_every": checkpoint_every}, where)
            space = build_space(settings["space"], settings["ops"], settings["image_size"], where)
            if cfg["data"]["image_size"] != settings["image_size"]:  # the searched net is pretrained at this size
                build_space(settings["space"], settings["ops"], cfg["data"]["image_size"], where)
        except NASSettingsError as e:
            raise _err(e) from None
        settings.pop("checkpoint_every")
        method, params, augment = _method(cfg, {**extra, "image_size": settings["image_size"],
                                                "batch_size": settings["batch_size"]}, where)
        try:  # the search's augment over the pretraining ones, checked as pretrain.augment is
            settings["augment"] = section("pretrain", {"augment": deep_merge(augment, settings["augment"])})["augment"]
        except ConfigError as e:
            raise ConfigError(str(e).replace("'pretrain.augment", f"'{where}.augment", 1)) from None
        data = _data(cfg, extra, method, where)
        job = NASSearchJob(search=name, method=method, method_params=params, settings=settings, data=data)
        if job.arch in archs:
            raise ConfigError(f"config key '{where}': the id {job.arch!r} of its architecture is already taken")
        archs[job.arch] = pending(name)
        out.examples[job.arch] = space.spec([0] * len(space.slots))
        out.searches[name] = job
        out.execs[name] = PretrainExec(device=p["device"], num_workers=p["num_workers"],
                                       checkpoint_every=int(checkpoint_every))
        if "random" in extra and extra["random"] is not None:
            specs, window = _random(extra["random"], space, settings, where)
        
            ids = []
            for spec in specs:
                a = arch_id(spec)
                archs.setdefault(a, spec)
                ids.append(a)
            out.random[name] = ids
            out.random_specs.update({a: archs[a] for a in ids})
            out.windows[name] = window
    return out


__all__ = ["NASPlan", "NASSearchJob", "PREFIX", "RANDOM_DEFAULTS", "SEARCH_KEYS", "is_pending", "pending", "plan_nas", "searched_arch"]
