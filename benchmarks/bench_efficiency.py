"""Sec. 4's data-inefficiency runs: all targets of a run from one factorization, against one per target.

    python benchmarks/bench_efficiency.py [--samples 1024] [--targets 32] [--threads 2]

Chapter 03 compares many targets (mode counts, flip probabilities, stopping epochs, soft ratios) on
the same inputs and initialization. ``kdlib.efficiency.weight_change_norm_run`` computes the
student's kernel and its Cholesky factor once and whitens every target with one triangular solve;
the alternative a per-grid-point sweep would take is one run (kernel, factor, solve) per target.
Both give ‖Δŵ_n‖ for every n; the results must agree to rounding. A second comparison times
``kdlib.expected_squared_norms`` (tr Θ_n⁻¹ for every prefix from one factor) against a trace of an
explicit inverse per sample size on a 36-point log grid of n, as a figure would need.

Wall and CPU (process) time are both printed: on a machine shared with other jobs the CPU ratio is
the steadier of the two.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from kdlib.data import gaussian_inputs, random_gaussian_mixture
from kdlib.efficiency import weight_change_norm_run
from kdlib.kernels import ntk_kernel
from kdlib.student import expected_squared_norms


def best(function, repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` (wall, CPU) seconds of ``function()``."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--targets", type=int, default=32)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    x = gaussian_inputs(args.samples, generator=generator)
    targets = {f"q{k}": random_gaussian_mixture(10 + k, width_scale=15**0.5, width_exponent=0.5,
                                                generator=generator)(x) for k in range(args.targets)}
    common = dict(init_seed=1, depth=5, width=args.width)

    def together():
        return weight_change_norm_run(x, targets, **common)

    def apart():
        return {name: weight_change_norm_run(x, {name: value}, **common)["norms"][name]
                for name, value in targets.items()}

    one, many = together()["norms"], apart()
    error = max(((one[k] - many[k]).abs() / many[k]).max().item() for k in targets)
    (wall_one, cpu_one), (wall_many, cpu_many) = best(together, args.repeats), best(apart, args.repeats)
    print(f"N = {args.samples}, {args.targets} targets, student width {args.width}, {args.threads} threads")
    print(f"  one factorization for all targets: wall {wall_one:.2f} s, CPU {cpu_one:.2f} s")
    print(f"  one run per target:                wall {wall_many:.2f} s, CPU {cpu_many:.2f} s")
    print(f"  ratio: wall {wall_many / wall_one:.1f}×, CPU {cpu_many / cpu_one:.1f}×; largest relative difference "
          f"{error:.1e}")

    theta = ntk_kernel(x, depth=5)
    sizes = sorted({int(n) for n in torch.logspace(math.log10(8), math.log10(args.samples), 36).round()})

    def prefix():
        return expected_squared_norms(theta)

    def per_size():
        return [torch.linalg.inv(theta[:n, :n]).trace() for n in sizes]

    traces, direct = prefix(), per_size()
    trace_error = max(abs(traces[n - 1].item() / d.item() - 1) for n, d in zip(sizes, direct, strict=True))
    (wall_p, cpu_p), (wall_d, cpu_d) = best(prefix, args.repeats), best(per_size, args.repeats)
    print(f"tr Θ_n⁻¹ for every n (one factor) vs {len(sizes)} explicit inverses: wall {wall_d / wall_p:.1f}×, "
          f"CPU {cpu_d / cpu_p:.1f}× ({wall_p:.2f} s vs {wall_d:.2f} s); largest relative difference {trace_error:.1e}")


if __name__ == "__main__":
    main()
