"""Sphinx extension of the book: a self-contained, offline HTML build.

Enabled in ``_config.yml`` (``sphinx.extra_extensions: [kdlib.book.sphinxext]``). It serves MathJax 3
from the book itself instead of a CDN: the built book then renders its mathematics without a
network (a reader offline, an archived copy, the headless browser test with the network closed),
and the MathJax version is pinned by the Python environment rather than by whatever a CDN serves.

The MathJax files come from the ``sphinx-mathjax-offline`` package (MathJax 3.2.2); they are copied
to ``_build/html/_static/mathjax`` when the build finishes. Without that package the build keeps
Sphinx's default (the CDN).

It also removes duplicated script tags from every page (see ``_drop_duplicate_scripts``), and
gives the equations of the book's numbered chapters a ``B`` (see ``_prefix_book_equations``): the
book's own equation (B2.1) of its chapter 2 can then never be read as the paper's Eq. 2, whose
number the theory page keeps as the paper has it.
"""

from __future__ import annotations

import importlib.util
import posixpath
from pathlib import Path
from typing import Any

__all__ = ["setup", "mathjax_source", "BOOK_PREFIX"]

#: Prefix of the book's own equation numbers (figures say "Book fig." through ``numfig_format``).
BOOK_PREFIX = "B"

#: The bundle with every TeX extension compiled in, so no extension is fetched lazily at run time.
MATHJAX_ENTRY = "mathjax/tex-chtml-full.js"


def mathjax_source() -> Path | None:
    """Folder of the MathJax 3 distribution shipped by ``sphinx-mathjax-offline``, if installed."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static" / "mathjax"
    return folder if (folder / Path(MATHJAX_ENTRY).name).is_file() else None


def _use_local_mathjax(app: Any, config: Any) -> None:
    if mathjax_source() is not None:
        config.mathjax_path = MATHJAX_ENTRY


def _copy_mathjax(app: Any, exception: Exception | None) -> None:
    from sphinx.util.fileutil import copy_asset

    source = mathjax_source()
    if exception is None and source is not None and app.builder.format == "html":
        # The speech-rule engine (sre) is only loaded by the accessibility explorer, which the book
        # does not enable; everything else (fonts, lazily loaded components) is kept.
        copy_asset(str(source), str(Path(app.outdir) / "_static" / "mathjax"),
                   excluded=lambda path: posixpath.normpath(path).split("/")[0] == "sre")


def _drop_duplicate_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                            doctree: Any) -> None:
    """Keep one copy of each script tag.

    sphinx-thebe registers its inline configuration script each time documents are read, and a
    jupyter-book build reads them in more than one pass; two ``const THEBE_JS_URL`` declarations
    are a JavaScript SyntaxError on every page (the browser test's console check caught it).
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in scripts:
        # Same file and attributes (inline body included) is the same script, whatever its priority.
        # An inline script's filename is None or "" depending on who added it.
        key = (str(getattr(script, "filename", script) or ""), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _prefix_book_equations(app: Any, env: Any) -> list[str]:
    """Number the equations of every numbered chapter ``(B<chapter>.<n>)``.

    Sphinx numbers a chapter's equations ``(<chapter>.<n>)``; in this book chapter 2 is an appendix
    on the NTK, so its "(2.2)" read as the paper's Eq. 2. Runs after Sphinx assigned the numbers
    (``env-get-updated``, after its own toctree collector); the numbers are strings joined with
    ``.`` wherever Sphinx shows them (the equation, ``{eq}`` references), so the prefix shows in
    both. Documents without a section number (the theory page, which numbers the paper's
    equations as the paper does) keep theirs.
    """
    for docname, numbers in env.toc_fignumbers.items():
        if not env.toc_secnumbers.get(docname) or not numbers.get("displaymath"):
            continue
        numbers["displaymath"] = {
            key: value if not value or str(value[0]).startswith(BOOK_PREFIX) else (f"{BOOK_PREFIX}{value[0]}",
                                                                                  *value[1:])
            for key, value in numbers["displaymath"].items()
        }
    return []


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _use_local_mathjax)
    app.connect("env-get-updated", _prefix_book_equations, priority=900)
    app.connect("build-finished", _copy_mathjax)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
