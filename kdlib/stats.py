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

    def lower_bound(self, confidence: float = 0.95) -> Tensor:
        """One-sided Student-t bound mean − t·sem, t the ``confidence`` quantile with runs − 1 degrees of freedom.

        For independent, normally distributed runs the true mean lies above it with probability
        ``confidence``. With few runs t is much larger than the normal 1.645 (2.92 for 3 runs at 95 %),
        which is what makes a verdict from 3 seeds honest.
        """
        if not 0.5 <= float(confidence) < 1.0:
            raise ValueError(f"confidence must be in [0.5, 1), got {confidence!r}")
        from scipy.stats import t as student_t

        return self.mean - float(student_t.ppf(float(confidence), self.runs - 1)) * self.sem


def mean_estimate(values: ArrayLike, dim: int = 0) -> MeanEstimate:
    """Mean and standard error of ``values`` over runs along ``dim`` (at least 2 runs)."""
    values = as_float64("values", values)
    runs = values.shape[dim]
    if runs < 2:
        raise ValueError(f"a standard error needs at least 2 runs along dim {dim}, got {runs}")
    return MeanEstimate(mean=values.mean(dim), sem=values.std(dim) / math.sqrt(runs), runs=runs)


def jackknife(values: ArrayLike, statistic: Callable[[Tensor], Tensor], dim: int = 0) -> MeanEstimate:
    """Leave-one-out jackknife of a statistic of runs: its value and standard error.

    For a statistic that is a smooth function of the runs (a logarithm of a mean, a ratio of means,
    the data inefficiency of Eq. 10), the standard error is
    √((R − 1)/R · Σ_i (θ_{−i} − θ̄)²) with θ_{−i} the statistic without run i and θ̄ their mean
    (Efron & Tibshirani, 1993, Ch. 11). For the plain mean it equals s/√R exactly.

    Args:
        values: runs along ``dim`` (at least 2).
        statistic: maps a tensor of runs along ``dim`` (R or R − 1 of them) to a tensor of any shape;
            it must use ``dim`` as the run dimension.
        dim: the run dimension.
    Returns:
        :class:`MeanEstimate` whose ``mean`` is the statistic of all runs, ``sem`` its jackknife
        standard error, ``runs`` = R.
    """
    values = as_float64("values", values)
    runs = values.shape[dim]
    if runs < 2:
        raise ValueError(f"a jackknife needs at least 2 runs along dim {dim}, got {runs}")
    def evaluate(subset: Tensor) -> Tensor:  # a statistic may return a number or a tensor
        return torch.as_tensor(statistic(subset), dtype=torch.float64, device=values.device)

    full = evaluate(values)
    keep = torch.arange(runs, device=values.device)
    leave_out = torch.stack([evaluate(values.index_select(dim, keep[keep != i])) for i in range(runs)])
    spread = ((leave_out - leave_out.mean(0)) ** 2).sum(0)
    return MeanEstimate(mean=full, sem=torch.sqrt((runs - 1) / runs * spread), runs=runs)
