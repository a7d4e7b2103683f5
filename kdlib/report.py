"""Pages generated from the executed notebooks: the claims scorecard and the execution status."""

from __future__ import annotations

import json
from pathlib import Path

from kdlib import claims as _claims
from kdlib.book import executed_notebooks, generated_dir

__all__ = ["all_claims", "write_generated_pages", "scorecard_markdown", "status_markdown"]


def _title(notebook: Path) -> str:
    data = json.loads(notebook.read_text())
    for cell in data.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return notebook.stem


def all_claims(root: Path) -> list[tuple[str, str, _claims.Claim]]:
    """(notebook stem, chapter title, claim) for every claim in every executed notebook."""
    rows = []
    for stem, path in executed_notebooks(root).items():
        title = _title(path)
        rows.extend((stem, title, claim) for claim in _claims.collect(path))
    return rows


def scorecard_markdown(root: Path) -> str:
    rows = all_claims(root)
    paper = [c for _, _, c in rows if c.kind == "paper"]
    checks = [c for _, _, c in rows if c.kind == "check"]
    counts = {v: sum(c.verdict == v for c in paper) for v in _claims.PAPER_VERDICTS}
    lines = [
        "# Claims scorecard",
        "",
        "Every number the book states is computed when its chapter runs. The paper's claims get an",
        "honest verdict; our own correctness checks must pass for a chapter to build.",
        "",
        f"**Paper claims:** {len(paper)} — {counts['reproduced']} reproduced, {counts['partly']} partly, "
        f"{counts['not reproduced']} not reproduced. **Correctness checks:** {len(checks)}, "
        f"{sum(c.ok for c in checks)} passing.",
        "",
    ]
    by_chapter: dict[str, list[_claims.Claim]] = {}
    titles: dict[str, str] = {}
    for stem, title, claim in rows:
        by_chapter.setdefault(stem, []).append(claim)
        titles[stem] = title
    for stem, chapter_claims in by_chapter.items():
        lines += [f"## {titles[stem]}", "", f"Computed in {{doc}}`{stem}` at profile "
                  f"`{chapter_claims[0].profile}`.", "", _claims.markdown_table(chapter_claims), ""]
    return "\n".join(lines)


def status_markdown(root: Path) -> str:
    lines = [
        "# Execution status",
        "",
        "How each chapter of this build was executed (papermill, outside Sphinx).",
        "",
        "| chapter | profile | device | wall time (s) | peak memory (MiB) | date | commit | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for stem, path in executed_notebooks(root).items():
        meta = json.loads(path.read_text()).get("metadata", {}).get("kdbook", {})
        commit = meta.get("commit", "") + (" (dirty)" if meta.get("dirty") else "")
        cells = [f"{{doc}}`{stem}`", *(str(meta.get(k, "?")) for k in ("profile", "device", "wall_s", "peak_rss_mb",
                                                                           "date")), f"`{commit or '?'}`",
                 str(meta.get("status", "?"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_generated_pages(root: Path) -> None:
    folder = generated_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scorecard.md").write_text(scorecard_markdown(root))
    (folder / "status.md").write_text(status_markdown(root))
