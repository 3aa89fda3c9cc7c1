"""The patch geometry of the patch-based pretext tasks (torch-free: the planner checks it before any job runs;
:mod:`archssl.methods.patches` samples the patches)."""

from __future__ import annotations

from dataclasses import dataclass


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
