"""Torch-free descriptors of the SSL methods: what the planner, the config validation and the tables need to
know of a method without importing its implementation (or torch).

A :class:`MethodInfo` names the implementation (an :class:`archssl.methods.base.SSLMethod` subclass, as a
``"module:Class"`` path imported on first use by :func:`archssl.catalog.load`, or the class itself) and
declares the method's metadata:
its ``method_params`` as JSON-schema fragments (:mod:`archssl.params`: defaults, types and ranges in one
place), its pretext metric, whether it trains, whether it is patch-based, the per-batch inputs it needs,
and an optional cross-field check run before any job. Calling a descriptor builds the method:
``METHODS.get("simclr")(backbone, {"temperature": 0.2})``.
"""

from __future__ import annotations

from typing import Any, Callable

from archssl.catalog.loader import load
from archssl.params import ParamError, boolean, choice, integer, mapping, resolve
from archssl.registry import Registry

#: projection-head kinds (:mod:`archssl.methods.heads` builds them) and the keys of a head mapping
HEADS = ("none", "linear", "mlp", "fixed_random", "deep", "narrow")
HEAD_KEYS = ("kind", "hidden", "out", "bn")
#: a head mapping's defaults where a method does not set them
HEAD_DEFAULTS = {"kind": "mlp", "hidden": 2048, "out": 128, "bn": True}

#: the pretrain keys a method's params (or a variant's) may set for that method alone
PRETRAIN_OVERRIDES = ("optimizer", "epochs", "precision", "batch_size", "warmup_epochs", "final_lr", "cosine")
#: method_params keys every method accepts; the planner reads them, the method never sees them:
#: ``augment`` (merged over pretrain.augment), ``dataset`` / ``split`` (its pretraining set) and the overrides
RESERVED_KEYS = ("augment", "dataset", "split", *PRETRAIN_OVERRIDES)


def head(out: bool = True, **defaults: Any) -> dict:
    """The schema of a projection-head mapping ``{kind, hidden, out, bn}`` with the method's defaults
    (``out=False``: the head has no ``out`` key, e.g. BYOL's predictor, whose width is the projector's)."""
    d = {**HEAD_DEFAULTS, **defaults}
    props = {"kind": choice(d["kind"], HEADS), "hidden": integer(d["hidden"], ge=1)}
    if out:
        props["out"] = integer(d["out"], ge=1)
    props["bn"] = boolean(d["bn"])
    return mapping(props)


class MethodInfo:
    """One SSL method's descriptor; see the module docstring.

    ``check(params, context, where)``: raises :class:`archssl.params.ParamError` for settings that are valid
    one by one but not together; ``context`` holds the run's ``batch_size`` and ``image_size``."""

    def __init__(self, name: str, impl: "str | type", *, pretext_metric: str, params: dict | None = None,
                 trains: bool = True, patch_based: bool = False, batch_inputs: tuple[str, ...] = (),
                 check: Callable[[dict, dict, str], None] | None = None, doc: str = ""):
        self.name = name
        self.impl = impl
        self.pretext_metric = pretext_metric
        self.params = dict(params or {})
        self.trains = trains
        self.patch_based = patch_based
        self.batch_inputs = tuple(batch_inputs)
        self._check = check
        self.doc = doc
        for k in self.params:
            if k in RESERVED_KEYS:
                raise ValueError(f"method {name!r}: parameter {k!r} is reserved for the planner")

    def __repr__(self) -> str:
        return f"MethodInfo({self.name!r})"

    @property
    def defaults(self) -> dict:
        """Every method_params key the method reads, with its default."""
        return resolve({}, self.params, f"pretrain.method_params.{self.name}")

    def resolve(self, params: dict | None, where: str | None = None) -> dict:
        """``params`` with every default filled in and validated (unknown keys, types and ranges are
        :class:`~archssl.params.ParamError` naming ``where.<key>``)."""
        return resolve(params, self.params, where or f"pretrain.method_params.{self.name}")

    def check(self, params: dict, context: dict, where: str | None = None) -> None:
        """Cross-field checks of resolved ``params`` for a run with ``context`` (batch_size, image_size)."""
        if self._check is not None:
            self._check(params, context, where or f"pretrain.method_params.{self.name}")

    def load(self) -> type:
        """The implementation class (imported on first use)."""
        if isinstance(self.impl, str):
            self.impl = load(self.impl)
        return self.impl

    def __call__(self, backbone, params: dict | None = None):
        """Build the method around ``backbone`` with ``params`` (defaults filled in and checked here; a job
        spec's params are complete already: :meth:`build`)."""
        return self.build(backbone, self.resolve(params))

    def build(self, backbone, params: dict):
        """Build the method around ``backbone`` with complete, checked ``params`` (a job spec's)."""
        return self.load()(backbone, params, info=self)


METHODS: Registry[MethodInfo] = Registry("SSL method")


def register_method(info: MethodInfo) -> MethodInfo:
    """Add ``info`` to :data:`METHODS` under its name (the one registry line of a new method)."""
    METHODS.add(info.name, info)
    return info


def info_of(cls: type) -> MethodInfo:
    """The registered descriptor whose implementation is ``cls``."""
    path = f"{cls.__module__}:{cls.__qualname__}"
    for _, info in METHODS.items():
        if info.impl is cls or info.impl == path:
            return info
    raise ParamError(f"{cls.__name__} is not a registered SSL method (register_method(MethodInfo(...)))")
