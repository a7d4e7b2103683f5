"""The leaf of the book machinery: where things live, what a run records, what a cache key covers.

Imports nothing else of kdlib, so every other machinery module can import it without a cycle.

* Paths: the book's root, where its executions and site go (``$KDBOOK_OUT``, see :func:`output_root`),
  ``book/generated``, the cache root (``$KDBOOK_CACHE`` or ``.kdcache``).
* Provenance: commit, dirty flag, date, package versions and host of a run.
* Fingerprints: a hash of the kdlib modules a computation can depend on. A key covers the modules
  named *and every kdlib module they import, transitively* (read from the source with ``ast``, never
  by importing), so editing the scorecard's wording or the CLI keeps every cached result, while
  editing ``kernels`` invalidates exactly the results of code that imports it.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "BookError", "PACKAGE_DIR", "find_root", "output_root", "generated_dir", "html_dir", "cache_root",
    "available_notebooks",
    "executed_notebooks", "provenance", "module_closure", "module_fingerprint", "MACHINERY_OUTSIDE_KEYS",
]

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the kdlib package

# Machinery that runs or publishes results but never shapes a computed value: a key never covers it.
MACHINERY_OUTSIDE_KEYS = frozenset({
    "kdlib.book", "kdlib.book.core", "kdlib.book.cli", "kdlib.book.executor", "kdlib.book.notebooks",
    "kdlib.book.report", "kdlib.book.results", "kdlib.book.sphinxext", "kdlib.book.sweeps", "kdlib.book.coverage",
})


class BookError(RuntimeError):
    """A user-facing error of the book pipeline (bad notebook name, parameter, missing run...)."""


def find_root(start: Path | None = None) -> Path:
    """The book's root: ``$KDBOOK_ROOT``, else the nearest folder upwards holding ``_toc.yml`` and ``notebooks/``."""
    env = os.environ.get("KDBOOK_ROOT")
    candidates = [Path(env)] if env else []
    here = (start or Path.cwd()).resolve()
    candidates += [here, *here.parents, PACKAGE_DIR.parent]
    for candidate in candidates:
        if (candidate / "_toc.yml").is_file() and (candidate / "notebooks").is_dir():
            return candidate
    raise BookError("no book found: run kdbook inside the repository (a folder with _toc.yml and notebooks/)")


def output_root(root: Path) -> Path:
    """Where executed chapters and the built site go: ``$KDBOOK_OUT`` (relative to ``root``), else ``root``.

    ``make book`` leaves it unset, so the reader's book is ``book/generated`` and ``_build/html``.
    ``make test`` sets ``KDBOOK_OUT=_build/test``: the smoke executions go to
    ``_build/test/book/generated`` and their site to ``_build/test/_build/html``, and the book a
    reader built with ``make book`` is never replaced by a test build. ``kdbook build`` copies the
    hand-written sources next to a separate output (see ``notebooks.build_book``).
    """
    env = os.environ.get("KDBOOK_OUT")
    if not env:
        return root
    path = Path(env).expanduser()
    return path if path.is_absolute() else root / path


def generated_dir(root: Path) -> Path:
    """Executed chapters and generated pages: ``<output root>/book/generated``."""
    return output_root(root) / "book" / "generated"


def html_dir(root: Path) -> Path:
    """The built site: ``<output root>/_build/html``."""
    return output_root(root) / "_build" / "html"


def cache_root(root: Path) -> Path:
    """``$KDBOOK_CACHE`` if set, else ``<root>/.kdcache``: executed notebooks and sweep results live below it."""
    return Path(os.environ.get("KDBOOK_CACHE", root / ".kdcache"))


def available_notebooks(root: Path) -> dict[str, Path]:
    """Chapter sources by name (the file stem), in book order."""
    return {path.stem: path for path in sorted((root / "notebooks").glob("*.py"))}


def executed_notebooks(root: Path) -> dict[str, Path]:
    """Executed notebooks present in book/generated, by stem."""
    folder = generated_dir(root)
    paths = {stem: folder / f"{stem}.ipynb" for stem in available_notebooks(root)}
    return {stem: path for stem, path in paths.items() if path.is_file()}


