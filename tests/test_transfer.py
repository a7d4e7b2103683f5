"""kdlib.transfer: the runs of the transfer-risk chapter, against independent computations at tiny sizes."""

import math

import pytest
import torch

from kdlib.data import gaussian_inputs, random_gaussian_mixture
from kdlib.kernels import empirical_ntk, ntk_kernel
from kdlib.logits import effective_logits
from kdlib.nets import NTKMLP, linearize
from kdlib.risk import feature_cosines, risk_bound
from kdlib.student import weight_change_norms
from kdlib.transfer import closed_form_draw, effective_targets, online_oracle, student_network, train_student

TEACHER = random_gaussian_mixture(6, amplitude=3.0, generator=torch.Generator().manual_seed(3))


def inputs(n, seed):
    return gaussian_inputs(n, generator=torch.Generator().manual_seed(seed))


def test_effective_targets_rows_and_the_hard_limit():
    z_t = torch.tensor([-2.0, -0.1, 0.3, 4.0], dtype=torch.float64)
    rows = effective_targets(z_t, (1.0, 0.5, 0.0), 10.0)
    assert torch.equal(rows[0], z_t)  # ρ = 1: the teacher itself
    assert torch.allclose(rows[1], effective_logits(z_t, (z_t > 0).double(), 0.5, 10.0))
    assert torch.equal(rows[2], torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=torch.float64))  # sgn z_t
    # the ρ → 0 limit is the direction of the effective logits: z_eff / t(ρ) → sgn z_t
    tiny = effective_logits(z_t, (z_t > 0).double(), 1e-12, 10.0)
    assert torch.allclose(tiny / tiny.abs().max(), rows[2], atol=0.02)


def test_closed_form_draw_agrees_with_direct_computations():
    x, x_test = inputs(40, 0), inputs(300, 1)
    rhos = (1.0, 0.5, 0.0)
    result = closed_form_draw(x, x_test, TEACHER(x), TEACHER(x_test), rhos=rhos, T=10.0, risk_pool=24, depth=2,
                              width=32, seed=5, device="cpu")
    network = student_network(32, 2, 5)
    with torch.no_grad():
        initial, initial_test = network(x), network(x_test)
    targets = effective_targets(TEACHER(x), rhos, 10.0)
    kernel, cross = ntk_kernel(x[:24], depth=2), ntk_kernel(x[:24], x_test, depth=2)
    empirical, empirical_cross = empirical_ntk(network, x[:24]), empirical_ntk(network, x[:24], x_test)
    for i, rho in enumerate(rhos):
        start, start_test = (0.0, 0.0) if rho == 0 else (initial, initial_test)
        for n in (3, 11, 24):
            for curve, (k, c) in (("risk_analytic", (kernel, cross)), ("risk_empirical", (empirical, empirical_cross))):
                solved = torch.linalg.solve(k[:n, :n], (targets[i] - start)[:n])
                predictions = start_test + c[:n].T @ solved
                expected = ((predictions * TEACHER(x_test)) < 0).double().mean().item()
                assert result[curve][i, n - 1].item() == pytest.approx(expected, abs=1e-12), (curve, rho, n)
    assert torch.allclose(result["norms"], weight_change_norms(ntk_kernel(x, depth=2), targets), rtol=1e-9)
    assert torch.allclose(result["norms_zero"], weight_change_norms(ntk_kernel(x, depth=2), initial), rtol=1e-9)
    # Theorem 1 in the pool's span holds at every n (pointwise on the test sample)
    angle = result["proxy_angle"]
    bound = risk_bound(result["proxy_cosines"], torch.minimum(angle, math.pi - angle))
    assert torch.all(result["proxy_risk"][angle <= math.pi / 2] <= bound[angle <= math.pi / 2])
    assert torch.all(result["proxy_risk"][:, -1] == 0)  # at n = N the student is the oracle
    margins = result["margins"]
    assert torch.allclose(feature_cosines(margins, torch.ones(300, dtype=torch.float64), 1.0), margins)


