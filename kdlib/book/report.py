"""Pages generated from the executed notebooks: claims scorecard, figures, execution status, coverage.

``write_generated_pages(root)`` runs at ``kdbook build``, after every chapter was executed
(papermill writes ``book/generated/<chapter>.ipynb``) and before Sphinx renders the book. It

* writes ``book/generated/scorecard.md`` (the coverage of the paper, then every claim of every
  chapter by kind, each linked to the output where it is computed), ``figures.md`` (every
  regenerated figure with the paper figure it reproduces or accompanies, profile, downloads and the
  chapter's claims about it), ``status.md`` (how each chapter was executed, and why one failed) and
  ``coverage.md`` (the coverage map of :mod:`kdlib.book.coverage`, included by the introduction);
* exports every figure's PNG and SVG to ``book/generated/figures/<chapter>/`` from the records
  that ``plotting.publish`` left in the notebook, so a cached execution exports the same files;
* inserts into each executed chapter a generated header: the profile it ran at, links to the
  source and the executed notebook, the paper citation, a warning when the chapter's ``paper``
  profile needs a GPU, and, for a chapter whose execution failed, a FAILED notice with the error;
  and gives every ``{glue:figure}`` without ``:alt:`` an alt text from its caption.

A chapter that failed is marked FAILED on its page, on the scorecard, on the status page and in
the coverage map; ``kdbook build`` refuses to publish it unless asked to (``--publish-failed``).

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
from kdlib.book import coverage as _coverage
from kdlib.book.core import available_notebooks, executed_notebooks, generated_dir
from kdlib.book.plotting import FIGURE_MIME_TYPE, figure_folder

__all__ = [
    "Chapter", "Figure", "chapters", "claim_rows", "scorecard_markdown", "claims_text",
    "figures_markdown", "status_markdown", "chapter_header", "write_generated_pages", "export_figures",
    "chapter_requirements", "coverage_rows", "coverage_markdown", "plain_text",
]

HEADER_CELL_ID = "kdbook-generated-header"
_FIG_PATTERN = re.compile(r"\bFig(?:ure)?\.?\s*(S?\d+)", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Figure:
    """One regenerated figure: its glue name, record (from ``plotting.publish``) and caption."""

    name: str
    chapter: str
    file: str  # file name without extension (the glue name, made safe)
    paper: str | None  # the paper figure it regenerates, "Fig. 1"
    profile: str | None
    files: dict[str, str]
    label: str | None = None  # the ``:name:`` of its ``{glue:figure}``
    caption: str = ""
    companion: str | None = None  # for a figure of ours: the paper figure it accompanies, "Fig. S6"
    alt: str = ""  # the ``:alt:`` its chapter gives it, if any

    @property
    def heading(self) -> str:
        """How the Figures page names it: never a bare "Fig. N", which reads as the paper's."""
        if self.paper:
            return f"Paper {self.paper}, regenerated"
        if self.companion:
            return f"Companion figure to Paper {self.companion}"
        return "Companion figure"


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
    error_output: dict[str, Any] | None = None  # the notebook's first error output, if any
    in_toc: bool = True

    @property
    def profile(self) -> str:
        return str(self.run.get("profile") or next((c.profile for c in self.claims if c.profile), "?"))

    @property
    def failed(self) -> bool:
        """Its execution stopped with an error (recorded by ``kdbook run``, or an error in its outputs)."""
        return self.run.get("status") == "failed" or self.error_output is not None

    @property
    def failure(self) -> str:
        """The error a reader should see, one line: ``ClaimFailed: correctness check failed: …``.

        Read from the failing cell's own error output (name and message), not from papermill's
        wrapper, whose message starts with an empty line; the run record's text is the fallback.
        """
        if not self.failed:
            return ""
        if self.error_output is not None:
            name = str(self.error_output.get("ename") or "Error")
            value = _ANSI.sub("", str(self.error_output.get("evalue") or "")).strip()
            line = next((part.strip() for part in value.splitlines() if part.strip()), "")
            return f"{name}: {line}" if line else name
        error = _ANSI.sub("", str(self.run.get("error") or ""))
        lines = [line.strip() for line in error.splitlines() if line.strip()]
        meaningful = [line for line in lines if not set(line) <= set("-=") and not line.endswith(":")]
        return (meaningful or lines or ["the execution failed without a message"])[0]


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


