"""Generated book pages: scorecard, figures, status and chapter headers, from executed notebooks.

A tiny book (one chapter source, one hand-made executed notebook carrying claim and figure
records as `kdbook run` would leave them) is enough to check the pages without running anything.
"""

import base64
import json
import textwrap
from dataclasses import asdict

import pytest

from kdlib.book import claims, cli, core, coverage, report, sphinxext
from kdlib.book import notebooks as book
from kdlib.book.plotting import FIGURE_MIME_TYPE

SOURCE = textwrap.dedent('''\
    # ---
    # jupyter:
    #   jupytext: {formats: "py:percent"}
    #   kdbook_chapter: {gpu: [paper], gpu_note: "an hour on one H100"}
    # ---

    # %% [markdown]
    # # Tiny chapter (Section 9)

    # %% tags=["parameters"]
    profile = "quick"
''')
PNG = base64.b64encode(b"\x89PNG fake bytes").decode()
SVG = "<svg xmlns='http://www.w3.org/2000/svg'/>"


def _claim(claim_id, where, verdict_measured, kind="paper"):
    return claims.Claim(id=claim_id, where=where, statement="a | b holds", kind=kind, measured=verdict_measured,
                        relation="<=", expected=1.0, tolerance=0.0,
                        verdict=("reproduced" if verdict_measured <= 1 else "not reproduced") if kind == "paper"
                        else "pass", profile="smoke", notebook="09-tiny")


CLAIMS = [_claim("sec9.a", "Sec. 9, Fig. 4 left", 0.5), _claim("sec9.b", "Sec. 9", 3.0),
          _claim("sec9.c", "Eq. 2", 0.0, kind="check")]


def _output(data):
    return {"output_type": "display_data", "metadata": {}, "data": data}


@pytest.fixture
def tiny_book(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "09-tiny.py").write_text(SOURCE)
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: Sections\n    chapters:\n"
        "      - file: book/generated/09-tiny\n")
    figure = {"name": "fig4", "chapter": "09-tiny", "paper": None, "profile": "smoke",
              "files": {"png": PNG, "svg": SVG}}
    cells = [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# Tiny chapter (Section 9)\n\nIntro."},
        {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": 1, "source": "",
         "outputs": [_output({claims.MIME_TYPE: asdict(c), "text/markdown": "..."}) for c in CLAIMS]
         + [_output({FIGURE_MIME_TYPE: figure, "text/markdown": "..."})]},
        {"cell_type": "markdown", "id": "c", "metadata": {},
         "source": "```{glue:figure} fig4\n:name: fig-tiny\n\nPaper Fig. 4 left, regenerated at {glue:md}`p`.\n```"},
    ]
    run = {"notebook": "09-tiny", "profile": "smoke", "device": "cpu", "parameters": {"seed": 3}, "status": "ok",
           "wall_s": 1.25, "peak_rss_mb": 300.0, "date": "2026-11-25T08:00:00+00:00", "commit": "abcdef123456",
           "dirty": True, "versions": {"python": "3.11.7", "torch": "2.13.0"}}
    executed = tmp_path / "book" / "generated" / "09-tiny.ipynb"
    executed.parent.mkdir(parents=True)
    executed.write_text(json.dumps({"cells": cells, "metadata": {"kdbook": run}, "nbformat": 4, "nbformat_minor": 5}))
    monkeypatch.setenv("KDBOOK_ROOT", str(tmp_path))
    monkeypatch.delenv("KDBOOK_OUT", raising=False)
    return tmp_path


def test_claim_anchors_are_unique_per_chapter_and_valid_html_ids():
    first, other = CLAIMS[0], claims.Claim(**{**asdict(CLAIMS[0]), "notebook": "10-other"})
    assert claims.anchor(first) == "claim-09-tiny-sec9-a"
    assert claims.anchor(first) != claims.anchor(other)
    assert all(ch.isalnum() or ch == "-" for ch in claims.anchor(first))


def test_table_cells_escape_pipes_so_rows_keep_their_columns():
    row = claims.markdown_table([CLAIMS[0]]).splitlines()[-1]
    assert row.count("|") - row.count("\\|") == 8  # seven columns


