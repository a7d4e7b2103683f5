"""The executed smoke book: every chapter ran, recorded its claims, and no correctness check failed.

Runs after `make notebooks` (marker ``notebooks``) and reads that one execution of each chapter:
nothing here executes a real chapter again, except chapter 01 on a dask cluster below. The smoke
book is the test book in ``$KDBOOK_OUT`` (``_build/test`` unless set), never the reader's
``book/generated``.
"""

import json
import os

import pytest

from kdlib.book import claims, core
from kdlib.book import notebooks as book

pytestmark = pytest.mark.notebooks

ROOT = book.find_root()
CHAPTERS = list(book.available_notebooks(ROOT))
TEST_OUT = os.environ.get("KDBOOK_OUT") or "_build/test"  # relative paths are to the book's root


@pytest.fixture(autouse=True, scope="module")
def _the_test_book():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KDBOOK_OUT", TEST_OUT)
        yield


def test_the_smoke_book_is_not_the_readers_book():
    assert core.generated_dir(ROOT) != ROOT / "book" / "generated"
    for path in book.executed_notebooks(ROOT).values():
        assert json.loads(path.read_text())["metadata"]["kdbook"]["profile"] == "smoke"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_every_chapter_was_executed_and_recorded_its_claims(stem):
    executed = book.executed_notebooks(ROOT)
    assert stem in executed, f"{stem} has no executed copy in {core.generated_dir(ROOT)}; run `make notebooks`"
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


DASK_CHAPTER = "01-effective-student"  # the cheapest chapter that sends its runs through kdlib's sweep


@pytest.mark.slow
def test_a_real_chapter_on_a_local_dask_cluster_states_the_same_numbers(tmp_path, monkeypatch):
    """`kdbook run --cluster local` of a real chapter at smoke equals the in-process `make notebooks` run.

    The chapter runs on two dask worker processes in a scratch copy of the book; every claim it
    records must carry exactly the measured value of the in-process execution of the test book.
    One chapter suffices for the mechanism (the tiny book of test_executor checks the rest); running
    all of them again would execute the whole book a second time.
    """
    import shutil

    from kdlib.book import cli

    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copy(ROOT / "_toc.yml", tmp_path / "_toc.yml")
    monkeypatch.setenv("KDBOOK_ROOT", str(tmp_path))
    monkeypatch.setenv("KDBOOK_CACHE", str(tmp_path / "cache"))
    assert cli.main(["run", DASK_CHAPTER, "--profile", "smoke", "--device", "cpu", "--cluster", "local",
                     "--workers", "2"]) == 0
    local = book.executed_notebooks(ROOT)
    remote = book.executed_notebooks(tmp_path)
    assert set(remote) == {DASK_CHAPTER} and DASK_CHAPTER in local
    for stem in remote:
        ran_here = json.loads(local[stem].read_text())["metadata"]["kdbook"]
        ran_there = json.loads(remote[stem].read_text())["metadata"]["kdbook"]
        settings = ("profile", "device", "parameters")
        assert [ran_here[k] for k in settings] == [ran_there[k] for k in settings], (
            f"book/generated/{stem}.ipynb ran with other settings; run `make notebooks` first")
        assert ran_there["executor"].startswith("dask")
        here = {c.id: c.measured for c in claims.collect(local[stem])}
        there = {c.id: c.measured for c in claims.collect(remote[stem])}
        assert here and there == here, stem