_GLUE_FIGURE = re.compile(r"^(`{3,}|:{3,})\{glue:figure\}\s+(\S+)\s*$(.*?)^\1\s*$", re.MULTILINE | re.DOTALL)


def _glue_figures(data: dict[str, Any]) -> dict[str, tuple[str | None, str, dict[str, str]]]:
    """``{glue:figure}`` directives of the markdown cells: name → (label, caption, options)."""
    found: dict[str, tuple[str | None, str, dict[str, str]]] = {}
    for cell in data.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        for match in _GLUE_FIGURE.finditer(_source_text(cell)):
            body = match.group(3).strip("\n").splitlines()
            options = {}
            while body and body[0].startswith(":"):
                key, _, value = body.pop(0)[1:].partition(":")
                options[key.strip()] = value.strip()
            found[match.group(2)] = (options.get("name"), "\n".join(body).strip(), options)
    return found


def _paper_figure_of(caption: str) -> tuple[str | None, str | None]:
    """(paper, companion) read off a caption that says which it is.

    A caption opening with "Companion" accompanies the first paper figure it names; one opening
    with "Paper Fig. N" or "Fig. N" regenerates it. Any other caption names no paper figure: a
    figure that merely mentions one is not filed as that figure.
    """
    text = plain_text(caption).strip()
    first = _FIG_PATTERN.search(text)
    if text.lower().startswith("companion"):
        return None, (f"Fig. {first.group(1).upper()}" if first else None)
    opening = re.match(r"(?:paper\s+)?fig(?:ure)?\.?\s*(S?\d+)", text, re.IGNORECASE)
    return (f"Fig. {opening.group(1).upper()}" if opening else None), None


def _figures(stem: str, data: dict[str, Any]) -> list[Figure]:
    glued = _glue_figures(data)
    figures: dict[str, Figure] = {}
    for cell in data.get("cells", []):
        for output in cell.get("outputs", []):
            record = output.get("data", {}).get(FIGURE_MIME_TYPE)
            if record is None:
                continue
            label, caption, options = glued.get(record["name"], (None, "", {}))
            paper, companion = record.get("paper"), record.get("companion")
            if not paper and not companion:
                paper, companion = _paper_figure_of(caption)
            figures[record["name"]] = Figure(
                name=record["name"], chapter=stem, file=record.get("file", record["name"]), paper=paper,
                companion=companion, profile=record.get("profile"), files=record.get("files", {}), label=label,
                caption=caption, alt=options.get("alt", ""))
    return list(figures.values())


def _error_output(data: dict[str, Any]) -> dict[str, Any] | None:
    for cell in data.get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return output
    return None


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
            error_output=_error_output(data), in_toc=stem in order,
        ))
    return found


# --------------------------------------------------------------------------- plain text


# TeX a reader of an alt text should see as a symbol; other commands lose their backslash.
_TEX_SYMBOLS = {
    "rho": "ρ", "sigma": "σ", "Theta": "Θ", "theta": "θ", "Delta": "Δ", "delta": "δ", "alpha": "α", "beta": "β",
    "phi": "φ", "Phi": "Φ", "eta": "η", "mu": "μ", "lambda": "λ", "pi": "π", "varepsilon": "ε", "epsilon": "ε",
    "top": "ᵀ", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "sim": "~", "approx": "≈", "cdot": "·", "times": "×",
    "infty": "∞", "to": "→", "ne": "≠", "pm": "±",
}
_TEX_DROP = ("mathcal", "mathbb", "mathrm", "mathbf", "operatorname", "hat", "bar", "tilde", "left", "right",
             "bigl", "bigr", "Bigl", "Bigr", "tfrac", "frac", "sqrt", "lVert", "rVert", "mid")


