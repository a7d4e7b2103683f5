"""Reliability of the machinery (issue 16): what a shared cache may contain, what a failure prints,
what bad options do, and what two runs at once do.

Helper task functions live at module level so that worker processes can import them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import subprocess
import sys
import textwrap
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from kdlib.book import cli, executor, results
from kdlib.book import notebooks as book
from kdlib.book.results import CorruptEntry, ResultCache, UnstorableResult, decode, encode, task_key
from kdlib.book.sweeps import SweepError, checkpoint_folder, sweep

# ---------------------------------------------------------------- task functions (importable by workers)


def square(x: float) -> float:
    return x * x


def returns_an_object(x: int) -> object:
    return {"value": x, "fit": [1.0, 2.0, object()]} if x == 2 else {"value": x}


def mixed_result(x: float) -> dict:
    """Tensors with autograd history, NumPy scalars, a module's state dict: what chapters return."""
    weight = torch.full((2, 3), x, requires_grad=True) * 2
    model = torch.nn.Linear(3, 2)
    return {"weight": weight, "ratio": np.float32(x / 3), "count": 3, "state": model.state_dict(),
            "curve": (torch.linspace(0, x, 5, dtype=torch.float64), [float("nan"), -0.0])}


def trained_with_checkpoints(steps: int, stop_at: int, flag: str, checkpoint_dir: Path) -> dict:
    """A resumable training run: one checkpoint (a state dict, weights_only) per step; while ``flag``
    exists, it is 'killed' (KeyboardInterrupt) after saving step ``stop_at``."""
    model = torch.nn.Linear(4, 1, dtype=torch.float64)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(0.5)
    start = 0
    last = Path(checkpoint_dir) / "last.pt"
    if last.is_file():
        saved = torch.load(last, weights_only=True)
        model.load_state_dict(saved["model"])
        start = saved["step"]
    for step in range(start, steps):
        with torch.no_grad():
            model.weight.mul_(0.5).add_(step)
        torch.save({"model": model.state_dict(), "step": step + 1}, last)
        if step + 1 == stop_at and Path(flag).exists():
            raise KeyboardInterrupt
    return {"state": model.state_dict(), "resumed_from": start}


# ---------------------------------------------------------------- 1: the result cache runs no code


