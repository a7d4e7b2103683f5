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

# Rows of the output processed together in the analytic recursion: the work buffers of
# block × n₂ float64 entries stay in the last-level cache for moderate n₂, which makes the
# elementwise passes memory-bandwidth friendly and caps memory at O(block · n₂).
_BLOCK_ENTRIES = 1 << 18

# First-layer pairs whose gap r − c or r + c (r = √(q q')) falls below this fraction of r are
# recomputed from explicit differences of the inputs. Above it the gap from the Gram matrix is already
# accurate: its rounding (≈ d·ε·r) moves the angle by ≈ d·ε/√(2·1e-3) ≈ 22·d·ε.
_REFINE_BELOW = 1e-3
_PAIR_CHUNK = 1 << 15  # flagged pairs refined together (memory O(chunk · d))
# Explicit differences cost O(d) per pair; when more than this fraction of a block is flagged (inputs
# crowded in a narrow cone, e.g. a large common offset), one more matrix product is cheaper: the gaps
# then come from unit vectors centred on the inputs' mean direction (``_Centred``).
_CENTRED_ABOVE = 1 / 16

# Wide enough for any use; the limits keep the units of _Units (which move by σ_W²/2 per layer) in range.
_SIGMA_W_RANGE = (1e-100, 1e100)
# With σ_b > 0 the kernel is computed in units of the largest scale S = max(σ_W·max|x|, σ_b); a row
# whose own scale is below 2^-200·S (≈ 6.2e-61·S) could underflow in the products (r − c)(r + c) of
# two such rows (scaled Σ¹ below 2^-400), so such inputs are rejected instead of computed wrong.
_MIN_RELATIVE_SCALE_EXPONENT = -200


def _check_hyper(depth: int, sigma_w: float, sigma_b: float) -> None:
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"depth must be an integer ≥ 1 (the number of hidden layers L), got {depth!r}")
    low, high = _SIGMA_W_RANGE
    if not (isinstance(sigma_w, int | float) and math.isfinite(sigma_w) and sigma_w > 0):
        raise ValueError(f"sigma_w must be a finite number > 0, got {sigma_w!r}")
    if not low <= sigma_w <= high:
        raise ValueError(f"sigma_w must be in [{low:g}, {high:g}] (the supported range), got {sigma_w!r}")
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
        return a.contiguous(), None
    b = as_float64("x2", x2, a.device)
    if b.ndim != 2 or b.shape[0] < 1 or b.shape[1] != a.shape[1]:
        raise ValueError(f"x2 must have shape (n2, {a.shape[1]}) to match x1's dimension d, got {tuple(b.shape)}")
    if not torch.isfinite(b).all():
        raise ValueError("x2 contains an infinite entry; inputs must be finite")
    return a.contiguous(), b.contiguous()


def _pow2(exponents: Tensor) -> Tensor:
    """2^e exactly as float64 (subnormal below 2^-1022, 0 below 2^-1074, inf above 2^1023), from the bits."""
    e = exponents.to(torch.int64)
    normal = ((e.clamp(-1022, 1024) + 1023) << 52).view(torch.float64)  # 1024 → the bit pattern of inf
    subnormal = (torch.ones_like(e) << (e + 1074).clamp(0, 51)).view(torch.float64)
    return torch.where(e >= -1022, normal, torch.where(e >= -1074, subnormal, torch.zeros_like(normal)))


def _exponent(value: float) -> int:
    """e with value in [2^(e−1), 2^e) (0 for value 0)."""
    return math.frexp(value)[1]


