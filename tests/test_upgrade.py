"""A study finished by an earlier release stays finished: the restructuring of the package (the catalog, the
plan package, the layout, the stage table) reruns none of its pretraining, features or probes, `archssl
status` marks none of its results stale (its code digests are declared equivalent in
:data:`archssl.codedigest.EQUIVALENT`), and a fresh build gives byte-identical tables.

The earlier release is read from this repository's history (``git archive``) and run from its own source
tree; the test is skipped where the history is not there (a shallow clone or an exported tree).
"""

import filecmp
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from archssl.codedigest import EQUIVALENT, RELEASES

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow

#: what a finished study may still plan after an upgrade: the cheap aggregates (their params hold the code
#: digests of today, so the status table is remade)
AGGREGATES = {"study_manifest", "tables", "figures", "provenance", "all"}


def _export(commit: str, dest: Path) -> bool:
    """The tree of ``commit`` extracted into ``dest``; False when this checkout lacks the commit."""
    ok = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True)
    if ok.returncode != 0:
        return False
    archive = dest.with_suffix(".tar")
    subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), commit], cwd=ROOT, check=True)
    with tarfile.open(archive) as t:
        t.extractall(dest, filter="data")
    archive.unlink()
    return True


def _tables(work: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((work / "results" / "tables").glob("*.csv"))}


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_a_study_finished_by_an_earlier_release_reruns_nothing_and_nothing_is_stale(release, tmp_path_factory,
                                                                                   finished):
    from support.studies import MICRO
    from support.workflow import planned, snakemake, write_config

    old = tmp_path_factory.mktemp("release")
    if not _export(RELEASES[release], old / "tree"):
        pytest.skip(f"release {release} ({RELEASES[release]}) is not in this checkout's history")
    tree = old / "tree"

    # the study, finished by the earlier release's own code and Snakefile
    work = tmp_path_factory.mktemp("finished_before")
    write_config(work, MICRO)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(tree / "src")}
    cmd = [str(BIN / "snakemake"), "--snakefile", str(tree / "Snakefile"), "--directory", str(work),
           "--configfile", str(work / "micro.yaml"), "--cores", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-4000:]

    # today's code: nothing but the aggregates to do, nothing stale
    rules = {rule for rule, _ in planned(work)}
    assert rules <= AGGREGATES, sorted(rules)
    status = subprocess.run([str(BIN / "archssl"), "status", "micro.yaml"], cwd=work, capture_output=True,
                            text=True, env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    assert status.returncode == 0, status.stderr[-3000:]
    assert status.stdout.strip() == "every existing result was made by the code installed now", status.stdout
    assert EQUIVALENT, "no declared equivalences: an upgraded study would be stale"

    # the aggregates rerun with today's code give the same tables, byte for byte
    before = _tables(work)
    snakemake(work, "--cores", "2")
    assert _tables(work) == before
    assert (work / "results" / "status.csv").read_text().strip() == "rule,path,why,rerun"

    # and the study built from scratch with today's code (the session's micro study) gives the same tables as
    # the earlier release's
    assert _tables(finished) == before
    mismatch = filecmp.dircmp(finished / "results" / "tables", work / "results" / "tables").diff_files
    assert mismatch == [], mismatch
    shutil.rmtree(old, ignore_errors=True)
