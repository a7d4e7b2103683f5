"""Execute the chapter notebooks with papermill and build the Jupyter Book (``kdbook``'s engine).

Notebook sources are Jupytext py:percent files in ``notebooks/``. ``run_notebooks`` converts
each, injects parameters with papermill, and writes the executed ``.ipynb`` into
``book/generated/`` (git-ignored), where ``_toc.yml`` expects it. Executed notebooks are
cached under ``.kdcache/notebooks/`` keyed on a hash of the notebook source, the ``kdlib``
source and the parameters, so re-running an unchanged notebook costs a file copy.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kdlib._device import resolve_device
from kdlib.book import executor as _executor
from kdlib.book import profiles, report
from kdlib.book.core import (
    BookError,
    available_notebooks,
    cache_root,
    executed_notebooks,
    find_root,
    generated_dir,
    html_dir,
    module_closure,
    module_fingerprint,
    output_root,
    provenance,
)
from kdlib.book.results import CorruptEntry, read_checked, write_checked

__all__ = [
    "BookError", "RunRecord", "find_root", "available_notebooks", "resolve_notebooks", "notebook_parameters",
    "parse_value", "papermill_parameters", "plan_run", "run_notebooks", "build_book", "executed_notebooks",
    "cache_key", "cached_execution",
]

RESERVED_PARAMETERS = ("profile", "device")  # set with --profile and --device


@dataclass
class RunRecord:
    """What happened when one notebook was executed (or taken from the cache)."""

    notebook: str
    profile: str
    device: str
    parameters: dict[str, Any]
    key: str
    status: str = "ok"  # ok | failed
    cached: bool = False
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    date: str = ""
    commit: str = ""
    dirty: bool = False
    versions: dict[str, str] = field(default_factory=dict)
    error: str = ""
    output: str = ""
    host: str = ""
    executor: str = "in-process"
    device_used: str = ""  # what ``device`` resolved to where the notebook ran (``auto`` → cpu or cuda)


def cache_dir(root: Path) -> Path:
    """Executed chapters, by key."""
    return cache_root(root) / "notebooks"


def resolve_notebooks(root: Path, names: Iterable[str] | None) -> list[str]:
    """Map user-given names (stem, unique prefix such as ``01``, or path) to notebook stems."""
    known = available_notebooks(root)
    if not names:
        return list(known)
    chosen = []
    for name in names:
        stem = Path(name).stem if name.endswith((".py", ".ipynb")) else name
        matches = [k for k in known if k == stem] or [k for k in known if k.startswith(stem)]
        if len(matches) != 1:
            reason = "is ambiguous" if matches else "is not a notebook"
            raise BookError(f"notebook {name!r} {reason}; notebooks: {', '.join(known)}")
        chosen.append(matches[0])
    return chosen


def notebook_parameters(source: Path) -> dict[str, Any]:
    """Names and defaults assigned in the cell tagged ``parameters`` of a py:percent notebook."""
    lines = source.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("# %%") and "parameters" in line), None)
    if start is None:
        raise BookError(f"{source.name} has no cell tagged 'parameters'")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("# %%")), len(lines))
    tree = ast.parse("\n".join(lines[start + 1 : end]))
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    try:
                        found[target.id] = ast.literal_eval(node.value) if node.value is not None else None
                    except ValueError:
                        found[target.id] = None
    return found


def papermill_parameters(stem: str, source: Path, profile: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """What papermill injects for ``kdbook run -p NAME VALUE``: a name of the parameters cell (``seed``)
    goes as itself; a chapter setting goes into ``overrides``, checked (name, type, range) against the
    chapter's settings in :mod:`kdlib.book.chapters`.

    Raises:
        BookError: a name that is neither, or a bad value; the message says what is allowed.
    """
    cell = notebook_parameters(source)
    direct = {name: value for name, value in parameters.items() if name in cell and name != "overrides"}
    settings = {name: value for name, value in parameters.items() if name not in direct}
    if "overrides" in settings:
        raise BookError("give settings one by one with -p NAME VALUE, not -p overrides")
    try:
        checked = profiles.validate_overrides(stem, profile, settings)
    except ValueError as error:
        cell_names = [name for name in cell if name not in (*RESERVED_PARAMETERS, "overrides")]
        raise BookError(f"{error}; notebook parameters: {', '.join(cell_names) or 'none'}") from None
    if "seed" in direct and (isinstance(direct["seed"], bool) or not isinstance(direct["seed"], int)
                             or direct["seed"] < 0):
        raise BookError(f"seed must be a non-negative integer, got {direct['seed']!r}")
    return {**direct, **({"overrides": checked} if checked else {})}


def parse_value(text: str) -> Any:
    """A command-line value as YAML (``3`` → int, ``0.5`` → float, ``[1, 2]`` → list), else a string."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if isinstance(value, dict | type(None)) and text not in ("null", "~") else value