def _input_exponents(
    a: Tensor, b: Tensor | None, sigma_w: float, sigma_b: float
) -> tuple[Tensor, Tensor | None, float]:
    """Row exponents e (row x_i enters as x_i·2^{−e_i}) and the bias σ_b·2^{−e} of the rescaled problem.

    σ_b = 0: Θ(λx, μx') = λμ Θ(x, x') for λ, μ > 0 (ReLU networks without biases are positively
    homogeneous), so each row is rescaled on its own to σ_W·max|x̃| in [1/4, 1) and Θ_ij multiplied back
    by 2^{e_i + e_j}: exact, whatever the spread of the rows' scales.
    σ_b > 0: Θ is homogeneous jointly in (x, x', σ_b) only, so one exponent serves every row, chosen so
    that max(σ_W·max|x|, σ_b) < 1; rows whose scale is tiny next to that are rejected.
    """
    w_exponent = _exponent(sigma_w)
    rows = [a] if b is None else [a, b]
    largest = [x.abs().amax(1) for x in rows]
    row_exponents = [torch.frexp(m).exponent.to(torch.int64) for m in largest]
    if sigma_b == 0:
        scaled = [torch.where(m > 0, e + w_exponent, 0).clamp_(-1022, 1022) for m, e in zip(largest, row_exponents,
                                                                                           strict=True)]
        return scaled[0], None if b is None else scaled[1], 0.0
    top = max(m.max().item() for m in largest)
    b_exponent = _exponent(sigma_b)
    k = b_exponent if top == 0 else max(b_exponent, w_exponent + _exponent(top))
    k = min(max(k, -1022), 1022)
    floor = k + _MIN_RELATIVE_SCALE_EXPONENT
    if b_exponent < floor:
        for name, m, e in zip(("x1", "x2"), largest, row_exponents, strict=False):
            tiny = (m > 0) & (e + w_exponent < floor)
            if bool(tiny.any()):
                row = int(torch.nonzero(tiny)[0, 0])
                raise ValueError(
                    f"{name} row {row} (largest entry {m[row].item():.3g}) and sigma_b={sigma_b!r} are both below "
                    f"6.2e-61 times the largest input scale ({math.ldexp(1.0, k):.3g}); with sigma_b > 0 the kernel "
                    "supports inputs within 60 orders of magnitude of the largest input or of sigma_b"
                )
    shared = [torch.full_like(e, k) for e in row_exponents]
    return shared[0], None if b is None else shared[1], math.ldexp(sigma_b, -k)


def _first_q(x: Tensor, sigma_w: float, bias: float) -> Tensor:
    """Σ¹(x, x) = σ_W² |x|²/d + σ_b² for each row (one formula for the diagonal and the refined pairs)."""
    return sigma_w**2 * (x * x).sum(1) / x.shape[1] + bias**2


class _Units:
    """Per-layer constants of the recursion in units U_l chosen so that it rarely multiplies by σ_W²/2.

    In true units Σ^{l+1} = a · (…) + b with a = σ_W²/2, b = σ_b²; in units U_l → U_{l+1} that is
    a_l · (…) + b_l with a_l = a U_l/U_{l+1} and b_l = b/U_{l+1}, and Θ's recursion takes the same a_l.
    Choosing U_{l+1} = a U_l makes a_l = 1, which saves a pass over the block per layer. Σ^l(x, x) can
    grow or shrink like a^l, so whenever its largest value would leave [2^-64, 2^64] in these units, a_l
    becomes a power of two that brings it back: products like (r − c)(r + c) then never over- or
    underflow, for any depth and σ_W. The last layer also multiplies by U_{L+1} (``fold``), so the
    recursion returns true units (up to the power of two ``exponent`` when that is out of range).
    """

    def __init__(self, q: Tensor, depth: int, sigma_w: float, bias: float) -> None:
        half = 0.5 * sigma_w**2
        self.a: list[float] = []
        self.b: list[float] = []
        mantissa, exponent = 1.0, 0  # U_l = mantissa · 2^exponent (U_1 = 1; then mantissa in [1/2, 1))
        largest = q.max().item()
        for _ in range(depth):
            mantissa, step = math.frexp(mantissa * half)
            b = math.ldexp(bias**2 / mantissa, -(exponent + step))
            peak = largest + b  # the largest Σ^{l+1}(x, x) with a_l = 1
            shift = 0 if 2.0**-64 <= peak <= 2.0**64 else -_exponent(peak)
            exponent += step - shift
            self.a.append(math.ldexp(1.0, shift))
            self.b.append(math.ldexp(b, shift))
            largest = self.a[-1] * largest + self.b[-1]
        self.mantissa, self.exponent = mantissa, exponent

    def fold(self, extra: int) -> None:
        """Let the last layer multiply by U_{L+1} · 2^extra, so that it returns true units.

        ``extra`` is the inputs' rescaling (2k for inputs used as x·2^-k). The power of two is folded
        only where it is moderate; otherwise ``exponent`` keeps it for :func:`_unscale` (exact).
        """
        self.a[-1] *= self.mantissa
        self.b[-1] *= self.mantissa
        self.mantissa = 1.0
        self.exponent += extra
        if -1000 <= self.exponent <= 1000:
            self.a[-1] = math.ldexp(self.a[-1], self.exponent)
            self.b[-1] = math.ldexp(self.b[-1], self.exponent)
            self.exponent = 0


