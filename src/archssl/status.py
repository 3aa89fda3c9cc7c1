"""``archssl status``: which results were made by other code than today's.

Snakemake reruns a job when its params or inputs change; an edit to the code a job runs (a loss function,
the probe's solver) changes neither, so without this a study silently mixes results of old and new code.
Each artifact records the code digest of its stage (:func:`archssl.plan.stages.stage_digest`; pretraining:
per registered method, so an edit of SimCLR's module marks SimCLR's backbones and not the random
baseline's); :func:`stale_artifacts` lists those whose recorded digest is not today's (nor declared
equivalent to it: :mod:`archssl.codedigest`), that cannot be read, or that carry no content digest
(:mod:`archssl.integrity`), and :func:`status` says how to rerun them; :func:`write_status_table` is the same
as a table, the report's status section (the ``tables`` rule writes it).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from archssl.codedigest import is_current
from archssl.evaluate.featurestore import read_attrs
from archssl.integrity import DIGEST_KEY
from archssl.layout import Layout
from archssl.plan.stages import digest_key, stage_digest
from archssl.utils import atomic_path

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
            return read_attrs(path).get("code_digest"), None
        import torch  # backbone.pt: only when there are backbones to read

        state = torch.load(path, map_location="cpu", weights_only=False)
        return state.get("code_digest"), None if DIGEST_KEY in state else "no content digest: cannot be verified"
    except Exception as e:  # noqa: BLE001 - garbage, truncated: the rerun rebuilds it
        return None, f"unreadable ({type(e).__name__}: {str(e).strip().splitlines()[0][:120] if str(e).strip() else ''})"


def study_targets(results: str | Path, runs: dict[str, str], archs, downstream
                  ) -> list[tuple[str, Path, str, str]]:
    """(rule, path, today's stage digest, its key in :data:`archssl.codedigest.EQUIVALENT`) of every artifact
    of a study: ``runs`` maps each run (a ``{method}`` of the workflow) to its registered SSL method."""
    lay, out = Layout(results), []
    for run, method in runs.items():
        for arch in archs:
            out.append(("pretrain", Path(lay.backbone(run, arch)), stage_digest("pretrain", method),
                        digest_key("pretrain", method)))
            for ds in downstream:
                out.append(("features", Path(lay.features(run, arch, ds)), stage_digest("features"), "features"))
                out.append(("probe", Path(lay.probe(run, arch, ds)), stage_digest("probe"), "probe"))
    return out


def stale_artifacts(plan_or_targets) -> list[tuple[str, Path, str]]:
    """(rule, path, why) of every existing artifact of a study (a :class:`archssl.plan.Plan` or
    :meth:`archssl.plan.Plan.status_targets`) made by other code than today's, or that cannot be read or verified."""
    t = plan_or_targets if isinstance(plan_or_targets, dict) else plan_or_targets.status_targets()
    stale = []
    for rule, path, today, key in study_targets(t["results"], t["runs"], t["archs"], t["downstream"]):
        if not path.exists():
            continue
        recorded, problem = _recorded(path)
        if problem is not None and problem.startswith("unreadable"):
            stale.append((rule, path, problem))
        elif not is_current(key, recorded, today):
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
