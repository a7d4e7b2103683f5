"""kdlib.risk: prefix predictions, transfer-risk curves, Eqs. 6–9 and the bounds of Sec. 3 and S6.

Each function is compared with an independent computation: one direct solve per prefix, explicit
feature vectors (so weight changes and angles exist as vectors), brute-force counting.
"""

import math

import pytest
import torch

from kdlib.data import gaussian_inputs, random_gaussian_mixture
from kdlib.kernels import ntk_kernel
from kdlib.risk import (
    angle_distribution,
    eq9_angle,
    feature_cosines,
    phuong_lampert_bound,
    prefix_inner_products,
    prefix_predictions,
    projected_student_angle,
    risk_bound,
    transfer_risk,
    transfer_risk_curve,
)


def explicit_features(columns, p=60, seed=0):
    """Random explicit features φ of shape (P, columns); P > pool size keeps Θ = φᵀφ well conditioned."""
    return torch.randn(p, columns, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def min_norm(phi, targets):
    """The least-norm w with φᵀw = targets (least squares on the under-determined system)."""
    return torch.linalg.lstsq(phi.T, targets[:, None]).solution[:, 0]


def angle(u, v):
    """Kahan's stable angle between two explicit vectors."""
    u, v = u / u.norm(), v / v.norm()
    return 2 * math.atan2((u - v).norm().item(), (u + v).norm().item())


def test_prefix_predictions_match_one_direct_solve_per_prefix_on_the_ntk():
    generator = torch.Generator().manual_seed(0)
    x, x_test = gaussian_inputs(40, generator=generator), gaussian_inputs(25, generator=generator)
    kernel, cross = ntk_kernel(x, depth=3), ntk_kernel(x, x_test, depth=3)
    delta_z = torch.stack([random_gaussian_mixture(5, generator=generator)(x) for _ in range(2)])  # two targets
    initial = randn(25, seed=1)
    predictions = prefix_predictions(kernel, cross, delta_z, initial=initial)
    assert predictions.shape == (2, 40, 25)
    worst = 0.0
    for n in range(1, 41):
        direct = initial + (cross[:n].T @ torch.linalg.solve(kernel[:n, :n], delta_z[:, :n].T)).T  # (2, 25)
        worst = max(worst, ((predictions[:, n - 1] - direct).abs().max() / direct.abs().max()).item())
    # Θ_40 of the NTK has condition number ~1e4 here: both routes agree to ~cond · ε.
    assert worst < 1e-10


def test_prefix_predictions_are_the_explicit_weight_changes_applied_to_test_features():
    phi = explicit_features(18, seed=2)  # 12 pool samples, 6 test inputs
    train, test = phi[:, :12], phi[:, 12:]
    delta_z, initial = randn(12, seed=3), randn(6, seed=4)
    predictions = prefix_predictions(train.T @ train, train.T @ test, delta_z, initial=initial)
    for n in (1, 5, 12):
        weight_change = min_norm(train[:, :n], delta_z[:n])  # Eq. 4 as a vector
        expected = initial + test.T @ weight_change
        assert torch.allclose(predictions[n - 1], expected, rtol=1e-10, atol=1e-10)


def test_risk_curve_counts_sign_disagreements_like_brute_force_in_any_chunking():
    generator = torch.Generator().manual_seed(5)
    x, x_test = gaussian_inputs(30, generator=generator), gaussian_inputs(200, generator=generator)
    kernel, cross = ntk_kernel(x, depth=2), ntk_kernel(x, x_test, depth=2)
    teacher = random_gaussian_mixture(6, generator=generator)
    delta_z = torch.stack([teacher(x), torch.sign(teacher(x))])
    initial = 0.3 * randn(200, seed=6)
    predictions = prefix_predictions(kernel, cross, delta_z, initial=initial)
    brute = ((predictions * teacher(x_test)) < 0).double().mean(-1)
    for chunk in (1, 7, 60 * 13, 10**9):  # one test input per block … everything at once
        curve = transfer_risk_curve(kernel, cross, delta_z, teacher(x_test), initial=initial, chunk_entries=chunk)
        assert torch.equal(curve.risk, brute)
    assert curve.test_points == 200
    assert torch.allclose(curve.standard_error, (brute * (1 - brute) / 200).sqrt())
    risk, error = transfer_risk(teacher(x_test), predictions[:, -1])
    assert torch.equal(risk, brute[:, -1]) and torch.allclose(error, curve.standard_error[:, -1])
    # one reference and one initial function per row: each row is its own curve
    references, starts = torch.stack([teacher(x_test), -teacher(x_test)]), torch.stack([initial, 2 * initial])
    rows = transfer_risk_curve(kernel, cross, delta_z, references, initial=starts, chunk_entries=500)
    for row in range(2):
        single = prefix_predictions(kernel, cross, delta_z[row], initial=starts[row])
        assert torch.equal(rows.risk[row], ((single * references[row]) < 0).double().mean(-1))


def test_prefix_inner_products_match_direct_solves():
    phi = explicit_features(10, seed=7)
    kernel = phi.T @ phi
    a, b = randn(3, 10, seed=8), randn(10, seed=9)
    inner = prefix_inner_products(kernel, a, b)
    squares = prefix_inner_products(kernel, a)
    for n in range(1, 11):
        direct = a[:, :n] @ torch.linalg.solve(kernel[:n, :n], b[:n])
        assert torch.allclose(inner[:, n - 1], direct, rtol=1e-11, atol=1e-12)
        assert torch.allclose(squares[:, n - 1], (a[:, :n] * torch.linalg.solve(kernel[:n, :n], a[:, :n].T).T).sum(-1),
                              rtol=1e-11)


def test_feature_cosines_are_the_cosines_of_explicit_vectors():
    phi = explicit_features(8, seed=10)
    u = randn(60, seed=11)
    cosines = feature_cosines(u @ phi, (phi * phi).sum(0), u.norm())
    for i in range(8):
        full = angle(phi[:, i], u)
        assert cosines[i].item() == pytest.approx(math.cos(min(full, math.pi - full)), abs=1e-12)


def test_angle_distribution_and_bound_count_like_brute_force():
    cosines = torch.rand(500, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    beta = torch.linspace(0, math.pi / 2, 37, dtype=torch.float64)
    p = angle_distribution(cosines, beta)
    angles = torch.arccos(cosines)
    for k, b in enumerate(beta):
        assert p[k].item() == (angles > b).double().mean().item()
    alpha = torch.linspace(0, math.pi / 2, 11, dtype=torch.float64)
    bound = risk_bound(cosines, alpha)
    for k, a in enumerate(alpha):
        assert bound[k].item() == (cosines <= torch.sin(a)).double().mean().item()
    assert bound[0].item() == (cosines <= 0).double().mean().item() and bound[-1].item() == 1.0


def test_theorem_1_holds_pointwise_for_explicit_vectors():
    # Oracle u, student v and 4000 random features φ(x): wherever sign(uᵀφ) ≠ sign(vᵀφ), the feature
    # lies within ᾱ(u, v) of u's hyperplane, so the disagreement fraction never exceeds the bound.
    for seed in range(5):
        u = randn(30, seed=100 + seed)
        v = u + (0.2 + 0.3 * seed) * randn(30, seed=200 + seed)
        phi = randn(30, 4000, seed=300 + seed)
        disagree = ((u @ phi) * (v @ phi) < 0).double().mean().item()
        full = angle(u, v)
        acute = min(full, math.pi - full)
        bound = risk_bound(feature_cosines(u @ phi, (phi * phi).sum(0), u.norm()),
                           torch.tensor([acute], dtype=torch.float64)).item()
        assert 0 < disagree <= bound


def test_eq9_angle_is_the_angle_between_the_oracle_and_its_projection():
    phi = explicit_features(15, p=40, seed=13)
    oracle = randn(40, seed=14)
    norms = prefix_inner_products(phi.T @ phi, oracle @ phi).sqrt()  # ‖P_n Δw*‖ = ‖Δŵ_n‖ (Eq. 5)
    angles = eq9_angle(norms, oracle.norm())
    for n in (1, 7, 15):
        projection = phi[:, :n] @ torch.linalg.solve(phi[:, :n].T @ phi[:, :n], phi[:, :n].T @ oracle)
        assert angles[n - 1].item() == pytest.approx(angle(projection, oracle), rel=1e-10)
    with pytest.raises(ValueError, match="exceeds the oracle"):
        eq9_angle(norms, 0.5 * norms[-1])


def test_projected_student_angle_matches_explicit_weight_changes():
    phi = explicit_features(14, p=50, seed=15)
    a, c = randn(14, seed=16), 0.7 * randn(14, seed=17)
    u, b = min_norm(phi, a), min_norm(phi, c)  # oracle and −Δw_z within the pool's span
    with_initial = projected_student_angle(phi.T @ phi, a, c)
    without = projected_student_angle(phi.T @ phi, a)
    for n in range(1, 15):
        v = b + min_norm(phi[:, :n], a[:n] - c[:n])  # the student trained on n samples from b
        assert with_initial[n - 1].item() == pytest.approx(angle(u, v), abs=1e-11)
        assert without[n - 1].item() == pytest.approx(angle(u, min_norm(phi[:, :n], a[:n])), abs=1e-11)
    assert without[-1].item() == 0.0 and with_initial[-1].item() == pytest.approx(0.0, abs=1e-7)


def test_phuong_lampert_bound_is_the_minimum_over_all_angles():
    cosines = 0.3 * torch.rand(300, generator=torch.Generator().manual_seed(18), dtype=torch.float64) ** 2
    sizes = torch.tensor([1.0, 10.0, 1000.0], dtype=torch.float64)
    bound = phuong_lampert_bound(cosines, sizes)
    fine = torch.linspace(0, math.pi / 2, 200_001, dtype=torch.float64)
    p, mirror = angle_distribution(cosines, fine), angle_distribution(cosines, math.pi / 2 - fine)
    brute = (p[None] + mirror[None] ** sizes[:, None]).min(-1).values
    assert torch.all(bound <= brute + 1e-12)
    # every cosine ≤ 0.3 < cos(π/4): p ≡ 1 on [0, arccos 0.3] ⊃ [0, π/4], so the bound is ≥ 1 (Sec. S6)
    assert torch.all(bound >= 1.0)


@pytest.mark.parametrize("call, message", [
    (lambda: prefix_predictions(torch.eye(3), torch.ones(2, 4), torch.ones(3)), "kernel_cross"),
    (lambda: prefix_predictions(torch.eye(3), torch.ones(3, 4), torch.ones(2)), "delta_z"),
    (lambda: prefix_predictions(torch.eye(3), torch.ones(3, 4), torch.ones(3), initial=torch.ones(3)), "initial"),
    (lambda: transfer_risk_curve(torch.eye(3), torch.ones(3, 4), torch.ones(3), torch.ones(5)), "z_t_test"),
    (lambda: transfer_risk_curve(torch.eye(3), torch.ones(3, 4), torch.ones(3), torch.ones(4), chunk_entries=0),
     "chunk_entries"),
    (lambda: prefix_predictions(torch.zeros(3, 3), torch.ones(3, 4), torch.ones(3)), "positive definite"),
    (lambda: feature_cosines(torch.ones(3), torch.ones(3), 0.0), "oracle_norm"),
    (lambda: angle_distribution(torch.ones(3), torch.tensor([2.0])), "beta"),
    (lambda: risk_bound(torch.ones(3), torch.tensor([-0.1])), "angle"),
])
def test_bad_inputs_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