def test_gradient_descent_student_follows_its_kernel_dynamics_and_adam_fits_the_logits():
    # Full-batch gradient descent on the linearized student moves its logits anywhere by
    # z(x) ← z(x) − η Θ̂(x, X) ∇_z L(z(X)): exact, so 40 steps of the network and of this recursion agree.
    x, x_test = inputs(6, 2), inputs(400, 3)
    z_t, z_t_test = TEACHER(x), TEACHER(x_test)
    labels = (z_t > 0).double()
    network = student_network(48, 2, 1)
    kernel, cross = empirical_ntk(network, x), empirical_ntk(network, x_test, x)
    lr = 6 / (torch.linalg.eigvalsh(kernel)[-1].item() / 400)  # b / (λ_max sup ℓ''), sup ℓ'' = 1/(4T²) at ρ = 1
    with torch.no_grad():
        z, z_test = network(x), network(x_test)
    for _ in range(40):
        gradient = (torch.sigmoid(z / 10) - torch.sigmoid(z_t / 10)) / 10 / 6  # ∂L/∂z of the mean loss, ρ = 1
        z, z_test = z - lr * kernel @ gradient, z_test - lr * cross @ gradient
    expected = ((z_test * z_t_test) < 0).double().mean().item()
    gd = train_student(x, z_t, x_test, z_t_test, rho=1.0, T=10.0, width=48, depth=2, seed=1, optimizer="sgd",
                       epochs=40, batch_size=512, device="cpu")
    assert gd["lr"] == pytest.approx(lr, rel=1e-9)
    assert gd["risk"] == expected
    # gradient descent never leaves span φ(X): its projection predicts the same, its orthogonal part is rounding
    assert gd["risk_in_span"] == gd["risk"] and gd["orthogonal_fraction"] < 1e-5
    assert gd["logit_gap"] == pytest.approx((z - effective_logits(z_t, labels, 1.0, 10.0)).abs().max().item(),
                                            rel=1e-6)
    start_gap = (network(x).detach() - z_t).abs().max().item()
    adam = train_student(x, z_t, x_test, z_t_test, rho=1.0, T=10.0, width=48, depth=2, seed=1, optimizer="adam",
                         epochs=200, batch_size=512, lr=0.01, device="cpu",
                         oracle=torch.ones(sum(p.numel() for p in network.parameters()), dtype=torch.float64))
    assert adam["logit_gap"] < 0.1 * start_gap and 0 <= adam["angle_oracle"] <= math.pi
    assert adam["orthogonal_fraction"] > 0.1  # Adam's diagonal rescaling leaves the span (linearized appendix)


def test_a_diverging_student_names_its_run(monkeypatch):
    from kdlib import transfer
    from kdlib.train import TrainingDiverged

    def diverge(*args, **kwargs):
        raise TrainingDiverged("loss", math.nan, step=3, epoch=3)

    monkeypatch.setattr(transfer, "train_kd", diverge)
    x = inputs(8, 4)
    with pytest.raises(RuntimeError, match=r"'student ρ = 0.5, n = 8, adam, lr = 0.01, seed 7'.*loss is nan at step 3"):
        train_student(x, TEACHER(x), x, TEACHER(x), rho=0.5, T=10.0, width=16, depth=1, seed=7, optimizer="adam",
                      epochs=5, batch_size=8, lr=0.01, device="cpu")


def test_online_oracle_of_the_zero_function_cancels_the_initial_function():
    teacher = NTKMLP(2, 1, 16, generator=torch.Generator().manual_seed(9))
    state = {key: value.detach() for key, value in teacher.state_dict().items()}
    result = online_oracle(state, teacher_width=16, teacher_depth=1, reduction=0.3, rho=1.0, T=10.0, width=32,
                           depth=2, seed=2, steps=60, batch_size=64, zero=True, record_every=20, device="cpu")
    model = linearize(student_network(32, 2, 2))
    model.set_weight_change(result["change"].double())
    probe = inputs(500, 5)
    with torch.no_grad():
        fitted, initial = model(probe), model.initial_output(probe)
    # f(x; w₀) + Δw_zᵀφ(x) ≈ 0: the online run removes most of the initial function off its samples too
    assert fitted.norm() < 0.5 * initial.norm()
    assert result["steps"][0] == 0 and result["steps"][-1] == 60 and result["weight_norm"][0] == 0.0