def test_scorecard_links_every_claim_and_counts_verdicts(tiny_book):
    text = report.scorecard_markdown(tiny_book)
    for claim in CLAIMS:
        assert f"{{ref}}`{claim.id} <{claims.anchor(claim)}>`" in text
    assert ("2 experiments on the paper's claims: 1 reproduced, 0 partly, 1 not reproduced. 0 derived (identities "
            "and proofs, checked numerically). 1 check of our code, 1 passing.") in text
    assert "| {doc}`Tiny chapter (Section 9) <09-tiny>` | `smoke` | 1 / 0 / 1 / 0 | 0 | 1 / 1 |" in text


def test_kdbook_claims_prints_the_scorecard_rows(tiny_book, capsys):
    assert cli.main(["claims"]) == 0
    printed = capsys.readouterr().out
    for claim in CLAIMS:
        assert claim.id in printed
    assert "2 experiments on the paper's claims: 1 reproduced, 0 partly, 1 not reproduced." in printed


def test_figures_are_exported_from_their_records_and_listed_with_their_claims(tiny_book):
    report.write_generated_pages(tiny_book)
    folder = tiny_book / "book" / "generated" / "figures" / "09-tiny"
    assert (folder / "fig4.png").read_bytes() == base64.b64decode(PNG)
    assert (folder / "fig4.svg").read_text() == SVG
    page = (tiny_book / "book" / "generated" / "figures.md").read_text()
    assert "### Paper Fig. 4, regenerated: `fig4`" in page  # paper figure read from the caption
    assert "{ref}`see it in the chapter <fig-tiny>`" in page
    assert "{download}`SVG <figures/09-tiny/fig4.svg>`" in page
    assert "{glue" not in page  # glue roles cannot resolve on another page
    assert "sec9.a" in page and "sec9.b" not in page  # only the claims about Fig. 4


def test_chapter_header_is_inserted_once_with_profile_downloads_and_gpu_warning(tiny_book):
    report.write_generated_pages(tiny_book)
    report.write_generated_pages(tiny_book)  # idempotent: the header is replaced, not added twice
    cells = json.loads((tiny_book / "book" / "generated" / "09-tiny.ipynb").read_text())["cells"]
    headers = [cell for cell in cells if cell.get("id") == report.HEADER_CELL_ID]
    assert len(headers) == 1 and cells[1]["id"] == report.HEADER_CELL_ID  # right after the title cell
    text = headers[0]["source"]
    assert ":::{admonition} Computed at profile `smoke`" in text
    assert "{download}`09-tiny.py </notebooks/09-tiny.py>`" in text and "{cite:t}`ji2020knowledge`" in text
    assert ":::{admonition} The `paper` profile needs a GPU" in text and "an hour on one H100" in text


def test_status_page_reports_the_run_record(tiny_book):
    text = report.status_markdown(tiny_book)
    row = next(line for line in text.splitlines() if line.startswith("| {doc}`09-tiny"))
    for expected in ("`smoke`", "`cpu`", "`seed=3`", "1.2 s", "300 MiB", "2026-11-25 08:00", "`abcdef12` dirty",
                     "✓ ok"):
        assert expected in row
    assert "| torch | `2.13.0` |" in text
    assert "a GPU for profile(s) `paper`" in text


