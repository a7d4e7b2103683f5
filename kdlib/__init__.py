"""kdlib: the mathematics of "Knowledge Distillation in Wide Neural Networks" (Ji & Zhu, 2020).

Public API (each function's docstring cites the paper's equation it implements):

* Eq. 3 — ``effective_logits``, ``hard_label_correction`` (Theorem 2), ``eq3_residual``,
  ``paper_gradient_descent`` (the paper's own solver, kept as a baseline).
* Eq. 1 — ``NTKMLP``, the wide ReLU network in NTK parameterization.
* Eq. 4 — ``ntk_kernel``, ``nngp_kernel``, ``ntk_diagonal`` (infinite-width kernels of Eq. 1) and
  ``empirical_ntk`` (the finite-width kernel φ(X)ᵀφ(X), layer by layer).
* Eqs. 2, 4, 9–12, Definition 1 — ``linearize``, ``kd_loss`` (Eq. 2; ``losses`` also holds the
  multi-class loss of the practical experiment), ``train_kd`` (the linearized student's training on
  ``train.fit``, the one training loop with checkpoints and resume), ``closed_form_student``,
  ``theta_inner``, ``weight_change_angle``, ``hard_label_derivative``, ``weight_change_norms``,
  ``data_inefficiency``, ``expected_squared_norms``, ``windowed_data_inefficiency``; ``data`` holds the
  inputs and Gaussian-mixture teachers of Sec. S4 (and ``flip_signs``, the label noise of Fig. 3 right);
  ``efficiency`` runs the data-inefficiency experiments of Sec. 4 (one factorization per run, curves
  over runs with standard errors); ``label_smoothing_logits`` is Sec. 4's label-smoothing target.
* ``teachers`` — the trained teachers of Secs. 3–5 (S4.1): ``teachers.get(spec, epoch, cache_dir=...)``
  trains once through ``train.fit``, keeps the stopping epochs, resumes, and loads afterwards.
* Sec. 3, Eqs. 6–9, Theorem 1 — ``risk`` (the converged student's predictions and transfer risk for
  every prefix n from one Cholesky factor, angle distribution, Eq. 9's angle, the bounds of Sec. 3 and
  S6) and ``transfer`` (the runs of the transfer-risk chapter as sweep tasks; imported on use).
* ``stats`` — power-law fits with standard errors, means over runs; ``images`` and ``resnet`` — the
  CIFAR-10 / digits data and the ResNets of the practical experiment, ``distill`` — its teacher and
  student training tasks (Fig. 5 left, Fig. S1; ``resnet`` and ``distill`` are imported on use).
* ``resolve_device`` — ``auto`` picks CUDA when PyTorch sees it.

The machinery that runs and publishes the book (profiles, claims, plots, sweeps, caches,
executors, the ``kdbook`` command) lives in :mod:`kdlib.book`; nothing here imports it, so the
mathematics needs neither papermill nor jupyter-book nor dask.
"""

from kdlib import data, efficiency, images, losses, risk, stats, teachers, train
from kdlib._device import resolve_device
from kdlib.kernels import empirical_ntk, empirical_ntk_error, full_jacobian_ntk, nngp_kernel, ntk_diagonal, ntk_kernel
from kdlib.logits import (
    effective_logits,
    eq3_residual,
    hard_label_correction,
    label_smoothing_logits,
    paper_gradient_descent,
    reference_effective_logit,
)
from kdlib.losses import kd_loss, multiclass_kd_loss
from kdlib.nets import NTKMLP, linearize, train_kd
from kdlib.student import (
    closed_form_student,
    data_inefficiency,
    expected_squared_norms,
    hard_label_derivative,
    theta_inner,
    weight_change_angle,
    weight_change_norms,
    windowed_data_inefficiency,
)

__all__ = [
    "NTKMLP",
    "data",
    "efficiency",
    "images",
    "losses",
    "risk",
    "stats",
    "teachers",
    "train",
    "multiclass_kd_loss",
    "resolve_device",
    "closed_form_student",
    "data_inefficiency",
    "expected_squared_norms",
    "windowed_data_inefficiency",
    "label_smoothing_logits",
    "hard_label_derivative",
    "kd_loss",
    "linearize",
    "theta_inner",
    "train_kd",
    "weight_change_angle",
    "weight_change_norms",
    "effective_logits",
    "empirical_ntk",
    "empirical_ntk_error",
    "full_jacobian_ntk",
    "nngp_kernel",
    "ntk_diagonal",
    "ntk_kernel",
    "eq3_residual",
    "hard_label_correction",
    "paper_gradient_descent",
    "reference_effective_logit",
]
__version__ = "0.1.0"
