"""Linearized students (kdlib.nets.linearize), the loss of Eq. 2 and train_kd.

Reference quantities are computed independently: the Jacobian by reverse mode
(torch.func.jacrev, materialized — fine at these sizes), Taylor remainders by finite
differences, and Eq. 3's derivative by kdlib.eq3_residual.
"""

import math

import pytest
import torch
from torch.func import functional_call, jacrev

from kdlib import NTKMLP, effective_logits, eq3_residual
from kdlib.losses import kd_loss
from kdlib.nets import linearize, train_kd
from kdlib.student import closed_form_student


def small_network(width=64, depth=2, seed=0):
    return NTKMLP(2, depth, width, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def inputs(n, seed=1):
    return 5.0 * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def jacobian(model, x, names):
    """φ(X)ᵀ as an (n, P) matrix by brute-force reverse mode, in the linearized model's order."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    blocks = jacrev(lambda p: functional_call(model, p, (x,)))(params)
    return torch.cat([blocks[name].reshape(x.shape[0], -1) for name in names], dim=1)


def test_linearized_model_starts_at_the_network():
    model = small_network()
    x = inputs(5)
    linear = linearize(model)
    assert torch.equal(linear(x).detach(), model(x).detach())
    assert all(torch.all(p == 0) for p in linear.parameters())  # Δw starts at zero
    assert sum(p.numel() for p in linear.parameters()) == sum(p.numel() for p in model.parameters())


def test_linearized_model_is_the_first_order_taylor_expansion():
    # f(w0 + εD) − f(w0) − ε·(∂_w f)·D = O(ε²): halving ε must divide the remainder by ~4, and the
    # linearized model with Δw = εD must equal f(w0) + ε·jvp up to rounding.
    model = small_network(seed=2)
    x = inputs(6, seed=3)
    linear = linearize(model)
    generator = torch.Generator().manual_seed(4)
    direction = {name: torch.randn(p.shape, generator=generator, dtype=torch.float64)
                 for name, p in model.named_parameters()}
    w0 = {name: p.detach() for name, p in model.named_parameters()}
    f0 = functional_call(model, w0, (x,))

    def network_at(eps):
        return functional_call(model, {n: w0[n] + eps * direction[n] for n in w0}, (x,))

    def linear_at(eps):
        with torch.no_grad():
            for name, delta in linear.weight_change().items():
                delta.copy_(eps * direction[name])
            return linear(x)

    # ε is small enough that no ReLU changes sign along the path (at ε ~ 1e-4 some do here and the
    # remainder jumps to O(ε)); the remainders, ~1e-11, are still 1,000× above float64 rounding.
    remainders = [(network_at(eps) - linear_at(eps)).abs().max().item() for eps in (4e-6, 2e-6, 1e-6)]
    assert remainders[-1] > 1e-13  # the network is not linear in w: the test can fail
    for coarse, fine in zip(remainders, remainders[1:], strict=False):
        assert 3.6 < coarse / fine < 4.4  # ratio 4 for an O(ε²) remainder
    # the tangent itself: a central difference of the network at a step small enough to cross no
    # ReLU kink; truncation O(ε²) ≈ 1e-12, rounding ≈ 1e-16·|f|/ε ≈ 1e-9
    eps = 1e-6
    central = (network_at(eps) - network_at(-eps)) / (2 * eps)
    torch.testing.assert_close((linear_at(1.0) - f0), central, rtol=1e-6, atol=1e-8)


def test_gradient_of_linearized_model_is_the_jacobian_at_initialization():
    # ∂f_lin/∂Δw = φ(x) = ∂_w f(x; w0) for every Δw (the model is linear in Δw).
    model = small_network(width=16, seed=5)
    x = inputs(4, seed=6)
    linear = linearize(model)
    with torch.no_grad():
        for delta in linear.parameters():
            delta.normal_(generator=torch.Generator().manual_seed(7))
    coefficients = torch.randn(4, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    (linear(x) @ coefficients).backward()
    gradient = torch.cat([p.grad.reshape(-1) for p in linear.parameters()])
    phi_t = jacobian(model, x, linear.names)
    torch.testing.assert_close(gradient, phi_t.T @ coefficients, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(linear.features_times(x, coefficients), phi_t.T @ coefficients,
                               rtol=1e-12, atol=1e-12)
    # set_weight_change round-trips a flat vector and the model then adds φ(x)ᵀΔw to f(x; w0)
    flat = torch.randn(phi_t.shape[1], generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    linear.set_weight_change(flat)
    assert torch.equal(linear.flat_weight_change(), flat)
    torch.testing.assert_close(linear(x).detach(), model(x).detach() + phi_t @ flat, rtol=1e-12, atol=1e-12)


def test_kd_loss_gradient_is_eq3_over_n():
    generator = torch.Generator().manual_seed(9)
    z_t = 4 * torch.randn(50, generator=generator, dtype=torch.float64)
    y_g = (torch.rand(50, generator=generator) < 0.5).double()
    z_s = (4 * torch.randn(50, generator=generator, dtype=torch.float64)).requires_grad_()
    rho, T = 0.3, 5.0
    kd_loss(z_s, z_t, y_g, rho, T).backward()
    torch.testing.assert_close(z_s.grad, eq3_residual(z_s.detach(), z_t, y_g, rho, T) / 50, rtol=1e-12, atol=1e-15)


def test_kd_loss_matches_eq2_and_stays_finite():
    z_s = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    z_t = torch.tensor([1.0, -0.5, 3.0], dtype=torch.float64)
    y_g = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    rho, T = 0.4, 2.0

    def H(p, q):
        return -(p * torch.log(q) + (1 - p) * torch.log(1 - q))

    textbook = rho * H(torch.sigmoid(z_t / T), torch.sigmoid(z_s / T)) + (1 - rho) * H(y_g, torch.sigmoid(z_s))
    torch.testing.assert_close(kd_loss(z_s, z_t, y_g, rho, T, reduction="none"), textbook, rtol=1e-13, atol=0)
    # at z_s = 800 the textbook form gives inf (log 0); the loss is (1 − ρ)·800 + O(e^{-80}) here
    big = kd_loss(torch.tensor([800.0], dtype=torch.float64), torch.tensor([800.0], dtype=torch.float64),
                  torch.tensor([0.0], dtype=torch.float64), rho, 10.0)
    assert math.isfinite(big.item()) and big.item() == pytest.approx((1 - rho) * 800.0, rel=1e-12)
    with pytest.raises(ValueError, match="rho"):
        kd_loss(z_s, z_t, y_g, 1.5, T)


def setup_student(n=4, width=64, rho=0.5, T=2.0):
    model = small_network(width=width, seed=10)
    x = inputs(n, seed=13)  # a well-conditioned draw: λ_min(Θ̂)/λ_max(Θ̂) ≈ 0.1
    z_t = 3.0 * torch.sin(x[:, 0] / 2)
    y_g = (z_t > 0).double()
    linear = linearize(model)
    phi_t = jacobian(model, x, linear.names)
    z_eff = effective_logits(z_t, y_g, rho, T)
    closed_form = phi_t.T @ closed_form_student(phi_t @ phi_t.T, z_eff - model(x).detach())  # Eq. 4
    return model, x, z_t, y_g, z_eff, phi_t, closed_form


def test_gradient_descent_student_converges_to_eq3_and_eq4_at_the_predicted_rate():
    # Plain full-batch gradient descent (Eq. S1's dynamics) stays in span φ(X): the weight change
    # converges to the minimum-norm fit φΘ̂⁻¹Δz of Eq. 4. Near the fit, z − z_eff evolves as
    # (I − lr·Θ̂H/n), H = diag ℓ''(z_eff): the error decays like e^{−r k} with
    # r = −ln(1 − lr·λ_min(H^½Θ̂H^½)/n) ≈ 0.027 per step here, so 800 steps shrink it by ~1e-9.
    rho, T = 0.5, 2.0
    model, x, z_t, y_g, z_eff, phi_t, closed_form = setup_student(rho=rho, T=T)
    kernel, count = phi_t @ phi_t.T, x.shape[0]
    lr = 1.0 / (torch.linalg.eigvalsh(kernel)[-1].item() * (rho / (4 * T**2) + (1 - rho) / 4) / count)  # stable
    curvature = (rho / T**2 * torch.sigmoid(z_eff / T) * torch.sigmoid(-z_eff / T)
                 + (1 - rho) * torch.sigmoid(z_eff) * torch.sigmoid(-z_eff))
    smallest = torch.linalg.eigvalsh(curvature.sqrt()[:, None] * kernel * curvature.sqrt()[None, :])[0].item()
    predicted = -math.log(1 - lr * smallest / count)
    linear = linearize(model)
    history = train_kd(linear, x, z_t, y_g, rho=rho, T=T, steps=800, lr=lr, optimizer="sgd",
                       record_every=100, weight_reference=closed_form)
    assert history.logit_gap[-1] < 1e-7 * history.logit_gap[0]
    assert history.weight_gap[-1] < 1e-7 * torch.linalg.vector_norm(closed_form).item()
    torch.testing.assert_close(linear(x).detach(), z_eff, rtol=0, atol=1e-6)
    # the measured rate over the last 400 steps (asymptotic regime) matches the prediction to 5%:
    # the gap is a max-norm, which only follows the slowest eigenvector once the others have died out
    measured = math.log(history.logit_gap[-5] / history.logit_gap[-1]) / 400
    assert measured == pytest.approx(predicted, rel=0.05)


def test_adam_student_fits_eq3_and_projects_onto_eq4():
    # Adam (the paper's optimizer) fits the effective logits to rounding, but its per-parameter
    # scaling leaves span φ(X): only the projection of its weight change onto that span is Eq. 4.
    rho, T = 0.5, 2.0
    model, x, z_t, y_g, z_eff, phi_t, closed_form = setup_student(rho=rho, T=T)
    linear = linearize(model)
    history = train_kd(linear, x, z_t, y_g, rho=rho, T=T, steps=400, lr=1e-2, record_every=50,
                       weight_reference=closed_form, generator=torch.Generator().manual_seed(0))
    assert history.logit_gap[-1] < 1e-8  # converged to float64 rounding of logits of order 5
    weight_change = linear.flat_weight_change()
    projection = phi_t.T @ torch.linalg.solve(phi_t @ phi_t.T, phi_t @ weight_change)
    torch.testing.assert_close(projection, closed_form, rtol=1e-6, atol=1e-8)
    # ‖Δw‖² = ‖Eq. 4‖² + ‖orthogonal part‖², and the orthogonal part is not small under Adam
    assert history.weight_norm[-1] > 1.2 * torch.linalg.vector_norm(closed_form).item()


def test_mini_batches_are_seeded_and_recorded():
    model = small_network(width=16, seed=12)
    x = inputs(8, seed=13)
    z_t = torch.linspace(-2, 2, 8, dtype=torch.float64)
    y_g = (z_t > 0).double()
    runs = [train_kd(linearize(model), x, z_t, y_g, rho=0.9, T=4.0, steps=12, lr=1e-2, batch_size=3,
                     record_every=5, generator=torch.Generator().manual_seed(1)) for _ in range(2)]
    assert runs[0].loss == runs[1].loss
    assert runs[0].steps == [0, 5, 10, 12]
    assert runs[0].epochs[1] == pytest.approx(5 * 3 / 8)


def test_train_kd_is_the_plain_mini_batch_loop():
    # train_kd runs on kdlib.train.fit; an independent hand-written loop with the same random order
    # (a fresh permutation per pass, the last N mod b samples dropped) must give the same Δw bit for bit
    model = small_network(width=16, seed=16)
    x = inputs(10, seed=17)
    z_t = torch.linspace(-3, 3, 10, dtype=torch.float64)
    y_g = (z_t > 0).double()
    trained = linearize(model)
    train_kd(trained, x, z_t, y_g, rho=0.7, T=3.0, steps=11, lr=1e-2, batch_size=4,
             generator=torch.Generator().manual_seed(2))
    by_hand = linearize(model)
    optimizer = torch.optim.Adam(by_hand.parameters(), lr=1e-2, betas=(0.9, 0.999))
    generator = torch.Generator().manual_seed(2)
    for step in range(11):
        if step % 2 == 0:  # ⌊10 / 4⌋ = 2 batches a pass
            order = torch.randperm(10, generator=generator)
        batch = order[(step % 2) * 4:(step % 2 + 1) * 4]
        optimizer.zero_grad()
        kd_loss(by_hand(x[batch]), z_t[batch], y_g[batch], 0.7, 3.0).backward()
        optimizer.step()
    assert torch.equal(trained.flat_weight_change(), by_hand.flat_weight_change())


def test_train_kd_stops_at_the_first_non_finite_step():
    from kdlib.train import TrainingDiverged

    model = small_network(width=8, seed=18)
    x = inputs(6, seed=19)
    x[4, 1] = math.nan  # one corrupt input makes the full-batch loss NaN at the first step
    z_t = torch.zeros(6, dtype=torch.float64)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 1 \(epoch 1\)"):
        train_kd(linearize(model), x, z_t, (z_t >= 0).double(), rho=0.5, T=2.0, steps=5, lr=1e-2)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"rho": 0.0}, "rho"), ({"T": 0.0}, "T"), ({"steps": 0}, "steps"), ({"lr": -1.0}, "lr"),
    ({"batch_size": 9}, "batch_size"), ({"optimizer": "rmsprop"}, "optimizer"), ({"record_every": 0}, "record_every"),
    ({"weight_reference": torch.zeros(3)}, "weight_reference"),
])
def test_train_kd_names_bad_parameters(kwargs, name):
    model = small_network(width=8, seed=14)
    x = inputs(8, seed=15)
    z_t = torch.zeros(8, dtype=torch.float64)
    settings = {"rho": 0.5, "T": 2.0, "steps": 2, "lr": 1e-2, **kwargs}
    with pytest.raises(ValueError, match=name):
        train_kd(linearize(model), x, z_t, torch.ones(8, dtype=torch.float64), **settings)
