"""Eq. 3 solver: exactness against independent computations, edge cases, validation."""

import math

import numpy as np
import pytest
import torch

from kdlib import effective_logits, eq3_residual, hard_label_correction, paper_gradient_descent
from kdlib.logits import _closed_form_t1, _solve_label_one, reference_effective_logit


def random_points(count, seed=0):
    generator = torch.Generator().manual_seed(seed)
    z_t = torch.empty(count, dtype=torch.float64).uniform_(-40, 40, generator=generator)
    y_g = torch.randint(0, 2, (count,), generator=generator).double()
    rho = torch.empty(count, dtype=torch.float64).uniform_(0.001, 0.999, generator=generator)
    T = torch.exp(torch.empty(count, dtype=torch.float64).uniform_(math.log(0.1), math.log(100), generator=generator))
    return z_t, y_g, rho, T


def test_roots_match_50_digit_bisection():
    # mpmath bisection shares nothing with the Newton-in-log-space solver; 1e-12 relative is
    # ~10^4 ulp, far looser than either method's own error but far tighter than any use needs.
    z_t, y_g, rho, T = random_points(40, seed=1)
    ours = effective_logits(z_t, y_g, rho, T)
    for i in range(len(z_t)):
        reference = reference_effective_logit(z_t[i].item(), int(y_g[i]), rho[i].item(), T[i].item())
        assert abs(ours[i].item() - reference) <= 1e-12 * max(1.0, abs(reference)), (i, ours[i].item(), reference)


@pytest.mark.parametrize("z_t", [-40.0, -5.0, 0.0, 1e-9, 5.0, 40.0])
@pytest.mark.parametrize("rho", [0.001, 0.5, 0.999])
@pytest.mark.parametrize("T", [0.1, 1.0, 100.0])
def test_corners_of_the_supported_range(z_t, rho, T):
    for y_g in (0, 1):
        ours = effective_logits(z_t, y_g, rho, T).item()
        reference = reference_effective_logit(z_t, y_g, rho, T)
        assert math.isfinite(ours)
        assert abs(ours - reference) <= 1e-12 * max(1.0, abs(reference))


def test_residual_of_eq3_vanishes_on_a_dense_grid():
    z_t = torch.linspace(-40, 40, 2001, dtype=torch.float64)
    for T in (0.1, 0.5, 2.0, 5.0, 100.0):
        for rho in (0.001, 0.05, 0.5, 0.999):
            for y_g in (0.0, 1.0):
                z_eff = effective_logits(z_t, y_g, rho, T)
                assert eq3_residual(z_eff, z_t, y_g, rho, T).abs().max() <= 1e-12


def test_closed_form_at_unit_temperature_matches_the_general_solver():
    z_t, _, rho, _ = random_points(500, seed=2)
    general = _solve_label_one(z_t, rho, torch.ones_like(z_t))
    closed = _closed_form_t1(z_t, rho)
    torch.testing.assert_close(general, closed, rtol=1e-13, atol=1e-13)


def test_closed_form_is_the_probability_mixture():
    z_t = torch.linspace(-10, 10, 101, dtype=torch.float64)
    z_eff = effective_logits(z_t, 1, 0.3, 1.0)
    torch.testing.assert_close(torch.sigmoid(z_eff), 0.3 * torch.sigmoid(z_t) + 0.7, rtol=1e-14, atol=1e-15)


def test_label_symmetry():
    z_t, _, rho, T = random_points(300, seed=3)
    torch.testing.assert_close(effective_logits(z_t, 0, rho, T), -effective_logits(-z_t, 1, rho, T), rtol=0, atol=0)


def test_pure_soft_and_pure_hard_limits():
    z_t = torch.tensor([-3.0, 0.5, 7.0], dtype=torch.float64)
    torch.testing.assert_close(effective_logits(z_t, 1, 1.0, 5.0), z_t)
    assert effective_logits(z_t, 1, 0.0, 5.0).tolist() == [math.inf] * 3
    assert effective_logits(z_t, 0, 0.0, 5.0).tolist() == [-math.inf] * 3


