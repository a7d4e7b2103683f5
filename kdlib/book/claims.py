"""The claims ledger: every number the book states is a computed, recorded check.

Three kinds of claim, which a reader must be able to tell apart:

* ``kind="check"``: a correctness property of our own code (an equation residual, an agreement
  with an independent computation). Verdict *pass*; a failure raises :class:`ClaimFailed` and so
  fails the notebook run at every profile.
* ``kind="derived"``: a statement (the paper's or ours) that follows from a formula or a proof
  given in the book, checked numerically. It cannot come out differently once the formula is
  right, so it is not counted as a reproduced experiment. Verdict *derived*; a failure means the
  derivation or its implementation is wrong, and raises.
* ``kind="paper"``: a statement of the paper tested by an *experiment*, given a verdict
  *reproduced*, *partly*, *not reproduced* or *inconclusive* that is recorded honestly, never
  forced. A chapter that states the verdict in its prose passes ``expect=`` so that the run fails
  if the measurement stops agreeing with the text.

An experiment whose outcome depends on random draws is decided by :func:`over_seeds`: the values
of several independent draws give a mean and a confidence interval, and the verdict compares the
whole interval with a bound fixed in the chapter's source before the run (never derived from the
run being judged): *reproduced* when the whole interval satisfies it, *not reproduced* when none
of it does, *inconclusive* when it straddles the bound (more draws would decide).

Each claim is displayed in the notebook as a one-line summary and carried in the executed
notebook as a JSON output of type ``application/vnd.kdlib.claim+json``; ``collect`` reads
them back for the scorecard page and ``kdbook claims``. The summary starts with a MyST target
``(claim-<chapter>-<id>)=`` (see ``anchor``), so the book's scorecard links every claim to the
exact output where it is computed.

Claim texts are plain text shown on several pages and in a terminal: they must not contain a
Sphinx label such as ``eq-gd-stall`` (a reader would see the raw label); name the equation in words.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Claim", "ClaimFailed", "check", "over_seeds", "table", "collect", "MIME_TYPE", "recorded",
           "set_profile", "anchor", "markdown_table", "cell", "expected_text", "bound_text", "measured_text",
           "badge", "KINDS", "KIND_NAMES", "PAPER_VERDICTS", "OK_VERDICTS"]

MIME_TYPE = "application/vnd.kdlib.claim+json"
RELATIONS = ("<=", ">=", "==", "<", ">")
KINDS = ("check", "derived", "paper")
#: How the book names each kind to a reader.
KIND_NAMES = {"paper": "experiment", "derived": "derived", "check": "check of our code"}
PAPER_VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive")
OK_VERDICTS = ("pass", "derived", "reproduced")
_SYMBOLS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">"}
# A Sphinx/MyST label a reader would see verbatim: eq-…, fig-…, thm-…, paper-eq-….
_RAW_LABEL = re.compile(r"(?<![\w-])(?:paper-)?(?:eq|fig|thm|def|lem|claim)-[a-z0-9][a-z0-9-]*", re.IGNORECASE)

_ledger: list[Claim] = []
_profile: str | None = None
_anchored: set[str] = set()  # labels already emitted: a claim re-checked in a notebook gets one target


class ClaimFailed(AssertionError):
    """A correctness check or a derivation failed, or a paper claim's verdict differs from the text."""


@dataclass(frozen=True)
class Claim:
    id: str
    where: str
    statement: str
    kind: Literal["check", "derived", "paper"]
    measured: float
    relation: str
    expected: float
    tolerance: float
    verdict: str
    profile: str | None = None
    notebook: str | None = None
    note: str = ""
    paper_value: str = ""  # what the paper itself states, in its words ("1/4"), when it states a value
    runs: int = 1  # independent draws behind ``measured`` (its mean when more than one)
    low: float | None = None  # confidence interval of the mean over the draws
    high: float | None = None
    confidence: float | None = None
    partial_tolerance: float | None = None

    @property
    def ok(self) -> bool:
        return self.verdict in OK_VERDICTS

    def _ipython_display_(self) -> None:
        """Show nothing: ``check`` has displayed the claim already, so a cell ending in a check
        would otherwise print the dataclass repr under its summary."""

    def describe(self) -> str:
        return (f"{self.id} [{self.where}] {self.statement}: measured {measured_text(self)}, "
                f"bound {bound_text(self)} → {self.verdict}")


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