def _diagonal_recursion(q: Tensor, units: _Units) -> tuple[list[Tensor], Tensor]:
    """Σ^l(x, x) for l = 1 … L+1 and Θ^{L+1}(x, x) in the units of ``units``, from q = Σ¹(x, x).

    On the diagonal θ = 0, so E[g(u)²] = q/2 and E[g'(u)²] = 1/2 exactly:
    Σ^{l+1} = σ_W² Σ^l / 2 + σ_b² and Θ^{l+1} = Σ^{l+1} + σ_W² Θ^l / 2.
    """
    sigmas = [q]
    theta = q
    for a, b in zip(units.a, units.b, strict=True):
        nxt = a * sigmas[-1] + b
        theta = nxt + a * theta
        sigmas.append(nxt)
    return sigmas, theta


def _unscale(exponents: Tensor, units: _Units) -> tuple[Tensor, Tensor]:
    """Factors f, f' (exact powers of two) with true value = value_ij · f_i · f'_j for these rows."""
    half = units.exponent // 2
    return _pow2(exponents + half), _pow2(exponents + (units.exponent - half))


def _true_diagonal(scaled: Tensor, exponents: Tensor, units: _Units, name: str) -> Tensor:
    """The diagonal in true units; ValueError if it leaves the float64 range."""
    first, second = _unscale(exponents, units)
    out = scaled * first * second
    if not bool(torch.isfinite(out).all()):
        row = int(torch.nonzero(~torch.isfinite(out))[0, 0])
        raise ValueError(
            f"{name} row {row} is too large: its kernel value Θ(x, x) exceeds the float64 range (~1.8e308); "
            "the supported inputs are those whose kernel entries are representable"
        )
    return out


class _Rows:
    """Per-row quantities of the rescaled inputs used by the cross recursion and its refinement."""

    def __init__(self, x: Tensor, exponents: Tensor, sigma_w: float, bias: float) -> None:
        self.x = x * _pow2(-exponents)[:, None]
        self.bias = bias  # σ_b in the inputs' rescaled units
        self.q = _first_q(self.x, sigma_w, bias)
        self.norms = (self.x * self.x).sum(1).sqrt()
        self.exponents = exponents

    def units(self) -> Tensor:
        """Rows divided by their norms (zero rows stay zero)."""
        return self.x / torch.where(self.norms > 0, self.norms, 1.0)[:, None]

    def recurse(self, units: _Units) -> None:
        self.qs, self.diag_ntk = _diagonal_recursion(self.q, units)
        self.roots = [v.sqrt() for v in self.qs]  # √Σ^l(x, x), l = 1 … L+1, in the units of layer l


def _refine_first_layer(
    c: Tensor, g: Tensor, t: Tensor, flat: Tensor, start: int, first: int, rows1: _Rows, rows2: _Rows,
    sigma_w: float,
) -> Tensor:
    """Recompute Σ¹, r − Σ¹ and r + Σ¹ at the flagged entries of a block from differences of the inputs.

    With α = σ_W²/d, b = σ_b², n = |x|, n' = |x'|, unit vectors x̂, x̂' and r = √(q q'):

        r − Σ¹ = αb(n − n')² / (r + αnn' + b) + αnn' |x̂ − x̂'|² / 2,
        r + Σ¹ = αb(n − n')² / (r + αnn' + b) + αnn' |x̂ + x̂'|² / 2 + 2b,

    sums of non-negative terms (the first is r − (αnn' + b), rationalized), so both keep full relative
    precision where the Gram entries cancel: near-equal (or near-opposite) inputs. Near-equal pairs
    also take Σ¹ = (q + q')/2 − α|x − x'|²/2, so equal inputs give Σ¹ = q exactly and a zero gap.
    The block holds rows ``start …`` and columns ``first …``; ``flat`` indexes its flattened entries.
    Returns the (k, 2) global indices of pairs whose inputs are exactly equal.
    """
    alpha = sigma_w**2 / rows1.x.shape[1]
    bias_sq = rows1.bias**2
    columns = c.shape[1]
    c, g, t = c.view(-1), g.view(-1), t.view(-1)
    equal = []
    for chunk in torch.split(flat, _PAIR_CHUNK):
        gi, gj = chunk // columns + start, chunk % columns + first
        x1, x2 = rows1.x.index_select(0, gi), rows2.x.index_select(0, gj)
        n1, n2 = rows1.norms.index_select(0, gi), rows2.norms.index_select(0, gj)
        u1 = x1 / torch.where(n1 > 0, n1, 1.0)[:, None]
        u2 = x2 / torch.where(n2 > 0, n2, 1.0)[:, None]
        minus = (u1 - u2).square_().sum(1)
        plus = u1.add_(u2).square_().sum(1)
        mixed = alpha * n1 * n2
        radius = rows1.roots[0].index_select(0, gi) * rows2.roots[0].index_select(0, gj)
        norm_gap = alpha * bias_sq * (n1 - n2).square() / (radius + mixed + bias_sq)
        difference = x1.sub_(x2)
        mean_q = 0.5 * (rows1.q.index_select(0, gi) + rows2.q.index_select(0, gj))
        close = mean_q - 0.5 * alpha * difference.square().sum(1)
        c[chunk] = torch.where(minus <= plus, close, c[chunk])
        g[chunk] = norm_gap + 0.5 * mixed * minus
        t[chunk] = norm_gap + 0.5 * mixed * plus + 2 * bias_sq
        same = (difference == 0).all(1)
        equal.append(torch.stack([gi[same], gj[same]], 1))
    return torch.cat(equal)


