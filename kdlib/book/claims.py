"""The claims ledger: every number the book states is a computed, recorded check.

Two kinds of claim:

* ``kind="check"``: a correctness property of our own code (an equation residual, an
  agreement with an independent computation). A failure raises ``ClaimFailed`` and so fails
  the notebook run at every profile.
* ``kind="paper"``: a statement of the paper, given a verdict *reproduced*, *partly* or
  *not reproduced* that is recorded honestly, never forced. A chapter that states the
  verdict in its prose passes ``expect=`` so that the run fails if the measurement stops
  agreeing with the text.

Each claim is displayed in the notebook as a one-line summary and carried in the executed
notebook as a JSON output of type ``application/vnd.kdlib.claim+json``; ``collect`` reads
them back for the scorecard page and ``kdbook claims``. The summary starts with a MyST target
``(claim-<chapter>-<id>)=`` (see ``anchor``), so the book's scorecard links every claim to the
exact output where it is computed.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Claim", "ClaimFailed", "check", "table", "collect", "MIME_TYPE", "recorded", "set_profile", "anchor",
           "markdown_table", "cell", "expected_text", "badge", "PAPER_VERDICTS"]

MIME_TYPE = "application/vnd.kdlib.claim+json"
RELATIONS = ("<=", ">=", "==", "<", ">")
PAPER_VERDICTS = ("reproduced", "partly", "not reproduced")

_ledger: list[Claim] = []
_profile: str | None = None
_anchored: set[str] = set()  # labels already emitted: a claim re-checked in a notebook gets one target


class ClaimFailed(AssertionError):
    """A correctness check failed, or a paper claim's verdict differs from what the text states."""


@dataclass(frozen=True)
class Claim:
    id: str
    where: str
    statement: str
    kind: Literal["check", "paper"]
    measured: float
    relation: str
    expected: float
    tolerance: float
    verdict: str
    profile: str | None = None
    notebook: str | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict in ("pass", "reproduced")

    def _ipython_display_(self) -> None:
        """Show nothing: ``check`` has displayed the claim already, so a cell ending in a check
        would otherwise print the dataclass repr under its summary."""

    def describe(self) -> str:
        return (
            f"{self.id} [{self.where}] {self.statement}: measured {_fmt(self.measured)} "
            f"{self.relation} {_fmt(self.expected)} (tolerance {_fmt(self.tolerance)}) → {self.verdict}"
        )


def _fmt(value: float) -> str:
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        return str(value)
    return f"{value:.4g}"


def set_profile(name: str | None) -> None:
    """Record which profile the following claims are computed at (``profiles.resolve`` calls it)."""
    global _profile
    _profile = name


def _holds(measured: float, relation: str, expected: float, tolerance: float) -> bool:
    if math.isnan(measured):
        return False
    if relation == "<=":
        return measured <= expected + tolerance
    if relation == ">=":
        return measured >= expected - tolerance
    if relation == "==":
        return abs(measured - expected) <= tolerance
    if relation == "<":
        return measured < expected + tolerance
    return measured > expected - tolerance


def check(
    claim_id: str,
    where: str,
    statement: str,
    *,
    measured: float,
    relation: str,
    expected: float,
    tolerance: float = 0.0,
    kind: Literal["check", "paper"] = "check",
    partial_tolerance: float | None = None,
    expect: str | None = None,
    note: str = "",
) -> Claim:
    """Record and display one claim: ``measured relation expected`` within ``tolerance``.

    Args:
        claim_id: stable identifier such as ``"sec2.residual"``.
        where: location in the paper, e.g. ``"Sec. 2, Fig. 1 left"``.
        statement: the claim in our own words.
        measured: the computed value.
        relation: one of ``<=``, ``>=``, ``==`` (|measured − expected| ≤ tolerance), ``<``, ``>``.
        expected: the paper's value or the bound.
        tolerance: slack allowed on ``expected``.
        kind: ``"check"`` (must pass) or ``"paper"`` (verdict recorded).
        partial_tolerance: for paper claims, a looser slack under which the verdict is *partly*.
        expect: for paper claims, the verdict the chapter's text states; a different verdict fails.
        note: one sentence shown with the claim (why the tolerance, what a miss means).
    Raises:
        ValueError: bad relation, kind or expect.
        ClaimFailed: a check fails, or a paper verdict differs from ``expect``.
    """
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}")
    if kind not in ("check", "paper"):
        raise ValueError(f"kind must be 'check' or 'paper', got {kind!r}")
    if expect is not None and expect not in PAPER_VERDICTS:
        raise ValueError(f"expect must be one of {PAPER_VERDICTS}, got {expect!r}")
    measured, expected, tolerance = float(measured), float(expected), float(tolerance)
    holds = _holds(measured, relation, expected, tolerance)
    if kind == "check":
        verdict = "pass" if holds else "fail"
    elif holds:
        verdict = "reproduced"
    elif partial_tolerance is not None and _holds(measured, relation, expected, partial_tolerance):
        verdict = "partly"
    else:
        verdict = "not reproduced"
    claim = Claim(
        id=claim_id, where=where, statement=statement, kind=kind, measured=measured, relation=relation,
        expected=expected, tolerance=tolerance, verdict=verdict, profile=_profile,
        notebook=os.environ.get("KDBOOK_NOTEBOOK"), note=note,
    )
    _ledger[:] = [c for c in _ledger if c.id != claim_id] + [claim]
    _display(claim)
    if kind == "check" and not holds:
        raise ClaimFailed(claim.describe())
    if expect is not None and verdict != expect:
        raise ClaimFailed(f"the chapter states '{expect}' but the run measured: {claim.describe()}")
    return claim


