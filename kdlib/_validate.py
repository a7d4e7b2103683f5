"""Input validation shared by kdlib's public functions (private module)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

ArrayLike = Any  # torch.Tensor, numpy.ndarray, Python scalar or sequence


def as_float64(name: str, value: ArrayLike, device: torch.device | None = None, *, keep_graph: bool = False) -> Tensor:
    """Return ``value`` as a float64 tensor, rejecting NaN with an error that names ``name``.

    A tensor is detached from autograd unless ``keep_graph`` (then gradients flow through the cast).
    """
    if isinstance(value, Tensor):
        tensor = (value if keep_graph else value.detach()).to(dtype=torch.float64)
        if device is not None:
            tensor = tensor.to(device)
    else:
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be numeric, got {value!r}") from error
        tensor = torch.as_tensor(array, dtype=torch.float64, device=device)
    if torch.isnan(tensor).any():
        raise ValueError(f"{name} contains NaN; every entry must be a number")
    return tensor


def first_device(*values: ArrayLike) -> torch.device | None:
    """The device of the first tensor among ``values`` (None when there is none)."""
    for value in values:
        if isinstance(value, Tensor):
            return value.device
    return None


def check_range(
    name: str,
    tensor: Tensor,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    allowed: str,
) -> None:
    """Raise ValueError naming ``name``, the offending value and ``allowed`` if out of range."""
    bad = torch.zeros_like(tensor, dtype=torch.bool)
    if low is not None:
        bad |= tensor <= low if low_open else tensor < low
    if high is not None:
        bad |= tensor > high
    if bad.any():
        offending = tensor[bad].flatten()[0].item()
        raise ValueError(f"{name} must be {allowed}, got {offending!r}")


def check_labels(name: str, tensor: Tensor) -> None:
    """Hard labels must be exactly 0 or 1."""
    bad = (tensor != 0) & (tensor != 1)
    if bad.any():
        offending = tensor[bad].flatten()[0].item()
        raise ValueError(f"{name} must be a hard label in {{0, 1}}, got {offending!r}")