class _Centred:
    """Unit rows minus the inputs' mean direction m: |x̂ − x̂'|² = |δ|² + |δ'|² − 2 δ·δ' with δ = x̂ − m.

    Formed by a matrix product, this is rounded by ~ε(|δ|² + |δ'|²) instead of the ~ε of 2 − 2 x̂·x̂',
    so it is accurate for pairs that are close to each other *relative to their distance from m*: all
    but a few pairs when the inputs crowd around one direction.
    """

    def __init__(self, rows1: _Rows, rows2: _Rows) -> None:
        units1 = rows1.units()
        units2 = units1 if rows2 is rows1 else rows2.units()
        total = units1.sum(0) + (0 if rows2 is rows1 else units2.sum(0))
        length = torch.linalg.vector_norm(total)
        mean = total / length if bool(length > 0) else torch.zeros_like(total)
        self.delta1 = units1 - mean
        self.delta2 = self.delta1 if rows2 is rows1 else units2 - mean
        self.spread1 = (self.delta1 * self.delta1).sum(1)
        self.spread2 = self.spread1 if rows2 is rows1 else (self.delta2 * self.delta2).sum(1)


def _refine_centred(
    c: Tensor, g: Tensor, t: Tensor, r: Tensor, scratch: Tensor, flat: Tensor, start: int, first: int,
    rows1: _Rows, rows2: _Rows, centred: _Centred, sigma_w: float,
) -> Tensor:
    """Refine the flagged near-parallel pairs of a block from the centred product; return those left over.

    The gap is r − Σ¹ = αb(n − n')²/(r + αnn' + b) + αnn' |x̂ − x̂'|²/2 as in :func:`_refine_first_layer`,
    with |x̂ − x̂'|² from :class:`_Centred`, trusted where it exceeds ``_REFINE_BELOW`` (|δ|² + |δ'|²) —
    the same margin over its rounding as the first test has over the Gram matrix's. Σ¹ = r − gap is
    then exact to rounding (the gap is small). Near-opposite pairs, and pairs too close for the centred
    product (duplicates among them), are returned for explicit differences.
    """
    alpha = sigma_w**2 / rows1.x.shape[1]
    bias_sq = rows1.bias**2
    rows, columns = c.shape
    torch.mm(centred.delta1[start:start + rows], centred.delta2[first:first + columns].T, out=scratch)
    gi, gj = flat // columns + start, flat % columns + first
    spread = centred.spread1.index_select(0, gi) + centred.spread2.index_select(0, gj)
    minus = spread - 2 * scratch.view(-1).index_select(0, flat)
    radius = r.view(-1).index_select(0, flat)
    good = (minus > _REFINE_BELOW * spread) & (t.view(-1).index_select(0, flat) >= _REFINE_BELOW * radius)
    take, gi, gj, minus, radius = flat[good], gi[good], gj[good], minus[good], radius[good]
    n1, n2 = rows1.norms.index_select(0, gi), rows2.norms.index_select(0, gj)
    mixed = alpha * n1 * n2
    gap = alpha * bias_sq * (n1 - n2).square() / (radius + mixed + bias_sq) + 0.5 * mixed * minus
    g.view(-1)[take] = gap
    c.view(-1)[take] = radius - gap
    return flat[~good]


