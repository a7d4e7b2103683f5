"""The claims ledger: checks fail loudly, paper verdicts are honest, claims round-trip."""

import json

import pytest

from kdlib.book import claims


def test_check_passes_and_fails():
    assert claims.check("t.ok", "test", "small", measured=1e-12, relation="<=", expected=1e-10).verdict == "pass"
    with pytest.raises(claims.ClaimFailed, match="t.bad"):
        claims.check("t.bad", "test", "small", measured=1.0, relation="<=", expected=1e-10)


def test_paper_verdicts_are_recorded_not_forced():
    kwargs = {"relation": "==", "expected": 1.0, "tolerance": 0.1, "partial_tolerance": 0.5, "kind": "paper"}
    assert claims.check("t.p1", "Sec. 1", "x", measured=1.05, **kwargs).verdict == "reproduced"
    assert claims.check("t.p2", "Sec. 1", "x", measured=1.3, **kwargs).verdict == "partly"
    assert claims.check("t.p3", "Sec. 1", "x", measured=3.0, **kwargs).verdict == "not reproduced"


def test_stated_verdict_guards_the_text():
    with pytest.raises(claims.ClaimFailed, match="states 'reproduced'"):
        claims.check("t.p4", "Sec. 1", "x", measured=3.0, relation="<=", expected=1.0, kind="paper",
                     expect="reproduced")


def test_nan_never_passes():
    with pytest.raises(claims.ClaimFailed):
        claims.check("t.nan", "test", "x", measured=float("nan"), relation=">=", expected=0.0)


def test_bad_relation_and_kind_are_rejected():
    with pytest.raises(ValueError, match="relation"):
        claims.check("t.r", "test", "x", measured=1, relation="~", expected=1)
    with pytest.raises(ValueError, match="kind"):
        claims.check("t.k", "test", "x", measured=1, relation="<=", expected=1, kind="guess")


def test_collect_reads_claims_back_from_an_executed_notebook(tmp_path):
    claim = claims.check("t.c", "Sec. 2", "y", measured=0.5, relation="<", expected=1.0)
    from dataclasses import asdict

    notebook = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {claims.MIME_TYPE: asdict(claim), "text/markdown": "..."}}]}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    assert claims.collect(path) == [claim]


def test_a_claim_returned_at_the_end_of_a_cell_is_not_shown_twice():
    from IPython.core.formatters import DisplayFormatter

    claim = claims.check("t.shown", "test", "x", measured=1, relation="<=", expected=2)
    # IPython calls _ipython_display_ instead of formatting the repr; it must emit nothing.
    assert claim._ipython_display_() is None
    assert DisplayFormatter().format(claim)[0] == {}


# --------------------------------------------------------------------------- kinds of claim


def test_a_derivation_that_holds_is_derived_and_one_that_fails_stops_the_chapter():
    claim = claims.check("t.d", "Sec. 5", "closed form", measured=0.0, relation=">=", expected=0.0, kind="derived")
    assert claim.verdict == "derived" and claim.ok
    with pytest.raises(claims.ClaimFailed, match="derivation failed"):
        claims.check("t.d2", "Sec. 5", "closed form", measured=-1.0, relation=">=", expected=0.0, kind="derived")


@pytest.mark.parametrize("text", ["descent stalls, Eq. (eq-gd-stall)", "see (eq-diagonal-closed-form)",
                                  "as paper-eq-3 says", "in fig-s7"])
def test_a_raw_label_in_a_claim_text_is_rejected(text):
    with pytest.raises(ValueError, match="label"):
        claims.check("t.l", "Sec. 2", text, measured=0, relation="<=", expected=1)
    with pytest.raises(ValueError, match="label"):
        claims.check("t.l", "Sec. 2", "fine", measured=0, relation="<=", expected=1, note=text)


def test_words_that_merely_contain_eq_are_not_labels():
    claims.check("t.w", "Sec. 2", "the frequency-eq- prefix and freq-domain words", measured=0, relation="<=",
                 expected=1)


def test_expect_is_only_for_experiments():
    with pytest.raises(ValueError, match="expect"):
        claims.check("t.e", "Sec. 1", "x", measured=0, relation="<=", expected=1, kind="derived",
                     expect="reproduced")


# --------------------------------------------------------------------------- decisions over seeds