def recorded() -> list[Claim]:
    """Claims checked so far in this process, in order."""
    return list(_ledger)


# Plain symbols (not emoji): they render with the fonts every browser has, headless ones included.
_BADGES = {"pass": "✓ pass", "fail": "✗ fail", "reproduced": "✓ reproduced", "partly": "◐ partly",
           "not reproduced": "✗ not reproduced"}


def cell(text: str) -> str:
    """``text`` made safe for a markdown table cell (a literal ``|`` would split the cell)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def expected_text(claim: Claim) -> str:
    """``relation expected ± tolerance``, the tolerance left out when it is zero."""
    text = f"{claim.relation} {_fmt(claim.expected)}"
    return text + (f" ± {_fmt(claim.tolerance)}" if claim.tolerance else "")


def badge(verdict: str) -> str:
    """The verdict with its colour symbol, as the book shows it."""
    return _BADGES[verdict]


def _row(claim: Claim) -> str:
    return (f"| `{claim.id}` | {_BADGES[claim.verdict]} | {cell(claim.where)} | {cell(claim.statement)} | "
            f"{_fmt(claim.measured)} | {cell(expected_text(claim))} |")


# The verdict comes second: on a narrow page a wide table scrolls, and the verdict must stay in view.
_HEADER = ("| claim | verdict | paper | statement | measured | expected |\n"
           "|---|---|---|---|---|---|")


def anchor(claim: Claim) -> str:
    """The Sphinx label of the output that displays ``claim``: ``claim-<chapter>-<id>``, lower case.

    The chapter (the notebook stem, from ``KDBOOK_NOTEBOOK`` at execution) keeps labels unique
    across chapters; characters other than letters and digits become ``-`` so the label is also
    a valid HTML id.
    """
    raw = f"claim-{claim.notebook}-{claim.id}" if claim.notebook else f"claim-{claim.id}"
    return re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")


def _display(claim: Claim) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: nothing to show
        return
    if get_ipython() is None:
        return
    markdown = (
        f"**Claim `{claim.id}`** ({claim.where}): {claim.statement} — measured {_fmt(claim.measured)}, "
        f"expected {claim.relation} {_fmt(claim.expected)} ± {_fmt(claim.tolerance)}: **{_BADGES[claim.verdict]}**"
    )
    if claim.note:
        markdown += f" *{claim.note}*"
    label = anchor(claim)
    if label not in _anchored:
        _anchored.add(label)
        markdown = f"({label})=\n{markdown}"
    display({"text/markdown": markdown, MIME_TYPE: asdict(claim)}, raw=True)


def markdown_table(claims: list[Claim]) -> str:
    """A markdown table of ``claims``: id, verdict, paper location, statement, measured, expected."""
    return "\n".join([_HEADER, *(_row(c) for c in claims)])


def table() -> None:
    """Display every claim of this notebook as a measured-vs-claimed table."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(recorded())))


def collect(notebook: str | Path) -> list[Claim]:
    """Claims carried in an executed notebook's outputs."""
    data = json.loads(Path(notebook).read_text())
    found: dict[str, Claim] = {}
    for cell in data.get("cells", []):
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(MIME_TYPE)
            if payload is not None:
                claim = Claim(**payload)
                found[claim.id] = claim
    return list(found.values())