def _tex_to_text(tex: str) -> str:
    def command(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _TEX_SYMBOLS:
            return _TEX_SYMBOLS[name]
        return "" if name in _TEX_DROP else name

    text = re.sub(r"\\([A-Za-z]+)", command, tex)
    text = re.sub(r"\\[,;:! ]", " ", text)
    return text.replace("{", "").replace("}", "").replace("\\", "")


def plain_text(markdown: str, data: dict[str, Any] | None = None) -> str:
    """A caption as plain text (alt text, headings): roles, math delimiters and emphasis removed.

    ``{glue:md}`key``` becomes the glued value when ``data`` (the notebook) is given; other roles
    keep their text (``{doc}`title <target>``` → ``title``); ``$\\rho = 1$`` → ``ρ = 1``.
    """
    def role(match: re.Match[str]) -> str:
        name, text = match.group(1), match.group(2)
        if name.startswith("glue"):
            value = _glued_text(data, text) if data is not None else None
            return (value or "").strip("`")
        if name in ("eq", "numref", "cite:t", "cite:p", "cite"):
            return ""
        return text.split("<")[0].strip() if "<" in text else text

    text = re.sub(r"\{([\w:-]+)\}`([^`]*)`", role, markdown)
    text = re.sub(r"\$([^$]*)\$", lambda match: _tex_to_text(match.group(1)), text)
    text = text.replace("$", "").replace("\\", "").replace("**", "").replace("`", "")
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"\s+([,.;:)])", r"\1", text).strip()


def _first_sentence(text: str, limit: int = 240) -> str:
    match = re.search(r"(?<=[.!?])\s", text[20:])
    sentence = text[: 20 + match.start()] if match else text
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rsplit(" ", 1)[0] + "…"


# --------------------------------------------------------------------------- claims


def claim_rows(found: list[Chapter]) -> list[dict[str, Any]]:
    """One row per claim, shared by the scorecard page and ``kdbook claims``."""
    return [
        {"chapter": chapter, "claim": claim, "id": claim.id, "kind": _claims.KIND_NAMES[claim.kind],
         "where": claim.where, "statement": claim.statement, "measured": _claims.measured_text(claim),
         "expected": _claims.expected_text(claim), "verdict": claim.verdict,
         "profile": claim.profile or chapter.profile}
        for chapter in found for claim in chapter.claims
    ]


def _counts(claims: list[_claims.Claim]) -> dict[str, int]:
    experiments = [c for c in claims if c.kind == "paper"]
    checks = [c for c in claims if c.kind == "check"]
    derived = [c for c in claims if c.kind == "derived"]
    counts = {verdict: sum(c.verdict == verdict for c in experiments) for verdict in _claims.PAPER_VERDICTS}
    return {"paper": len(experiments), **counts, "derived": len(derived),
            "derived ok": sum(c.ok for c in derived), "checks": len(checks), "passing": sum(c.ok for c in checks)}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _summary(claims: list[_claims.Claim]) -> str:
    n = _counts(claims)
    text = (f"{_plural(n['paper'], 'experiment')} on the paper's claims: {n['reproduced']} reproduced, "
            f"{n['partly']} partly, {n['not reproduced']} not reproduced")
    if n["inconclusive"]:
        text += f", {n['inconclusive']} inconclusive"
    return (text + f". {n['derived']} derived (identities and proofs, checked numerically). "
            f"{_plural(n['checks'], 'check')} of our code, {n['passing']} passing.")


def _doc(chapter: Chapter) -> str:
    return f"{{doc}}`{_claims.cell(chapter.title)} <{chapter.stem}>`"


def _abs_doc(stem: str, text: str | None = None) -> str:
    """A link to a chapter valid from any page (an absolute docname)."""
    return f"{{doc}}`{text or stem} </book/generated/{stem}>`"


