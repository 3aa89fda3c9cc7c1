"""Which results were made by other code than today's: a digest of the package modules each stage runs,
recorded in every artifact and compared by ``archssl status``.

Snakemake reruns a job when its params or inputs change; an edit to the code a job runs (a loss function,
the probe's solver) changes neither, so without this a study silently mixes results of old and new code.
Each artifact records :func:`stage_digest` of its stage (pretraining: per registered method, so an edit of
SimCLR's module marks SimCLR's backbones and not the random baseline's); :func:`stale_artifacts` lists those
whose recorded digest differs from the code installed now, and :func:`status` says how to rerun them.
Torch-free.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent

#: the package modules (files or folders, relative to the package) each stage's result depends on
STAGE_MODULES = {
    "pretrain": ("train", "archs", "data", "methods/base.py", "methods/common.py", "methods/heads.py",
                 "methods/patches.py", "methods/patchcfg.py", "methods/info.py", "methods/__init__.py",
                 "plan.py", "params.py", "utils.py"),
    "features": ("evaluate/features.py", "evaluate/featurestore.py", "archs", "data", "methods/patches.py",
                 "methods/patchcfg.py", "train/augment.py", "utils.py"),
    "probe": ("evaluate/probes", "evaluate/probe_job.py", "evaluate/featurestore.py", "utils.py"),
}


def _files(rel: str) -> list[Path]:
    p = PACKAGE / rel
    return sorted(p.rglob("*.py")) if p.is_dir() else [p]


@functools.lru_cache(maxsize=None)
def stage_digest(stage: str, method: str | None = None) -> str:
    """A 16-hex digest of the source of every module ``stage`` runs (for ``pretrain``, plus the module of
    registered ``method``'s implementation)."""
    files = [f for rel in STAGE_MODULES[stage] for f in _files(rel)]
    if stage == "pretrain" and method is not None:
        from archssl.methods import METHODS

        impl = METHODS.get(method).impl
        module = impl.partition(":")[0] if isinstance(impl, str) else impl.__module__
        if module.startswith("archssl."):
            files.append(PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py"))
    h = hashlib.blake2b(digest_size=8)
    for f in sorted(set(files)):
        h.update(f.relative_to(PACKAGE).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _recorded(path: Path) -> tuple[str | None, str | None]:
    """(stage digest recorded in the artifact at ``path``, its SSL method)."""
    if path.suffix == ".json":
        doc = json.loads(path.read_text())
        return doc.get("code_digest"), None
    if path.suffix == ".h5":
        from archssl.evaluate.featurestore import read_attrs

        return read_attrs(path).get("code_digest"), None
    import torch  # backbone.pt

    state = torch.load(path, map_location="cpu", weights_only=False)
    return state.get("code_digest"), state.get("method")


def stale_artifacts(plan) -> list[tuple[str, Path, str]]:
    """(rule, path, why) of every existing artifact of ``plan`` (:class:`archssl.plan.Plan`) made by other code
    than today's."""
    res, out = Path(plan.results), []
    for run, job in plan.pretrain.items():
        for arch in plan.archs:
            out.append(("pretrain", res / "pretrain" / run / arch / "backbone.pt", stage_digest("pretrain", job.method)))
            for ds in plan.downstream:
                out.append(("features", res / "features" / run / arch / f"{ds}.h5", stage_digest("features")))
                out.append(("probe", res / "probes" / run / arch / f"{ds}.json", stage_digest("probe")))
    stale = []
    for rule, path, today in out:
        if not path.exists():
            continue
        recorded, _ = _recorded(path)
        if recorded != today:
            why = "recorded no code digest (older archssl)" if recorded is None else f"code {recorded}, today {today}"
            stale.append((rule, path, why))
    return stale


def status(plan, cores: int = 2) -> str:
    """A report of the stale artifacts and the command that reruns them (and what follows from them)."""
    stale = stale_artifacts(plan)
    if not stale:
        return "every existing result was made by the code installed now"
    lines = [f"{len(stale)} results were made by other code than today's:"]
    for rule, path, why in stale:
        lines.append(f"  {rule:9s} {path}  ({why})")
    files = " ".join(str(p) for _, p, _ in stale)
    lines.append(f"rerun them (and everything that depends on them) with:\n  snakemake --cores {cores} --forcerun {files}")
    return "\n".join(lines)
