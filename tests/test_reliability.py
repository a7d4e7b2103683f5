"""Reliability of the machinery (issue 16): what a shared cache may contain, what a failure prints,
what bad options do, and what two runs at once do.

Helper task functions live at module level so that worker processes can import them.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from kdlib.book import results
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