def _failed_note(chapter: Chapter) -> str:
    return (f"✗ FAILED: the execution of this chapter stopped with `{_code(chapter.failure)}`. "
            "Its claims below are those computed before the failure; the rest are missing.")


def _code(text: str) -> str:
    """``text`` safe inside an inline code span in a table cell."""
    return _claims.cell(text.replace("`", "'"))


_VERDICT_LEGEND = [
    "A claim has one of three kinds, and the verdict column means something different for each:",
    "",
    "- **experiment** — a statement of the paper tested by computing it: *reproduced*, *partly*,",
    "  *not reproduced* or *inconclusive*. A result that depends on random draws is measured over",
    "  several independent draws and decided by its confidence interval against a bound written in the",
    "  chapter before the run: *inconclusive* means the interval straddles the bound.",
    "- **derived** — a statement (the paper's or ours) that follows from a formula or proof given in",
    "  the book; the number checks the derivation and cannot come out otherwise once the formula is",
    "  right, so it is not counted as a reproduction.",
    "- **check** — a property of our own code (a residual, an agreement with an independent",
    "  computation). Checks and derivations must hold for a chapter to build.",
    "",
    "*Expected* shows the value the paper states where it states one, and otherwise the plain bound",
    "the chapter decides against.",
]


def scorecard_markdown(root: Path, found: list[Chapter] | None = None) -> str:
    """The scorecard page: coverage, counts per chapter, then every claim by kind, linked to where it is computed."""
    found = chapters(root) if found is None else found
    every = [claim for chapter in found for claim in chapter.claims]
    rows = coverage_rows(root, found)
    covered = sum(row["status"] == "computed" for row in rows)
    failed = [chapter for chapter in found if chapter.failed]
    lines = [
        "# Claims scorecard",
        "",
        "Every number the book states is computed when its chapter runs. Each claim's id links to the",
        "output in its chapter where it is computed; the {doc}`figures` page shows each regenerated",
        "figure next to the claims about it. `kdbook claims` prints the same table in a terminal.",
        "",
        *_VERDICT_LEGEND,
        "",
        f"**What the book covers:** {covered} of the paper's {len(rows)} figure panels and numbered statements "
        "are computed; the others are *not yet* (the coverage map at the end of this page lists them all).",
        "",
        f"**In total, for what is covered:** {_summary(every)}",
        "",
    ]
    if failed:
        lines += [":::{admonition} ✗ FAILED chapters", ":class: error", "",
                  *(f"- {_doc(chapter)}: `{_code(chapter.failure)}`" for chapter in failed),
                  "", "Their numbers are missing or incomplete; see the {doc}`status` page.", ":::", ""]
    lines += [
        "## By chapter",
        "",
        "| chapter | profile | experiments: reproduced / partly / not / inconclusive | derived | checks passing |",
        "|---|---|---|---|---|",
    ]
    for chapter in found:
        n = _counts(chapter.claims)
        status = "**✗ FAILED**" if chapter.failed else f"{n['reproduced']} / {n['partly']} / " \
                 f"{n['not reproduced']} / {n['inconclusive']}"
        lines.append(f"| {_doc(chapter)} | `{chapter.profile}` | {status} | {n['derived']} | "
                     f"{n['passing']} / {n['checks']} |")
    lines += ["", "## Every claim", "",
              "Grouped by chapter, then by kind; the claim's id opens the output where it is computed.", ""]
    for chapter in found:
        lines += [f"### {chapter.title}", "",
                  f"Computed in {_doc(chapter)} at profile `{chapter.profile}`. {_summary(chapter.claims)}", ""]
        if chapter.failed:
            lines += [f"**{_failed_note(chapter)}**", ""]
        if not chapter.claims:
            lines += ["This chapter records no claims.", ""]
            continue
        lines += _claim_tables(chapter)
    lines += ["## Coverage of the paper", "", coverage_markdown(root, found)]
    return "\n".join(lines) + "\n"


