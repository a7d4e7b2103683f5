"""Power-law fits and means over runs, against closed forms and Monte Carlo."""

import math

import pytest
import torch

from kdlib.stats import jackknife, mean_estimate, power_law_fit


def test_an_exact_power_law_is_recovered_with_zero_error():
    x = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0], dtype=torch.float64)
    fit = power_law_fit(x, 3.0 * x**-0.5)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12)
    assert math.exp(fit.intercept) == pytest.approx(3.0, rel=1e-12)
    assert fit.slope_se == pytest.approx(0.0, abs=1e-10)
    assert torch.allclose(fit(x), 3.0 * x.double() ** -0.5)


def test_slope_standard_error_matches_its_monte_carlo_spread():
    # Log-normal noise of σ = 0.2 on 8 points: the textbook SE σ/√Σ(log x − mean)² is what the
    # spread of fitted slopes over 4000 draws shows (its own Monte Carlo error is ~1.1 %, so 5 %).
    generator = torch.Generator().manual_seed(0)
    x = 2.0 ** torch.arange(8, dtype=torch.float64)
    log_x = torch.log(x)
    slopes, ses = [], []
    for _ in range(4000):
        y = torch.exp(-0.5 * log_x + 0.2 * torch.randn(8, generator=generator, dtype=torch.float64))
        fit = power_law_fit(x, y)
        slopes.append(fit.slope)
        ses.append(fit.slope_se)
    expected = 0.2 / math.sqrt(((log_x - log_x.mean()) ** 2).sum().item())
    assert torch.tensor(slopes).std().item() == pytest.approx(expected, rel=0.05)
    assert torch.tensor(slopes).mean().item() == pytest.approx(-0.5, abs=4 * expected / math.sqrt(4000))


@pytest.mark.parametrize(("x", "y", "message"), [
    ([1, 2], [1, 2], "at least 3"), ([1, 2, 3], [1, 2], "same length"), ([1, 2, 0], [1, 2, 3], "positive"),
    ([2, 2, 2], [1, 2, 3], "single value"),
])
def test_bad_fits_are_rejected(x, y, message):
    with pytest.raises(ValueError, match=message):
        power_law_fit(x, y)


def test_mean_estimate_is_mean_and_standard_error():
    values = torch.tensor([[1.0, 10.0], [3.0, 14.0], [5.0, 12.0]])
    estimate = mean_estimate(values)
    assert torch.allclose(estimate.mean, torch.tensor([3.0, 12.0], dtype=torch.float64))
    assert torch.allclose(estimate.sem, torch.tensor([2.0, 2.0], dtype=torch.float64) / math.sqrt(3))
    low, high = estimate.interval()
    assert torch.all(low < estimate.mean) and torch.all(high > estimate.mean)
    with pytest.raises(ValueError, match="at least 2"):
        mean_estimate([[1.0, 2.0]])


def test_jackknife_of_a_mean_is_the_standard_error_of_the_mean():
    runs = torch.randn(7, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    estimate = jackknife(runs, lambda r: r.mean(0)[1].item())
    value, error = estimate.mean.item(), estimate.sem.item()
    assert value == pytest.approx(runs[:, 1].mean().item(), rel=1e-12)
    assert error == pytest.approx(mean_estimate(runs[:, 1]).sem.item(), rel=1e-12)


def test_jackknife_of_a_fitted_slope_matches_its_monte_carlo_spread():
    # 8 runs of a noisy power law n^-0.5 (log-normal, σ = 0.3 per point): the jackknife standard error
    # of the slope fitted to the mean curve averages to the slopes' spread over 300 repetitions
    # (the jackknife of a smooth statistic is consistent; 20 % allows for its bias at 8 runs and for the
    # Monte Carlo error of 300 repetitions, about 4 % on each side).
    generator = torch.Generator().manual_seed(2)
    x = 2.0 ** torch.arange(6, dtype=torch.float64)
    slopes, errors = [], []
    for _ in range(300):
        runs = x**-0.5 * torch.exp(0.3 * torch.randn(8, 6, generator=generator, dtype=torch.float64))
        estimate = jackknife(runs, lambda r: power_law_fit(x, r.mean(0)).slope)
        slope, error = estimate.mean.item(), estimate.sem.item()
        slopes.append(slope)
        errors.append(error)
    assert torch.tensor(errors).mean().item() == pytest.approx(torch.tensor(slopes).std().item(), rel=0.2)


def test_jackknife_needs_two_runs():
    with pytest.raises(ValueError, match="at least 2 runs"):
        jackknife(torch.ones(1, 3), lambda r: r.mean().item())
