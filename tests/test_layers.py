"""The package's structure: the layers of ``.importlinter`` hold (checked by import-linter itself), every
module of the package is in a layer, and no package imports one that imports it back.

Static analysis of the source (grimp builds the import graph, imports inside functions included): no torch.
"""

import configparser
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("archssl")


def layers() -> list[list[str]]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / ".importlinter")
    text = cfg["importlinter:contract:layers"]["layers"]
    return [[m.strip() for m in line.split("|")] for line in text.strip().splitlines()]


def test_the_import_contracts_hold():
    r = subprocess.run([str(BIN / "lint-imports"), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "broken" not in r.stdout.lower().replace("0 broken", ""), r.stdout[-3000:]


def test_every_module_of_the_package_is_in_a_layer(graph):
    """A new top-level module or package must be given a layer (else the contract would not see it)."""
    declared = {m for layer in layers() for m in layer}
    top = {m for m in graph.find_children("archssl") if m != "archssl.schemas"}  # package data, no code
    assert top - declared == set(), f"not in any layer of .importlinter: {sorted(top - declared)}"
    assert declared - top == set(), f"layers name modules that do not exist: {sorted(declared - top)}"


def _packages(graph) -> list[str]:
    return sorted(m for m in graph.modules if graph.find_children(m))


def test_no_package_imports_one_that_imports_it_back(graph):
    """At every level of the tree: of two sibling modules or packages, at most one imports the other (an
    import chain through their parent's other children counts)."""
    loops = []
    for parent in _packages(graph):
        children = sorted(graph.find_children(parent))
        for i, a in enumerate(children):
            for b in children[i + 1:]:
                ab = graph.find_shortest_chain(a, b, as_packages=True)
                ba = graph.find_shortest_chain(b, a, as_packages=True)
                if ab and ba:
                    loops.append(f"{a} <-> {b}: {' -> '.join(ab)} ; {' -> '.join(ba)}")
    assert loops == [], "\n".join(loops)


def test_the_layer_check_catches_an_upward_import(tmp_path):
    """The contract is not vacuous: a copy of the package whose planning imports the training loop fails it."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "archssl", src / "archssl", ignore=shutil.ignore_patterns("__pycache__"))
    layout = src / "archssl" / "layout.py"
    layout.write_text(layout.read_text() + "\n\ndef _upward():\n    from archssl.train import loop  # noqa: F401\n")
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    env = {"PYTHONPATH": str(src), "PATH": str(BIN)}
    r = subprocess.run([str(BIN / "lint-imports"), "--no-cache", "--no-logo"], cwd=tmp_path, capture_output=True,
                       text=True, env=env)
    assert r.returncode != 0, r.stdout[-3000:]
    assert "archssl.layout is not allowed to import archssl.train" in r.stdout, r.stdout[-3000:]


def test_the_snakefile_and_the_rule_files_are_formatted():
    """`snakefmt --check` (its settings in pyproject.toml) leaves the workflow files as they are."""
    files = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    r = subprocess.run([str(BIN / "snakefmt"), "--check", *map(str, files)], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