def _claim_tables(chapter: Chapter) -> list[str]:
    lines: list[str] = []
    titles = {"paper": "Experiments on the paper's claims", "derived": "Derived (checked numerically)",
              "check": "Checks of our code"}
    for kind in ("paper", "derived", "check"):
        rows = [row for row in claim_rows([chapter]) if row["claim"].kind == kind]
        if not rows:
            continue
        lines += [f"**{titles[kind]}**", "", "| claim | verdict | paper | statement | measured | expected |",
                  "|---|---|---|---|---|---|"]
        for row in rows:
            claim = row["claim"]
            lines.append(
                f"| {{ref}}`{claim.id} <{_claims.anchor(claim)}>` | {_claims.badge(row['verdict'])} | "
                f"{_claims.cell(row['where'])} | {_claims.cell(row['statement'])} | {_claims.cell(row['measured'])} | "
                f"{_claims.cell(row['expected'])} |")
        lines.append("")
    return lines


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
        state = f"FAILED ({chapter.failure}); " if chapter.failed else ""
        out.append(f"  {chapter.stem} (profile {chapter.profile}): {state}{_summary(chapter.claims)}")
    coverage = coverage_rows(root, found)
    out.append(f"Coverage: {sum(row['status'] == 'computed' for row in coverage)} of the paper's {len(coverage)} "
               "figure panels and numbered statements computed.")
    return "\n".join(out)


# --------------------------------------------------------------------------- coverage


def coverage_rows(root: Path, found: list[Chapter] | None = None) -> list[dict[str, Any]]:
    """Each item of :data:`kdlib.book.coverage.PAPER` with where the book covers it.

    ``status`` is ``computed`` (a chapter that covers it ran and is in the book), ``failed`` (it
    failed) or ``not yet`` (no such chapter in ``notebooks/``, not executed, or not in the toc).
    """
    found = chapters(root) if found is None else found
    by_stem = {chapter.stem: chapter for chapter in found}
    stems = list(available_notebooks(root))
    rows = []
    for item in _coverage.PAPER:
        covering, pending = [], []
        for name in item.chapters:
            stem = _coverage.find_chapter(name, stems)
            chapter = by_stem.get(stem) if stem else None
            (covering if chapter is not None and chapter.in_toc else pending).append(chapter or stem or name)
        if any(isinstance(c, Chapter) and not c.failed for c in covering):
            status = "computed"
        elif covering:
            status = "failed"
        else:
            status = "not yet"
        rows.append({"item": item, "status": status, "chapters": covering, "pending": pending})
    return rows


