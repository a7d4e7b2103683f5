"""The converged linearized student in closed form (Eqs. 4, 5, 9–12 of the paper).

A wide student trained to convergence changes its weights by Δŵ = φ(X) Θ_n⁻¹ Δz (Eq. 4), where
φ(X) holds the random features of the n training points, Θ_n = φ(X)ᵀφ(X) is their kernel and
Δz = z − z₀ the change of the training logits. Every quantity of Secs. 3–5 is an inner product
of such weight changes, and φ drops out of all of them:

    ⟨φΘ⁻¹a, φΘ⁻¹b⟩ = aᵀ Θ⁻¹ Θ Θ⁻¹ b = aᵀ Θ⁻¹ b = ⟨a, b⟩_Θn      (Sec. 5 notation),

so the functions here take only the kernel and logit vectors. All of them factor Θ once with a
Cholesky decomposition Θ = L Lᵀ (float64) and work with the whitened vectors u = L⁻¹a, for which
⟨a, b⟩_Θn = uᵀv. That is both the cheapest and the most accurate way: no explicit inverse, and a
triangular solve is backward stable.

Rank problems are reported, never hidden: if Θ is not numerically positive definite — the
Cholesky factorization fails, or one of its pivots is so small relative to its diagonal entry that
it is rounding noise (``min_pivot``, see :func:`cholesky_factor`) — a ValueError names the sample
where it happened; a caller who wants a regularized answer must ask for it with ``jitter=`` (added
to the diagonal, and therefore visible in the caller's code and text). A kernel that is not
symmetric (to rounding) is rejected rather than read through its lower triangle.

Outputs are detached from autograd (the kernel and the vectors are read as data).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from kdlib._validate import ArrayLike, as_float64, first_device

__all__ = [
    "cholesky_factor",
    "closed_form_student",
    "theta_inner",
    "weight_change_angle",
    "hard_label_derivative",
    "weight_change_norms",
    "expected_squared_norms",
    "data_inefficiency",
    "windowed_data_inefficiency",
]


# Asymmetry accepted as rounding, in units of the input dtype's ε times max|Θ|: an inner product of
# length P carries a rounding error of ~√P·ε relative to the product of the norms, so 4096 ε admits
# Gram matrices over up to ~1.6e7 features (1e-12 for float64 input, 5e-4 for float32).
_SYMMETRY_ULPS = 4096
# Default relative pivot threshold of cholesky_factor (see its docstring).
_MIN_PIVOT = 1e-10
_CHUNK_ENTRIES = 1 << 20


def _kernel(kernel: ArrayLike, device: torch.device | None = None) -> Tensor:
    if isinstance(kernel, Tensor) and kernel.dtype == torch.float64:
        theta = kernel.detach() if device is None else kernel.detach().to(device)  # one finiteness pass below
    else:
        theta = as_float64("kernel", kernel, device)
    if theta.ndim < 2 or theta.shape[-1] != theta.shape[-2]:
        raise ValueError(f"kernel must have shape (..., N, N), got {tuple(theta.shape)}")
    if theta.shape[-1] == 0:
        raise ValueError("kernel must hold at least one sample (N ≥ 1), got N = 0")
    if not bool(torch.isfinite(theta).all()):
        raise ValueError("kernel contains NaN or inf; every entry must be finite")
    source = kernel.dtype if isinstance(kernel, Tensor) and kernel.dtype.is_floating_point else torch.float64
    _check_symmetric(theta, min(_SYMMETRY_ULPS * torch.finfo(source).eps, 1e-2))
    return theta


def _check_symmetric(theta: Tensor, tolerance: float) -> None:
    """Raise unless max|Θ − Θᵀ| ≤ tolerance · max|Θ| for every matrix of the batch (row blocks: O(block · N) memory)."""
    n = theta.shape[-1]
    rows = max(1, _CHUNK_ENTRIES // n)
    worst = torch.zeros(theta.shape[:-2], dtype=theta.dtype, device=theta.device)
    for start in range(0, n, rows):
        block = theta[..., start:start + rows, :] - theta[..., :, start:start + rows].mT
        worst = torch.maximum(worst, block.abs().amax(dim=(-2, -1)))
    scale = theta.abs().amax(dim=(-2, -1))
    bad = worst > tolerance * scale
    if bool(bad.any()):
        batch = int(torch.nonzero(bad.reshape(-1))[0, 0])
        matrix = theta.reshape(-1, n, n)[batch]
        entry = int(torch.argmax((matrix - matrix.T).abs()))
        i, j = divmod(entry, n)
        where = f" (batch entry {batch})" if theta.ndim > 2 else ""
        raise ValueError(
            f"kernel is not symmetric{where}: Θ[{i}, {j}] = {matrix[i, j].item():.6g} but Θ[{j}, {i}] = "
            f"{matrix[j, i].item():.6g}, a difference above {tolerance:.1g} × max|Θ| "
            f"({scale.reshape(-1)[batch].item():.3g}); Θ_n must be a symmetric Gram matrix (a cross kernel "
            "Θ(X₁, X₂) or a transposed product is not one). If the asymmetry is rounding of your own "
            "computation, symmetrize it explicitly: (K + K.mT) / 2."
        )


def _vector(name: str, value: ArrayLike, size: int, device: torch.device) -> Tensor:
    vector = as_float64(name, value, device)
    if vector.ndim < 1 or vector.shape[-1] != size:
        raise ValueError(f"{name} must have shape (..., {size}) to match the kernel, got {tuple(vector.shape)}")
    if not torch.isfinite(vector).all():
        raise ValueError(f"{name} contains inf; every entry must be finite")
    return vector


def _check_jitter(jitter: float, min_pivot: float) -> None:
    if not (isinstance(jitter, int | float) and math.isfinite(jitter) and jitter >= 0):
        raise ValueError(f"jitter must be a finite number ≥ 0, got {jitter!r}")
    if not (isinstance(min_pivot, int | float) and 0 <= min_pivot < 1):
        raise ValueError(f"min_pivot must be a number in [0, 1), got {min_pivot!r}")


def _factor(theta: Tensor, jitter: float, min_pivot: float = _MIN_PIVOT) -> Tensor:
    """Cholesky factor of a validated Θ + jitter·I; ValueError at the first failed or negligible pivot."""
    if jitter:
        theta = theta + jitter * torch.eye(theta.shape[-1], dtype=theta.dtype, device=theta.device)
    factor, info = torch.linalg.cholesky_ex(theta)
    n = theta.shape[-1]
    diagonal = theta.diagonal(dim1=-2, dim2=-1)
    pivots = factor.diagonal(dim1=-2, dim2=-1).square()  # Θ_kk minus its projection on samples 0 … k−1
    index = torch.arange(n, device=theta.device)
    failed = torch.where(info > 0, info - 1, n).unsqueeze(-1)  # 0-based pivot where LAPACK stopped, else n
    bad = ((pivots <= min_pivot * diagonal) & (index < failed)) | (index == failed)
    if not bool(bad.any()):
        return factor
    flat = bad.reshape(-1, n)
    batch = int(torch.nonzero(flat.any(-1))[0, 0])
    k = int(torch.nonzero(flat[batch])[0, 0])
    where = f" (batch entry {batch})" if theta.ndim > 2 else ""
    diag_k = diagonal.reshape(-1, n)[batch, k].item()
    if k == int(failed.reshape(-1)[batch]):
        detail = "its remaining variance Θ_kk − (projection on the samples before it) is not positive"
    else:
        pivot = pivots.reshape(-1, n)[batch, k].item()
        ratio = pivot / diag_k if diag_k > 0 else 0.0
        detail = (f"its pivot² {pivot:.3g} is {ratio:.2g} of Θ_kk = {diag_k:.3g}, below min_pivot = {min_pivot:g}, "
                  "i.e. at the level of the factorization's rounding")
    raise ValueError(
        f"kernel is not positive definite{where}: the Cholesky factorization broke down at pivot {k + 1} of {n} "
        f"(sample index {k}, counting from 0), so the first {k + 1} samples already give a singular Θ_n: {detail}. "
        f"Sample {k} is (nearly) a combination of the samples before it in feature space — a duplicated or "
        f"near-duplicate input? Remove duplicate samples or pass an explicit jitter > 0 (jitter={jitter!r})."
    )


def _checked_factor(theta: Tensor, jitter: float) -> Tensor:
    _check_jitter(jitter, _MIN_PIVOT)
    return _factor(theta, jitter)


def cholesky_factor(kernel: ArrayLike, *, jitter: float = 0.0, min_pivot: float = _MIN_PIVOT) -> Tensor:
    """Lower Cholesky factor L of Θ + jitter·I (float64), with a clear error where it fails.

    L_kk² is what is left of Θ_kk after projecting sample k on the samples before it (the squared
    sine of the angle between φ(x_k) and the span of φ(x_0 … x_{k−1}), times Θ_kk). Cholesky is
    backward stable: the computed factor is exact for Θ + E with |E_ij| ≲ c·N·ε·√(Θ_ii Θ_jj)
    (Higham, *Accuracy and Stability of Numerical Algorithms*, Thm. 10.3), so a pivot with
    L_kk² ≲ N·ε·Θ_kk is rounding noise, and every weight change computed from it would be too.
    The default ``min_pivot`` = 1e-10 rejects L_kk² ≤ 1e-10·Θ_kk: it keeps every accepted pivot
    at least ~50× above that noise for N ≤ 10⁴ samples (its own relative error below 2 %, and
    typically far lower). For the NTK of Eq. 1, L_kk² of a near-duplicate pair grows linearly with
    the distance of the inputs, so the threshold trips for inputs closer than ~1e-10 relative; the
    kernels of this project's experiments have min L_kk²/Θ_kk between 1e-6 and 1e-3.

    Args:
        kernel: (..., N, N) symmetric positive-definite kernel Θ_N (symmetric to 4096 ε of its input
            dtype times max|Θ|: 1e-12 for float64).
        jitter: non-negative value added to the diagonal before factoring (default 0: none).
            Anything added here changes the answer; callers that use it should say so.
        min_pivot: relative pivot threshold in [0, 1): a pivot with L_kk² ≤ min_pivot·(Θ_kk + jitter)
            raises (0 only rejects a failed factorization).
    Returns:
        (..., N, N) lower-triangular L with L Lᵀ = Θ + jitter·I.
    Raises:
        ValueError: bad shape, jitter or min_pivot; a kernel that is not symmetric (names the entry);
            or one that is not numerically positive definite — the message names the first pivot
            (sample index) where the factorization broke down or fell below ``min_pivot``, the
            matrix index in the batch, and the jitter used.
    """
    theta = _kernel(kernel)
    _check_jitter(jitter, min_pivot)
    return _factor(theta, jitter, min_pivot)


def _whiten(factor: Tensor, vector: Tensor) -> Tensor:
    """u = L⁻¹ v for (..., N) vectors, broadcasting batch dimensions."""
    solved = torch.linalg.solve_triangular(factor, vector.unsqueeze(-1), upper=False)
    return solved.squeeze(-1)


def closed_form_student(kernel: ArrayLike, delta_z: ArrayLike, *, jitter: float = 0.0) -> Tensor:
    """Coefficients c = Θ_n⁻¹ Δz of the converged student's weight change Δŵ = φ(X) c (Eq. 4).

    A linearized student trained to convergence on the training points X reaches the target
    logits z with the smallest weight change in span φ(X) (gradient flow never leaves it), which
    is φ(X) Θ_n⁻¹ Δz with Δz = z − f(X; w₀). Multiplying c by φ(X) — a single vector-Jacobian
    product of the network at w₀ — gives Δŵ itself. Solved with a Cholesky factor (float64).

    Args:
        kernel: (..., N, N) positive-definite kernel Θ_n (empirical or analytic NTK).
        delta_z: (..., N) logit changes Δz.
        jitter: added to Θ's diagonal before solving (default 0; see :func:`cholesky_factor`).
    Returns:
        (..., N) float64 tensor c on the kernel's device.
    Raises:
        ValueError: shapes disagree, or Θ is not positive definite (reports where it broke).
    """
    device = first_device(kernel, delta_z)
    theta = _kernel(kernel, device)
    dz = _vector("delta_z", delta_z, theta.shape[-1], theta.device)
    factor = _checked_factor(theta, jitter)
    return torch.cholesky_solve(dz.unsqueeze(-1), factor).squeeze(-1)


def theta_inner(a: ArrayLike, b: ArrayLike, kernel: ArrayLike, *, jitter: float = 0.0) -> Tensor:
    """⟨a, b⟩_Θn = aᵀ Θ_n⁻¹ b (Sec. 5), the inner product of the weight changes φΘ⁻¹a and φΘ⁻¹b.

    Computed as (L⁻¹a)ᵀ(L⁻¹b) with one Cholesky factor, which is symmetric in a and b by
    construction and never forms Θ⁻¹.

    Args:
        a, b: (..., N) logit vectors.
        kernel: (..., N, N) positive-definite Θ_n.
    Returns:
        (...) float64 tensor.
    """
    device = first_device(kernel, a, b)
    theta = _kernel(kernel, device)
    size = theta.shape[-1]
    factor = _checked_factor(theta, jitter)
    a_, scale_a = _split_scale(_vector("a", a, size, theta.device))
    b_, scale_b = _split_scale(_vector("b", b, size, theta.device))
    value = (_whiten(factor, a_) * _whiten(factor, b_)).sum(-1) * scale_a.squeeze(-1) * scale_b.squeeze(-1)
    return _finite(value, "⟨a, b⟩_Θn")


def _split_scale(vector: Tensor) -> tuple[Tensor, Tensor]:
    """(vector / m, m) with m = max|vector| along the last dimension (1 for zero rows)."""
    largest = vector.abs().amax(dim=-1, keepdim=True)
    largest = torch.where(largest > 0, largest, 1.0)
    return vector / largest, largest


def _finite(value: Tensor, what: str) -> Tensor:
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{what} exceeds the float64 range (~1.8e308) for these inputs; rescale them")
    return value


def _angle_between(u: Tensor, v: Tensor) -> Tensor:
    """Angle in [0, π] between vectors u and v (last dimension), Kahan's stable formula.

    α = 2·atan2(‖û − v̂‖, ‖û + v̂‖) with unit vectors û, v̂: accurate to full precision near
    0 and π, where arccos of the cosine loses half the digits. Each vector is divided by its
    largest entry first, so that ‖u‖² can neither overflow nor underflow.
    """
    u = u / u.abs().amax(dim=-1, keepdim=True)
    v = v / v.abs().amax(dim=-1, keepdim=True)
    unit_u = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)
    unit_v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    difference = torch.linalg.vector_norm(unit_u - unit_v, dim=-1)
    total = torch.linalg.vector_norm(unit_u + unit_v, dim=-1)
    return (2.0 * torch.atan2(difference, total)).clamp(0.0, math.pi)


def weight_change_angle(
    kernel: ArrayLike, a: ArrayLike, b: ArrayLike, *, acute: bool = False, jitter: float = 0.0
) -> Tensor:
    """Angle α between the weight changes φΘ_n⁻¹a and φΘ_n⁻¹b (Eq. 11; ᾱ of Eqs. 7 and 9 if ``acute``).

    cos α = ⟨a, b⟩_Θn / √(⟨a, a⟩_Θn ⟨b, b⟩_Θn) (Eq. 11). In whitened coordinates u = L⁻¹a,
    v = L⁻¹b the weight changes have the same Gram matrix as u and v, so α is the plain angle
    between u and v, evaluated with atan2 (no arccos, so no NaN or lost digits near 0 and π).

    Args:
        kernel: (..., N, N) positive-definite Θ_n.
        a, b: (..., N) logit changes; neither may be all zeros.
        acute: return ᾱ = min(α, π − α) ∈ [0, π/2], the acute angle of Sec. 3.
    Returns:
        (...) float64 tensor of angles in radians.
    Raises:
        ValueError: a zero vector (the angle is undefined), bad shapes, or Θ not positive definite.
    """
    device = first_device(kernel, a, b)
    theta = _kernel(kernel, device)
    size = theta.shape[-1]
    a_ = _vector("a", a, size, theta.device)
    b_ = _vector("b", b, size, theta.device)
    for name, vector in (("a", a_), ("b", b_)):
        if bool((vector == 0).all(-1).any()):
            raise ValueError(f"{name} is the zero vector; the angle of a zero weight change is undefined")
    factor = _checked_factor(theta, jitter)
    # α does not change when a or b is scaled; scaling both to a largest entry of 1 keeps their
    # whitened versions in range for any magnitude (1e-300 … 1e300).
    u, v = torch.broadcast_tensors(_whiten(factor, _split_scale(a_)[0]), _whiten(factor, _split_scale(b_)[0]))
    angle = _angle_between(u, v)
    return torch.minimum(angle, math.pi - angle) if acute else angle


def hard_label_derivative(
    kernel: ArrayLike,
    delta_z_g: ArrayLike,
    delta_z_t: ArrayLike,
    delta_z_h: ArrayLike,
    *,
    jitter: float = 0.0,
) -> Tensor:
    """The bracket of Eq. 12 (Theorem 2): ⟨δŵ_h, Δŵ_c⟩ = ⟨g, h⟩ − ⟨g, t⟩⟨t, h⟩ / ⟨t, t⟩ in Θ_n.

    Here g = Δz_g (ground-truth logits), t = Δz_t (teacher) and h = δz_h (the hard-label
    correction, ``kdlib.hard_label_correction``). Its sign is the sign of
    ∂ cos α(Δŵ, Δw_g) / ∂(1 − ρ) at ρ = 1; the full derivative is this bracket divided by
    ‖Δw_g‖₂ √⟨t, t⟩_Θn. Geometrically it is the projection of the hard labels' weight change
    δŵ_h = φΘ⁻¹δz_h on Δŵ_c, the part of Δŵ_g orthogonal to the teacher's Δŵ_t: in whitened
    coordinates it is exactly that, computed as h_w · (g_w − t_w (t_w·g_w)/(t_w·t_w)).

    Args:
        kernel: (..., N, N) positive-definite Θ_n.
        delta_z_g, delta_z_t, delta_z_h: (..., N) logit vectors; Δz_t must not be zero.
    Returns:
        (...) float64 tensor.
    """
    device = first_device(kernel, delta_z_g, delta_z_t, delta_z_h)
    theta = _kernel(kernel, device)
    size = theta.shape[-1]
    g = _vector("delta_z_g", delta_z_g, size, theta.device)
    t = _vector("delta_z_t", delta_z_t, size, theta.device)
    h = _vector("delta_z_h", delta_z_h, size, theta.device)
    if bool((t == 0).all(-1).any()):
        raise ValueError("delta_z_t is the zero vector; the projection of Eq. 12 needs a teacher weight change")
    factor = _checked_factor(theta, jitter)
    # The bracket is linear in g and in h and does not change with the scale of t: whiten the three
    # divided by their largest entries and scale back, so nothing overflows before the result does.
    (g, scale_g), (t, _), (h, scale_h) = _split_scale(g), _split_scale(t), _split_scale(h)
    g_w, t_w, h_w = torch.broadcast_tensors(_whiten(factor, g), _whiten(factor, t), _whiten(factor, h))
    complement = g_w - t_w * ((t_w * g_w).sum(-1, keepdim=True) / (t_w * t_w).sum(-1, keepdim=True))
    return _finite((h_w * complement).sum(-1) * scale_g.squeeze(-1) * scale_h.squeeze(-1), "the bracket of Eq. 12")


def weight_change_norms(kernel: ArrayLike, delta_z: ArrayLike, *, jitter: float = 0.0) -> Tensor:
    """Norm of the converged student's weight change for every prefix of the samples.

    ‖Δŵ_n‖₂ = √(Δz_nᵀ Θ_n⁻¹ Δz_n) (Eq. 4; Definition 1) for n = 1 … N, where Θ_n and Δz_n keep
    the first n samples. One Cholesky factor of Θ_N serves every n: its leading n × n block is
    the factor of Θ_n, and forward substitution computes the first n entries of u = L⁻¹Δz from
    the first n rows only, so ‖Δŵ_n‖² = Σ_{i ≤ n} u_i² is a cumulative sum. That is one O(N³/3)
    factorization and one O(N²) solve in place of a solve per n.

    Args:
        kernel: (..., N, N) positive-definite Θ_N; leading batch dimensions broadcast with delta_z's.
        delta_z: (..., N) logit changes Δz = z − z₀ of the N samples, in sample order.
        jitter: added to the diagonal before factoring (default 0; see :func:`cholesky_factor`).
    Returns:
        (..., N) float64 tensor; entry n − 1 is ‖Δŵ_n‖₂.
    Raises:
        ValueError: shapes disagree, or Θ is not positive definite (the error names the first
            prefix n whose Θ_n is singular).
    """
    device = first_device(kernel, delta_z)
    theta = _kernel(kernel, device)
    dz = _vector("delta_z", delta_z, theta.shape[-1], theta.device)
    # ‖Δŵ_n‖ is homogeneous in Δz: whiten Δz / max|Δz| and scale back, so that neither the squares
    # nor the solve over- or underflow for any representable Δz.
    scaled, largest = _split_scale(dz)
    whitened = _whiten(_checked_factor(theta, jitter), scaled)
    return _finite(torch.cumsum(whitened.square(), dim=-1).sqrt() * largest, "a weight-change norm ‖Δŵ_n‖")


def expected_squared_norms(
    kernel: ArrayLike, covariance: ArrayLike | None = None, *, jitter: float = 0.0
) -> Tensor:
    """E‖Δŵ_n‖₂² = tr(Θ_n⁻¹ C_n) for Gaussian logit changes Δz ~ N(0, C), for every prefix n.

    The expectation of the quadratic form Δz_nᵀΘ_n⁻¹Δz_n over Δz ~ N(0, C) is tr(Θ_n⁻¹C_n). With the
    Cholesky factor Θ = LLᵀ, the matrix M = L⁻¹ C L⁻ᵀ has as its leading n × n block
    L_n⁻¹ C_n L_n⁻ᵀ (L⁻¹ is lower triangular, so rows ≤ n of L⁻¹ only touch the first n samples),
    whose trace is tr(Θ_n⁻¹C_n); so all N traces are the cumulative sums of diag M. C need only be
    positive semi-definite (it is never factored). Two references of Fig. 3 are of this form:
    random logits Δz ~ N(0, I) (``covariance=None``: tr Θ_n⁻¹, the squared row norms of L⁻¹ summed)
    and the zero function Δz = −f(X; w₀), whose initial logits are, at infinite width, a Gaussian
    process with the NNGP kernel (``covariance=nngp_kernel(x, ...)``).

    Cost: one factorization and two triangular solves with N right-hand sides, O(N³) in all.

    Args:
        kernel: (..., N, N) positive-definite Θ_N.
        covariance: (..., N, N) covariance C of Δz, or None for the identity.
        jitter: added to Θ's diagonal before factoring (see :func:`cholesky_factor`).
    Returns:
        (..., N) float64 tensor; entry n − 1 is tr(Θ_n⁻¹C_n).
    """
    device = first_device(kernel, covariance)
    theta = _kernel(kernel, device)
    factor = cholesky_factor(theta, jitter=jitter)
    size = theta.shape[-1]
    if covariance is None:
        identity = torch.eye(size, dtype=theta.dtype, device=theta.device)
        inverse = torch.linalg.solve_triangular(factor, identity, upper=False)
        diagonal = inverse.square().sum(-1)
    else:
        cov = as_float64("covariance", covariance, theta.device)
        if cov.shape[-2:] != (size, size):
            raise ValueError(f"covariance must have shape (..., {size}, {size}) to match the kernel, "
                             f"got {tuple(cov.shape)}")
        left = torch.linalg.solve_triangular(factor, cov, upper=False)  # L⁻¹C
        whitened = torch.linalg.solve_triangular(factor, left.mT, upper=False)  # L⁻¹(L⁻¹C)ᵀ = L⁻¹CL⁻ᵀ
        diagonal = whitened.diagonal(dim1=-2, dim2=-1)
    return torch.cumsum(diagonal, dim=-1)


def data_inefficiency(norms: ArrayLike) -> Tensor:
    """Data inefficiency I(n) = n [ln E‖Δŵ_{n+1}‖₂ − ln E‖Δŵ_n‖₂] (Definition 1, Eq. 10).

    The expectation is the mean over the leading (run) dimension: over random draws of the
    samples and of the student's initialization. I(n) is a discrete ∂ ln E‖Δŵ_n‖ / ∂ ln n:
    0 when more data no longer changes the weights, 1/2 for a weight change that grows like √n.

    Args:
        norms: (runs, ..., N) or (N,) weight-change norms ‖Δŵ_n‖₂ for n = 1 … N, e.g. from
            :func:`weight_change_norms`; a 1-D input is a single run.
    Returns:
        (..., N − 1) float64 tensor; entry n − 1 is I(n) for n = 1 … N − 1.
    Raises:
        ValueError: fewer than two sample sizes, or a norm that is negative or not finite, or a
            mean norm of zero (its logarithm is −∞).
    """
    values = as_float64("norms", norms)
    if values.ndim < 1 or values.shape[-1] < 2:
        raise ValueError(f"norms must have shape (runs, ..., N) with N ≥ 2, got {tuple(values.shape)}")
    if not torch.isfinite(values).all() or bool((values < 0).any()):
        raise ValueError("norms must be finite and ≥ 0 (they are Euclidean norms)")
    mean = values.mean(0) if values.ndim > 1 else values
    if bool((mean == 0).any()):
        raise ValueError("a mean norm E‖Δŵ_n‖ is zero; its logarithm, and so I(n), is undefined")
    log_mean = torch.log(mean)
    n = torch.arange(1, values.shape[-1], dtype=torch.float64, device=values.device)
    return n * torch.diff(log_mean, dim=-1)


def windowed_data_inefficiency(norms: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> Tensor:
    """Eq. 10 averaged over n ∈ [lower, upper) with weights 1/n: a smoothed I(n) with the same meaning.

    Because n · I(n) telescopes, Σ_{k=a}^{b−1} I(k)/k = ln E‖Δŵ_b‖ − ln E‖Δŵ_a‖ exactly, so the
    1/k-weighted mean of Eq. 10 over the window is

        Ī(a, b) = (ln E‖Δŵ_b‖ − ln E‖Δŵ_a‖) / Σ_{k=a}^{b−1} 1/k,

    the log–log secant slope up to Σ 1/k ≈ ln(b/a). Single values of Eq. 10 are noisy (one new
    sample changes the norm by one whitened component, a χ²-like draw); the window averages
    ln(b/a) / ln(1 + 1/n) of them, while a constant or a power law passes through unchanged
    (a norm ∝ n^γ gives Ī → γ like I(n) does).

    Args:
        norms: (runs, ..., N) or (N,) norms ‖Δŵ_n‖ for n = 1 … N (the mean is over the first dimension).
        lower, upper: window ends a < b, integers in [1, N] (broadcast together; tensors or numbers).
    Returns:
        float64 tensor of shape (..., *broadcast(lower, upper).shape).
    Raises:
        ValueError: bad windows, or norms as :func:`data_inefficiency` rejects them.
    """
    values = as_float64("norms", norms)
    if values.ndim < 1 or values.shape[-1] < 2:
        raise ValueError(f"norms must have shape (runs, ..., N) with N ≥ 2, got {tuple(values.shape)}")
    if not torch.isfinite(values).all() or bool((values < 0).any()):
        raise ValueError("norms must be finite and ≥ 0 (they are Euclidean norms)")
    size = values.shape[-1]
    a, b = torch.broadcast_tensors(torch.as_tensor(lower), torch.as_tensor(upper))
    if a.is_floating_point() or b.is_floating_point():
        raise ValueError("lower and upper must be integers (sample sizes)")
    if bool((a < 1).any()) or bool((b > size).any()) or bool((a >= b).any()):
        raise ValueError(f"windows must satisfy 1 ≤ lower < upper ≤ N = {size}")
    mean = values.mean(0) if values.ndim > 1 else values
    if bool((mean == 0).any()):
        raise ValueError("a mean norm E‖Δŵ_n‖ is zero; its logarithm, and so I(n), is undefined")
    log_mean = torch.log(mean)
    harmonic = torch.cat([torch.zeros(1, dtype=torch.float64),
                          torch.cumsum(1.0 / torch.arange(1, size + 1, dtype=torch.float64), 0)])
    a_, b_ = a.to(values.device).long(), b.to(values.device).long()
    rise = log_mean[..., b_ - 1] - log_mean[..., a_ - 1]
    return rise / (harmonic.to(values.device)[b_ - 1] - harmonic.to(values.device)[a_ - 1])
