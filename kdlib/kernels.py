"""Neural tangent kernels of the wide ReLU network of Eq. 1: analytic (infinite width) and empirical.

The paper replaces a wide student by its linearization f(x; w₀) + Δwᵀφ(x), φ(x) = ∂_w f(x; w₀),
whose Gram matrix Θ̂(X, X) = φ(X)ᵀφ(X) is the *empirical* kernel of Eq. 4; as the width m → ∞ it
converges to the deterministic NTK Θ (Jacot et al., 2018; Lee et al., 2019, App. C and E, the
recipe the paper cites in Sec. S4). This module computes both:

* ``nngp_kernel`` / ``ntk_kernel`` / ``ntk_diagonal``: Σ and Θ of ``kdlib.nets.NTKMLP`` in closed
  form, through the ReLU arc-cosine recursion, in float64.
* ``empirical_ntk``: φ(X₁)ᵀφ(X₂) of a given finite network over *all* its parameters, computed
  layer by layer for ``NTKMLP`` (memory O(n·m) per layer instead of the n·P of a Jacobian) and
  with ``torch.func`` in chunks for any other module.

The recursion (ReLU g, q_a = Σ(x_a, x_a), c = Σ(x_a, x_b), θ = angle between the two):

    Σ¹(x, x') = σ_W² xᵀx' / d + σ_b²,                           Θ¹ = Σ¹,
    Σ^{l+1}  = σ_W² (√(q_a q_b − c²) + (π − θ) c) / (2π) + σ_b²,
    Θ^{l+1}  = Σ^{l+1} + σ_W² Θ^l (π − θ) / (2π),                l = 1 … L,

and the network's kernels are Σ^{L+1} (NNGP, the covariance of f at initialization) and Θ^{L+1}
(NTK). The first term of Σ^{l+1} is E[g(u) g(v)] for (u, v) ~ N(0, Σ^l) (Cho & Saul's arc-cosine
kernel of degree 1) and (π − θ)/(2π) = E[g'(u) g'(v)] (degree 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from tqdm import tqdm  # plain: tqdm.auto warns in kernels without ipywidgets

from kdlib._validate import ArrayLike, as_float64, first_device
from kdlib.nets import NTKMLP

__all__ = ["nngp_kernel", "ntk_kernel", "ntk_diagonal", "empirical_ntk", "empirical_ntk_error", "full_jacobian_ntk"]

# Rows of the output processed together in the analytic recursion: 4 work buffers of
# block × n₂ float64 entries stay in the last-level cache for moderate n₂, which makes the
# elementwise passes memory-bandwidth friendly and caps memory at O(block · n₂).
_BLOCK_ENTRIES = 1 << 18


def _check_hyper(depth: int, sigma_w: float, sigma_b: float) -> None:
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"depth must be an integer ≥ 1 (the number of hidden layers L), got {depth!r}")
    if not (isinstance(sigma_w, int | float) and math.isfinite(sigma_w) and sigma_w > 0):
        raise ValueError(f"sigma_w must be a finite number > 0, got {sigma_w!r}")
    if not (isinstance(sigma_b, int | float) and math.isfinite(sigma_b) and sigma_b >= 0):
        raise ValueError(f"sigma_b must be a finite number ≥ 0, got {sigma_b!r}")


def _inputs(x1: ArrayLike, x2: ArrayLike | None) -> tuple[Tensor, Tensor | None]:
    device = first_device(x1, x2)
    a = as_float64("x1", x1, device)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"x1 must have shape (n1, d) with n1, d ≥ 1, got {tuple(a.shape)}")
    if not torch.isfinite(a).all():
        raise ValueError("x1 contains an infinite entry; inputs must be finite")
    if x2 is None:
        return a, None
    b = as_float64("x2", x2, a.device)
    if b.ndim != 2 or b.shape[0] < 1 or b.shape[1] != a.shape[1]:
        raise ValueError(f"x2 must have shape (n2, {a.shape[1]}) to match x1's dimension d, got {tuple(b.shape)}")
    if not torch.isfinite(b).all():
        raise ValueError("x2 contains an infinite entry; inputs must be finite")
    return a, b


def _diagonal_recursion(q: Tensor, depth: int, sigma_w: float, sigma_b: float) -> tuple[list[Tensor], Tensor]:
    """Σ^l(x, x) for l = 1 … L+1 and Θ^{L+1}(x, x), from q = Σ¹(x, x).

    On the diagonal θ = 0, so E[g(u)²] = q/2 and E[g'(u)²] = 1/2 exactly:
    Σ^{l+1} = σ_W² Σ^l / 2 + σ_b² and Θ^{l+1} = Σ^{l+1} + σ_W² Θ^l / 2.
    """
    sigmas = [q]
    theta = q
    for _ in range(depth):
        nxt = 0.5 * sigma_w**2 * sigmas[-1] + sigma_b**2
        theta = nxt + 0.5 * sigma_w**2 * theta
        sigmas.append(nxt)
    return sigmas, theta


def _cross_recursion(
    sigma: Tensor, q1: list[Tensor], q2: list[Tensor], depth: int, sigma_w: float, sigma_b: float, want_ntk: bool,
) -> Tensor:
    """Run the recursion in place on one block: ``sigma`` holds Σ¹ on entry, Σ^{L+1} or Θ^{L+1} on exit.

    θ enters only through (π − θ) = atan2(s, −c) with s = √(max(q_a q_b − c², 0)) ≥ 0, which is
    exact at s = 0 (θ = 0 on the diagonal, θ = π for opposite inputs) where arccos(c/√(q_a q_b))
    loses half the digits or returns NaN once rounding pushes its argument past ±1. Keeping
    −Σ (``neg``) instead of Σ saves one pass per layer.
    """
    scale = sigma_w**2 / (2 * math.pi)
    neg = sigma.neg_()
    ntk = neg.neg() if want_ntk else None  # Θ¹ = Σ¹
    work = torch.empty_like(neg)
    angle = torch.empty_like(neg)
    for layer in range(depth):
        torch.outer(q1[layer], q2[layer], out=work)
        work.addcmul_(neg, neg, value=-1.0).clamp_(min=0.0).sqrt_()  # s = √(q_a q_b − c²)
        torch.atan2(work, neg, out=angle)  # π − θ, since −c = neg
        work.addcmul_(angle, neg, value=-1.0)  # s + (π − θ) c
        work.mul_(-scale).sub_(sigma_b**2)  # −Σ^{l+1}
        neg, work = work, neg
        if ntk is not None:
            ntk.mul_(angle).mul_(scale).sub_(neg)  # Θ^{l+1} = Σ^{l+1} + σ_W² Θ^l (π − θ)/(2π)
    return ntk if ntk is not None else neg.neg_()


def _kernel(
    x1: ArrayLike, x2: ArrayLike | None, depth: int, sigma_w: float, sigma_b: float, want_ntk: bool,
) -> Tensor:
    _check_hyper(depth, sigma_w, sigma_b)
    a, b = _inputs(x1, x2)
    d = a.shape[1]
    q1 = sigma_w**2 * (a * a).sum(1) / d + sigma_b**2
    q1s, _ = _diagonal_recursion(q1, depth, sigma_w, sigma_b)
    if b is None:
        b, q2s = a, q1s
    else:
        q2 = sigma_w**2 * (b * b).sum(1) / d + sigma_b**2
        q2s, _ = _diagonal_recursion(q2, depth, sigma_w, sigma_b)
    n1, n2 = a.shape[0], b.shape[0]
    out = torch.empty(n1, n2, dtype=torch.float64, device=a.device)
    rows = max(1, _BLOCK_ENTRIES // n2)
    for start in range(0, n1, rows):
        stop = min(n1, start + rows)
        block = torch.addmm(torch.full((1,), sigma_b**2, dtype=torch.float64, device=a.device),
                            a[start:stop], b.T, alpha=sigma_w**2 / d, beta=1.0)  # Σ¹
        block_q1 = [q[start:stop] for q in q1s]
        out[start:stop] = _cross_recursion(block, block_q1, q2s, depth, sigma_w, sigma_b, want_ntk)
    if x2 is None:
        # Identical rows give c = √(q_a q_b) up to rounding in the matmul; pin the diagonal to the
        # exact diagonal recursion and symmetrize so the result is exactly symmetric.
        out = 0.5 * (out + out.T)
        _, diag_ntk = _diagonal_recursion(q1, depth, sigma_w, sigma_b)
        out.diagonal().copy_(diag_ntk if want_ntk else q1s[-1])
    return out


def nngp_kernel(
    x1: ArrayLike, x2: ArrayLike | None = None, *, depth: int, sigma_w: float = 1.0, sigma_b: float = 1.0,
) -> Tensor:
    """Infinite-width NNGP kernel Σ(x, x') = Cov[f(x; w₀), f(x'; w₀)] of ``NTKMLP`` (Eq. 1).

    The output of a wide network at initialization is a Gaussian process with this covariance
    (Lee et al., 2019, App. C); it is Σ^{L+1} of the recursion in the module docstring.

    Args:
        x1: (n1, d) inputs (tensor or array; the output lives on a tensor's device).
        x2: (n2, d) inputs, or None for Σ(x1, x1) (then exactly symmetric).
        depth: number of hidden layers L ≥ 1.
        sigma_w, sigma_b: σ_W > 0 and σ_b ≥ 0 of Eq. 1.
    Returns:
        (n1, n2) float64 tensor.
    Raises:
        ValueError: bad shapes, non-finite inputs, or hyperparameters out of range.
    """
    return _kernel(x1, x2, depth, sigma_w, sigma_b, want_ntk=False)


def ntk_kernel(
    x1: ArrayLike, x2: ArrayLike | None = None, *, depth: int, sigma_w: float = 1.0, sigma_b: float = 1.0,
) -> Tensor:
    """Infinite-width neural tangent kernel Θ(x, x') of ``NTKMLP`` (Eq. 1), the Θ of Eqs. 4–5.

    Θ is the limit of the empirical kernel φ(x)ᵀφ(x') as the width grows (Jacot et al., 2018),
    over every weight and bias of Eq. 1; computed with the arc-cosine recursion in the module
    docstring (Lee et al., 2019, App. C and E, as Sec. S4 of the paper prescribes). The angle
    is taken with atan2 of (√(q q' − c²), c), so the diagonal is exact and no entry is NaN, for
    inputs of any scale and for σ_b = 0 (zero inputs give a zero row then). Work is done in row
    blocks, so memory is O(n2 · block) beyond the output and the passes stay in cache.

    Precision: entries are accurate to ~1e-12 relative, except for pairs of rows at an angle
    below ~1e-7 (duplicates included), whose angle is known only to √ε ≈ 1e-8 from their Gram
    entries; there the entry is off by up to ~1e-8 relative (the diagonal itself is exact).

    Args:
        x1: (n1, d) inputs (tensor or array; the output lives on a tensor's device).
        x2: (n2, d) inputs, or None for Θ(x1, x1) (then exactly symmetric).
        depth: number of hidden layers L ≥ 1.
        sigma_w, sigma_b: σ_W > 0 and σ_b ≥ 0 of Eq. 1.
    Returns:
        (n1, n2) float64 tensor.
    Raises:
        ValueError: bad shapes, non-finite inputs, or hyperparameters out of range.
    """
    return _kernel(x1, x2, depth, sigma_w, sigma_b, want_ntk=True)


def ntk_diagonal(x: ArrayLike, *, depth: int, sigma_w: float = 1.0, sigma_b: float = 1.0) -> Tensor:
    """Θ(x, x) for each row of ``x`` in O(n · L), without forming the n × n kernel (Fig. S7).

    On the diagonal the ReLU recursion is linear: Σ^{l+1} = σ_W² Σ^l / 2 + σ_b² and
    Θ^{l+1} = Σ^{l+1} + σ_W² Θ^l / 2, starting from Θ¹ = Σ¹ = σ_W² |x|²/d + σ_b².

    Returns:
        (n,) float64 tensor, equal to ``ntk_kernel(x).diagonal()``.
    """
    _check_hyper(depth, sigma_w, sigma_b)
    a, _ = _inputs(x, None)
    q = sigma_w**2 * (a * a).sum(1) / a.shape[1] + sigma_b**2
    return _diagonal_recursion(q, depth, sigma_w, sigma_b)[1]


# --------------------------------------------------------------------------- empirical kernels


def _layer_features(model: NTKMLP, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
    """Layer inputs a^l and output sensitivities δ^l = ∂f/∂h^{l+1} of ``model`` at ``x`` (float64).

    f depends on W^l only through h^{l+1} = s_l W^l a^l + σ_b b^l, so ∂f/∂W^l = s_l δ^l (a^l)ᵀ and
    ∂f/∂b^l = σ_b δ^l; δ^L = 1 and δ^{l−1} = (s_l W^lᵀ δ^l) ⊙ 1{h^l > 0} (ReLU' = 0 at 0, as autograd).
    """
    weights = [w.detach().to(dtype=torch.float64, device=x.device) for w in model.weights]
    biases = [b.detach().to(dtype=torch.float64, device=x.device) for b in model.biases]
    inputs, masks = [x], []
    h = x
    for layer in range(len(weights) - 1):
        h = model.scales[layer] * (h @ weights[layer].T) + model.sigma_b * biases[layer]
        masks.append(h > 0)
        h = torch.relu(h)
        inputs.append(h)
    deltas = [torch.ones(x.shape[0], 1, dtype=torch.float64, device=x.device)]
    for layer in range(len(weights) - 1, 0, -1):
        delta = model.scales[layer] * (deltas[0] @ weights[layer]) * masks[layer - 1]
        deltas.insert(0, delta)
    return inputs, deltas


def _layerwise_ntk(model: NTKMLP, a: Tensor, b: Tensor | None, batch_size: int, progress: bool) -> Tensor:
    """Θ̂ = Σ_l (δ₁^l δ₂^lᵀ) ⊙ (s_l² a₁^l a₂^lᵀ + σ_b²): the Jacobian's Gram matrix, factor by factor."""
    feats_b = _layer_features(model, a if b is None else b)
    n1 = a.shape[0]
    n2 = feats_b[0][0].shape[0]
    out = torch.zeros(n1, n2, dtype=torch.float64, device=a.device)
    for start in tqdm(range(0, n1, batch_size), desc="empirical NTK (layerwise)", disable=not progress):
        stop = min(n1, start + batch_size)
        if b is None:
            inputs = [t[start:stop] for t in feats_b[0]]
            deltas = [t[start:stop] for t in feats_b[1]]
        else:
            inputs, deltas = _layer_features(model, a[start:stop])
        block = out[start:stop]
        for layer, scale in enumerate(model.scales):
            gram_in = torch.addmm(torch.full((1,), model.sigma_b**2, dtype=torch.float64, device=a.device),
                                  inputs[layer], feats_b[0][layer].T, alpha=scale**2)
            block.addcmul_(deltas[layer] @ feats_b[1][layer].T, gram_in)
    if b is None:
        out = 0.5 * (out + out.T)
    return out


def _generic_ntk(model: nn.Module, a: Tensor, b: Tensor | None, batch_size: int, progress: bool) -> Tensor:
    """φ(X₁)ᵀφ(X₂) for any module with scalar outputs, from Jacobian chunks of ``batch_size`` rows.

    Each chunk's Jacobian (batch_size × P) comes from ``torch.func.vmap(jacrev(...))`` in float64;
    the kernel is accumulated block by block, so only two chunks are alive at a time.
    """
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach().to(dtype=torch.float64, device=a.device) for k, v in model.named_parameters()}
    buffers = {k: v.detach().to(device=a.device) for k, v in model.named_buffers()}

    def single(p: dict[str, Tensor], x: Tensor) -> Tensor:
        out = functional_call(model, (p, buffers), (x[None],))
        return out.reshape(-1)[0]

    jac = vmap(jacrev(single), in_dims=(None, 0))

    def features(x: Tensor) -> Tensor:
        grads = jac(params, x)
        return torch.cat([g.reshape(x.shape[0], -1) for g in grads.values()], dim=1)

    other = a if b is None else b
    n1, n2 = a.shape[0], other.shape[0]
    out = torch.zeros(n1, n2, dtype=torch.float64, device=a.device)
    for i in tqdm(range(0, n1, batch_size), desc="empirical NTK (jacobian)", disable=not progress):
        rows = features(a[i:i + batch_size])
        for j in range(i if b is None else 0, n2, batch_size):
            cols = rows if (b is None and j == i) else features(other[j:j + batch_size])
            out[i:i + batch_size, j:j + batch_size] = rows @ cols.T
            if b is None and j != i:
                out[j:j + batch_size, i:i + batch_size] = out[i:i + batch_size, j:j + batch_size].T
    return out


def empirical_ntk(
    model: nn.Module,
    x1: ArrayLike,
    x2: ArrayLike | None = None,
    *,
    batch_size: int = 256,
    method: str = "auto",
    progress: bool = False,
) -> Tensor:
    """Finite-width kernel Θ̂(X₁, X₂) = φ(X₁)ᵀφ(X₂), φ(x) = ∂_w f(x; w) over all parameters (Eq. 4).

    For ``NTKMLP`` (``method="layerwise"``, chosen by ``"auto"``) the Jacobian is never formed: the
    gradient with respect to W^l is the outer product s_l δ^l (a^l)ᵀ of the backpropagated
    sensitivity and the layer input, so its inner products factor as

        Θ̂(x, x') = Σ_l (δ^l · δ'^l) (s_l² a^l · a'^l + σ_b²),

    the σ_b² term being the bias gradient σ_b δ^l. That costs O(n² m) per layer in matrix products
    and O(n · m) memory per layer, against n · P ≈ n · L m² for a Jacobian. Any other module
    (``method="jacobian"``) uses ``torch.func`` (vmap of jacrev) on chunks of ``batch_size`` points.
    Computed in float64 on the device of the inputs (or the model's when the inputs are not tensors).

    Args:
        model: an ``NTKMLP``, or any module mapping (n, d) to n scalar outputs ((n,) or (n, 1)).
        x1: (n1, d) inputs.
        x2: (n2, d) inputs, or None for Θ̂(x1, x1) (exactly symmetric).
        batch_size: points per chunk (rows of x1 per block; Jacobian rows for ``"jacobian"``).
        method: ``"auto"``, ``"layerwise"`` (``NTKMLP`` only) or ``"jacobian"``.
        progress: show a tqdm bar over the row blocks.
    Returns:
        (n1, n2) float64 tensor.
    Raises:
        ValueError: bad shapes, batch size or method.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer ≥ 1, got {batch_size!r}")
    if method not in ("auto", "layerwise", "jacobian"):
        raise ValueError(f"method must be 'auto', 'layerwise' or 'jacobian', got {method!r}")
    if method == "layerwise" and not isinstance(model, NTKMLP):
        raise ValueError(f"method='layerwise' needs an NTKMLP, got {type(model).__name__}; use 'jacobian'")
    device = first_device(x1, x2)
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    a, b = _inputs(torch.as_tensor(x1, device=device) if not isinstance(x1, Tensor) else x1, x2)
    d = getattr(model, "d", None)
    if d is not None and a.shape[1] != d:
        raise ValueError(f"x1 must have shape (n1, {d}) for this model, got {tuple(a.shape)}")
    with torch.no_grad():
        if method == "jacobian" or not isinstance(model, NTKMLP):
            return _generic_ntk(model, a, b, batch_size, progress)
        return _layerwise_ntk(model, a, b, batch_size, progress)


def empirical_ntk_error(
    x: ArrayLike,
    *,
    width: int,
    depth: int,
    seed: int,
    sigma_w: float = 1.0,
    sigma_b: float = 1.0,
    device: str | torch.device | None = None,
) -> float:
    """Relative distance ‖Θ̂_m(X, X) − Θ(X, X)‖_F / ‖Θ(X, X)‖_F of one random width-m network from its NTK.

    The network is ``NTKMLP(d, depth, width)`` initialized from ``torch.Generator().manual_seed(seed)``
    (float64, on ``device``; None keeps ``x``'s device), so a (width, seed) pair names one network
    exactly: this is one task of the width sweep of the NTK-regime appendix, and a plain function of
    its arguments so that ``kdlib.sweep`` can cache it and send it to any worker.

    Returns:
        the relative Frobenius error, a Python float.
    """
    a, _ = _inputs(x, None)
    if device is not None:
        a = a.to(device)
    theta = ntk_kernel(a, depth=depth, sigma_w=sigma_w, sigma_b=sigma_b)
    model = NTKMLP(a.shape[1], depth, width, sigma_w, sigma_b, generator=torch.Generator().manual_seed(seed),
                   dtype=torch.float64, device=a.device)
    return ((empirical_ntk(model, a) - theta).norm() / theta.norm()).item()


def full_jacobian_ntk(model: nn.Module, x1: ArrayLike, x2: ArrayLike | None = None) -> Tensor:
    """Brute force φ(X₁)ᵀφ(X₂) from the whole n × P Jacobian (``torch.func.jacrev``), float64.

    A reference for tests and small nets only: memory n · P · 8 bytes.
    """
    from torch.func import functional_call, jacrev

    a, b = _inputs(x1, x2)
    params = {k: v.detach().to(dtype=torch.float64, device=a.device) for k, v in model.named_parameters()}

    def forward(x: Tensor) -> Callable[[dict[str, Tensor]], Tensor]:
        return lambda p: functional_call(model, p, (x,)).reshape(-1)

    def jacobian(x: Tensor) -> Tensor:
        grads = jacrev(forward(x))(params)
        return torch.cat([g.reshape(x.shape[0], -1) for g in grads.values()], dim=1)

    j1 = jacobian(a)
    j2 = j1 if b is None else jacobian(b)
    return j1 @ j2.T