def _validate(claim_id: str, where: str, statement: str, relation: str, kind: str, expect: str | None,
              note: str) -> None:
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if expect is not None and (kind != "paper" or expect not in PAPER_VERDICTS):
        raise ValueError(f"expect is for paper claims and must be one of {PAPER_VERDICTS}, got {expect!r}")
    for name, text in (("where", where), ("statement", statement), ("note", note)):
        if match := _RAW_LABEL.search(text):
            raise ValueError(f"claim {claim_id}: its {name} shows the label {match.group(0)!r} to the reader; "
                             "name the equation or figure in words")


def _record(claim: Claim, *, expect: str | None) -> Claim:
    _ledger[:] = [c for c in _ledger if c.id != claim.id] + [claim]
    _display(claim)
    if claim.kind in ("check", "derived") and not claim.ok:
        what = "correctness check" if claim.kind == "check" else "derivation"
        raise ClaimFailed(f"{what} failed: {claim.describe()}")
    if expect is not None and claim.verdict != expect:
        raise ClaimFailed(f"the chapter states '{expect}' but the run measured: {claim.describe()}")
    return claim


def check(
    claim_id: str,
    where: str,
    statement: str,
    *,
    measured: float,
    relation: str,
    expected: float,
    tolerance: float = 0.0,
    kind: Literal["check", "derived", "paper"] = "check",
    partial_tolerance: float | None = None,
    expect: str | None = None,
    note: str = "",
    paper_value: str = "",
) -> Claim:
    """Record and display one claim: ``measured relation expected`` within ``tolerance``.

    Args:
        claim_id: stable identifier such as ``"sec2.residual"``.
        where: location in the paper, e.g. ``"Sec. 2, Fig. 1 left"``.
        statement: the claim in our own words (plain text; no Sphinx labels).
        measured: the computed value.
        relation: one of ``<=``, ``>=``, ``==`` (|measured − expected| ≤ tolerance), ``<``, ``>``.
        expected: the bound.
        tolerance: slack allowed on ``expected``, fixed in the chapter's source.
        kind: ``"check"`` (our code; must pass), ``"derived"`` (follows from a formula; must hold) or
            ``"paper"`` (an experiment; verdict recorded).
        partial_tolerance: for paper claims, a looser slack under which the verdict is *partly*.
        expect: for paper claims, the verdict the chapter's text states; a different verdict fails.
        note: one sentence shown with the claim (why the bound, what a miss means).
        paper_value: the value the paper states, in its words, shown as the expected value (else the
            book's bound is shown).
    Raises:
        ValueError: bad relation, kind or expect; a raw label in a text.
        ClaimFailed: a check or derivation fails, or a paper verdict differs from ``expect``.
    """
    _validate(claim_id, where, statement, relation, kind, expect, note)
    measured, expected, tolerance = float(measured), float(expected), float(tolerance)
    holds = _holds(measured, relation, expected, tolerance)
    if kind == "check":
        verdict = "pass" if holds else "fail"
    elif kind == "derived":
        verdict = "derived" if holds else "fail"
    elif holds:
        verdict = "reproduced"
    elif partial_tolerance is not None and _holds(measured, relation, expected, partial_tolerance):
        verdict = "partly"
    else:
        verdict = "not reproduced"
    claim = Claim(
        id=claim_id, where=where, statement=statement, kind=kind, measured=measured, relation=relation,
        expected=expected, tolerance=tolerance, verdict=verdict, profile=_profile,
        notebook=os.environ.get("KDBOOK_NOTEBOOK"), note=note, paper_value=paper_value,
        partial_tolerance=partial_tolerance,
    )
    return _record(claim, expect=expect)


def _student_quantile(confidence: float, degrees: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, degrees))


def _interval_verdict(low: float, high: float, relation: str, expected: float, tolerance: float,
                      partial_tolerance: float | None) -> str:
    """reproduced / partly / not reproduced / inconclusive for an interval against a fixed bound."""

    def all_hold(slack: float) -> bool:
        return _holds(low, relation, expected, slack) and _holds(high, relation, expected, slack)

    def none_hold(slack: float) -> bool:
        if relation in ("<=", "<"):
            return not _holds(low, relation, expected, slack)
        if relation in (">=", ">"):
            return not _holds(high, relation, expected, slack)
        return high < expected - slack or low > expected + slack

    # Noise can only make a verdict inconclusive, never turn it into another definite one: an
    # interval that straddles the strict bound is inconclusive even when it lies within the loose one.
    if all_hold(tolerance):
        return "reproduced"
    if partial_tolerance is not None and all_hold(partial_tolerance) and none_hold(tolerance):
        return "partly"
    if none_hold(tolerance if partial_tolerance is None else partial_tolerance):
        return "not reproduced"
    return "inconclusive"