def coverage_markdown(root: Path, found: list[Chapter] | None = None) -> str:
    """The coverage map: a summary per section, then one row per item of the paper.

    Links are absolute docnames, so the same text works on the scorecard and in the introduction
    (which includes ``book/generated/coverage.md``).
    """
    rows = coverage_rows(root, found)
    lines = ["Every figure panel and numbered statement of the paper, with the chapter that computes it. "
             "*not yet* means that chapter is not written or not executed yet; the book's verdicts cover "
             "only the rows marked ✓. A proof or derivation on a hand-written page is listed too.", ""]
    summary = []
    for section in _coverage.SECTIONS:
        part = [row for row in rows if row["item"].section == section]
        done = sum(row["status"] == "computed" for row in part)
        summary.append(f"{section}: {done} of {len(part)}")
    lines += ["**Computed so far:** " + "; ".join(summary) + ".", ""]
    lines += ["| paper | what it shows | in this book |", "|---|---|---|"]
    for row in rows:
        item = row["item"]
        cells = []
        for chapter in row["chapters"]:
            mark = "✗ FAILED" if chapter.failed else "✓"
            cells.append(f"{mark} {_abs_doc(chapter.stem)}")
        if row["status"] == "not yet":
            cells.append("*not yet*")
        if item.page:
            cells.append(f"proof or derivation: {{doc}}`{item.page} </book/{item.page}>`")
        lines.append(f"| {_claims.cell(item.item)} | {_claims.cell(item.shows)} | "
                     f"{'; '.join(cells)} |")
    return "\n".join(lines) + "\n"


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
        "Every figure of the book, regenerated by the chapter that shows it. A *Paper Fig. N* entry",
        "regenerates that figure of the paper; a *companion figure* is one of ours, with no counterpart in",
        "the paper (it may accompany a paper figure). Each entry gives the profile it was computed at,",
        "links to the figure in its chapter, lists the chapter's claims about that paper figure with their",
        "verdicts, and offers the figure as PNG and SVG (click the image for full size). The exported files",
        "live in `book/generated/figures/<chapter>/` of the repository and under `_downloads/` of the site.",
        "",
    ]
    if not any(chapter.figures for chapter in found):
        lines.append("No chapter has published a figure yet.")
    for chapter in found:
        if not chapter.figures:
            continue
        data = json.loads(chapter.notebook.read_text())
        lines += [f"## {chapter.title}", ""]
        if chapter.failed:
            lines += [f"**{_failed_note(chapter)}**", ""]
        for figure in chapter.figures:
            folder = figure_folder(chapter.stem)
            where = (f"{{ref}}`see it in the chapter <{figure.label}>`" if figure.label
                     else f"{{doc}}`see it in the chapter <{chapter.stem}>`")
            lines += [f"### {figure.heading}: `{figure.name}`", ""]
            caption = _caption_for_page(figure.caption, data)
            if "png" in figure.files:
                alt = figure.alt or _first_sentence(plain_text(caption, data)) or figure.heading
                if not alt.lower().startswith(("paper fig", "companion")):
                    alt = f"{figure.heading}: {alt}"
                lines += [f"```{{image}} {folder}/{figure.file}.png", f":alt: {alt}",
                          ":width: 560px", "```", ""]
            if caption:
                lines += [caption, ""]
            downloads = " · ".join(f"{{download}}`{ext.upper()} <{folder}/{figure.file}.{ext}>`"
                                   for ext in figure.files)
            if figure.paper:
                what = f"Regenerates **Paper {figure.paper}** of {{cite:t}}`ji2020knowledge`"
            elif figure.companion:
                what = (f"A figure of ours accompanying **Paper {figure.companion}** of "
                        "{cite:t}`ji2020knowledge`, computed")
            else:
                what = "A figure of ours, with no counterpart in the paper, computed"
            lines += [f"{what} at profile `{figure.profile}`; {where}. Files: {downloads}.", ""]
            related = _related_claims(figure, chapter.claims)
            if related:
                lines += [f"Claims about Paper {figure.paper or figure.companion}:", ""]
                lines += [f"- {{ref}}`{c.id} <{_claims.anchor(c)}>` ({_claims.cell(c.where)}): {c.statement} — "
                          f"**{_claims.badge(c.verdict)}** ({_claims.KIND_NAMES[c.kind]})" for c in related]
                lines.append("")
    return "\n".join(lines) + "\n"


