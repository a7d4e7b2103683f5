"""Inputs and synthetic teachers of the paper's experiments (Sec. 4, S4 and S4.1).

* Inputs: every experiment draws x ~ N(0, 5² I) (Sec. S4, "Input Distribution Design"), in
  d = 2 for all the synthetic figures (S4.1) — :func:`gaussian_inputs`.
* Gaussian-mixture targets (Fig. 3, Fig. S2): z(x) = Σ_j A_j exp(−‖x − x_j‖² / σ_j²) with q
  random modes — :class:`GaussianMixture` and :func:`random_gaussian_mixture`.

The paper gives the randomization only in words; the choices made here are:

* amplitudes A_j = s_j · A · u_j with a fair random sign s_j and u_j ~ U(1/2, 3/2) ("around a fixed
  amplitude A, with equal chance of positive and negative sign");
* centres x_j ~ N(0, σ_p² I) with σ_p = 5, the input scale ("most x_j in the distribution of x");
* widths σ_j = σ · v_j with v_j ~ U(1/2, 3/2) around σ = 15 / q^{2/d}. The paper states σ = 15/q²
  and plots 1-D examples (Fig. S2); read as "the volume σ^d of one mode shrinks like 1/q²", the
  same rule in d dimensions is σ = 15 / q^{2/d}, which reduces to the paper's in d = 1. In d = 2
  this gives σ = 15/q: q = 10 modes of width 1.5 on inputs of scale 5, each mode visible. The rule
  is a parameter (``width_scale``, ``width_exponent``) so a chapter can use the literal 15/q².
* the sign-flip task of Fig. 3 right, z_* = s · z_gaussian(x) with P(s = −1) = p_flip, has two
  readings: one s for the whole function (``random_gaussian_mixture(flip_probability=)``) or an
  independent s for every sample, i.e. label noise (:func:`flip_signs`). The first leaves the
  distribution of the student's weight change unchanged (the initial logits are symmetric in
  sign), so only the second can make the task harder; the data-efficiency chapter computes both.

Everything is seeded through a ``torch.Generator``; values are float64 unless asked otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["INPUT_SCALE", "gaussian_inputs", "GaussianMixture", "random_gaussian_mixture", "flip_signs"]

INPUT_SCALE = 5.0  # x ~ N(0, 5² I), Sec. S4


def _positive_int(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")


def gaussian_inputs(
    n: int,
    d: int = 2,
    *,
    scale: float = INPUT_SCALE,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """n inputs x ~ N(0, scale² I_d), the paper's input distribution (Sec. S4; scale 5, d = 2).

    Drawn on the CPU from ``generator`` (so the values do not depend on the device) and moved.

    Returns:
        (n, d) tensor.
    """
    _positive_int("n", n)
    _positive_int("d", d)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    x = scale * torch.randn(n, d, generator=generator, dtype=torch.float64)
    return x.to(dtype=dtype, device=device)


@dataclass(frozen=True)
class GaussianMixture:
    """z(x) = s · Σ_j A_j exp(−‖x − x_j‖² / σ_j²), the Gaussian-mixture target of Sec. 4 / S4.

    Attributes:
        amplitudes: (q,) signed amplitudes A_j.
        centers: (q, d) mode centres x_j.
        widths: (q,) widths σ_j > 0.
        sign: overall sign s ∈ {±1} (the flip of Fig. 3 right; +1 otherwise).
    """

    amplitudes: Tensor
    centers: Tensor
    widths: Tensor
    sign: float = 1.0

    @property
    def modes(self) -> int:
        return self.amplitudes.shape[0]

    @property
    def d(self) -> int:
        return self.centers.shape[1]

    def __call__(self, x: Tensor) -> Tensor:
        """Evaluate at x of shape (n, d); returns (n,) in x's dtype and device.

        The squared distances use ‖x‖² − 2x·x_j + ‖x_j‖² in float64, clamped at 0, so the
        exponent is never positive through rounding.
        """
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"x must have shape (n, {self.d}), got {tuple(x.shape)}")
        points = x.to(torch.float64)
        centers = self.centers.to(points.device)
        squared = (points.square().sum(1, keepdim=True) - 2.0 * points @ centers.T
                   + centers.square().sum(1)).clamp_min(0.0)
        bumps = torch.exp(-squared / self.widths.to(points.device).square())
        values = self.sign * (bumps @ self.amplitudes.to(points.device))
        return values.to(dtype=x.dtype)


def random_gaussian_mixture(
    q: int,
    d: int = 2,
    *,
    amplitude: float = 1.0,
    center_scale: float = INPUT_SCALE,
    width_scale: float = 15.0,
    width_exponent: float | None = None,
    flip_probability: float = 0.0,
    generator: torch.Generator | None = None,
) -> GaussianMixture:
    """A random q-mode Gaussian mixture, randomized as described in the module docstring (S4).

    Args:
        q: number of modes (the difficulty knob of Fig. 3 left).
        d: input dimension.
        amplitude: A, the typical |A_j|.
        center_scale: σ_p, the standard deviation of the centres.
        width_scale, width_exponent: σ = width_scale / q^{width_exponent}; the exponent defaults
            to 2/d (the paper's 15/q² in d = 1, see the module docstring).
        flip_probability: P(s = −1) for the overall sign, one s for the whole function, in [0, 1].
            (The per-sample reading of Fig. 3 right is :func:`flip_signs`.)
        generator: CPU generator; the same seed gives the same function.
    Returns:
        :class:`GaussianMixture` with float64 parameters on the CPU.
    """
    _positive_int("q", q)
    _positive_int("d", d)
    for name, value in (("amplitude", amplitude), ("center_scale", center_scale), ("width_scale", width_scale)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if not 0.0 <= flip_probability <= 1.0:
        raise ValueError(f"flip_probability must be in [0, 1], got {flip_probability!r}")
    exponent = 2.0 / d if width_exponent is None else float(width_exponent)
    if not math.isfinite(exponent):
        raise ValueError(f"width_exponent must be finite, got {width_exponent!r}")
    sigma = width_scale / q**exponent
    signs = torch.where(torch.rand(q, generator=generator, dtype=torch.float64) < 0.5, -1.0, 1.0)
    amplitudes = signs * amplitude * (0.5 + torch.rand(q, generator=generator, dtype=torch.float64))
    centers = center_scale * torch.randn(q, d, generator=generator, dtype=torch.float64)
    widths = sigma * (0.5 + torch.rand(q, generator=generator, dtype=torch.float64))
    flipped = torch.rand((), generator=generator, dtype=torch.float64).item() < flip_probability
    return GaussianMixture(amplitudes=amplitudes, centers=centers, widths=widths, sign=-1.0 if flipped else 1.0)


def flip_signs(
    values: Tensor, flip_probability: float, *, generator: torch.Generator | None = None
) -> Tensor:
    """Label noise by sign flips: s_i · z_i with independent s_i ∈ {±1}, P(s_i = −1) = p_flip.

    The per-sample reading of Fig. 3 right (z_* = s · z_gaussian(x), one s per training sample):
    E[s_i z_i] = (1 − 2p) z_i and Var[s_i z_i] = 4p(1 − p) z_i², so p = 1/2 keeps only the
    magnitude |z_i| and makes the sign a fair coin, "a completely random sign".

    Args:
        values: (..., n) target values z(x_i).
        flip_probability: p_flip in [0, 1].
        generator: CPU generator; the flips are drawn on the CPU (device-independent) and moved.
    Returns:
        tensor like ``values`` with each entry's sign flipped independently with probability p_flip.
    """
    if not isinstance(values, Tensor):
        raise ValueError(f"values must be a tensor, got {type(values).__name__}")
    if not (isinstance(flip_probability, int | float) and 0.0 <= flip_probability <= 1.0):
        raise ValueError(f"flip_probability must be in [0, 1], got {flip_probability!r}")
    draws = torch.rand(values.shape, generator=generator, dtype=torch.float64)
    signs = torch.where(draws < flip_probability, -1.0, 1.0).to(dtype=values.dtype, device=values.device)
    return signs * values