def over_seeds(
    claim_id: str,
    where: str,
    statement: str,
    *,
    values: Sequence[float],
    relation: str,
    expected: float,
    tolerance: float = 0.0,
    kind: Literal["check", "derived", "paper"] = "paper",
    partial_tolerance: float | None = None,
    expect: str | None = None,
    note: str = "",
    paper_value: str = "",
    confidence: float = 0.95,
) -> Claim:
    """Record a claim measured on several independent draws (seeds), decided with its uncertainty.

    The measured value is the mean of ``values``; its ``confidence`` interval is the Student-t
    interval mean ± t·s.e.m. (``kdlib.stats.mean_estimate``), exact for normal draws and honest for
    the few draws a chapter affords. The bound (``relation``, ``expected``, ``tolerance``) is
    fixed in the chapter's source before the run.

    * A paper claim (an experiment) is *reproduced* when the whole interval satisfies the bound,
      *partly* when the whole interval misses it but satisfies the looser ``partial_tolerance``,
      *not reproduced* when no part of it satisfies the (loosest) bound, and *inconclusive* when the
      interval straddles a bound: more draws would decide.
    * A check or a derivation passes when the *mean* satisfies the bound: a noisier run can only
      make it fail, never pass more easily.

    Raises:
        ValueError: fewer than two values, a NaN among them, or the errors of :func:`check`.
        ClaimFailed: as :func:`check`.
    """
    from kdlib.stats import mean_estimate  # here, not at the top: reading claims back never needs torch

    _validate(claim_id, where, statement, relation, kind, expect, note)
    values = [float(value) for value in values]
    if len(values) < 2:
        raise ValueError(f"claim {claim_id}: a decision over seeds needs at least 2 values, got {len(values)}")
    if any(math.isnan(value) for value in values):
        raise ValueError(f"claim {claim_id}: a draw gave NaN: {values}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    expected, tolerance = float(expected), float(tolerance)
    estimate = mean_estimate(values)
    mean = float(estimate.mean)
    if all(math.isfinite(value) for value in values):
        low, high = (float(bound) for bound in estimate.interval(_student_quantile(confidence, len(values) - 1)))
    else:  # an infinite draw (e.g. a run that never converged): no finite interval
        low, high = min(values), max(values)
    if kind == "paper":
        verdict = _interval_verdict(low, high, relation, expected, tolerance, partial_tolerance)
    else:
        holds = _holds(mean, relation, expected, tolerance)
        verdict = ("pass" if kind == "check" else "derived") if holds else "fail"
    claim = Claim(
        id=claim_id, where=where, statement=statement, kind=kind, measured=mean, relation=relation,
        expected=expected, tolerance=tolerance, verdict=verdict, profile=_profile,
        notebook=os.environ.get("KDBOOK_NOTEBOOK"), note=note, paper_value=paper_value, runs=len(values),
        low=low, high=high, confidence=confidence, partial_tolerance=partial_tolerance,
    )
    return _record(claim, expect=expect)


def recorded() -> list[Claim]:
    """Claims checked so far in this process, in order."""
    return list(_ledger)


# Plain symbols (not emoji): they render with the fonts every browser has, headless ones included.
_BADGES = {"pass": "✓ pass", "fail": "✗ fail", "derived": "✓ derived", "reproduced": "✓ reproduced",
           "partly": "◐ partly", "not reproduced": "✗ not reproduced", "inconclusive": "? inconclusive"}


def cell(text: str) -> str:
    """``text`` made safe for a markdown table cell (a literal ``|`` would split the cell)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def bound_text(claim: Claim) -> str:
    """The book's bound as a reader reads it: ``≤ 0.05``, ``> 0``, ``−0.5 ± 0.1``, ``= 0.25``."""
    if claim.relation == "==":
        return f"{_fmt(claim.expected)} ± {_fmt(claim.tolerance)}" if claim.tolerance else f"= {_fmt(claim.expected)}"
    slack = claim.tolerance if claim.relation in ("<=", "<") else -claim.tolerance
    value = claim.expected + slack
    return f"{_SYMBOLS[claim.relation]} {_fmt(value)}"


def expected_text(claim: Claim) -> str:
    """The expected value a reader compares with: the paper's own value where it states one, else our bound."""
    return f"paper: {claim.paper_value}" if claim.paper_value else bound_text(claim)


def measured_text(claim: Claim) -> str:
    """The measured value; for a claim over several draws, its mean and confidence interval."""
    if claim.runs > 1 and claim.low is not None and claim.high is not None:
        percent = f"{round(100 * (claim.confidence or 0.95))} %"
        return (f"{_fmt(claim.measured)} (mean of {claim.runs} draws, {percent} interval "
                f"{_fmt(claim.low)} to {_fmt(claim.high)})")
    return _fmt(claim.measured)


def badge(verdict: str) -> str:
    """The verdict with its symbol, as the book shows it."""
    return _BADGES[verdict]


def _row(claim: Claim) -> str:
    return (f"| `{claim.id}` | {_BADGES[claim.verdict]} | {KIND_NAMES[claim.kind]} | {cell(claim.where)} | "
            f"{cell(claim.statement)} | {cell(measured_text(claim))} | {cell(expected_text(claim))} |")


# The verdict comes second: on a narrow page a wide table scrolls, and the verdict must stay in view.
_HEADER = ("| claim | verdict | kind | paper | statement | measured | expected |\n"
           "|---|---|---|---|---|---|---|")


def anchor(claim: Claim) -> str:
    """The Sphinx label of the output that displays ``claim``: ``claim-<chapter>-<id>``, lower case.

    The chapter (the notebook stem, from ``KDBOOK_NOTEBOOK`` at execution) keeps labels unique
    across chapters; characters other than letters and digits become ``-`` so the label is also
    a valid HTML id.
    """
    raw = f"claim-{claim.notebook}-{claim.id}" if claim.notebook else f"claim-{claim.id}"
    return re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")


def _summary_markdown(claim: Claim) -> str:
    """The one-line display of a claim in its chapter."""
    kind = {"paper": "Experiment", "derived": "Derived", "check": "Check"}[claim.kind]
    text = (f"**{kind} `{claim.id}`** ({claim.where}): {claim.statement} — measured {measured_text(claim)}; "
            f"{'the paper states ' + claim.paper_value + '; ' if claim.paper_value else ''}"
            f"decided against {bound_text(claim)}")
    if claim.partial_tolerance is not None:
        partly = Claim(**{**asdict(claim), "tolerance": claim.partial_tolerance})
        text += f" (partly: {bound_text(partly)})"
    text += f": **{_BADGES[claim.verdict]}**"
    if claim.note:
        text += f" *{claim.note}*"
    return text


def _display(claim: Claim) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: nothing to show
        return
    if get_ipython() is None:
        return
    markdown = _summary_markdown(claim)
    label = anchor(claim)
    if label not in _anchored:
        _anchored.add(label)
        markdown = f"({label})=\n{markdown}"
    display({"text/markdown": markdown, MIME_TYPE: asdict(claim)}, raw=True)


def markdown_table(claims: list[Claim]) -> str:
    """A markdown table of ``claims``: id, verdict, kind, paper location, statement, measured, expected."""
    order = {"paper": 0, "derived": 1, "check": 2}
    ordered = sorted(claims, key=lambda claim: order[claim.kind])  # stable: chapter order within a kind
    return "\n".join([_HEADER, *(_row(c) for c in ordered)])


def table() -> None:
    """Display every claim of this notebook as a measured-vs-claimed table, experiments first."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(recorded())))


def collect(notebook: str | Path) -> list[Claim]:
    """Claims carried in an executed notebook's outputs."""
    data = json.loads(Path(notebook).read_text())
    found: dict[str, Claim] = {}
    known = set(Claim.__dataclass_fields__)
    for cell_ in data.get("cells", []):
        for output in cell_.get("outputs", []):
            payload = output.get("data", {}).get(MIME_TYPE)
            if payload is not None:
                claim = Claim(**{key: value for key, value in payload.items() if key in known})
                found[claim.id] = claim
    return list(found.values())
