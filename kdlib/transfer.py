"""The runs of the transfer-risk experiment (Sec. 3, Fig. 2, S4.1): one closed-form draw, trained students, oracles.

Each function is one task of a sweep (``kdlib.book.sweeps.sweep``): module-level, plain-data arguments
(tensors, numbers) and plain-data results, so a run is cached by its content and can go to any worker.
The mathematics they call lives in :mod:`kdlib.risk` (prefix predictions, angles, bounds),
:mod:`kdlib.student`, :mod:`kdlib.kernels` and :mod:`kdlib.nets`.

**Perfect teacher.** The hard labels are the teacher's own signs, y_g = 1{z_t > 0}: with them the
effective logits (Eq. 3) have the teacher's sign everywhere, so a student that fits them exactly
has zero transfer risk, and R(n) → 0 is possible for every ρ.

**ρ → 0 (pure hard labels).** Eq. 3 has no finite root at ρ = 0. As ρ → 0 the effective logit
tends to t(ρ)·sgn(z_t) with a split t(ρ) → ∞ (Sec. 4), and the converged student
f(x; w₀) + Θ(x, X)Θ⁻¹(t·s − f(X; w₀)), divided by t, tends to Θ(x, X)Θ⁻¹s with s = sgn(z_t(X)): the
initial function drops out and only signs are fitted. That limit is what ``rho = 0`` means here
(the row is computed without the initial function, with targets s). Every quantity the chapter
takes from it — signs of predictions, angles, cosines — is invariant to the scale t; norms are those
of s (multiply by t for a small ρ > 0). A student *trained* on pure hard labels is another object:
on separable data, cross-entropy descent drifts towards the max-margin direction (Soudry et al.,
2018), not this interpolant, so no trained run is made at ρ = 0.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from kdlib.kernels import empirical_ntk, ntk_diagonal, ntk_kernel
from kdlib.logits import effective_logits
from kdlib.losses import kd_loss, max_kd_loss_curvature
from kdlib.nets import NTKMLP, linearize, train_kd
from kdlib.risk import feature_cosines, prefix_inner_products, projected_student_angle, transfer_risk_curve
from kdlib.student import closed_form_student
from kdlib.train import OnlineBatches, TrainingDiverged, fit

__all__ = ["effective_targets", "closed_form_draw", "train_student", "online_oracle", "student_network"]


def effective_targets(z_t: Tensor, rhos: tuple[float, ...], T: float) -> Tensor:
    """Effective logits (Eq. 3) of a perfect teacher (y_g = 1{z_t > 0}) for each ρ, one row per ρ.

    ρ = 0 gives the sign s = sgn(z_t) ∈ {−1, 1}, the direction of the ρ → 0 limit (module docstring).
    """
    labels = (z_t > 0).to(torch.float64)
    rows = [2 * labels - 1 if rho == 0 else effective_logits(z_t, labels, rho, T) for rho in rhos]
    return torch.stack([row.to(torch.float64) for row in rows])


def student_network(width: int, depth: int, seed: int, device: torch.device | str | None = None) -> NTKMLP:
    """The student of Fig. 2 (d = 2, L = ``depth``, m = ``width``), float64, from ``Generator().manual_seed(seed)``.

    The same (width, depth, seed) gives the same network in :func:`closed_form_draw` and :func:`train_student`,
    so a trained student can be compared with its own closed form.
    """
    return NTKMLP(2, depth, width, generator=torch.Generator().manual_seed(seed), dtype=torch.float64, device=device)


def _pick_device(device: str | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def closed_form_draw(
    x: Tensor,
    x_test: Tensor,
    z_t: Tensor,
    z_t_test: Tensor,
    *,
    rhos: tuple[float, ...],
    T: float,
    risk_pool: int,
    depth: int,
    width: int,
    seed: int,
    device: str | None = None,
) -> dict[str, Any]:
    """One draw of inputs and student: everything Fig. 2 and Theorem 1 need, from the closed form (Eq. 4).

    The pool x (N_ref samples, prefix order) and its first ``risk_pool`` = N samples train the
    students; x_test (M inputs) measures them. Per ρ (rows; ρ = 0 is the hard limit):

    * ``risk_analytic``, ``risk_empirical`` (ρ, N): R(n) of the converged student
      f(x; w₀) + Θ(x, X_n)Θ_n⁻¹(z_eff − f(X_n; w₀)) with the analytic NTK and with the empirical kernel of
      the width-m student itself; ``risk_centred`` (ρ, N): the same without the initial function.
    * ``norms`` (ρ, N_ref): ‖Δŵ_n‖ = √(z_effᵀΘ_n⁻¹z_eff), the weight change representing z_eff alone
      (Sec. 3's Δw* − Δw_z restricted to span φ(X_n)); ``norms_zero`` (N_ref): the same for f(X; w₀)
      (Δw_z's); ``norms_delta`` (ρ, N_ref): Definition 1's norms of Δz = z_eff − f(X; w₀).
    * ``margins`` (ρ, M): |z_eff(x)| / √Θ(x, x) at the test inputs: Eq. 8's cosine times ‖Δw* − Δw_z‖.
    * ``proxy_*`` (the pool as the whole input space): the oracle u = φ(X_N)Θ_N⁻¹z_eff, the student from
      the initial function's representation b = φ(X_N)Θ_N⁻¹f(X_N; w₀) (:func:`kdlib.risk.projected_student_angle`):
      ``proxy_angle`` (ρ, N) α(u, v_n) ∈ [0, π]; ``proxy_risk`` (ρ, N) disagreement of uᵀφ(x) and v_nᵀφ(x)
      on the test inputs; ``proxy_cosines`` (ρ, M) Eq. 8's cosines of u. Theorem 1 holds for these exactly.

    Kernels are float64 on ``device`` (auto: CUDA if seen); results are CPU tensors.
    """
    where = _pick_device(device)
    x, x_test = x.to(where, torch.float64), x_test.to(where, torch.float64)
    z_t, z_t_test = z_t.to(where, torch.float64), z_t_test.to(where, torch.float64)
    n_risk = risk_pool
    if not 3 <= n_risk <= x.shape[0]:
        raise ValueError(f"risk_pool must lie in [3, {x.shape[0]}] (the pool size), got {risk_pool}")
    hard = torch.tensor([rho == 0 for rho in rhos], device=where)
    network = student_network(width, depth, seed, where)
    with torch.no_grad():
        initial, initial_test = network(x), network(x_test)
    targets, targets_test = effective_targets(z_t, rhos, T), effective_targets(z_t_test, rhos, T)
    # the hard limit keeps no initial function (module docstring): its rows start at 0
    start = torch.where(hard[:, None], 0.0, initial[None, :])
    start_test = torch.where(hard[:, None], 0.0, initial_test[None, :])
    delta = targets - start

    kernel = ntk_kernel(x, depth=depth)  # N_ref × N_ref
    small = kernel[:n_risk, :n_risk]
    cross = ntk_kernel(x[:n_risk], x_test, depth=depth)
    diagonal = ntk_diagonal(x_test, depth=depth)
    empirical = empirical_ntk(network, x[:n_risk])
    empirical_cross = empirical_ntk(network, x[:n_risk], x_test)

    rows = len(rhos)
    chunk = 1 << (27 if where.type == "cuda" else 22)  # predictions held at once: 1 GiB on a GPU, 32 MiB on a CPU
    # one factorization of the N_ref pool for every prefix norm: z_eff (ρ rows), Δz (ρ rows), f(X; w₀)
    squares = prefix_inner_products(kernel, torch.cat([targets, delta, initial[None]]))
    norms, norms_delta, norms_zero = squares[:rows].sqrt(), squares[rows:2 * rows].sqrt(), squares[-1].sqrt()

    # the pool as the whole space: oracle and initial function represented on the N pool samples
    coefficients = closed_form_student(small, torch.cat([targets[:, :n_risk], start[:, :n_risk]]))
    represented = coefficients @ cross  # (2ρ, M): uᵀφ(x) and bᵀφ(x) at the test inputs
    oracle_test, start_ref_test = represented[:rows], represented[rows:]
    proxy_angle = projected_student_angle(small, targets[:, :n_risk], start[:, :n_risk])
    proxy_cosines = feature_cosines(oracle_test, diagonal, norms[:, n_risk - 1])  # ‖u‖: the prefix N of the pool

    # one whitening of the test features for the three analytic curves: with f(x; w₀), centred, proxy
    curves = transfer_risk_curve(
        small, cross, torch.cat([delta, targets, delta])[:, :n_risk],
        torch.cat([z_t_test.expand(2 * rows, -1), oracle_test]),
        initial=torch.cat([start_test, torch.zeros_like(start_test), start_ref_test]), chunk_entries=chunk).risk
    risk_analytic, risk_centred, proxy_risk = curves[:rows], curves[rows:2 * rows], curves[2 * rows:]
    risk_empirical = transfer_risk_curve(empirical, empirical_cross, delta[:, :n_risk], z_t_test,
                                         initial=start_test, chunk_entries=chunk).risk

    def cpu(tensor: Tensor) -> Tensor:
        return tensor.detach().to("cpu", torch.float64)

    return {
        "rhos": list(rhos),
        "risk_analytic": cpu(risk_analytic), "risk_empirical": cpu(risk_empirical),
        "risk_centred": cpu(risk_centred),
        "norms": cpu(norms), "norms_zero": cpu(norms_zero), "norms_delta": cpu(norms_delta),
        "margins": cpu(targets_test.abs() / diagonal.sqrt()),
        "proxy_angle": cpu(proxy_angle), "proxy_risk": cpu(proxy_risk), "proxy_cosines": cpu(proxy_cosines),
        "initial_scale": initial.std().item(),
        "test_points": x_test.shape[0],
    }


def _flat_change(model: torch.nn.Module) -> Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).to(torch.float64)


def _angle(u: Tensor, v: Tensor) -> float:
    """Kahan's angle in [0, π] between two flat vectors (atan2 of the unit difference and sum)."""
    u, v = u / u.norm(), v / v.norm()
    return 2.0 * math.atan2((u - v).norm().item(), (u + v).norm().item())


def train_student(
    x: Tensor,
    z_t: Tensor,
    x_test: Tensor,
    z_t_test: Tensor,
    *,
    rho: float,
    T: float,
    width: int,
    depth: int,
    seed: int,
    optimizer: str,
    epochs: int,
    batch_size: int,
    lr: float | None = None,
    oracle: Tensor | None = None,
    zero: Tensor | None = None,
    device: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train the linearized student of Fig. 2 on the n = len(x) samples; measure its transfer risk.

    The network is :func:`student_network` (width, depth, seed), linearized at initialization
    (``kdlib.linearize``) and trained on Eq. 2 with a perfect teacher (y_g = 1{z_t > 0}) by
    ``kdlib.train_kd``: ``optimizer="adam"`` is the paper's (S4.1: η = 0.01, batch 512);
    ``optimizer="sgd"`` is plain (mini-batch) gradient descent, whose weight change stays in span φ(X)
    and so tends to Eq. 4 itself; ``lr=None`` takes for it the step b / (λ_max(Θ̂_n) sup ℓ''), stable
    for every batch of b samples since a batch's kernel is a principal block of Θ̂_n.

    Args:
        x, z_t: (n, 2) training inputs and their (reduced) teacher logits.
        x_test, z_t_test: (M, 2) test inputs and teacher logits.
        rho: soft ratio in (0, 1]. T: temperature.
        epochs: passes over the n samples (each ⌊n / b⌋ steps of b = min(batch_size, n)).
        oracle, zero: flat weight changes Δw* and Δw_z (e.g. from :func:`online_oracle`) to measure
            angles against; optional.
    Returns:
        ``risk`` and ``risk_se`` (test sample); ``risk_in_span``: the risk of the same student with its
        weight change projected onto span φ(X), P_ΦΔw = φ(X)Θ̂⁻¹(z(X) − f(X; w₀)), which has the same
        training logits: the difference to ``risk`` is what the component outside the span does off the
        training set; ``orthogonal_fraction`` ‖Δw − P_ΦΔw‖ / ‖Δw‖; ``logit_gap`` (max |z − z_eff| on the training set),
        ``weight_norm`` ‖Δw‖, ``steps``, ``lr``; with ``oracle``: ``angle_oracle`` α(Δw, Δw*) (Eq. 9's
        ᾱ'_n for a trained student); with both: ``angle_theorem`` α(Δw − Δw_z, Δw* − Δw_z) (Theorem 1's).
    Raises:
        RuntimeError: the training diverged; the message names the run (ρ, n, optimizer, seed).
    """
    where = _pick_device(device)
    x, z_t = x.to(where, torch.float64), z_t.to(where, torch.float64)
    x_test, z_t_test = x_test.to(where, torch.float64), z_t_test.to(where, torch.float64)
    count = x.shape[0]
    batch = min(batch_size, count)
    labels = (z_t > 0).to(torch.float64)
    network = student_network(width, depth, seed, where)
    model = linearize(network)
    if lr is None:
        if optimizer != "sgd":
            raise ValueError("lr=None (the safe step) is only defined for optimizer='sgd'")
        largest = torch.linalg.eigvalsh(empirical_ntk(network, x))[-1].item()
        lr = batch / (largest * max_kd_loss_curvature(rho, T))
    steps = epochs * (count // batch)
    run = f"student ρ = {rho}, n = {count}, {optimizer}, lr = {lr:.3g}, seed {seed}"
    try:
        history = train_kd(model, x, z_t, labels, rho=rho, T=T, steps=steps, lr=lr, batch_size=batch,
                           optimizer=optimizer, record_every=steps, generator=torch.Generator().manual_seed(seed + 1),
                           disable=not progress)
    except TrainingDiverged as error:
        raise RuntimeError(f"training diverged in the run '{run}': {error}") from error
    with torch.no_grad():
        predictions, logits = model(x_test), model(x)
        initial, initial_test = network(x), network(x_test)
    tests = x_test.shape[0]
    risk = ((predictions * z_t_test) < 0).double().mean().item()
    change = _flat_change(model)
    # the projection P_Φ Δw onto span φ(X) is fixed by the training logits: P_Φ Δw = φ(X)Θ̂⁻¹(z(X) − f(X; w₀))
    kernel = empirical_ntk(network, x)
    coefficients = closed_form_student(kernel, logits - initial)
    in_span = initial_test + empirical_ntk(network, x_test, x) @ coefficients
    risk_in_span = ((in_span * z_t_test) < 0).double().mean().item()
    span_norm_sq = ((logits - initial) @ coefficients).clamp_min(0).item()
    orthogonal = math.sqrt(max(change.norm().item() ** 2 - span_norm_sq, 0.0))
    result = {"risk": risk, "risk_se": math.sqrt(risk * (1 - risk) / tests), "risk_in_span": risk_in_span,
              "orthogonal_fraction": orthogonal / max(change.norm().item(), 1e-300),
              "logit_gap": history.logit_gap[-1], "weight_norm": change.norm().item(), "steps": steps, "lr": lr}
    if oracle is not None:
        star = oracle.to(where, torch.float64)
        result["angle_oracle"] = _angle(change, star)
        if zero is not None:
            base = zero.to(where, torch.float64)
            result["angle_theorem"] = _angle(change - base, star - base)
    return result


class _Teacher:
    """r · teacher(x) for a NTKMLP teacher given by its state dict (plain data for a sweep task)."""

    def __init__(self, state: dict[str, Tensor], width: int, depth: int, reduction: float, where: torch.device):
        self.network = NTKMLP(2, depth, width, dtype=torch.float32, device=where)
        self.network.load_state_dict({k: v.to(where, torch.float32) for k, v in state.items()})
        self.network.requires_grad_(False)
        self.reduction = reduction

    def __call__(self, x: Tensor) -> Tensor:
        return self.reduction * self.network(x.float()).double()


def online_oracle(
    teacher_state: dict[str, Tensor],
    *,
    teacher_width: int,
    teacher_depth: int,
    reduction: float,
    rho: float,
    T: float,
    width: int,
    depth: int,
    seed: int,
    steps: int,
    batch_size: int,
    lr: float | None = None,
    zero: bool = False,
    record_every: int = 10,
    device: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """The paper's estimate of the oracle weight change Δw* (or the zero weight change Δw_z): online SGD.

    Sec. 3.1 estimates Δw* and Δw_z by training the linearized student on *online batches*, fresh
    inputs x ~ N(0, 5² I) at every step, "equivalent to training with infinite amount of samples". The
    same student as in :func:`train_student` (same seed, so the same w₀ and φ) is trained by plain
    SGD on Eq. 2 with the perfect teacher r·teacher(x) (``zero=False``), or on the zero function
    (``zero=True``: targets z ≡ 0 with ρ = 1). Plain SGD keeps Δw in the span of the features seen, as
    the oracle of Eq. 5 assumes; ``lr=None`` takes b / (Θ(x, x)-scale · sup ℓ''), see below.

    The step: the largest eigenvalue of a batch's kernel is at most its trace, Σ_i Θ̂(x_i, x_i), whose
    mean over x ~ N(0, 25 I) we estimate from the first batch; η = b / (2 · that trace · sup ℓ'') keeps
    every step stable with a factor of two to spare for batches with larger inputs.

    Returns:
        ``steps`` and ``weight_norm`` (‖Δw‖ at every ``record_every`` steps), ``change`` the final flat
        Δw (float32, CPU), ``lr``, ``loss`` (last batch).
    Raises:
        RuntimeError: the run diverged; the message names it.
    """
    where = _pick_device(device)
    teacher = _Teacher(teacher_state, teacher_width, teacher_depth, reduction, where)
    soft = 1.0 if zero else rho
    network = student_network(width, depth, seed, where)
    model = linearize(network)
    generator = torch.Generator().manual_seed(10_000 + seed)

    def sample(size: int, stream: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        inputs = 5.0 * torch.randn(size, 2, generator=stream, dtype=torch.float64).to(where)
        logits = torch.zeros(size, dtype=torch.float64, device=where) if zero else teacher(inputs)
        return inputs, logits, (logits > 0).to(torch.float64)

    if lr is None:
        probe = 5.0 * torch.randn(batch_size, 2, generator=torch.Generator().manual_seed(20_000 + seed),
                                  dtype=torch.float64).to(where)
        trace = torch.diagonal(empirical_ntk(network, probe)).sum().item()  # the student's own Θ̂(x, x)
        lr = batch_size / (2 * trace * max_kd_loss_curvature(soft, T))
    optim = torch.optim.SGD(list(model.parameters()), lr=lr)
    norms: list[float] = []
    recorded: list[int] = []

    def record(state: Any) -> None:
        recorded.append(state.step)
        norms.append(_flat_change(model).norm().item())

    run = f"online oracle {'Δw_z (zero function)' if zero else f'Δw* ρ = {rho}'}, seed {seed}, lr = {lr:.3g}"
    try:
        result = fit(model, lambda student, batch: kd_loss(student(batch[0]), batch[1], batch[2], soft, T), optim,
                     OnlineBatches(sample, batch_size), epochs=steps, generator=generator,
                     step_callbacks=[(frozenset(range(0, steps + 1, record_every)) | {steps}, record)],
                     progress=progress, desc=run)
    except TrainingDiverged as error:
        raise RuntimeError(f"training diverged in the run '{run}': {error}") from error
    losses = [row["loss"] for row in result.history.rows if "loss" in row]
    return {"steps": recorded, "weight_norm": norms, "change": _flat_change(model).float().cpu(), "lr": lr,
            "loss": losses[-1] if losses else math.nan}
