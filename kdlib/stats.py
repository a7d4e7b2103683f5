"""Small statistics the chapters share: power-law fits with standard errors, means over runs.

Rates are read off log–log fits throughout the paper (the empirical NTK's error against width,
transfer risk against n in Fig. 2, test error against n in Fig. S1); a verdict that depends on
random draws is decided over several runs with its uncertainty. Both live here, once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from kdlib._validate import ArrayLike, as_float64

__all__ = ["PowerLawFit", "power_law_fit", "MeanEstimate", "mean_estimate", "jackknife"]


@dataclass(frozen=True)
class PowerLawFit:
    """``y ≈ exp(intercept) · x^slope``, fitted by least squares on (log x, log y).

    ``slope_se`` is the slope's standard error under independent, equal-variance residuals:
    s / sqrt(Σ (log x − mean log x)²) with s² the residual variance on n − 2 degrees of freedom.
    """

    slope: float
    intercept: float
    slope_se: float
    points: int

    def __call__(self, x: ArrayLike) -> Tensor:
        """The fitted curve at ``x``."""
        return torch.exp(self.intercept + self.slope * torch.log(as_float64("x", x)))


def power_law_fit(x: ArrayLike, y: ArrayLike) -> PowerLawFit:
    """Least-squares fit of log y = intercept + slope · log x (every pair one observation).

    Args:
        x, y: positive values of equal length ≥ 3 (two points leave no residual to estimate the error).
    Raises:
        ValueError: lengths differ, fewer than 3 points, a non-positive value, or x without spread.
    """
    x, y = as_float64("x", x).flatten(), as_float64("y", y).flatten()
    if x.numel() != y.numel():
        raise ValueError(f"x and y must have the same length, got {x.numel()} and {y.numel()}")
    if x.numel() < 3:
        raise ValueError(f"a power-law fit with a standard error needs at least 3 points, got {x.numel()}")
    if not (bool((x > 0).all()) and bool((y > 0).all())):
        raise ValueError("power_law_fit needs positive x and y (it fits their logarithms)")
    log_x, log_y = torch.log(x), torch.log(y)
    spread = ((log_x - log_x.mean()) ** 2).sum()
    if spread.item() == 0:
        raise ValueError("x has a single value: the slope is undefined")
    design = torch.stack([torch.ones_like(log_x), log_x], dim=1)
    coef = torch.linalg.lstsq(design, log_y[:, None]).solution[:, 0]
    residual = log_y - design @ coef
    slope_se = math.sqrt((residual @ residual).item() / (len(log_y) - 2) / spread.item())
    return PowerLawFit(slope=coef[1].item(), intercept=coef[0].item(), slope_se=slope_se, points=len(log_y))


@dataclass(frozen=True)
class MeanEstimate:
    """Mean over runs with its standard error (sample standard deviation / √runs) and the run count."""

    mean: Tensor
    sem: Tensor
    runs: int

    def interval(self, z: float = 1.96) -> tuple[Tensor, Tensor]:
        """The normal-approximation interval mean ± z·sem (1.96: about 95 %)."""
        return self.mean - z * self.sem, self.mean + z * self.sem


def mean_estimate(values: ArrayLike, dim: int = 0) -> MeanEstimate:
    """Mean and standard error of ``values`` over runs along ``dim`` (at least 2 runs)."""
    values = as_float64("values", values)
    runs = values.shape[dim]
    if runs < 2:
        raise ValueError(f"a standard error needs at least 2 runs along dim {dim}, got {runs}")
    return MeanEstimate(mean=values.mean(dim), sem=values.std(dim) / math.sqrt(runs), runs=runs)


def jackknife(statistic: Callable[[Tensor], float], runs: ArrayLike) -> tuple[float, float]:
    """A statistic of the mean over runs and its leave-one-out (jackknife) standard error.

    For a statistic of several runs that is not a plain mean — a power-law slope fitted to the
    mean curve of R runs, say — the spread of the R values with one run left out gives its standard
    error: se² = (R − 1)/R · Σ_i (θ_(i) − θ̄)², θ_(i) the statistic without run i (Efron & Stein). It
    is exact (it equals the s.e.m.) for a statistic linear in the runs and needs no model of how
    points of one curve are correlated, which a least-squares standard error would assume away.

    Args:
        statistic: maps a (runs, ...) tensor (float64) to a number, e.g. ``lambda r: fit(r.mean(0))``.
        runs: (R, ...) values per run, R ≥ 2.
    Returns:
        (statistic of all runs, jackknife standard error).
    """
    values = as_float64("runs", runs)
    count = values.shape[0] if values.ndim else 0
    if count < 2:
        raise ValueError(f"a jackknife needs at least 2 runs along dimension 0, got {count}")
    full = float(statistic(values))
    left_out = torch.tensor([float(statistic(torch.cat([values[:i], values[i + 1:]]))) for i in range(count)],
                            dtype=torch.float64)
    spread = ((left_out - left_out.mean()) ** 2).sum().item()
    return full, math.sqrt((count - 1) / count * spread)