def _student_interval(values, confidence=0.95):
    """An independent computation of the t interval: statistics + scipy, not kdlib.stats."""
    import statistics

    from scipy.stats import t

    mean = statistics.fmean(values)
    half = t.ppf(0.5 + confidence / 2, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


def test_over_seeds_reports_the_mean_and_the_student_t_interval():
    values = [0.31, 0.42, 0.60, 0.40, 0.57, 0.57]
    claim = claims.over_seeds("t.s1", "Sec. S5", "x", values=values, relation="<", expected=1.0)
    mean, low, high = _student_interval(values)
    assert claim.runs == 6 and claim.measured == pytest.approx(mean)
    assert (claim.low, claim.high) == (pytest.approx(low), pytest.approx(high))
    assert claim.verdict == "reproduced"  # the whole interval is below 1
    assert "mean of 6 draws, 95 % interval" in claims.measured_text(claim)


@pytest.mark.parametrize(
    ("values", "verdict"),
    [
        ([0.2, 0.3, 0.25, 0.35], "reproduced"),  # interval inside the bound
        ([0.95, 1.05, 1.0, 0.9], "inconclusive"),  # interval straddles 1
        ([1.4, 1.5, 1.45, 1.6], "not reproduced"),  # interval beyond
    ],
)
def test_an_experiment_over_seeds_is_decided_by_its_whole_interval(values, verdict):
    assert claims.over_seeds("t.s2", "Sec. S5", "x", values=values, relation="<", expected=1.0).verdict == verdict


def test_noise_makes_an_experiment_inconclusive_never_a_different_definite_verdict():
    kwargs = {"relation": "<=", "expected": 0.0, "tolerance": 0.1, "partial_tolerance": 0.25}
    assert claims.over_seeds("t.p", "S", "x", values=[0.15, 0.17, 0.16, 0.18], **kwargs).verdict == "partly"
    assert claims.over_seeds("t.p", "S", "x", values=[0.02, 0.20, 0.05, 0.17], **kwargs).verdict == "inconclusive"
    assert claims.over_seeds("t.p", "S", "x", values=[0.02, 0.03, 0.04, 0.05], **kwargs).verdict == "reproduced"
    assert claims.over_seeds("t.p", "S", "x", values=[0.6, 0.7, 0.65, 0.62], **kwargs).verdict == "not reproduced"


def test_a_check_over_seeds_is_decided_by_its_mean_so_noise_never_helps_it_pass():
    kwargs = {"relation": "==", "expected": -0.5, "tolerance": 0.2, "kind": "check"}
    assert claims.over_seeds("t.c1", "S", "x", values=[-0.45, -0.55, -0.5, -0.52], **kwargs).verdict == "pass"
    # A wide spread whose interval would reach the band does not rescue a mean outside it.
    with pytest.raises(claims.ClaimFailed):
        claims.over_seeds("t.c2", "S", "x", values=[-0.1, 0.3, -0.9, 0.1], **kwargs)


def test_over_seeds_needs_two_finite_draws():
    with pytest.raises(ValueError, match="at least 2"):
        claims.over_seeds("t.n", "S", "x", values=[0.5], relation="<", expected=1.0)
    with pytest.raises(ValueError, match="NaN"):
        claims.over_seeds("t.n", "S", "x", values=[0.5, float("nan")], relation="<", expected=1.0)


# --------------------------------------------------------------------------- what the reader sees


def test_expected_shows_the_papers_value_where_it_states_one_and_a_plain_bound_otherwise():
    with_value = claims.check("t.v", "Fig. S7", "limit", measured=0.25, relation="==", expected=0.25,
                              tolerance=1e-5, kind="derived", paper_value="1/4")
    assert claims.expected_text(with_value) == "paper: 1/4"
    bound = claims.check("t.b", "Sec. 2", "gap", measured=0.01, relation="<=", expected=0.0, tolerance=0.05,
                         kind="paper")
    assert claims.expected_text(bound) == "≤ 0.05"  # not "≤ 0 ± 0.05"
    assert claims.bound_text(claims.check("t.g", "S", "x", measured=1, relation=">", expected=0)) == "> 0"
    assert claims.bound_text(with_value) == "0.25 ± 1e-05"


def test_collect_reads_claims_of_older_and_newer_notebooks(tmp_path):
    from dataclasses import asdict

    claim = claims.over_seeds("t.r", "Sec. S5", "y", values=[0.4, 0.5, 0.6], relation="<", expected=1.0)
    old = {key: value for key, value in asdict(claim).items() if key not in ("runs", "low", "high", "confidence",
                                                                             "paper_value", "partial_tolerance")}
    newer = {**asdict(claim), "id": "t.r2", "a_field_from_the_future": 1}
    notebook = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {claims.MIME_TYPE: payload}} for payload in (old, newer)]}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    found = {c.id: c for c in claims.collect(path)}
    assert found["t.r"].runs == 1 and found["t.r2"] == claims.Claim(**{**asdict(claim), "id": "t.r2"})
