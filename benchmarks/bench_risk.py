"""The whole transfer-risk curve R(n), n = 1 … N, from one Cholesky factor vs one solve per n.

    python benchmarks/bench_risk.py [--samples 4096] [--tests 4096] [--stride 32] [--threads 2]

Sec. 3's Fig. 2 (left) plots the transfer risk of the converged student against the sample size n.
At a test input x the student trained on the first n samples predicts
z_s^(n)(x) = f(x; w₀) + Θ(x, X_n)Θ_n⁻¹Δz_n (Eq. 4 off the training set). Without the prefix identity
each n needs its own factorization of Θ_n and its own predictions: Σ_n (n³/3 + 2nM) flops for the
dense curve. ``kdlib.risk.transfer_risk_curve`` factors Θ_N once, whitens the test features with
one triangular solve (N²M) and reads every prefix off a cumulative sum (NM).

Both run on the analytic NTK (L = 3 hidden layers, the students of Fig. 2) of x ~ N(0, 5² I) in
d = 2, float64, with Δz the effective logits of a Gaussian-mixture teacher (ρ = 0.5, T = 10) minus
a random initial function; the kernels are computed once beforehand and are not timed.

**The baseline's time.** One solve per n for all N sizes is Σ_n n³/3 ≈ N⁴/12 flops — tens of minutes
on a laptop CPU at N = 4096. The script times it on every ``stride``-th size, at the midpoints
n = stride/2, 3·stride/2, … of the blocks of ``stride`` consecutive sizes, and multiplies by
``stride``: the midpoint rule for the sum over all n, which for a cost growing like n³ slightly
*under*-estimates the baseline (so the reported ratio errs low). ``--stride 1`` times every n.
The predictions of both methods are compared at those sizes: the largest difference relative to
the largest |prediction| at that n must stay ≤ 1e-8, and the risk values must agree.
Targets: ≥ 50× and ≤ 1e-8 at N = 4096. Timings are best of ``--repeats`` (the prefix method) on
a machine that may be shared, so the ratio moves with the load.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_time  # noqa: E402

from kdlib.data import gaussian_inputs, random_gaussian_mixture  # noqa: E402
from kdlib.kernels import ntk_kernel  # noqa: E402
from kdlib.logits import effective_logits  # noqa: E402
from kdlib.risk import prefix_predictions, transfer_risk_curve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=4096, help="pool size N (the curve has N points)")
    parser.add_argument("--tests", type=int, default=4096, help="test inputs M")
    parser.add_argument("--stride", type=int, default=32, help="time the baseline on every stride-th n")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n_total, tests, stride = args.samples, args.tests, args.stride

    generator = torch.Generator().manual_seed(0)
    x = gaussian_inputs(n_total, generator=generator, device=device)
    x_test = gaussian_inputs(tests, generator=generator, device=device)
    teacher = random_gaussian_mixture(10, amplitude=3.0, generator=generator)
    z_t, z_t_test = teacher(x), teacher(x_test)
    initial, initial_test = (0.5 * torch.randn(m, generator=generator, dtype=torch.float64).to(device)
                             for m in (n_total, tests))
    delta_z = effective_logits(z_t, (z_t > 0).double(), 0.5, 10.0) - initial
    kernel = ntk_kernel(x, depth=args.depth)
    cross = ntk_kernel(x, x_test, depth=args.depth)
    sizes = list(range(max(1, stride // 2), n_total + 1, stride))

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def prefix() -> torch.Tensor:
        risk = transfer_risk_curve(kernel, cross, delta_z, z_t_test, initial=initial_test).risk
        synchronize()
        return risk

    def one_solve(n: int) -> tuple[torch.Tensor, float]:
        coefficients = torch.cholesky_solve(delta_z[:n, None], torch.linalg.cholesky(kernel[:n, :n]))[:, 0]
        predictions = initial_test + cross[:n].T @ coefficients
        return predictions, ((predictions * z_t_test) < 0).double().mean().item()

    prefix_time = best_time(prefix, args.repeats)
    curve = prefix()

    start = time.perf_counter()
    baseline = [one_solve(n) for n in sizes]
    synchronize()
    baseline_measured = time.perf_counter() - start
    baseline_all = baseline_measured * stride

    reference = prefix_predictions(kernel, cross[:, : min(tests, 1024)], delta_z, initial=initial_test[:1024])
    difference = max(((reference[n - 1] - predictions[:1024]).abs().max() / predictions[:1024].abs().max()).item()
                     for n, (predictions, _) in zip(sizes, baseline, strict=True))
    risk_gap = max(abs(curve[n - 1].item() - risk) for n, (_, risk) in zip(sizes, baseline, strict=True))
    ratio = baseline_all / prefix_time
    eigenvalues = torch.linalg.eigvalsh(kernel)

    print(f"transfer-risk curve R(n), n = 1…{n_total}, on {tests} test inputs: analytic NTK, L = {args.depth}, "
          f"x ~ N(0, 25 I) in d = 2, float64, {device}, {args.threads} thread(s); cond Θ_N = "
          f"{(eigenvalues[-1] / eigenvalues[0]).item():.2g}")
    print(f"{'method':<62}{'time (s)':>12}{'ratio':>10}")
    print(f"{f'one solve per n, all {n_total} n (est. {stride} × measured)':<62}{baseline_all:>12.2f}{ratio:>10.1f}")
    measured_label = f"  measured: one solve per n at the {len(sizes)} sizes n = {', '.join(map(str, sizes[:2]))}, …"
    print(f"{measured_label:<62}{baseline_measured:>12.2f}{baseline_measured / prefix_time:>10.1f}")
    print(f"{'kdlib.risk.transfer_risk_curve (all n, one Cholesky)':<62}{prefix_time:>12.2f}{1.0:>10.1f}")
    print(f"largest relative difference of the predictions at the {len(sizes)} sizes: {difference:.1e}; "
          f"largest difference of R(n): {risk_gap:.1e}")
    verdict = "met" if ratio >= 50 and difference <= 1e-8 else "NOT met"
    print(f"target ≥ 50× and ≤ 1e-8 against one solve per n at N = {n_total}: {verdict} "
          f"({ratio:.0f}×, {difference:.1e})")


if __name__ == "__main__":
    main()
