"""The executed smoke book: every chapter ran, recorded its claims, and no correctness check failed.

Runs after `make notebooks` (marker ``notebooks``); nbval re-executes the same notebooks.
"""

import json

import pytest

from kdlib import book, claims

pytestmark = pytest.mark.notebooks

ROOT = book.find_root()
CHAPTERS = list(book.available_notebooks(ROOT))


@pytest.mark.parametrize("stem", CHAPTERS)
def test_every_chapter_was_executed_and_recorded_its_claims(stem):
    executed = book.executed_notebooks(ROOT)
    assert stem in executed, f"{stem} has no executed copy; run `make notebooks`"
    meta = json.loads(executed[stem].read_text())["metadata"]["kdbook"]
    assert meta["status"] == "ok"
    found = claims.collect(executed[stem])
    assert found, f"{stem} records no claims"
    failing = [c.describe() for c in found if c.kind == "check" and not c.ok]
    assert not failing


def test_toc_lists_every_chapter():
    toc = (ROOT / "_toc.yml").read_text()
    for stem in CHAPTERS:
        assert f"book/generated/{stem}" in toc
