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


def _validated(
    z_t: ArrayLike, y_g: ArrayLike, rho: ArrayLike | None, T: ArrayLike, keep_graph: bool = False
) -> list[Tensor]:
    device = first_device(z_t, y_g, rho, T)
    z_t_ = as_float64("z_t", z_t, device, keep_graph=keep_graph)
    y_g_ = as_float64("y_g", y_g, device)
    T_ = as_float64("T", T, device, keep_graph=keep_graph)
    check_labels("y_g", y_g_)
    check_range("T", T_, low=0.0, low_open=True, allowed="a positive temperature (T > 0)")
    tensors = [z_t_, y_g_, T_]
    if rho is not None:
        rho_ = as_float64("rho", rho, device, keep_graph=keep_graph)
        check_range("rho", rho_, low=0.0, high=1.0, allowed="a soft ratio in [0, 1]")
        tensors.append(rho_)
    return list(torch.broadcast_tensors(*tensors))


def _log_gap(a: Tensor, z: Tensor, T: Tensor) -> Tensor:
    """log(σ(z/T) − σ(a/T)) for z > a, via σ(p) − σ(q) = σ(p)σ(−q)(1 − e^{q−p})."""
    return _log_sigmoid(z / T) + _log_sigmoid(-a / T) + torch.log(-torch.expm1((a - z) / T))


def _balance(a: Tensor, base: Tensor, shift: Tensor, u: Tensor, offset: Tensor, T: Tensor) -> tuple[Tensor, Tensor]:
    """G = log(soft pull) − log(hard pull) for label 1 at ẑ = base + e^u, and dG/du > 0.

    F(ẑ) = 0 ⇔ G = 0. ``base`` = max(a, ℓ) with ℓ a lower bound of the root and ``shift`` = base − a
    ≥ 0, so ẑ − a = shift + e^u is a sum of non-negative terms. Working in u = log(ẑ − base) makes G
    nearly linear in u where the root hugs the teacher logit (G ≈ u + const there), so Newton needs
    few steps. ``offset`` = log ρ − log T + log σ(−a/T) − log(1 − ρ) collects the terms free of u.
    """
    gap = torch.exp(u)
    z = base + gap
    scaled = (shift + gap) / T  # (ẑ − a)/T
    value = offset + _log_sigmoid(z / T) + torch.log(-torch.expm1(-scaled)) - _log_sigmoid(-z)
    slope = gap * (torch.sigmoid(-z / T) / T + torch.sigmoid(z) + 1 / (T * torch.expm1(scaled)))
    return value, slope


def _root_lower_bound(rho: Tensor, T: Tensor) -> Tensor:
    """ℓ < ẑ for every teacher logit: below ℓ + 1 even the a → −∞ limit of G is negative.

    For w < 0, log σ(w/T) ≤ w/T and −log σ(−w) ≤ log 2, so G(w) ≤ log(ρ/(T(1 − ρ))) + w/T + log 2
    (the terms in a only lower G), which is negative for w < B = −T(log(ρ/(T(1 − ρ))) + log 2).
    The root, increasing in a, is therefore above min(0, B) > ℓ = min(0, B) − 1.
    """
    bound = -T * (torch.log(rho) - torch.log(T) - torch.log1p(-rho) + _LOG2)
    return torch.clamp(bound, max=0.0) - 1.0


