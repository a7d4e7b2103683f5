"""kdlib.losses: the multi-class distillation loss against a direct formula, its gradient, and Eq. 2.

References are computed independently: the loss from explicit softmax, log and sums in float64;
the gradient by central differences and by the closed form T·ρ(p_s − p_t) + (1 − ρ)(softmax(z_s) − e_y);
the two-class case from the paper's binary loss ``kdlib.losses.kd_loss`` and the binary entropy.
"""

import math

import pytest
import torch

from kdlib.losses import accuracy, error_rate, hinton_soft_ratio, kd_loss, multiclass_kd_loss, paper_soft_ratio


def random_problem(n=7, classes=5, scale=3.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    z_s = scale * torch.randn(n, classes, generator=generator, dtype=torch.float64)
    z_t = scale * torch.randn(n, classes, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, classes, (n,), generator=generator)
    return z_s, z_t, labels


def direct_loss(z_s, z_t, labels, rho, T, t_squared=True):
    """The textbook formula with explicit softmax and log (fine at these moderate logits)."""
    p_t = torch.exp(z_t / T) / torch.exp(z_t / T).sum(1, keepdim=True)
    p_s_T = torch.exp(z_s / T) / torch.exp(z_s / T).sum(1, keepdim=True)
    p_s = torch.exp(z_s) / torch.exp(z_s).sum(1, keepdim=True)
    kl = (p_t * torch.log(p_t / p_s_T)).sum(1)
    ce = -torch.log(p_s[torch.arange(len(labels)), labels])
    return (rho * (T * T if t_squared else 1.0)) * kl + (1 - rho) * ce


@pytest.mark.parametrize(("rho", "T"), [(0.0, 1.0), (1.0, 4.0), (0.3, 0.5), (0.7, 10.0)])
@pytest.mark.parametrize("t_squared", [True, False])
def test_loss_matches_direct_formula(rho, T, t_squared):
    z_s, z_t, labels = random_problem()
    expected = direct_loss(z_s, z_t, labels, rho, T, t_squared)
    got = multiclass_kd_loss(z_s, z_t, labels, rho=rho, T=T, reduction="none", t_squared=t_squared)
    # same quantity through log-softmax instead of log(exp/sum): float64 rounding only, ~1e-15 relative
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(multiclass_kd_loss(z_s, z_t, labels, rho=rho, T=T, t_squared=t_squared),
                               expected.mean(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(multiclass_kd_loss(z_s, z_t, labels, rho=rho, T=T, reduction="sum",
                                                  t_squared=t_squared), expected.sum(), rtol=1e-12, atol=1e-12)


def test_soft_term_vanishes_when_student_equals_teacher():
    z_s, _, labels = random_problem()
    loss = multiclass_kd_loss(z_s, z_s.clone(), labels, rho=1.0, T=3.0, reduction="none")
    assert loss.abs().max() < 1e-14  # KL(p ‖ p) = 0 up to float64 rounding


def test_gradient_matches_closed_form_and_finite_differences():
    z_s, z_t, labels = random_problem(n=4, classes=3, seed=1)
    rho, T = 0.4, 2.5
    z = z_s.clone().requires_grad_(True)
    multiclass_kd_loss(z, z_t, labels, rho=rho, T=T, reduction="sum").backward()
    # closed form: ∂/∂z_s [ρT² KL + (1 − ρ) CE] = ρT (softmax(z_s/T) − softmax(z_t/T)) + (1 − ρ)(softmax(z_s) − e_y)
    one_hot = torch.nn.functional.one_hot(labels, 3).double()
    closed = rho * T * (torch.softmax(z_s / T, 1) - torch.softmax(z_t / T, 1)) + (1 - rho) * (
        torch.softmax(z_s, 1) - one_hot)
    torch.testing.assert_close(z.grad, closed, rtol=1e-12, atol=1e-13)
    # central differences: truncation O(h²) ≈ 1e-12 for logits and curvatures O(1); rounding 1e-16/h ≈ 1e-10
    h = 1e-6
    numeric = torch.zeros_like(z_s)
    for index in range(z_s.numel()):
        step = torch.zeros(z_s.numel(), dtype=torch.float64)
        step[index] = h
        step = step.view_as(z_s)
        plus = multiclass_kd_loss(z_s + step, z_t, labels, rho=rho, T=T, reduction="sum")
        minus = multiclass_kd_loss(z_s - step, z_t, labels, rho=rho, T=T, reduction="sum")
        numeric.view(-1)[index] = (plus - minus) / (2 * h)
    torch.testing.assert_close(z.grad, numeric, rtol=1e-7, atol=1e-8)
    assert torch.autograd.gradcheck(
        lambda u: multiclass_kd_loss(u, z_t, labels, rho=rho, T=T), (z_s.clone().requires_grad_(True),))


def test_loss_is_finite_for_huge_logits():
    z_s = torch.tensor([[1e4, -1e4, 0.0]], requires_grad=True)
    z_t = torch.tensor([[-1e4, 1e4, 0.0]])
    loss = multiclass_kd_loss(z_s, z_t, torch.tensor([1]), rho=0.5, T=2.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z_s.grad).all()
    # p_t = e₁ and log softmax(z_s/T)₁ = −2e4/T, so KL = 1e4 and ρT²·KL = 2e4; CE = 2e4, times 1 − ρ = 1e4.
    assert loss.item() == pytest.approx(0.5 * 4.0 * 1e4 + 0.5 * 2e4, rel=1e-6)


def binary_entropy(p):
    return -(p * torch.log(p) + (1 - p) * torch.log1p(-p))


@pytest.mark.parametrize(("rho", "T"), [(0.0, 5.0), (0.05, 5.0), (0.5, 10.0), (0.9, 0.5), (1.0, 3.0)])
def test_two_classes_reduce_to_eq2_with_translated_soft_ratio(rho, T):
    # multiclass(ρ, T) = c·kd_loss(ρ', T) − ρT²·H(σ(z_t/T)), c = ρT² + 1 − ρ, ρ' = paper_soft_ratio(ρ, T).
    generator = torch.Generator().manual_seed(2)
    z_s = 4 * torch.randn(64, generator=generator, dtype=torch.float64)
    z_t = 4 * torch.randn(64, generator=generator, dtype=torch.float64)
    y = (torch.rand(64, generator=generator) < 0.5).long()
    offset = torch.randn(64, 1, generator=generator, dtype=torch.float64)  # softmax ignores a common shift
    two_s = torch.stack([torch.zeros_like(z_s), z_s], 1) + offset
    two_t = torch.stack([torch.zeros_like(z_t), z_t], 1) - offset
    rho_paper = paper_soft_ratio(rho, T)
    c = rho * T * T + 1 - rho
    expected = c * kd_loss(z_s, z_t, y.double(), rho_paper, T, reduction="none") - rho * T * T * binary_entropy(
        torch.sigmoid(z_t / T))
    got = multiclass_kd_loss(two_s, two_t, y, rho=rho, T=T, reduction="none")
    # two routes to the same float64 number; the entropy and cross-entropy are O(10), so ~1e-14 absolute
    torch.testing.assert_close(got, expected, rtol=1e-11, atol=1e-11)
    # without T², the paper's ρ is this function's ρ
    no_t2 = multiclass_kd_loss(two_s, two_t, y, rho=rho, T=T, reduction="none", t_squared=False)
    paper = kd_loss(z_s, z_t, y.double(), rho, T, reduction="none") - rho * binary_entropy(torch.sigmoid(z_t / T))
    torch.testing.assert_close(no_t2, paper, rtol=1e-11, atol=1e-11)


def test_two_class_gradient_is_c_times_eq3():
    # the z-derivative of the two-class loss equals c times Eq. 3's left side at ρ' (same minimisers)
    rho, T = 0.3, 4.0
    z_s = torch.linspace(-6, 6, 13, dtype=torch.float64, requires_grad=True)
    z_t = torch.linspace(5, -7, 13, dtype=torch.float64)
    y = (z_t > 0).long()
    two_s = torch.stack([torch.zeros_like(z_s), z_s], 1)
    two_t = torch.stack([torch.zeros_like(z_t), z_t], 1)
    multiclass_kd_loss(two_s, two_t, y, rho=rho, T=T, reduction="sum").backward()
    rho_p, c = paper_soft_ratio(rho, T), rho * T * T + 1 - rho
    s = z_s.detach()
    eq3 = rho_p / T * (torch.sigmoid(s / T) - torch.sigmoid(z_t / T)) + (1 - rho_p) * (torch.sigmoid(s) - y)
    torch.testing.assert_close(z_s.grad, c * eq3, rtol=1e-12, atol=1e-14)


def test_soft_ratio_translations_are_inverse():
    for rho in (0.0, 0.05, 0.5, 0.99, 1.0):
        for T in (0.5, 1.0, 10.0):
            assert hinton_soft_ratio(paper_soft_ratio(rho, T), T) == pytest.approx(rho, abs=1e-14)
    assert paper_soft_ratio(0.5, 10.0) == pytest.approx(100 / 101)
    assert paper_soft_ratio(0.37, 1.0) == pytest.approx(0.37)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rho": 1.5}, "rho must be a soft ratio in \\[0, 1\\], got 1.5"),
    ({"rho": -0.1}, "rho"),
    ({"T": 0.0}, "T must be a finite positive temperature"),
    ({"T": float("inf")}, "T must"),
    ({"reduction": "avg"}, "reduction must be one of"),
])
def test_bad_settings_are_named(kwargs, match):
    z_s, z_t, labels = random_problem()
    with pytest.raises(ValueError, match=match):
        multiclass_kd_loss(z_s, z_t, labels, **{"rho": 0.5, "T": 2.0, **kwargs})


def test_bad_shapes_and_labels_are_named():
    z_s, z_t, labels = random_problem(classes=5)
    with pytest.raises(ValueError, match="teacher_logits must have the student's shape"):
        multiclass_kd_loss(z_s, z_t[:, :4], labels, rho=0.5, T=2.0)
    with pytest.raises(ValueError, match="student_logits must be a floating tensor of shape \\(N, C\\)"):
        multiclass_kd_loss(z_s[:, 0], z_t[:, 0], labels, rho=0.5, T=2.0)
    with pytest.raises(ValueError, match="labels must have shape \\(7,\\)"):
        multiclass_kd_loss(z_s, z_t, labels[:3], rho=0.5, T=2.0)
    with pytest.raises(ValueError, match="labels must be an integer tensor"):
        multiclass_kd_loss(z_s, z_t, labels.double(), rho=0.5, T=2.0)
    with pytest.raises(ValueError, match="labels must be class indices in \\[0, 4\\], got 5"):
        multiclass_kd_loss(z_s, z_t, torch.full((7,), 5), rho=0.5, T=2.0)


def test_low_precision_logits_are_promoted():
    z_s, z_t, labels = random_problem()
    loss = multiclass_kd_loss(z_s.bfloat16(), z_t.bfloat16(), labels, rho=0.5, T=2.0)
    assert loss.dtype == torch.float32
    reference = direct_loss(z_s.bfloat16().double(), z_t.bfloat16().double(), labels, 0.5, 2.0).mean()
    assert math.isclose(loss.item(), reference.item(), rel_tol=1e-5)  # float32 arithmetic on the same inputs


def test_accuracy_and_error_rate_count_argmax_hits():
    logits = torch.tensor([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 0.0]])
    labels = torch.tensor([1, 1, 2, 0])  # hit, miss, hit, hit (a tie goes to the lower index)
    assert accuracy(logits, labels).item() == pytest.approx(0.75)
    assert error_rate(logits, labels).item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="labels must be class indices"):
        accuracy(logits, torch.tensor([0, 1, 2, 3]))