def test_mathjax_is_served_from_the_book():
    folder = sphinxext.mathjax_source()
    assert folder is not None, "sphinx-mathjax-offline is a dependency of the book"
    assert (folder / "tex-chtml-full.js").is_file()
    assert (folder / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_duplicate_script_tags_are_dropped():
    from sphinx.builders.html._assets import _JavaScript

    scripts = [_JavaScript(None, body="const X = 1"), _JavaScript("", body="const X = 1", priority=600),
               _JavaScript("a.js"), _JavaScript("a.js", **{"async": "async"})]
    context = {"script_files": scripts}
    sphinxext._drop_duplicate_scripts(None, "page", "page.html", context, None)
    assert len(context["script_files"]) == 3


def test_publish_exports_png_and_svg_under_the_chapter_folder(tiny_book, monkeypatch):
    from kdlib.book import plotting

    monkeypatch.setenv("KDBOOK_NOTEBOOK", "09-tiny")
    fig, axes = plotting.figure()
    axes[0, 0].plot([0, 1], [1, 0])
    paths = plotting.publish(fig, "fig 4/left")  # unsafe characters become '-' in the file name
    folder = tiny_book / "book" / "generated" / "figures" / "09-tiny"
    assert [p.name for p in paths] == ["fig-4-left.png", "fig-4-left.svg"]
    assert (folder / "fig-4-left.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (folder / "fig-4-left.svg").read_bytes()[:500]
    with pytest.raises(ValueError, match="name"):
        plotting.publish(fig, "")


# --------------------------------------------------------------------------- a chapter that failed

# What papermill leaves: the failing cell's error output, and an error text whose first line is empty.
ERROR_OUTPUT = {"output_type": "error", "ename": "ClaimFailed",
                "evalue": "correctness check failed: sec9.c [Eq. 2] ...", "traceback": ["\x1b[0;31m..."]}
PAPERMILL_TEXT = ("PapermillExecutionError: \n---------------------------------------------------------------\n"
                  "Exception encountered at \"In [3]\":\n\x1b[0;31mClaimFailed\x1b[0m: boom")


@pytest.fixture
def failed_book(tiny_book):
    path = tiny_book / "book" / "generated" / "09-tiny.ipynb"
    data = json.loads(path.read_text())
    data["cells"][1]["outputs"].append(ERROR_OUTPUT)
    data["metadata"]["kdbook"].update(status="failed", error=PAPERMILL_TEXT)
    path.write_text(json.dumps(data))
    return tiny_book


def test_a_failure_reads_its_message_from_the_failing_cell_not_papermills_wrapper(failed_book):
    (chapter,) = report.chapters(failed_book)
    assert chapter.failed and chapter.failure == "ClaimFailed: correctness check failed: sec9.c [Eq. 2] ..."
    chapter.error_output = None  # only the run record: its first meaningful line, without colour codes
    assert chapter.failure == "ClaimFailed: boom"
    chapter.run["error"] = "PapermillExecutionError: \n----\nValueError: bad width"
    assert chapter.failure == "ValueError: bad width"


def test_a_failed_chapter_is_marked_failed_on_its_page_the_scorecard_and_the_status_page(failed_book):
    report.write_generated_pages(failed_book)
    generated = failed_book / "book" / "generated"
    header = next(c for c in json.loads((generated / "09-tiny.ipynb").read_text())["cells"]
                  if c.get("id") == report.HEADER_CELL_ID)["source"]
    message = "ClaimFailed: correctness check failed: sec9.c [Eq. 2] ..."
    assert ":::{admonition} ✗ FAILED" in header and message in header
    scorecard = (generated / "scorecard.md").read_text()
    assert "✗ FAILED" in scorecard and message in scorecard
    assert "| {doc}`Tiny chapter (Section 9) <09-tiny>` | `smoke` | **✗ FAILED** |" in scorecard
    status = (generated / "status.md").read_text()
    assert "**✗ FAILED**" in status and message in status and "PapermillExecutionError" not in status


def test_kdbook_claims_and_build_refuse_a_failed_chapter_unless_asked(failed_book, capsys, monkeypatch):
    assert cli.main(["claims"]) == 1
    assert "FAILED (ClaimFailed" in capsys.readouterr().out
    calls = []
    monkeypatch.setattr(book.subprocess, "run", lambda command, **kw: calls.append(command) or
                        type("Done", (), {"returncode": 0})())
    with pytest.raises(book.BookError, match="(?s)1 chapter\\(s\\) failed.*09-tiny: ClaimFailed.*--publish-failed"):
        book.build_book(failed_book)
    assert not calls and not (failed_book / "book" / "generated" / "scorecard.md").exists()
    assert cli.main(["build", "--publish-failed"]) == 0 and calls
    assert "✗ FAILED" in (failed_book / "book" / "generated" / "scorecard.md").read_text()


# --------------------------------------------------------------------------- test builds apart


def test_a_separate_output_root_takes_executions_and_the_site(tiny_book, monkeypatch):
    monkeypatch.setenv("KDBOOK_OUT", "_build/test")
    out = tiny_book / "_build" / "test"
    assert core.output_root(tiny_book) == out
    assert core.generated_dir(tiny_book) == out / "book" / "generated"
    assert core.html_dir(tiny_book) == out / "_build" / "html"
    monkeypatch.setenv("KDBOOK_OUT", str(tiny_book / "elsewhere"))
    assert core.generated_dir(tiny_book) == tiny_book / "elsewhere" / "book" / "generated"


def test_building_the_test_book_leaves_the_readers_book_alone(tiny_book, monkeypatch):
    """The test book gets its own copy of the sources and its own site; book/generated is not touched."""
    (tiny_book / "book" / "intro.md").write_text("# Intro\n")
    (tiny_book / "_config.yml").write_text("title: tiny\n")
    reader = tiny_book / "book" / "generated" / "09-tiny.ipynb"
    before = reader.read_bytes()
    out = tiny_book / "_build" / "test"
    (out / "book" / "generated").mkdir(parents=True)
    (out / "book" / "generated" / "09-tiny.ipynb").write_bytes(before)
    (out / "book" / "stale.md").write_text("removed from the sources")
    monkeypatch.setenv("KDBOOK_OUT", "_build/test")
    calls = []
    monkeypatch.setattr(book.subprocess, "run", lambda command, **kw: calls.append((command, kw)) or
                        type("Done", (), {"returncode": 0})())
    index = book.build_book(tiny_book)
    assert index == out / "_build" / "html" / "index.html"
    assert calls[0][0][2] == str(out) and calls[0][1]["cwd"] == out
    assert (out / "book" / "intro.md").read_text() == "# Intro\n" and (out / "_config.yml").is_file()
    assert (out / "notebooks" / "09-tiny.py").is_file() and not (out / "book" / "stale.md").exists()
    assert (out / "book" / "generated" / "scorecard.md").is_file()
    assert reader.read_bytes() == before and not (tiny_book / "book" / "generated" / "scorecard.md").exists()


# --------------------------------------------------------------------------- coverage map


def _items(prefix):
    return {item.item.split(" (")[0] for item in coverage.PAPER if item.item.startswith(prefix)}


def test_the_coverage_map_lists_every_figure_equation_theorem_and_appendix_section():
    names = " | ".join(item.item for item in coverage.PAPER)
    for figure in [*(f"Fig. {n}" for n in range(1, 6)), *(f"Fig. S{n}" for n in range(1, 8))]:
        assert figure in names, figure
    for panel in ("Fig. 1 left", "Fig. 1 right", "Fig. 2 left", "Fig. 2 middle", "Fig. 2 right", "Fig. 3 left",
                  "Fig. 3 right", "Fig. 4 left", "Fig. 4 middle", "Fig. 4 right", "Fig. 5 left", "Fig. 5 middle",
                  "Fig. 5 right"):
        assert panel in names, panel
    for number in range(1, 13):
        assert f"Eq. {number}" in names or f"Eqs. {number}" in names, number
    for section in [f"Sec. S{n}" for n in range(1, 8)] + ["Theorem 1", "Theorem 2", "Definition 1"]:
        assert section in names, section
    assert {item.section for item in coverage.PAPER} == set(coverage.SECTIONS)


def test_the_coverage_map_says_not_yet_until_a_chapter_exists_and_ran(tiny_book):
    text = report.coverage_markdown(tiny_book)
    fig2 = next(line for line in text.splitlines() if line.startswith("| Fig. 2 left |"))
    assert "*not yet*" in fig2
    assert "**Computed so far:** Sec. 2: 0 of" in text
    # The chapter appears in notebooks/ but has not run: still not yet.
    (tiny_book / "notebooks" / "02-transfer-risk.py").write_text(SOURCE)
    assert "*not yet*" in next(line for line in report.coverage_markdown(tiny_book).splitlines()
                               if line.startswith("| Fig. 2 left |"))
    # Executed and in the toc: the row links to it, with nothing else edited.
    executed = tiny_book / "book" / "generated" / "02-transfer-risk.ipynb"
    executed.write_text((tiny_book / "book" / "generated" / "09-tiny.ipynb").read_text())
    toc = tiny_book / "_toc.yml"
    toc.write_text(toc.read_text() + "      - file: book/generated/02-transfer-risk\n")
    fig2 = next(line for line in report.coverage_markdown(tiny_book).splitlines() if line.startswith("| Fig. 2 left |"))
    assert "✓ {doc}`02-transfer-risk </book/generated/02-transfer-risk>`" in fig2 and "not yet" not in fig2


def test_a_chapter_is_found_by_its_stem_or_a_unique_suffix():
    assert coverage.find_chapter("teachers", ["01-a", "s4-teachers"]) == "s4-teachers"
    assert coverage.find_chapter("02-transfer-risk", ["02-transfer-risk", "x-02-transfer-risk"]) == "02-transfer-risk"
    assert coverage.find_chapter("teachers", ["a-teachers", "b-teachers"]) is None
    assert set(coverage.planned_chapters()) >= {"01-effective-student", "02-transfer-risk", "teachers"}


# --------------------------------------------------------------------------- figures and their numbers


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("Paper Fig. 1, regenerated from Eq. 3.", ("Fig. 1", None)),
        ("Fig. S7 of the paper, regenerated.", ("Fig. S7", None)),
        ("Companion figure (ours) to Paper Fig. S6: the ratio.", (None, "Fig. S6")),
        ("Companion figure (ours): the NTK error.", (None, None)),
        ("Sec. S1 tested; compare Fig. 1 of the paper.", (None, None)),  # mentioning a figure is not being it
    ],
)
def test_a_caption_files_a_figure_as_the_papers_only_when_it_says_so(caption, expected):
    assert report._paper_figure_of(caption) == expected