def _solve_label_one(a: Tensor, rho: Tensor, T: Tensor) -> Tensor:
    """Root of Eq. 3 for y_g = 1 and 0 < ρ < 1 (any T > 0, a in [−inf, inf)), elementwise.

    The root is ẑ = base + e^u with base = max(a, ℓ) (``_root_lower_bound``), so that a teacher
    logit far below the root (a → −∞, where the root tends to a finite limit) costs no digits in
    ẑ = base + e^u; u lies in [u_lo, u_hi]:
    * for ẑ ≥ z_hi = max(0, a + T log 2, log((1 − ρ)T/ρ) + 2 log 2 − log σ(−a/T)) + 1, so that
      ẑ − a ≥ T log 2 + 1 and ẑ ≥ 1, log σ(ẑ/T) and log(1 − e^{(a−ẑ)/T}) are
      ≥ −log 2 and log σ(−ẑ) ≤ −ẑ, so G ≥ 1 > 0;
    * base = a: for ẑ − a ≤ e^{u_lo} ≤ 1, 1 − e^{−x} ≤ x and σ(−ẑ) ≥ σ(−a − 1) give G < 0;
      base = ℓ: ẑ < ℓ + 1 for u < 0, so G < 0 at u_lo = −1.
    u_lo is raised to where e^u is far below the resolution of base (ẑ = base there anyway).
    The iteration is a safeguarded Newton method (Numerical Recipes' rtsafe): a bisection
    whenever Newton would leave the bracket or fails to halve the step before last, so the
    bracket at least halves every two steps; it converges in about ten steps, at most ~130.
    """
    log_rho, log_T, log_hard = torch.log(rho), torch.log(T), torch.log1p(-rho)
    tail = _log_sigmoid(-a / T)
    offset = log_rho - log_T + tail - log_hard
    base = torch.maximum(a, _root_lower_bound(rho, T))
    shift = base - a
    # z_hi − base, with the teacher's term T log 2 − shift formed without cancellation
    u_hi = torch.log(torch.stack(
        [-base, T * _LOG2 - shift, log_hard - log_rho + log_T + 2 * _LOG2 - tail - base]
    ).amax(dim=0) + 1.0)
    eps = torch.finfo(torch.float64).eps
    resolution = torch.log(eps * torch.clamp(base.abs(), min=1.0)) - 60.0
    u_lo_teacher = torch.clamp(log_hard + _log_sigmoid(-a - 1.0) - log_rho + 2 * log_T - tail, max=0.0) - 1.0
    u_lo = torch.where(shift > 0, torch.full_like(a, -1.0), torch.maximum(u_lo_teacher, resolution))
    u_lo = torch.minimum(u_lo, u_hi)  # a root closer to base than its resolution: ẑ = base, found at once
    solution = torch.empty_like(a)
    index = torch.arange(a.numel(), device=a.device)
    a, base, shift, offset, T = a.flatten(), base.flatten(), shift.flatten(), offset.flatten(), T.flatten()
    lo, hi = u_lo.flatten(), u_hi.flatten()
    u = hi.clone()
    step, step_before = hi - lo, hi - lo
    active = torch.ones_like(u, dtype=torch.bool)
    flat_solution = solution.view(-1)
    for _ in range(_MAX_ITERATIONS):
        value, slope = _balance(a, base, shift, u, offset, T)
        positive = value > 0
        hi = torch.where(positive, u, hi)
        lo = torch.where(positive, lo, u)
        delta = -value / slope
        newton = u + delta
        gap = torch.exp(u)
        z_now = base + gap
        newton_step = gap * torch.expm1(delta)  # the change of ẑ that Newton proposes (not rounded to u's grid)
        tolerance = 4 * eps * torch.maximum(z_now.abs(), torch.ones_like(z_now))
        bracketed = hi - lo <= 2 * eps * torch.clamp(u.abs(), min=1.0)  # adjacent floats
        converged = active & torch.isfinite(z_now) & ((value == 0) | (newton_step.abs() <= tolerance) | bracketed)
        polished = torch.where(torch.isfinite(newton_step), z_now + newton_step, z_now)
        flat_solution[index[converged]] = polished[converged]
        active = active & ~converged
        remaining = int(active.sum())
        if remaining == 0:
            break
        fast = torch.isfinite(newton) & (newton > lo) & (newton < hi) & (2 * (newton - u).abs() <= step_before)
        nxt = torch.where(fast, newton, 0.5 * (lo + hi))
        step_before, step = step, (nxt - u).abs()
        u = torch.where(active, nxt, u)
        if remaining < active.numel() // 2:  # compacting costs a gather; worth it once most are done
            index, a, base, shift, offset, T = (t[active] for t in (index, a, base, shift, offset, T))
            lo, hi, u, step, step_before, active = (t[active] for t in (lo, hi, u, step, step_before, active))
    else:
        raise RuntimeError(f"Eq. 3 solver did not converge in {_MAX_ITERATIONS} steps for {remaining} entries; "
                           "please report the arguments")
    return solution


def _closed_form_t1(a: Tensor, rho: Tensor) -> Tensor:
    """T = 1, y_g = 1: σ(ẑ) = ρσ(a) + 1 − ρ, i.e. σ(−ẑ) = ρσ(−a), solved without cancellation."""
    log_tail = torch.log(rho) + _log_sigmoid(-a)
    return torch.log1p(-torch.exp(log_tail)) - log_tail


