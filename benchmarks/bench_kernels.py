"""NTK kernels: kdlib vs a plain NumPy recursion vs neural-tangents, and the empirical NTK's memory.

    python benchmarks/bench_kernels.py [--points 4096] [--depth 5] [--threads 1]

Part 1 computes the analytic NTK Θ(X, X) of the ReLU network of Eq. 1 (σ_W = σ_b = 1, float64)
on ``--points`` inputs x ~ N(0, 5²) in d = 2 (the paper's input distribution) three ways and prints
times, ratios and the largest relative difference to kdlib. neural-tangents runs only if
``pip install -e '.[bench]'`` succeeded; otherwise the line says why it is missing.

Part 2 computes the empirical NTK of an NTKMLP of width 2048, L = 3 on 1024 points with
``kdlib.empirical_ntk`` (layer by layer) in a fresh process and reports its time and peak
memory next to the n · P · 8 bytes a full float64 Jacobian would occupy.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import numpy as np
from _timing import best_time


def numpy_ntk(x: np.ndarray, depth: int, sigma_w: float = 1.0, sigma_b: float = 1.0) -> np.ndarray:
    """The baseline: the textbook recursion in NumPy, arccos of the clipped cosine, whole matrices."""
    d = x.shape[1]
    sigma = sigma_w**2 * (x @ x.T) / d + sigma_b**2
    theta = sigma.copy()
    for _ in range(depth):
        norms = np.sqrt(np.diag(sigma))
        outer = np.outer(norms, norms)
        cos = np.clip(sigma / outer, -1.0, 1.0)
        angle = np.arccos(cos)
        sigma = sigma_w**2 * outer * (np.sin(angle) + (np.pi - angle) * cos) / (2 * np.pi) + sigma_b**2
        theta = sigma + sigma_w**2 * theta * (np.pi - angle) / (2 * np.pi)
    return theta


def neural_tangents_fn(depth: int):
    """neural-tangents' stax kernel_fn of the same network, jitted, float64; or the reason it is absent."""
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        from neural_tangents import stax
    except Exception as error:  # ImportError, or an incompatible jax
        return None, f"{type(error).__name__}: {error}".splitlines()[0][:100]
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(1, W_std=1.0, b_std=1.0, parameterization="ntk"), stax.Relu()]
    layers.append(stax.Dense(1, W_std=1.0, b_std=1.0, parameterization="ntk"))
    kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")
    return (lambda x: np.asarray(kernel_fn(x, None, get="ntk").block_until_ready())), None


def analytic_part(points: int, depth: int, repeats: int) -> None:
    import torch

    from kdlib import ntk_kernel

    x = np.random.default_rng(0).normal(scale=5.0, size=(points, 2))
    x_torch = torch.from_numpy(x)
    reference = ntk_kernel(x_torch, depth=depth).numpy()

    def rel(other: np.ndarray) -> float:
        return float(np.max(np.abs(other - reference) / np.abs(reference)))

    ours = best_time(lambda: ntk_kernel(x_torch, depth=depth), repeats)
    base = best_time(lambda: numpy_ntk(x, depth), repeats)
    rows = [("plain NumPy recursion (arccos), baseline", base, rel(numpy_ntk(x, depth))),
            ("kdlib.ntk_kernel (atan2, row blocks)", ours, 0.0)]
    nt, reason = neural_tangents_fn(depth)
    if nt is not None:
        import jax.numpy as jnp

        x_jax = jnp.asarray(x)
        start = time.perf_counter()
        first = nt(x_jax)
        compile_time = time.perf_counter() - start
        rows.append((f"neural-tangents stax kernel_fn (jit; 1st call {compile_time:.2f} s)",
                     best_time(lambda: nt(x_jax), repeats), rel(first)))
    print(f"Analytic NTK Θ(X, X): {points} × {points} points, d = 2, L = {depth}, σ_W = σ_b = 1, float64")
    print(f"{'method':<58}{'time (s)':>10}{'vs kdlib':>10}{'max rel. diff':>15}")
    for name, seconds, diff in rows:
        print(f"{name:<58}{seconds:>10.3f}{seconds / ours:>9.2f}×{diff:>15.2e}")
    print(f"target: kdlib at least as fast as NumPy — {'met' if ours <= base else 'NOT met'} "
          f"(NumPy/kdlib = {base / ours:.2f})")
    if nt is None:
        print(f"neural-tangents: not run ({reason}); install with pip install -e '.[bench]'")
    else:
        nt_time = rows[-1][1]
        print(f"target: kdlib within 1.25× of neural-tangents — {'met' if ours <= 1.25 * nt_time else 'NOT met'} "
              f"(kdlib/neural-tangents = {ours / nt_time:.2f})")