def _related_claims(figure: Figure, claims: list[_claims.Claim]) -> list[_claims.Claim]:
    reference = figure.paper or figure.companion
    if not reference:
        return []
    number = reference.split()[-1].upper()
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
    status = "**✗ FAILED**" if chapter.failed else {"ok": "✓ ok"}.get(run.get("status", "?"),
                                                                     str(run.get("status", "?")))
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
    """The execution status page: one row per chapter, its failure if any, then the software versions."""
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
    ]
    failed = [chapter for chapter in found if chapter.failed]
    if failed:
        lines += [":::{admonition} ✗ FAILED", ":class: error", "",
                  f"{_plural(len(failed), 'chapter')} of this build did not run to the end; the book was "
                  "published anyway (`kdbook build --publish-failed`).", ":::", ""]
    lines += [
        "| chapter | profile | device (where) | parameters | wall time, peak memory | run | status |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(_status_cells(chapter)) + " |" for chapter in found]
    if failed:
        lines += ["", "## Failures", ""]
        for chapter in failed:
            lines.append(f"- {_doc(chapter)}: **✗ FAILED** with `{_code(chapter.failure)}`")
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
    """The generated admonitions at the top of a chapter: a failure, how it was computed, GPU needs.

    Colon fences, because a backtick fence's title may not contain backticks.
    """
    run = chapter.run
    wall = f", {run['wall_s']:.1f} s" if isinstance(run.get("wall_s"), int | float) else ""
    n = _counts(chapter.claims)
    parts = []
    if chapter.failed:
        parts += [
            ":::{admonition} ✗ FAILED: this chapter did not run to the end",
            ":class: error",
            "",
            f"Its execution stopped with `{_code(chapter.failure)}`. The figures and numbers below are",
            "those computed before the failure; everything after it is missing. See the {doc}`status` page.",
            ":::",
            "",
        ]
    parts += [
        f":::{{admonition}} Computed at profile `{chapter.profile}`",
        ":class: note",
        "",
        "This chapter re-derives and re-computes part of {cite:t}`ji2020knowledge`. Every figure and",
        f"number below was computed when this notebook ran at profile `{chapter.profile}` on device",
        f"`{run.get('device', '?')}`{wall} (details on the {{doc}}`status` page).",
        f"Its {_plural(n['paper'], 'experiment')}, {n['derived']} derived statements and "
        f"{_plural(n['checks'], 'check')} of our code are collected",
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


def _with_alt_texts(source: str, data: dict[str, Any]) -> str:
    """Every ``{glue:figure}`` directive of ``source`` with an ``:alt:`` (from its caption when missing)."""
    def add(match: re.Match[str]) -> str:
        block = match.group(0)
        body = match.group(3)
        if re.search(r"^:alt:", body, re.MULTILINE):
            return block
        caption = "\n".join(line for line in body.strip("\n").splitlines() if not line.startswith(":"))
        # An option value is parsed like YAML: it must not open with a quote, bracket or indicator.
        alt = _first_sentence(plain_text(caption, data)).lstrip("'\"[]{}>|*&!%@`#,?:- ") or f"figure {match.group(2)}"
        opening = block.split("\n", 1)[0]
        return f"{opening}\n:alt: {alt}\n{block.split(chr(10), 1)[1]}"

    return _GLUE_FIGURE.sub(add, source)


def _insert_header(chapter: Chapter) -> None:
    """Insert (or replace) the generated header cell after the chapter's title cell; add missing alt texts."""
    data = json.loads(chapter.notebook.read_text())
    cells = [cell for cell in data.get("cells", []) if cell.get("id") != HEADER_CELL_ID]
    for cell in cells:
        if cell.get("cell_type") == "markdown" and "{glue:figure}" in _source_text(cell):
            cell["source"] = _with_alt_texts(_source_text(cell), data)
    position = next((i + 1 for i, cell in enumerate(cells) if cell.get("cell_type") == "markdown"), 0)
    cells.insert(position, {"cell_type": "markdown", "id": HEADER_CELL_ID,
                            "metadata": {"tags": ["kdbook-generated"]}, "source": chapter_header(chapter)})
    data["cells"] = cells
    chapter.notebook.write_text(json.dumps(data, indent=1))


# --------------------------------------------------------------------------- all pages


def write_generated_pages(root: Path) -> None:
    """Export figures, add the chapter headers and write scorecard, figures, status and coverage pages."""
    folder = generated_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    found = chapters(root)
    export_figures(found, folder)
    for chapter in found:
        _insert_header(chapter)
    (folder / "scorecard.md").write_text(scorecard_markdown(root, found))
    (folder / "figures.md").write_text(figures_markdown(root, found))
    (folder / "status.md").write_text(status_markdown(root, found))
    (folder / "coverage.md").write_text(coverage_markdown(root, found))
