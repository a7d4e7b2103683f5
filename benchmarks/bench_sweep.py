"""Sweeps side by side: in-process vs a 2-worker dask LocalCluster, and a warm cache vs a cold one.

    python benchmarks/bench_sweep.py [--profile quick] [--workers 2] [--book] [--device cuda]

The workload is Fig. 1's sweep (chapter 01): the paper's gradient-descent solver (Sec. S4), one
task per curve — six soft ratios at T = 5 and six temperatures at ρ = 0.05 — on the profile's grid.

1. cold, in-process (no cache);
2. cold, on a LocalCluster of ``--workers`` processes (cluster start-up reported separately);
3. warm: the same sweep again with every result in the cache (the cost of a resumed run).
With ``--book`` it also times ``kdbook run`` of every chapter at ``smoke`` in a scratch copy of
the book, cold and then warm (the cached executions are copied, not re-run).
It also prints the per-task cost at the ``paper`` profile, the input to the README's estimate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from kdlib import paper_gradient_descent
from kdlib.book import executor, profiles
from kdlib.book import notebooks as book
from kdlib.book.sweeps import sweep


def fig1_tasks(profile: str) -> list[dict]:
    cfg = profiles.resolve("01-effective-student", profile, device="cpu")
    z = torch.linspace(-cfg.z_max, cfg.z_max, cfg.points, dtype=torch.float64)
    correct = (z > 0).double()
    left = [dict(z_t=z, y_g=correct, rho=rho, T=5.0, iterations=cfg.gd_iterations)
            for rho in (0.01, 0.05, 0.2, 0.5, 0.9, 1.0)]
    right = [dict(z_t=z, y_g=correct, rho=0.05, T=T, iterations=cfg.gd_iterations)
             for T in (0.2, 0.5, 1.0, 2.0, 5.0, 20.0)]
    return left + right


def _warm_worker() -> None:
    import kdlib.book.sweeps  # noqa: F401

    torch.set_num_threads(1)


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def book_timings(root: Path) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch)
        shutil.copytree(root / "notebooks", copy / "notebooks")
        shutil.copy(root / "_toc.yml", copy / "_toc.yml")
        os.environ["KDBOOK_CACHE"] = str(copy / ".kdcache")
        try:
            records, cold = timed(lambda: book.run_notebooks(profile="smoke", device="cpu", root=copy,
                                                             progress=False))
            _, warm = timed(lambda: book.run_notebooks(profile="smoke", device="cpu", root=copy, progress=False))
        finally:
            os.environ.pop("KDBOOK_CACHE", None)
    return cold, warm, len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick", choices=profiles.profile_names())
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--book", action="store_true", help="also time a cold and a warm `kdbook run` at smoke")
    parser.add_argument("--no-paper-task", action="store_true", help="skip timing one paper-profile task")
    parser.add_argument("--device", default="cpu", help="device of the paper-profile task: cpu, cuda, cuda:N")
    args = parser.parse_args()
    try:
        device = profiles.resolve_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    torch.set_num_threads(1)  # one thread per worker process: the comparison is about processes

    tasks = fig1_tasks(args.profile)
    with tempfile.TemporaryDirectory() as scratch:
        inline, inline_s = timed(lambda: sweep(paper_gradient_descent, tasks, cache=False, progress=False))
        def start() -> executor.DaskExecutor:
            pool = executor.open_executor(cluster="local", workers=args.workers, gpu=False)
            pool.client.run(_warm_worker)  # workers import torch and kdlib before the clock starts
            return pool

        pool, start_s = timed(start)
        with pool:
            remote, remote_s = timed(lambda: sweep(paper_gradient_descent, tasks, executor=pool,
                                                   cache=Path(scratch), progress=False))
        identical = all(torch.equal(a, b) for a, b in zip(inline, remote, strict=True))
        warm, warm_s = timed(lambda: sweep(paper_gradient_descent, tasks, cache=Path(scratch), progress=False))
        assert warm.hits == len(tasks) and all(torch.equal(a, b) for a, b in zip(inline, warm, strict=True))

    cfg = profiles.resolve("01-effective-student", args.profile, device="cpu")
    print(f"Fig. 1 sweep at `{args.profile}`: {len(tasks)} tasks of {cfg.gd_iterations} descent steps on "
          f"{cfg.points} points; {os.cpu_count()} CPU core(s), torch threads = 1")
    print(f"{'run':<46}{'time (s)':>10}{'ratio':>9}")
    print(f"{'cold, in-process':<46}{inline_s:>10.3f}{1.0:>9.2f}")
    print(f"{f'cold, LocalCluster of {args.workers} workers':<46}{remote_s:>10.3f}{inline_s / remote_s:>9.2f}"
          f"   speed-up; start-up {start_s:.1f} s not included; bit-identical: {identical}")
    print(f"{'warm cache, in-process (all hits)':<46}{warm_s:>10.4f}{warm_s / inline_s:>9.4f}"
          f"   of cold ({100 * warm_s / inline_s:.2f} %; target < 10 %)")
    print(f"per task, in-process: {inline_s / len(tasks):.3f} s")

    if not args.no_paper_task:
        paper = {name: value.to(device) if isinstance(value, torch.Tensor) else value
                 for name, value in fig1_tasks("paper")[0].items()}

        def one_task() -> None:
            paper_gradient_descent(**paper)
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        one_task()  # warm-up (CUDA context, kernels)
        _, paper_s = timed(one_task)
        where = f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "CPU, 1 thread"
        print(f"one Fig. 1 task at `paper` ({paper['z_t'].numel()} points, {paper['iterations']} steps), "
              f"{where}: {paper_s:.3f} s")
    if args.book:
        cold, warm_book, count = book_timings(book.find_root())
        print(f"kdbook run, {count} chapter(s) at smoke: cold {cold:.1f} s, warm {warm_book:.3f} s "
              f"({100 * warm_book / cold:.1f} % of cold)")


if __name__ == "__main__":
    main()
