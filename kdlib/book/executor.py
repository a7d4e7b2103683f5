"""Where sweep tasks and whole notebooks run: one ``concurrent.futures.Executor`` for every backend.

* :class:`InProcessExecutor` (the default) runs each task inside ``submit``, in this process:
  no pickling, no start-up cost, exactly the arithmetic of a plain loop.
* ``concurrent.futures.ProcessPoolExecutor`` (``open_executor(workers=N)``): a local process
  pool; task functions must be importable (defined in a module, not in a notebook).
* :class:`DaskExecutor`: a ``dask.distributed`` client — to a running scheduler
  (``scheduler="tcp://host:port"``), to a fresh ``LocalCluster`` (``cluster="local"``) or to a
  ``dask_jobqueue.SLURMCluster`` built from the ``slurm:`` section of ``cluster.yaml``
  (``cluster="slurm"``). dask does the scheduling, retries tasks of a lost worker and reports
  progress on its dashboard; we do not reimplement any of it.

GPUs: every GPU worker declares the dask resource ``GPU=1`` (one worker process per GPU), and a
GPU task is submitted with ``resources={"GPU": 1}``, so dask never runs two GPU tasks on one GPU.
Inside a task, :func:`task_device` turns ``"auto"``/``"cuda"`` into that worker's own GPU.

``KDLIB_EXECUTOR`` chooses the default executor of :func:`kdlib.book.sweeps.sweep` without changing a
notebook: unset or ``inprocess``; ``processes:N``; ``local:N`` (a LocalCluster of N workers);
``tcp://host:port`` (an existing scheduler). :func:`check_executor_spec` checks it without starting anything.

Everything is checked before anything starts: a cluster config (YAML, keys, types), ``sbatch`` on the
PATH for SLURM; a scheduler that does not answer within :data:`CONNECT_TIMEOUT_S` seconds is an
:class:`ExecutorError`, not a half-minute wait and a traceback.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import re
import shutil
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from kdlib._device import resolve_device
from kdlib.book.core import BookError, find_root

__all__ = [
    "InProcessExecutor", "ProcessPool", "DaskExecutor", "ExecutorError", "open_executor", "executor_from_env",
    "shared_executor_from_env", "check_executor_spec", "describe", "task_device",
    "slurm_cluster", "load_cluster_config", "SLURM_DEFAULTS", "CONNECT_TIMEOUT_S",
]

CONNECT_TIMEOUT_S = 5.0  # a dask scheduler that does not answer within this is reported, not waited for


class ExecutorError(RuntimeError):
    """An executor cannot be started here: the scheduler does not answer, SLURM is not installed, ..."""

SLURM_DEFAULTS: dict[str, Any] = {
    "queue": None,            # partition: #SBATCH -p
    "account": None,          # #SBATCH -A
    "walltime": "04:00:00",   # per job: #SBATCH -t
    "gpus": 1,                # GPUs per job: #SBATCH --gres=gpu:N, and N dask worker processes with GPU=1 each
    "cores": 8,               # CPU cores per job (shared by its worker processes)
    "memory": "32GB",         # host memory per job: #SBATCH --mem
    "job_extra_directives": [],   # more #SBATCH lines, e.g. ["--constraint=a100"]
    "job_script_prologue": [],    # shell lines before the worker starts, e.g. ["source .venv/bin/activate"]
    "local_directory": None,      # worker scratch space (node-local disk)
    "python": None,               # interpreter on the nodes (default: this one)
    "interface": None,            # network interface of the workers, e.g. "ib0"
}


class InProcessExecutor(cf.Executor):
    """Runs each submitted call immediately in the calling thread and returns a finished future.

    The default executor: results are bit-identical to a plain loop because they *are* a plain
    loop. ``KeyboardInterrupt`` is not captured, so Ctrl-C stops a sweep at once.
    """

    def __init__(self) -> None:
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        if self._shutdown:
            raise RuntimeError("cannot submit to an executor that was shut down")
        future: cf.Future[Any] = cf.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True


_task_running = False  # in a ProcessPool worker: whether a task is running now


def _interrupted(signum: int, frame: Any) -> None:
    if _task_running:
        raise KeyboardInterrupt
    raise SystemExit(0)  # multiprocessing ends the process without a traceback


def _quiet_worker() -> None:
    signal.signal(signal.SIGINT, _interrupted)


def _run_marked(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    global _task_running
    _task_running = True
    try:
        return fn(*args, **kwargs)
    finally:
        _task_running = False


class ProcessPool(cf.ProcessPoolExecutor):
    """A local process pool (spawned workers) whose idle workers end quietly on SIGINT.

    A notebook's sweeps under ``KDLIB_EXECUTOR=processes:N`` start the pool inside the Jupyter kernel;
    when papermill shuts the kernel down, jupyter_client interrupts the kernel's whole process group, and
    a stock pool's idle workers each printed a KeyboardInterrupt traceback. A running task is still
    interrupted with KeyboardInterrupt (Ctrl-C stops a sweep).
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, mp_context=multiprocessing.get_context("spawn"),
                         initializer=_quiet_worker)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        return super().submit(_run_marked, fn, *args, **kwargs)

    def terminate(self) -> None:
        """End the workers now (SIGTERM: no handler, no traceback), dropping running and queued tasks."""
        for process in list((self._processes or {}).values()):
            with contextlib.suppress(Exception):
                process.terminate()
        self.shutdown(wait=False, cancel_futures=True)


