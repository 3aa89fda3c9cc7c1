"""The patch geometry of the patch-based pretext tasks (jigsaw, relpatch): its parameters with their defaults
and ranges (:data:`PATCH_PARAMS`) and the geometry check the planner runs before any job
(:mod:`archssl.methods.patches` samples the patches)."""

from __future__ import annotations

from dataclasses import dataclass

from archssl.params import ParamError, choice, integer, number


@dataclass
class PatchConfig:
    grid: int = 3
    crop: float = 255 / 292
    jitter: float = 21 / 85
    grayscale_p: float = 2 / 3
    normalize: str = "standardize"  # or "imagenet"
    patch_size: int | None = None

    KEYS = ("grid", "crop", "jitter", "grayscale_p", "normalize", "patch_size")

    @classmethod
    def from_params(cls, c: dict) -> "PatchConfig":
        pc = cls(**{k: c[k] for k in cls.KEYS if k in c})
        if pc.normalize not in ("standardize", "imagenet"):
            raise ValueError(f"patch normalize: {pc.normalize!r}; known: standardize, imagenet")
        if not 0 < pc.crop <= 1 or not 0 <= pc.jitter < 1:
            raise ValueError("patch crop must be in (0, 1] and jitter in [0, 1)")
        return pc

    def geometry(self, size: int) -> tuple[int, int, int]:
        """(crop px, cell px, patch px) for square images of side ``size``."""
        crop = max(self.grid, int(round(self.crop * size)))
        cell = crop // self.grid
        patch = cell - int(round(self.jitter * cell))
        if patch < 1:
            raise ValueError(f"images of {size} px give {patch}-px patches; lower jitter or raise the image size")
        return crop, cell, patch


PATCH_DEFAULTS = {k: getattr(PatchConfig, k) for k in PatchConfig.KEYS}


#: the patch keys of jigsaw / relpatch, with :class:`PatchConfig`'s defaults
PATCH_PARAMS = {
    "grid": integer(PatchConfig.grid, ge=2),
    "crop": number(PatchConfig.crop, gt=0, le=1),
    "jitter": number(PatchConfig.jitter, ge=0, lt=1),
    "grayscale_p": number(PatchConfig.grayscale_p, ge=0, le=1),
    "normalize": choice(PatchConfig.normalize, ("standardize", "imagenet")),
    "patch_size": integer(PatchConfig.patch_size, ge=1, null=True),
}


def check_patches(p: dict, ctx: dict, where: str) -> None:
    """The patches of resolved params ``p`` fit the run's images (``ctx["image_size"]``)."""
    try:
        PatchConfig.from_params(p).geometry(int(ctx["image_size"]))
    except ValueError as e:
        raise ParamError(f"config key '{where}.jitter': {e} (data.image_size is {ctx['image_size']})") from None