def _git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def provenance(root: Path) -> dict[str, Any]:
    """Commit, dirty flag, date, package versions and host of this run."""
    import importlib.metadata as metadata

    versions = {"python": platform.python_version()}
    for package in ("torch", "numpy", "scipy", "matplotlib", "kdlib", "papermill", "jupyter-book", "distributed"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "commit": _git(root, "rev-parse", "--short=12", "HEAD"),
        "dirty": bool(_git(root, "status", "--porcelain", "--untracked-files=no")),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": versions,
        "host": platform.node(),
    }


def _module_file(module: str, package_dir: Path) -> Path | None:
    """The source file of a kdlib module name, or None if it is not a kdlib module."""
    parts = module.split(".")
    if parts[0] != "kdlib":
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(module: str, path: Path, package_dir: Path) -> set[str]:
    """kdlib modules that ``module`` imports anywhere in its source (top level or inside functions)."""
    tree = ast.parse(path.read_bytes())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from kdlib import data` is a module
    return {name for name in found if _module_file(name, package_dir) is not None}


def module_closure(modules: Iterable[str], *, package_dir: Path = PACKAGE_DIR) -> list[str]:
    """``modules`` and every kdlib module they import, transitively, minus :data:`MACHINERY_OUTSIDE_KEYS`.

    A name that is not a kdlib module (``__main__``, ``numpy``) is skipped. The parent packages that
    Python runs on the way (``kdlib/__init__.py`` for ``kdlib.kernels``) only re-export names, so they
    count only where the code imports from them (``from kdlib import ntk_kernel``), and then with all
    they import.
    """
    pending = [name for name in modules if _module_file(name, package_dir) is not None]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or name in MACHINERY_OUTSIDE_KEYS:
            continue
        seen.add(name)
        pending += sorted(_imported_modules(name, _module_file(name, package_dir), package_dir))
    return sorted(seen)


def module_fingerprint(modules: Iterable[str], *, package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 of the names and bytes of :func:`module_closure` ``(modules)``."""
    return _fingerprint(tuple(sorted(set(modules))), package_dir)


@lru_cache(maxsize=256)
def _fingerprint(modules: tuple[str, ...], package_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in module_closure(modules, package_dir=package_dir):
        digest.update(name.encode() + b"\0")
        digest.update(_module_file(name, package_dir).read_bytes())
    return digest.hexdigest()


def gpu_measurements(root: Path | None = None) -> dict[str, Any] | None:
    """The GPU timings recorded in ``benchmarks/recorded/gpu.json`` (device, date, measured values), or None.

    They were measured on a lent GPU by ``benchmarks/gpu_check.sh``; chapters quote them next to what
    they measure on their own device, so that a CPU-built book still states the `paper` profile's
    measured cost on one GPU (and says which GPU and when).
    """
    try:
        path = find_root(root) / "benchmarks" / "recorded" / "gpu.json"
    except BookError:
        return None
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def gpu_closed_form_text(root: Path | None = None) -> str:
    """One sentence with the recorded GPU timings of the closed-form algebra (Cholesky factor, every
    prefix n) that chapters 02–04 rely on, or a statement that none is recorded."""
    recorded = gpu_measurements(root)
    if recorded is None:
        return "no GPU measurement is recorded in this checkout (`benchmarks/recorded/gpu.json`)"
    risk, norms = recorded["risk_curve"], recorded["weight_change_norms"]
    return (f"on one {recorded['device']} ({recorded['date']}, float64) the transfer-risk curve R(n) for every "
            f"n up to {risk['samples']:,} on {risk['tests']:,} test inputs took {risk['seconds_kdlib']:.1f} s "
            f"(`benchmarks/bench_risk.py`; one solve per n would take "
            f"{risk['seconds_one_solve_per_n_estimated']:.0f} s), and ‖Δŵ_n‖ for every n up to "
            f"{norms['samples']:,} took {norms['seconds_kdlib']:.2f} s (`benchmarks/bench_student.py`)")
