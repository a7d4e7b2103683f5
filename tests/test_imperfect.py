"""kdlib.imperfect: Sec. 5's quantities for every prefix n from one factor, checked against independent
computations: explicit solves per n, explicit feature vectors (so that weight changes exist), finite
differences of the exact effective logits, and a student built by hand."""

import math

import pytest
import torch

from kdlib import NTKMLP, effective_logits, empirical_ntk, hard_label_correction, ntk_kernel
from kdlib.data import gaussian_inputs, random_gaussian_mixture
from kdlib.imperfect import (
    LinearizedMLP,
    ground_truth_cosine,
    hard_label_geometry,
    imperfect_teacher_run,
    prefix_inner,
    prefix_predictions,
    sign_errors,
    trained_student_run,
    whiten,
)
from kdlib.nets import linearize
from kdlib.student import cholesky_factor, hard_label_derivative


def features(n, p=40, seed=0):
    """Explicit random features φ(X) of shape (P, n), P > n: Θ = φᵀφ is well conditioned (cond ~ 10)."""
    return torch.randn(p, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def vectors(*shape, seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_whiten_solves_the_triangular_system_for_batches():
    phi = features(9)
    factor = cholesky_factor(phi.T @ phi)
    v = vectors(2, 3, 9)
    u = whiten(factor, v)
    assert u.shape == (2, 3, 9)
    torch.testing.assert_close(u @ factor.T, v, rtol=0, atol=1e-12)  # L u = v, row by row


def test_prefix_inner_matches_direct_solves():
    phi = features(12)
    kernel = phi.T @ phi
    a, b = vectors(12, seed=2), vectors(12, seed=3)
    inner = prefix_inner(cholesky_factor(kernel), a, b)
    for n in range(1, 13):
        direct = a[:n] @ torch.linalg.solve(kernel[:n, :n], b[:n])
        # condition number ~10: both routes agree to a few ulps of the largest term
        assert inner[n - 1].item() == pytest.approx(direct.item(), abs=1e-12 * (1 + abs(direct.item())))


def test_ground_truth_cosine_is_the_angle_between_explicit_weight_changes():
    # With explicit features the weight changes of Eq. 4 are vectors; the oracle Δw_g is any vector
    # with φᵀΔw_g = Δz_g, and Eq. 11's cosine is ours times ‖P_Φ Δw_g‖ / ‖Δw_g‖ (module docstring).
    n, p = 7, 30
    phi = features(n, p, seed=4)
    oracle = vectors(p, seed=5)  # Δw_g
    g = phi.T @ oracle
    s = vectors(3, n, seed=6)  # three student targets
    cosine = ground_truth_cosine(cholesky_factor(phi.T @ phi), g, s)[:, -1]
    projection = phi @ torch.linalg.solve(phi.T @ phi, phi.T @ oracle)  # P_Φ Δw_g = Δŵ_g
    for k in range(3):
        student = torch.linalg.lstsq(phi.T, s[k][:, None]).solution[:, 0]  # Δŵ_s = φΘ⁻¹s, min norm
        paper = student @ oracle / (student.norm() * oracle.norm())  # Eq. 11
        assert cosine[k].item() == pytest.approx((student @ projection / (student.norm() * projection.norm())).item(),
                                                 rel=1e-10)
        assert paper.item() == pytest.approx(cosine[k].item() * (projection.norm() / oracle.norm()).item(), rel=1e-10)


def test_projection_matches_student_bracket_for_every_prefix():
    phi = features(10, seed=7)
    kernel = phi.T @ phi
    g, t, h = vectors(10, seed=8), vectors(4, 10, seed=9), vectors(10, seed=10)
    geometry = hard_label_geometry(cholesky_factor(kernel), g, t, h)
    assert set(geometry) == {"projection", "derivative", "cosine"}
    for n in (1, 4, 10):
        bracket = hard_label_derivative(kernel[:n, :n], g[:n], t[:, :n], h[:n])
        torch.testing.assert_close(geometry["projection"][:, n - 1], bracket, rtol=1e-10, atol=1e-12)


def test_projection_is_the_explicit_weight_space_projection():
    # ⟨δŵ_h, Δŵ_c⟩ with δŵ_h = φΘ⁻¹h and Δŵ_c the part of Δŵ_g orthogonal to Δŵ_t, as vectors.
    n, p = 8, 25
    phi = features(n, p, seed=11)
    g, t, h = vectors(n, seed=12), vectors(n, seed=13), vectors(n, seed=14)
    weight = lambda logits: phi @ torch.linalg.solve(phi.T @ phi, logits)  # noqa: E731
    w_g, w_t, w_h = weight(g), weight(t), weight(h)
    complement = w_g - w_t * (w_t @ w_g) / (w_t @ w_t)
    geometry = hard_label_geometry(cholesky_factor(phi.T @ phi), g, t, h)
    assert geometry["projection"][-1].item() == pytest.approx((w_h @ complement).item(), rel=1e-9)
    assert geometry["cosine"][-1].item() == pytest.approx((w_t @ w_g / (w_t.norm() * w_g.norm())).item(), rel=1e-10)


def test_derivative_matches_finite_differences_of_the_exact_cosine():
    # Theorem 2: d cos α / d(1 − ρ) at ρ = 1, with z_eff from the exact root of Eq. 3. A second-order
    # one-sided difference with step 1e-7 has truncation error O((step · |δz_h|)²) relative, and
    # |δz_h| ≤ ~100 here (T = 5), so 1e-4 relative is far above both it and rounding (~1e-16/1e-7).
    generator = torch.Generator().manual_seed(15)
    x = gaussian_inputs(40, generator=generator)
    truth = random_gaussian_mixture(6, amplitude=3.0, generator=generator)
    noise = random_gaussian_mixture(12, amplitude=2.0, generator=generator)
    z_g = truth(x)
    z_t = 0.7 * z_g + noise(x)  # an imperfect teacher: wrong where the noise outweighs the truth
    y_g = (z_g > 0).double()
    z_0 = 0.5 * vectors(40, seed=16)
    T = 5.0
    factor = cholesky_factor(ntk_kernel(x, depth=3))
    derivative = hard_label_geometry(factor, z_g - z_0, z_t - z_0, hard_label_correction(z_t, y_g, T))["derivative"]

    def cosine(epsilon):
        return ground_truth_cosine(factor, z_g - z_0, effective_logits(z_t, y_g, 1 - epsilon, T) - z_0)

    step = 1e-7
    difference = (-3 * cosine(0.0) + 4 * cosine(step) - cosine(2 * step)) / (2 * step)
    assert bool((y_g != (z_t > 0).double()).any())  # the teacher is indeed wrong somewhere
    torch.testing.assert_close(difference, derivative, rtol=1e-4, atol=1e-6 * derivative.abs().max().item())


def test_prefix_predictions_match_direct_solves():
    generator = torch.Generator().manual_seed(17)
    x, x_new = gaussian_inputs(30, generator=generator), gaussian_inputs(11, generator=generator)
    kernel, cross = ntk_kernel(x, depth=2), ntk_kernel(x_new, x, depth=2)
    delta_z = vectors(3, 30, seed=18)
    predicted = prefix_predictions(cholesky_factor(kernel), cross, delta_z, [1, 9, 30])
    assert predicted.shape == (3, 3, 11)
    for index, n in enumerate([1, 9, 30]):
        direct = cross[:, :n] @ torch.linalg.solve(kernel[:n, :n], delta_z[:, :n].T)  # (M, 3)
        torch.testing.assert_close(predicted[index], direct.T, rtol=1e-8, atol=1e-8)


def test_prefix_predictions_interpolate_the_training_points():
    # At the training inputs the converged student hits its targets: Θ_n Θ_n⁻¹ Δz_n = Δz_n.
    x = gaussian_inputs(25, generator=torch.Generator().manual_seed(19))
    kernel = ntk_kernel(x, depth=3)
    delta_z = vectors(25, seed=20)
    predicted = prefix_predictions(cholesky_factor(kernel), kernel[:12], delta_z, [12, 25])
    torch.testing.assert_close(predicted[1], delta_z[:12], rtol=0, atol=1e-7)
    torch.testing.assert_close(predicted[0], delta_z[:12], rtol=0, atol=1e-7)


def test_prefix_predictions_reject_bad_sizes():
    factor = cholesky_factor(torch.eye(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="sizes"):
        prefix_predictions(factor, torch.ones(2, 4), torch.ones(4), [5])
    with pytest.raises(ValueError, match="cross_kernel"):
        prefix_predictions(factor, torch.ones(2, 3), torch.ones(4), [2])


def test_sign_errors_count_disagreements():
    errors = sign_errors(torch.tensor([[1.0, -1.0, 2.0, -0.5], [-1.0, -1.0, -1.0, -1.0]]), [1, 0, 0, 0])
    torch.testing.assert_close(errors, torch.tensor([0.25, 0.25], dtype=torch.float64))
    with pytest.raises(ValueError, match="labels"):
        sign_errors(torch.ones(2), [0, 2])


def test_imperfect_teacher_run_matches_a_student_built_by_hand():
    generator = torch.Generator().manual_seed(21)
    x, x_test = gaussian_inputs(48, generator=generator), gaussian_inputs(64, generator=generator)
    truth = random_gaussian_mixture(5, amplitude=2.0, generator=generator)
    noise = random_gaussian_mixture(9, amplitude=1.5, generator=generator)
    z_g = truth(x)
    teachers = torch.stack([z_g + scale * noise(x) for scale in (0.3, 1.0, 3.0)])
    y, y_test = (z_g > 0).double(), (truth(x_test) > 0).double()
    rhos, sizes, T = [0.2, 0.6, 1.0], [16, 48], 4.0
    out = imperfect_teacher_run(x, x_test, y, y_test, z_g, teachers, middle=[2, 1], rhos=rhos, sizes=sizes, T=T,
                                depth=3, width=64, student_seed=5)
    assert out["errors"].shape == (2, 2, 3) and out["cosines"].shape == (2, 2, 3) and out["hard_errors"].shape == (2,)
    assert out["projection"].shape == (3, 2) and out["teacher_train_errors"].shape == (3,)

    network = NTKMLP(2, 3, 64, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        z0, z0_test = network(x), network(x_test)
    n = 16
    kernel, cross = ntk_kernel(x[:n], depth=3), ntk_kernel(x_test, x[:n], depth=3)
    for k, rho in enumerate(rhos):
        target = effective_logits(teachers[1, :n], y[:n], rho, T) - z0[:n]
        logits = z0_test + cross @ torch.linalg.solve(kernel, target)
        assert out["errors"][1, 0, k].item() == pytest.approx(((logits > 0).double() != y_test).double().mean().item())
        g = z_g[:n] - z0[:n]
        cos = (g @ torch.linalg.solve(kernel, target)) / math.sqrt(
            (g @ torch.linalg.solve(kernel, g)) * (target @ torch.linalg.solve(kernel, target)))
        assert out["cosines"][1, 0, k].item() == pytest.approx(cos.item(), rel=1e-8)
    hard = cross @ torch.linalg.solve(kernel, 2 * y[:n] - 1)
    assert out["hard_errors"][0].item() == pytest.approx(((hard > 0).double() != y_test).double().mean().item())
    bracket = hard_label_derivative(kernel, z_g[:n] - z0[:n], teachers[:, :n] - z0[:n],
                                    hard_label_correction(teachers[:, :n], y[:n], T))
    torch.testing.assert_close(out["projection"][:, 0], bracket, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(out["teacher_train_errors"], ((teachers > 0).double() != y).double().mean(-1))


def test_trained_students_fit_and_their_closed_forms_match_a_hand_computation():
    # Kept small (it trains). Training reaches the effective logits on the training points; the
    # empirical-kernel student is Eq. 4 with Θ̂ of the very network that is trained. The trained
    # network's test predictions are not compared: Adam's weight change leaves the span of the
    # features (S1 appendix), so on 16 points they may classify test points differently.
    generator = torch.Generator().manual_seed(22)
    x, x_test = gaussian_inputs(16, generator=generator), gaussian_inputs(64, generator=generator)
    truth = random_gaussian_mixture(3, amplitude=2.0, generator=generator)
    y, y_test = (truth(x) > 0).double(), (truth(x_test) > 0).double()
    z_t = 2.0 * truth(x)
    before = torch.get_num_threads()
    out = trained_student_run(x, x_test, y, y_test, z_t, rhos=[0.5, 1.0], T=2.0, depth=2, width=32,
                              student_seed=3, steps=150, lr=0.1, threads=1)
    assert torch.get_num_threads() == before  # the thread setting is restored
    assert set(out) == {"trained_errors", "empirical_errors", "analytic_errors", "logit_gaps"}
    assert all(value.shape == (2,) for value in out.values())
    assert float(out["logit_gaps"].max()) < 0.1  # from about 2 at initialization
    network = NTKMLP(2, 2, 32, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        z0, z0_test = network(x), network(x_test)
    kernel, cross = empirical_ntk(network, x), empirical_ntk(network, x_test, x)
    for k, rho in enumerate([0.5, 1.0]):
        logits = z0_test + cross @ torch.linalg.solve(kernel, effective_logits(z_t, y, rho, 2.0) - z0)
        expected = ((logits > 0).double() != y_test).double().mean().item()
        assert out["empirical_errors"][k].item() == pytest.approx(expected)


def test_linearized_mlp_is_the_jvp_linearization():
    # Same initial network, same random Δw: outputs and gradients with respect to Δw must agree with
    # kdlib.nets.linearize (torch.func.jvp), in float64 to rounding.
    network = NTKMLP(2, 3, 24, generator=torch.Generator().manual_seed(23), dtype=torch.float64)
    fast, reference = LinearizedMLP(network), linearize(network)
    generator = torch.Generator().manual_seed(24)
    changes = [0.1 * torch.randn(p.shape, generator=generator, dtype=torch.float64) for p in network.parameters()]
    with torch.no_grad():
        for layer in range(fast.layers):
            getattr(fast, f"dw_{layer}").copy_(changes[layer])  # NTKMLP lists its weights, then its biases
            getattr(fast, f"db_{layer}").copy_(changes[fast.layers + layer])
        reference.set_weight_change(torch.cat([c.reshape(-1) for c in changes]))
    x = gaussian_inputs(17, generator=generator)
    out_fast, out_reference = fast(x), reference(x)
    torch.testing.assert_close(out_fast, out_reference, rtol=1e-12, atol=1e-12)
    out_fast.square().sum().backward()
    out_reference.square().sum().backward()
    order = [f"dw_{k}" for k in range(fast.layers)] + [f"db_{k}" for k in range(fast.layers)]
    fast_grads = torch.cat([getattr(fast, name).grad.reshape(-1) for name in order])
    reference_grads = torch.cat([p.grad.reshape(-1) for p in reference.parameters()])
    torch.testing.assert_close(fast_grads, reference_grads, rtol=1e-10, atol=1e-12)
    with torch.no_grad():  # at Δw = 0 it is the network itself
        torch.testing.assert_close(LinearizedMLP(network)(x), network(x), rtol=0, atol=0)