def _bias_gap(numerator: Tensor, denominator: Tensor, p1: Tensor, p2: Tensor, n1: Tensor, n2: Tensor, a: float,
              b: float) -> None:
    """b (p − p')² and P P' + a p p' + b, with P = √(a p² + b) the next layer's root (into the two buffers).

    Their ratio times a is r^{l+1} − (a r + b) with r = p p', rationalized: a product of differences.
    The denominator is one rank-3 product (b rides along as a third factor: no separate pass to add it).
    """
    scale = math.sqrt(b)
    torch.sub((scale * p1)[:, None], (scale * p2)[None, :], out=numerator).square_()
    left = torch.stack([n1, a * p1, torch.ones_like(p1)], 1)
    right = torch.stack([n2, p2, torch.full_like(p2, b)], 0)
    torch.mm(left, right, out=denominator)


class _Workspace:
    """Flat float64 buffers reused by every block, viewed as (rows, columns) (no allocation per block)."""

    def __init__(self, entries: int, device: torch.device) -> None:
        self.buffers = [torch.empty(entries, dtype=torch.float64, device=device) for _ in range(6)]

    def views(self, rows: int, columns: int) -> list[Tensor]:
        return [buffer[: rows * columns].view(rows, columns) for buffer in self.buffers]


def _cross_recursion(
    c: Tensor, g: Tensor, t: Tensor, s: Tensor, half: Tensor, ntk: Tensor | None,
    roots1: list[Tensor], roots2: list[Tensor], units: _Units,
) -> None:
    """Run the recursion in place on one block: Σ¹ in ``c`` on entry; Σ^{L+1} in ``c`` and Θ^{L+1} in ``ntk``.

    Besides c = Σ^l the block carries the gap g = r − c ≥ 0 (r = √(q q')) and t = r + c. The angle
    enters through the half-angle formula θ/2 = atan2(√g, √t) = atan2(s, t) with s = √(g t) = r sin θ,
    and the next gap follows from the exact identity

        g^{l+1} = a (g − (s − θc)/π) + [r^{l+1} − (a r + b)],        a = σ_W²/2, b = σ_b²,

    whose bracket is a b (√q − √q')² / (r^{l+1} + a r + b) ≥ 0 (see ``_bias_gap``). Nothing subtracts
    two numbers of size r to get one of size rθ²: the only cancellation, s − θc ≈ rθ³/3, loses ε·rθ,
    which moves the next θ by ~ε. So θ stays accurate to a few ε (absolutely) down to θ = 0, where
    √(qq' − c²) from Gram entries would be known only to √ε, and entries keep full relative precision.
    In the first layer Σ¹ may be negative, so t comes from the caller; after a ReLU layer c ≥ 0,
    θ ≤ π/2 and t = 2c + g.
    (π − θ)/π = 1 − 2(θ/2)/π is accurate to ε absolute, so Θ's entries for near-opposite inputs carry
    an error of ~ε·σ_W²Σ¹(x, x)/2, tiny next to the diagonal however small the entry itself is.
    ``s`` and ``half`` are work buffers; ``ntk`` holds Θ¹ = Σ¹ on entry (or is None).
    """
    one = torch.ones((1,), dtype=c.dtype, device=c.device)
    for layer, (a, b) in enumerate(zip(units.a, units.b, strict=True)):
        if layer:
            torch.add(g, c, alpha=2.0, out=t)  # t = r + c
        torch.mul(g, t, out=s).sqrt_()  # s = r sin θ
        # θ/2, from tan(θ/2) = s/t = g/s. atan2(g, s) is exact at both ends of the first layer (g = 0
        # for equal inputs, t = 0 for opposite ones); later t ≥ g, and atan2(s, t) stays right even
        # where s underflows (θ < 1e-150 then).
        if layer:
            torch.atan2(s, t, out=half)
        else:
            torch.atan2(g, s, out=half)
        s.addcmul_(half, c, value=-2.0)  # s − θc = r (sin θ − θ cos θ)
        c.add_(s, alpha=1 / math.pi)  # (s + (π − θ) c)/π
        if a != 1.0:
            torch.add(torch.full((1,), b, dtype=c.dtype, device=c.device), c, alpha=a, out=c)
        elif b != 0:
            c.add_(b)  # Σ^{l+1} = a (s + (π − θ)c)/π + b
        if ntk is not None:
            keep = torch.add(one, half, alpha=-2 / math.pi, out=half)  # (π − θ)/π
            torch.addcmul(c, ntk, keep, value=a, out=ntk)  # Θ^{l+1} = Σ^{l+1} + σ_W² Θ^l (π − θ)/(2π)
        if layer == len(units.a) - 1:
            break  # the last gap is not needed
        g.add_(s, alpha=-1 / math.pi)
        if b != 0:
            _bias_gap(s, t, roots1[layer], roots2[layer], roots1[layer + 1], roots2[layer + 1], a, b)
            g.addcdiv_(s, t)
        if a != 1.0:
            g.mul_(a)
        # g ≥ 0 exactly; s − θc carries an absolute rounding of ε·rθ, which can push a gap of θ < ε
        # (inputs equal to 1e-150, say) a hair below zero, where √(g t) would be NaN.
        g.clamp_(min=0.0)


