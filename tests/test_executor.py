"""Sweeps, the result cache and the executors (in-process, process pool, dask), with real components.

The dask tests start a real ``distributed.LocalCluster`` of two worker processes (one per core
here) and close it at the end; they are marked ``slow``. Helper task functions live at module
level so that worker processes can import them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch

from kdlib import paper_gradient_descent
from kdlib.book import cli, executor
from kdlib.book import notebooks as book
from kdlib.book.results import CorruptEntry, ResultCache, task_key, task_seed
from kdlib.book.sweeps import SweepError, sweep

# ---------------------------------------------------------------- task functions (importable by workers)


def square_plus_noise(x: float) -> tuple[float, float]:
    """x² and one draw from the *global* torch generator (seeded per task by sweep)."""
    return x * x, torch.rand(()).item()


def fails_on_three(x: int) -> int:
    if x == 3:
        raise ArithmeticError(f"three is not allowed (x={x})")
    return 10 * x


def slow_marked(x: int, marks: str, pause: float) -> int:
    """Sleep, then leave a marker file per *computation*: counting them counts recomputations."""
    time.sleep(pause)
    Path(marks, f"{x}-{os.getpid()}-{time.monotonic_ns()}").touch()
    return x * x


def interrupted_at_five(x: int, flag: str) -> int:
    """Stands for Ctrl-C: raises KeyboardInterrupt at x = 5 while the flag file exists."""
    if x == 5 and Path(flag).exists():
        raise KeyboardInterrupt
    return x + 100


def descent_tasks(points: int = 41, iterations: int = 400) -> list[dict]:
    z = torch.linspace(-10, 10, points, dtype=torch.float64)
    correct = (z > 0).double()
    return [dict(z_t=z, y_g=correct, rho=rho, T=T, iterations=iterations)
            for rho, T in [(0.01, 5.0), (0.5, 5.0), (0.05, 0.2), (0.05, 20.0)]]


# ---------------------------------------------------------------- keys and the store


def test_task_key_depends_on_function_parameters_and_tensor_contents_only():
    z = torch.linspace(0, 1, 5, dtype=torch.float64)
    base = task_key(square_plus_noise, {"x": 2.0})
    assert base == task_key(square_plus_noise, {"x": 2.0})
    assert base != task_key(square_plus_noise, {"x": 2.0000000000000004})  # one ulp apart: different tasks
    assert base != task_key(fails_on_three, {"x": 2.0})
    assert task_key(paper_gradient_descent, {"z_t": z, "T": 1.0}) == task_key(paper_gradient_descent,
                                                                               {"T": 1.0, "z_t": z.clone()})
    changed = z.clone()
    changed[3] += 1e-12
    assert task_key(paper_gradient_descent, {"z_t": z}) != task_key(paper_gradient_descent, {"z_t": changed})
    assert task_key(paper_gradient_descent, {"z_t": z}) != task_key(paper_gradient_descent, {"z_t": z.float()})
    with pytest.raises(TypeError, match="cannot be hashed"):
        task_key(square_plus_noise, {"x": object()})
    with pytest.raises(ValueError, match="parameters must be a mapping"):
        task_key(square_plus_noise, [1, 2])  # type: ignore[arg-type]


def test_cache_roundtrip_keeps_tensors_exactly_and_records_provenance(tmp_path):
    tasks = descent_tasks()
    first = sweep(paper_gradient_descent, tasks, cache=tmp_path, progress=False)
    assert (first.hits, first.computed) == (0, len(tasks))
    again = sweep(paper_gradient_descent, tasks, cache=tmp_path, progress=False)
    assert (again.hits, again.computed) == (len(tasks), 0)
    for cold, warm, task in zip(first, again, tasks, strict=True):
        direct = paper_gradient_descent(**task)  # an independent, uncached call
        assert torch.equal(cold, direct) and torch.equal(warm, direct)
    record = ResultCache(tmp_path).provenance(first.keys[0])
    for field in ("commit", "dirty", "versions", "host", "device", "profile", "parameters", "wall_s", "peak_rss_mb",
                  "seed"):
        assert field in record, field
    assert record["device"] == "cpu" and record["wall_s"] > 0 and record["peak_rss_mb"] > 10
    assert record["parameters"]["rho"] == 0.01 and record["parameters"]["z_t"].startswith("tensor(41,)")
    assert record["versions"]["torch"] == torch.__version__.split("+")[0] or "torch" in record["versions"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage-header"])
def test_a_corrupt_entry_is_detected_reported_and_recomputed(tmp_path, damage):
    tasks = [{"x": 1.5}, {"x": 2.5}]
    first = sweep(square_plus_noise, tasks, cache=tmp_path, progress=False)
    path = ResultCache(tmp_path).file(first.keys[1])
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:-7])
    elif damage == "flip":
        path.write_bytes(data[:-3] + bytes([data[-3] ^ 0x01]) + data[-2:])
    else:
        path.write_bytes(b"{not json\n" + data)
    with pytest.raises(CorruptEntry):
        ResultCache(tmp_path).get(first.keys[1])
    with pytest.warns(RuntimeWarning, match="corrupt cache entry recomputed"):
        again = sweep(square_plus_noise, tasks, cache=tmp_path, progress=False)
    assert again.corrupt == [first.keys[1]] and (again.hits, again.computed) == (1, 1)
    assert list(again) == list(first)  # recomputed with the same per-task seed: the same value
    assert ResultCache(tmp_path).get(first.keys[1]) == first[1]  # and the entry is whole again


def test_concurrent_writers_of_one_key_leave_one_whole_entry(tmp_path):
    cache = ResultCache(tmp_path)
    key = task_key(square_plus_noise, {"x": 7.0})
    value = torch.arange(200_000, dtype=torch.float64)  # ~1.6 MB: writes overlap in time
    errors = []

    def write():
        try:
            for _ in range(5):
                cache.put(key, value, {"writer": threading.get_ident()})
                assert torch.equal(cache.get(key), value)  # a reader never sees half a file
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert torch.equal(cache.get(key), value)
    info = cache.info()
    assert (info.entries, info.temporary) == (1, 0)


def test_each_task_gets_a_seed_from_its_key_and_the_callers_stream_is_untouched(tmp_path):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    tasks = [{"x": 1.0}, {"x": 2.0}, {"x": 1.0}]
    values = sweep(square_plus_noise, tasks, cache=False, progress=False)
    assert torch.equal(torch.rand(3), expected_next)  # sweep restored the global generator
    assert values[0] == values[2] and values[0][1] != values[1][1]  # equal tasks, equal draws
    reversed_values = sweep(square_plus_noise, tasks[::-1], cache=False, progress=False)
    assert list(reversed_values)[::-1] == list(values)  # order does not matter
    key = task_key(square_plus_noise, {"x": 2.0})
    assert values[1][1] == torch.rand((), generator=torch.Generator().manual_seed(task_seed(key))).item()


def test_a_failing_task_is_reported_with_parameters_and_traceback_and_the_rest_is_kept(tmp_path):
    tasks = [{"x": x} for x in range(5)]
    with pytest.raises(SweepError) as caught:
        sweep(fails_on_three, tasks, cache=tmp_path, progress=False)
    error = caught.value
    assert "1 of 5 sweep task(s) failed" in str(error) and "{'x': 3}" in str(error)
    assert len(error.failures) == 1 and "ArithmeticError: three is not allowed" in error.failures[0].error
    assert "Traceback" in error.failures[0].error and error.results[:3] == [0, 10, 20]
    again = sweep(fails_on_three, tasks, cache=tmp_path, progress=False, raise_on_failure=False)
    assert (again.hits, again.computed, len(again.failures)) == (4, 0, 1)  # finished tasks are not rerun


def test_an_interrupted_sweep_resumes_computing_only_what_is_missing(tmp_path):
    flag = tmp_path / "interrupt"
    flag.touch()
    tasks = [{"x": x, "flag": str(flag)} for x in range(8)]
    with pytest.raises(KeyboardInterrupt):
        sweep(interrupted_at_five, tasks, cache=tmp_path / "cache", progress=False)
    assert ResultCache(tmp_path / "cache").info().entries == 5  # tasks 0-4 finished and were stored
    flag.unlink()
    resumed = sweep(interrupted_at_five, tasks, cache=tmp_path / "cache", progress=False)
    assert (resumed.hits, resumed.computed) == (5, 3) and list(resumed) == [x + 100 for x in range(8)]


def test_inputs_are_validated_with_clear_messages(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"tasks\[1\] must be a mapping"):
        sweep(square_plus_noise, [{"x": 1.0}, 2.0], cache=False)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="cache must be"):
        sweep(square_plus_noise, [{"x": 1.0}], cache=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scheduler must be an address"):
        executor.open_executor(scheduler="localhost")
    with pytest.raises(ValueError, match="cluster must be 'local' or 'slurm'"):
        executor.open_executor(cluster="pbs")
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        executor.open_executor(workers=0)
    monkeypatch.setenv("KDLIB_EXECUTOR", "threads:4")
    with pytest.raises(ValueError, match="KDLIB_EXECUTOR='threads:4'"):
        executor.executor_from_env()
    assert executor.task_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            executor.task_device("cuda")


def test_each_gpu_worker_gets_its_own_gpu(monkeypatch):
    assert [executor.gpu_slot(name) for name in (0, 3, "SLURMCluster-2-1", "SLURMCluster-7", "tcp://a:1")] == \
        [0, 3, 1, 7, 0]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(executor, "_worker_gpu_index", lambda: 6)  # a dask worker in slot 6 of a 4-GPU node
    assert executor.task_device("auto") == torch.device("cuda", 2)
    assert executor.task_device("cuda") == torch.device("cuda", 2)
    assert executor.task_device("cuda:1") == torch.device("cuda", 1)  # an explicit choice is kept
    assert executor.task_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(executor, "_worker_gpu_index", lambda: None)  # not on a dask worker
    assert executor.task_device("auto") == torch.device("cuda")


def test_slurm_job_script_requests_the_configured_gpus_memory_and_time(tmp_path):
    config = tmp_path / "cluster.yaml"
    config.write_text("slurm:\n  queue: gpu\n  account: kd\n  walltime: '02:30:00'\n  gpus: 4\n"
                      "  cores: 16\n  memory: 64GB\n  job_extra_directives: ['--constraint=a100']\n")
    cluster = executor.slurm_cluster(config)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    assert "#SBATCH --gres=gpu:4" in lines and "#SBATCH -t 02:30:00" in lines
    assert "#SBATCH -p gpu" in lines and "#SBATCH -A kd" in lines and "#SBATCH --constraint=a100" in lines
    assert any(line.startswith("#SBATCH --mem=") for line in lines)
    mem = next(line for line in lines if line.startswith("#SBATCH --mem="))
    assert mem.endswith("G") and 55 <= int(mem.split("=")[1][:-1]) <= 64  # dask-jobqueue writes 64 GB as 60G
    assert "--nworkers 4" in script and "--resources GPU=1" in script  # one worker per GPU, each GPU=1
    bad = tmp_path / "bad.yaml"
    bad.write_text("slurm:\n  gpu: 2\n")
    with pytest.raises(ValueError, match="unknown slurm setting"):
        executor.load_cluster_config(bad)


def test_the_repository_cluster_config_is_valid():
    settings = executor.load_cluster_config(book.find_root() / "cluster.yaml")
    assert settings["gpus"] >= 1 and settings["walltime"]


def test_kdbook_run_rejects_contradictory_or_bad_executor_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--cluster", "slurm", "--scheduler", "tcp://x:1"])
    assert "not allowed with argument" in capsys.readouterr().err
    assert cli.main(["run", "--workers", "0"]) == 2
    assert "--workers must be a positive integer, got 0" in capsys.readouterr().err
    assert cli.main(["run", "--scheduler", "localhost"]) == 2
    assert "scheduler must be an address" in capsys.readouterr().err


def test_kdbook_cache_info_and_clear_report_sizes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KDBOOK_CACHE", str(tmp_path))
    sweep(square_plus_noise, [{"x": 1.0}, {"x": 2.0}], cache=tmp_path / "results", progress=False)
    assert cli.main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert "sweep results" in out and "2 entries" in out
    assert cli.main(["cache", "clear", "--results"]) == 0
    assert "cleared sweep results" in capsys.readouterr().out
    assert ResultCache(tmp_path / "results").info().entries == 0


@pytest.mark.slow
def test_a_process_pool_gives_the_in_process_results(tmp_path):
    tasks = descent_tasks()
    local = sweep(paper_gradient_descent, tasks, cache=False, progress=False)
    with executor.open_executor(workers=2) as pool:
        pooled = sweep(paper_gradient_descent, tasks, executor=pool, cache=tmp_path, progress=False)
    assert pooled.computed == len(tasks) and pooled.where == "process pool (2 workers)"
    assert all(torch.equal(a, b) for a, b in zip(local, pooled, strict=True))


# ---------------------------------------------------------------- dask.distributed, really started

TINY = """\
# %% [markdown]
# # Tiny chapter

