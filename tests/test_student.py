"""kdlib.student: the closed-form student of Eq. 4 and the quantities of Eqs. 9–12 and Definition 1.

Every function is compared with an independent computation: explicit solves, least squares,
an explicit feature map φ (so that weight changes exist as vectors), finite differences.
"""

import math

import pytest
import torch

from kdlib import effective_logits, hard_label_correction, ntk_kernel
from kdlib.data import GaussianMixture, gaussian_inputs, random_gaussian_mixture
from kdlib.student import (
    cholesky_factor,
    closed_form_student,
    data_inefficiency,
    hard_label_derivative,
    theta_inner,
    weight_change_angle,
    weight_change_norms,
)


def features(n, p=40, seed=0):
    """Explicit random features φ(X) of shape (P, n), P > n, so Θ = φᵀφ is well conditioned."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(p, n, generator=generator, dtype=torch.float64)


def test_prefix_norms_match_direct_solves():
    phi = features(12)
    kernel = phi.T @ phi
    delta_z = torch.randn(12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    norms = weight_change_norms(kernel, delta_z)
    for n in range(1, 13):
        direct = delta_z[:n] @ torch.linalg.solve(kernel[:n, :n], delta_z[:n])
        # Θ has condition number ~10 here: both routes are accurate to a few ulps of the norm.
        assert norms[n - 1].item() == pytest.approx(math.sqrt(direct.item()), rel=1e-12)


def test_prefix_norms_are_weight_change_lengths():
    # With an explicit φ, the weight change of Eq. 4 is a vector: its length must be the norm.
    phi = features(6, p=30, seed=2)
    delta_z = torch.randn(6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    norms = weight_change_norms(phi.T @ phi, delta_z)
    weight_change = torch.linalg.lstsq(phi.T, delta_z[:, None]).solution[:, 0]  # min-norm w with φᵀw = Δz
    assert norms[-1].item() == pytest.approx(torch.linalg.vector_norm(weight_change).item(), rel=1e-10)


def test_prefix_norms_with_batch_dimensions():
    kernels = torch.stack([(lambda f: f.T @ f)(features(8, seed=s)) for s in range(3)])  # (3, 8, 8)
    delta_z = torch.randn(4, 3, 8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    norms = weight_change_norms(kernels, delta_z)  # kernels broadcast over the first dimension
    assert norms.shape == (4, 3, 8)
    for run in range(4):
        for batch in range(3):
            n = 5
            k, dz = kernels[batch, :n, :n], delta_z[run, batch, :n]
            assert norms[run, batch, n - 1].item() == pytest.approx(
                math.sqrt((dz @ torch.linalg.solve(k, dz)).item()), rel=1e-12)


def test_singular_kernel_names_the_broken_pivot():
    phi = features(5)
    phi[:, 3] = phi[:, 1]  # sample 4 repeats sample 2: Θ_4 is singular
    with pytest.raises(ValueError, match="pivot 4"):
        weight_change_norms(phi.T @ phi, torch.ones(5))
    # an explicit jitter regularizes it, and is part of the answer
    regularized = weight_change_norms(phi.T @ phi, torch.ones(5, dtype=torch.float64), jitter=1e-6)
    assert torch.isfinite(regularized).all()


def test_duplicated_inputs_are_reported_with_their_index():
    # Issue 16, item 2: with a duplicated input the analytic NTK is exactly singular (rows equal bit
    # for bit), and every solve must say so, naming the duplicate (sample 7 repeats sample 2), rather
    # than return a number (the old kernel, singular only to 5e-8, gave ‖Δŵ‖ = 3154 for 0.58).
    x = 5 * torch.randn(9, 2, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    x[7] = x[2]
    kernel = ntk_kernel(x, depth=3)
    delta_z = torch.randn(9, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    for solve in (lambda: weight_change_norms(kernel, delta_z), lambda: closed_form_student(kernel, delta_z),
                  lambda: theta_inner(delta_z, delta_z, kernel), lambda: cholesky_factor(kernel)):
        with pytest.raises(ValueError, match=r"pivot 8 of 9 \(sample index 7, counting from 0\).*duplicate"):
            solve()
    # the prefix before the duplicate is fine, and equals the kernel without it
    kept = [0, 1, 2, 3, 4, 5, 6, 8]
    norms = weight_change_norms(ntk_kernel(x[kept], depth=3), delta_z[kept])
    assert torch.isfinite(norms).all()
    # an explicit jitter regularizes it (and is visible in the caller's code)
    assert torch.isfinite(weight_change_norms(kernel, delta_z, jitter=1e-8)).all()


def test_pivots_at_rounding_level_are_reported():
    # A pivot L_kk² ≤ 1e-10·Θ_kk is at the level of the factorization's rounding (~N·ε·Θ_kk): sample 5
    # of a feature Gram matrix moved 1e-7 (relative) away from sample 2 leaves L_55² ≈ 1e-14·Θ_55,
    # which LAPACK factors without complaint (the old code returned a norm amplified 1e7-fold).
    # 1e-4 away leaves L_55² ≈ 1e-8·Θ_55, which is information and must pass.
    phi = features(8)
    noise = torch.randn(40, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    for distance, singular in ((1e-7, True), (1e-4, False)):
        moved = phi.clone()
        moved[:, 5] = phi[:, 2] + distance * noise * phi[:, 2].norm() / noise.norm()
        kernel = moved.T @ moved
        pivot_ratio = (torch.linalg.cholesky(kernel).diagonal() ** 2 / kernel.diagonal())[5].item()
        assert (pivot_ratio < 1e-10) == singular, pivot_ratio
        if singular:
            with pytest.raises(ValueError, match=r"pivot 6 of 8 \(sample index 5.*below min_pivot = 1e-10"):
                weight_change_norms(kernel, torch.ones(8))
            assert torch.isfinite(cholesky_factor(kernel, min_pivot=0.0)).all()  # the caller may opt out
        else:
            direct = torch.linalg.solve(kernel, torch.ones(8, dtype=torch.float64)).sum().sqrt()
            assert weight_change_norms(kernel, torch.ones(8))[-1].item() == pytest.approx(direct.item(), rel=1e-6)
    with pytest.raises(ValueError, match="min_pivot"):
        cholesky_factor(torch.eye(2), min_pivot=1.0)


def test_non_symmetric_kernels_are_rejected():
    # Issue 16, item 3: only the lower triangle was read, so a non-symmetric matrix (a cross kernel, a
    # transposed product, a bug) gave an answer. Asymmetry up to 4096 ε·max|Θ| of the input dtype is
    # rounding (an inner product of length P is rounded by ~√P·ε), anything larger is an error that
    # names the entry.
    phi = features(6)
    kernel = phi.T @ phi
    scale = kernel.abs().max().item()
    for bump in (1e-6, 1e-10):
        bad = kernel.clone()
        bad[1, 4] += bump * scale
        for call in (lambda k=bad: weight_change_norms(k, torch.ones(6)), lambda k=bad: cholesky_factor(k),
                     lambda k=bad: weight_change_angle(k, torch.ones(6), torch.arange(6.0))):
            with pytest.raises(ValueError, match=r"not symmetric: Θ\[1, 4\]"):
                call()
    rounded = kernel.clone()
    rounded[1, 4] += 1e-14 * scale  # ~50 ε: rounding, accepted
    assert torch.isfinite(weight_change_norms(rounded, torch.ones(6))).all()
    single = kernel.float()
    single[1, 4] += 1e-5 * scale  # ~80 float32 ε: rounding for a float32 kernel
    assert torch.isfinite(weight_change_norms(single, torch.ones(6))).all()
    batch = torch.stack([kernel, kernel.clone()])
    batch[1, 0, 2] += 1e-3 * scale
    with pytest.raises(ValueError, match=r"batch entry 1"):
        weight_change_norms(batch, torch.ones(6))
    cross = ntk_kernel(torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64), depth=2)
    with pytest.raises(ValueError, match="not symmetric"):
        closed_form_student(cross, torch.ones(6))


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e155, 1e200, 1e300])
def test_angles_and_norms_of_extreme_vectors(scale):
    # Issue 16, item 4: parallel vectors scaled ≥ 1e155 gave an angle of π/2 (‖u‖² overflowed), and
    # norms overflowed or underflowed likewise. The angle does not depend on the vectors' scales and
    # ‖Δŵ_n‖ is homogeneous of degree 1, so both must equal their values at scale 1 (each side's
    # scaling is one rounding: 1e-14). A result beyond float64 raises instead of returning inf.
    phi = features(5, seed=3)
    kernel = phi.T @ phi
    generator = torch.Generator().manual_seed(14)
    a, b = torch.randn(2, 5, generator=generator, dtype=torch.float64)
    assert weight_change_angle(kernel, scale * a, 2 * scale * a).item() == pytest.approx(0.0, abs=1e-7)
    assert weight_change_angle(kernel, scale * a, -scale * a).item() == pytest.approx(math.pi, rel=1e-14)
    assert weight_change_angle(kernel, scale * a, scale * b).item() == pytest.approx(
        weight_change_angle(kernel, a, b).item(), rel=1e-14)
    torch.testing.assert_close(weight_change_norms(kernel, scale * a), scale * weight_change_norms(kernel, a),
                               rtol=1e-14, atol=0)
    assert theta_inner(scale * a, b, kernel).item() == pytest.approx(scale * theta_inner(a, b, kernel).item(),
                                                                     rel=1e-14)
    if scale > 1e160:
        with pytest.raises(ValueError, match="float64 range"):
            theta_inner(scale * a, scale * b, kernel)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="kernel"):
        weight_change_norms(torch.ones(3, 4), torch.ones(3))
    with pytest.raises(ValueError, match="delta_z"):
        weight_change_norms(torch.eye(3), torch.ones(4))
    with pytest.raises(ValueError, match="jitter"):
        cholesky_factor(torch.eye(3), jitter=-1.0)
    with pytest.raises(ValueError, match="zero vector"):
        weight_change_angle(torch.eye(3), torch.zeros(3), torch.ones(3))


def test_closed_form_matches_explicit_inverse_and_least_squares():
    phi = features(10)
    kernel = phi.T @ phi
    delta_z = torch.randn(10, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    coefficients = closed_form_student(kernel, delta_z)
    torch.testing.assert_close(coefficients, torch.linalg.inv(kernel) @ delta_z, rtol=1e-10, atol=1e-12)
    # Eq. 4: Δŵ = φ c is the minimum-norm weight change that fits the logits, φᵀΔŵ = Δz.
    minimum_norm = torch.linalg.lstsq(phi.T, delta_z[:, None]).solution[:, 0]
    torch.testing.assert_close(phi @ coefficients, minimum_norm, rtol=1e-9, atol=1e-12)


def test_inner_product_and_angle_match_explicit_weight_changes():
    phi = features(7, p=25, seed=6)
    kernel = phi.T @ phi
    generator = torch.Generator().manual_seed(7)
    a, b = torch.randn(2, 7, generator=generator, dtype=torch.float64)
    w_a, w_b = phi @ torch.linalg.solve(kernel, a), phi @ torch.linalg.solve(kernel, b)
    assert theta_inner(a, b, kernel).item() == pytest.approx((w_a @ w_b).item(), rel=1e-10)
    cosine = (w_a @ w_b) / (w_a.norm() * w_b.norm())
    angle = weight_change_angle(kernel, a, b)
    assert angle.item() == pytest.approx(math.acos(cosine.item()), rel=1e-10)
    acute = weight_change_angle(kernel, a, -b, acute=True)
    assert acute.item() == pytest.approx(min(angle.item(), math.pi - angle.item()), rel=1e-10)


def test_angle_is_accurate_near_zero():
    # arccos(cos α) loses all digits for α ~ 1e-9; the atan2 form must not.
    kernel = torch.eye(2, dtype=torch.float64)
    a = torch.tensor([1.0, 0.0], dtype=torch.float64)
    b = torch.tensor([1.0, 1e-9], dtype=torch.float64)
    assert weight_change_angle(kernel, a, b).item() == pytest.approx(1e-9, rel=1e-6)


def test_hard_label_derivative_matches_finite_difference_of_the_cosine():
    # Theorem 2: ∂cos α / ∂(1 − ρ) at ρ = 1 equals the bracket / (‖Δŵ_g‖ √⟨t, t⟩).
    generator = torch.Generator().manual_seed(8)
    n, T = 9, 4.0
    phi = features(n, p=40, seed=9)
    kernel = phi.T @ phi
    z_0 = 0.3 * torch.randn(n, generator=generator, dtype=torch.float64)  # logits at initialization
    z_g = 2.0 * torch.randn(n, generator=generator, dtype=torch.float64)  # ground truth
    z_t = z_g + 1.5 * torch.randn(n, generator=generator, dtype=torch.float64)  # an imperfect teacher
    y_g = (z_g > 0).double()

    def cosine(rho):
        delta_z_s = effective_logits(z_t, y_g, rho, T) - z_0
        return math.cos(weight_change_angle(kernel, delta_z_s, z_g - z_0).item())

    # ρ ≤ 1, so the difference is one-sided; Richardson extrapolation of steps h and 2h removes
    # its O(h) term, leaving O(h²) ≈ 1e-8 plus rounding ≈ 1e-16/h ≈ 1e-10 (relative to cos ≈ 1).
    step = 1e-4
    first = (cosine(1 - step) - cosine(1.0)) / step
    second = (cosine(1 - 2 * step) - cosine(1.0)) / (2 * step)
    extrapolated = 2 * first - second
    bracket = hard_label_derivative(kernel, z_g - z_0, z_t - z_0, hard_label_correction(z_t, y_g, T))
    norm_g = math.sqrt(theta_inner(z_g - z_0, z_g - z_0, kernel).item())
    norm_t = math.sqrt(theta_inner(z_t - z_0, z_t - z_0, kernel).item())
    predicted = bracket.item() / (norm_g * norm_t)
    assert abs(predicted) > 1e-3  # the test is not vacuous
    assert extrapolated == pytest.approx(predicted, rel=1e-4, abs=1e-8)


def test_data_inefficiency_by_hand():
    norms = torch.tensor([[1.0, 2.0, 2.0], [3.0, 4.0, 8.0]], dtype=torch.float64)  # two runs
    # E‖Δŵ_n‖ = (2, 3, 5): I(1) = 1·ln(3/2), I(2) = 2·ln(5/3)
    expected = torch.tensor([math.log(1.5), 2 * math.log(5 / 3)], dtype=torch.float64)
    torch.testing.assert_close(data_inefficiency(norms), expected, rtol=1e-15, atol=0)
    # a weight change growing like √n has I(n) = n ln √((n+1)/n) → 1/2
    sqrt_growth = torch.arange(1, 2001, dtype=torch.float64).sqrt()
    assert data_inefficiency(sqrt_growth)[-1].item() == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(ValueError, match="N ≥ 2"):
        data_inefficiency(torch.ones(1))


def test_gaussian_inputs_and_mixture():
    generator = torch.Generator().manual_seed(10)
    x = gaussian_inputs(20_000, generator=generator)
    assert x.shape == (20_000, 2)
    # 40,000 N(0, 25) draws: the sample std is within 5 standard errors (5·5/√(2·40,000)) of 5
    assert abs(x.std().item() - 5.0) < 5 * 5.0 / math.sqrt(2 * 40_000)
    mixture = GaussianMixture(amplitudes=torch.tensor([2.0, -1.0], dtype=torch.float64),
                              centers=torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64),
                              widths=torch.tensor([1.0, 2.0], dtype=torch.float64))
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]], dtype=torch.float64)
    by_hand = torch.tensor([2 - math.exp(-25 / 4), 2 * math.exp(-25) - 1,
                            2 * math.exp(-2) - math.exp(-(4 + 9) / 4)], dtype=torch.float64)
    torch.testing.assert_close(mixture(points), by_hand, rtol=1e-13, atol=1e-15)
    first = random_gaussian_mixture(10, generator=torch.Generator().manual_seed(3))
    second = random_gaussian_mixture(10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first(points), second(points))
    assert first.widths.mean().item() == pytest.approx(1.5, rel=0.35)  # σ = 15 / q^{2/d} = 1.5, ±U(1/2, 3/2)


@pytest.mark.parametrize(("call", "name"), [
    (lambda: gaussian_inputs(0), "n"), (lambda: gaussian_inputs(4, scale=-1.0), "scale"),
    (lambda: random_gaussian_mixture(0), "q"), (lambda: random_gaussian_mixture(3, flip_probability=2.0), "flip"),
])
def test_data_parameters_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_sign_flip_applies_to_the_whole_function():
    always = random_gaussian_mixture(5, flip_probability=1.0, generator=torch.Generator().manual_seed(0))
    never = random_gaussian_mixture(5, flip_probability=0.0, generator=torch.Generator().manual_seed(0))
    points = gaussian_inputs(7, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(always(points), -never(points), rtol=0, atol=0)
