"""The coverage map: every figure panel and numbered statement of the paper, and the chapter that covers it.

One table, :data:`PAPER`, in the paper's order. Each item names the chapters (notebook stems) that
compute it and, where the book proves it, the hand-written page with the proof. The book renders it
in the introduction and on the scorecard (``report.coverage_markdown``): an item whose chapter is
not in ``notebooks/`` yet, or was not executed, reads *not yet*; once the chapter exists and runs,
the same row links to it, with nothing else to edit. A chapter is matched by its stem, or by a stem
that ends in ``-<name>`` (so ``teachers`` also finds ``s4-teachers``).

To add a chapter to the map, put its stem in the ``chapters`` of the items it computes; to add a
statement of the paper, add an :class:`Item`. The unit tests check that every figure of the paper
(Figs. 1–5, S1–S7) and every numbered equation, theorem and appendix section appears.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Item", "PAPER", "SECTIONS", "find_chapter", "planned_chapters"]


@dataclass(frozen=True)
class Item:
    """One figure panel, equation, theorem or stated finding of the paper."""

    item: str  # how the paper names it: "Fig. 2 left", "Theorem 1 (Eq. 7)", "Sec. S5"
    section: str  # one of SECTIONS
    shows: str  # what the paper shows or states there, in a few words
    chapters: tuple[str, ...] = ()  # notebook stems (or their ``-suffix``) that compute it
    page: str | None = None  # a hand-written page (``theory``) that derives or proves it


SECTIONS = ("Sec. 2", "Sec. 3", "Sec. 4", "Sec. 5", "Appendix")

_EFFECTIVE = ("01-effective-student",)
_NTK = ("s1-ntk-regime",)
_LINEARIZED = ("s1-linearized-training",)
_RISK = ("02-transfer-risk",)
_EFFICIENCY = ("03-data-efficiency",)
_IMPERFECT = ("04-imperfect-teacher",)
_PRACTICAL = ("05-practical-kd",)
_TEACHERS = ("teachers",)

PAPER: tuple[Item, ...] = (
    # Section 2: problem setup
    Item("Eq. 1", "Sec. 2", "the NTK-parameterized student network", _NTK, "theory"),
    Item("Eq. 2", "Sec. 2", "the distillation loss", _EFFECTIVE, "theory"),
    Item("Eq. 3", "Sec. 2", "the effective student logit solves the per-sample stationarity condition",
         _EFFECTIVE, "theory"),
    Item("Fig. 1 left", "Sec. 2", "effective logits against z_t for several ρ at T = 5", _EFFECTIVE),
    Item("Fig. 1 right", "Sec. 2", "effective logits against z_t for several T at ρ = 0.05", _EFFECTIVE),
    Item("Sec. 2, |z_eff| > |z_t|", "Sec. 2", "a correct teacher's student is more confident than the teacher",
         _EFFECTIVE),
    Item("Sec. 2, the split", "Sec. 2", "hard labels split z_eff at z_t = 0; the split grows with 1 − ρ",
         _EFFECTIVE),
    Item("Sec. 2, T > 1", "Sec. 2", "for T > 1 the split widens with T", _EFFECTIVE),
    Item("Sec. 2, T < 1", "Sec. 2", "for T < 1 the effective logit forms a T-independent plateau", _EFFECTIVE),
    Item("Eq. 4", "Sec. 2", "the converged weight change φ(X)Θ⁻¹Δz of a linearized student", _LINEARIZED,
         "theory"),
    Item("Sec. 2, after Eq. 4", "Sec. 2", "the empirical kernel is close to the NTK, Θ̂ ≈ Θ", _NTK),
    # Section 3: transfer risk
    Item("Fig. 2 left", "Sec. 3", "transfer risk falls as a power of n, fastest for pure soft labels", _RISK),
    Item("Eq. 5", "Sec. 3", "the student's weight change is the projection of the oracle's", _RISK, "theory"),
    Item("Eq. 6", "Sec. 3", "the accumulative angle distribution p(β)", _RISK, "theory"),
    Item("Theorem 1 (Eq. 7)", "Sec. 3", "the risk bound R_n ≤ p(π/2 − ᾱ_n)", _RISK, "theory"),
    Item("Eq. 8", "Sec. 3", "the feature angle from the effective logit and Θ(x, x)", _RISK, "theory"),
    Item("Fig. 2 middle", "Sec. 3", "p(β) is near-linear close to π/2 and not monotone in ρ", _RISK),
    Item("Eq. 9", "Sec. 3", "cos ᾱ_n ≈ ‖Δŵ‖ / ‖Δw*‖", _RISK, "theory"),
    Item("Sec. 3.1, the rate", "Sec. 3", "a bound of order n^(−b/2) from the growth of ‖Δŵ‖", _RISK),
    Item("Fig. 2 right", "Sec. 3", "the student–oracle angle falls fastest for pure soft labels", _RISK),
    Item("Sec. 3.2", "Sec. 3", "Phuong and Lampert's bound is vacuous for wide networks", _RISK),
    # Section 4: data inefficiency
    Item("Definition 1 (Eq. 10)", "Sec. 4", "data inefficiency I(n)", _EFFICIENCY, "theory"),
    Item("Fig. 3 left", "Sec. 4", "I(n) of Gaussian mixtures with q modes: harder tasks, higher I(n)", _EFFICIENCY),
    Item("Fig. 3 right", "Sec. 4", "I(n) with random sign flips; random labels keep I(n) ≈ 0.8", _EFFICIENCY),
    Item("Fig. 4 left", "Sec. 4", "a 1-D example: teachers by stopping epoch, effective logits by ρ",
         _EFFICIENCY),
    Item("Fig. 4 middle", "Sec. 4", "early-stopped teachers are more data efficient", _EFFICIENCY),
    Item("Fig. 4 right", "Sec. 4", "hard labels raise I(n) towards 0.5", _EFFICIENCY),
    Item("Sec. 4, the cut-off", "Sec. 4", "z_eff ≈ sgn(z_t)·max{t, |z_t|}, label smoothing as ρ → 0", _EFFECTIVE),
    Item("Sec. 4, label smoothing", "Sec. 4", "label smoothing is harder to learn than pure soft distillation",
         _EFFICIENCY),
    # Section 5: imperfect teacher
    Item("Sec. 5, the bound", "Sec. 5", "at T = 1, σ(z_eff) ≥ 1 − ρ however wrong the teacher", _EFFECTIVE),
    Item("Sec. 5, the sign", "Sec. 5", "at T = 1 and ρ ≤ 1/2 the student's sign is always correct", _EFFECTIVE),
    Item("Fig. 5 left", "Sec. 5", "CIFAR-10, ResNet: with an imperfect teacher pure soft labels are not best",
         _PRACTICAL),
    Item("Fig. 5 middle", "Sec. 5", "the same on synthetic data", _IMPERFECT),
    Item("Eq. 11", "Sec. 5", "the cosine between the student and the ground-truth oracle", _IMPERFECT, "theory"),
    Item("Theorem 2, δz_h", "Sec. 5", "the correction logits δz_h (closed form: ours)", _EFFECTIVE, "theory"),
    Item("Theorem 2 (Eq. 12)", "Sec. 5", "the effect of hard labels on that cosine", _IMPERFECT, "theory"),
    Item("Fig. 5 right", "Sec. 5", "⟨δŵ_h, Δŵ_c⟩ changes sign with the teacher's stopping epoch", _IMPERFECT),
    # Appendix
    Item("Sec. S1 (Eqs. S1–S2)", "Appendix", "distillation training converges to Eq. 3, at a linear rate",
         _LINEARIZED),
    Item("Fig. S1 (Sec. S2)", "Appendix", "CIFAR-10 test error against n follows a power law", _PRACTICAL),
    Item("Sec. S3 (Eqs. S3–S7)", "Appendix", "the proof of Theorem 1", _RISK, "theory"),
    Item("Sec. S4, the solver", "Appendix", "effective logits by gradient descent (learning rate 10, 10⁴ steps)",
         _EFFECTIVE),
    Item("Fig. S2", "Appendix", "Gaussian-mixture targets with 10, 50 and 250 modes", _EFFICIENCY),
    Item("Fig. S3 (Sec. S4.1)", "Appendix", "the teacher's decision boundary and logits", _TEACHERS),
    Item("Fig. S4", "Appendix", "‖Δŵ‖ against n for the tasks of Fig. 3", _EFFICIENCY),
    Item("Fig. S5", "Appendix", "‖Δŵ‖ against n for the tasks of Fig. 4", _EFFICIENCY),
    Item("Fig. S6 (Sec. S5)", "Appendix", "the zero function converges faster and moves the weights less",
         _LINEARIZED),
    Item("Sec. S6", "Appendix", "feature angles are bounded away from 0, so p(β) ≡ 1 near β = 0", _RISK),
    Item("Fig. S7", "Appendix", "Θ(x, x) ≥ xᵀx/4, with equality approached at large scale", _NTK),
    Item("Sec. S7 (Eq. S8)", "Appendix", "the proof of Theorem 2", _IMPERFECT, "theory"),
)


def find_chapter(name: str, stems: Iterable[str]) -> str | None:
    """The notebook stem that ``name`` denotes: equal to it, or the one stem ending in ``-<name>``."""
    stems = list(stems)
    if name in stems:
        return name
    matches = [stem for stem in stems if stem.endswith(f"-{name}")]
    return matches[0] if len(matches) == 1 else None


def planned_chapters() -> list[str]:
    """Every chapter name the map mentions, in the paper's order."""
    return list(dict.fromkeys(name for item in PAPER for name in item.chapters))