# %% tags=["parameters"]
profile = "quick"
device = "auto"
seed = 0

# %%
import torch
from kdlib import paper_gradient_descent
from kdlib.book import claims, profiles
from kdlib.book.sweeps import sweep
cfg = profiles.resolve(None, profile, device=device, seed=seed)
z = torch.linspace(-5, 5, 11, dtype=torch.float64)
runs = sweep(paper_gradient_descent, [dict(z_t=z, y_g=(z > 0).double(), rho=r, T=2.0, iterations=50)
                                      for r in (0.1, 0.9)], progress=False)
print(cfg.name, [float(v) for v in runs[0]], torch.rand(2).tolist())
claims.check("tiny.ok", "test", "one is small", measured=1, relation="<=", expected=2)
"""


@pytest.fixture(scope="module")
def dask_pool():
    pytest.importorskip("distributed")
    pool = executor.open_executor(cluster="local", workers=2, gpu=False)
    try:
        yield pool
    finally:
        pool.shutdown()


@pytest.fixture
def tiny_book(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01-tiny.py").write_text(TINY)
    (tmp_path / "notebooks" / "02-tiny.py").write_text(TINY.replace("seed = 0", "seed = 1"))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    monkeypatch.setenv("KDBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KDBOOK_ROOT", str(tmp_path))
    return tmp_path


def _outputs(path: Path) -> list:
    return [cell.get("outputs", []) for cell in json.loads(path.read_text())["cells"]]


@pytest.mark.slow
def test_a_local_cluster_sweep_equals_the_in_process_sweep_bit_for_bit(dask_pool, tmp_path):
    tasks = descent_tasks() + [{"x": 0.5}] * 0
    local = sweep(paper_gradient_descent, tasks, cache=False, progress=False)
    remote = sweep(paper_gradient_descent, tasks, executor=dask_pool, cache=tmp_path, progress=False)
    assert remote.computed == len(tasks) and remote.where.startswith("dask LocalCluster")
    assert all(torch.equal(a, b) for a, b in zip(local, remote, strict=True))
    seeded_local = sweep(square_plus_noise, [{"x": x} for x in (1.0, 2.0, 3.0)], cache=False, progress=False)
    seeded_remote = sweep(square_plus_noise, [{"x": x} for x in (1.0, 2.0, 3.0)], executor=dask_pool,
                          cache=False, progress=False)
    assert list(seeded_local) == list(seeded_remote)  # same per-task seeds on other processes
    workers = dask_pool.client.run(os.getpid)
    assert len(workers) == 2 and os.getpid() not in workers.values()


@pytest.mark.slow
def test_kdbook_run_cluster_local_builds_the_same_book_as_the_in_process_run(tiny_book, capsys):
    generated = tiny_book / "book" / "generated"
    assert cli.main(["run", "--profile", "smoke", "--device", "cpu"]) == 0
    local = {stem: _outputs(generated / f"{stem}.ipynb") for stem in ("01-tiny", "02-tiny")}
    assert cli.main(["run", "--profile", "smoke", "--device", "cpu", "--force", "--cluster", "local",
                     "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "on dask LocalCluster" in out and "[2/2]" in out
    assert {stem: _outputs(generated / f"{stem}.ipynb") for stem in ("01-tiny", "02-tiny")} == local
    assert local["01-tiny"] != local["02-tiny"]  # the comparison can fail: the chapters' seeds differ
    for stem in ("01-tiny", "02-tiny"):
        meta = json.loads((generated / f"{stem}.ipynb").read_text())["metadata"]["kdbook"]
        assert meta["status"] == "ok" and meta["executor"].startswith("dask LocalCluster")
        assert meta["host"] and meta["wall_s"] > 0 and meta["commit"] is not None


@pytest.mark.slow
def test_killing_a_worker_mid_sweep_then_rerunning_recomputes_nothing_finished(dask_pool, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    tasks = [{"x": x, "marks": str(marks), "pause": 0.4} for x in range(10)]
    cache = tmp_path / "cache"
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = sweep(slow_marked, tasks, executor=dask_pool, cache=cache, progress=False,
                                      raise_on_failure=False)
        except Exception as error:  # noqa: BLE001 - a lost worker may fail the first run; asserted below
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while len(list(marks.iterdir())) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.15)  # the worker that wrote the last mark has stored it and is asleep in its next task
    victim = next(iter(dask_pool.client.run(os.getpid).values()))
    os.kill(victim, 9)
    thread.join(timeout=120)
    assert not thread.is_alive()
    dask_pool.client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker
    assert victim not in dask_pool.client.run(os.getpid).values()
    stored_after_first = ResultCache(cache).info().entries
    assert stored_after_first >= 3
    again = sweep(slow_marked, tasks, executor=dask_pool, cache=cache, progress=False)
    assert list(again) == [x * x for x in range(10)]  # nothing lost
    assert again.hits == stored_after_first and again.computed == 10 - stored_after_first
    computations = len(list(marks.iterdir()))
    assert computations == 10, f"{computations} computations for 10 tasks: a finished task was recomputed"
    if "result" in outcome:  # dask retried the killed worker's task: the first run completed
        first = outcome["result"]
        assert first.computed + first.hits == 10 - len(first.failures)


@pytest.mark.slow
def test_a_sweep_whose_client_is_killed_resumes_without_recomputing(dask_pool, tmp_path):
    """Ctrl-C or a lost login node: the client process dies mid-sweep; its finished tasks are kept."""
    marks, cache = tmp_path / "marks", tmp_path / "cache"
    marks.mkdir()
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
              "from test_executor import slow_marked\nfrom kdlib.book.sweeps import sweep\n"
              f"sweep(slow_marked, [{{'x': x, 'marks': {str(marks)!r}, 'pause': 0.4}} for x in range(10)], "
              f"cache={str(cache)!r}, progress=False)\n")
    environment = {**os.environ, "KDLIB_EXECUTOR": dask_pool.client.scheduler.address}
    client = subprocess.Popen([sys.executable, "-c", script], env=environment)
    try:
        deadline = time.monotonic() + 60
        while len(list(marks.iterdir())) < 3 and time.monotonic() < deadline and client.poll() is None:
            time.sleep(0.02)
    finally:
        client.kill()
        client.wait()
    # Tasks already running on the workers finish (and are stored) after their client died. Wait until
    # every computation that left its mark is stored and nothing changed for 2 s: a fixed 1.5 s was too
    # short on a loaded machine (a straggler stored after the count made the resumed run's hits differ).
    state, quiet_since, deadline = None, time.monotonic(), time.monotonic() + 60
    while time.monotonic() < deadline:
        now = (len(list(marks.iterdir())), ResultCache(cache).info().entries)
        if now != state:
            state, quiet_since = now, time.monotonic()
        elif now[0] == now[1] and time.monotonic() - quiet_since >= 2:
            break
        time.sleep(0.1)
    stored = ResultCache(cache).info().entries
    assert 3 <= stored < 10, f"{stored} entries: the client was not killed mid-sweep"
    resumed = sweep(slow_marked, [{"x": x, "marks": str(marks), "pause": 0.4} for x in range(10)],
                    executor=dask_pool, cache=cache, progress=False)
    assert list(resumed) == [x * x for x in range(10)]
    assert (resumed.hits, resumed.computed) == (stored, 10 - stored)
    assert len(list(marks.iterdir())) == 10  # every task computed exactly once over both runs


@pytest.mark.slow
def test_gpu_tasks_need_a_gpu_worker(dask_pool):
    with pytest.raises(ValueError, match="no dask worker declares a GPU resource"):
        sweep(square_plus_noise, [{"x": 1.0}], executor=dask_pool, cache=False, progress=False, gpu=True)


def test_in_process_executor_is_a_concurrent_futures_executor():
    with executor.InProcessExecutor() as pool:
        future = pool.submit(fails_on_three, 3)
        assert isinstance(future.exception(), ArithmeticError)
        assert pool.submit(fails_on_three, 2).result() == 20
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(fails_on_three, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert executor.describe(pool) == "in-process"
