"""Effective logits: kdlib's exact solver vs the paper's gradient descent, side by side.

    python benchmarks/bench_logits.py [--points 20001] [--threads 1]

Both solve Eq. 3 on the same Fig. 1 grid (z_t in [-10, 10], correct teacher, T = 5, ρ = 0.05);
accuracy is measured against 50-digit bisection (mpmath) on an evenly spaced subsample.
"""

from __future__ import annotations

import argparse

import torch
from _timing import best_time

from kdlib import effective_logits, paper_gradient_descent, reference_effective_logit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=20_001)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reference-points", type=int, default=101)
    parser.add_argument("--rho", type=float, default=0.05)
    parser.add_argument("--temperature", type=float, default=5.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    z_t = torch.linspace(-10, 10, args.points, dtype=torch.float64)
    y_g = (z_t > 0).double()
    rho, T = args.rho, args.temperature

    exact_time = best_time(lambda: effective_logits(z_t, y_g, rho, T), repeats=5)
    descent_time = best_time(lambda: paper_gradient_descent(z_t, y_g, rho, T), repeats=1)
    exact = effective_logits(z_t, y_g, rho, T)
    descent = paper_gradient_descent(z_t, y_g, rho, T)

    picks = torch.linspace(0, args.points - 1, args.reference_points).round().long()
    reference = torch.tensor([reference_effective_logit(z_t[i].item(), int(y_g[i]), rho, T) for i in picks],
                             dtype=torch.float64)

    def relative_error(values: torch.Tensor) -> float:
        return ((values[picks] - reference).abs() / reference.abs().clamp_min(1.0)).max().item()

    print(f"Eq. 3 on {args.points} points (T = {T}, ρ = {rho}), {args.threads} thread(s); "
          f"error vs 50-digit bisection on {args.reference_points} of them")
    print(f"{'method':<44}{'time (s)':>12}{'speed-up':>10}{'max rel. error':>16}")
    print(f"{'paper: gradient descent, η = 10, 10,000 steps':<44}{descent_time:>12.4f}{1.0:>10.1f}"
          f"{relative_error(descent):>16.2e}")
    print(f"{'kdlib.effective_logits (bracketed Newton)':<44}{exact_time:>12.4f}"
          f"{descent_time / exact_time:>10.1f}{relative_error(exact):>16.2e}")
    target = descent_time / exact_time >= 100 and relative_error(exact) <= 1e-9
    print(f"target (≥ 100× faster, ≤ 1e-9 relative error): {'met' if target else 'NOT met'}")


if __name__ == "__main__":
    main()
