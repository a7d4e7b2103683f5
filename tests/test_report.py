"""Generated book pages: scorecard, figures, status and chapter headers, from executed notebooks.

A tiny book (one chapter source, one hand-made executed notebook carrying claim and figure
records as `kdbook run` would leave them) is enough to check the pages without running anything.
"""

import base64
import json
import textwrap
from dataclasses import asdict

import pytest

from kdlib.book import claims, cli, report, sphinxext
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
         "source": "```{glue:figure} fig4\n:name: fig-tiny\n\nFig. 4 left of the paper, at {glue:md}`p`.\n```"},
    ]
    run = {"notebook": "09-tiny", "profile": "smoke", "device": "cpu", "parameters": {"seed": 3}, "status": "ok",
           "wall_s": 1.25, "peak_rss_mb": 300.0, "date": "2026-11-25T08:00:00+00:00", "commit": "abcdef123456",
           "dirty": True, "versions": {"python": "3.11.7", "torch": "2.13.0"}}
    executed = tmp_path / "book" / "generated" / "09-tiny.ipynb"
    executed.parent.mkdir(parents=True)
    executed.write_text(json.dumps({"cells": cells, "metadata": {"kdbook": run}, "nbformat": 4, "nbformat_minor": 5}))
    monkeypatch.setenv("KDBOOK_ROOT", str(tmp_path))
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
    assert "2 paper claims: 1 reproduced, 0 partly, 1 not reproduced. 1 correctness check, 1 passing." in text
    assert "| {doc}`Tiny chapter (Section 9) <09-tiny>` | `smoke` | 2 | 1 | 0 | 1 | 1 / 1 |" in text


def test_kdbook_claims_prints_the_scorecard_rows(tiny_book, capsys):
    assert cli.main(["claims"]) == 0
    printed = capsys.readouterr().out
    for claim in CLAIMS:
        assert claim.id in printed
    assert "2 paper claims: 1 reproduced, 0 partly, 1 not reproduced." in printed


def test_figures_are_exported_from_their_records_and_listed_with_their_claims(tiny_book):
    report.write_generated_pages(tiny_book)
    folder = tiny_book / "book" / "generated" / "figures" / "09-tiny"
    assert (folder / "fig4.png").read_bytes() == base64.b64decode(PNG)
    assert (folder / "fig4.svg").read_text() == SVG
    page = (tiny_book / "book" / "generated" / "figures.md").read_text()
    assert "### Fig. 4: `fig4`" in page  # paper figure read from the caption
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
