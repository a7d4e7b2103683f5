"""``sweep``: run ``function(**task)`` for every task, cached, resumable, on any executor.

The book's experiments are grids (seeds × soft ratios × sample sizes × ...) of independent
calls. ``sweep`` gives every call a content address (:func:`kdlib.book.results.task_key`), takes
finished calls from the :class:`~kdlib.book.results.ResultCache`, sends the rest to an executor
(:mod:`kdlib.book.executor`) and returns the results in task order. Because the *worker* stores each
result the moment it is computed, an interrupted sweep (Ctrl-C, a killed worker, a lost node)
loses only the calls that were running; running it again recomputes exactly what is missing.

Each call runs with Python's, NumPy's and torch's global generators seeded from its key
(:func:`kdlib.book.results.task_seed`) and restored afterwards, so a task that draws random numbers
without its own ``torch.Generator`` still gives the same result on any worker, in any order,
and a sweep does not disturb the caller's random stream.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import inspect
import os
import platform
import random
import resource
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from kdlib.book import claims
from kdlib.book import executor as _executor
from kdlib.book.core import BookError, find_root, provenance
from kdlib.book.results import (
    CorruptEntry,
    ResultCache,
    UnstorableResult,
    decode,
    describe_parameters,
    encode,
    task_key,
    task_seed,
)

__all__ = ["sweep", "SweepResult", "SweepError", "TaskFailure", "run_provenance", "accepts_checkpoints",
           "checkpoint_folder", "CHECKPOINT_ARGUMENT"]


@dataclass(frozen=True)
class TaskFailure:
    """A task that raised (or whose worker died): its position, parameters and traceback."""

    index: int
    parameters: dict[str, Any]
    error: str

    def describe(self) -> str:
        last = self.error.strip().splitlines()[-1] if self.error.strip() else "failed"
        return f"task {self.index} {self.parameters}: {last}"


class SweepError(RuntimeError):
    """Some tasks failed; the others finished and were cached. ``.failures`` and ``.results`` hold both."""

    def __init__(self, failures: list[TaskFailure], results: SweepResult) -> None:
        self.failures, self.results = failures, results
        lines = "\n".join(f"  {f.describe()}" for f in failures)
        super().__init__(f"{len(failures)} of {len(results)} sweep task(s) failed (the others are cached):\n{lines}")


class SweepResult(list):
    """The results in task order, plus what the run did: ``hits`` (taken from the cache),
    ``computed``, ``corrupt`` (cache entries found damaged and recomputed), ``failures``, ``keys``."""

    hits: int
    computed: int
    corrupt: list[str]
    failures: list[TaskFailure]
    keys: list[str]
    where: str
    wall_s: float


def run_provenance() -> dict[str, Any]:
    """Commit, dirty flag, package versions, host and the current profile (shared by every task of a run)."""
    try:
        root = find_root()
    except BookError:
        root = Path(__file__).resolve().parents[2]
    record = provenance(root)  # the same record executed notebooks carry in metadata.kdbook
    record["profile"] = getattr(claims, "_profile", None)
    return record


def _peak_rss_mb() -> float:
    """Peak resident memory of the process that ran the task (a high-water mark, so an upper bound)."""
    # ru_maxrss is KiB on Linux, bytes on macOS: the process's high-water mark as of now.
    scale = 1 if sys.platform == "darwin" else 1024
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20, 1)


@contextlib.contextmanager
def _seeded(seed: int):
    """Seed the global generators for one task and restore the caller's state afterwards."""
    state_py, state_np = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(state_py)
            np.random.set_state(state_np)


def _device_of(parameters: dict[str, Any]) -> str:
    """The device a task computed on: its ``device`` argument, else that of its first tensor, else cpu."""
    if "device" in parameters:
        return str(parameters["device"])
    for value in parameters.values():
        if isinstance(value, torch.Tensor):
            name = str(value.device)
            if value.is_cuda:
                name += f" ({torch.cuda.get_device_name(value.device)})"
            return name
    return "cpu"


