"""kdlib: the mathematics of "Knowledge Distillation in Wide Neural Networks" (Ji & Zhu, 2020).

Public API (each function's docstring cites the paper's equation it implements):

* Eq. 3 — ``effective_logits``, ``hard_label_correction`` (Theorem 2), ``eq3_residual``,
  ``paper_gradient_descent`` (the paper's own solver, kept as a baseline).
* Eq. 1 — ``NTKMLP``, the wide ReLU network in NTK parameterization.
* Profiles and claims — ``profiles.resolve``, ``claims.check``.
"""

from kdlib import claims, profiles
from kdlib.logits import (
    effective_logits,
    eq3_residual,
    hard_label_correction,
    paper_gradient_descent,
    reference_effective_logit,
)
from kdlib.nets import NTKMLP

__all__ = [
    "NTKMLP",
    "claims",
    "profiles",
    "effective_logits",
    "eq3_residual",
    "hard_label_correction",
    "paper_gradient_descent",
    "reference_effective_logit",
]
__version__ = "0.1.0"
