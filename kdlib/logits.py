"""Effective student logits (Eq. 3) and the hard-label correction (Theorem 2).

A wide student trained to convergence on the distillation loss of Eq. 2 minimises every
per-sample loss separately, so its logit at a training point is the root ẑ of

    F(ẑ) = ρ/T · (σ(ẑ/T) − σ(z_t/T)) + (1 − ρ) · (σ(ẑ) − y_g) = 0          (Eq. 3)

F is strictly increasing in ẑ, so the root is unique. This module finds it exactly with a
bracketed, safeguarded Newton iteration on a logarithmic form of F that keeps full relative
precision where both terms are exponentially small (large |z_t|, small T).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as nnf
from torch import Tensor

from kdlib._validate import ArrayLike, as_float64, check_labels, check_range, first_device

__all__ = [
    "effective_logits", "hard_label_correction", "paper_gradient_descent", "eq3_residual", "reference_effective_logit",
    "label_smoothing_logits",
]

_LOG2 = math.log(2.0)
_MAX_ITERATIONS = 200


def _log_sigmoid(x: Tensor) -> Tensor:
    return nnf.logsigmoid(x)


def _validated(z_t: ArrayLike, y_g: ArrayLike, rho: ArrayLike | None, T: ArrayLike) -> list[Tensor]:
    device = first_device(z_t, y_g, rho, T)
    z_t_ = as_float64("z_t", z_t, device)
    y_g_ = as_float64("y_g", y_g, device)
    T_ = as_float64("T", T, device)
    check_labels("y_g", y_g_)
    check_range("T", T_, low=0.0, low_open=True, allowed="a positive temperature (T > 0)")
    tensors = [z_t_, y_g_, T_]
    if rho is not None:
        rho_ = as_float64("rho", rho, device)
        check_range("rho", rho_, low=0.0, high=1.0, allowed="a soft ratio in [0, 1]")
        tensors.append(rho_)
    return list(torch.broadcast_tensors(*tensors))


def _log_gap(a: Tensor, z: Tensor, T: Tensor) -> Tensor:
    """log(σ(z/T) − σ(a/T)) for z > a, via σ(p) − σ(q) = σ(p)σ(−q)(1 − e^{q−p})."""
    return _log_sigmoid(z / T) + _log_sigmoid(-a / T) + torch.log(-torch.expm1((a - z) / T))


def _balance(a: Tensor, u: Tensor, offset: Tensor, T: Tensor) -> tuple[Tensor, Tensor]:
    """G = log(soft pull) − log(hard pull) for label 1 at ẑ = a + e^u, and dG/du > 0.

    F(ẑ) = 0 ⇔ G = 0. Working in u = log(ẑ − a) makes G nearly linear in u where the root
    hugs the teacher logit (G ≈ u + const there), so Newton needs few steps everywhere.
    ``offset`` = log ρ − log T + log σ(−a/T) − log(1 − ρ) collects the terms free of u.
    """
    gap = torch.exp(u)
    z = a + gap
    scaled_gap = gap / T
    value = offset + _log_sigmoid(z / T) + torch.log(-torch.expm1(-scaled_gap)) - _log_sigmoid(-z)
    slope = gap * (torch.sigmoid(-z / T) / T + torch.sigmoid(z)) + scaled_gap / torch.expm1(scaled_gap)
    return value, slope


def _solve_label_one(a: Tensor, rho: Tensor, T: Tensor) -> Tensor:
    """Root of Eq. 3 for y_g = 1 and 0 < ρ < 1 (any T > 0), elementwise.

    The root is ẑ = a + e^u with u in [u_lo, u_hi]:
    * for ẑ − a ≥ e^{u_hi}, both log σ(ẑ/T) and log(1 − e^{(a−ẑ)/T}) are ≥ −log 2 and
      log σ(−ẑ) ≤ −ẑ, so G ≥ 1 > 0;
    * for ẑ − a ≤ e^{u_lo} ≤ 1, 1 − e^{−x} ≤ x and σ(−ẑ) ≥ σ(−a − 1) give G < 0.
    Newton steps in u that leave the bracket fall back to bisection, so the iteration
    always converges; it takes about ten steps.
    """
    log_rho, log_T, log_hard = torch.log(rho), torch.log(T), torch.log1p(-rho)
    tail = _log_sigmoid(-a / T)
    offset = log_rho - log_T + tail - log_hard
    z_hi = torch.stack(
        [torch.zeros_like(a), a + T * _LOG2, log_hard - log_rho + log_T + 2 * _LOG2 - tail]
    ).amax(dim=0) + 1.0
    u_hi = torch.log(z_hi - a)
    u_lo = torch.clamp(log_hard + _log_sigmoid(-a - 1.0) - log_rho + 2 * log_T - tail, max=0.0) - 1.0
    solution = torch.empty_like(a)
    index = torch.arange(a.numel(), device=a.device)
    a, offset, T = a.flatten(), offset.flatten(), T.flatten()
    lo, hi = u_lo.flatten(), u_hi.flatten()
    u = hi.clone()
    active = torch.ones_like(u, dtype=torch.bool)
    flat_solution = solution.view(-1)
    eps = torch.finfo(torch.float64).eps
    for _ in range(_MAX_ITERATIONS):
        value, slope = _balance(a, u, offset, T)
        positive = value > 0
        hi = torch.where(positive, u, hi)
        lo = torch.where(positive, lo, u)
        newton = u - value / slope
        gap = torch.exp(u)
        z_now = a + gap
        newton_step = gap * torch.expm1(newton - u)  # the change of ẑ that Newton proposes
        tolerance = 4 * eps * torch.maximum(z_now.abs(), torch.ones_like(z_now))
        converged = active & ((value == 0) | (newton_step.abs() <= tolerance) | (hi - lo <= 2 * eps))
        polished = torch.where(torch.isfinite(newton_step), z_now + newton_step, z_now)
        flat_solution[index[converged]] = polished[converged]
        active = active & ~converged
        remaining = int(active.sum())
        if remaining == 0:
            break
        inside = torch.isfinite(newton) & (newton > lo) & (newton < hi)
        u = torch.where(active, torch.where(inside, newton, 0.5 * (lo + hi)), u)
        if remaining < active.numel() // 2:  # compacting costs a gather; worth it once most are done
            index, a, offset, T = index[active], a[active], offset[active], T[active]
            lo, hi, u, active = lo[active], hi[active], u[active], active[active]
    else:
        flat_solution[index[active]] = (a + torch.exp(u))[active]
    return solution


def _closed_form_t1(a: Tensor, rho: Tensor) -> Tensor:
    """T = 1, y_g = 1: σ(ẑ) = ρσ(a) + 1 − ρ, i.e. σ(−ẑ) = ρσ(−a), solved without cancellation."""
    log_tail = torch.log(rho) + _log_sigmoid(-a)
    return torch.log1p(-torch.exp(log_tail)) - log_tail


def effective_logits(z_t: ArrayLike, y_g: ArrayLike, rho: ArrayLike, T: ArrayLike) -> Tensor:
    """Effective student logit ẑ = z_{s,eff}(z_t, y_g): the exact root of Eq. 3.

    Broadcasts its arguments; numpy arrays, Python numbers and tensors are accepted and the
    result is a float64 tensor on the device of the first tensor argument.

    Exact in floating point for |z_t| ≤ 40 and beyond, T in [0.1, 100], ρ in [0.001, 0.999]
    (tested against 50-digit arithmetic). Special cases are solved in closed form:
    ρ = 1 gives ẑ = z_t; ρ = 0 gives ±inf (pure hard labels have no finite minimiser);
    T = 1 gives σ(ẑ) = ρσ(z_t) + (1 − ρ)y_g. The symmetry F(−ẑ; −z_t, 1 − y_g) = −F(ẑ; z_t, y_g)
    reduces y_g = 0 to y_g = 1.

    Args:
        z_t: teacher logits.
        y_g: ground-truth hard labels, each 0 or 1.
        rho: soft ratio ρ in [0, 1] (weight of the teacher's soft labels in Eq. 2).
        T: temperature, T > 0.
    Returns:
        Tensor of the broadcast shape, dtype float64.
    Raises:
        ValueError: an argument is NaN, ρ is outside [0, 1], T ≤ 0, or y_g is not 0 or 1.
    """
    z_t_, y_g_, T_, rho_ = _validated(z_t, y_g, rho, T)
    sign = 2.0 * y_g_ - 1.0
    a = sign * z_t_  # the teacher logit seen from the side of the hard label
    pure_hard, pure_soft, unit_temperature = rho_ == 0, rho_ == 1, T_ == 1
    general = ~(pure_hard | pure_soft | unit_temperature)
    safe_rho = torch.where(general | unit_temperature, rho_, torch.full_like(rho_, 0.5))
    safe_T = torch.where(general, T_, torch.full_like(T_, 2.0))
    solved = _solve_label_one(a, safe_rho, safe_T) if general.any() else a.clone()
    if unit_temperature.any():
        solved = torch.where(unit_temperature, _closed_form_t1(a, safe_rho), solved)
    solved = torch.where(pure_soft, a, solved)
    solved = torch.where(pure_hard, torch.full_like(a, math.inf), solved)
    return sign * solved


def eq3_residual(z_s: ArrayLike, z_t: ArrayLike, y_g: ArrayLike, rho: ArrayLike, T: ArrayLike) -> Tensor:
    """dℓ/dz of Eq. 3 at z_s, evaluated in the cancellation-free form (float64).

    Zero at the effective logit. Used to verify solvers; the naive formula loses all
    digits once σ(z/T) rounds to 1.
    """
    z_t_, y_g_, T_, rho_ = _validated(z_t, y_g, rho, T)
    z_s_ = as_float64("z_s", z_s, z_t_.device)
    gap_sign = torch.sign(z_s_ - z_t_)
    low, high = torch.minimum(z_s_, z_t_), torch.maximum(z_s_, z_t_)
    soft_gap = gap_sign * torch.exp(_log_gap(low, high, T_))
    soft_gap = torch.where(z_s_ == z_t_, torch.zeros_like(soft_gap), soft_gap)
    hard_gap = torch.where(y_g_ == 1, -torch.sigmoid(-z_s_), torch.sigmoid(z_s_))
    return rho_ / T_ * soft_gap + (1 - rho_) * hard_gap


def hard_label_correction(z_t: ArrayLike, y_g: ArrayLike, T: ArrayLike) -> Tensor:
    """Correction logits δz_h of Theorem 2: ∂ẑ/∂(1 − ρ) at ρ = 1, in closed form.

    Differentiating Eq. 3 at ρ = 1, where ẑ = z_t, gives
    δz_h = T² (y_g − σ(z_t)) / (σ(z_t/T) σ(−z_t/T)), evaluated in log space so that it stays
    finite until the true value overflows.

    Args:
        z_t: teacher logits.
        y_g: hard labels, 0 or 1.
        T: temperature, T > 0.
    Returns:
        float64 tensor of the broadcast shape.
    """
    z_t_, y_g_, T_ = _validated(z_t, y_g, None, T)
    sign = 2.0 * y_g_ - 1.0
    log_magnitude = _log_sigmoid(-sign * z_t_) - _log_sigmoid(z_t_ / T_) - _log_sigmoid(-z_t_ / T_)
    return sign * T_**2 * torch.exp(log_magnitude)


def label_smoothing_logits(y_g: ArrayLike, epsilon: ArrayLike) -> Tensor:
    """Converged logit of label smoothing with K = 2 classes: z_LS = a · sgn(y_g), a = log(2/ε − 1) (Sec. 4).

    Label smoothing trains on the cross-entropy with the softened target y_LS = ε/K + (1 − ε) y_g.
    For K = 2 a wide student minimises each sample's H(y_LS, σ(z)) separately, at σ(z) = y_LS, so
    z = log(y_LS / (1 − y_LS)) = ±log((1 − ε/2)/(ε/2)) = ±log(2/ε − 1), the sign that of the label.
    It is also Eq. 3 with an uninformative teacher: with z_t = 0 and T = 1 the closed form
    σ(ẑ) = ρσ(0) + (1 − ρ)y_g = ρ/2 + (1 − ρ)y_g is y_LS with ε = ρ (``effective_logits(0, y_g, ε, 1)``).

    Args:
        y_g: hard labels, each 0 or 1.
        epsilon: smoothing ε in (0, 1]; ε = 1 gives the uniform target and z = 0, ε → 0 gives ±inf.
    Returns:
        float64 tensor of the broadcast shape, on the device of the first tensor argument.
    Raises:
        ValueError: a label other than 0 or 1, or ε outside (0, 1].
    """
    device = first_device(y_g, epsilon)
    labels = as_float64("y_g", y_g, device)
    eps = as_float64("epsilon", epsilon, device)
    check_labels("y_g", labels)
    check_range("epsilon", eps, low=0.0, high=1.0, low_open=True, allowed="a smoothing in (0, 1]")
    labels, eps = torch.broadcast_tensors(labels, eps)
    # log(2/ε − 1) = log(2 − ε) − log ε, accurate for ε near 1 and near 0
    return (2.0 * labels - 1.0) * (torch.log(2.0 - eps) - torch.log(eps))


def paper_gradient_descent(
    z_t: ArrayLike,
    y_g: ArrayLike,
    rho: ArrayLike,
    T: ArrayLike,
    *,
    learning_rate: float = 10.0,
    iterations: int = 10_000,
    start: str = "teacher",
) -> Tensor:
    """The paper's own solver for Eq. 3 (Sec. S4): plain gradient descent on the per-sample loss.

    z ← z − η · dℓ/dz with the naive formula of Eq. 3, η = 10 and 10,000 steps by default.
    Kept as the baseline that `effective_logits` is checked and benchmarked against.

    Args:
        start: "teacher" starts at z_t, "zero" at 0 (the paper does not say which it used).
    """
    if iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if start not in ("teacher", "zero"):
        raise ValueError(f"start must be 'teacher' or 'zero', got {start!r}")
    z_t_, y_g_, T_, rho_ = _validated(z_t, y_g, rho, T)
    target_soft = torch.sigmoid(z_t_ / T_)
    z = z_t_.clone() if start == "teacher" else torch.zeros_like(z_t_)
    for _ in range(iterations):
        gradient = rho_ / T_ * (torch.sigmoid(z / T_) - target_soft) + (1 - rho_) * (torch.sigmoid(z) - y_g_)
        z = z - learning_rate * gradient
    return z


def reference_effective_logit(z_t: float, y_g: int, rho: float, T: float, *, digits: int = 50) -> float:
    """Eq. 3's root by plain bisection in ``digits``-digit arithmetic (mpmath): slow, independent.

    Uses the naive formula of Eq. 3 and bisects on [-10⁴, 10⁴] until the bracket is far below
    float64 resolution. σ(z/T) must be resolved next to 1 down to e^{−|ẑ|/T}, so the working
    precision grows with |z_t|/T: ``digits`` are the digits left after that cancellation.
    Exists to test ``effective_logits`` against an unrelated method.
    """
    import mpmath

    digits = digits + int((abs(z_t) * max(1.0, 1.0 / T) + 60) / math.log(10))
    if not 0 < rho < 1:
        raise ValueError(f"rho must be strictly between 0 and 1 for the reference solver, got {rho!r}")
    with mpmath.workdps(digits):
        sigmoid = lambda x: 1 / (1 + mpmath.exp(-x))  # noqa: E731
        rho_, T_, z_t_ = mpmath.mpf(rho), mpmath.mpf(T), mpmath.mpf(z_t)
        target = sigmoid(z_t_ / T_)

        def derivative(z: mpmath.mpf) -> mpmath.mpf:
            return rho_ / T_ * (sigmoid(z / T_) - target) + (1 - rho_) * (sigmoid(z) - y_g)

        lo, hi = mpmath.mpf(-1e4), mpmath.mpf(1e4)
        for _ in range(4 * digits + 20):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if derivative(mid) < 0 else (lo, mid)
        return float((lo + hi) / 2)
