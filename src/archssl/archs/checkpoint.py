"""The checked reader of a pretrained backbone file (``backbone.pt``, written by
:func:`archssl.train.loop.pretrain`): the stages that take a trained network (features, export) read it here,
through :func:`archssl.integrity.load_sealed`, never from the training loop."""

from __future__ import annotations

from pathlib import Path

from archssl.archs import build
from archssl.integrity import CorruptArtifact, load_sealed


def load_backbone(path: Path, device="cpu"):
    """Rebuild the backbone saved by :func:`archssl.train.loop.pretrain` and load its weights, after checking
    the file (:func:`archssl.integrity.load_sealed`: readable, the content its digest says, finite weights; a
    file without a digest, from before digests, is accepted with a warning). A file that fails raises
    :class:`archssl.integrity.CorruptArtifact` naming it (the caller decides whether to set it aside).
    Returns (backbone on ``device``, the file's dict)."""
    path = Path(path)
    state, _ = load_sealed(path, "archssl backbone file", finite=("state_dict",), required=("spec", "state_dict"))
    try:
        net = build(state["spec"])
        net.load_state_dict(state["state_dict"])
    except Exception as e:  # noqa: BLE001 - a spec or weights that do not fit: the same clear message
        raise CorruptArtifact(f"{path}: not a valid archssl backbone file ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200]})") from e
    return net.to(device), state


__all__ = ["load_backbone"]
