"""A digest of what code computes, not of where it lives: :func:`digest` of a set of package modules.

Snakemake reruns a job when its params or inputs change; an edit to the code a job runs (a loss function,
the probe's solver) changes neither, so every artifact records the digest of the code its stage ran, and
``archssl status`` compares it with today's (:mod:`archssl.status`; the modules per stage are in the stage
table, :mod:`archssl.plan.stages`).

The digest is taken over the code's syntax tree, statement by statement, with what does not compute left
out: docstrings, comments, formatting, import statements and ``__all__``. The top-level statements of all the
modules are hashed as one sorted multiset, without file names, so moving a function from one module of a
stage to another, reordering definitions, or editing documentation leaves the digest as it was; changing a
line of code changes it.

A change that alters the code but not what it computes (a rename, a moved call) may be *declared*
equivalent in :data:`EQUIVALENT`: the digests that results were recorded with, listed under the digest the
code has today, count as today's. A declaration holds only while the code's digest is the one it is listed
under: the next real change to the code makes those results stale again.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

#: the package folder whose modules are digested (tests point it at an edited copy)
PACKAGE = Path(__file__).resolve().parent

#: the commits whose results today's code is declared to reproduce (their code digests are in
#: :data:`EQUIVALENT`); tests/test_upgrade.py builds a study with each and checks that today's code reruns
#: nothing of it, marks nothing stale and gives byte-identical tables
RELEASES = {"before-catalog": "9e1b80cd9b5780db08af8c3dd7d64482524944bb"}

#: per stage key (``pretrain:<method>``, ``features``, ``probe``), today's digest -> the digests results were
#: recorded with that are declared to stand for the same computation. The entries below: "before-catalog"
#: (the digests of file bytes that release recorded), for the move of the code into the catalog, the plan
#: package, the layout, the runtime and distributed modules, with each method's collectives in its own module
#: (weights, probe results and tables unchanged: tests/test_upgrade.py).
EQUIVALENT: dict[str, dict[str, tuple[str, ...]]] = {
    "features": {"9614ebbf6678e638": ("64b3dad401d9d1b5",)},
    "pretrain:byol": {"0b40b6afbdc43f86": ("2017a92c8bd0ceca",)},
    "pretrain:exemplar": {"3b79f1ad11e74443": ("3f5747da13284d39",)},
    "pretrain:instdisc": {"cb3c458e0b3bd749": ("21a2809e3d43c8d7",)},
    "pretrain:jigsaw": {"973cdd0dfecb6e7b": ("416f7fb3612101d4",)},
    "pretrain:moco": {"6dfbe70c8010ccb3": ("adcf628739017e17",)},
    "pretrain:random": {"e84d2baf6fa88d98": ("ca35a6fb099e8020",)},
    "pretrain:relpatch": {"9bac503b26659b45": ("84a6f0f88229f9dc",)},
    "pretrain:rotation": {"1638012e82c5cee7": ("a2f866226cd73d68",)},
    "pretrain:simclr": {"ac5ab2fdeb0045ba": ("509e89eda8f64afe",)},
    "pretrain:supervised": {"517f5a6d2f148bd6": ("f3870cab37e5e9e2",)},
    "probe": {"c2b59ec9c6176ebe": ("d4ead55224f95c4b",)},
}


class _Strip(ast.NodeTransformer):
    """Removes docstrings and import statements (an import binds a name: what it computes is where the name
    is used); a body left empty becomes ``pass``."""

    def _body(self, node):
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        node.body = body or [ast.Pass()]
        return node

    visit_Module = visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _body

    def visit_Import(self, node):
        return None

    visit_ImportFrom = visit_Import


def _is_all(stmt: ast.stmt) -> bool:
    return isinstance(stmt, (ast.Assign, ast.AnnAssign)) and any(
        isinstance(t, ast.Name) and t.id == "__all__" for t in (stmt.targets if isinstance(stmt, ast.Assign)
                                                                  else [stmt.target]))


def statements(source: str) -> list[str]:
    """The normalised top-level statements of a module's ``source`` (see the module docstring)."""
    tree = _Strip().visit(ast.parse(source))
    return [ast.dump(s, annotate_fields=False) for s in tree.body
            if not isinstance(s, ast.Pass) and not _is_all(s)]


def files(rels: Iterable[str], package: Path | None = None) -> list[Path]:
    """The ``.py`` files of package-relative modules or folders ``rels`` (missing ones are skipped)."""
    root = package or PACKAGE
    out: set[Path] = set()
    for rel in rels:
        p = root / rel
        if p.is_dir():
            out.update(p.rglob("*.py"))
        elif p.is_file():
            out.add(p)
    return sorted(out)


def statement_digests(source: str) -> list[str]:
    """A digest per normalised top-level statement of ``source``."""
    return [hashlib.blake2b(s.encode(), digest_size=16).hexdigest() for s in statements(source)]


def _cache_file() -> Path:
    root = os.environ.get("ARCHSSL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "archssl")
    return Path(root) / "code-digests-v1.json"


class _FileCache:
    """The statement digests of each file, by (path, mtime, size): parsing every module of the package takes
    about half a second, and Snakemake's start-up needs the digests of every stage. Kept in memory and in
    the user's cache folder (``ARCHSSL_CACHE_DIR``, else ``$XDG_CACHE_HOME/archssl``); a cache that cannot
    be read or written is ignored."""

    def __init__(self):
        self.entries: dict[str, list] | None = None
        self.dirty = False

    def _load(self) -> dict:
        if self.entries is None:
            try:
                self.entries = json.loads(_cache_file().read_text())
                if not isinstance(self.entries, dict):
                    self.entries = {}
            except (OSError, ValueError):
                self.entries = {}
        return self.entries

    def get(self, path: Path) -> list[str]:
        st = path.stat()
        key, stamp = str(path), [st.st_mtime_ns, st.st_size]
        entries = self._load()
        hit = entries.get(key)
        if isinstance(hit, list) and len(hit) == 2 and hit[0] == stamp:
            return hit[1]
        value = statement_digests(path.read_text())
        entries[key] = [stamp, value]
        self.dirty = True
        return value

    def save(self) -> None:
        if not self.dirty or self.entries is None:
            return
        target = _cache_file()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".code-digests-")
            with os.fdopen(fd, "w") as f:
                json.dump(self.entries, f)
            os.replace(tmp, target)
            self.dirty = False
        except OSError:
            pass


_CACHE = _FileCache()


def digest(rels: Iterable[str], package: Path | None = None) -> str:
    """A 16-hex digest of what the modules ``rels`` (package-relative files or folders) compute."""
    parts: list[str] = []
    for f in files(rels, package):
        parts.extend(_CACHE.get(f))
    _CACHE.save()
    h = hashlib.blake2b(digest_size=8)
    for s in sorted(parts):
        h.update(s.encode())
        h.update(b"\0")
    return h.hexdigest()


def is_current(key: str, recorded: str | None, today: str) -> bool:
    """Whether a result recorded with ``recorded`` was made by the code whose digest is ``today`` (equal, or
    declared equivalent under ``key`` in :data:`EQUIVALENT`)."""
    return recorded == today or (recorded is not None and recorded in EQUIVALENT.get(key, {}).get(today, ()))
