"""The multi-class distillation loss of Hinton et al. (2015) and its relation to Eq. 2 of the paper.

The paper states its theory for one logit and the binary loss of Eq. 2 (:func:`kd_loss`, with its curvature);
its practical experiment (Fig. 5 left, Fig. S1, Sec. S2: a ResNet-50 teacher distilled into
ResNet-18 students on CIFAR-10) needs the C-class loss. :func:`multiclass_kd_loss` is that loss in
Hinton's T² convention; :func:`paper_soft_ratio` and :func:`hinton_soft_ratio` translate a soft
ratio between that convention and Eq. 2's, and the docstring of :func:`multiclass_kd_loss` gives
the exact two-class identity, which ``tests/test_losses.py`` checks numerically.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as nnf
from torch import Tensor

__all__ = [
    "accuracy", "error_rate", "hinton_soft_ratio", "kd_loss", "kd_loss_curvature", "max_kd_loss_curvature",
    "multiclass_kd_loss", "paper_soft_ratio", "safe_gradient_descent_lr",
]

_REDUCTIONS = ("mean", "sum", "none")


def _check_rho_T(rho: float, T: float) -> None:
    if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not 0.0 <= float(rho) <= 1.0:
        raise ValueError(f"rho must be a soft ratio in [0, 1], got {rho!r}")
    if isinstance(T, bool) or not isinstance(T, numbers.Real) or not math.isfinite(T) or not float(T) > 0.0:
        raise ValueError(f"T must be a finite positive temperature (T > 0), got {T!r}")


def kd_loss(
    z_s: Tensor,
    z_t: Tensor,
    y_g: Tensor,
    rho: float,
    T: float,
    *,
    reduction: str = "mean",
) -> Tensor:
    """The distillation loss of Eq. 2: ρ H(σ(z_t/T), σ(z_s/T)) + (1 − ρ) H(y_g, σ(z_s)), averaged.

    Each cross-entropy H(p, σ(u)) = softplus(u) − p·u is evaluated as binary cross-entropy
    with logits (log-sigmoid inside), which is exact for any |u| where the textbook
    −p log σ(u) − (1 − p) log(1 − σ(u)) gives inf or NaN once σ(u) rounds to 0 or 1. Its
    derivative in z_s is Eq. 3's ρ/T (σ(z_s/T) − σ(z_t/T)) + (1 − ρ)(σ(z_s) − y_g), over N for the mean.

    Args:
        z_s: student logits, shape (N,).
        z_t: teacher logits, broadcastable to z_s.
        y_g: hard labels in {0, 1}, broadcastable to z_s.
        rho: soft ratio ρ in [0, 1].
        T: temperature T > 0.
        reduction: "mean" (Eq. 2's 1/N Σ), "sum" or "none" (per-sample ℓ_n).
    """
    if not 0.0 <= float(rho) <= 1.0:
        raise ValueError(f"rho must be a soft ratio in [0, 1], got {rho!r}")
    if not float(T) > 0.0:
        raise ValueError(f"T must be a positive temperature (T > 0), got {T!r}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    z_t = torch.as_tensor(z_t, dtype=z_s.dtype, device=z_s.device)
    y_g = torch.as_tensor(y_g, dtype=z_s.dtype, device=z_s.device)
    soft = nnf.binary_cross_entropy_with_logits(z_s / T, torch.sigmoid(z_t / T).expand_as(z_s), reduction="none")
    hard = nnf.binary_cross_entropy_with_logits(z_s, y_g.expand_as(z_s), reduction="none")
    per_sample = rho * soft + (1.0 - rho) * hard
    if reduction == "none":
        return per_sample
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


def kd_loss_curvature(z: Tensor, rho: float, T: float) -> Tensor:
    """ℓ''(z): the second derivative of Eq. 2's per-sample loss in the student logit z.

    ℓ''(z) = (ρ/T²) σ(z/T) σ(−z/T) + (1 − ρ) σ(z) σ(−z); it does not depend on z_t or y_g (both
    enter ℓ' only as constants). Near the effective logits it sets the rates at which gradient
    descent's modes decay (Eq. S1–S2).
    """
    _check_rho_T(rho, T)
    return (rho / T**2 * torch.sigmoid(z / T) * torch.sigmoid(-z / T)
            + (1 - rho) * torch.sigmoid(z) * torch.sigmoid(-z))


def max_kd_loss_curvature(rho: float, T: float) -> float:
    """sup_z ℓ''(z) = ρ/(4T²) + (1 − ρ)/4 (each σσ factor peaks at 1/4, both at z = 0)."""
    _check_rho_T(rho, T)
    return rho / (4 * T**2) + (1 - rho) / 4


def safe_gradient_descent_lr(kernel: Tensor, rho: float, T: float) -> float:
    """The largest step η for which full-batch gradient descent on Eq. 2's mean loss over the
    linearized student with kernel Θ (n × n) cannot diverge anywhere: η = n / (λ_max(Θ) sup ℓ'').

    The loss's Hessian in the logits is Θ diag(ℓ'')/n, whose largest eigenvalue is at most
    λ_max(Θ) sup ℓ''/n; a step below 2/that is stable, and this takes half of it, which also
    keeps every mode monotone.
    """
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must be a square matrix, got shape {tuple(kernel.shape)}")
    return kernel.shape[0] / (torch.linalg.eigvalsh(kernel)[-1].item() * max_kd_loss_curvature(rho, T))


def _check_logits_and_labels(logits: Tensor, labels: Tensor, logits_name: str = "student_logits", *,
                             check_values: bool = True) -> None:
    if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[1] < 2 or not logits.is_floating_point():
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"{logits_name} must be a floating tensor of shape (N, C) with C ≥ 2 classes, got {shape}")
    if not isinstance(labels, Tensor) or labels.dtype.is_floating_point or labels.dtype.is_complex:
        got = labels.dtype if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"labels must be an integer tensor of class indices, got {got}")
    if labels.shape != (logits.shape[0],):
        expected = f"({logits.shape[0]},)"
        raise ValueError(f"labels must have shape {expected} to match {logits_name}, got {tuple(labels.shape)}")
    if check_values and labels.numel() and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        bad = labels[(labels < 0) | (labels >= logits.shape[1])][0].item()
        raise ValueError(f"labels must be class indices in [0, {logits.shape[1] - 1}], got {bad}")


def multiclass_kd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor,
    *,
    rho: float,
    T: float,
    reduction: str = "mean",
    t_squared: bool = True,
    check_labels: bool = True,
) -> Tensor:
    """ρ·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1 − ρ)·CE(z_s, y): Hinton et al. (2015)'s distillation loss.

    **T² convention.** Without the factor, the soft term's gradient in z_s is
    (ρ/T)·(softmax(z_s/T) − softmax(z_t/T)). For T large compared with the logits,
    softmax(u/T) ≈ (1 + (u − ū)/T)/C, so the bracket is ≈ ((z_s − z̄_s) − (z_t − z̄_t))/(C·T) and the
    gradient shrinks like 1/T². Multiplying the term by T² (Hinton, Vinyals & Dean 2015, Sec. 2)
    makes it ρ·T·(softmax(z_s/T) − softmax(z_t/T)) ≈ ρ·(centred logit difference)/C, independent of T,
    so the soft and hard terms keep their relative weight when T changes and ρ means about the
    same at every temperature. ``t_squared=False`` drops the factor (the convention of Eq. 2 below).

    **Relation to Eq. 2 of the paper** (``kdlib.losses.kd_loss``, one logit per sample,
    ℓ = ρ' H(σ(z_t/T), σ(z_s/T)) + (1 − ρ') H(y_g, σ(z_s)) with binary cross-entropy H). With
    C = 2 classes and logits [0, z] (or any [a, a + z]), softmax(·)₁ = σ(z), so
    KL(p_t ‖ p_s) = H(σ(z_t/T), σ(z_s/T)) − H(σ(z_t/T)), where H(p) = H(p, p) is the teacher's entropy,
    and per sample, exactly::

        multiclass_kd_loss(ρ, T) = c · kd_loss(ρ', T) − ρT² · H(σ(z_t/T)),
        c = ρT² + 1 − ρ,   ρ' = ρT² / c = paper_soft_ratio(ρ, T).

    The entropy does not depend on the student, so the gradient in z_s is c times Eq. 3's left side
    at soft ratio ρ': the two losses have the same minimisers (Eq. 3's effective logits at ρ'),
    and gradient descent on this loss with step η is gradient descent on Eq. 2 with step c·η. The
    paper's ρ and this function's ρ agree only at ρ ∈ {0, 1} or T = 1; for example T = 10, ρ = 0.5
    here is ρ' = 100/101 ≈ 0.99 in Eq. 2. With ``t_squared=False`` the identity holds with ρ' = ρ and c = 1.

    Computed with log-softmax (``kl_div`` with log-target and ``cross_entropy``), so it is finite
    for logits of any size. Low-precision logits (float16/bfloat16, e.g. under autocast) are
    promoted to float32 first; the result has the promoted dtype. The teacher's logits are used as
    given: detach them (or produce them under ``torch.no_grad``) if the teacher is not to be trained.

    Args:
        student_logits: z_s, shape (N, C), C ≥ 2.
        teacher_logits: z_t, shape (N, C).
        labels: hard labels y, integer class indices in [0, C − 1], shape (N,).
        rho: soft ratio ρ ∈ [0, 1] (weight of the teacher's soft labels).
        T: temperature T > 0 of the soft term (the hard term is always at T = 1).
        reduction: "mean" over the N samples, "sum", or "none" for the (N,) per-sample losses.
        t_squared: multiply the soft term by T² (Hinton's convention, default) or not.
        check_labels: check that every label lies in [0, C − 1]. That reads the labels' values, which
            on a GPU waits for all queued work; a training loop whose labels were checked once passes
            False so that its steps never synchronise (shapes, dtypes, ρ and T are still checked).
    Returns:
        The loss: a 0-d tensor, or shape (N,) for ``reduction="none"``.
    Raises:
        ValueError: ρ outside [0, 1], T ≤ 0, unknown reduction, shapes that disagree, non-integer
            labels or labels outside [0, C − 1] (the message names the parameter and the value).
    """
    _check_rho_T(rho, T)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    _check_logits_and_labels(student_logits, labels, check_values=check_labels)
    if not isinstance(teacher_logits, Tensor) or teacher_logits.shape != student_logits.shape:
        got = tuple(teacher_logits.shape) if isinstance(teacher_logits, Tensor) else type(teacher_logits).__name__
        raise ValueError(f"teacher_logits must have the student's shape {tuple(student_logits.shape)}, got {got}")
    dtype = torch.promote_types(student_logits.dtype, teacher_logits.dtype)
    if dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    z_s = student_logits.to(dtype)
    z_t = teacher_logits.to(dtype=dtype, device=z_s.device)
    log_p_s = nnf.log_softmax(z_s / T, dim=1)
    log_p_t = nnf.log_softmax(z_t / T, dim=1)
    soft = nnf.kl_div(log_p_s, log_p_t, reduction="none", log_target=True).sum(dim=1)  # Σ p_t (log p_t − log p_s)
    hard = nnf.cross_entropy(z_s, labels.to(z_s.device), reduction="none")
    soft_weight = rho * T * T if t_squared else rho
    per_sample = soft_weight * soft + (1.0 - rho) * hard
    if reduction == "none":
        return per_sample
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


def paper_soft_ratio(rho: float, T: float) -> float:
    """Eq. 2's soft ratio ρ' = ρT² / (ρT² + 1 − ρ) equivalent to ρ in the T² convention.

    With this ρ', :func:`multiclass_kd_loss` at (ρ, T) has the same minimisers and, up to the factor
    c = ρT² + 1 − ρ, the same gradient as the paper's loss (see that function's docstring).
    """
    _check_rho_T(rho, T)
    soft = rho * T * T
    return soft / (soft + 1.0 - rho)


def hinton_soft_ratio(rho_paper: float, T: float) -> float:
    """The inverse of :func:`paper_soft_ratio`: ρ = ρ' / (ρ' + T²(1 − ρ')) for Eq. 2's soft ratio ρ'."""
    _check_rho_T(rho_paper, T)
    return rho_paper / (rho_paper + T * T * (1.0 - rho_paper))


def accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Fraction of samples whose largest logit is at the label, a 0-d float32 tensor on the logits' device.

    Ties go to the lowest class index (``argmax``). The result stays on the device, so summing it over
    batches does not synchronise; call ``.item()`` once at the end.

    Args:
        logits: (N, C) scores, N ≥ 1.
        labels: (N,) integer class indices in [0, C − 1].
    """
    _check_logits_and_labels(logits, labels, "logits")
    if logits.shape[0] == 0:
        raise ValueError("logits must hold at least one sample, got N = 0")
    return (logits.argmax(dim=1) == labels.to(logits.device)).float().mean()


def error_rate(logits: Tensor, labels: Tensor) -> Tensor:
    """1 − :func:`accuracy`: the test error of Fig. 5 left and Fig. S1 (as a fraction, not a percentage)."""
    return 1.0 - accuracy(logits, labels)