class DaskExecutor(cf.Executor):
    """A ``concurrent.futures`` view of a ``dask.distributed.Client`` that owns what it started.

    ``submit(fn, *args, gpu=False, **kwargs)``: with ``gpu=True`` the task requests the
    resource ``GPU=1``. ``shutdown()`` closes the client and, when this object created them,
    the cluster (LocalCluster processes, SLURM jobs).
    """

    def __init__(self, client: Any, cluster: Any = None, *, owns_client: bool = True) -> None:
        self.client, self.cluster, self._owns_client = client, cluster, owns_client
        self._plain = client.get_executor(pure=False)
        self._gpu = client.get_executor(pure=False, resources={"GPU": 1})

    @property
    def dashboard(self) -> str:
        return str(getattr(self.client, "dashboard_link", "") or "")

    def gpu_workers(self) -> int:
        """How many connected workers declare a GPU resource."""
        workers = self.client.scheduler_info().get("workers", {})
        return sum(1 for w in workers.values() if (w.get("resources") or {}).get("GPU", 0) >= 1)

    def submit(self, fn: Callable[..., Any], /, *args: Any, gpu: bool = False, **kwargs: Any) -> cf.Future[Any]:
        return (self._gpu if gpu else self._plain).submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        for executor in (self._plain, self._gpu):
            executor.shutdown(wait=wait and not cancel_futures)
        if self._owns_client:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def describe(executor: cf.Executor) -> str:
    """One line saying where tasks run (for provenance and progress bars)."""
    if isinstance(executor, InProcessExecutor):
        return "in-process"
    if isinstance(executor, cf.ProcessPoolExecutor):
        return f"process pool ({executor._max_workers} workers)"
    if isinstance(executor, DaskExecutor):
        kind = type(executor.cluster).__name__ if executor.cluster is not None else "scheduler"
        address = getattr(executor.client.scheduler, "address", "?")
        return f"dask {kind} at {address}"
    return type(executor).__name__


_WALLTIME = re.compile(r"(\d+-)?\d+(:\d{1,2}){0,2}")
_MEMORY = re.compile(r"\d+(\.\d+)?\s*([kKMGTP]i?)?B")


