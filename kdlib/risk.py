"""Transfer risk of the converged student and the risk bound of Theorem 1 (Sec. 3, S3, S6 of the paper).

**Predictions off the training set.** A linearized student trained to convergence on the first n
samples X_n changes its weights by Δŵ_n = φ(X_n) Θ_n⁻¹ Δz_n (Eq. 4), so at any input x it predicts

    z_s^(n)(x) = f(x; w₀) + Θ(x, X_n) Θ_n⁻¹ Δz_n,                      Δz_n = z_n − f(X_n; w₀).

With one Cholesky factor Θ_N = L Lᵀ of the whole pool, every prefix n comes at once: the leading
n × n block L_n of L is the factor of Θ_n, and forward substitution computes the first n entries
of L⁻¹b from the first n entries of b only. So with the whitened targets u = L⁻¹Δz and the whitened
test features k(x) = L⁻¹Θ(X, x),

    Θ(x, X_n) Θ_n⁻¹ Δz_n = (L_n⁻¹Θ(X_n, x))ᵀ (L_n⁻¹Δz_n) = Σ_{i ≤ n} k_i(x) u_i,

a cumulative sum over i: the risk curve R(n) = P_x[z_t(x) z_s^(n)(x) < 0] for n = 1 … N costs one
factorization (N³/3), one triangular solve per test point (N² each) and a cumulative sum, where
one solve per n would cost Σ_n n³/3 ≈ N⁴/12 for the factorizations alone. The same identity with
two whitened vectors gives the inner products ⟨a_n, b_n⟩_Θn = a_nᵀΘ_n⁻¹b_n of Sec. 5 for every n
(:func:`prefix_inner_products`), of which ``kdlib.student.weight_change_norms`` is the case a = b.

**Angles and the bound.** Theorem 1 bounds the risk by the accumulative angle distribution p(β)
of Eq. 6 at π/2 − ᾱ_n. Eq. 8 turns the feature angles into logits, cos ᾱ(φ(x), u) =
|uᵀφ(x)| / (‖u‖ √Θ(x, x)) (:func:`feature_cosines`); Eq. 9 turns the student's angle into norms
(:func:`eq9_angle`). Since ᾱ(φ(x), u) ≥ π/2 − ᾱ_n ⟺ cos ᾱ(φ(x), u) ≤ sin ᾱ_n, the bound on a
sample of inputs is a fraction of cosines (:func:`risk_bound`).

All arithmetic is float64; outputs live on the device of the kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm import tqdm

from kdlib._validate import ArrayLike, as_float64, first_device
from kdlib.student import cholesky_factor

__all__ = [
    "RiskCurve",
    "prefix_inner_products",
    "prefix_predictions",
    "transfer_risk",
    "transfer_risk_curve",
    "feature_cosines",
    "angle_distribution",
    "eq9_angle",
    "risk_bound",
    "phuong_lampert_bound",
    "projected_student_angle",
]

_CHUNK_ENTRIES = 1 << 22  # entries of one (…, N, chunk) block of prefix predictions: 32 MiB in float64


def _square_kernel(name: str, kernel: ArrayLike, device: torch.device | None) -> Tensor:
    theta = as_float64(name, kernel, device)
    if theta.ndim != 2 or theta.shape[0] != theta.shape[1] or theta.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, N) with N ≥ 1, got {tuple(theta.shape)}")
    if not bool(torch.isfinite(theta).all()):
        raise ValueError(f"{name} contains inf; every entry must be finite")
    return theta


def _finite(name: str, value: ArrayLike, device: torch.device | None, *, ndim_min: int = 1) -> Tensor:
    tensor = as_float64(name, value, device)
    if tensor.ndim < ndim_min:
        raise ValueError(f"{name} must have at least {ndim_min} dimension(s), got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains inf; every entry must be finite")
    return tensor


def _with_length(name: str, tensor: Tensor, size: int, what: str) -> Tensor:
    if tensor.ndim < 1 or tensor.shape[-1] != size:
        raise ValueError(f"{name} must have shape (..., {size}) to match {what}, got {tuple(tensor.shape)}")
    return tensor


def _whiten(factor: Tensor, vectors: Tensor) -> Tensor:
    """L⁻¹v for (..., N) vectors."""
    return torch.linalg.solve_triangular(factor, vectors.unsqueeze(-1), upper=False).squeeze(-1)


def prefix_inner_products(kernel: ArrayLike, a: ArrayLike, b: ArrayLike | None = None, *,
                          jitter: float = 0.0) -> Tensor:
    """⟨a_n, b_n⟩_Θn = a_nᵀ Θ_n⁻¹ b_n for every prefix n = 1 … N, from one Cholesky factor.

    This is the inner product of the weight changes φ(X_n)Θ_n⁻¹a_n and φ(X_n)Θ_n⁻¹b_n of Eq. 4
    (Sec. 5's notation), for every sample size at once: with u = L⁻¹a and v = L⁻¹b (Θ_N = LLᵀ), the
    prefix n has a_nᵀΘ_n⁻¹b_n = Σ_{i ≤ n} u_i v_i (see the module docstring). ``b=None`` means b = a,
    and then the square root is ``kdlib.student.weight_change_norms``.

    Args:
        kernel: (N, N) positive-definite Θ_N, samples in prefix order.
        a, b: (..., N) logit vectors; their batch dimensions broadcast.
        jitter: added to Θ's diagonal (default 0; see ``kdlib.student.cholesky_factor``).
    Returns:
        (..., N) float64; entry n − 1 is ⟨a_n, b_n⟩_Θn.
    Raises:
        ValueError: shapes disagree, non-finite entries, or Θ not positive definite (names the pivot).
    """
    device = first_device(kernel, a, b)
    theta = _square_kernel("kernel", kernel, device)
    size = theta.shape[0]
    a_ = _with_length("a", _finite("a", a, theta.device), size, "the kernel")
    factor = cholesky_factor(theta, jitter=jitter)
    u = _whiten(factor, a_)
    if b is None:
        return torch.cumsum(u.square(), dim=-1)
    b_ = _with_length("b", _finite("b", b, theta.device), size, "the kernel")
    u, v = torch.broadcast_tensors(u, _whiten(factor, b_))
    return torch.cumsum(u * v, dim=-1)


def _prefix_setup(kernel_train: ArrayLike, kernel_cross: ArrayLike, delta_z: ArrayLike,
                  initial: ArrayLike | None, jitter: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    device = first_device(kernel_train, kernel_cross, delta_z, initial)
    theta = _square_kernel("kernel_train", kernel_train, device)
    size = theta.shape[0]
    cross = _finite("kernel_cross", kernel_cross, theta.device, ndim_min=2)
    if cross.ndim != 2 or cross.shape[0] != size:
        raise ValueError(f"kernel_cross must have shape ({size}, M) = Θ(X, x_test) to match kernel_train, "
                         f"got {tuple(cross.shape)}")
    dz = _with_length("delta_z", _finite("delta_z", delta_z, theta.device), size, "kernel_train")
    tests = cross.shape[1]
    if initial is None:
        start = torch.zeros(tests, dtype=torch.float64, device=theta.device)
    else:
        start = _with_length("initial", _finite("initial", initial, theta.device), tests, "kernel_cross's M")
    factor = cholesky_factor(theta, jitter=jitter)
    u = _whiten(factor, dz)
    batch = torch.broadcast_shapes(u.shape[:-1], start.shape[:-1])
    return factor, cross, u.expand(*batch, size), start


def prefix_predictions(kernel_train: ArrayLike, kernel_cross: ArrayLike, delta_z: ArrayLike, *,
                       initial: ArrayLike | None = None, jitter: float = 0.0) -> Tensor:
    """Predictions of the converged student trained on each prefix n = 1 … N, at every test input.

    z_s^(n)(x) = f(x; w₀) + Θ(x, X_n) Θ_n⁻¹ Δz_n (Eq. 4 evaluated off the training set), computed as
    f(x; w₀) + Σ_{i ≤ n} k_i(x) u_i with u = L⁻¹Δz and k(x) = L⁻¹Θ(X, x) from one Cholesky factor
    Θ_N = LLᵀ (module docstring). The output holds N × M numbers per target vector; for risk
    curves over many test inputs use :func:`transfer_risk_curve`, which never stores them all.

    Args:
        kernel_train: (N, N) positive-definite Θ(X, X) of the pool, samples in prefix order.
        kernel_cross: (N, M) Θ(X, x_test), the same kernel between pool and test inputs.
        delta_z: (..., N) logit changes Δz = z − f(X; w₀) (one row per target, e.g. per ρ).
        initial: (..., M) f(x_test; w₀), the student at initialization (batch dimensions broadcast
            with delta_z's); None for a bias-free student.
        jitter: added to Θ's diagonal (default 0).
    Returns:
        (..., N, M) float64; entry [..., n − 1, m] is z_s^(n)(x_m).
    Raises:
        ValueError: shapes disagree, non-finite entries, or Θ not positive definite.
    """
    factor, cross, u, start = _prefix_setup(kernel_train, kernel_cross, delta_z, initial, jitter)
    whitened = torch.linalg.solve_triangular(factor, cross, upper=False)  # (N, M)
    return start.unsqueeze(-2) + torch.cumsum(u.unsqueeze(-1) * whitened, dim=-2)


def transfer_risk(z_t: ArrayLike, z_s: ArrayLike) -> tuple[Tensor, Tensor]:
    """Transfer risk R = P_x[z_t · z_s < 0] (Sec. 3) on a sample, with its binomial standard error.

    Args:
        z_t: (..., M) teacher logits on M test inputs drawn from P(x).
        z_s: (..., M) student logits on the same inputs; batch dimensions broadcast.
    Returns:
        (risk, standard_error), each (...): the fraction of inputs where the signs disagree strictly
        and √(R(1 − R)/M), the standard error of that fraction for independent test inputs.
    """
    device = first_device(z_t, z_s)
    teacher = _finite("z_t", z_t, device)
    student = _finite("z_s", z_s, teacher.device)
    if teacher.shape[-1] != student.shape[-1]:
        raise ValueError(f"z_t and z_s must have the same number of test inputs, got {teacher.shape[-1]} "
                         f"and {student.shape[-1]}")
    tests = teacher.shape[-1]
    risk = ((teacher * student) < 0).double().mean(-1)
    return risk, (risk * (1 - risk) / tests).sqrt()


@dataclass(frozen=True)
class RiskCurve:
    """Transfer risk for every prefix n = 1 … N, measured on ``test_points`` test inputs.

    Attributes:
        risk: (..., N) fraction of test inputs on which teacher and student disagree in sign.
        standard_error: (..., N) binomial √(R(1 − R)/M): the test sample's error, per n.
        test_points: M.
    """

    risk: Tensor
    standard_error: Tensor
    test_points: int


def transfer_risk_curve(kernel_train: ArrayLike, kernel_cross: ArrayLike, delta_z: ArrayLike, z_t_test: ArrayLike,
                        *, initial: ArrayLike | None = None, jitter: float = 0.0,
                        chunk_entries: int = _CHUNK_ENTRIES, progress: bool = False) -> RiskCurve:
    """The whole risk curve R(n) = P_x[z_t(x) z_s^(n)(x) < 0], n = 1 … N, from one Cholesky factor.

    The predictions of :func:`prefix_predictions` are formed for a block of test inputs at a time
    (``chunk_entries`` numbers per block, whitened by one triangular solve per block) and reduced
    to disagreement counts at once, so memory stays O(N² + N·M + chunk_entries) however many test
    inputs there are.

    Args:
        kernel_train: (N, N) Θ(X, X), samples in prefix order.
        kernel_cross: (N, M) Θ(X, x_test).
        delta_z: (..., N) logit changes Δz = z − f(X; w₀) (e.g. one row per soft ratio ρ).
        z_t_test: (..., M) teacher logits on the test inputs (only their signs matter); batch
            dimensions broadcast with delta_z's (one reference per target, if needed).
        initial: (..., M) f(x_test; w₀); None for a bias-free student.
        jitter: added to Θ's diagonal (default 0).
        chunk_entries: the largest block of predictions held at once (≥ 1).
        progress: show a tqdm bar over the blocks.
    Returns:
        :class:`RiskCurve` with (..., N) risks and standard errors.
    Raises:
        ValueError: shapes disagree, non-finite entries, bad chunk size, or Θ not positive definite.
    """
    if not isinstance(chunk_entries, int) or isinstance(chunk_entries, bool) or chunk_entries < 1:
        raise ValueError(f"chunk_entries must be an integer ≥ 1, got {chunk_entries!r}")
    factor, cross, u, start = _prefix_setup(kernel_train, kernel_cross, delta_z, initial, jitter)
    tests = cross.shape[1]
    teacher = _with_length("z_t_test", _finite("z_t_test", z_t_test, factor.device), tests, "kernel_cross's M")
    batch = torch.broadcast_shapes(u.shape[:-1], teacher.shape[:-1])
    u = u.expand(*batch, u.shape[-1])
    rows = u.numel()  # (batch × N) predictions per test input
    width = max(1, min(tests, chunk_entries // rows))
    counts = torch.zeros(u.shape, dtype=torch.float64, device=factor.device)
    for begin in tqdm(range(0, tests, width), desc="risk curve", disable=not progress):
        stop = min(tests, begin + width)
        whitened = torch.linalg.solve_triangular(factor, cross[:, begin:stop], upper=False)  # (N, c)
        predictions = torch.cumsum(u.unsqueeze(-1) * whitened, dim=-2)  # (..., N, c)
        predictions += start[..., None, begin:stop]
        counts += (predictions.mul_(teacher[..., None, begin:stop]) < 0).sum(-1)
    risk = counts / tests
    return RiskCurve(risk=risk, standard_error=(risk * (1 - risk) / tests).sqrt(), test_points=tests)


def feature_cosines(z: ArrayLike, kernel_diagonal: ArrayLike, oracle_norm: ArrayLike) -> Tensor:
    """cos ᾱ(φ(x), u) = |uᵀφ(x)| / (‖u‖₂ √Θ(x, x)) for test inputs x (Eq. 8, with the absolute value).

    Here u = Δw* − Δw_z is the oracle weight change net of the zero weight change, so uᵀφ(x) is the
    effective logit z_eff(x) the oracle represents (Sec. 3), and ‖φ(x)‖₂ = √Θ(x, x). The paper's Eq. 8
    omits the absolute value; the cosine of an acute angle is never negative.

    Args:
        z: (..., M) oracle logits uᵀφ(x) at the test inputs.
        kernel_diagonal: (M,) Θ(x, x) > 0.
        oracle_norm: ‖u‖₂ > 0, a number or a (...) tensor broadcasting with z's batch dimensions.
    Returns:
        (..., M) cosines in [0, ∞); a value above 1 means ‖u‖ is too small to represent z (it cannot
        exceed 1 for a true oracle, by Cauchy–Schwarz).
    """
    device = first_device(z, kernel_diagonal, oracle_norm)
    logits = _finite("z", z, device)
    diagonal = _finite("kernel_diagonal", kernel_diagonal, logits.device)
    norm = as_float64("oracle_norm", oracle_norm, logits.device)
    if diagonal.shape != (logits.shape[-1],):
        raise ValueError(f"kernel_diagonal must have shape ({logits.shape[-1]},), got {tuple(diagonal.shape)}")
    if bool((diagonal <= 0).any()):
        raise ValueError("kernel_diagonal must be positive (it is ‖φ(x)‖²)")
    if bool((norm <= 0).any()) or not bool(torch.isfinite(norm).all()):
        raise ValueError("oracle_norm must be finite and positive")
    return logits.abs() / (norm.unsqueeze(-1) * diagonal.sqrt())


def angle_distribution(cosines: ArrayLike, beta: ArrayLike) -> Tensor:
    """p(β) = P_x[ᾱ(φ(x), u) > β] (Eq. 6), estimated on a sample: the fraction with cos ᾱ < cos β.

    Args:
        cosines: (..., M) feature cosines cos ᾱ(φ(x), u) from :func:`feature_cosines`.
        beta: (K,) angles in [0, π/2].
    Returns:
        (..., K) float64: p at each β.
    """
    device = first_device(cosines, beta)
    values = _finite("cosines", cosines, device)
    angles = _finite("beta", beta, values.device)
    if angles.ndim != 1:
        raise ValueError(f"beta must be a 1-D tensor of angles, got shape {tuple(angles.shape)}")
    if bool(((angles < 0) | (angles > math.pi / 2)).any()):
        raise ValueError("beta must lie in [0, π/2]")
    ordered = torch.sort(values, dim=-1).values
    thresholds = torch.cos(angles).expand(*values.shape[:-1], -1).contiguous()
    return torch.searchsorted(ordered, thresholds, side="left").double() / values.shape[-1]


def eq9_angle(norms: ArrayLike, oracle_norm: ArrayLike) -> Tensor:
    """ᾱ'_n = α(Δŵ_n, Δw*) from cos ᾱ'_n = ‖Δŵ_n‖₂ / ‖Δw*‖₂ (Eq. 9), evaluated without arccos.

    Eq. 9 holds because Δŵ_n = P_Φ Δw* is an orthogonal projection (Eq. 5): Δw*ᵀP_ΦΔw* = ‖P_ΦΔw*‖².
    (The paper's middle expression writes √(Δw*ᵀΘ_n⁻¹Δw*), a typo for √(Δz_nᵀΘ_n⁻¹Δz_n) = ‖Δŵ_n‖₂.)
    The angle is atan2(√(‖Δw*‖² − ‖Δŵ_n‖²), ‖Δŵ_n‖), accurate near 0 where arccos loses half the digits.

    Args:
        norms: (..., N) ‖Δŵ_n‖₂ (e.g. ``weight_change_norms``), each ≤ ‖Δw*‖₂.
        oracle_norm: ‖Δw*‖₂, a number or a (...) tensor broadcasting with norms' batch dimensions.
    Returns:
        (..., N) angles in [0, π/2].
    Raises:
        ValueError: a norm above the oracle's (a projection cannot be longer than the vector), negative
            or non-finite values. Rounding of up to 1e-12 relative is tolerated and clamped.
    """
    device = first_device(norms, oracle_norm)
    student = _finite("norms", norms, device)
    oracle = as_float64("oracle_norm", oracle_norm, student.device).unsqueeze(-1)
    if bool((student < 0).any()) or bool((oracle <= 0).any()) or not bool(torch.isfinite(oracle).all()):
        raise ValueError("norms must be ≥ 0 and oracle_norm finite and > 0")
    excess = student - oracle
    if bool((excess > 1e-12 * oracle).any()):
        worst = (student / oracle).max().item()
        raise ValueError(f"a norm exceeds the oracle's (ratio {worst:.6g}): Δŵ_n = P_ΦΔw* cannot be longer "
                         "than Δw*; the oracle norm is underestimated")
    residual = (oracle.square() - student.square()).clamp_min(0).sqrt()
    return torch.atan2(residual, student)


def risk_bound(cosines: ArrayLike, angle: ArrayLike) -> Tensor:
    """Theorem 1's bound p(π/2 − ᾱ_n) on a sample of inputs: the fraction with cos ᾱ(φ(x), u) ≤ sin ᾱ_n.

    ᾱ(φ(x), u) ≥ π/2 − ᾱ_n is the same event as cos ᾱ(φ(x), u) ≤ cos(π/2 − ᾱ_n) = sin ᾱ_n; the proof
    (Sec. S3) shows that student and oracle can disagree only there. The closed event differs from
    p's strict one only where a cosine equals sin ᾱ_n exactly (probability zero for continuous inputs),
    and makes the bound hold pointwise on the sample, ties included.

    Args:
        cosines: (..., M) feature cosines (:func:`feature_cosines`).
        angle: (..., N) acute angles ᾱ_n in [0, π/2] between oracle and student (e.g. :func:`eq9_angle`);
            batch dimensions broadcast with the cosines'.
    Returns:
        (..., N) bounds in [0, 1].
    """
    device = first_device(cosines, angle)
    values = _finite("cosines", cosines, device)
    angles = _finite("angle", angle, values.device)
    if bool(((angles < 0) | (angles > math.pi / 2 + 1e-12)).any()):
        raise ValueError("angle must lie in [0, π/2] (an acute angle ᾱ_n)")
    batch = torch.broadcast_shapes(values.shape[:-1], angles.shape[:-1])
    ordered = torch.sort(values.expand(*batch, values.shape[-1]), dim=-1).values.contiguous()
    thresholds = torch.sin(angles).expand(*batch, angles.shape[-1]).contiguous()
    return torch.searchsorted(ordered, thresholds, side="right").double() / values.shape[-1]


def phuong_lampert_bound(cosines: ArrayLike, n: ArrayLike, *, grid: int = 2001) -> Tensor:
    """The earlier bound R_n ≤ min_β p(β) + p(π/2 − β)ⁿ (Phuong & Lampert, 2019; the paper's Sec. 3.2, S6).

    p is the sample estimate of :func:`angle_distribution`. It is a step function of β that jumps only
    where cos β equals a sample cosine, so the minimum over β is attained at β = 0, π/2, a breakpoint
    arccos(c_x), or a mirrored breakpoint π/2 − arccos(c_x); the minimum is taken over those (the
    sample's breakpoints, capped at ``grid`` quantiles of them for large samples) plus a uniform grid.

    Args:
        cosines: (M,) feature cosines.
        n: (K,) sample sizes ≥ 1.
        grid: points of the uniform β grid, also the cap on breakpoints used (≥ 2).
    Returns:
        (K,) float64 bounds (can exceed 1: the bound is then vacuous).
    """
    device = first_device(cosines, n)
    values = _finite("cosines", cosines, device)
    sizes = _finite("n", n, values.device)
    if values.ndim != 1 or sizes.ndim != 1:
        raise ValueError("cosines and n must be 1-D")
    if bool((sizes < 1).any()):
        raise ValueError("n must be ≥ 1")
    if not isinstance(grid, int) or grid < 2:
        raise ValueError(f"grid must be an integer ≥ 2, got {grid!r}")
    breaks = torch.arccos(values.clamp(0.0, 1.0))
    if breaks.numel() > grid:
        breaks = torch.quantile(breaks, torch.linspace(0, 1, grid, dtype=torch.float64, device=values.device))
    uniform = torch.linspace(0, math.pi / 2, grid, dtype=torch.float64, device=values.device)
    betas = torch.cat([uniform, breaks, math.pi / 2 - breaks]).clamp(0.0, math.pi / 2)
    betas = torch.unique(torch.cat([betas, torch.nextafter(betas, torch.zeros_like(betas)).clamp_min(0.0)]))
    p = angle_distribution(values, betas)
    p_mirror = angle_distribution(values, (math.pi / 2 - betas).clamp(0.0, math.pi / 2))
    return (p[None, :] + p_mirror[None, :] ** sizes[:, None]).min(-1).values


def _tail(values: Tensor) -> Tensor:
    """Σ_{i > n} values_i for n = 1 … N (last dimension), summed from the end: no cancellation."""
    from_end = torch.flip(torch.cumsum(torch.flip(values, [-1]), -1), [-1])  # Σ_{i ≥ n}
    return torch.cat([from_end[..., 1:], torch.zeros_like(from_end[..., :1])], -1)


def projected_student_angle(kernel: ArrayLike, oracle: ArrayLike, initial: ArrayLike | None = None, *,
                            jitter: float = 0.0) -> Tensor:
    """Angle α(u, v_n) ∈ [0, π] between an oracle in span φ(X_N) and the student trained on each prefix n.

    The oracle is u = φ(X)Θ_N⁻¹a, the least-norm weight change with uᵀφ(x_i) = a_i on all N pool
    samples (a = ``oracle``: e.g. the effective logits). The student starts from the function
    bᵀφ(x) with b = φ(X)Θ_N⁻¹c (c = ``initial``: f(X; w₀)), the pool's least-norm representation of its
    initial function, i.e. −Δw_z of Sec. 3; trained on the first n samples it ends at
    v_n = b + φ(X_n)Θ_n⁻¹(a_n − c_n) = P_n u + (I − P_n) b.

    In the orthonormal basis φ(X)L⁻ᵀ of the span (Θ_N = LLᵀ), P_n keeps the first n coordinates, so
    u = L⁻¹a and v_n = (L⁻¹a for i ≤ n, L⁻¹c for i > n): with x the shared head, y and z the two tails,
    ⟨u, v_n⟩ = ‖x‖² + y·z and ‖u‖²‖v_n‖² − ⟨u, v_n⟩² = ‖x‖²‖y − z‖² + (‖y‖²‖z‖² − (y·z)²). The tails are
    summed from the end, so the sine keeps its digits for small angles. Without ``initial`` the student
    is P_n u and cos α = ‖x‖ / ‖u‖ (Eq. 9).

    Args:
        kernel: (N, N) positive-definite Θ_N, samples in prefix order.
        oracle: (..., N) the oracle's logits a on the pool.
        initial: (..., N) the initial function c = f(X; w₀) on the pool, or None.
        jitter: added to Θ's diagonal (default 0).
    Returns:
        (..., N) float64 angles; entry n − 1 belongs to the prefix n.
    """
    device = first_device(kernel, oracle, initial)
    theta = _square_kernel("kernel", kernel, device)
    size = theta.shape[0]
    a = _with_length("oracle", _finite("oracle", oracle, theta.device), size, "the kernel")
    factor = cholesky_factor(theta, jitter=jitter)
    wa = _whiten(factor, a)
    wc = torch.zeros_like(wa) if initial is None else _whiten(
        factor, _with_length("initial", _finite("initial", initial, theta.device), size, "the kernel"))
    wa, wc = torch.broadcast_tensors(wa, wc)
    head = torch.cumsum(wa.square(), -1)  # ‖x‖²
    tail_a, tail_c, tail_ac = _tail(wa.square()), _tail(wc.square()), _tail(wa * wc)
    inner = head + tail_ac
    gram = head * _tail((wa - wc).square()) + (tail_a * tail_c - tail_ac.square()).clamp_min(0)
    return torch.atan2(gram.sqrt(), inner)
