"""Pages generated from the executed notebooks: claims scorecard, figures, execution status.

``write_generated_pages(root)`` runs at ``kdbook build``, after every chapter was executed
(papermill writes ``book/generated/<chapter>.ipynb``) and before Sphinx renders the book. It

* writes ``book/generated/scorecard.md`` (every claim of every chapter, with a link to the
  output where it is computed), ``figures.md`` (every regenerated figure with its paper figure,
  profile, downloads and the chapter's claims about it) and ``status.md`` (how each chapter
  was executed);
* exports every figure's PNG and SVG to ``book/generated/figures/<chapter>/`` from the records
  that ``plotting.publish`` left in the notebook, so a cached execution exports the same files;
* inserts into each executed chapter a generated header: the profile it ran at, links to the
  source and the executed notebook, the paper citation, and a warning when the chapter's
  ``paper`` profile needs a GPU.

A chapter declares what its profiles need in its Jupytext header::

    # jupyter:
    #   kdbook_chapter:
    #     gpu: [paper]                 # profiles that need a GPU
    #     gpu_note: "about 20 minutes on one H100; days on a CPU"

Pages iterate over whatever chapters exist (``_toc.yml`` order), nothing is hard-coded.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kdlib.book import claims as _claims
from kdlib.book.core import available_notebooks, executed_notebooks, generated_dir
from kdlib.book.plotting import FIGURE_MIME_TYPE, figure_folder

__all__ = [
    "Chapter", "Figure", "chapters", "claim_rows", "scorecard_markdown", "claims_text",
    "figures_markdown", "status_markdown", "chapter_header", "write_generated_pages", "export_figures",
    "chapter_requirements",
]

HEADER_CELL_ID = "kdbook-generated-header"
_FIG_PATTERN = re.compile(r"\bFig(?:ure)?\.?\s*(S?\d+)", re.IGNORECASE)


@dataclass
class Figure:
    """One regenerated figure: its glue name, record (from ``plotting.publish``) and caption."""

    name: str
    chapter: str
    file: str  # file name without extension (the glue name, made safe)
    paper: str | None
    profile: str | None
    files: dict[str, str]
    label: str | None = None  # the ``:name:`` of its ``{glue:figure}``
    caption: str = ""


@dataclass
class Chapter:
    """An executed chapter: title, run record, claims, figures and declared requirements."""

    stem: str
    title: str
    notebook: Path
    part: str | None
    run: dict[str, Any]
    claims: list[_claims.Claim]
    figures: list[Figure] = field(default_factory=list)
    requirements: dict[str, Any] = field(default_factory=dict)

    @property
    def profile(self) -> str:
        return str(self.run.get("profile") or next((c.profile for c in self.claims if c.profile), "?"))


# --------------------------------------------------------------------------- reading notebooks


def _source_text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _title(data: dict[str, Any], fallback: str) -> str:
    for cell in data.get("cells", []):
        if cell.get("cell_type") == "markdown" and cell.get("id") != HEADER_CELL_ID:
            for line in _source_text(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _toc_entries(root: Path) -> list[tuple[str, str | None]]:
    """(file, part caption) for every entry of ``_toc.yml``, in order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text()) or {}
    found: list[tuple[str, str | None]] = []

    def walk(entries: list[Any], caption: str | None) -> None:
        for entry in entries or []:
            if "file" in entry:
                found.append((str(entry["file"]), caption))
            walk(entry.get("sections", []), caption)

    for part in toc.get("parts", []):
        walk(part.get("chapters", []), part.get("caption"))
    walk(toc.get("chapters", []), None)
    return found


def chapter_requirements(source: Path) -> dict[str, Any]:
    """The ``kdbook_chapter`` entry of a chapter's Jupytext header (``{}`` when absent)."""
    import jupytext

    value = jupytext.read(source).metadata.get("kdbook_chapter") or {}
    if not isinstance(value, dict):
        raise ValueError(f"{source.name}: kdbook_chapter must be a mapping, got {value!r}")
    gpu = value.get("gpu", [])
    if isinstance(gpu, str):
        value["gpu"] = [gpu]
    return value


def _glued_text(data: dict[str, Any], key: str) -> str | None:
    for cell in data.get("cells", []):
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook", {})
            if scrap.get("name") == key:
                prefix = scrap.get("mime_prefix", "")
                bundle = output.get("data", {})
                for mime in ("text/markdown", "text/plain"):
                    if prefix + mime in bundle:
                        text = bundle[prefix + mime]
                        return ("".join(text) if isinstance(text, list) else text).strip().strip("'")
    return None


