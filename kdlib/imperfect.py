"""Imperfect teachers (Sec. 5): the student's angle to the ground truth, Theorem 2 for every sample size
at once, and the converged student's predictions off the training set.

Everything here works on one Cholesky factor L of the kernel Θ_N of N training points, used for
every sample size n ≤ N at once. The leading n × n block of L is the factor of Θ_n, and forward
substitution finds the first n entries of u = L⁻¹a from the first n rows alone, so

    ⟨a, b⟩_Θn = a_nᵀ Θ_n⁻¹ b_n = Σ_{i ≤ n} u_i v_i        (u = L⁻¹a, v = L⁻¹b)

is a cumulative sum over i (the prefix idea of :func:`kdlib.student.weight_change_norms`). The same
holds off the training set: with W = L⁻¹ Θ(X, X_test) (one triangular solve for all test points),
the converged student's prediction of Eq. 4 from the first n samples is

    Θ(x, X_n) Θ_n⁻¹ Δz_n = Σ_{i ≤ n} W_{i,x} u_i,

because the leading block of L⁻ᵀ is the inverse of the leading block of Lᵀ. So a sweep over the
sample size costs one factorization, not one per n.

Quantities (g = Δz_g, t = Δz_t, h = δz_h, s = Δz_{s,eff}; weight changes Δŵ_a = φ(X)Θ_n⁻¹a):

* cos α(Δŵ_s, Δŵ_g) = ⟨g, s⟩ / √(⟨g, g⟩⟨s, s⟩), the cosine of Eq. 11 with the oracle Δw_g replaced by
  its projection Δŵ_g = P_Φ Δw_g, the only part of it the kernel can see. Since
  Δw_gᵀΔŵ_s = Δŵ_gᵀΔŵ_s (Δŵ_s lies in the span of φ(X)), the paper's cosine is this one times
  the constant ‖Δŵ_g‖/‖Δw_g‖ ∈ (0, 1], which depends on neither ρ nor the teacher: every sign and
  every optimum over ρ is the same.
* Eq. 12: ∂cos α/∂(1 − ρ) at ρ = 1 is ⟨δŵ_h, Δŵ_c⟩ / (‖Δŵ_g‖ ‖Δŵ_t‖) with the projection
  ⟨δŵ_h, Δŵ_c⟩ = ⟨g, h⟩ − ⟨g, t⟩⟨t, h⟩/⟨t, t⟩ (``kdlib.student.hard_label_derivative`` for one n).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

from kdlib._validate import ArrayLike, as_float64, check_labels
from kdlib.kernels import empirical_ntk, ntk_kernel
from kdlib.logits import effective_logits, hard_label_correction
from kdlib.nets import NTKMLP, train_kd
from kdlib.student import cholesky_factor

__all__ = [
    "whiten",
    "prefix_inner",
    "ground_truth_cosine",
    "hard_label_geometry",
    "prefix_predictions",
    "sign_errors",
    "imperfect_teacher_run",
    "LinearizedMLP",
    "trained_student_run",
]


def _factor(factor: Tensor) -> Tensor:
    if not isinstance(factor, Tensor) or factor.dtype != torch.float64 or factor.ndim != 2 or (
            factor.shape[0] != factor.shape[1]) or factor.shape[0] == 0:
        shape = tuple(factor.shape) if isinstance(factor, Tensor) else type(factor).__name__
        raise ValueError(f"factor must be a float64 (N, N) lower Cholesky factor (kdlib.student.cholesky_factor), "
                         f"got {shape}")
    return factor


def _vectors(name: str, value: ArrayLike, factor: Tensor) -> Tensor:
    vector = as_float64(name, value, factor.device)
    if vector.ndim < 1 or vector.shape[-1] != factor.shape[0]:
        raise ValueError(f"{name} must have shape (..., {factor.shape[0]}) to match the factor, "
                         f"got {tuple(vector.shape)}")
    if not torch.isfinite(vector).all():
        raise ValueError(f"{name} contains inf; every entry must be finite")
    return vector


def whiten(factor: Tensor, vectors: ArrayLike) -> Tensor:
    """u = L⁻¹v for every (..., N) vector v: the coordinates in which ⟨a, b⟩_Θn = Σ_{i ≤ n} u_i v_i.

    Args:
        factor: (N, N) lower Cholesky factor L of Θ_N (``kdlib.student.cholesky_factor``).
        vectors: (..., N) logit vectors.
    Returns:
        (..., N) float64 tensor on the factor's device.
    """
    factor = _factor(factor)
    v = _vectors("vectors", vectors, factor)
    batch = v.shape[:-1]
    flat = v.reshape(-1, v.shape[-1]).T  # (N, B): one triangular solve for every vector
    return torch.linalg.solve_triangular(factor, flat, upper=False).T.reshape(*batch, v.shape[-1])


def prefix_inner(factor: Tensor, a: ArrayLike, b: ArrayLike) -> Tensor:
    """⟨a_n, b_n⟩_Θn = a_nᵀ Θ_n⁻¹ b_n for every prefix n = 1 … N (Sec. 5 notation), from one factor.

    Args:
        factor: (N, N) lower Cholesky factor of Θ_N.
        a, b: (..., N) logit vectors (broadcast against each other).
    Returns:
        (..., N) float64 tensor; entry n − 1 is ⟨a, b⟩ over the first n samples.
    """
    u, v = torch.broadcast_tensors(whiten(factor, a), whiten(factor, b))
    return torch.cumsum(u * v, dim=-1)


def _cosine(gs: Tensor, gg: Tensor, ss: Tensor) -> Tensor:
    return gs / torch.sqrt(gg * ss)


def ground_truth_cosine(factor: Tensor, delta_z_g: ArrayLike, delta_z_s: ArrayLike) -> Tensor:
    """cos α(Δŵ_s, Δŵ_g) for every prefix n: the cosine of Eq. 11 seen by the kernel.

    cos α = ⟨g, s⟩_Θn / √(⟨g, g⟩_Θn ⟨s, s⟩_Θn) with g = Δz_g, s = Δz_{s,eff}. It is the paper's
    Eq. 11 with the ground-truth oracle Δw_g replaced by its projection Δŵ_g onto the span of
    φ(X_n); the two differ by the factor ‖Δŵ_g‖ / ‖Δw_g‖, independent of the student (see the
    module docstring).

    Args:
        factor: (N, N) lower Cholesky factor of Θ_N.
        delta_z_g: (..., N) ground-truth logit changes z_g − z₀.
        delta_z_s: (..., N) student target changes z_{s,eff} − z₀ (a batch over ρ, say).
    Returns:
        (..., N) float64 tensor; entry n − 1 is the cosine for the first n samples.
    Raises:
        ValueError: shapes that do not match the factor. A prefix on which g or s vanishes has no
            angle; its entry is NaN.
    """
    g, s = torch.broadcast_tensors(whiten(factor, delta_z_g), whiten(factor, delta_z_s))
    return _cosine(torch.cumsum(g * s, -1), torch.cumsum(g * g, -1), torch.cumsum(s * s, -1))


def hard_label_geometry(
    factor: Tensor, delta_z_g: ArrayLike, delta_z_t: ArrayLike, delta_z_h: ArrayLike
) -> dict[str, Tensor]:
    """Theorem 2 for every prefix n: the projection ⟨δŵ_h, Δŵ_c⟩, Eq. 12's derivative and cos α at ρ = 1.

    With g = Δz_g, t = Δz_t and h = δz_h (``kdlib.hard_label_correction``), in Θ_n:

    * ``projection``: ⟨δŵ_h, Δŵ_c⟩ = ⟨g, h⟩ − ⟨g, t⟩⟨t, h⟩ / ⟨t, t⟩, the bracket of Eq. 12; its sign
      says whether hard labels turn the student towards the ground truth;
    * ``derivative``: ∂ cos α(Δŵ, Δŵ_g) / ∂(1 − ρ) at ρ = 1 = projection / (√⟨g, g⟩ √⟨t, t⟩)
      (Eq. 12 with ‖Δw_g‖ replaced by ‖Δŵ_g‖ = √⟨g, g⟩, as in :func:`ground_truth_cosine`);
    * ``cosine``: cos α(Δŵ_t, Δŵ_g), the pure-soft student's cosine (ρ = 1, where z_{s,eff} = z_t).

    Args:
        factor: (N, N) lower Cholesky factor of Θ_N.
        delta_z_g, delta_z_t, delta_z_h: (..., N) logit vectors, broadcast together (e.g. one
            ground truth against a batch of teachers).
    Returns:
        dict of (..., N) float64 tensors; entry n − 1 is for the first n samples.
    """
    g, t, h = torch.broadcast_tensors(whiten(factor, delta_z_g), whiten(factor, delta_z_t),
                                      whiten(factor, delta_z_h))
    gg, tt = torch.cumsum(g * g, -1), torch.cumsum(t * t, -1)
    gt, gh, th = torch.cumsum(g * t, -1), torch.cumsum(g * h, -1), torch.cumsum(t * h, -1)
    projection = gh - gt * th / tt
    return {"projection": projection, "derivative": projection / torch.sqrt(gg * tt), "cosine": _cosine(gt, gg, tt)}


def prefix_predictions(factor: Tensor, cross_kernel: ArrayLike, delta_z: ArrayLike, sizes: Sequence[int]) -> Tensor:
    """Θ(x, X_n) Θ_n⁻¹ Δz_n at new inputs x, for each n in ``sizes``: Eq. 4 off the training set.

    The converged linearized student trained on the first n samples predicts
    z_s(x) = f(x; w₀) + φ(x)ᵀΔŵ = f(x; w₀) + Θ(x, X_n) Θ_n⁻¹ Δz_n; this returns the second term.
    With W = L⁻¹ Θ(X_N, x) (one triangular solve for all new inputs) and u = L⁻¹Δz it is
    Σ_{i ≤ n} u_i W_{i,x} (module docstring), so every n costs one matrix product.

    Args:
        factor: (N, N) lower Cholesky factor of Θ_N.
        cross_kernel: (M, N) Θ(x, X_N) between the M new inputs and the N training inputs.
        delta_z: (..., N) logit changes of the training points (a batch over ρ, say).
        sizes: sample sizes n, each in [1, N].
    Returns:
        (len(sizes), ..., M) float64 tensor.
    """
    factor = _factor(factor)
    count = factor.shape[0]
    cross = as_float64("cross_kernel", cross_kernel, factor.device)
    if cross.ndim != 2 or cross.shape[1] != count:
        raise ValueError(f"cross_kernel must have shape (M, {count}), got {tuple(cross.shape)}")
    sizes = [int(n) for n in sizes]
    if not sizes or any(not 1 <= n <= count for n in sizes):
        raise ValueError(f"sizes must be a non-empty list of sample sizes in [1, {count}], got {sizes}")
    u = whiten(factor, delta_z)
    w = torch.linalg.solve_triangular(factor, cross.T, upper=False)  # (N, M)
    return torch.stack([u[..., :n] @ w[:n] for n in sizes])


def sign_errors(logits: ArrayLike, labels: ArrayLike) -> Tensor:
    """Fraction of points where 1{logit > 0} differs from the label in {0, 1} (last dimension).

    Args:
        logits: (..., M) predictions.
        labels: (M,) or (..., M) labels, 0 or 1.
    Returns:
        (...) float64 tensor of error rates.
    """
    z = as_float64("logits", logits)
    y = as_float64("labels", labels, z.device)
    check_labels("labels", y)
    return ((z > 0).to(torch.float64) != y).to(torch.float64).mean(-1)


def imperfect_teacher_run(
    x_train: Tensor,
    x_test: Tensor,
    y_train: Tensor,
    y_test: Tensor,
    z_ground: Tensor,
    z_teachers: Tensor,
    *,
    middle: Sequence[int],
    rhos: Sequence[float],
    sizes: Sequence[int],
    T: float,
    depth: int,
    width: int,
    student_seed: int,
    device: str = "cpu",
) -> dict[str, Tensor]:
    """One draw of Fig. 5 (middle and right): converged students of imperfect teachers, in closed form.

    A student with ``depth`` hidden layers starts from the network NTKMLP(2, depth, width) drawn with
    ``Generator().manual_seed(student_seed)`` (its logits are z₀) and is replaced by its converged
    linearization with the analytic NTK Θ (Eq. 4). One Cholesky factor of Θ_N serves every n in
    ``sizes`` (the first n of the N training points).

    Args:
        x_train: (N, 2) training inputs; x_test: (M, 2) test inputs.
        y_train: (N,) ground-truth hard labels of the training points; y_test: (M,) of the test points.
        z_ground: (N,) ground-truth logits z_g (their signs are y_train).
        z_teachers: (E, N) logits of E teachers (e.g. one teacher at E stopping epochs), already reduced.
        middle: indices of the teachers in ``z_teachers`` whose students are scanned over ``rhos``.
        rhos: soft ratios in (0, 1] of that scan.
        sizes: sample sizes n ≤ N.
        T: temperature of Eq. 2.
        depth, width, student_seed: the student network that gives z₀.
        device: where the kernels are built and factored.
    Returns:
        dict of float64 CPU tensors:
        ``errors`` (K, S, R): test error against y_test of the closed-form students of the K ``middle``
        teachers, for each n in ``sizes`` and each ρ in ``rhos``;
        ``cosines`` (K, S, R): cos α(Δŵ, Δŵ_g) of the same students (:func:`ground_truth_cosine`);
        ``hard_errors`` (S,): test error of the pure-hard-label limit ρ → 0, whose targets grow like
        log(1/ρ) on the sign of y, so that the student classifies with sign Θ(x, X_n)Θ_n⁻¹(2y − 1);
        ``teacher_train_errors`` (E,): the fraction of the N training points each teacher labels wrongly;
        ``projection``, ``derivative``, ``cosine`` (E, S): :func:`hard_label_geometry` for each teacher.
    """
    target = torch.device(device)
    x_train = as_float64("x_train", x_train, target)
    x_test = as_float64("x_test", x_test, target)
    y_train = as_float64("y_train", y_train, target)
    y_test = as_float64("y_test", y_test, target)
    z_ground = as_float64("z_ground", z_ground, target)
    z_teachers = as_float64("z_teachers", z_teachers, target)
    count = x_train.shape[0]
    if z_teachers.ndim != 2 or z_teachers.shape[1] != count or z_ground.shape != (count,):
        raise ValueError(f"z_teachers must be (E, {count}) and z_ground ({count},), got "
                         f"{tuple(z_teachers.shape)} and {tuple(z_ground.shape)}")
    middle = [int(i) for i in middle]
    if not middle or any(not 0 <= i < z_teachers.shape[0] for i in middle):
        raise ValueError(f"middle must index teachers in [0, {z_teachers.shape[0]}), got {middle}")
    rho = torch.tensor([float(r) for r in rhos], dtype=torch.float64, device=target)
    if rho.numel() == 0 or bool(((rho <= 0) | (rho > 1)).any()):
        raise ValueError(f"rhos must be soft ratios in (0, 1], got {list(rhos)}")
    if not (math.isfinite(T) and T > 0):
        raise ValueError(f"T must be a positive temperature, got {T!r}")
    sizes = [int(n) for n in sizes]

    network = NTKMLP(2, depth, width, generator=torch.Generator().manual_seed(student_seed),
                     dtype=torch.float64, device=target)
    with torch.no_grad():
        z0_train, z0_test = network(x_train), network(x_test)
    factor = cholesky_factor(ntk_kernel(x_train, depth=depth))
    cross = ntk_kernel(x_test, x_train, depth=depth)

    z_eff = effective_logits(z_teachers[middle][:, None], y_train, rho[:, None], T)  # (K, R, N)
    predictions = z0_test + prefix_predictions(factor, cross, z_eff - z0_train, sizes)  # (S, K, R, M)
    cosines = ground_truth_cosine(factor, z_ground - z0_train, z_eff - z0_train)[..., [n - 1 for n in sizes]]
    hard = prefix_predictions(factor, cross, 2.0 * y_train - 1.0, sizes)  # (S, M)
    geometry = hard_label_geometry(factor, z_ground - z0_train, z_teachers - z0_train,
                                   hard_label_correction(z_teachers, y_train, T))
    picked = {name: value[:, [n - 1 for n in sizes]].cpu() for name, value in geometry.items()}
    return {
        "errors": sign_errors(predictions, y_test).transpose(0, 1).cpu(),
        "cosines": cosines.permute(0, 2, 1).cpu(),
        "hard_errors": sign_errors(hard, y_test).cpu(),
        "teacher_train_errors": sign_errors(z_teachers, y_train).cpu(),
        **picked,
    }


class LinearizedMLP(nn.Module):
    """f_lin(x) = f(x; w₀) + Δwᵀ∂_w f(x; w₀) of an :class:`kdlib.NTKMLP`, with the forward-mode product
    written out layer by layer.

    The same linear model as ``kdlib.nets.linearize(model)`` (trainable Δw per weight and bias, starting
    at zero), but its tangent is propagated by hand through Eq. 1: with pre-activations
    h^{l+1} = s_l W^l a^l + σ_b b^l and a^l = g(h^l),

        δh^{l+1} = s_l (ΔW^l a^l + W^l δa^l) + σ_b Δb^l,    δa^l = g'(h^l) δh^l,

    and f_lin = h^{L+1} + δh^{L+1}. That is three matrix products per layer and no functional
    transform: a training step of a width-256 student on 128 points took 14–18 ms against 28–35 ms
    with ``torch.func.jvp`` (one CPU thread, shared machine), the gap growing as the network shrinks
    and the transform's per-call overhead dominates. Backpropagation through it gives
    ∂f_lin/∂Δw = φ(x) exactly, as for ``linearize``.
    """

    def __init__(self, model: NTKMLP) -> None:
        super().__init__()
        if not isinstance(model, NTKMLP):
            raise ValueError(f"LinearizedMLP needs an NTKMLP, got {type(model).__name__}")
        self.d, self.sigma_b, self.scales = model.d, model.sigma_b, list(model.scales)
        for layer, (weight, bias) in enumerate(zip(model.weights, model.biases, strict=True)):
            self.register_buffer(f"w0_{layer}", weight.detach().clone())
            self.register_buffer(f"b0_{layer}", bias.detach().clone())
            self.register_parameter(f"dw_{layer}", nn.Parameter(torch.zeros_like(weight.detach())))
            self.register_parameter(f"db_{layer}", nn.Parameter(torch.zeros_like(bias.detach())))
        self.layers = len(model.weights)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"x must have shape (n, {self.d}), got {tuple(x.shape)}")
        a, tangent = x, None
        for layer in range(self.layers):
            weight, bias = getattr(self, f"w0_{layer}"), getattr(self, f"b0_{layer}")
            dw, db = getattr(self, f"dw_{layer}"), getattr(self, f"db_{layer}")
            scale = self.scales[layer]
            h = scale * (a @ weight.T) + self.sigma_b * bias
            dh = scale * (a @ dw.T) + self.sigma_b * db
            if tangent is not None:
                dh = dh + scale * (tangent @ weight.T)
            if layer < self.layers - 1:
                active = (h > 0).to(h.dtype)
                a, tangent = h * active, dh * active
        return (h + dh)[:, 0]


def trained_student_run(
    x_train: Tensor,
    x_test: Tensor,
    y_train: Tensor,
    y_test: Tensor,
    z_teacher: Tensor,
    *,
    rhos: Sequence[float],
    T: float,
    depth: int,
    width: int,
    student_seed: int,
    steps: int,
    lr: float,
    batch_size: int | None = None,
    order_seed: int = 0,
    device: str = "cpu",
    threads: int | None = None,
) -> dict[str, Tensor]:
    """Students of one teacher trained as the paper trains them, beside their closed forms (Fig. 5 middle).

    For each ρ a fresh linearization of NTKMLP(2, depth, width) (drawn with
    ``Generator().manual_seed(student_seed)``, the network :func:`imperfect_teacher_run` takes z₀ from)
    is trained with Adam on Eq. 2 (:func:`kdlib.train_kd` on :class:`LinearizedMLP`, float32) and its
    test error is compared with the converged student of Eq. 4 computed two ways: with the empirical
    kernel Θ̂ of this very network (what exact convergence of plain gradient descent would give) and
    with the analytic NTK Θ (the infinite-width student of the closed-form curves).

    Args:
        x_train, x_test, y_train, y_test: as in :func:`imperfect_teacher_run`.
        z_teacher: (N,) the teacher's (reduced) logits on x_train.
        rhos: soft ratios in (0, 1].
        T: temperature.
        depth, width, student_seed: the student network.
        steps, lr, batch_size: Adam's steps, learning rate and batch size (None: full batch).
        order_seed: seeds the order of the mini-batches.
        device: where training runs.
        threads: CPU threads torch may use while training (restored afterwards); None leaves torch's
            setting. Networks of a few hundred units gain nothing from intra-op threads, and on a busy
            machine their parallel regions wait for each other: one thread was 15× faster on a shared
            2-core machine for a width-64 student.
    Returns:
        dict of (R,) float64 CPU tensors: ``trained_errors``, ``empirical_errors``, ``analytic_errors``
        (test errors against y_test) and ``logit_gaps`` (largest |z − z_eff| on the training points
        after the last step: how far training is from convergence).
    """
    target = torch.device(device)
    x64 = as_float64("x_train", x_train, target)
    test64 = as_float64("x_test", x_test, target)
    y64 = as_float64("y_train", y_train, target)
    y_test64 = as_float64("y_test", y_test, target)
    z_t = as_float64("z_teacher", z_teacher, target)
    if z_t.shape != y64.shape or x64.shape[0] != z_t.shape[0]:
        raise ValueError(f"z_teacher and y_train must both have shape ({x64.shape[0]},)")
    exact = NTKMLP(2, depth, width, generator=torch.Generator().manual_seed(student_seed), dtype=torch.float64,
                   device=target)
    with torch.no_grad():
        z0, z0_test = exact(x64), exact(test64)
    empirical = cholesky_factor(empirical_ntk(exact, x64))
    empirical_cross = empirical_ntk(exact, test64, x64)
    analytic = cholesky_factor(ntk_kernel(x64, depth=depth))
    analytic_cross = ntk_kernel(test64, x64, depth=depth)
    count = x64.shape[0]
    results: dict[str, list[float]] = {"trained_errors": [], "empirical_errors": [], "analytic_errors": [],
                                       "logit_gaps": []}
    with _threads(threads):
        for rho in rhos:
            z_eff = effective_logits(z_t, y64, float(rho), T)
            for name, factor, cross in (("empirical_errors", empirical, empirical_cross),
                                        ("analytic_errors", analytic, analytic_cross)):
                logits = z0_test + prefix_predictions(factor, cross, z_eff - z0, [count])[0]
                results[name].append(sign_errors(logits, y_test64).item())
            network = NTKMLP(2, depth, width, generator=torch.Generator().manual_seed(student_seed), device=target)
            model = LinearizedMLP(network)
            order = torch.Generator().manual_seed(order_seed)
            history = train_kd(model, x64.float(), z_t.float(), y64.float(), rho=float(rho), T=T, steps=steps,
                               lr=lr, batch_size=batch_size, record_every=steps, generator=order)
            with torch.no_grad():
                results["trained_errors"].append(sign_errors(model(test64.float()), y_test64).item())
            results["logit_gaps"].append(history.logit_gap[-1])
    return {name: torch.tensor(values, dtype=torch.float64) for name, values in results.items()}


@contextlib.contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op CPU threads set to ``threads`` inside the block (None: unchanged), then restored."""
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
