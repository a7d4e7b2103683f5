"""Tests of kdlib.kernels: analytic NTK/NNGP of Eq. 1 and the empirical (finite-width) NTK.

Each test compares with an independent computation: Monte Carlo over random networks or
Gaussian samples, a brute-force full Jacobian, or a closed form on the diagonal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from kdlib.kernels import empirical_ntk, empirical_ntk_error, full_jacobian_ntk, nngp_kernel, ntk_diagonal, ntk_kernel
from kdlib.nets import NTKMLP


def _points(n: int, d: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------ analytic kernels vs Monte Carlo


@pytest.mark.parametrize("sigma_w, sigma_b", [(1.0, 1.0), (1.4, 0.3), (1.0, 0.0)])
def test_one_layer_kernels_match_gaussian_monte_carlo(sigma_w: float, sigma_b: float) -> None:
    # For L = 1 the kernels are Gaussian expectations over one layer's pre-activations
    # (u, v) ~ N(0, Σ¹): Σ² = σ_W² E[g(u)g(v)] + σ_b², Θ² = Σ² + σ_W² Σ¹ E[g'(u)g'(v)].
    # 400k samples: the standard error is ~1e-3 relative; we allow 5 standard errors.
    x = _points(4, 3, seed=1, scale=2.0)
    sigma1 = sigma_w**2 * x @ x.T / 3 + sigma_b**2
    chol = torch.linalg.cholesky(sigma1 + 1e-12 * torch.eye(4, dtype=torch.float64))
    h = torch.randn(400_000, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64) @ chol.T
    g, dg = torch.relu(h), (h > 0).double()
    samples_nngp = sigma_w**2 * g[:, :, None] * g[:, None, :] + sigma_b**2
    samples_ntk = samples_nngp + sigma_w**2 * sigma1 * dg[:, :, None] * dg[:, None, :]
    for samples, analytic in ((samples_nngp, nngp_kernel(x, depth=1, sigma_w=sigma_w, sigma_b=sigma_b)),
                              (samples_ntk, ntk_kernel(x, depth=1, sigma_w=sigma_w, sigma_b=sigma_b))):
        mean, se = samples.mean(0), samples.std(0) / math.sqrt(samples.shape[0])
        assert ((mean - analytic).abs() <= 5 * se + 1e-12).all()


def test_ntk_matches_monte_carlo_of_wide_networks() -> None:
    # Average the empirical NTK of 16 independent networks of width 1024. Its seed-to-seed spread
    # is O(√(L/m)) and its finite-width bias only O(L/m) (≈ 0.3 % here, below one standard error
    # of the mean), so every entry must lie within 4.5 standard errors of the analytic Θ.
    x = _points(6, 3, seed=3, scale=1.5)
    generator = torch.Generator().manual_seed(4)
    depth, width, seeds = 2, 1024, 16
    samples = torch.stack([
        empirical_ntk(NTKMLP(3, depth, width, sigma_w=1.2, sigma_b=0.5, generator=generator, dtype=torch.float64), x)
        for _ in range(seeds)
    ])
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(seeds)
    analytic = ntk_kernel(x, depth=depth, sigma_w=1.2, sigma_b=0.5)
    assert ((mean - analytic).abs() / se).max() < 4.5


def test_nngp_matches_last_hidden_layer_of_wide_networks() -> None:
    # Given the last hidden layer, the output covariance is σ_W² g(h^L)·g(h'^L)/m + σ_b², whose
    # mean over networks is Σ^{L+1} up to an O(1/m) bias; tolerance 4.5 standard errors of 16 nets.
    from kdlib.kernels import _layer_features

    x = _points(5, 2, seed=5, scale=3.0)
    generator = torch.Generator().manual_seed(6)
    depth, width, seeds = 3, 1024, 16
    estimates = []
    for _ in range(seeds):
        model = NTKMLP(2, depth, width, generator=generator, dtype=torch.float64)
        last = _layer_features(model, x)[0][-1]
        estimates.append(model.scales[-1] ** 2 * last @ last.T + model.sigma_b**2)
    samples = torch.stack(estimates)
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(seeds)
    assert ((mean - nngp_kernel(x, depth=depth)).abs() / se).max() < 4.5


# ------------------------------------------------------------------ numerical robustness


@pytest.mark.parametrize("scale", [1e-1, 1.0, 1e1, 1e3])
def test_bias_free_kernels_are_homogeneous_of_degree_two(scale: float) -> None:
    # With σ_b = 0 a ReLU network is positively homogeneous, so Θ(cx, cx') = c² Θ(x, x') exactly;
    # the only error is rounding (a few ulps per layer), hence 1e-12 relative.
    x = _points(20, 4, seed=7)
    for kernel in (ntk_kernel, nngp_kernel):
        base = kernel(x, depth=4, sigma_b=0.0)
        scaled = kernel(scale * x, depth=4, sigma_b=0.0)
        assert torch.allclose(scaled, scale**2 * base, rtol=1e-12, atol=0.0)


def test_large_inputs_forget_the_bias() -> None:
    # Σ_b's contribution is O(1) while the rest grows like |x|², so Θ(cx)/c² → Θ_{σ_b=0}(x) with an
    # O(1/c²) gap: 1e-6 relative at c = 1e4 (the kernel is O(1) for unit inputs).
    x = _points(8, 2, seed=8)
    limit = ntk_kernel(x, depth=3, sigma_b=0.0)
    assert torch.allclose(ntk_kernel(1e4 * x, depth=3) / 1e8, limit, rtol=1e-6, atol=1e-6)


def test_diagonal_follows_the_closed_form() -> None:
    # On the diagonal Σ^{l+1} = σ_W² Σ^l / 2 + σ_b² and Θ^{l+1} = Σ^{l+1} + σ_W² Θ^l / 2 solve to
    # Θ = (L+1) q / 2^L for σ_W = 1, σ_b = 0, q = |x|²/d (the limit of Fig. S7); exact up to rounding.
    x = _points(50, 2, seed=9, scale=5.0)
    q = (x * x).sum(1) / 2
    for depth in (1, 3, 5):
        expected = (depth + 1) * q / 2**depth
        assert torch.allclose(ntk_kernel(x, depth=depth, sigma_b=0.0).diagonal(), expected, rtol=1e-13)
        assert torch.allclose(ntk_diagonal(x, depth=depth, sigma_b=0.0), expected, rtol=1e-13)
    # With biases the diagonal is strictly larger, and ntk_diagonal agrees with the full kernel.
    assert torch.allclose(ntk_diagonal(x, depth=3), ntk_kernel(x, depth=3).diagonal(), rtol=1e-14)
    assert (ntk_diagonal(x, depth=3) > (x * x).sum(1) / 4).all()


def test_kernel_is_finite_symmetric_and_positive_semidefinite() -> None:
    # Opposite and zero inputs are where arccos-based code returns NaN (cosine rounded past ±1, 0/0).
    x = _points(30, 3, seed=10, scale=100.0)
    x = torch.cat([x, -x[:5], torch.zeros(2, 3, dtype=torch.float64)])
    for sigma_b in (0.0, 1.0):
        for kernel in (ntk_kernel, nngp_kernel):
            k = kernel(x, depth=5, sigma_b=sigma_b)
            assert torch.isfinite(k).all()
            assert torch.equal(k, k.T)
            eigenvalues = torch.linalg.eigvalsh(k)
            # Rounding of an n × n matrix perturbs its eigenvalues by ~n·ε·max|k|; 1e-12 is generous.
            assert eigenvalues.min() >= -1e-12 * eigenvalues.max()
    zero_row = ntk_kernel(x, depth=3, sigma_b=0.0)[-1]
    assert torch.equal(zero_row, torch.zeros_like(zero_row))


def test_duplicated_inputs_are_resolved_to_the_square_root_of_rounding() -> None:
    # A loose check kept from when the angle came from Gram entries (known only to √ε ≈ 1e-8):
    # duplicated rows must be finite and agree with the exact diagonal, and the matrix be PSD.
    # The exact statements are test_equal_inputs_give_exactly_the_diagonal_value and
    # test_near_equal_and_near_opposite_inputs_match_60_digit_arithmetic below.
    x = _points(30, 3, seed=10, scale=100.0)
    for copies in (x[:5], x[:5] * (1 + 1e-12)):
        k = ntk_kernel(torch.cat([x, copies]), depth=5)
        assert torch.isfinite(k).all()
        assert torch.allclose(k[:5, 30:].diagonal(), k.diagonal()[:5], rtol=1e-7)
        eigenvalues = torch.linalg.eigvalsh(k)
        assert eigenvalues.min() >= -1e-8 * eigenvalues.max()


def _mp_kernel(x1: list[float], x2: list[float], depth: int, sigma_w: float, sigma_b: float, *,
               want_ntk: bool = True, digits: int = 60) -> float:
    """Θ(x1, x2) (or Σ) of one pair by the textbook arccos recursion in ``digits``-digit arithmetic.

    Independent of kdlib: no gap variable, no rescaling, arccos of the cosine. At 60 digits the
    cancellation in 1 − cos θ (θ ≥ 1e-12 here, so 24 digits lost) still leaves 36 correct digits.
    """
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(digits):
        sw2, sb2, d = mpmath.mpf(sigma_w) ** 2, mpmath.mpf(sigma_b) ** 2, len(x1)
        u, v = [mpmath.mpf(t) for t in x1], [mpmath.mpf(t) for t in x2]
        c = sw2 * mpmath.fsum(p * q for p, q in zip(u, v, strict=True)) / d + sb2
        q1 = sw2 * mpmath.fsum(p * p for p in u) / d + sb2
        q2 = sw2 * mpmath.fsum(q * q for q in v) / d + sb2
        ntk = c
        for _ in range(depth):
            r = mpmath.sqrt(q1 * q2)
            angle = mpmath.acos(max(-1, min(1, c / r))) if r else mpmath.mpf(0)
            c = sw2 / (2 * mpmath.pi) * (r * mpmath.sin(angle) + (mpmath.pi - angle) * c) + sb2
            ntk = c + sw2 * ntk * (mpmath.pi - angle) / (2 * mpmath.pi)
            q1, q2 = sw2 * q1 / 2 + sb2, sw2 * q2 / 2 + sb2
        return float(ntk if want_ntk else c)


@pytest.mark.parametrize("sigma_w, sigma_b", [(1.0, 1.0), (1.0, 0.0), (1.4, 0.3)])
def test_near_equal_and_near_opposite_inputs_match_60_digit_arithmetic(sigma_w: float, sigma_b: float) -> None:
    # Issue 16, item 2: with the angle taken from Gram entries, inputs 1e-6 … 1e-12 apart were off by
    # 5e-10 … 1e-8 (an O(√ε) loss). The recursion now carries the gap r − c as sums of non-negative
    # terms, so every operation adds at most an ulp or so: ~1e-15 for L = 3. The bound 1e-12 leaves
    # a margin of 1000 over that and is 1000× below the old error. Equal inputs (distance 0) must give
    # the value of the exact diagonal recursion; opposite inputs are the other end of the angle.
    generator = torch.Generator().manual_seed(31)
    x = torch.randn(3, generator=generator, dtype=torch.float64)
    direction = torch.randn(3, generator=generator, dtype=torch.float64)
    direction /= direction.norm()
    for base in (x, -x):
        for distance in (1e-2, 1e-4, 1e-8, 1e-12, 0.0):
            y = base + distance * direction
            pair = torch.stack([x, y])
            for kernel, want_ntk in ((ntk_kernel, True), (nngp_kernel, False)):
                reference = _mp_kernel(x.tolist(), y.tolist(), 3, sigma_w, sigma_b, want_ntk=want_ntk)
                for value in (kernel(pair, depth=3, sigma_w=sigma_w, sigma_b=sigma_b)[0, 1],
                              kernel(x[None], y[None], depth=3, sigma_w=sigma_w, sigma_b=sigma_b)[0, 0]):
                    assert value.item() == pytest.approx(reference, rel=1e-12, abs=0.0), (distance, want_ntk)


def test_equal_inputs_give_exactly_the_diagonal_value() -> None:
    # Issue 16, item 2: duplicated rows must give bit-identical rows and columns whose shared entry is
    # exactly Θ(x, x), so that Θ is exactly singular there (the old kernel's smallest eigenvalue was
    # 5e-8 of the largest instead of 0, which the solvers of kdlib.student took for information).
    # Also across row blocks and in cross kernels.
    import kdlib.kernels as kernels

    x = _points(30, 3, seed=32, scale=3.0)
    x = torch.cat([x, x[3:4], x[17:18], x[3:4]])  # rows 30 and 32 repeat row 3, row 31 repeats row 17
    old = kernels._BLOCK_ENTRIES
    try:
        kernels._BLOCK_ENTRIES = 7 * 33  # several row blocks, duplicates in different ones
        for sigma_b in (0.0, 1.0):
            for kernel in (ntk_kernel, nngp_kernel):
                k = kernel(x, depth=4, sigma_b=sigma_b)
                for i, j in ((3, 30), (3, 32), (17, 31)):
                    assert torch.equal(k[i], k[j]) and torch.equal(k[:, i], k[:, j])
                    assert k[i, j].item() == k[i, i].item()
                if kernel is ntk_kernel:
                    assert torch.equal(k.diagonal(), ntk_diagonal(x, depth=4, sigma_b=sigma_b))
                    cross = ntk_kernel(x[:20], x[28:], depth=4, sigma_b=sigma_b)
                    assert cross[3, 2].item() == k[3, 3].item() and cross[17, 3].item() == k[17, 17].item()
                    # three copies of a row leave a null space of dimension 2 (a third of the rank-deficit
                    # is exact; the eigensolver's own rounding is ~n·ε·‖Θ‖)
                    eigenvalues = torch.linalg.eigvalsh(k)
                    assert eigenvalues[2].item() <= 1e-14 * eigenvalues[-1].item()
    finally:
        kernels._BLOCK_ENTRIES = old


def test_inputs_crowded_in_a_narrow_cone_stay_exact_without_pairwise_differences(monkeypatch) -> None:
    # All pairs of 1 + 0.01·N(0, I) in d = 50 are within 2° of each other, so every first-layer gap is
    # flagged; explicit differences (O(d) per pair) would make this 100× slower than the kernel itself.
    # Gaps then come from unit vectors centred on the mean direction, whose rounding is relative to
    # the spread of the cone, and only the pairs close within the cone (here a duplicate and a
    # near-duplicate) are differenced explicitly. Same tolerance and reasoning as the test above.
    import kdlib.kernels as kernels

    x = 1 + 0.01 * torch.randn(120, 50, generator=torch.Generator().manual_seed(36), dtype=torch.float64)
    x[7] = x[3]
    x[9] = x[3] + 1e-9 * torch.randn(50, generator=torch.Generator().manual_seed(37), dtype=torch.float64)
    explicit = []
    original = kernels._refine_first_layer
    monkeypatch.setattr(kernels, "_refine_first_layer", lambda c, g, t, flat, *rest: (
        explicit.append(flat.numel()), original(c, g, t, flat, *rest))[1])
    for sigma_b in (0.0, 1.0):
        k = ntk_kernel(x, depth=3, sigma_b=sigma_b)
        for i, j in ((0, 1), (3, 9), (5, 100), (118, 119)):
            reference = _mp_kernel(x[i].tolist(), x[j].tolist(), 3, 1.0, sigma_b)
            assert k[i, j].item() == pytest.approx(reference, rel=1e-12, abs=0.0), (sigma_b, i, j)
        assert torch.equal(k[3], k[7]) and k[3, 7].item() == k[3, 3].item()
    assert sum(explicit) < 0.05 * 2 * 120 * 121 / 2  # the diagonal, the duplicates: a few percent at most


@pytest.mark.parametrize("scale", [1e-150, 1e-100, 1e77, 1e100, 1e150])
def test_extreme_input_scales_are_exact(scale: float) -> None:
    # Issue 16, item 4: inputs ≥ 1e77 gave NaN/inf (q q' overflowed) and inputs ≤ 1e-100 with σ_b = 0
    # were 30–100 % off (q q' underflowed). Rows are now rescaled by powers of two, so σ_b = 0 obeys
    # Θ(cx) = c² Θ(x) to rounding (c·x and c² are each rounded once: 1e-13 is generous; the entry of
    # two opposite inputs at L = 1 is itself ~ε of the diagonal, and is held to that absolutely).
    # With σ_b = 1 the bias is negligible at 1e±100 (its relative effect is 1e-200) both ways.
    x = _points(12, 3, seed=33)
    x = torch.cat([x, -x[:2], 2 * x[2:3], torch.zeros(1, 3, dtype=torch.float64)])
    for depth in (1, 4):
        base = ntk_kernel(x, depth=depth, sigma_b=0.0)
        floor = 1e-15 * scale**2 * base.diagonal().max().item()
        scaled = ntk_kernel(scale * x, depth=depth, sigma_b=0.0)
        assert torch.allclose(scaled, scale**2 * base, rtol=1e-13, atol=floor)
        with_bias = ntk_kernel(scale * x, depth=depth, sigma_b=1.0)
        if scale > 1:
            assert torch.allclose(with_bias, scale**2 * base, rtol=1e-13, atol=floor)
        else:
            zeros = ntk_kernel(torch.zeros_like(x), depth=depth, sigma_b=1.0)
            assert torch.allclose(with_bias, zeros, rtol=1e-13, atol=0.0)


def test_deep_and_steep_recursions_stay_in_range() -> None:
    # Σ^l grows or shrinks like (σ_W²/2)^l: at σ_W = 1, L = 600 and σ_b = 0 products of two such
    # values underflow (2^-1200), at σ_W = 30, L = 100 they overflow (450^200). The recursion runs in
    # power-of-two units that follow the growth; each layer adds a few ulps, hence 1e-12 against
    # 60-digit arithmetic over hundreds of layers.
    x = _points(3, 2, seed=34)
    for depth, sigma_w, sigma_b in ((600, 1.0, 0.0), (100, 30.0, 1.0), (300, 0.5, 2.0)):
        k = ntk_kernel(x, depth=depth, sigma_w=sigma_w, sigma_b=sigma_b)
        for i, j in ((0, 1), (1, 2), (2, 2)):
            reference = _mp_kernel(x[i].tolist(), x[j].tolist(), depth, sigma_w, sigma_b, digits=40)
            assert k[i, j].item() == pytest.approx(reference, rel=1e-12, abs=0.0), (depth, i, j)


def test_unsupported_ranges_are_rejected_with_the_row_named() -> None:
    # A kernel beyond float64 (diagonal ≈ σ_W² |x|²/d·(L+1)/2^L > 1.8e308) and, with σ_b > 0, rows
    # more than 60 orders of magnitude below the largest scale and σ_b.
    x = _points(4, 2, seed=35)
    with pytest.raises(ValueError, match="x1 row 0 is too large"):
        ntk_kernel(torch.cat([1e200 * x[:1], x]), depth=2, sigma_b=0.0)
    with pytest.raises(ValueError, match="x2 row 1 is too large"):
        ntk_kernel(x, torch.cat([x[:1], 1e200 * x[1:2]]), depth=2, sigma_b=0.0)
    with pytest.raises(ValueError, match="x1 row 2"):
        ntk_kernel(torch.cat([x[:2], 1e-70 * x[2:]]), depth=2, sigma_b=1e-70)
    with pytest.raises(ValueError, match="x1 row 1 .* 60 orders of magnitude"):
        ntk_kernel(torch.cat([1e200 * x[:1], x]), depth=2)
    with pytest.raises(ValueError, match="sigma_w"):
        ntk_kernel(x, depth=2, sigma_w=1e-120)


def test_cross_kernel_is_a_block_of_the_joint_kernel() -> None:
    # Θ(x1, x2) must be the off-diagonal block of Θ([x1; x2]); also across the row-block boundary.
    import kdlib.kernels as kernels

    x1, x2 = _points(33, 3, seed=11), _points(17, 3, seed=12)
    joint = ntk_kernel(torch.cat([x1, x2]), depth=3)
    old = kernels._BLOCK_ENTRIES
    try:
        kernels._BLOCK_ENTRIES = 5 * 17  # force several row blocks
        cross = ntk_kernel(x1, x2, depth=3)
    finally:
        kernels._BLOCK_ENTRIES = old
    assert torch.allclose(cross, joint[:33, 33:], rtol=1e-13, atol=1e-14)


def test_kernel_accepts_numpy_and_matches_a_plain_arccos_recursion() -> None:
    # An independent NumPy transcription with arccos of the clipped cosine. Off the diagonal both
    # are well conditioned and agree to ~1e-12; on the diagonal arccos(1 − δ) ≈ √(2δ) turns the
    # rounding of the cosine into errors of ~1e-8, which the exact diagonal of ntk_kernel avoids.
    x = np.random.default_rng(13).normal(size=(10, 3)) * 2
    sigma_w, sigma_b, depth = 1.3, 0.7, 4
    sigma = sigma_w**2 * x @ x.T / 3 + sigma_b**2
    theta = sigma.copy()
    for _ in range(depth):
        q = np.sqrt(np.diag(sigma))
        cos = np.clip(sigma / np.outer(q, q), -1, 1)
        angle = np.arccos(cos)
        sigma = sigma_w**2 * np.outer(q, q) * (np.sin(angle) + (np.pi - angle) * cos) / (2 * np.pi) + sigma_b**2
        theta = sigma + sigma_w**2 * theta * (np.pi - angle) / (2 * np.pi)
    ours = ntk_kernel(x, depth=depth, sigma_w=sigma_w, sigma_b=sigma_b)
    assert ours.dtype == torch.float64
    off = ~np.eye(10, dtype=bool)
    np.testing.assert_allclose(ours.numpy()[off], theta[off], rtol=1e-11)
    np.testing.assert_allclose(ours.numpy().diagonal(), theta.diagonal(), rtol=1e-6)
    np.testing.assert_allclose(nngp_kernel(x, depth=depth, sigma_w=sigma_w, sigma_b=sigma_b).numpy(), sigma,
                               rtol=1e-11)


# ------------------------------------------------------------------ empirical NTK


@pytest.mark.parametrize("depth, sigma_b, dtype", [(1, 1.0, torch.float64), (3, 1.0, torch.float32),
                                                   (2, 0.0, torch.float64)])
def test_layerwise_empirical_ntk_matches_full_jacobian(depth: int, sigma_b: float, dtype: torch.dtype) -> None:
    # Same float64 arithmetic, different association of sums: agreement to ~1e-14 relative,
    # asserted at 1e-10.
    model = NTKMLP(3, depth, 24, sigma_w=1.1, sigma_b=sigma_b, generator=torch.Generator().manual_seed(14),
                   dtype=dtype)
    x1, x2 = _points(9, 3, seed=15), _points(4, 3, seed=16)
    for args in ((x1,), (x1, x2)):
        brute = full_jacobian_ntk(model, *args)
        fast = empirical_ntk(model, *args, batch_size=4)
        assert fast.dtype == torch.float64
        assert torch.allclose(fast, brute, rtol=1e-10, atol=1e-10 * brute.abs().max().item())
    assert torch.equal(empirical_ntk(model, x1), empirical_ntk(model, x1).T)


def test_generic_fallback_matches_layerwise_and_handles_other_modules() -> None:
    model = NTKMLP(2, 2, 16, generator=torch.Generator().manual_seed(17), dtype=torch.float64)
    x1, x2 = _points(7, 2, seed=18), _points(5, 2, seed=19)
    for args in ((x1,), (x1, x2)):
        layerwise = empirical_ntk(model, *args, method="layerwise")
        generic = empirical_ntk(model, *args, method="jacobian", batch_size=3)
        assert torch.allclose(generic, layerwise, rtol=1e-10, atol=1e-12)
    torch.manual_seed(20)
    other = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    assert torch.allclose(empirical_ntk(other, x1, x2, batch_size=2), full_jacobian_ntk(other, x1, x2),
                          rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ validation and devices


@pytest.mark.parametrize("kwargs, name", [
    ({"depth": 0}, "depth"), ({"depth": 2.5}, "depth"), ({"depth": True}, "depth"),
    ({"depth": 2, "sigma_w": 0.0}, "sigma_w"), ({"depth": 2, "sigma_w": float("nan")}, "sigma_w"),
    ({"depth": 2, "sigma_b": -1.0}, "sigma_b"), ({"depth": 2, "sigma_b": float("inf")}, "sigma_b"),
])
def test_bad_hyperparameters_are_named(kwargs: dict, name: str) -> None:
    for kernel in (ntk_kernel, nngp_kernel):
        with pytest.raises(ValueError, match=name):
            kernel(_points(3, 2, seed=0), **kwargs)


def test_bad_inputs_are_named() -> None:
    x = _points(3, 2, seed=0)
    with pytest.raises(ValueError, match="x1"):
        ntk_kernel(x[0], depth=2)
    with pytest.raises(ValueError, match="x2"):
        ntk_kernel(x, _points(3, 4, seed=0), depth=2)
    with pytest.raises(ValueError, match="x1"):
        ntk_kernel(torch.full((2, 2), float("nan")), depth=2)
    with pytest.raises(ValueError, match="x1"):
        ntk_diagonal(torch.full((2, 2), float("inf")), depth=2)
    model = NTKMLP(2, 1, 4)
    with pytest.raises(ValueError, match="batch_size"):
        empirical_ntk(model, x, batch_size=0)
    with pytest.raises(ValueError, match="method"):
        empirical_ntk(model, x, method="exact")
    with pytest.raises(ValueError, match="layerwise"):
        empirical_ntk(nn.Linear(2, 1), x, method="layerwise")
    with pytest.raises(ValueError, match="x1"):
        empirical_ntk(model, _points(3, 5, seed=0))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_kernels_run_on_the_device_of_their_input() -> None:
    x = _points(64, 3, seed=21)
    cpu = ntk_kernel(x, depth=3)
    gpu = ntk_kernel(x.cuda(), depth=3)
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-12)
    model = NTKMLP(3, 2, 32, generator=torch.Generator().manual_seed(22), dtype=torch.float64)
    reference = empirical_ntk(model, x)
    assert torch.allclose(empirical_ntk(model.cuda(), x.cuda()).cpu(), reference, rtol=1e-10)


def test_empirical_ntk_error_is_one_seeded_network_against_theta():
    x = 5.0 * torch.randn(6, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    model = NTKMLP(2, 2, 64, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    theta = ntk_kernel(x, depth=2)
    by_hand = ((full_jacobian_ntk(model, x) - theta).norm() / theta.norm()).item()
    assert empirical_ntk_error(x, width=64, depth=2, seed=11) == pytest.approx(by_hand, rel=1e-12)
    assert empirical_ntk_error(x, width=64, depth=2, seed=12) != pytest.approx(by_hand, rel=1e-3)