def _check_slurm_settings(settings: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Each SLURM setting's type and form, checked before anything is built or submitted.

    Raises:
        ValueError: naming ``source``, the setting, the value and what is allowed.
    """
    unknown = sorted(set(settings) - set(SLURM_DEFAULTS))
    if unknown:
        raise ValueError(f"{source}: unknown slurm setting(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(SLURM_DEFAULTS)}")

    def bad(name: str, allowed: str) -> ValueError:
        return ValueError(f"{source}: slurm setting {name}={settings[name]!r} is not allowed; allowed: {allowed}")

    for name, value in settings.items():
        if name in ("gpus", "cores"):
            low = 0 if name == "gpus" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise bad(name, f"an integer ≥ {low}")
        elif name == "walltime":
            if not isinstance(value, str) or not _WALLTIME.fullmatch(value.strip()):
                raise bad(name, "a quoted SLURM time such as '04:00:00', '90' (minutes) or '1-12:00:00'")
        elif name == "memory":
            if not isinstance(value, str) or not _MEMORY.fullmatch(value.strip()):
                raise bad(name, "an amount with its unit, such as '32GB' or '500MB'")
        elif name in ("job_extra_directives", "job_script_prologue"):
            if not isinstance(value, list) or not all(isinstance(line, str) for line in value):
                raise bad(name, "a list of strings")
        elif value is not None and not isinstance(value, str):
            raise bad(name, "a string, or null")
    return dict(settings)


def load_cluster_config(path: str | os.PathLike[str] | None = None, section: str = "slurm") -> dict[str, Any]:
    """The ``section`` of a cluster config YAML merged over :data:`SLURM_DEFAULTS`.

    ``path`` defaults to ``$KDBOOK_CLUSTER_CONFIG``, then ``cluster.yaml`` in the book's root.

    Raises:
        ValueError: the file is missing or not YAML, or a setting is unknown (the message lists the allowed
            ones) or of the wrong type or form; every message names the file and the setting.
    """
    import yaml

    if path is None:
        env = os.environ.get("KDBOOK_CLUSTER_CONFIG")
        if env:
            path = env
        else:
            try:
                path = find_root() / "cluster.yaml"
            except BookError:
                path = Path("cluster.yaml")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"cluster config {str(path)!r} does not exist; copy the documented cluster.yaml")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"cluster config {str(path)!r} is not valid YAML: {problem}{where}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cluster config {str(path)!r} cannot be read: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get(section, {}), dict):
        raise ValueError(f"cluster config {str(path)!r} must hold a mapping {section}: {{...}}")
    settings = _check_slurm_settings(dict(data.get(section) or {}), f"cluster config {str(path)!r}")
    return {**SLURM_DEFAULTS, **settings}


def slurm_cluster(config: Mapping[str, Any] | str | os.PathLike[str] | None = None, **overrides: Any) -> Any:
    """A ``dask_jobqueue.SLURMCluster`` with one dask worker process per GPU, each declaring ``GPU=1``.

    Args:
        config: a settings mapping (keys of :data:`SLURM_DEFAULTS`) or the path of a cluster.yaml.
        overrides: settings that win over the config (same keys).
    Nothing is submitted until the cluster is scaled; ``cluster.job_script()`` shows the script.
    """
    settings = (_check_slurm_settings(config, "slurm settings") if isinstance(config, Mapping)
                else load_cluster_config(config))
    settings = {**SLURM_DEFAULTS, **settings, **_check_slurm_settings(overrides, "slurm_cluster() arguments")}
    from dask_jobqueue import SLURMCluster

    gpus = settings["gpus"]
    processes = max(gpus, 1)
    directives = [*([f"--gres=gpu:{gpus}"] if gpus else []), *settings["job_extra_directives"]]
    keywords: dict[str, Any] = {
        "cores": settings["cores"], "memory": settings["memory"].strip(), "processes": processes,
        "walltime": settings["walltime"].strip(), "job_extra_directives": directives,
        "worker_extra_args": ["--resources", "GPU=1"] if gpus else [],
        "job_script_prologue": list(settings["job_script_prologue"]),
    }
    for name in ("queue", "account", "local_directory", "python", "interface"):
        if settings[name] is not None:
            keywords[name] = settings[name]
    return SLURMCluster(**keywords)


def _local_cluster(workers: int, gpu: bool) -> Any:
    from distributed import LocalCluster

    resources = {"GPU": 1} if gpu else None
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                        resources=resources, silence_logs=40)


def open_executor(
    *,
    scheduler: str | None = None,
    cluster: str | None = None,
    workers: int | None = None,
    gpu: bool | None = None,
    config: str | os.PathLike[str] | None = None,
    timeout: float = CONNECT_TIMEOUT_S,
) -> cf.Executor:
    """The executor the options ask for; the caller shuts it down (``with open_executor(...) as ex:``).

    Args:
        scheduler: address of a running dask scheduler, ``tcp://host:port``.
        cluster: ``"local"`` (a LocalCluster of ``workers`` processes, default 2) or ``"slurm"``
            (``slurm_cluster(config)`` scaled to ``workers`` worker processes, i.e. GPUs, default 1).
        workers: alone, the size of a local process pool.
        gpu: LocalCluster workers declare ``GPU=1`` (default: when CUDA is available, one worker per GPU).
        config: the cluster.yaml for ``cluster="slurm"``.
        timeout: seconds to wait for ``scheduler`` to answer.
    With no option: :class:`InProcessExecutor`.

    Raises:
        ValueError: a bad option or cluster config (checked before anything starts).
        ExecutorError: the scheduler does not answer, or ``sbatch`` is not on the PATH for ``cluster="slurm"``.
    """
    if scheduler is not None and cluster is not None:
        raise ValueError(f"give scheduler or cluster, not both (scheduler={scheduler!r}, cluster={cluster!r})")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if scheduler is not None:
        if not isinstance(scheduler, str) or "://" not in scheduler:
            raise ValueError(f"scheduler must be an address like 'tcp://host:8786', got {scheduler!r}")
        from distributed import Client

        try:
            client = Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            detail = "" if reason.startswith("Timed out") else f" ({reason})"
            raise ExecutorError(f"no dask scheduler answers at {scheduler} within {timeout:g} s{detail}; "
                                "is it running, and is the address right?") from None
        return DaskExecutor(client)
    if cluster is not None:
        if cluster not in ("local", "slurm"):
            raise ValueError(f"cluster must be 'local' or 'slurm', got {cluster!r}")
        from distributed import Client

        if cluster == "local":
            use_gpu = torch.cuda.is_available() if gpu is None else gpu
            count = workers or (torch.cuda.device_count() if use_gpu and torch.cuda.is_available() else 2)
            local = _local_cluster(count, use_gpu)
            return DaskExecutor(Client(local), local)
        settings = load_cluster_config(config)  # checked before anything is built
        if shutil.which("sbatch") is None:
            raise ExecutorError("--cluster slurm submits jobs with SLURM's sbatch, which is not on the PATH here; "
                                "run kdbook on a login node of the cluster (or use --cluster local or --scheduler)")
        slurm = slurm_cluster(settings)
        try:
            slurm.scale(workers or 1)
            client = Client(slurm)
        except BaseException:
            slurm.close()
            raise
        return DaskExecutor(client, slurm)
    if workers is not None and workers > 1:
        return ProcessPool(workers)
    return InProcessExecutor()


_shared: dict[str, cf.Executor] = {}


def shared_executor_from_env(variable: str = "KDLIB_EXECUTOR") -> cf.Executor:
    """Like :func:`executor_from_env`, but one executor per spec and process, closed at exit.

    ``sweep`` uses it, so a notebook with many sweeps starts one pool or cluster, not one per sweep.
    """
    spec = os.environ.get(variable, "").strip()
    with _worker_lock:
        if spec in _shared and getattr(_shared[spec], "_broken", False):  # its workers were interrupted
            with contextlib.suppress(Exception):
                _shared.pop(spec).shutdown(wait=False, cancel_futures=True)
        if spec not in _shared:
            _shared[spec] = executor_from_env(variable)
            if len(_shared) == 1:
                atexit.register(_close_shared)
                # concurrent.futures joins its workers in a threading-exit hook, which runs before atexit:
                # end a shared pool's workers first rather than wait for one still starting up (importing
                # torch) or running a task whose result nobody will read.
                with contextlib.suppress(AttributeError, RuntimeError):
                    threading._register_atexit(_terminate_shared_pools)  # type: ignore[attr-defined]
        return _shared[spec]


def _terminate_shared_pools() -> None:
    for pool in list(_shared.values()):
        if isinstance(pool, ProcessPool):
            pool.terminate()


def _close_shared() -> None:
    while _shared:
        _, pool = _shared.popitem()
        with contextlib.suppress(Exception):
            pool.shutdown(wait=False, cancel_futures=True)


def check_executor_spec(spec: str | None, variable: str = "KDLIB_EXECUTOR") -> tuple[str, int | str | None]:
    """Parse a ``KDLIB_EXECUTOR`` value without starting anything: ``("inprocess", None)``,
    ``("processes", N or None)``, ``("local", N or None)`` or ``("scheduler", address)``.

    Raises:
        ValueError: naming the variable, the value and the allowed forms.
    """
    spec = (spec or "").strip()
    if spec in ("", "inprocess", "in-process"):
        return "inprocess", None
    if "://" in spec:
        return "scheduler", spec
    kind, _, count = spec.partition(":")
    try:
        number = int(count) if count else None
    except ValueError:
        number = -1
    if kind in ("processes", "local") and (number is None or number >= 1):
        return kind, number
    raise ValueError(f"{variable}={spec!r}: allowed are inprocess, processes[:N], local[:N], tcp://host:port "
                     "(N ≥ 1)")


def executor_from_env(variable: str = "KDLIB_EXECUTOR") -> cf.Executor:
    """A new executor named by ``$KDLIB_EXECUTOR`` (see the module docstring); in-process when unset."""
    kind, value = check_executor_spec(os.environ.get(variable), variable)
    if kind == "inprocess":
        return InProcessExecutor()
    if kind == "scheduler":
        return open_executor(scheduler=str(value))
    if kind == "processes":
        return open_executor(workers=value or os.cpu_count() or 1)
    return open_executor(cluster="local", workers=value)  # type: ignore[arg-type]


_worker_lock = threading.Lock()


def gpu_slot(worker_name: int | str) -> int:
    """The GPU slot encoded in a dask worker's name: LocalCluster names workers 0, 1, ...; a
    jobqueue job with several worker processes names them ``<job>-0``, ``<job>-1``, ...; else 0."""
    if isinstance(worker_name, int):
        return worker_name
    tail = str(worker_name).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _worker_gpu_index() -> int | None:
    """The GPU slot of the dask worker running this code, or None outside a dask worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    return gpu_slot(worker.name)


def task_device(device: str | torch.device = "auto") -> torch.device:
    """The device a task should use: ``auto``/``cuda`` become this worker's own GPU on a dask worker.

    Outside dask, or with an explicit ``cuda:N`` or ``cpu``, this is ``profiles.resolve_device``
    (which raises a clear ValueError when CUDA is asked for and absent).
    """

    resolved = resolve_device(device)
    if resolved.type != "cuda" or str(device) not in ("auto", "cuda"):
        return resolved
    with _worker_lock:
        slot = _worker_gpu_index()
    if slot is None:
        return resolved
    return torch.device("cuda", slot % torch.cuda.device_count())
