"""One look for every figure: colour-blind-safe palette, labelled axes, exported and glued.

``publish(fig, name)`` saves the figure as PNG and SVG under
``book/generated/figures/<chapter>/`` and glues it into the notebook so a ``{glue:figure}``
directive in the chapter's markdown can place it with a numbered caption. It also displays a
line of download links and carries a record of the figure (its name, the paper figure it
reproduces or, for a figure of ours, the one it accompanies, the profile, and both files) as an
``application/vnd.kdlib.figure+json`` output.

Captions name the paper's figures so that the book's own numbering ("Book fig. 2.1") is never
read as the paper's: a caption starts with "Paper Fig. N, regenerated" or with "Companion figure".
``kdbook build`` re-exports the files from these records (so a cached execution exports the
same files) and lists every figure on the book's Figures page.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from kdlib.book import claims
from kdlib.book.core import find_root, generated_dir

__all__ = ["PALETTE", "FIGURE_MIME_TYPE", "use_style", "figure", "publish", "publish_text", "colors", "figure_folder"]

FIGURE_MIME_TYPE = "application/vnd.kdlib.figure+json"

# Okabe & Ito's colour-blind-safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def use_style() -> None:
    plt.rcParams.update({
        "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "figure.dpi": 110,
        "savefig.dpi": 150,
        "font.size": 10,
        "legend.fontsize": 8,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })


def colors(count: int) -> list[str]:
    """``count`` palette colours (cycled when more are needed)."""
    return [PALETTE[i % len(PALETTE)] for i in range(count)]


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.2, **kwargs):
    """A figure with ``nrows × ncols`` axes of the book's size and style."""
    use_style()
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs)


class _Paths(list):
    """The paths ``publish`` wrote; shows nothing when it ends a notebook cell (no local paths in the book)."""

    def _ipython_display_(self) -> None:
        pass


def figure_folder(chapter: str | None) -> str:
    """Folder of a chapter's exported figures, relative to ``book/generated`` (``figures/<chapter>``)."""
    return f"figures/{chapter}" if chapter else "figures"


def _figure_dir(chapter: str | None) -> Path:
    try:
        return generated_dir(find_root()) / figure_folder(chapter)
    except Exception:  # outside the book (a plain script): next to the working directory
        return Path.cwd() / "figures"


def publish(
    fig: Figure, name: str, *, formats: Sequence[str] = ("png", "svg"), paper: str | None = None,
    companion: str | None = None,
) -> list[Path]:
    """Save ``fig`` as ``name``.{png,svg} for download and glue it as ``name`` for the chapter.

    Args:
        fig: the finished figure.
        name: glue key; also the file name, with characters other than letters, digits, ``-``,
            ``_`` and ``.`` replaced by ``-``.
        formats: file formats to export; PNG and SVG by default (SVG scales without loss).
        paper: the paper figure this regenerates, e.g. ``"Fig. 1"``.
        companion: for a figure of ours, the paper figure it accompanies, e.g. ``"Fig. S6"``. With
            neither, the Figures page reads the caption: "Paper Fig. N …" or "Companion figure …".
    Returns:
        The paths written.
    Raises:
        ValueError: ``name`` is empty, or both ``paper`` and ``companion`` are given.
    """
    if not name:
        raise ValueError("name must be a non-empty glue key, got ''")
    if paper and companion:
        raise ValueError("a figure regenerates a paper figure (paper=) or accompanies one (companion=), not both")

    stem = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)

    chapter = os.environ.get("KDBOOK_NOTEBOOK")
    folder = _figure_dir(chapter)
    folder.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    paths = _Paths()
    for extension in formats:
        path = folder / f"{stem}.{extension}"
        fig.savefig(path, bbox_inches="tight")
        paths.append(path)
    try:
        from IPython import get_ipython
        from myst_nb import glue
    except ImportError:
        plt.show()
        return paths
    if get_ipython() is None:
        plt.close(fig)
        return paths
    glue(name, fig, display=False)
    plt.close(fig)
    _display_record(name, chapter, paper, companion, claims._profile, paths)
    return paths


def _display_record(name: str, chapter: str | None, paper: str | None, companion: str | None,
                    profile: str | None, paths: list[Path]) -> None:
    """Download links (markdown) plus the figure's record with its files (JSON), as one output."""
    from IPython.display import display

    files = {}
    for path in paths:
        data = path.read_bytes()
        files[path.suffix[1:]] = data.decode() if path.suffix == ".svg" else base64.b64encode(data).decode()
    folder = figure_folder(chapter)
    links = " · ".join(f"{{download}}`{path.suffix[1:].upper()} <{folder}/{path.name}>`" for path in paths)
    label = f"(Paper {paper}) " if paper else f"(companion to Paper {companion}) " if companion else ""
    markdown = f"Figure `{name}` {label}at profile `{profile}`, download: {links}"
    record = {"name": name, "file": paths[0].stem if paths else name, "chapter": chapter, "paper": paper,
              "companion": companion, "profile": profile, "files": files}
    display({"text/markdown": markdown, FIGURE_MIME_TYPE: record}, raw=True)


def publish_text(name: str, text: str) -> None:
    """Glue a short markdown text (e.g. the profile name) for ``{glue:md}`` in captions.

    Raises:
        ValueError: the text holds a ``$``: glued markdown is parsed without dollar math, so the page
            would show the raw TeX; write the symbols in Unicode (ρ, Ī, β/2, ∈).
    """
    if "$" in text:
        raise ValueError(f"publish_text({name!r}): glued markdown does not render $…$ math; write it in Unicode: "
                         f"{text[:80]!r}")
    from IPython.display import Markdown
    from myst_nb import glue

    glue(name, Markdown(text), display=False)
