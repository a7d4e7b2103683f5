"""Wide ReLU networks in the NTK parameterization of Eq. 1 (Sec. 2 and S4 of the paper).

Every weight and bias is drawn from N(0, 1); the layer sizes enter only as the explicit
factors σ_W/√fan_in, so each parameter moves by O(1/√m) in training and a wide network
stays close to its linearization (Jacot et al., 2018; Lee et al., 2019).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["NTKMLP"]


class NTKMLP(nn.Module):
    """Fully connected ReLU network of Eq. 1 with a scalar output logit.

        h¹ = σ_W W⁰ x / √d + σ_b b⁰,   h^{l+1} = σ_W W^l g(h^l) / √m + σ_b b^l,
        f(x; w) = σ_W W^L g(h^L) / √m + σ_b b^L,

    with ``depth`` = L hidden layers of ``width`` = m units, g = ReLU and W, b ~ N(0, 1).

    Args:
        d: input dimension.
        depth: number of hidden layers L ≥ 1.
        width: hidden width m ≥ 1.
        sigma_w, sigma_b: σ_W > 0 and σ_b ≥ 0 (the paper uses 1.0 and 1.0).
        generator: CPU generator for the initialization (repeatable runs); None uses torch's global one.
        dtype, device: of the parameters.
    Forward:
        ``x`` of shape (n, d) → logits of shape (n,).
    """

    def __init__(
        self,
        d: int,
        depth: int,
        width: int,
        sigma_w: float = 1.0,
        sigma_b: float = 1.0,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        for name, value, low in (("d", d, 1), ("depth", depth, 1), ("width", width, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
        if not sigma_w > 0:
            raise ValueError(f"sigma_w must be > 0, got {sigma_w!r}")
        if not sigma_b >= 0:
            raise ValueError(f"sigma_b must be ≥ 0, got {sigma_b!r}")
        self.d, self.depth, self.width = d, depth, width
        self.sigma_w, self.sigma_b = float(sigma_w), float(sigma_b)
        fan_ins = [d] + [width] * depth
        fan_outs = [width] * depth + [1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(fan_ins, fan_outs, strict=True):
            weight = torch.randn(fan_out, fan_in, generator=generator, dtype=torch.float64)
            bias = torch.randn(fan_out, generator=generator, dtype=torch.float64)
            self.weights.append(nn.Parameter(weight.to(dtype=dtype, device=device)))
            self.biases.append(nn.Parameter(bias.to(dtype=dtype, device=device)))
        self.scales = [self.sigma_w / math.sqrt(fan_in) for fan_in in fan_ins]

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"x must have shape (n, {self.d}), got {tuple(x.shape)}")
        h = x
        last = len(self.weights) - 1
        for layer, (weight, bias, scale) in enumerate(zip(self.weights, self.biases, self.scales, strict=True)):
            h = scale * (h @ weight.T) + self.sigma_b * bias
            if layer < last:
                h = torch.relu(h)
        return h[:, 0]
