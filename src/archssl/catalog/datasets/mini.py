"""The descriptors of the built-in mini suite, generated offline and deterministically by
:mod:`archssl.data.mini` (which documents what each task's images show): eight labelled downstream tasks and
one unlabeled pretraining pool. A task's class names are its labels, in label order."""

from __future__ import annotations

from dataclasses import dataclass

from archssl.catalog.datasets.base import DatasetInfo

_IMPL = "archssl.data.mini:MiniSource"
#: the unlabeled pretraining pool (split ``train`` only)
POOL = "pool"


@dataclass(frozen=True)
class MiniTaskInfo:
    """One labelled task: its class names (label ``i`` is ``class_names[i]``), what decides the label, and
    its metric."""

    name: str
    class_names: tuple[str, ...]
    description: str
    metric: str = "top1"


TASKS: dict[str, MiniTaskInfo] = {
    t.name: t
    for t in (
        MiniTaskInfo("digits", tuple(str(i) for i in range(10)),
                     "handwritten digits (scikit-learn), recoloured on random backgrounds"),
        MiniTaskInfo("faces", ("non-face", "face"),
                     "faces vs non-faces (skimage lfw_subset), 3 jittered crops per source image"),
        MiniTaskInfo("textures", ("brick", "grass", "gravel", "stripes", "checker", "dots", "noise", "waves"),
                     "texture photos (brick, grass, gravel) and five procedural textures"),
        MiniTaskInfo("photo_source", tuple(sorted(("astronaut", "coffee", "chelsea", "rocket", "hubble", "retina",
                                                   "ihc", "china", "flower"))),
                     "which bundled colour photo a crop comes from"),
        MiniTaskInfo("shape", ("circle", "square", "triangle", "cross", "ring"),
                     "the shape of one object on a cluttered background"),
        MiniTaskInfo("count", ("1", "2", "3", "4"), "how many objects a scene holds"),
        MiniTaskInfo("position", ("top-left", "top-right", "bottom-left", "bottom-right"),
                     "which quadrant holds the object"),
        MiniTaskInfo("orientation", ("0", "45", "90", "135"), "the angle of an elongated bar"),
    )
}

INFOS = (
    DatasetInfo(POOL, 0, _IMPL, builtin=True, description="mini suite: unlabeled pretraining pool",
                splits=("train",)),
    *(DatasetInfo(t.name, len(t.class_names), _IMPL, metric=t.metric, builtin=True,
                  description=f"mini suite: {t.description}") for t in TASKS.values()),
)