class _TouchOnLoad:
    """A pickle whose loading creates a file: stands for any code an attacker wants run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _forge(path: Path, key: str, format: int, payload: bytes) -> None:
    """An entry with a *recomputed* checksum: what someone able to write to a shared cache can produce."""
    header = {"format": format, "key": key, "sha256": hashlib.sha256(payload).hexdigest(), "length": len(payload),
              "provenance": {}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(json.dumps(header).encode() + b"\n" + payload)


@pytest.mark.parametrize("format", [1, 2])
def test_a_forged_pickle_entry_is_rejected_recomputed_and_never_run(tmp_path, format):
    marker = tmp_path / "pwned"
    cache = ResultCache(tmp_path / "results")
    key = task_key(square, {"x": 3.0})
    _forge(cache.file(key), key, format, pickle.dumps({"value": _TouchOnLoad(marker)}))
    with pytest.raises(CorruptEntry):
        cache.get(key)
    with pytest.warns(RuntimeWarning, match="corrupt cache entry recomputed"):
        again = sweep(square, [{"x": 3.0}], cache=cache, progress=False)
    assert list(again) == [9.0] and again.corrupt == [key] and again.computed == 1
    assert not marker.exists(), "loading the forged entry ran its code"
    assert cache.get(key) == 9.0  # replaced by a whole entry of the current format


@pytest.mark.parametrize("description", [
    {"t": "tensor", "dtype": "object", "shape": [1], "offset": 0, "nbytes": 8},
    {"t": "ndarray", "dtype": "|O", "shape": [1], "offset": 0, "nbytes": 8},
    {"t": "tensor", "dtype": "float64", "shape": [4], "offset": 0, "nbytes": 10**6},
    {"t": "global", "module": "os", "name": "system", "args": ["touch pwned"]},
    {"t": "dict", "v": [[{"t": "list", "v": []}, 1]]},
])
def test_a_forged_description_is_a_corrupt_entry(tmp_path, description):
    cache = ResultCache(tmp_path)
    key = task_key(square, {"x": 1.0})
    _forge(cache.file(key), key, results.FORMAT,
           json.dumps({"byteorder": __import__("sys").byteorder, "value": description}).encode() + b"\n" + bytes(8))
    with pytest.raises(CorruptEntry, match="cannot decode"):
        cache.get(key)


def test_the_format_holds_what_chapters_return_exactly():
    value = mixed_result(1.5)
    back = decode(encode(value))
    assert back.keys() == value.keys() and type(back["state"]) is OrderedDict
    assert torch.equal(back["weight"], value["weight"].detach()) and not back["weight"].requires_grad
    assert type(back["ratio"]) is np.float32 and back["ratio"] == value["ratio"] and back["count"] == 3
    assert back["state"]._metadata == value["state"]._metadata  # load_state_dict reads module versions here
    assert all(torch.equal(back["state"][k], v) for k, v in value["state"].items())
    assert torch.equal(back["curve"][0], value["curve"][0]) and back["curve"][0].dtype == torch.float64
    assert math.isnan(back["curve"][1][0]) and math.copysign(1, back["curve"][1][1]) == -1  # bit-exact floats
    odd = {"bf16": torch.arange(5, dtype=torch.bfloat16), "empty": torch.zeros(0, 3), "flag": torch.tensor(True),
           "view": torch.arange(12.0).reshape(3, 4).T, "conj": torch.tensor([1 + 2j]).conj(),
           "array": np.arange(6, dtype=np.int16).reshape(2, 3), "size": torch.Size([2, 3]), 7: (None, b"\x00\n")}
    again = decode(encode(odd))
    for name in ("bf16", "empty", "flag", "view"):
        assert torch.equal(again[name], odd[name]) and again[name].dtype == odd[name].dtype, name
    assert torch.equal(again["conj"], odd["conj"].resolve_conj())
    assert np.array_equal(again["array"], odd["array"]) and again["array"].dtype == np.int16
    assert again["size"] == torch.Size([2, 3]) and again[7] == (None, b"\x00\n")


def test_a_result_the_cache_cannot_hold_fails_its_task_by_name_and_the_rest_is_stored(tmp_path):
    with pytest.raises(UnstorableResult, match=r"value\['fit'\]\[2\] is a builtins.object"):
        encode(returns_an_object(2))
    tasks = [{"x": x} for x in range(4)]
    with pytest.raises(SweepError) as caught:
        sweep(returns_an_object, tasks, cache=tmp_path, progress=False)
    message = str(caught.value)
    assert "1 of 4 sweep task(s) failed" in message and "task 2 {'x': 2}" in message
    assert "returns_an_object cannot be cached: value['fit'][2] is a builtins.object" in message
    assert ResultCache(tmp_path).info().entries == 3
    uncached = sweep(returns_an_object, tasks, cache=False, progress=False)  # without a store, anything goes
    assert isinstance(uncached[2]["fit"][2], object)


def test_a_cold_run_returns_what_a_warm_run_returns(tmp_path):
    cold = sweep(mixed_result, [{"x": 1.5}], cache=tmp_path, progress=False)
    warm = sweep(mixed_result, [{"x": 1.5}], cache=tmp_path, progress=False)
    assert (cold.computed, warm.hits) == (1, 1)
    for a, b in ((cold[0], warm[0]), (cold[0]["state"], warm[0]["state"])):
        assert {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in b.items()}
    assert not cold[0]["weight"].requires_grad and torch.equal(cold[0]["weight"], warm[0]["weight"])


def test_checkpointed_tasks_resume_and_their_state_dicts_are_cached(tmp_path):
    flag = tmp_path / "kill"
    flag.touch()
    task = {"steps": 6, "stop_at": 3, "flag": str(flag)}
    cache = ResultCache(tmp_path / "cache" / "results")
    with pytest.raises(KeyboardInterrupt):
        sweep(trained_with_checkpoints, [task], cache=cache, progress=False)
    folder = checkpoint_folder(cache, task_key(trained_with_checkpoints, task))
    assert (folder / "last.pt").is_file() and cache.info().entries == 0
    flag.unlink()
    resumed = sweep(trained_with_checkpoints, [task], cache=cache, progress=False)
    assert resumed.computed == 1 and resumed[0]["resumed_from"] == 3
    (tmp_path / "scratch").mkdir()
    uninterrupted = trained_with_checkpoints(6, 3, str(flag), tmp_path / "scratch")  # a run from scratch
    assert all(torch.equal(resumed[0]["state"][k], v) for k, v in uninterrupted["state"].items())
    warm = sweep(trained_with_checkpoints, [task], cache=cache, progress=False)
    assert warm.hits == 1 and type(warm[0]["state"]) is OrderedDict
    assert all(torch.equal(warm[0]["state"][k], v) for k, v in resumed[0]["state"].items())
    model = torch.nn.Linear(4, 1, dtype=torch.float64)
    model.load_state_dict(warm[0]["state"])  # a cached state dict loads into its model


# ---------------------------------------------------------------- 10: an unwritable result cache


def _unwritable(tmp_path: Path, how: str, monkeypatch) -> Path:
    if how == "under-a-file":  # fails for root too, unlike chmod
        (tmp_path / "file").write_text("")
        return tmp_path / "file" / "results"

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(args[-1]))

    monkeypatch.setattr(results.os, "replace", refuse)
    return tmp_path / "results"


@pytest.mark.parametrize("how", ["under-a-file", "permission-denied"])
def test_an_unwritable_result_cache_warns_and_keeps_the_results(tmp_path, monkeypatch, how):
    path = _unwritable(tmp_path, how, monkeypatch)
    tasks = [{"x": float(x)} for x in range(3)]
    with pytest.warns(RuntimeWarning, match=r"3 computed result\(s\) could not be stored"):
        done = sweep(square, tasks, cache=path, progress=False)
    assert list(done) == [0.0, 1.0, 4.0] and done.computed == 3 and not done.failures
    flag = tmp_path / "no-kill"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        trained = sweep(trained_with_checkpoints, [{"steps": 2, "stop_at": 1, "flag": str(flag)}], cache=path,
                        progress=False)  # its checkpoints go to a temporary folder instead
    assert trained[0]["resumed_from"] == 0


# ---------------------------------------------------------------- a tiny book for the pipeline's tests

REPO = Path(__file__).resolve().parents[1]

TINY = textwrap.dedent('''\
    # %% [markdown]
    # # Tiny chapter

    # %% tags=["parameters"]
    profile = "quick"
    device = "auto"
    seed = 0
    pause = 0.0
    fail = False

    # %%
    import os
    import time
    from kdlib.book import claims, profiles
    cfg = profiles.resolve(None, profile, device=device, seed=seed)
    with open("executions.log", "a") as log:
        log.write(f"{os.getpid()}\\n")
    time.sleep(pause)

    # %%
    width = -1
    if fail:
        raise ValueError(f"the width is negative: {width}")
    claims.check("tiny.ok", "test", "one is small", measured=1, relation="<=", expected=2)
''')


@pytest.fixture
def tiny_book(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01-tiny.py").write_text(TINY)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    monkeypatch.setenv("KDBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KDBOOK_ROOT", str(tmp_path))
    monkeypatch.delenv("KDLIB_EXECUTOR", raising=False)
    return tmp_path


def _executions(root: Path) -> int:
    log = root / "executions.log"
    return len(log.read_text().splitlines()) if log.is_file() else 0


def _kdbook(root: Path, *args: str, cache: Path | None = None, **environment: str) -> subprocess.Popen:
    """``kdbook`` in its own process, as a user runs it."""
    env = {**os.environ, "KDBOOK_ROOT": str(root), "KDBOOK_CACHE": str(cache or root / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]), **environment}
    if "KDLIB_EXECUTOR" not in environment:
        env.pop("KDLIB_EXECUTOR", None)
    return subprocess.Popen([sys.executable, "-m", "kdlib.book.cli", *args], env=env, cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _metadata(root: Path) -> dict:
    return json.loads((root / "book" / "generated" / "01-tiny.ipynb").read_text())["metadata"]["kdbook"]


# ---------------------------------------------------------------- 7 and 12: what a failed chapter says


@pytest.mark.slow
def test_a_failing_cell_is_reported_by_exception_and_cell_and_claims_names_the_chapter(tiny_book, capsys):
    assert cli.main(["run", "01", "--profile", "smoke", "--device", "cpu", "-p", "fail", "true"]) == 2
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.strip().startswith("01-tiny:"))
    assert "ValueError: the width is negative: -1 (in cell" in line, err
    assert 'line 3: raise ValueError(f"the width is negative: {width}")' in line, err
    meta = _metadata(tiny_book)
    assert meta["status"] == "failed" and meta["error"].startswith("ValueError: the width is negative: -1")
    assert "Traceback" in meta["error"] or "---------" in meta["error"]  # the notebook's traceback follows
    assert cli.main(["claims"]) == 1
    err = capsys.readouterr().err
    assert "1 chapter(s) failed" in err and "01-tiny (ValueError: the width is negative: -1" in err


def test_claims_exits_non_zero_naming_a_failed_chapter(tiny_book, capsys):
    generated = tiny_book / "book" / "generated"
    generated.mkdir(parents=True)
    notebook = {"cells": [], "metadata": {"kdbook": {"status": "failed", "profile": "smoke",
                                                     "error": "MemoryError: out of memory (in cell 4)\nTraceback"}},
                "nbformat": 4, "nbformat_minor": 5}
    (generated / "01-tiny.ipynb").write_text(json.dumps(notebook))
    assert cli.main(["claims"]) == 1
    err = capsys.readouterr().err
    assert "kdbook: error: 1 chapter(s) failed" in err and "01-tiny (MemoryError: out of memory (in cell 4))" in err
    (generated / "01-tiny.ipynb").write_text(json.dumps(notebook)[:40])  # truncated
    assert cli.main(["claims"]) == 2
    err = capsys.readouterr().err
    assert "01-tiny.ipynb is not a readable notebook" in err and "kdbook run 01-tiny" in err
    assert len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- 10: the notebook cache


@pytest.mark.slow
def test_a_damaged_cached_execution_is_executed_again_not_published(tiny_book, capsys):
    run = ["run", "01", "--profile", "smoke", "--device", "cpu"]
    assert cli.main(run) == 0 and _executions(tiny_book) == 1
    entry = book.cached_execution(tiny_book, "01-tiny", _metadata(tiny_book)["key"])
    whole = entry.read_bytes()
    assert cli.main(run) == 0 and _executions(tiny_book) == 1  # whole: reused
    assert "ok (cached)" in capsys.readouterr().out
    for damaged in (whole[:-100], whole[:-30] + b"X" + whole[-29:]):  # truncated; one byte edited
        entry.write_bytes(damaged)
        executions = _executions(tiny_book)
        assert cli.main(run) == 0
        captured = capsys.readouterr()
        assert "cached execution of 01-tiny is damaged, executing again" in captured.err
        assert "ok (cached)" not in captured.out and _executions(tiny_book) == executions + 1
        assert _metadata(tiny_book)["status"] == "ok"
        assert cli.main(["claims"]) == 0


@pytest.mark.slow
def test_an_unwritable_notebook_cache_warns_and_keeps_the_result(tiny_book, monkeypatch, capsys):
    (tiny_book / "file").write_text("")
    monkeypatch.setenv("KDBOOK_CACHE", str(tiny_book / "file" / "cache"))  # unwritable, even for root
    assert cli.main(["run", "01", "--profile", "smoke", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "kdbook: warning: could not cache the execution of 01-tiny" in captured.err
    assert "Traceback" not in captured.err and " ok (" in captured.out
    assert _metadata(tiny_book)["status"] == "ok" and _executions(tiny_book) == 1


# ---------------------------------------------------------------- 11: two runs at once


@pytest.mark.slow
def test_two_runs_of_one_chapter_at_once_execute_it_once(tiny_book):
    runs = [_kdbook(tiny_book, "run", "01", "--profile", "smoke", "--device", "cpu", "-p", "pause", "3")
            for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert _executions(tiny_book) == 1, "both runs executed the chapter"
    assert sum("ok (cached)" in out for out, _ in outputs) == 1
    meta = _metadata(tiny_book)
    assert meta["status"] == "ok" and meta["host"] and meta["wall_s"] >= 3
    assert not [p.name for p in (tiny_book / "book" / "generated").iterdir() if p.name != "01-tiny.ipynb"]


@pytest.mark.slow
def test_two_forced_runs_on_separate_caches_each_publish_a_whole_notebook(tiny_book):
    runs = [_kdbook(tiny_book, "run", "01", "--profile", "smoke", "--device", "cpu", "--force", "-p", "pause", "1",
                    cache=tiny_book / f"cache-{n}") for n in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert _executions(tiny_book) == 2
    meta = _metadata(tiny_book)  # whichever finished last, whole and stamped
    assert meta["status"] == "ok" and meta["commit"] is not None and meta["wall_s"] >= 1
    assert not [p.name for p in (tiny_book / "book" / "generated").iterdir() if p.name != "01-tiny.ipynb"]


@pytest.mark.slow
def test_a_chapter_named_twice_runs_once_on_a_pool(tiny_book, capsys):
    assert cli.main(["run", "01", "01", "--profile", "smoke", "--device", "cpu", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 notebook(s)" in out and "[1/1]" in out and _executions(tiny_book) == 1


# ---------------------------------------------------------------- 8: -p values, checked before anything runs


@pytest.fixture
def nothing_runs(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a chapter started although its parameters are bad")

    monkeypatch.setattr(book, "run_notebook", refuse)
    monkeypatch.setattr(executor, "open_executor", refuse)
    monkeypatch.delenv("KDBOOK_ROOT", raising=False)
    monkeypatch.delenv("KDLIB_EXECUTOR", raising=False)
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize(("chapter", "name", "value", "message"), [
    ("01", "points", "3.7", "setting points=3.7 is not allowed; allowed: int in [3, 1000001]"),
    ("01", "points", "true", "setting points=True is not allowed"),
    ("01", "points", "0", "setting points=0 is out of range"),
    ("01", "points", "-5", "setting points=-5 is out of range"),
    ("01", "points", "NaN", "setting points='NaN' is not allowed"),
    ("01", "z_max", "nan", "setting z_max=nan is not allowed"),
    ("01", "z_max", ".inf", "setting z_max=inf is not allowed"),
    ("01", "points", "1e8", "setting points='1e8' is out of range"),
    ("01", "points", "100000000", "setting points=100000000 is out of range"),
    ("s1-ntk-regime", "widths", "true", "setting widths=True is not allowed; allowed: a non-empty tuple of int"),
    ("s1-ntk-regime", "widths", "64,0", "is out of range"),
    ("01", "seed", "-1", "seed must be a non-negative integer, got -1"),
    ("01", "seed", "1.5", "seed must be a non-negative integer, got 1.5"),
    ("01", "seed", "true", "seed must be a non-negative integer, got True"),
    ("01", "pointz", "3", "has no setting 'pointz'"),
])
def test_bad_parameter_values_are_rejected_by_kdbook_run_before_anything_runs(nothing_runs, capsys, chapter, name,
                                                                                value, message):
    assert cli.main(["run", chapter, "-p", name, value]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("kdbook: error:") and len(err.strip().splitlines()) == 1


def test_a_bad_value_for_every_selected_chapter_is_reported_with_its_reason(nothing_runs, capsys):
    assert cli.main(["run", "-p", "points", "3.7"]) == 2  # every chapter: the reason, not just "no chapter has it"
    assert "setting points=3.7 is not allowed; allowed: int" in capsys.readouterr().err
    assert cli.main(["run", "-p", "seed", "-1"]) == 2
    assert "seed must be a non-negative integer, got -1" in capsys.readouterr().err
    assert cli.main(["run", "-p", "pointz", "3"]) == 2
    assert "no selected notebook has parameter(s) pointz" in capsys.readouterr().err


# ---------------------------------------------------------------- 9: cluster options and $KDLIB_EXECUTOR


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kdbook: error:"), captured.err
    return lines[0]


def test_an_unreachable_scheduler_is_one_line_after_a_short_wait(tiny_book, capsys):
    import psutil

    before = {child.pid for child in psutil.Process().children(recursive=True)}  # e.g. a resource tracker
    started = time.monotonic()
    assert cli.main(["run", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert time.monotonic() - started < executor.CONNECT_TIMEOUT_S + 10  # was a 30 s wait
    assert "no dask scheduler answers at tcp://127.0.0.1:1 within 5 s" in _one_line_error(capsys)
    assert {child.pid for child in psutil.Process().children(recursive=True)} <= before  # nothing left running


def test_slurm_without_sbatch_is_refused_before_a_cluster_is_built(tiny_book, monkeypatch, capsys):
    monkeypatch.setattr(executor.shutil, "which", lambda name: None)
    monkeypatch.setattr(executor, "slurm_cluster", lambda *a, **k: pytest.fail("a SLURMCluster was built"))
    assert cli.main(["run", "--cluster", "slurm", "--cluster-config", str(REPO / "cluster.yaml")]) == 2
    assert "sbatch, which is not on the PATH" in _one_line_error(capsys)


@pytest.mark.parametrize(("text", "message"), [
    ("slurm:\n  gpus: [1\n", "is not valid YAML: expected ',' or ']'"),
    ("slurm:\n  gpus: two\n", "slurm setting gpus='two' is not allowed; allowed: an integer ≥ 0"),
    ("slurm:\n  walltime: 4:00:00\n", "slurm setting walltime=14400 is not allowed"),  # YAML's base 60
    ("slurm:\n  memory: 32\n", "slurm setting memory=32 is not allowed"),
    ("slurm:\n  job_extra_directives: --qos=high\n", "slurm setting job_extra_directives='--qos=high'"),
    ("slurm:\n  gpu: 2\n", "unknown slurm setting(s) gpu"),
    ("- slurm\n", "must hold a mapping slurm"),
])
def test_a_bad_cluster_file_is_one_line_naming_file_and_setting(tiny_book, monkeypatch, capsys, text, message):
    monkeypatch.setattr(executor.shutil, "which", lambda name: "/usr/bin/sbatch")  # as on a login node
    monkeypatch.setattr(executor, "slurm_cluster", lambda *a, **k: pytest.fail("a SLURMCluster was built"))
    config = tiny_book / "cluster.yaml"
    config.write_text(text)
    assert cli.main(["run", "--cluster", "slurm", "--cluster-config", str(config)]) == 2
    line = _one_line_error(capsys)
    assert message in line and "cluster.yaml" in line


@pytest.mark.parametrize("args", [
    ["--cluster", "local", "--profile", "fast"],
    ["--cluster", "local", "99"],
    ["--cluster", "local", "--device", "tpu"],
    ["--workers", "2", "-p", "widht", "3"],
    ["--cluster-config", "cluster.yaml"],
])
def test_bad_options_are_refused_before_any_executor_starts(tiny_book, monkeypatch, capsys, args):
    monkeypatch.setattr(executor, "open_executor", lambda **k: pytest.fail("an executor was started"))
    assert cli.main(["run", *args]) == 2
    _one_line_error(capsys)


@pytest.mark.parametrize("spec", ["threads:4", "processes:0", "local:x", "dask"])
def test_a_bad_kdlib_executor_is_refused_by_kdbook_run_up_front(tiny_book, monkeypatch, capsys, spec):
    monkeypatch.setenv("KDLIB_EXECUTOR", spec)
    monkeypatch.setattr(book, "run_notebook", lambda *a, **k: pytest.fail("a chapter started"))
    assert cli.main(["run", "01"]) == 2
    assert f"KDLIB_EXECUTOR={spec!r}: allowed are inprocess" in _one_line_error(capsys)


def sleep_reporting(path: str, seconds: float) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)


POOL_SCRIPT = """
import os, signal, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from kdlib.book import executor
from test_reliability import sleep_reporting
pool = executor.ProcessPool(2)
running = pool.submit(sleep_reporting, {pidfile!r}, 60)
while not Path({pidfile!r}).is_file() or not Path({pidfile!r}).read_text():
    time.sleep(0.05)