def test_every_glue_figure_gets_an_alt_text_from_its_caption(tiny_book):
    report.write_generated_pages(tiny_book)
    cells = json.loads((tiny_book / "book" / "generated" / "09-tiny.ipynb").read_text())["cells"]
    figure = next(c["source"] for c in cells if "{glue:figure}" in report._source_text(c))
    assert ":alt: Paper Fig. 4 left, regenerated at" in figure
    report.write_generated_pages(tiny_book)  # idempotent
    again = next(c["source"] for c in json.loads((tiny_book / "book" / "generated" / "09-tiny.ipynb").read_text())[
        "cells"] if "{glue:figure}" in report._source_text(c))
    assert again.count(":alt:") == 1


def test_plain_text_drops_roles_math_and_emphasis():
    assert report.plain_text("**Left:** $\\rho = 1$ and {eq}`eq-x`, see {doc}`theory <../theory>`.") == (
        "Left: ρ = 1 and, see theory.")
    assert report.plain_text(r"$\Theta(x, x)/x^\top x$ for $x \sim \mathcal N(0, \sigma_x^2 I_2)$") == (
        "Θ(x, x)/x^ᵀ x for x ~ N(0, σ_x^2 I_2)")


def test_book_equations_are_prefixed_and_the_paper_s_keep_their_numbers():
    env = type("Env", (), {})()
    env.toc_secnumbers = {"book/generated/s1": {"": (2,)}, "book/theory": {}}
    env.toc_fignumbers = {"book/generated/s1": {"displaymath": {"equation-a": (2, 1)}, "figure": {"f": (2, 1)}},
                          "book/theory": {"displaymath": {"equation-paper-eq-3": (3,)}}}
    sphinxext._prefix_book_equations(None, env)
    sphinxext._prefix_book_equations(None, env)  # idempotent: Sphinx may call it on every build
    assert env.toc_fignumbers["book/generated/s1"]["displaymath"]["equation-a"] == ("B2", 1)
    assert env.toc_fignumbers["book/generated/s1"]["figure"]["f"] == (2, 1)  # "Book fig." comes from numfig_format
    assert env.toc_fignumbers["book/theory"]["displaymath"]["equation-paper-eq-3"] == (3,)