def _run_task(function: Callable[..., Any], parameters: dict[str, Any], key: str, cache_path: str | None,
              context: dict[str, Any]) -> tuple[str, Any, str]:
    """Runs on the worker: reuse a result another attempt stored, else compute, store and return it.

    Returns ``(status, value, message)`` with status ``hit``, ``computed`` or ``failed``; a raising task
    becomes a ``failed`` row with its traceback instead of an exception, so the other tasks go on. A
    computed value is returned as a later cache hit will return it (decoded from the bytes stored), so a
    cold and a warm run give equal objects. A result the store cannot hold fails the task; a store that
    cannot be written does not: the value is returned with the reason in ``message``.
    """
    cache = ResultCache(cache_path) if cache_path else None
    if cache is not None:
        with contextlib.suppress(KeyError, CorruptEntry, OSError):
            return "hit", cache.get(key), ""  # a retried task whose first attempt finished
    scratch = None
    if accepts_checkpoints(function):
        folder = None
        if cache is not None:
            folder = checkpoint_folder(cache, key)
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError:  # an unwritable cache: checkpoint to a temporary folder, as without a cache
                folder = None
        if folder is None:
            scratch = tempfile.TemporaryDirectory(prefix="kdlib-checkpoints-")
            folder = Path(scratch.name)
        parameters = {**parameters, CHECKPOINT_ARGUMENT: folder}
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    try:
        with _seeded(task_seed(key)):
            value = function(**parameters)
    except Exception:
        return "failed", None, traceback.format_exc()
    finally:
        if scratch is not None:
            scratch.cleanup()
    wall = time.perf_counter() - started
    if cache is None:
        return "computed", value, ""
    name = f"{function.__module__}:{function.__qualname__}"
    try:
        payload = encode(value)
    except UnstorableResult as error:
        return "failed", None, f"UnstorableResult: the result of {name} cannot be cached: {error}"
    record = {**context, "function": name, "device": _device_of(parameters),
              "parameters": describe_parameters({k: v for k, v in parameters.items() if k != CHECKPOINT_ARGUMENT}),
              "wall_s": round(wall, 4),
              "peak_rss_mb": _peak_rss_mb(), "worker_host": platform.node(), "worker_pid": os.getpid(),
              "seed": task_seed(key)}
    if cuda:
        record["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    message = ""
    try:
        cache.put_encoded(key, payload, record)
    except OSError as error:
        message = f"{type(error).__name__}: {error}"
    return "computed", decode(payload), message


CHECKPOINT_ARGUMENT = "checkpoint_dir"


def accepts_checkpoints(function: Callable[..., Any]) -> bool:
    """Whether ``function`` takes a ``checkpoint_dir`` argument (then :func:`sweep` passes it one)."""
    try:
        return CHECKPOINT_ARGUMENT in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def checkpoint_folder(cache: ResultCache, key: str) -> Path:
    """The folder a task owns for its checkpoints: ``<cache root>/checkpoints/<key[:2]>/<key>``.

    It is keyed like the result, so a rerun of the same task (same function, parameters and kdlib
    modules) finds the checkpoints of an interrupted run and resumes from the last one, while a task
    of changed code starts afresh. It is kept after the task finishes: trained models stay loadable
    at every saved epoch."""
    return cache.path.parent / "checkpoints" / key[:2] / key


def _as_cache(cache: bool | str | os.PathLike[str] | ResultCache | None) -> ResultCache | None:
    if cache is None or cache is False:
        return None
    if cache is True:
        return ResultCache()
    if isinstance(cache, ResultCache):
        return cache
    if isinstance(cache, str | os.PathLike):
        return ResultCache(cache)
    raise ValueError(f"cache must be True, False, a path or a ResultCache, got {cache!r}")


def sweep(
    function: Callable[..., Any],
    tasks: Iterable[Mapping[str, Any]],
    *,
    executor: cf.Executor | None = None,
    cache: bool | str | os.PathLike[str] | ResultCache | None = True,
    progress: bool = True,
    gpu: bool = False,
    description: str | None = None,
    raise_on_failure: bool = True,
) -> SweepResult:
    """``[function(**task) for task in tasks]``, cached by content, resumable and on any executor.

    Args:
        function: a module-level function (process pools and dask pickle it by reference). If it takes
            an argument ``checkpoint_dir``, each call gets the folder its key owns, created
            (:func:`checkpoint_folder`; a temporary one without a writable cache): a long task saves
            checkpoints there and, rerun after an interruption, resumes from the last one. It is not part
            of the key.
        tasks: keyword arguments of each call. Numbers, strings, tensors, arrays and containers
            of them; they form the cache key together with the function and the kdlib modules it imports.
        executor: where calls run (:mod:`kdlib.book.executor`); default ``$KDLIB_EXECUTOR`` (one shared
            executor per process, closed at exit), else in-process. An executor passed in is left open.
        cache: ``True`` (the default store under ``.kdcache/results``), ``False``, a folder or a ResultCache.
        progress: a tqdm bar with done/total and ETA (the dask dashboard link in its postfix).
        gpu: each call needs one GPU: on dask it requests the resource ``GPU=1``.
        raise_on_failure: raise :class:`SweepError` after all tasks ran if any failed.
    Returns:
        A :class:`SweepResult` (a list in task order; a failed task's slot holds None). With a cache, each
        result is what the store gives back (:func:`kdlib.book.results.encode`: numbers, strings, tensors,
        arrays, lists, tuples, dicts, state dicts; tensors on the CPU, detached), whether it was computed
        now or read, so a cold and a warm run return equal objects.
    Raises:
        ValueError: a task is not a mapping, or ``gpu=True`` on a dask cluster without GPU workers.
        SweepError: some tasks failed (only after every other task finished and was stored); a result the
            cache cannot hold (an arbitrary object) fails its task, named with its parameters. A cache that
            cannot be written only warns: the results are returned and computed again next time.
    """
    if not callable(function):
        raise ValueError(f"function must be callable, got {function!r}")
    tasks = list(tasks)
    for index, task in enumerate(tasks):
        if not isinstance(task, Mapping):
            raise ValueError(f"tasks[{index}] must be a mapping of keyword arguments, got {type(task).__name__}")
        if CHECKPOINT_ARGUMENT in task:
            raise ValueError(f"tasks[{index}] sets {CHECKPOINT_ARGUMENT!r}; sweep gives each task its own folder")
    store = _as_cache(cache)
    pool = _executor.shared_executor_from_env() if executor is None else executor
    started = time.perf_counter()
    if gpu and isinstance(pool, _executor.DaskExecutor) and pool.gpu_workers() == 0:
        raise ValueError("gpu=True but no dask worker declares a GPU resource; "
                         "start workers with `--resources GPU=1` (kdbook does this for GPU clusters)")
    keys = [task_key(function, task) for task in tasks]
    result = SweepResult([None] * len(tasks))
    result.keys, result.hits, result.computed, result.corrupt, result.failures = keys, 0, 0, [], []
    result.where = _executor.describe(pool)
    pending: list[int] = []
    for index, key in enumerate(keys):
        if store is not None:
            try:
                result[index] = store.get(key)
                result.hits += 1
                continue
            except KeyError:
                pass
            except OSError as error:  # an unreadable store: compute instead
                warnings.warn(f"cache entry unreadable, recomputed: {type(error).__name__}: {error}", RuntimeWarning,
                              stacklevel=2)
            except CorruptEntry as error:
                warnings.warn(f"corrupt cache entry recomputed: {error}", RuntimeWarning, stacklevel=2)
                result.corrupt.append(key)
                store.discard(key)
        pending.append(index)
    context = run_provenance() if pending and store is not None else {}
    cache_path = str(store.path) if store is not None else None
    bar = tqdm(total=len(tasks), initial=result.hits, desc=description or getattr(function, "__name__", "sweep"),
               unit="task", disable=not progress, dynamic_ncols=True)
    if isinstance(pool, _executor.DaskExecutor) and pool.dashboard:
        bar.set_postfix_str(f"dashboard {pool.dashboard}", refresh=False)

    unstored: list[str] = []

    def settle(index: int, future: cf.Future[Any]) -> None:
        try:
            status, value, message = future.result()
        except Exception:  # the worker died (KilledWorker), or the task could not be pickled
            status, value, message = "failed", None, traceback.format_exc()
        if status == "failed":
            result.failures.append(TaskFailure(index, describe_parameters(tasks[index]), message))
        else:
            result[index] = value
            result.hits += status == "hit"
            result.computed += status == "computed"
            if message:
                unstored.append(message)
        bar.update(1)

    submitted: dict[cf.Future[Any], int] = {}
    extra = {"gpu": True} if gpu and isinstance(pool, _executor.DaskExecutor) else {}
    try:
        for index in pending:
            future = pool.submit(_run_task, function, dict(tasks[index]), keys[index], cache_path, context, **extra)
            if future.done() and isinstance(pool, _executor.InProcessExecutor):
                settle(index, future)  # in-process: the bar moves task by task
            else:
                submitted[future] = index
        for future in cf.as_completed(submitted):
            settle(submitted[future], future)
    except BaseException:  # Ctrl-C: drop what has not started; finished tasks are already stored
        for future in submitted:
            future.cancel()
        raise
    finally:
        bar.close()
    if unstored:
        warnings.warn(f"{len(unstored)} computed result(s) could not be stored in {store.path} and will be "
                      f"computed again next time (the results of this run are complete): {unstored[0]}",
                      RuntimeWarning, stacklevel=2)
    result.failures.sort(key=lambda failure: failure.index)
    result.wall_s = time.perf_counter() - started
    if result.failures and raise_on_failure:
        raise SweepError(result.failures, result)
    return result