_HASH_WEIGHTS: dict[tuple[int, torch.device], Tensor] = {}


def _canonical_rows(x: Tensor) -> Tensor | None:
    """For each row the index of the first row equal to it, or None when all rows differ.

    Rows are hashed (their bits times fixed odd 64-bit weights, summed with wrap-around), grouped by
    hash, and every candidate is checked for exact equality, so a hash collision can only cost a missed
    duplicate, never a wrong one. O(n·d + n log n).
    """
    n, d = x.shape
    if n < 2:
        return None
    key = (d, x.device)
    if key not in _HASH_WEIGHTS:
        weights = torch.randint(-(2**62), 2**62, (d,), generator=torch.Generator().manual_seed(d), dtype=torch.int64)
        _HASH_WEIGHTS[key] = (weights | 1).to(x.device)
    bits = (x + 0.0).view(torch.int64)  # + 0.0 turns −0.0 into 0.0, which computes the same kernel
    hashes = (bits * _HASH_WEIGHTS[key]).sum(1)
    unique, inverse = torch.unique(hashes, return_inverse=True)
    if unique.shape[0] == n:
        return None
    order = torch.arange(n, device=x.device)
    first = torch.full((unique.shape[0],), n, dtype=torch.int64, device=x.device)
    first.scatter_reduce_(0, inverse, order, reduce="amin")
    canonical = first[inverse]
    canonical = torch.where((x[canonical] == x).all(1), canonical, order)
    return None if bool((canonical == order).all()) else canonical


def _setup(a: Tensor, b: Tensor | None, depth: int, sigma_w: float, sigma_b: float) -> tuple[_Rows, _Rows, _Units]:
    """Rescaled rows (with their diagonal recursions) and the units of the recursion, for x1 and x2."""
    e1, e2, bias = _input_exponents(a, b, sigma_w, sigma_b)
    rows1 = _Rows(a, e1, sigma_w, bias)
    rows2 = rows1 if b is None else _Rows(b, e2, sigma_w, bias)
    units = _Units(rows1.q if b is None else torch.cat([rows1.q, rows2.q]), depth, sigma_w, bias)
    if sigma_b > 0:  # one exponent for all rows: the last layer also undoes the inputs' rescaling
        units.fold(2 * int(e1[0]))
        rows1.exponents = torch.zeros_like(e1)
        rows2.exponents = rows1.exponents if b is None else torch.zeros_like(rows2.exponents)
    else:
        units.fold(0)
    rows1.recurse(units)
    if b is not None:
        rows2.recurse(units)
    return rows1, rows2, units


def _mirror_upper(out: Tensor, block: int) -> None:
    """Fill the strict lower triangle from the upper one, block row by block row (exactly symmetric)."""
    n = out.shape[0]
    for start in range(0, n, block):
        stop = min(n, start + block)
        diagonal = out[start:stop, start:stop]
        diagonal.copy_(diagonal.triu() + diagonal.triu(1).T)
        out[stop:, start:stop] = out[start:stop, stop:].T


