"""Sec. 4's data-inefficiency pieces: label smoothing, per-sample sign flips, expected norms, windowed I(n),
the jackknife, and one run of the experiment — each against an independent computation."""

import math

import pytest
import torch

from kdlib import effective_logits, efficiency, empirical_ntk, label_smoothing_logits, nngp_kernel, ntk_kernel
from kdlib.data import flip_signs, gaussian_inputs
from kdlib.stats import jackknife
from kdlib.student import data_inefficiency, expected_squared_norms, weight_change_norms, windowed_data_inefficiency


def spd(n, seed, p=None):
    """A well-conditioned random positive-definite matrix Aᵀ A / p with p = 3n rows."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(p or 3 * n, n, generator=generator, dtype=torch.float64)
    return a.T @ a / a.shape[0]


# ------------------------------------------------------------------------------------ label smoothing


def test_label_smoothing_logits_minimise_the_smoothed_cross_entropy():
    labels = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    epsilon = torch.tensor([0.01, 0.1, 0.5, 0.9, 1.0], dtype=torch.float64)
    z = label_smoothing_logits(labels, epsilon)
    smoothed = epsilon / 2 + (1 - epsilon) * labels
    # the derivative of H(y_LS, σ(z)) in z is σ(z) − y_LS: zero at the minimiser
    torch.testing.assert_close(torch.sigmoid(z), smoothed, rtol=1e-14, atol=1e-15)
    # the paper's formula a · sgn with a = log(2/ε − 1)
    torch.testing.assert_close(z, (2 * labels - 1) * torch.log(2 / epsilon - 1), rtol=1e-13, atol=1e-15)
    assert z[-1].item() == 0.0  # ε = 1: the uniform target


def test_label_smoothing_is_distillation_from_an_uninformative_teacher_at_unit_temperature():
    labels = torch.tensor([0.0, 1.0] * 3, dtype=torch.float64)
    epsilon = torch.tensor([0.05, 0.05, 0.2, 0.2, 0.7, 0.7], dtype=torch.float64)
    torch.testing.assert_close(effective_logits(0.0, labels, epsilon, 1.0), label_smoothing_logits(labels, epsilon),
                               rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize(("labels", "epsilon", "name"), [([0.5], 0.1, "y_g"), ([1.0], 0.0, "epsilon"),
                                                         ([1.0], 1.5, "epsilon")])
def test_label_smoothing_rejects_bad_arguments(labels, epsilon, name):
    with pytest.raises(ValueError, match=name):
        label_smoothing_logits(labels, epsilon)


# ------------------------------------------------------------------------------------ sign flips


def test_flip_signs_flips_each_sample_independently_with_the_given_probability():
    values = torch.linspace(0.5, 2.0, 40_000, dtype=torch.float64)
    flipped = flip_signs(values, 0.3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(flipped.abs(), values, rtol=0, atol=0)  # only signs change
    fraction = (flipped < 0).double().mean().item()
    # binomial: 5 standard errors √(p(1 − p)/n) ≈ 0.0115
    assert abs(fraction - 0.3) < 5 * math.sqrt(0.3 * 0.7 / 40_000)
    again = flip_signs(values, 0.3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(flipped, again)
    torch.testing.assert_close(flip_signs(values, 0.0), values, rtol=0, atol=0)
    torch.testing.assert_close(flip_signs(values, 1.0), -values, rtol=0, atol=0)
    assert flip_signs(values.float(), 0.5).dtype == torch.float32
    with pytest.raises(ValueError, match="flip_probability"):
        flip_signs(values, 1.5)


# ------------------------------------------------------------------------------------ expected norms


def test_expected_squared_norms_match_direct_traces():
    theta, covariance = spd(9, 1), spd(9, 2)
    identity = expected_squared_norms(theta)
    general = expected_squared_norms(theta, covariance)
    for n in range(1, 10):
        inverse = torch.linalg.inv(theta[:n, :n])
        # condition numbers ~10: both routes agree to a few ulps
        assert identity[n - 1].item() == pytest.approx(torch.trace(inverse).item(), rel=1e-12)
        assert general[n - 1].item() == pytest.approx(torch.trace(inverse @ covariance[:n, :n]).item(), rel=1e-12)
    batched = expected_squared_norms(torch.stack([theta, covariance]))
    torch.testing.assert_close(batched[0], identity, rtol=1e-13, atol=0)


def test_expected_squared_norms_agree_with_monte_carlo_on_the_ntk():
    x = gaussian_inputs(24, generator=torch.Generator().manual_seed(3))
    theta, sigma = ntk_kernel(x, depth=3), nngp_kernel(x, depth=3)
    draws = 4000
    generator = torch.Generator().manual_seed(4)
    noise = torch.randn(draws, 24, generator=generator, dtype=torch.float64)
    correlated = noise @ torch.linalg.cholesky(sigma + 1e-12 * torch.eye(24, dtype=torch.float64)).T
    cases = ((noise, expected_squared_norms(theta)), (correlated, expected_squared_norms(theta, sigma)))
    for samples, predicted in cases:
        squared = weight_change_norms(theta, samples).square()
        mean, sem = squared.mean(0), squared.std(0) / math.sqrt(draws)
        # Monte Carlo error: every prefix within 5 standard errors
        assert bool(((mean - predicted).abs() <= 5 * sem).all())


def test_expected_squared_norms_checks_the_covariance_shape():
    with pytest.raises(ValueError, match="covariance"):
        expected_squared_norms(spd(4, 0), spd(5, 1))


# ------------------------------------------------------------------------------------ windowed I(n)


def test_windowed_data_inefficiency_is_the_weighted_mean_of_eq_10():
    generator = torch.Generator().manual_seed(5)
    norms = torch.cumsum(torch.rand(6, 50, generator=generator, dtype=torch.float64), dim=1).sqrt()
    dense = data_inefficiency(norms)  # entry k − 1 is I(k)
    for lower, upper in ((1, 2), (3, 17), (10, 50)):
        k = torch.arange(lower, upper, dtype=torch.float64)
        weighted = (dense[lower - 1:upper - 1] / k).sum() / (1 / k).sum()
        got = windowed_data_inefficiency(norms, lower, upper)
        assert got.item() == pytest.approx(weighted.item(), rel=1e-12)
    vector = windowed_data_inefficiency(norms, torch.tensor([1, 3]), torch.tensor([2, 17]))
    assert vector.shape == (2,)


def test_windowed_data_inefficiency_recovers_a_power_law():
    n = torch.arange(1, 4097, dtype=torch.float64)
    for gamma in (0.0, 0.5, 0.75):
        # Σ_{k=a}^{b−1} 1/k differs from ln(b/a) by O(1/a): 1e-3 at a = 1024
        assert windowed_data_inefficiency(n**gamma, 1024, 4096).item() == pytest.approx(gamma, abs=1e-3)


@pytest.mark.parametrize(("lower", "upper"), [(0, 4), (4, 4), (2, 11), (1.0, 3)])
def test_windowed_data_inefficiency_rejects_bad_windows(lower, upper):
    with pytest.raises(ValueError, match="integers|windows"):
        windowed_data_inefficiency(torch.ones(3, 10), lower, upper)


# ------------------------------------------------------------------------------------ jackknife


def test_jackknife_of_the_mean_is_the_standard_error():
    values = torch.randn(12, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    estimate = jackknife(values, lambda v: v.mean(0))
    torch.testing.assert_close(estimate.mean, values.mean(0), rtol=1e-14, atol=0)
    torch.testing.assert_close(estimate.sem, values.std(0) / math.sqrt(12), rtol=1e-12, atol=0)


def test_jackknife_of_a_log_mean_matches_the_delta_method():
    values = 1 + 0.1 * torch.randn(400, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    estimate = jackknife(values, lambda v: torch.log(v.mean(0)))
    delta_method = (values.std() / math.sqrt(400) / values.mean()).item()
    # both are first-order accurate; for a 10 % spread they differ at the 1 % level
    assert estimate.sem.item() == pytest.approx(delta_method, rel=0.02)
    with pytest.raises(ValueError, match="2 runs"):
        jackknife(values[:1], lambda v: v.mean(0))


# ------------------------------------------------------------------------------------ one run


@pytest.fixture(scope="module")
def small_run():
    x = gaussian_inputs(30, generator=torch.Generator().manual_seed(8))
    target = torch.sin(x[:, 0])
    noise = torch.randn(30, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    return x, target, noise


def test_a_run_computes_every_target_with_the_networks_initial_logits(small_run):
    x, target, noise = small_run
    run = efficiency.weight_change_norm_run(x, {"sine": target, "zero": torch.zeros(30)}, {"noise": noise},
                                            init_seed=11, depth=3, width=64, references=True, spectrum=12)
    network = efficiency.initial_network(2, depth=3, width=64, seed=11)
    with torch.no_grad():
        initial = network(x.float()).double()
    theta = ntk_kernel(x, depth=3)
    # float32 initial logits, float64 solves: the norms match the direct computation to ~1e-6
    torch.testing.assert_close(run["norms"]["sine"], weight_change_norms(theta, target - initial), rtol=1e-9, atol=0)
    torch.testing.assert_close(run["norms"]["zero"], weight_change_norms(theta, -initial), rtol=1e-9, atol=0)
    torch.testing.assert_close(run["norms"]["noise"], weight_change_norms(theta, noise), rtol=1e-12, atol=0)
    assert run["rms"]["noise"] == pytest.approx(noise.square().mean().sqrt().item(), rel=1e-14)
    assert run["initial_rms"] == pytest.approx(initial.square().mean().sqrt().item(), rel=1e-12)
    torch.testing.assert_close(run["trace_identity"], expected_squared_norms(theta), rtol=1e-12, atol=0)
    torch.testing.assert_close(run["trace_nngp"], expected_squared_norms(theta, nngp_kernel(x, depth=3)),
                               rtol=1e-12, atol=0)
    eigenvalues = torch.linalg.eigvalsh(theta[:12, :12]).flip(0) / 12
    torch.testing.assert_close(run["eigenvalues"], eigenvalues, rtol=1e-12, atol=1e-15)


def test_a_run_with_the_empirical_kernel_uses_that_networks_kernel(small_run):
    x, target, _ = small_run
    run = efficiency.weight_change_norm_run(x, {"sine": target}, init_seed=12, depth=2, width=256,
                                            kernel="empirical")
    network = efficiency.initial_network(2, depth=2, width=256, seed=12, dtype=torch.float64)
    with torch.no_grad():
        initial = network(x)
    direct = weight_change_norms(empirical_ntk(network, x), target - initial)
    torch.testing.assert_close(run["norms"]["sine"], direct, rtol=1e-10, atol=0)


def test_a_run_of_logit_changes_alone_needs_no_network(small_run):
    x, _, noise = small_run
    narrow = efficiency.weight_change_norm_run(x, deltas={"noise": noise}, init_seed=1, depth=3, width=8)
    wide = efficiency.weight_change_norm_run(x, deltas={"noise": noise}, init_seed=2, depth=3, width=4096)
    # the analytic kernel does not depend on the width or the seed, and no initial logits enter
    assert narrow["initial_rms"] is None
    torch.testing.assert_close(narrow["norms"]["noise"], wide["norms"]["noise"], rtol=0, atol=0)


def test_a_run_rejects_bad_requests(small_run):
    x, target, noise = small_run
    with pytest.raises(ValueError, match="kernel"):
        efficiency.weight_change_norm_run(x, {"a": target}, init_seed=0, kernel="exact")
    with pytest.raises(ValueError, match="both"):
        efficiency.weight_change_norm_run(x, {"a": target}, {"a": noise}, init_seed=0, depth=1, width=8)
    with pytest.raises(ValueError, match="shape"):
        efficiency.weight_change_norm_run(x, {"a": target[:5]}, init_seed=0, depth=1, width=8)
    with pytest.raises(ValueError, match="at least one"):
        efficiency.weight_change_norm_run(x, init_seed=0, depth=1, width=8)


# ------------------------------------------------------------------------------------ curves over runs


def test_curves_normalize_runs_and_estimate_windows_with_paired_errors(small_run):
    x, target, noise = small_run
    runs = [efficiency.weight_change_norm_run(x, {"sine": target}, {"noise": noise * (1 + seed)},
                                              init_seed=seed, depth=2, width=32) for seed in range(4)]
    raw = efficiency.stack_runs(runs, "noise", normalize=False)
    normalized = efficiency.stack_runs(runs, "noise")
    # the noise is the same vector scaled by 1 + seed, so after normalization every run is identical
    torch.testing.assert_close(normalized, normalized[:1].expand_as(normalized), rtol=1e-12, atol=0)
    torch.testing.assert_close(raw[2], 3 * raw[0], rtol=1e-12, atol=0)
    curve = efficiency.inefficiency_curve(normalized, factor=2.0, smallest=2)
    assert curve.dense.shape == (29,) and curve.sizes.shape == (30,)
    assert int(curve.window_sizes.min()) >= 3 and bool((curve.window.sem.abs() < 1e-12).all())
    sine = efficiency.stack_runs(runs, "sine")
    single = efficiency.window_estimate(sine, 4, 16)
    assert single.mean.item() == pytest.approx(windowed_data_inefficiency(sine, 4, 16).item(), rel=1e-14)
    same = efficiency.window_difference(sine, sine, 4, 16)
    assert same.mean.item() == 0.0 and same.sem.item() == 0.0
    with pytest.raises(KeyError, match="cosine"):
        efficiency.stack_runs(runs, "cosine")


# ------------------------------------------------------------------------------------ the chapter's settings


def test_the_paper_profile_uses_the_papers_sizes_and_existing_stopping_epochs():
    from kdlib.book.chapters import CHAPTERS

    for profile, settings in CHAPTERS["03-data-efficiency"].items():
        spec = settings.teachers.fig4
        assert set(settings.stops) <= set(spec.stopping_epochs), profile  # every stop is a kept epoch
        assert settings.empirical_samples <= settings.samples, profile
    paper = CHAPTERS["03-data-efficiency"]["paper"]
    # S4.1: d = 2, L = 5, m = 1024, 20 runs per curve; Sec. 5's sample size 2^14; Fig. 4 right at epoch 511
    assert (paper.depth, paper.width, paper.runs, paper.samples) == (5, 1024, 20, 2**14)
    assert paper.teachers.fig4_stop == 511 and 511 in paper.stops