# Machinery whose code shapes what an executed chapter shows, whatever the chapter imports.
OUTPUT_MODULES = ("kdlib.book.claims", "kdlib.book.plotting", "kdlib.book.profiles")


def notebook_modules(source: Path) -> list[str]:
    """The kdlib modules an executed chapter depends on: those its source imports (transitively)
    and :data:`OUTPUT_MODULES`; the machinery that only runs or publishes it is left out."""
    tree = ast.parse(source.read_text())
    imported = set(OUTPUT_MODULES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    return module_closure(imported)


def cache_key(source: Path, parameters: Mapping[str, Any]) -> str:
    """Hash of the notebook source, the kdlib modules it depends on and the parameters: equal keys, equal books."""
    code = source.read_bytes()
    digest = hashlib.sha256()
    digest.update(code)
    digest.update(module_fingerprint(notebook_modules(source)).encode())
    digest.update(json.dumps(dict(parameters), sort_keys=True, default=str).encode())
    digest.update(_recorded_inputs(source, code.decode("utf-8")))
    return digest.hexdigest()[:24]


# Data files a chapter quotes through kdlib.book.core: a new recording must re-execute the chapters that read it.
_RECORDED = {("gpu_measurements", "gpu_closed_form_text"): Path("benchmarks") / "recorded" / "gpu.json"}


def _recorded_inputs(source: Path, text: str) -> bytes:
    chunks = []
    for names, relative in _RECORDED.items():
        path = source.resolve().parent.parent / relative
        if any(name in text for name in names) and path.is_file():
            chunks.append(path.read_bytes())
    return b"".join(chunks)


class _PeakMemory:
    """Samples the resident memory of this process's children (the kernel) while a notebook runs."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@functools.cache
def _kernel_manager_class() -> type:
    """jupyter_client's kernel manager, except that it does not interrupt (SIGINT) the kernel's whole
    process group before shutting it down. papermill shuts a kernel down once its chapter has finished,
    and that interrupt reached every process the chapter had started (a sweep's process pool, a dask
    LocalCluster), each of which printed a KeyboardInterrupt traceback. The kernel still gets its
    shutdown request, then SIGTERM and SIGKILL if it does not exit."""
    from jupyter_client.manager import AsyncKernelManager

    class KernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return KernelManager


def _execute(source: Path, output: Path, parameters: dict[str, Any], root: Path, stem: str) -> None:
    import jupytext
    import papermill

    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with tempfile.TemporaryDirectory() as scratch:
        converted = Path(scratch) / f"{stem}.ipynb"
        jupytext.write(notebook, converted)
        previous = os.environ.get("KDBOOK_NOTEBOOK")
        os.environ["KDBOOK_NOTEBOOK"] = stem
        try:
            papermill.execute_notebook(
                str(converted), str(output), parameters=parameters, kernel_name="python3",
                cwd=str(root), progress_bar=False, log_output=False,
                # The kernel listens on loopback only; its per-start warning about unencrypted TCP is noise.
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
                kernel_manager_class=_kernel_manager_class(),
            )
        finally:
            if previous is None:
                os.environ.pop("KDBOOK_NOTEBOOK", None)
            else:
                os.environ["KDBOOK_NOTEBOOK"] = previous


def _stamp(path: Path, record: RunRecord) -> bytes:
    """The executed notebook at ``path`` with the run's record in ``metadata.kdbook``."""
    data = json.loads(path.read_text())
    data.setdefault("metadata", {})["kdbook"] = asdict(record)
    return json.dumps(data, indent=1).encode()


def _failure_text(error: BaseException) -> str:
    """What went wrong, first line self-contained: a notebook's exception type and message and the cell
    and line that raised it (papermill's own message starts with a newline and says neither); then the
    notebook's traceback."""
    from papermill.exceptions import PapermillExecutionError, strip_color

    if not isinstance(error, PapermillExecutionError):
        text = str(error).strip()
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    evalue = str(error.evalue or "").strip()
    headline = f"{error.ename}: {evalue.splitlines()[0]}" if evalue else str(error.ename)
    traceback = strip_color("\n".join(error.traceback or []))
    source = str(error.source or "").splitlines()
    lines = [int(n) for n in re.findall(rf"Cell In\[{error.exec_count}\], line (\d+)", traceback)]
    number = lines[-1] if lines and 0 < lines[-1] <= len(source) else None
    if number is None:  # the cell's first line of code
        number = next((i + 1 for i, line in enumerate(source) if line.strip() and not line.lstrip().startswith("#")),
                      None)
    where = f"cell {error.cell_index}" + (f", line {number}: {source[number - 1].strip()[:100]}" if number else "")
    return f"{headline} (in {where})\n{traceback}"


# Executed chapters in the cache: a JSON header line (format, chapter, key, SHA-256 and length) and the
# notebook, written atomically like sweep results, so a truncated or edited copy is never published.
NOTEBOOK_FORMAT = 1
NOTEBOOK_SUFFIX = ".kdnb"


def cached_execution(root: Path, stem: str, key: str) -> Path:
    """Where the execution of ``stem`` with cache key ``key`` is kept."""
    return cache_dir(root) / f"{stem}-{key}{NOTEBOOK_SUFFIX}"


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _read_cached(path: Path, stem: str, key: str) -> bytes | None:
    """The cached executed notebook if it is whole and a successful run of this chapter and key, else None
    (a damaged one is reported and removed, so it is executed again)."""
    try:
        header, payload = read_checked(path, NOTEBOOK_FORMAT)
        if header.get("notebook") != stem or header.get("key") != key:
            raise CorruptEntry(f"{path}: holds {header.get('notebook')!r} with key {header.get('key')!r}")
        try:
            status = json.loads(payload)["metadata"]["kdbook"]["status"]
        except (ValueError, KeyError, TypeError) as error:
            raise CorruptEntry(f"{path}: not an executed notebook ({type(error).__name__}: {error})") from None
        if status != "ok":
            raise CorruptEntry(f"{path}: records status {status!r}")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except CorruptEntry as error:
        _warn(f"cached execution of {stem} is damaged, executing again: {error}")
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    except OSError as error:
        _warn(f"cached execution of {stem} is unreadable, executing again: {type(error).__name__}: {error}")
        return None
    return payload


def _publish(target: Path, payload: bytes) -> None:
    """Put an executed notebook at ``target`` atomically (a unique temporary name, then a rename): a
    reader such as ``kdbook build`` never sees half a notebook, and two runs never share a file."""
    scratch = target.with_name(f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        scratch.write_bytes(payload)
        os.replace(scratch, target)
    except OSError as error:
        raise BookError(f"cannot write {target}: {type(error).__name__}: {error}") from None
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink()


@contextlib.contextmanager
def _chapter_lock(root: Path, stem: str):
    """Hold the lock of one chapter (``fcntl.flock`` on ``<cache>/notebooks/.locks/<chapter>.lock``) while
    it is looked up, executed, published and cached, so that two runs of one chapter on one cache, in one
    checkout or on nodes sharing the cache, run one after the other: the second finds the first's result.
    Without a writable cache folder (or ``fcntl``) it warns and runs unlocked."""
    try:
        import fcntl

        folder = cache_dir(root) / ".locks"
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / f"{stem}.lock", "a+b")  # noqa: SIM115 - closed below, which releases the lock
    except (ImportError, OSError) as error:
        _warn(f"running {stem} without a lock (another run of it at the same time may redo its work): "
              f"{type(error).__name__}: {error}")
        yield
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[kdbook] {stem} is being run by another process; waiting for it ({handle.name})",
                  file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()


def run_notebook(
    root: Path, stem: str, *, profile: str, device: str, parameters: Mapping[str, Any], force: bool = False,
    where: str = "in-process",
) -> RunRecord:
    """Execute one notebook (or reuse its cached execution) into ``book/generated``.

    Under the chapter's lock (:func:`_chapter_lock`): a whole, checksummed cached execution is published
    as it is; otherwise papermill executes into a file of this run's own, which is stamped with the run's
    record and renamed into place, and cached when it succeeded. A cache that cannot be written warns and
    the result is kept.
    """
    source = available_notebooks(root)[stem]
    full = {"profile": profile, "device": device, **papermill_parameters(stem, source, profile, parameters)}
    key = cache_key(source, full)
    cached = cached_execution(root, stem, key)
    target = generated_dir(root) / f"{stem}.ipynb"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BookError(f"cannot create {target.parent}: {type(error).__name__}: {error}") from None
    record = RunRecord(notebook=stem, profile=profile, device=device, parameters=dict(parameters), key=key,
                       executor=where)
    with _chapter_lock(root, stem):
        payload = None if force else _read_cached(cached, stem, key)
        if payload is not None:
            _publish(target, payload)
            record.cached = True
            return record
        record.__dict__.update(provenance(root))
        record.device_used = str(resolve_device(device))
        started = time.perf_counter()
        partial = target.with_name(f".{stem}.{os.getpid()}.{uuid.uuid4().hex}.partial.ipynb")  # this run's own
        try:
            try:
                with _PeakMemory() as memory:
                    _execute(source, partial, full, root, stem)
            except Exception as error:  # papermill's error carries the failing cell and traceback
                record.status, record.error = "failed", _failure_text(error)
            record.wall_s = round(time.perf_counter() - started, 2)
            record.peak_rss_mb = round(memory.peak / 2**20, 1)
            if not partial.is_file():  # papermill never wrote it (e.g. the kernel did not start)
                return record
            executed = _stamp(partial, record)
        finally:
            with contextlib.suppress(OSError):
                partial.unlink()
        _publish(target, executed)
        if record.status == "ok":
            try:
                write_checked(cached, {"format": NOTEBOOK_FORMAT, "notebook": stem, "key": key}, executed)
            except OSError as error:
                _warn(f"could not cache the execution of {stem} (it is in {target}; it will be executed again "
                      f"next time): {type(error).__name__}: {error}")
    return record


def plan_run(
    names: Iterable[str] | None,
    *,
    profile: str,
    device: str,
    parameters: Mapping[str, Any],
    root: Path,
) -> dict[str, dict[str, Any]]:
    """Check a run before anything starts (a kernel, a pool, a cluster): the profile, the device, the
    notebook names and every parameter against each selected chapter; returns each chapter's own
    parameters, in order, a chapter named twice once.

    Raises:
        BookError: what is wrong and what is allowed.
    """
    if profile not in profiles.PROFILES:
        raise BookError(f"profile must be one of {', '.join(profiles.PROFILES)}; got {profile!r}")
    try:
        resolve_device(device)
    except ValueError as error:
        raise BookError(str(error)) from None
    parameters = dict(parameters)
    for reserved in RESERVED_PARAMETERS:
        if reserved in parameters:
            raise BookError(f"set {reserved} with --{reserved}, not -p {reserved}")
    stems = list(dict.fromkeys(resolve_notebooks(root, names)))  # a chapter named twice runs once
    sources = available_notebooks(root)
    if len(stems) == 1:
        papermill_parameters(stems[0], sources[stems[0]], profile, parameters)
        return {stems[0]: parameters}
    own: dict[str, dict[str, Any]] = {stem: {} for stem in stems}
    for name, value in parameters.items():
        rejected = []
        for stem in stems:
            try:
                papermill_parameters(stem, sources[stem], profile, {name: value})
            except BookError as error:
                settings = [row[0] for row in profiles.describe(stem)]
                if name in notebook_parameters(sources[stem]) or name in settings:  # a bad value, not a bad name
                    rejected.append(f"{stem}: {error}")
                continue
            own[stem][name] = value
        if not any(name in chapter for chapter in own.values()):
            if rejected:
                raise BookError(rejected[0])
            raise BookError(f"no selected notebook has parameter(s) {name} with these values; "
                            "run one chapter to see its settings, or `kdbook list`")
    return own


def run_notebooks(
    names: Iterable[str] | None = None,
    *,
    profile: str = "quick",
    device: str = "auto",
    parameters: Mapping[str, Any] | None = None,
    force: bool = False,
    root: Path | None = None,
    progress: bool = True,
    executor: Executor | None = None,
) -> list[RunRecord]:
    """Execute notebooks at a profile; raise BookError listing failures after running all of them.

    Everything is checked first (:func:`plan_run`). With an ``executor`` (:mod:`kdlib.executor`: a process
    pool or a dask cluster) the notebooks run concurrently, one task each; a GPU device makes each task
    request one GPU. Every finished notebook is cached by its worker at once, so an interrupted run resumes
    where it stopped.
    """
    root = root or find_root()
    own_parameters = plan_run(names, profile=profile, device=device, parameters=dict(parameters or {}), root=root)
    stems = list(own_parameters)
    if executor is None:
        records = []
        for stem in stems:
            if progress:
                print(f"[kdbook] {stem} (profile={profile}, device={device}) ...", end="", flush=True)
            record = run_notebook(root, stem, profile=profile, device=device, parameters=own_parameters[stem],
                                  force=force)
            if progress:
                print(f" {_outcome(record)}", flush=True)
            records.append(record)
    else:
        records = _run_on(executor, root, stems, profile=profile, device=device, parameters=own_parameters,
                          force=force, progress=progress)
    failed = [r for r in records if r.status != "ok"]
    if failed:
        details = "\n".join(f"  {r.notebook}: {r.error.splitlines()[0] if r.error else 'failed'}" for r in failed)
        raise BookError(f"{len(failed)} notebook(s) failed (executed copies in book/generated):\n{details}")
    return records


def _outcome(record: RunRecord) -> str:
    how = "cached" if record.cached else f"{record.wall_s:.1f} s, peak {record.peak_rss_mb:.0f} MiB"
    return f"{record.status} ({how})"


def _notebook_task(root: Path, stem: str, profile: str, device: str, parameters: dict[str, Any], force: bool,
                   environment: dict[str, str], where: str) -> RunRecord:
    """Runs on a worker: one notebook, with the client's cache settings; on a dask GPU worker its
    kernel sees only this worker's GPU (CUDA_VISIBLE_DEVICES), so one notebook runs per GPU."""
    os.environ.update(environment)
    if device in ("auto", "cuda"):
        slot = _executor._worker_gpu_index()
        if slot is not None and "CUDA_VISIBLE_DEVICES" not in environment:
            import torch

            if torch.cuda.is_available():
                os.environ["CUDA_VISIBLE_DEVICES"] = str(slot % torch.cuda.device_count())
    return run_notebook(root, stem, profile=profile, device=device, parameters=parameters, force=force, where=where)


def _run_on(executor: Executor, root: Path, stems: list[str], *, profile: str, device: str,
            parameters: Mapping[str, dict[str, Any]], force: bool, progress: bool) -> list[RunRecord]:
    import concurrent.futures as cf
    import traceback

    where = _executor.describe(executor)
    environment = {name: os.environ[name] for name in ("KDBOOK_CACHE", "KDBOOK_ROOT", "KDBOOK_OUT", "KDLIB_EXECUTOR",
                                                        "CUDA_VISIBLE_DEVICES") if name in os.environ}
    gpu = device.startswith("cuda") or (device == "auto" and isinstance(executor, _executor.DaskExecutor)
                                        and executor.gpu_workers() > 0)
    extra = {"gpu": True} if gpu and isinstance(executor, _executor.DaskExecutor) else {}
    if progress:
        print(f"[kdbook] {len(stems)} notebook(s) (profile={profile}, device={device}) on {where}", flush=True)
    futures = {executor.submit(_notebook_task, root, stem, profile, device, parameters[stem], force, environment,
                               where, **extra): stem for stem in stems}
    done: dict[str, RunRecord] = {}
    try:
        for future in cf.as_completed(futures):
            stem = futures[future]
            try:
                record = future.result()
            except Exception as error:  # the worker died or the task could not run at all
                record = RunRecord(notebook=stem, profile=profile, device=device, parameters=parameters[stem],
                                   key="", status="failed", executor=where,
                                   error=f"{_failure_text(error)}\n{traceback.format_exc()}")
            done[stem] = record
            if progress:
                print(f"[kdbook] {stem} {_outcome(record)} [{len(done)}/{len(stems)}]", flush=True)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return [done[stem] for stem in stems]


def _mirror_sources(root: Path, out: Path) -> None:
    """Copy the book's hand-written sources into ``out`` so that ``out`` is a book of its own.

    ``_config.yml``, ``_toc.yml``, ``notebooks/`` and everything in ``book/`` except ``generated/``
    (which holds ``out``'s own executions). Files removed from the sources are removed from the copy.
    """
    pairs = [(root / name, out / name) for name in ("_config.yml", "_toc.yml", "notebooks")]
    pairs += [(item, out / "book" / item.name) for item in (root / "book").iterdir() if item.name != "generated"]
    (out / "book").mkdir(parents=True, exist_ok=True)
    keep = {target for _, target in pairs} | {out / "book" / "generated"}
    for stale in (out / "book").iterdir():
        if stale not in keep:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    for source, target in pairs:
        if source.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        elif source.is_file():
            shutil.copy2(source, target)


def build_book(root: Path | None = None, *, strict: bool = True, quiet: bool = False,
               publish_failed: bool = False) -> Path:
    """Write the generated pages, then run ``jupyter-book build`` (strict: ``-W -n --keep-going``).

    The book is built where :func:`~kdlib.book.core.output_root` says: the repository itself, or
    ``$KDBOOK_OUT`` (the test build), which gets a copy of the hand-written sources first.

    Raises:
        BookError: a chapter was not executed; a chapter's execution failed (unless ``publish_failed``,
            and then the failure is marked on its page, the scorecard and the status page, and the build
            is not strict: the cells after the failure never ran, so their glued values and figures are
            missing and Sphinx warns about them); Sphinx failed.
    """
    root = root or find_root()
    out = output_root(root)
    missing = [stem for stem in available_notebooks(root) if stem not in executed_notebooks(root)]
    if missing:
        raise BookError(f"not executed yet: {', '.join(missing)}; run `kdbook run` first")
    failed = [chapter for chapter in report.chapters(root) if chapter.failed]
    if failed and not publish_failed:
        details = "\n".join(f"  {chapter.stem}: {chapter.failure}" for chapter in failed)
        raise BookError(f"{len(failed)} chapter(s) failed; the book was not built:\n{details}\n"
                        "fix and re-run them, or publish the book with the failures marked: "
                        "`kdbook build --publish-failed`")
    if failed:
        print(f"[kdbook] publishing {len(failed)} failed chapter(s) marked FAILED; the build is not strict, since "
              "the cells after a failure never ran and Sphinx warns about what they would have glued", flush=True)
        strict = False
    if out != root:
        _mirror_sources(root, out)
    report.write_generated_pages(root)
    # Sphinx never deletes pages; a chapter or file removed since the last build would linger in
    # the site (and in its search index) without this. Doctrees stay, so rebuilding stays incremental.
    shutil.rmtree(html_dir(root), ignore_errors=True)
    executable = Path(sys.executable).with_name("jupyter-book")
    command = [str(executable) if executable.exists() else "jupyter-book", "build", str(out)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    if quiet:
        command += ["--quiet"]
    result = subprocess.run(command, cwd=out)
    if result.returncode != 0:
        raise BookError(f"jupyter-book build failed (exit {result.returncode}); see the messages above")
    return html_dir(root) / "index.html"