def _implicit_derivatives(z: Tensor, z_t: Tensor, y_g: Tensor, rho: Tensor, T: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """dẑ/dz_t, dẑ/dρ, dẑ/dT at the root ẑ of Eq. 3, by implicit differentiation: dẑ/dθ = −(∂F/∂θ)/(∂F/∂ẑ).

    In the frame of label 1 (s = ±ẑ, a = ±z_t, the sign of 2y_g − 1), with σ'(x) = σ(x)σ(−x):
        ∂F/∂s = ρ/T² σ'(s/T) + (1 − ρ) σ'(s)                      (> 0, the denominator D),
        ∂F/∂a = −ρ/T² σ'(a/T),
        ∂F/∂ρ = σ(−s)/ρ                                             (using F = 0),
        ∂F/∂T = −(1 − ρ)σ(−s)/T − ρ/T³ (s σ'(s/T) − a σ'(a/T))     (using F = 0),
    each ratio formed in log space so that nothing over- or underflows before the quotient does.
    Where ẑ is infinite (ρ = 0, or a = +inf) the derivatives are set to 0.
    """
    sign = 2.0 * y_g - 1.0
    s, a = sign * z, sign * z_t
    log_rho, log_T, log_hard = torch.log(rho), torch.log(T), torch.log1p(-rho)
    log_soft_s = log_rho - 2 * log_T + _log_sigmoid(s / T) + _log_sigmoid(-s / T)
    log_den = torch.logaddexp(log_soft_s, log_hard + _log_sigmoid(s) + _log_sigmoid(-s))
    log_soft_a = log_rho - 2 * log_T + _log_sigmoid(a / T) + _log_sigmoid(-a / T)
    d_a = torch.exp(log_soft_a - log_den)
    d_rho = -torch.exp(_log_sigmoid(-s) - log_rho - log_den)
    finite_a = torch.where(torch.isfinite(a), a, torch.zeros_like(a))
    d_T = (torch.exp(log_hard + _log_sigmoid(-s) - log_T - log_den)
           + (s * torch.exp(log_soft_s - log_T - log_den) - finite_a * torch.exp(log_soft_a - log_T - log_den)))
    finite = torch.isfinite(s)
    zero = torch.zeros_like(s)
    return (torch.where(finite, d_a, zero), torch.where(finite, sign * d_rho, zero),
            torch.where(finite, sign * d_T, zero))


def _reduce_to(grad: Tensor, like: Tensor) -> Tensor:
    """Sum a broadcast gradient back to the shape of ``like``, in its dtype and on its device."""
    while grad.ndim > like.ndim:
        grad = grad.sum(0)
    for dim, size in enumerate(like.shape):
        if size == 1 and grad.shape[dim] != 1:
            grad = grad.sum(dim, keepdim=True)
    return grad.to(dtype=like.dtype, device=like.device)


class _ImplicitRoot(torch.autograd.Function):
    """Attach the root of Eq. 3 to the autograd graph of (z_t, ρ, T); backward by implicit differentiation."""

    @staticmethod
    def forward(ctx, root: Tensor, z_t_: Tensor, y_g_: Tensor, rho_: Tensor, T_: Tensor,  # type: ignore[override]
                z_t: Tensor, rho: Tensor, T: Tensor) -> Tensor:
        ctx.save_for_backward(root, z_t_, y_g_, rho_, T_, z_t, rho, T)
        return root.clone()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        root, z_t_, y_g_, rho_, T_, z_t, rho, T = ctx.saved_tensors
        derivatives = _implicit_derivatives(root, z_t_, y_g_, rho_, T_)
        grads = [_reduce_to(grad * d, x) if ctx.needs_input_grad[5 + i] else None
                 for i, (d, x) in enumerate(zip(derivatives, (z_t, rho, T), strict=True))]
        return (None, None, None, None, None, *grads)


def effective_logits(z_t: ArrayLike, y_g: ArrayLike, rho: ArrayLike, T: ArrayLike) -> Tensor:
    """Effective student logit ẑ = z_{s,eff}(z_t, y_g): the exact root of Eq. 3.

    Broadcasts its arguments; numpy arrays, Python numbers and tensors are accepted and the
    result is a float64 tensor on the device of the first tensor argument.

    Supported range: every z_t in [−inf, inf], T > 0 and ρ in [0, 1] that float64 can hold, except
    a teacher on the label's side with z_t/T beyond the float64 range (the root, about z_t/T, is
    not representable: ValueError). ẑ is correct to ~1e-15 relative (or absolute, below 1):
    tested against 50-digit arithmetic for |z_t| ≤ 40, T in [0.1, 100], ρ in [0.001, 0.999], and
    for z_t from −1e300 to 1e300 (and ±inf), T from 1e-300 to 1e300, ρ from 1e-300 to 1 − 1e-16.
    A teacher logit far on the wrong side (y_g = 1, z_t → −inf) gives the finite limit root of
    ρ/T σ(ẑ/T) = (1 − ρ) σ(−ẑ); one far on the right side gives ẑ = z_t (rounded) or ±inf.
    Special cases are solved in closed form: ρ = 1 gives ẑ = z_t; ρ = 0 gives ±inf (pure hard
    labels have no finite minimiser); T = 1 gives σ(ẑ) = ρσ(z_t) + (1 − ρ)y_g. The symmetry
    F(−ẑ; −z_t, 1 − y_g) = −F(ẑ; z_t, y_g) reduces y_g = 0 to y_g = 1.

    Differentiable: when z_t, rho or T is a tensor that requires grad, the result is attached to
    the autograd graph and backpropagates dẑ/dθ = −(∂F/∂θ)/(∂F/∂ẑ) (implicit differentiation of
    Eq. 3; first derivatives only). Where ẑ is ±inf the gradient is 0.

    Args:
        z_t: teacher logits.
        y_g: ground-truth hard labels, each 0 or 1.
        rho: soft ratio ρ in [0, 1] (weight of the teacher's soft labels in Eq. 2).
        T: temperature, T > 0.
    Returns:
        Tensor of the broadcast shape, dtype float64.
    Raises:
        ValueError: an argument is NaN, ρ is outside [0, 1], T ≤ 0, y_g is not 0 or 1, or the root
            is beyond the float64 range (|z_t|/T overflows; the message names z_t and T).
    """
    z_t_, y_g_, T_, rho_ = _validated(z_t, y_g, rho, T)
    sign = 2.0 * y_g_ - 1.0
    a = sign * z_t_  # the teacher logit seen from the side of the hard label
    pure_hard, pure_soft, unit_temperature = rho_ == 0, rho_ == 1, T_ == 1
    general = ~(pure_hard | pure_soft | unit_temperature)
    safe_rho = torch.where(general | unit_temperature, rho_, torch.full_like(rho_, 0.5))
    safe_T = torch.where(general, T_, torch.full_like(T_, 2.0))
    beyond = a == math.inf  # the root lies above the teacher logit: +inf as well
    general = general & ~beyond
    too_far = general & (a / safe_T == math.inf)
    if bool(too_far.any()):
        # a/T beyond float64: the soft pull is below e^{−a/T}, so the root is above a/T − 1500
        i = int(torch.nonzero(too_far.reshape(-1))[0, 0])
        raise ValueError(
            f"z_t={z_t_.reshape(-1)[i].item()!r} with T={T_.reshape(-1)[i].item()!r} (y_g={int(y_g_.reshape(-1)[i])}): "
            "the effective logit is about ±z_t/T, beyond the float64 range; the supported range is |z_t|/T < 1.8e308"
        )
    safe_a = torch.where(beyond, torch.zeros_like(a), a)
    solved = _solve_label_one(safe_a, safe_rho, safe_T) if general.any() else a.clone()
    if unit_temperature.any():
        solved = torch.where(unit_temperature, _closed_form_t1(a, safe_rho), solved)
    solved = torch.where(beyond | pure_soft, a, solved)
    solved = torch.where(pure_hard, torch.full_like(a, math.inf), solved)
    root = sign * solved
    inputs = (z_t, rho, T)
    if torch.is_grad_enabled() and any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        placeholders = [x if isinstance(x, Tensor) else torch.zeros(()) for x in inputs]
        root = _ImplicitRoot.apply(root, z_t_, y_g_, rho_, T_, *placeholders)
    return root


def eq3_residual(z_s: ArrayLike, z_t: ArrayLike, y_g: ArrayLike, rho: ArrayLike, T: ArrayLike) -> Tensor:
    """dℓ/dz of Eq. 3 at z_s, evaluated in the cancellation-free form (float64).

    Zero at the effective logit. Used to verify solvers; the naive formula loses all
    digits once σ(z/T) rounds to 1. The output is detached from autograd.
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
        float64 tensor of the broadcast shape; differentiable in z_t and T (autograd).
    """
    z_t_, y_g_, T_ = _validated(z_t, y_g, None, T, keep_graph=True)
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
    The output is detached from autograd.

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
