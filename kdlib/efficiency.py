"""Data inefficiency experiments of Sec. 4 (Definition 1, Figs. 3, 4, S4 and S5): runs and curves.

One *run* of the experiment draws training inputs X (N of them) and initializes a student network
of Eq. 1; every target the chapter compares (Gaussian mixtures with q modes, sign-flipped ones,
teachers stopped at different epochs, effective logits for several ρ, label smoothing, the random
and zero references) is a logit vector on the same X. The expensive step is the factorization
Θ_N = LLᵀ of the student's kernel, O(N³); each target then costs one triangular solve, O(N²),
which gives ‖Δŵ_n‖ for every prefix n at once (:func:`kdlib.student.weight_change_norms`). So
:func:`weight_change_norm_run` computes all the targets of one run with one factorization; the
runs are independent tasks (seeds), and sharing X and the initialization between targets
within a run makes the comparisons between targets paired (common random numbers).

:func:`inefficiency_curve` averages runs into E‖Δŵ_n‖ and I(n) (Eq. 10) with standard errors;
:func:`window_estimate` and :func:`window_difference` give the windowed I of one target, or the
difference between two targets over paired runs, with jackknife standard errors — the numbers the
chapter's claims are decided on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from kdlib._validate import as_float64
from kdlib.kernels import empirical_ntk, nngp_kernel, ntk_kernel
from kdlib.nets import NTKMLP
from kdlib.stats import MeanEstimate, jackknife, mean_estimate
from kdlib.student import (
    cholesky_factor,
    data_inefficiency,
    expected_squared_norms,
    windowed_data_inefficiency,
)

__all__ = [
    "initial_network",
    "weight_change_norm_run",
    "stack_runs",
    "InefficiencyCurve",
    "inefficiency_curve",
    "window_estimate",
    "window_difference",
]

KERNELS = ("analytic", "empirical")


def initial_network(d: int, *, depth: int, width: int, seed: int, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> NTKMLP:
    """The student of Eq. 1 at initialization, drawn from ``torch.Generator().manual_seed(seed)``.

    The weights are drawn in float64 on the CPU whatever ``dtype`` and ``device`` are (see
    :class:`kdlib.NTKMLP`), so one seed names one network on every machine and in every precision.
    """
    return NTKMLP(d, depth, width, generator=torch.Generator().manual_seed(seed), dtype=dtype, device=device)


def _logit_vectors(name: str, vectors: Mapping[str, Any] | None, size: int, device: torch.device) -> dict[str, Tensor]:
    found = {}
    for key, value in (vectors or {}).items():
        vector = as_float64(f"{name}[{key!r}]", value, device)
        if vector.shape != (size,):
            raise ValueError(f"{name}[{key!r}] must have shape ({size},) like x's rows, got {tuple(vector.shape)}")
        if not torch.isfinite(vector).all():
            raise ValueError(f"{name}[{key!r}] contains inf; logits must be finite")
        found[key] = vector
    return found


def weight_change_norm_run(
    x: Tensor,
    targets: Mapping[str, Tensor] | None = None,
    deltas: Mapping[str, Tensor] | None = None,
    *,
    init_seed: int,
    depth: int = 5,
    width: int = 1024,
    kernel: str = "analytic",
    references: bool = False,
    spectrum: int = 0,
    device: str | None = None,
) -> dict[str, Any]:
    """One run of Figs. 3–4: ‖Δŵ_n‖₂ for every prefix n and every target, from one factorization of Θ_N.

    The student is ``NTKMLP(d, depth, width)`` initialized from ``init_seed`` (S4.1: d = 2, L = 5,
    m = 1024). For a target logit vector z_* the logit change is Δz = z_* − f(X; w₀) (Eq. 4 with the
    initial logits of this network); a vector in ``deltas`` is used as Δz itself (the random-logit
    reference Δz ~ N(0, I) of Fig. 3). ``kernel="analytic"`` uses the infinite-width NTK Θ
    (:func:`kdlib.ntk_kernel`; the initial logits then come from a float32 forward pass),
    ``"empirical"`` the kernel φ(X)ᵀφ(X) of this very network (:func:`kdlib.empirical_ntk`, float64).

    A plain function of plain data, so :func:`kdlib.book.sweeps.sweep` can cache it and send it to
    any worker. Memory: Θ and its factor, 2 · 8 N² bytes (4 GiB at N = 2¹⁴), plus 8 N² more for each
    of the optional references.

    Args:
        x: (N, d) training inputs, in sample order (prefix n = the first n rows).
        targets: name → (N,) target logits z_*; Δz = z_* − f(X; w₀).
        deltas: name → (N,) logit changes Δz used as given.
        init_seed: seed of the student's initialization.
        depth, width: L and m of the student.
        kernel: ``"analytic"`` or ``"empirical"``.
        references: also return the kernel's predictions for the two dashed references of Fig. 3,
            E‖Δŵ_n‖² = tr Θ_n⁻¹ for Δz ~ N(0, I) and tr(Θ_n⁻¹Σ_n) for Δz = −f(X; w₀) at infinite width
            (Σ the NNGP kernel), from :func:`kdlib.student.expected_squared_norms`.
        spectrum: if > 0, also return the eigenvalues of Θ_s / s on the first s = ``spectrum`` samples
            (descending), for the spectral argument of the chapter.
        device: where to compute (None: x's device).
    Returns:
        ``{"norms": {name: (N,) ‖Δŵ_n‖₂}, "rms": {name: RMS of Δz over the N samples},
        "initial_rms": RMS of f(X; w₀), None without targets (no forward pass then)}`` plus
        ``"trace_identity"``, ``"trace_nngp"`` with ``references`` and ``"eigenvalues"`` with
        ``spectrum``; tensors float64 on the CPU.
    Raises:
        ValueError: bad shapes, kernel or sizes, or a kernel that is not positive definite.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"x must be an (N, d) tensor with N ≥ 2, got {getattr(x, 'shape', type(x))}")
    where = torch.device(device) if device is not None else x.device
    inputs = x.to(dtype=torch.float64, device=where)
    size, d = inputs.shape
    if not (isinstance(spectrum, int) and 0 <= spectrum <= size):
        raise ValueError(f"spectrum must be an integer in [0, {size}], got {spectrum!r}")
    logits = _logit_vectors("targets", targets, size, where)
    changes = _logit_vectors("deltas", deltas, size, where)
    if not logits and not changes:
        raise ValueError("give at least one target or delta")
    if set(logits) & set(changes):
        raise ValueError(f"names used both as targets and deltas: {sorted(set(logits) & set(changes))}")
    network = None
    if logits or kernel == "empirical":  # an analytic run of Δz's alone needs no network
        network = initial_network(d, depth=depth, width=width, seed=init_seed, device=where,
                                  dtype=torch.float32 if kernel == "analytic" else torch.float64)
    initial = None
    if logits:  # the initial logits are only needed for targets given as logits
        with torch.no_grad():
            initial = network(inputs.to(network.weights[0].dtype)).double()
    theta = ntk_kernel(inputs, depth=depth) if kernel == "analytic" else empirical_ntk(network, inputs)
    del network
    names = [*logits, *changes]
    delta_z = torch.stack([*(value - initial for value in logits.values()), *changes.values()])
    result: dict[str, Any] = {}
    if spectrum:
        head = theta[:spectrum, :spectrum]
        result["eigenvalues"] = torch.linalg.eigvalsh(head).flip(0).div(spectrum).cpu()
    if references:
        result["trace_identity"] = expected_squared_norms(theta).cpu()
        result["trace_nngp"] = expected_squared_norms(theta, nngp_kernel(inputs, depth=depth)).cpu()
    factor = cholesky_factor(theta)
    del theta
    whitened = torch.linalg.solve_triangular(factor, delta_z.unsqueeze(-1), upper=False).squeeze(-1)
    norms = torch.cumsum(whitened.square(), dim=-1).sqrt().cpu()
    rms = delta_z.square().mean(-1).sqrt().cpu()
    result["norms"] = dict(zip(names, norms, strict=True))
    result["rms"] = {name: float(value) for name, value in zip(names, rms, strict=True)}
    result["initial_rms"] = None if initial is None else float(initial.square().mean().sqrt())
    return result


