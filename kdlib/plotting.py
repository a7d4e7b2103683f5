"""One look for every figure: colour-blind-safe palette, labelled axes, exported and glued.

``publish(fig, name)`` saves the figure as PNG and SVG under ``book/generated/figures`` and
glues it into the notebook so a ``{glue:figure}`` directive in the chapter's markdown can
place it with a numbered caption.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["PALETTE", "use_style", "figure", "publish", "publish_text", "colors"]

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


def _figure_dir() -> Path:
    from kdlib.book import find_root, generated_dir

    try:
        return generated_dir(find_root()) / "figures"
    except Exception:  # outside the book (a plain script): next to the working directory
        return Path.cwd() / "figures"


def publish(fig: Figure, name: str, *, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Save ``fig`` as ``name``.{png,svg} for download and glue it as ``name`` for the chapter."""
    folder = _figure_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    paths = []
    for extension in formats:
        path = folder / f"{name}.{extension}"
        fig.savefig(path, bbox_inches="tight")
        paths.append(path)
    try:
        from myst_nb import glue
    except ImportError:
        plt.show()
    else:
        glue(name, fig, display=False)
        plt.close(fig)
    return paths


def publish_text(name: str, text: str) -> None:
    """Glue a short markdown text (e.g. the profile name) for ``{glue:md}`` in captions."""
    from IPython.display import Markdown
    from myst_nb import glue

    glue(name, Markdown(text), display=False)