def _kernel(
    x1: ArrayLike, x2: ArrayLike | None, depth: int, sigma_w: float, sigma_b: float, want_ntk: bool,
) -> Tensor:
    _check_hyper(depth, sigma_w, sigma_b)
    a, b = _inputs(x1, x2)
    rows1, rows2, units = _setup(a, b, depth, sigma_w, sigma_b)
    # |Θ_ij| ≤ √(Θ_ii Θ_jj) (Θ is a Gram matrix), so a representable diagonal bounds every entry.
    diag1 = rows1.diag_ntk if want_ntk else rows1.qs[-1]
    _true_diagonal(diag1, rows1.exponents, units, "x1")
    if b is not None:
        _true_diagonal(rows2.diag_ntk if want_ntk else rows2.qs[-1], rows2.exponents, units, "x2")
    n1, n2 = rows1.x.shape[0], rows2.x.shape[0]
    device = a.device
    symmetric = b is None
    out = torch.empty(n1, n2, dtype=torch.float64, device=device)
    block = max(1, _BLOCK_ENTRIES // n2)
    workspace = _Workspace(min(n1, block) * n2, device)
    equal_pairs = []
    centred = None
    # Σ¹ = (σ_W²/d) x·x' + σ_b² as one product of [σ_W²/d · x, 1] and [x', σ_b²]
    left = torch.cat([sigma_w**2 / a.shape[1] * rows1.x, torch.ones_like(rows1.x[:, :1])], 1)
    right = torch.cat([rows2.x, torch.full_like(rows2.x[:, :1], rows1.bias**2)], 1).T
    for start in range(0, n1, block):
        stop = min(n1, start + block)
        first = start if symmetric else 0  # a symmetric kernel needs its upper triangle only
        c, g, t, s, half, spare = workspace.views(stop - start, n2 - first)
        torch.mm(left[start:stop], right[:, first:], out=c)  # Σ¹
        torch.outer(rows1.roots[0][start:stop], rows2.roots[0][first:], out=spare)  # r
        torch.sub(spare, c, out=g)
        torch.add(spare, c, out=t)
        torch.minimum(g, t, out=s)
        flagged = torch.nonzero(torch.lt(s, torch.mul(spare, _REFINE_BELOW, out=half)).view(-1)).squeeze(1)
        if flagged.shape[0] > _CENTRED_ABOVE * c.numel():
            centred = _Centred(rows1, rows2) if centred is None else centred
            flagged = _refine_centred(c, g, t, spare, half, flagged, start, first, rows1, rows2, centred, sigma_w)
        if flagged.shape[0]:
            equal_pairs.append(_refine_first_layer(c, g, t, flagged, start, first, rows1, rows2, sigma_w))
        ntk = None
        if want_ntk:
            ntk = out[start:stop, first:]
            ntk.copy_(c)  # Θ¹ = Σ¹
        roots2 = [v[first:] for v in rows2.roots]
        _cross_recursion(c, g, t, s, half, ntk, [v[start:stop] for v in rows1.roots], roots2, units)
        if not want_ntk:
            out[start:stop, first:] = c
    if symmetric:
        _mirror_upper(out, block)
    if equal_pairs:
        # Equal inputs get exactly the diagonal recursion's value (their refined gap is exactly zero,
        # which leaves at most an ulp of difference from fused operations; this removes it).
        pairs = torch.cat(equal_pairs)
        out[pairs[:, 0], pairs[:, 1]] = diag1[pairs[:, 0]]
        if symmetric:
            out[pairs[:, 1], pairs[:, 0]] = diag1[pairs[:, 0]]
    # Duplicated inputs get bit-identical rows and columns: elementwise kernels may round an entry
    # differently depending on where it falls in a buffer (vectorized body or scalar remainder).
    canonical1 = _canonical_rows(a)
    canonical2 = canonical1 if symmetric else _canonical_rows(b)
    if canonical1 is not None:
        out = out[canonical1]
    if canonical2 is not None:
        out = out[:, canonical2]
    row_factor, _ = _unscale(rows1.exponents, units)
    _, column_factor = _unscale(rows2.exponents, units)
    if bool((row_factor != 1).any()) or bool((column_factor != 1).any()):
        out.mul_(row_factor[:, None]).mul_(column_factor[None, :])
    return out


def nngp_kernel(
    x1: ArrayLike, x2: ArrayLike | None = None, *, depth: int, sigma_w: float = 1.0, sigma_b: float = 1.0,
) -> Tensor:
    """Infinite-width NNGP kernel Σ(x, x') = Cov[f(x; w₀), f(x'; w₀)] of ``NTKMLP`` (Eq. 1).

    The output of a wide network at initialization is a Gaussian process with this covariance
    (Lee et al., 2019, App. C); it is Σ^{L+1} of the recursion in the module docstring, computed
    as in :func:`ntk_kernel`, with the same precision and supported range.

    Args:
        x1: (n1, d) inputs (tensor or array; the output lives on a tensor's device).
        x2: (n2, d) inputs, or None for Σ(x1, x1) (then exactly symmetric).
        depth: number of hidden layers L ≥ 1.
        sigma_w, sigma_b: σ_W in [1e-100, 1e100] and σ_b ≥ 0 of Eq. 1.
    Returns:
        (n1, n2) float64 tensor.
    Raises:
        ValueError: bad shapes, non-finite inputs, hyperparameters out of range, or inputs outside the
            supported range of :func:`ntk_kernel`.
    """
    return _kernel(x1, x2, depth, sigma_w, sigma_b, want_ntk=False)


def ntk_kernel(
    x1: ArrayLike, x2: ArrayLike | None = None, *, depth: int, sigma_w: float = 1.0, sigma_b: float = 1.0,
) -> Tensor:
    """Infinite-width neural tangent kernel Θ(x, x') of ``NTKMLP`` (Eq. 1), the Θ of Eqs. 4–5.

    Θ is the limit of the empirical kernel φ(x)ᵀφ(x') as the width grows (Jacot et al., 2018),
    over every weight and bias of Eq. 1; computed with the arc-cosine recursion in the module
    docstring (Lee et al., 2019, App. C and E, as Sec. S4 of the paper prescribes). The angle θ
    between two rows is carried through the layers as the gap r − c ≥ 0 (r = √(q q'), c = Σ), which
    the recursion updates by sums of non-negative terms, and enters as θ/2 = atan2(r sin θ, r + c).
    First-layer gaps of near-equal or near-opposite inputs come from explicit differences of the
    inputs (|x̂ − x̂'| and |x| − |x'|), not from Gram entries. Work is done in row blocks, so memory
    is O(n2 · block) beyond the output and the passes stay in cache.

    Precision: every entry is accurate to ~1e-13 relative (tested to ≤ 1e-12 against 60-digit
    arithmetic for inputs 1e-2 … 1e-12 apart, equal, and opposite). Equal inputs give exactly the
    diagonal value Θ(x, x) of :func:`ntk_diagonal`, so duplicated rows give bit-identical rows and
    columns (and an exactly singular kernel).

    Supported range: σ_b = 0: any finite inputs (each row is rescaled by a power of two, exact by
    homogeneity); σ_b > 0: inputs whose scales σ_W·max|x| are within 60 orders of magnitude of the
    largest or of σ_b (ValueError otherwise). Any depth and σ_W in [1e-100, 1e100] (the recursion runs
    in power-of-two units that follow Σ's growth). Entries must be representable: a diagonal entry
    above ~1.8e308 raises ValueError; entries below 2.2e-308 are subnormal and lose relative precision.

    Args:
        x1: (n1, d) inputs (tensor or array; the output lives on a tensor's device).
        x2: (n2, d) inputs, or None for Θ(x1, x1) (then exactly symmetric).
        depth: number of hidden layers L ≥ 1.
        sigma_w, sigma_b: σ_W in [1e-100, 1e100] and σ_b ≥ 0 of Eq. 1.
    Returns:
        (n1, n2) float64 tensor.
    Raises:
        ValueError: bad shapes, non-finite inputs, hyperparameters out of range, or inputs outside the
            supported range (the message names x1 or x2 and the row).
    """
    return _kernel(x1, x2, depth, sigma_w, sigma_b, want_ntk=True)


def ntk_diagonal(x: ArrayLike, *, depth: int, sigma_w: float = 1.0, sigma_b: float = 1.0) -> Tensor:
    """Θ(x, x) for each row of ``x`` in O(n · L), without forming the n × n kernel (Fig. S7).

    On the diagonal the ReLU recursion is linear: Σ^{l+1} = σ_W² Σ^l / 2 + σ_b² and
    Θ^{l+1} = Σ^{l+1} + σ_W² Θ^l / 2, starting from Θ¹ = Σ¹ = σ_W² |x|²/d + σ_b². Evaluated in the
    rescaled units of :func:`ntk_kernel`, with the same supported range.

    Returns:
        (n,) float64 tensor, bit-identical to ``ntk_kernel(x).diagonal()``.
    """
    _check_hyper(depth, sigma_w, sigma_b)
    a, _ = _inputs(x, None)
    rows, _, units = _setup(a, None, depth, sigma_w, sigma_b)
    return _true_diagonal(rows.diag_ntk, rows.exponents, units, "x")


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