def stack_runs(runs: Sequence[Mapping[str, Any]], name: str, *, normalize: bool = True) -> Tensor:
    """(runs, N) norms of target ``name`` from the results of :func:`weight_change_norm_run`.

    With ``normalize`` each run's norms are divided by the RMS of its Δz, i.e. computed for
    Δz / RMS(Δz), which has ‖Δz‖ = √N: the normalization of Figs. S4 and S5 (Δz / ‖Δz‖) up to the
    constant √N, which keeps the level independent of N. One run's I(n) does not change (a constant
    factor drops out of the logarithm's increments); the mean over runs then weighs runs alike.
    """
    rows = []
    for index, run in enumerate(runs):
        if name not in run["norms"]:
            raise KeyError(f"run {index} has no target {name!r}; it has {sorted(run['norms'])}")
        row = run["norms"][name]
        rows.append(row / run["rms"][name] if normalize else row)
    return torch.stack(rows)


@dataclass(frozen=True)
class InefficiencyCurve:
    """E‖Δŵ_n‖ and I(n) of one target over runs.

    Attributes:
        sizes: (N,) sample sizes n = 1 … N.
        norm: E‖Δŵ_n‖ with its standard error over runs (mean, sem of shape (N,)).
        dense: (N − 1,) I(n) of Eq. 10 at every n = 1 … N − 1 (no smoothing).
        window_sizes: (M,) centres n of the windows [n/√w, n√w] of the smoothed curve.
        window: windowed I (see :func:`kdlib.student.windowed_data_inefficiency`) at those centres,
            with jackknife standard errors over runs.
        factor: the window's width w (ratio of its ends).
    """

    sizes: Tensor
    norm: MeanEstimate
    dense: Tensor
    window_sizes: Tensor
    window: MeanEstimate
    factor: float