def _glue_figures(data: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    """``{glue:figure}`` directives of the markdown cells: name → (label, caption)."""
    found: dict[str, tuple[str | None, str]] = {}
    pattern = re.compile(r"^(`{3,}|:{3,})\{glue:figure\}\s+(\S+)\s*$(.*?)^\1\s*$", re.MULTILINE | re.DOTALL)
    for cell in data.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        for match in pattern.finditer(_source_text(cell)):
            body = match.group(3).strip("\n").splitlines()
            options = {}
            while body and body[0].startswith(":"):
                key, _, value = body.pop(0)[1:].partition(":")
                options[key.strip()] = value.strip()
            found[match.group(2)] = (options.get("name"), "\n".join(body).strip())
    return found


def _figures(stem: str, data: dict[str, Any]) -> list[Figure]:
    glued = _glue_figures(data)
    figures: dict[str, Figure] = {}
    for cell in data.get("cells", []):
        for output in cell.get("outputs", []):
            record = output.get("data", {}).get(FIGURE_MIME_TYPE)
            if record is None:
                continue
            label, caption = glued.get(record["name"], (None, ""))
            paper = record.get("paper")
            if not paper and (match := _FIG_PATTERN.search(caption)):
                paper = f"Fig. {match.group(1).upper()}"
            figures[record["name"]] = Figure(
                name=record["name"], chapter=stem, file=record.get("file", record["name"]), paper=paper,
                profile=record.get("profile"),
                files=record.get("files", {}), label=label, caption=caption)
    return list(figures.values())


def chapters(root: Path) -> list[Chapter]:
    """Every executed chapter, in ``_toc.yml`` order (chapters missing from the toc last)."""
    executed = executed_notebooks(root)
    sources = available_notebooks(root)
    order = {Path(file).name: (index, caption) for index, (file, caption) in enumerate(_toc_entries(root))}
    stems = sorted(executed, key=lambda stem: (order.get(stem, (len(order), None))[0], stem))
    found = []
    for stem in stems:
        data = json.loads(executed[stem].read_text())
        found.append(Chapter(
            stem=stem, title=_title(data, stem), notebook=executed[stem], part=order.get(stem, (0, None))[1],
            run=data.get("metadata", {}).get("kdbook", {}), claims=_claims.collect(executed[stem]),
            figures=_figures(stem, data), requirements=chapter_requirements(sources[stem]),
        ))
    return found


# --------------------------------------------------------------------------- claims


def claim_rows(found: list[Chapter]) -> list[dict[str, Any]]:
    """One row per claim, shared by the scorecard page and ``kdbook claims``."""
    return [
        {"chapter": chapter, "claim": claim, "id": claim.id, "kind": claim.kind, "where": claim.where,
         "statement": claim.statement, "measured": _claims._fmt(claim.measured),
         "expected": _claims.expected_text(claim), "verdict": claim.verdict,
         "profile": claim.profile or chapter.profile}
        for chapter in found for claim in chapter.claims
    ]


def _counts(claims: list[_claims.Claim]) -> dict[str, int]:
    paper = [c for c in claims if c.kind == "paper"]
    checks = [c for c in claims if c.kind == "check"]
    counts = {verdict: sum(c.verdict == verdict for c in paper) for verdict in _claims.PAPER_VERDICTS}
    return {"paper": len(paper), **counts, "checks": len(checks), "passing": sum(c.ok for c in checks)}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _summary(claims: list[_claims.Claim]) -> str:
    n = _counts(claims)
    return (f"{_plural(n['paper'], 'paper claim')}: {n['reproduced']} reproduced, {n['partly']} partly, "
            f"{n['not reproduced']} not reproduced. {_plural(n['checks'], 'correctness check')}, "
            f"{n['passing']} passing.")


def _doc(chapter: Chapter) -> str:
    return f"{{doc}}`{_claims.cell(chapter.title)} <{chapter.stem}>`"


def scorecard_markdown(root: Path, found: list[Chapter] | None = None) -> str:
    """The scorecard page: counts per chapter, then every claim linked to where it is computed."""
    found = chapters(root) if found is None else found
    every = [claim for chapter in found for claim in chapter.claims]
    lines = [
        "# Claims scorecard",
        "",
        "Every number the book states is computed when its chapter runs. The paper's claims get an",
        "honest verdict (*reproduced*, *partly*, *not reproduced*); our own correctness checks must pass",
        "for a chapter to build. Each claim's id links to the output in its chapter where it is computed;",
        "the {doc}`figures` page shows each regenerated figure next to the claims about it.",
        "`kdbook claims` prints the same table in a terminal.",
        "",
        f"**In total:** {_summary(every)}",
        "",
        "## By chapter",
        "",
        "| chapter | profile | paper claims | reproduced | partly | not reproduced | checks passing |",
        "|---|---|---|---|---|---|---|",
    ]
    for chapter in found:
        n = _counts(chapter.claims)
        lines.append(f"| {_doc(chapter)} | `{chapter.profile}` | {n['paper']} | {n['reproduced']} | {n['partly']} | "
                     f"{n['not reproduced']} | {n['passing']} / {n['checks']} |")
    lines += ["", "## Every claim", "",
              "Grouped by chapter; the claim's id opens the output where it is computed.", ""]
    for chapter in found:
        lines += [f"### {chapter.title}", "",
                  f"Computed in {_doc(chapter)} at profile `{chapter.profile}`. {_summary(chapter.claims)}", ""]
        if not chapter.claims:
            lines += ["This chapter records no claims.", ""]
            continue
        lines += ["| claim | verdict | paper | statement | measured | expected |", "|---|---|---|---|---|---|"]
        for row in claim_rows([chapter]):
            claim = row["claim"]
            lines.append(
                f"| {{ref}}`{claim.id} <{_claims.anchor(claim)}>` | {_claims.badge(row['verdict'])} | "
                f"{_claims.cell(row['where'])} | {_claims.cell(row['statement'])} | {row['measured']} | "
                f"{_claims.cell(row['expected'])} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def claims_text(root: Path, found: list[Chapter] | None = None) -> str:
    """The scorecard as a plain-text table for the terminal (``kdbook claims``)."""
    found = chapters(root) if found is None else found
    rows = claim_rows(found)
    columns = ["chapter", "claim", "kind", "verdict", "measured", "expected", "profile", "paper", "statement"]
    table = [[row["chapter"].stem, row["id"], row["kind"], row["verdict"], row["measured"], row["expected"],
              row["profile"], row["where"], row["statement"]] for row in rows]
    widths = [max([len(name), *(len(line[i]) for line in table)]) for i, name in enumerate(columns)]
    out = ["  ".join(name.ljust(width) for name, width in zip(columns, widths, strict=True)).rstrip(),
           "  ".join("-" * width for width in widths)]
    out += ["  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
            for line in table]
    out += ["", "In total: " + _summary([row["claim"] for row in rows])]
    for chapter in found:
        out.append(f"  {chapter.stem} (profile {chapter.profile}): {_summary(chapter.claims)}")
    return "\n".join(out)


# --------------------------------------------------------------------------- figures


def _caption_for_page(caption: str, data: dict[str, Any]) -> str:
    """A chapter's figure caption, usable on another page: glue roles replaced by their values."""
    def value(match: re.Match[str]) -> str:
        return _glued_text(data, match.group(1)) or match.group(1)

    return re.sub(r"\{glue(?::\w+)?\}`([^`]+)`", value, caption)


def figures_markdown(root: Path, found: list[Chapter] | None = None) -> str:
    """The Figures page: each regenerated figure, the paper figure and profile, files, claims."""
    found = chapters(root) if found is None else found
    lines = [
        "# Figures",
        "",
        "Every figure of the book, regenerated by the chapter that shows it. Each entry names the paper",
        "figure it reproduces and the profile it was computed at, links to the figure in its chapter,",
        "lists the chapter's claims about that figure with their verdicts, and offers the figure as PNG",
        "and SVG. The exported files live in `book/generated/figures/<chapter>/` of the repository and",
        "under `_downloads/` of the built site.",
        "",
    ]
    if not any(chapter.figures for chapter in found):
        lines.append("No chapter has published a figure yet.")
    for chapter in found:
        if not chapter.figures:
            continue
        data = json.loads(chapter.notebook.read_text())
        lines += [f"## {chapter.title}", ""]
        for figure in chapter.figures:
            folder = figure_folder(chapter.stem)
            paper = figure.paper or "Our own figure"
            where = (f"{{ref}}`see it in the chapter <{figure.label}>`" if figure.label
                     else f"{{doc}}`see it in the chapter <{chapter.stem}>`")
            lines += [f"### {paper}: `{figure.name}`", ""]
            if "png" in figure.files:
                lines += [f"```{{image}} {folder}/{figure.file}.png", f":alt: {paper}, regenerated ({figure.name})",
                          ":width: 560px", "```", ""]
            caption = _caption_for_page(figure.caption, data)
            if caption:
                lines += [caption, ""]
            downloads = " · ".join(f"{{download}}`{ext.upper()} <{folder}/{figure.file}.{ext}>`"
                                   for ext in figure.files)
            what = (f"Reproduces **{figure.paper}** of {{cite:t}}`ji2020knowledge`" if figure.paper
                    else "A figure of ours, with no counterpart in the paper, computed")
            lines += [f"{what} at profile `{figure.profile}`; {where}. Files: {downloads}.", ""]
            related = _related_claims(figure, chapter.claims)
            if related:
                lines += ["Claims about this figure:", ""]
                lines += [f"- {{ref}}`{c.id} <{_claims.anchor(c)}>` ({_claims.cell(c.where)}): {c.statement} — "
                          f"**{_claims.badge(c.verdict)}**" for c in related]
                lines.append("")
    return "\n".join(lines) + "\n"


def _related_claims(figure: Figure, claims: list[_claims.Claim]) -> list[_claims.Claim]:
    if not figure.paper:
        return []
    number = figure.paper.split()[-1].upper()
    return [c for c in claims if any(m.group(1).upper() == number for m in _FIG_PATTERN.finditer(c.where))]


def export_figures(found: list[Chapter], folder: Path) -> list[Path]:
    """Write every figure's files (from its record) to ``folder/figures/<chapter>/<name>.<ext>``."""
    written = []
    for chapter in found:
        for figure in chapter.figures:
            target = folder / figure_folder(chapter.stem)
            target.mkdir(parents=True, exist_ok=True)
            for ext, payload in figure.files.items():
                path = target / f"{figure.file}.{ext}"
                data = payload.encode() if ext == "svg" else base64.b64decode(payload)
                if not path.is_file() or path.read_bytes() != data:
                    path.write_bytes(data)
                written.append(path)
    return written


# --------------------------------------------------------------------------- status


def _short_doc(chapter: Chapter) -> str:
    """A narrow link to a chapter for wide tables: its file name."""
    return f"{{doc}}`{chapter.stem} <{chapter.stem}>`"


def _status_cells(chapter: Chapter) -> list[str]:
    run = chapter.run
    commit = f"`{str(run.get('commit') or '?')[:8]}`" + (" dirty" if run.get("dirty") else "")
    date = str(run.get("date", "?")).replace("T", " ")[:16]
    wall = f"{run['wall_s']:.1f} s" if isinstance(run.get("wall_s"), int | float) else "?"
    memory = f"{run['peak_rss_mb']:.0f} MiB" if isinstance(run.get("peak_rss_mb"), int | float) else "?"
    status = {"ok": "✓ ok", "failed": "✗ failed"}.get(run.get("status", "?"), str(run.get("status", "?")))
    parameters = ", ".join(f"`{k}={v!r}`" for k, v in (run.get("parameters") or {}).items()) or "defaults"
    device = f"`{run.get('device', '?')}`"
    if run.get("device_used") and run.get("device_used") != run.get("device"):
        device += f" → `{run['device_used']}`"
    where = " on ".join(str(run[key]) for key in ("executor", "host") if run.get(key))
    if where:
        device += f" ({where})"
    return [_short_doc(chapter), f"`{run.get('profile', '?')}`", device, parameters, f"{wall}, {memory}",
            f"{date} UTC, {commit}", status]


def status_markdown(root: Path, found: list[Chapter] | None = None) -> str:
    """The execution status page: one row per chapter, then the software versions of the runs."""
    found = chapters(root) if found is None else found
    lines = [
        "# Execution status",
        "",
        "Every chapter of this build was executed by `kdbook run` (papermill) before Sphinx rendered it;",
        "each row is read from the record the run stamped into its notebook. A chapter taken from the",
        "execution cache shows the run that produced it. Wall time is the whole notebook; peak memory",
        "is the resident memory of its kernel; *dirty* marks a run from a working tree with uncommitted",
        "changes.",
        "",
        "| chapter | profile | device (where) | parameters | wall time, peak memory | run | status |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(_status_cells(chapter)) + " |" for chapter in found]
    failed = [chapter for chapter in found if chapter.run.get("status") not in (None, "ok")]
    if failed:
        lines += ["", "## Failures", ""]
        for chapter in failed:
            error = str(chapter.run.get("error") or "failed").splitlines()[0].replace("`", "'")
            lines.append(f"- {_doc(chapter)}: `{_claims.cell(error)}`")
    versions = {chapter.stem: chapter.run.get("versions") or {} for chapter in found}
    packages = sorted({name for table in versions.values() for name in table})
    if packages:
        lines += ["", "## Software", "", "| package | version |", "|---|---|"]
        for package in packages:
            seen: dict[str, list[str]] = {}
            for stem, table in versions.items():
                seen.setdefault(table.get(package, "?"), []).append(stem)
            if len(seen) == 1:
                lines.append(f"| {package} | `{next(iter(seen))}` |")
            else:  # chapters ran with different versions: say which ran with which
                cell = "; ".join(f"`{version}` ({', '.join(stems)})" for version, stems in seen.items())
                lines.append(f"| {package} | {cell} |")
    gpu = [chapter for chapter in found if chapter.requirements.get("gpu")]
    lines += ["", "## Hardware the profiles need", ""]
    if gpu:
        lines += [f"- {_doc(c)}: a GPU for profile(s) {', '.join(f'`{p}`' for p in c.requirements['gpu'])}"
                  + (f" ({c.requirements['gpu_note']})" if c.requirements.get("gpu_note") else "") for c in gpu]
        lines.append("")
        lines.append("Every other chapter runs on a CPU at every profile.")
    else:
        lines.append("Every chapter runs on a CPU at every profile.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- chapter header


def chapter_header(chapter: Chapter) -> str:
    """The generated admonitions at the top of a chapter: how it was computed, and GPU needs.

    Colon fences, because a backtick fence's title may not contain backticks.
    """
    run = chapter.run
    wall = f", {run['wall_s']:.1f} s" if isinstance(run.get("wall_s"), int | float) else ""
    n = _counts(chapter.claims)
    parts = [
        f":::{{admonition}} Computed at profile `{chapter.profile}`",
        ":class: note",
        "",
        "This chapter re-derives and re-computes part of {cite:t}`ji2020knowledge`. Every figure and",
        f"number below was computed when this notebook ran at profile `{chapter.profile}` on device",
        f"`{run.get('device', '?')}`{wall} (details on the {{doc}}`status` page).",
        f"Its {_plural(n['paper'], 'paper claim')} and {_plural(n['checks'], 'correctness check')} are collected",
        "on the {doc}`scorecard`; its figures on the",
        "{doc}`figures` page.",
        "",
        f"Source: {{download}}`{chapter.stem}.py </notebooks/{chapter.stem}.py>` (Jupytext) · "
        f"{{download}}`executed notebook <{chapter.stem}.ipynb>`. "
        f"Re-run: `kdbook run {chapter.stem} --profile paper`.",
        ":::",
    ]
    gpu = chapter.requirements.get("gpu") or []
    if gpu:
        profiles = ", ".join(f"`{p}`" for p in gpu)
        note = chapter.requirements.get("gpu_note")
        parts += [
            "",
            f":::{{admonition}} The {profiles} profile needs a GPU",
            ":class: warning",
            "",
            f"At the sizes of the {profiles} profile this chapter needs a CUDA GPU"
            + (f" ({note})" if note else "") + ":",
            f"`kdbook run {chapter.stem} --profile {gpu[0]} --device cuda`. "
            "The `smoke` and `quick` profiles run on a CPU.",
            ":::",
        ]
    return "\n".join(parts)


def _insert_header(chapter: Chapter) -> None:
    """Insert (or replace) the generated header cell after the chapter's title cell."""
    data = json.loads(chapter.notebook.read_text())
    cells = [cell for cell in data.get("cells", []) if cell.get("id") != HEADER_CELL_ID]
    position = next((i + 1 for i, cell in enumerate(cells) if cell.get("cell_type") == "markdown"), 0)
    cells.insert(position, {"cell_type": "markdown", "id": HEADER_CELL_ID,
                            "metadata": {"tags": ["kdbook-generated"]}, "source": chapter_header(chapter)})
    data["cells"] = cells
    chapter.notebook.write_text(json.dumps(data, indent=1))


# --------------------------------------------------------------------------- all pages


def write_generated_pages(root: Path) -> None:
    """Export figures, add the chapter headers and write scorecard, figures and status pages."""
    folder = generated_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    found = chapters(root)
    export_figures(found, folder)
    for chapter in found:
        _insert_header(chapter)
    (folder / "scorecard.md").write_text(scorecard_markdown(root, found))
    (folder / "figures.md").write_text(figures_markdown(root, found))
    (folder / "status.md").write_text(status_markdown(root, found))