def test_hard_label_pushes_towards_its_side_and_more_with_more_hard_labels():
    z_t = torch.linspace(-20, 20, 401, dtype=torch.float64)
    rhos = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)[:, None]
    z_eff = effective_logits(z_t, 1, rhos, 3.0)
    assert (z_eff > z_t).all()
    assert (torch.diff(z_eff, dim=0) < 0).all()  # larger ρ (fewer hard labels) → smaller push


def test_hard_label_correction_is_the_derivative_in_the_hard_ratio():
    z_t = torch.linspace(-8, 8, 161, dtype=torch.float64)
    for T in (0.5, 2.0, 5.0):
        for y_g in (0.0, 1.0):
            analytic = hard_label_correction(z_t, y_g, T)
            # δz_h reaches 1e6 here, so the step shrinks with it to stay in the linear regime;
            # ρ ≤ 1 rules out a central difference, so use the second-order one-sided one.
            step = 1 - (1 - 1e-5 / analytic.abs().clamp_min(1.0))  # the hard ratio ρ = 1 − step really has
            f1 = effective_logits(z_t, y_g, 1 - step, T)
            f2 = effective_logits(z_t, y_g, 1 - 2 * step, T)
            numeric = (-3 * z_t + 4 * f1 - f2) / (2 * step)
            assert ((numeric - analytic).abs() / analytic.abs().clamp_min(1.0)).max() <= 1e-5


def test_hard_label_correction_stays_finite_in_log_space():
    value = hard_label_correction(40.0, 0, 2.0)
    # y_g − σ(z_t) = −σ(40); 1/(σ(20)σ(−20)) = (1 + e^20)(1 + e^-20)
    expected = -4.0 * (1 / (1 + math.exp(-40))) * (1 + math.exp(20)) * (1 + math.exp(-20))
    assert value.item() == pytest.approx(expected, rel=1e-13)


def test_paper_gradient_descent_agrees_where_it_converges():
    z_t = torch.linspace(-10, 10, 201, dtype=torch.float64)
    y_g = (z_t > 0).double()
    exact = effective_logits(z_t, y_g, 0.5, 5.0)
    descent = paper_gradient_descent(z_t, y_g, 0.5, 5.0)
    assert (descent - exact).abs().max() <= 1e-9


def test_inputs_numpy_python_and_broadcasting():
    out = effective_logits(np.array([0.5, -1.0]), np.array([[1], [0]]), 0.2, [2.0, 3.0])
    assert out.shape == (2, 2)
    assert out.dtype == torch.float64
    assert effective_logits(1.0, 1, 0.5, 2.0).shape == ()


