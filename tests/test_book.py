"""The notebook pipeline: parameters, validation, papermill execution and the execution cache."""

import json
import textwrap

import pytest

from kdlib.book import cli
from kdlib.book import notebooks as book

TINY = textwrap.dedent('''\
    # ---
    # jupyter:
    #   jupytext: {formats: "py:percent"}
    #   kernelspec: {name: python3, display_name: Python 3, language: python}
    # ---

    # %% [markdown]
    # # Tiny chapter

    # %% tags=["parameters"]
    profile = "quick"
    device = "auto"
    seed = 0
    size = None

    # %%
    from kdlib.book import claims, profiles
    cfg = profiles.resolve(None, profile, device=device, seed=seed)
    print("profile", cfg.name, "size", size)
    claims.check("tiny.ok", "test", "one is small", measured=1, relation="<=", expected=2)
''')


@pytest.fixture
def tiny_root(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01-tiny.py").write_text(TINY)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    monkeypatch.setenv("KDBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KDBOOK_ROOT", str(tmp_path))
    return tmp_path


def test_parameters_come_from_the_tagged_cell(tiny_root):
    params = book.notebook_parameters(tiny_root / "notebooks" / "01-tiny.py")
    assert params == {"profile": "quick", "device": "auto", "seed": 0, "size": None}


def test_notebook_names_resolve_by_prefix_and_reject_unknown(tiny_root):
    assert book.resolve_notebooks(tiny_root, ["01"]) == ["01-tiny"]
    assert book.resolve_notebooks(tiny_root, ["notebooks/01-tiny.py"]) == ["01-tiny"]
    with pytest.raises(book.BookError, match="notebooks: 01-tiny"):
        book.resolve_notebooks(tiny_root, ["02"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": "fast"}, "smoke, quick, paper"),
        ({"device": "tpu"}, "device"),
        ({"parameters": {"widht": 3}}, "no setting .widht.; its settings: none; notebook parameters: seed, size"),
        ({"parameters": {"profile": "smoke"}}, "--profile"),
    ],
)
def test_bad_runs_are_rejected_before_any_kernel_starts(tiny_root, kwargs, message):
    with pytest.raises(book.BookError, match=message):
        book.run_notebooks(["01"], root=tiny_root, progress=False, **kwargs)


def test_cli_reports_errors_with_exit_code_2(tiny_root, capsys):
    assert cli.main(["run", "99"]) == 2
    assert "not a notebook" in capsys.readouterr().err


def test_values_from_the_command_line_are_typed():
    assert book.parse_value("3") == 3
    assert book.parse_value("0.5") == 0.5
    assert book.parse_value("[1, 2]") == [1, 2]
    assert book.parse_value("cuda") == "cuda"
    assert book.parse_value("true") is True


@pytest.mark.slow
def test_execution_is_cached_on_source_kdlib_and_parameters(tiny_root):
    first = book.run_notebooks(["01"], profile="smoke", device="cpu", parameters={"size": 3}, root=tiny_root,
                               progress=False)[0]
    assert first.status == "ok" and not first.cached
    executed = tiny_root / "book" / "generated" / "01-tiny.ipynb"
    data = json.loads(executed.read_text())
    assert data["metadata"]["kdbook"]["profile"] == "smoke"
    outputs = "".join("".join(o.get("text", "")) for c in data["cells"] for o in c.get("outputs", []))
    assert "profile smoke size 3" in outputs
    again = book.run_notebooks(["01"], profile="smoke", device="cpu", parameters={"size": 3}, root=tiny_root,
                               progress=False)[0]
    assert again.cached and again.key == first.key
    changed = book.cache_key(tiny_root / "notebooks" / "01-tiny.py", {"profile": "smoke", "device": "cpu", "size": 4})
    assert changed != first.key


@pytest.mark.slow
def test_a_failing_check_fails_the_run_and_is_reported(tiny_root):
    source = tiny_root / "notebooks" / "01-tiny.py"
    source.write_text(TINY.replace("measured=1,", "measured=5,"))
    with pytest.raises(book.BookError, match="1 notebook\\(s\\) failed"):
        book.run_notebooks(["01"], profile="smoke", device="cpu", root=tiny_root, progress=False)
    executed = json.loads((tiny_root / "book" / "generated" / "01-tiny.ipynb").read_text())
    assert executed["metadata"]["kdbook"]["status"] == "failed"


def test_a_parameter_no_selected_notebook_has_is_rejected_before_any_runs(tiny_root):
    (tiny_root / "notebooks" / "02-tiny.py").write_text(TINY)
    with pytest.raises(book.BookError, match="no selected notebook has parameter"):
        book.run_notebooks(None, root=tiny_root, progress=False, parameters={"widht": 3})
    assert not (tiny_root / "book" / "generated").exists()