def _windows(size: int, factor: float, smallest: int) -> tuple[Tensor, Tensor, Tensor]:
    half = math.sqrt(factor)
    centres = torch.arange(1, size + 1)
    lower = torch.round(centres / half).long()
    upper = torch.round(centres * half).long()
    keep = (lower >= smallest) & (upper <= size) & (upper > lower)
    return centres[keep], lower[keep], upper[keep]


def inefficiency_curve(norms: Tensor, *, factor: float = 2.0, smallest: int = 1) -> InefficiencyCurve:
    """E‖Δŵ_n‖, Eq. 10 at every n, and I(n) averaged over windows [n/√w, n√w] at every centre n.

    Args:
        norms: (runs, N) norms ‖Δŵ_n‖ (e.g. :func:`stack_runs`), runs ≥ 2.
        factor: w > 1, the ratio of a window's ends (2: one octave).
        smallest: the smallest lower end of a window.
    Returns:
        :class:`InefficiencyCurve`.
    """
    values = as_float64("norms", norms)
    if values.ndim != 2 or values.shape[0] < 2 or values.shape[1] < 2:
        raise ValueError(f"norms must have shape (runs ≥ 2, N ≥ 2), got {tuple(values.shape)}")
    if not factor > 1:
        raise ValueError(f"factor must be > 1, got {factor!r}")
    size = values.shape[1]
    centres, lower, upper = _windows(size, factor, max(1, smallest))
    window = jackknife(values, lambda v: windowed_data_inefficiency(v, lower, upper))
    return InefficiencyCurve(sizes=torch.arange(1, size + 1), norm=mean_estimate(values),
                             dense=data_inefficiency(values), window_sizes=centres, window=window,
                             factor=float(factor))


def window_estimate(norms: Tensor, lower: int, upper: int) -> MeanEstimate:
    """The windowed I over n ∈ [lower, upper) of one target, with its jackknife standard error over runs."""
    return jackknife(as_float64("norms", norms), lambda v: windowed_data_inefficiency(v, lower, upper))


def window_difference(first: Tensor, second: Tensor, lower: int, upper: int) -> MeanEstimate:
    """Windowed I of ``first`` minus that of ``second`` over paired runs (row i of both from run i).

    Pairing matters: targets of one run share X and the initialization, so their I(n) fluctuate
    together, and the jackknife over paired runs gives the (smaller) standard error of the difference.
    """
    a, b = as_float64("first", first), as_float64("second", second)
    if a.shape != b.shape:
        raise ValueError(f"first and second must have the same (runs, N) shape, got {tuple(a.shape)}, {tuple(b.shape)}")

    def difference(pairs: Tensor) -> Tensor:
        return (windowed_data_inefficiency(pairs[:, 0], lower, upper)
                - windowed_data_inefficiency(pairs[:, 1], lower, upper))

    return jackknife(torch.stack([a, b], dim=1), difference)
