"""Which results were made by other code than today's: a digest of the package modules each stage runs,
recorded in every artifact and compared by ``archssl status``.

Snakemake reruns a job when its params or inputs change; an edit to the code a job runs (a loss function,
the probe's solver) changes neither, so without this a study silently mixes results of old and new code.
Each artifact records :func:`stage_digest` of its stage (pretraining: per registered method, so an edit of
SimCLR's module marks SimCLR's backbones and not the random baseline's); :func:`stale_artifacts` lists those
whose recorded digest differs from the code installed now (or that cannot be read, or carry no content
digest: :mod:`archssl.integrity`), and :func:`status` says how to rerun them; :func:`write_status_table` is
the same as a table, the report's status section (the ``tables`` rule writes it). Torch-free (reading a
``backbone.pt`` imports torch).
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
        from archssl.catalog import METHODS

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
    """(stage digest recorded in the artifact at ``path``, a problem with the file or None). A file that
    cannot be read is reported, not raised: ``archssl status`` lists it with the command that rebuilds it."""
    try:
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            return doc.get("code_digest"), None
        if path.suffix == ".h5":
            from archssl.evaluate.featurestore import read_attrs

            return read_attrs(path).get("code_digest"), None
        import torch  # backbone.pt

        from archssl.integrity import DIGEST_KEY

        state = torch.load(path, map_location="cpu", weights_only=False)
        return state.get("code_digest"), None if DIGEST_KEY in state else "no content digest: cannot be verified"
    except Exception as e:  # noqa: BLE001 - garbage, truncated: the rerun rebuilds it
        return None, f"unreadable ({type(e).__name__}: {str(e).strip().splitlines()[0][:120] if str(e).strip() else ''})"


def study_targets(results: str | Path, runs: dict[str, str], archs, downstream) -> list[tuple[str, Path, str]]:
    """(rule, path, today's stage digest) of every artifact of a study: ``runs`` maps each run (a ``{method}``
    of the workflow) to its registered SSL method."""
    res, out = Path(results), []
    for run, method in runs.items():
        for arch in archs:
            out.append(("pretrain", res / "pretrain" / run / arch / "backbone.pt", stage_digest("pretrain", method)))
            for ds in downstream:
                out.append(("features", res / "features" / run / arch / f"{ds}.h5", stage_digest("features")))
                out.append(("probe", res / "probes" / run / arch / f"{ds}.json", stage_digest("probe")))
    return out


def plan_targets(plan) -> dict:
    """What :func:`study_targets` needs of ``plan`` (:class:`archssl.plan.Plan`), as plain JSON (the workflow
    passes it to ``archssl status --targets``)."""
    return {"results": str(plan.results), "runs": {run: job.method for run, job in plan.pretrain.items()},
            "archs": list(plan.archs), "downstream": list(plan.downstream)}


def code_digests(targets: dict) -> dict:
    """Today's stage digests of a study's runs (``targets``: :func:`plan_targets`): the workflow makes them a
    param of the rule that writes the status, so that an edit to the code reruns it."""
    return {"features": stage_digest("features"), "probe": stage_digest("probe"),
            "pretrain": {run: stage_digest("pretrain", m) for run, m in sorted(targets["runs"].items())}}


def stale_artifacts(plan_or_targets) -> list[tuple[str, Path, str]]:
    """(rule, path, why) of every existing artifact of a study (a :class:`archssl.plan.Plan` or
    :func:`plan_targets`) made by other code than today's, or that cannot be read or verified."""
    t = plan_or_targets if isinstance(plan_or_targets, dict) else plan_targets(plan_or_targets)
    stale = []
    for rule, path, today in study_targets(t["results"], t["runs"], t["archs"], t["downstream"]):
        if not path.exists():
            continue
        recorded, problem = _recorded(path)
        if problem is not None and problem.startswith("unreadable"):
            stale.append((rule, path, problem))
        elif recorded != today:
            why = "recorded no code digest (older archssl)" if recorded is None else f"code {recorded}, today {today}"
            stale.append((rule, path, why))
        elif problem is not None:
            stale.append((rule, path, problem))
    return stale


def rerun_command(paths, cores: int = 2) -> str:
    return f"snakemake --cores {cores} --forcerun {' '.join(str(p) for p in paths)}"


def status(plan_or_targets, cores: int = 2) -> str:
    """A report of the stale artifacts and the command that reruns them (and what follows from them)."""
    stale = stale_artifacts(plan_or_targets)
    if not stale:
        return "every existing result was made by the code installed now"
    lines = [f"{len(stale)} results were made by other code than today's:"]
    for rule, path, why in stale:
        lines.append(f"  {rule:9s} {path}  ({why})")
    lines.append(f"rerun them (and everything that depends on them) with:\n  {rerun_command([p for _, p, _ in stale], cores)}")
    return "\n".join(lines)


STATUS_COLUMNS = ["rule", "path", "why", "rerun"]


def write_status_table(plan_or_targets, out: Path, cores: int = 2) -> list[tuple[str, Path, str]]:
    """The report's status section: one row per stale artifact (:data:`STATUS_COLUMNS`; ``rerun`` is the
    command that reruns all of them and what depends on them); no rows when every result is current."""
    import csv
    import io

    from archssl.utils import atomic_path

    stale = stale_artifacts(plan_or_targets)
    cmd = rerun_command([p for _, p, _ in stale], cores) if stale else ""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(STATUS_COLUMNS)
    for rule, path, why in stale:
        w.writerow([rule, str(path), why, cmd])
    with atomic_path(out) as tmp:
        tmp.write_text(buf.getvalue())
    return stale
