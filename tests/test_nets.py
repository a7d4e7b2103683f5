"""NTKMLP: the parameterization of Eq. 1, seeding and validation."""

import math

import pytest
import torch

from kdlib import NTKMLP


def test_forward_follows_eq1_for_one_hidden_layer():
    model = NTKMLP(3, depth=1, width=5, sigma_w=1.3, sigma_b=0.7, dtype=torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    w0, w1 = model.weights
    b0, b1 = model.biases
    hidden = torch.relu(1.3 * x @ w0.T / math.sqrt(3) + 0.7 * b0)
    expected = 1.3 * hidden @ w1.T / math.sqrt(5) + 0.7 * b1
    torch.testing.assert_close(model(x), expected[:, 0], rtol=1e-13, atol=1e-13)  # same formula, other op order


def test_parameters_are_standard_normal_and_seeded():
    first = NTKMLP(2, depth=2, width=512, generator=torch.Generator().manual_seed(0))
    second = NTKMLP(2, depth=2, width=512, generator=torch.Generator().manual_seed(0))
    flat = torch.cat([p.detach().flatten() for p in first.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters(), strict=True))
    # 263,000 N(0, 1) draws: the sample mean and variance are within 5 standard errors.
    assert abs(flat.mean().item()) < 5 / math.sqrt(flat.numel())
    assert abs(flat.var().item() - 1) < 5 * math.sqrt(2 / flat.numel())


@pytest.mark.parametrize(("kwargs", "name"), [({"depth": 0}, "depth"), ({"width": 2.5}, "width"),
                                              ({"sigma_w": 0.0}, "sigma_w"), ({"sigma_b": -1.0}, "sigma_b")])
def test_bad_settings_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        NTKMLP(**{"d": 2, "depth": 2, "width": 8, **kwargs})


def test_input_shape_is_checked():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        NTKMLP(2, depth=1, width=4)(torch.zeros(3, 5))
