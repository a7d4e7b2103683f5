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