def _empirical_worker(points: int, width: int, depth: int, threads: int, queue) -> None:
    import torch

    from kdlib import NTKMLP, empirical_ntk

    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    model = NTKMLP(2, depth, width, generator=generator, dtype=torch.float64)
    x = 5.0 * torch.randn(points, 2, generator=generator, dtype=torch.float64)
    parameters = sum(p.numel() for p in model.parameters())
    empirical_ntk(model, x[:8])  # warm-up at negligible memory
    _reset_peak()
    rss_before = _status_bytes("VmRSS")
    start = time.perf_counter()
    kernel = empirical_ntk(model, x)
    seconds = time.perf_counter() - start
    peak = _status_bytes("VmHWM")
    queue.put((parameters, seconds, max(peak - rss_before, 0), kernel.numel() * 8,
               float(torch.linalg.eigvalsh(kernel).min() / kernel.diagonal().max())))


def _reset_peak() -> None:
    """Reset the kernel's high-water mark of this process's RSS (Linux ≥ 4.0: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def empirical_part(points: int, width: int, depth: int, threads: int) -> None:
    context = multiprocessing.get_context("spawn")  # a fresh process: its peak RSS is this call's
    queue = context.Queue()
    worker = context.Process(target=_empirical_worker, args=(points, width, depth, threads, queue))
    worker.start()
    parameters, seconds, peak, kernel_bytes, min_eig = queue.get()
    worker.join()
    jacobian = points * parameters * 8
    print()
    print(f"Empirical NTK: NTKMLP d = 2, L = {depth}, width {width} (P = {parameters:,} parameters), "
          f"{points} points, float64")
    print(f"{'quantity':<58}{'value':>14}")
    print(f"{'kdlib.empirical_ntk (layerwise) time':<58}{seconds:>12.2f} s")
    print(f"{'peak memory of the call (RSS high-water growth)':<58}{peak / 2**20:>11.1f} MiB")
    print(f"{'  of which the n × n result':<58}{kernel_bytes / 2**20:>11.1f} MiB")
    print(f"{'a full Jacobian, n · P · 8 bytes':<58}{jacobian / 2**20:>11.1f} MiB")
    print(f"{'ratio Jacobian / peak memory':<58}{jacobian / max(peak, 1):>13.0f}×")
    print(f"{'smallest eigenvalue / largest diagonal entry':<58}{min_eig:>14.2e}")
    print(f"target: memory below the full Jacobian — {'met' if peak < jacobian else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=4096)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch, NumPy's BLAS and XLA")
    parser.add_argument("--empirical-points", type=int, default=1024)
    parser.add_argument("--empirical-width", type=int, default=2048)
    parser.add_argument("--empirical-depth", type=int, default=3)
    args = parser.parse_args()
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                               + ("true" if args.threads > 1 else "false")
                               + f" intra_op_parallelism_threads={args.threads}").strip()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import torch

    torch.set_num_threads(args.threads)
    print(f"{args.threads} CPU thread(s); torch {torch.__version__}, NumPy {np.__version__}")
    analytic_part(args.points, args.depth, args.repeats)
    empirical_part(args.empirical_points, args.empirical_width, args.empirical_depth, args.threads)


if __name__ == "__main__":
    main()
