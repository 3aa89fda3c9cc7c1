"""The architecture-family extension point.

A family is a :class:`Family` subclass registered in :data:`FAMILIES`. It declares its spec fields (defaults,
validators, documentation), cross-field checks, the readable parts of the id, the tap names, and its net
builder as an implementation path (:attr:`Family.builder`, ``"archssl.archs.nets.resnet:build_resnet"``):
:func:`archssl.archs.build` loads it with :func:`archssl.catalog.load`, so the nets import the spec helpers
from here and nothing here imports a net (or torch).

Parameter and FLOP counts come from :meth:`Family.trace`, a closed-form walk over the layers that mirrors the
builder and runs in microseconds without torch (the tests check it against the built module and against
``torch.utils.flop_counter``). A new family may skip ``trace``: the counts are then measured on the built
module on the meta device (no memory, no init cost, but torch is imported) by the functions that
:data:`MEASURED` names.

Adding a family = one new module under ``archssl/catalog/archs/families/`` with ``FAMILIES.add("name", ...)``
plus its import line in ``archssl/catalog/archs/families/__init__.py``, and its builder under
``archssl/archs/nets/``.

FLOPs convention: ``2 x multiply-accumulates`` of convolutions and linear layers for one image, which is what
``torch.utils.flop_counter.FlopCounterMode`` reports. Batch norm, activations, pooling, padding and residual
additions are not counted.
"""

from __future__ import annotations

import copy
from typing import Any

from archssl.catalog.archs.spec import ArchSpecError, Field, check_field, make_id
from archssl.catalog.loader import load
from archssl.registry import Registry

#: the implementation paths of the counts of a family without a closed-form :meth:`Family.trace`: each
#: ``f(family, spec[, image_size])`` builds the family's net on the meta device (torch)
MEASURED = {
    "params": "archssl.archs.measure:count_params",
    "flops": "archssl.archs.measure:count_flops",
    "out_dim": "archssl.archs.measure:out_dim",
}


class Tracer:
    """Closed-form bookkeeping of parameters and FLOPs, one square image of side ``image_size``.

    Every method takes the input spatial size and returns the output spatial size, so branches (shortcuts) are
    traced by calling it twice from the same size. ``params`` counts trainable parameters (BN buffers excluded),
    ``macs`` multiply-accumulates of convolutions and linear layers.
    """

    def __init__(self, image_size: int = 224):
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        self.image_size = image_size
        self.params = 0
        self.macs = 0
        self.out_dim = 0

    def conv(self, cin: int, cout: int, k: int, size: int, stride: int = 1, padding: int | None = None,
             groups: int = 1, bias: bool = False) -> int:
        padding = (k - 1) // 2 if padding is None else padding
        out = (size + 2 * padding - k) // stride + 1
        if out < 1:
            raise ValueError(f"image too small: a {k}x{k} conv (stride {stride}) got a {size}x{size} input")
        weights = cout * (cin // groups) * k * k
        self.params += weights + (cout if bias else 0)
        self.macs += weights * out * out
        return out

    def bn(self, channels: int) -> None:
        self.params += 2 * channels

    def linear(self, fin: int, fout: int, bias: bool = True) -> None:
        self.params += fin * fout + (fout if bias else 0)
        self.macs += fin * fout

    def pool(self, size: int, k: int, stride: int, padding: int = 0, ceil_mode: bool = False) -> int:
        span = size + 2 * padding - k
        out = (-(-span // stride) if ceil_mode else span // stride) + 1
        if ceil_mode and (out - 1) * stride >= size + padding:  # PyTorch drops a last window that starts in padding
            out -= 1
        if out < 1:
            raise ValueError(f"image too small: a {k}x{k} pool (stride {stride}) got a {size}x{size} input")
        return out

    @property
    def flops(self) -> int:
        return 2 * self.macs


class Family:
    """Base class of an architecture family. Subclasses set ``name``, ``fields``, ``builder`` and implement
    the hooks."""

    name: str = ""
    #: the net builder, ``"module:function"``: ``function(normalized spec)`` returns a
    #: :class:`archssl.archs.nets.backbone.Backbone` (loaded by :func:`archssl.archs.build`)
    builder: str = ""
    #: one line shown by ``archs families`` and in error messages
    description: str = ""
    #: spec fields in display order; ``family`` itself is implicit
    fields: dict[str, Field] = {}

    # -- spec ---------------------------------------------------------------------------------------------

    def normalize(self, spec: dict) -> dict:
        """Validate ``spec`` (a mapping with ``family`` = this family), fill defaults, return the canonical dict."""
        unknown = [k for k in spec if k != "family" and k not in self.fields]
        if unknown:
            known = ", ".join(self.fields)
            raise ArchSpecError(f"unknown field for family {self.name!r}; known fields: {known}",
                                field=str(unknown[0]), family=self.name)
        out: dict[str, Any] = {"family": self.name}
        for key, field in self.fields.items():
            value = copy.deepcopy(spec[key]) if key in spec else copy.deepcopy(field.default)
            try:
                out[key] = check_field(key, field, value)
            except ArchSpecError as e:
                raise e.at(family=self.name) from None
        try:
            self.check(out)
        except ArchSpecError as e:
            raise e.at(family=self.name) from None
        return out

    def check(self, spec: dict) -> None:
        """Cross-field checks on a spec whose fields are individually valid; may canonicalise in place."""

    def id_parts(self, spec: dict) -> list[str]:
        """Readable parts of the id (family tag and key knobs); the content hash is appended by :meth:`arch_id`."""
        return [self.name]

    def arch_id(self, spec: dict) -> str:
        return make_id(self.id_parts(spec), spec)

    def stage_fields(self) -> list[str]:
        return [k for k, f in self.fields.items() if f.per_stage]

    # -- structure ----------------------------------------------------------------------------------------

    def tap_names(self, spec: dict) -> list[str]:
        """Names accepted by ``Backbone.forward_taps``, shallow to deep, ending with ``prelogits``."""
        raise NotImplementedError

    def trace(self, spec: dict, t: Tracer) -> None:
        """Walk the layers of ``spec`` through ``t`` (closed-form counts); set ``t.out_dim``."""
        raise NotImplementedError

    # -- counts -------------------------------------------------------------------------------------------

    def _traced(self, spec: dict, image_size: int) -> Tracer | None:
        t = Tracer(image_size)
        try:
            self.trace(spec, t)
        except NotImplementedError:
            return None
        return t

    def count_params(self, spec: dict) -> int:
        # Parameter counts never depend on the image size (adaptive pooling keeps the FC input fixed).
        t = self._traced(spec, 224)
        if t is not None:
            return t.params
        return load(MEASURED["params"])(self, spec)

    def count_flops(self, spec: dict, image_size: int) -> int:
        t = self._traced(spec, image_size)
        if t is not None:
            return t.flops
        return load(MEASURED["flops"])(self, spec, image_size)

    def out_dim(self, spec: dict) -> int:
        t = self._traced(spec, 224)
        if t is not None:
            return t.out_dim
        return load(MEASURED["out_dim"])(self, spec)


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """Round ``v`` to a multiple of ``divisor``, not going down by more than 10% (torchvision's rule)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


FAMILIES: Registry[Family] = Registry("architecture family")

__all__ = ["FAMILIES", "Family", "MEASURED", "Tracer", "make_divisible"]