def test_device_of_tensor_inputs_is_kept():
    z_t = torch.zeros(3, dtype=torch.float32)
    assert effective_logits(z_t, 1, 0.5, 2.0).device == z_t.device


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rho": 1.5}, "rho"),
        ({"rho": -0.1}, "rho"),
        ({"T": 0.0}, "T"),
        ({"T": -1.0}, "T"),
        ({"y_g": 0.5}, "y_g"),
        ({"z_t": float("nan")}, "z_t"),
        ({"rho": float("nan")}, "rho"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    arguments = {"z_t": 1.0, "y_g": 1, "rho": 0.5, "T": 2.0, **kwargs}
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        effective_logits(**arguments)


def test_gradient_descent_rejects_bad_settings():
    with pytest.raises(ValueError, match="iterations"):
        paper_gradient_descent(1.0, 1, 0.5, 2.0, iterations=0)
    with pytest.raises(ValueError, match="start"):
        paper_gradient_descent(1.0, 1, 0.5, 2.0, start="middle")


# ------------------------------------------------------------------ extreme arguments (issue 16, item 4)


def log_form_root(z_t, y_g, rho, T, digits=60, steps=400):
    """Root of Eq. 3 by bisection in ``digits``-digit arithmetic (mpmath), for arguments of any size.

    Bisects the sign of log(soft pull) − log(hard pull), with σ(w/T) − σ(z_t/T) written as the exact
    product σ(w/T)σ(−z_t/T)(1 − e^{(z_t−w)/T}) (so e^{−1e14} or T = 1e100 need no extra digits), on
    w = sinh(v) over |w| ≤ 1e320: 400 halvings of v resolve w to far below float64's resolution.
    """
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(digits):
        sign = 1 if y_g == 1 else -1
        a, rho, T = sign * mpmath.mpf(z_t), mpmath.mpf(rho), mpmath.mpf(T)

        def log_sigmoid(x):
            return -mpmath.log1p(mpmath.exp(-x)) if x > 0 else x - mpmath.log1p(mpmath.exp(x))

        def balance(w):
            if w <= a:
                return -1
            soft = log_sigmoid(w / T) + log_sigmoid(-a / T) + mpmath.log(-mpmath.expm1((a - w) / T))
            return mpmath.log(rho) - mpmath.log(T) + soft - mpmath.log(1 - rho) - log_sigmoid(-w)

        lo, hi = mpmath.asinh(-mpmath.mpf(10) ** 320), mpmath.asinh(mpmath.mpf(10) ** 320)
        if mpmath.isfinite(a):
            lo = max(lo, mpmath.asinh(a))
        for _ in range(steps):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if balance(mpmath.sinh(mid)) < 0 else (lo, mid)
        return sign * float(mpmath.sinh((lo + hi) / 2))


def test_teacher_far_on_the_wrong_side_gives_the_limit_root():
    # Issue 16, item 4: with y_g = 1, ρ = 0.5, T = 5, z_t = −1e14 gave 2.2656, −1e16 gave 34 and −inf
    # NaN: the root was formed as z_t + (ẑ − z_t), which loses ε|z_t|. As z_t → −∞ the root tends to
    # the root of ρ/T σ(ẑ/T) = (1 − ρ)σ(−ẑ), 1.99534…, reached to rounding once e^{z_t/T} < ε.
    # Compared with the log-form bisection at the tests' usual tolerance of 1e-12 (relative, or
    # absolute below 1); the solver is exact to a few ulps here.
    limit = log_form_root(-math.inf, 1, 0.5, 5.0)
    assert limit == pytest.approx(1.99534276310787, rel=1e-13)
    z_t = torch.tensor([-1e6, -1e14, -1e16, -1e300, -math.inf], dtype=torch.float64)
    for y_g, sign in ((1, 1.0), (0, -1.0)):
        ours = effective_logits(sign * z_t, y_g, 0.5, 5.0)
        assert torch.allclose(ours, torch.full_like(z_t, sign * limit), rtol=1e-12, atol=0.0)
    assert effective_logits(math.inf, 1, 0.5, 5.0).item() == math.inf  # above the teacher: +inf too
    assert effective_logits(-math.inf, 0, 0.5, 5.0).item() == -math.inf
    assert effective_logits(-math.inf, 1, 0.25, 1.0).item() == pytest.approx(math.log(3), rel=1e-14)  # σ(ẑ) = 1 − ρ


@pytest.mark.parametrize(("z_t", "rho", "T"), [
    (1.0, 0.5, 1e100),  # the old solver stopped after 200 slow Newton steps at 9.6e12; the root is 455.78
    (1.0, 0.5, 1e300), (-1.0, 1e-6, 1e50), (-1e300, 1e-6, 1e300), (1e308, 0.5, 1.7e308),
    (1.0, 0.5, 1e-100), (1.0, 0.5, 1e-300), (-40.0, 0.5, 1e-3), (0.5, 1e-300, 5.0), (-1.0, 1e-300, 5.0),
    (3.0, 1 - 1e-16, 2.0), (1e16, 0.5, 5.0), (-1e6, 0.3, 1e5),
])
def test_extreme_temperatures_ratios_and_logits_match_high_precision_bisection(z_t, rho, T):
    # Issue 16, item 4. The tolerance is the one of the moderate range (1e-12 relative, or absolute
    # below 1); the solver reaches a few ulps on all of these (checked on a grid of z_t from −1e300
    # to 1e300, T from 1e-300 to 1e300 and ρ from 1e-300 to 1 − 1e-16 while developing it).
    for y_g in (0, 1):
        reference = log_form_root(z_t if y_g else -z_t, y_g, rho, T)
        ours = effective_logits(z_t if y_g else -z_t, y_g, rho, T).item()
        assert abs(ours - reference) <= 1e-12 * max(1.0, abs(reference)), (y_g, ours, reference)


def test_roots_beyond_float64_are_rejected():
    # For a teacher on the label's side with z_t/T beyond float64 the root is about z_t/T: not a number.
    with pytest.raises(ValueError, match=r"z_t=1e\+300 with T=1e-100.*beyond the float64 range"):
        effective_logits(torch.tensor([1.0, 1e300], dtype=torch.float64), 1, 0.5, 1e-100)
    with pytest.raises(ValueError, match="z_t"):
        effective_logits(-1e300, 0, 0.5, 1e-100)
    assert effective_logits(-1e300, 1, 0.5, 1e-100).item() == pytest.approx(log_form_root(-1e300, 1, 0.5, 1e-100),
                                                                            abs=1e-12)


# ------------------------------------------------------------------ autograd (issue 16, item 6)


def test_effective_logits_backpropagates_through_the_root():
    # Issue 16, item 6: a tensor with requires_grad used to come back detached. The gradient is
    # implicit differentiation of Eq. 3, checked against central finite differences of the solver
    # itself by torch.autograd.gradcheck (float64, its default eps 1e-6 and tolerances atol 1e-5,
    # rtol 1e-3: the solver is exact to ~1e-15, so finite differences are accurate to ~1e-9).
    # Broadcast shapes, both labels, T = 1 (closed form) and T ≠ 1.
    generator = torch.Generator().manual_seed(7)
    z_t = (20 * torch.rand(6, generator=generator, dtype=torch.float64) - 10).requires_grad_()
    rho = (0.1 + 0.8 * torch.rand(3, 1, generator=generator, dtype=torch.float64)).requires_grad_()
    y_g = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    for T in (0.2 + 5 * torch.rand(1, 6, generator=generator, dtype=torch.float64), torch.ones(1, 6).double()):
        T.requires_grad_()
        assert torch.autograd.gradcheck(lambda z, r, t: effective_logits(z, y_g, r, t), (z_t, rho, T))


def test_gradient_in_rho_at_one_is_the_hard_label_correction():
    # Theorem 2 independently: δz_h = ∂ẑ/∂(1 − ρ) at ρ = 1, in closed form (hard_label_correction),
    # so autograd's ∂ẑ/∂ρ there must be −δz_h; both are evaluated in log space: 1e-12 relative.
    z_t = torch.linspace(-8, 8, 33, dtype=torch.float64)
    for T in (0.5, 3.0):
        for y_g in (0, 1):
            rho = torch.ones(33, dtype=torch.float64, requires_grad=True)
            (gradient,) = torch.autograd.grad(effective_logits(z_t, y_g, rho, T).sum(), rho)
            torch.testing.assert_close(gradient, -hard_label_correction(z_t, y_g, T), rtol=1e-12, atol=0)


def test_gradients_keep_the_dtype_and_device_of_their_input():
    z_t = torch.zeros(3, dtype=torch.float32, requires_grad=True)
    effective_logits(z_t, 1, 0.5, 2.0).sum().backward()
    assert z_t.grad is not None and z_t.grad.dtype == torch.float32
    # at z_t = 0: dẑ/dz_t = (ρ/T²)σ'(0) / (ρ/T² σ'(ẑ/T) + (1 − ρ)σ'(ẑ)), finite and in (0, 1)
    assert ((z_t.grad > 0) & (z_t.grad < 1)).all()
    T = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    z = torch.tensor([1.0, -3.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z, t: hard_label_correction(z, 1, t), (z, T))
    with torch.no_grad():
        assert not effective_logits(z, 1, 0.5, T).requires_grad