os.kill(int(Path({pidfile!r}).read_text()), signal.SIGINT)  # Ctrl-C reaches a worker running a task
try:
    running.result(timeout=60)
except BaseException as error:
    print("running task:", type(error).__name__, flush=True)
for pid in list(pool._processes):  # all idle now; jupyter_client interrupts a kernel's process group
    os.kill(pid, signal.SIGINT)
time.sleep(3)
pool.shutdown()
print("done", flush=True)
"""


@pytest.mark.slow
def test_an_interrupted_pool_ends_idle_workers_quietly_and_interrupts_running_tasks(tmp_path):
    script = POOL_SCRIPT.format(tests=str(Path(__file__).parent), pidfile=str(tmp_path / "pid"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "running task: KeyboardInterrupt" in done.stdout and "done" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.slow
def test_sweeps_on_a_process_pool_inside_a_chapter_print_no_tracebacks(tiny_book):
    (tiny_book / "notebooks" / "01-tiny.py").write_text(TINY.replace(
        "time.sleep(pause)\n",
        "time.sleep(pause)\nfrom kdlib.book.sweeps import sweep\nfrom kdlib import paper_gradient_descent\n"
        "import torch\nz = torch.linspace(-1, 1, 5, dtype=torch.float64)\n"
        "sweep(paper_gradient_descent, [dict(z_t=z, y_g=(z > 0).double(), rho=r, T=2.0, iterations=5) "
        "for r in (0.1, 0.5, 0.9)], progress=False)\n"))
    run = _kdbook(tiny_book, "run", "01", "--profile", "smoke", "--device", "cpu", KDLIB_EXECUTOR="processes:2")
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err + out, err
