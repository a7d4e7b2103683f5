"""The teachers of the paper's synthetic experiments (Sec. 3–5, S4.1): trained once, kept, shared.

Every synthetic figure distils from an Eq. 1 network (d = 2, σ_W = σ_b = 1, ReLU) trained with
Adam (β = (0.9, 0.999)) on *online batches* (S4.1: "samples are regenerated after each epoch"):

* **Fig. 2** — the *perfect teacher*, trained on the hard labels y = 1{f_g(x) > 0} of a
  Gaussian-mixture ground truth f_g (L = 5, m = 1024, η = 5·10⁻⁴, batch 4096);
* **Fig. 4** — trained on the Fig. 2 teacher's hard labels, η = 0.01, 32,768 epochs, taken at
  several stopping epochs (511 for Fig. 4 right);
* **Fig. 5** — trained on the Fig. 2 teacher's hard labels, η = 10⁻⁴, 10,240 epochs, stopped at
  e = 5113 (test error 1.06 % in the paper) for Fig. 5 middle and at a grid of epochs for Fig. 5 right.

A teacher is a frozen :class:`TeacherSpec`; :func:`get` trains it through :func:`kdlib.train.fit`
the first time it is asked for, into a folder named by a hash of the specification and of the
source of the modules that train it, keeps the weights of its stopping epochs, and afterwards only
loads them. A killed run resumes from its last checkpoint and gives, on the CPU, bit for bit the
teacher an uninterrupted run gives. An epoch the run did not keep is trained on, once, from the kept
checkpoint before it (bit for bit the same weights), so a chapter can stop a teacher anywhere.

**Epoch.** One epoch is ``steps_per_epoch`` Adam steps, each on ``batch_size`` inputs drawn
afresh from x ~ N(0, 5² I₂) (default: one step, so an epoch is one fresh batch — the reading of
"samples are regenerated after each epoch" in which an epoch is one pass over a freshly drawn
set of ``batch_size`` samples). Epoch 0 is the network at initialization.

**Random streams.** Initial weights come from ``Generator().manual_seed(2·seed)``, the training
inputs from ``Generator().manual_seed(2·seed + 1)``; the test inputs of :func:`test_error` from a
separate stream ``2⁴⁰ + seed``, so no test input is a training input except by coincidence of
continuous draws (probability 0).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import inspect
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from kdlib import data as _data
from kdlib import nets as _nets
from kdlib import train as _train
from kdlib._device import resolve_device
from kdlib.data import GaussianMixture, gaussian_inputs, random_gaussian_mixture
from kdlib.nets import NTKMLP
from kdlib.train import OnlineBatches, checkpoint_path, fit, load_checkpoint, record_metrics

__all__ = [
    "GroundTruthSpec", "ParentLabels", "TeacherSpec", "ground_truth", "label_function", "get", "test_error",
    "history", "spec_hash", "teacher_dir", "root_ground_truth", "is_trained",
]

D = 2  # input dimension of every synthetic experiment (S4.1)
TEST_SEED_OFFSET = 2**40  # test inputs: Generator().manual_seed(TEST_SEED_OFFSET + seed)
_DONE = "done.json"
_LOCK = ".lock"


def _meta(help: str, low: float | None = None, high: float | None = None) -> dict[str, Any]:
    """Field metadata read by the book's settings (``kdbook list``, ``-p`` range checks); plain data."""
    return {"help": help, "low": low, "high": high}


def _int(owner: str, name: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer ≥ {low}, got {value!r}")


def _positive(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: {name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class GroundTruthSpec:
    """The Gaussian-mixture ground truth f_g of S4 in d = 2; its hard labels are y = 1{f_g(x) > 0}.

    f_g(x) = Σ_j A_j exp(−‖x − x_j‖² / σ_j²) with ``modes`` = q random modes drawn by
    :func:`kdlib.data.random_gaussian_mixture` from ``Generator().manual_seed(seed)``: |A_j| around
    ``amplitude``, centres x_j ~ N(0, 5² I), widths σ_j around ``width_scale`` / q (the rule
    σ = 15/q^{2/d} of :mod:`kdlib.data` with the paper's 15). The labels only depend on the sign of
    f_g, so ``amplitude`` changes f_g's scale (the plots) and not the task.
    """

    modes: int = field(metadata=_meta("number of Gaussian modes q", 1, 10_000))
    amplitude: float = field(metadata=_meta("typical |A_j| (scales f_g, not its sign)", 1e-6, 1e6))
    width_scale: float = field(metadata=_meta("σ = width_scale / q^(2/d) (the paper's 15)", 1e-6, 1e6))
    seed: int = field(metadata=_meta("seed of the mixture's random draws", 0, 2**62))

    def __post_init__(self) -> None:
        _int("GroundTruthSpec", "modes", self.modes, 1)
        _positive("GroundTruthSpec", "amplitude", self.amplitude)
        _positive("GroundTruthSpec", "width_scale", self.width_scale)
        _int("GroundTruthSpec", "seed", self.seed, 0)


@dataclass(frozen=True)
class ParentLabels:
    """Hard labels y = 1{z_parent(x) > 0} of another teacher stopped at ``epoch`` (Figs. 4 and 5)."""

    teacher: TeacherSpec
    epoch: int

    def __post_init__(self) -> None:
        if not isinstance(self.teacher, TeacherSpec):
            raise ValueError(f"ParentLabels: teacher must be a TeacherSpec, got {type(self.teacher).__name__}")
        _check_epoch(self.teacher, self.epoch)


@dataclass(frozen=True)
class TeacherSpec:
    """An Eq. 1 network (NTKMLP, d = 2, σ_W = σ_b = 1) trained by Adam(β = (0.9, 0.999)) on online batches.

    Attributes:
        name: a label (the folder name starts with it; it is part of the hash).
        width, depth: m and L of Eq. 1.
        lr: Adam's learning rate η.
        batch_size: fresh inputs per step.
        steps_per_epoch: steps per epoch (see the module docstring; the paper's reading is 1).
        epochs: epochs trained.
        keep_epochs: epochs whose weights are kept (stopping epochs), each in [0, epochs]; the
            last epoch is always kept as well.
        labels: what it learns: a :class:`GroundTruthSpec` (f_g's sign) or :class:`ParentLabels`.
        seed: seeds the initialization (2·seed) and the training inputs (2·seed + 1).
        test_samples: inputs of the test error recorded at every kept epoch (for :func:`history`).
    """

    name: str = field(metadata=_meta("label of the teacher (its folder starts with it)"))
    width: int = field(metadata=_meta("hidden width m", 1, 65_536))
    depth: int = field(metadata=_meta("hidden layers L", 1, 64))
    lr: float = field(metadata=_meta("Adam's learning rate η", 1e-9, 10.0))
    batch_size: int = field(metadata=_meta("fresh inputs per step", 1, 2**22))
    steps_per_epoch: int = field(metadata=_meta("steps per epoch (1: an epoch is one fresh batch)", 1, 10**6))
    epochs: int = field(metadata=_meta("epochs trained", 0, 10**8))
    keep_epochs: tuple[int, ...] = field(metadata=_meta("epochs whose weights are kept (stopping epochs)", 0, 10**8))
    labels: GroundTruthSpec | ParentLabels = field(metadata={"derived": True, "help": "set by the enclosing settings"})
    seed: int = field(metadata=_meta("seeds the initial weights (2·seed) and the inputs (2·seed + 1)", 0, 2**40))
    test_samples: int = field(default=2**14, metadata=_meta("test inputs of the error recorded at kept epochs",
                                                            1, 2**24))

    def __post_init__(self) -> None:
        owner = f"TeacherSpec {self.name!r}"
        if not isinstance(self.name, str) or not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise ValueError(f"{owner}: name must be a non-empty string of letters, digits, '-', '_', '.'")
        for name, low in (("width", 1), ("depth", 1), ("batch_size", 1), ("steps_per_epoch", 1), ("epochs", 0),
                          ("seed", 0), ("test_samples", 1)):
            _int(owner, name, getattr(self, name), low)
        _positive(owner, "lr", self.lr)
        if isinstance(self.keep_epochs, list):
            object.__setattr__(self, "keep_epochs", tuple(self.keep_epochs))
        if not isinstance(self.keep_epochs, tuple):
            raise ValueError(f"{owner}: keep_epochs must be a tuple of epochs, got {self.keep_epochs!r}")
        for epoch in self.keep_epochs:
            if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= self.epochs:
                raise ValueError(f"{owner}: keep_epochs must lie in [0, epochs = {self.epochs}], got {epoch!r}")
        if not isinstance(self.labels, GroundTruthSpec | ParentLabels):
            raise ValueError(f"{owner}: labels must be a GroundTruthSpec or ParentLabels, got "
                             f"{type(self.labels).__name__}")

    @property
    def stopping_epochs(self) -> tuple[int, ...]:
        """The epochs :func:`get` can return: ``keep_epochs`` and the last epoch, sorted."""
        return tuple(sorted(set(self.keep_epochs) | {self.epochs}))

    @property
    def parameters(self) -> int:
        """Number of trainable parameters of the network."""
        m, L = self.width, self.depth
        return (D + 1) * m + (L - 1) * (m + 1) * m + (m + 1)


def _check_epoch(spec: TeacherSpec, epoch: Any) -> int:
    """Any whole epoch in [0, spec.epochs]: a kept one is loaded, another is trained on from the kept
    checkpoint before it (:func:`get`)."""
    whole = isinstance(epoch, int) and not isinstance(epoch, bool)
    if not whole or not 0 <= epoch <= spec.epochs:
        if not whole:
            where = f"not a whole epoch: {type(epoch).__name__}"
        else:
            where = f"beyond the trained range [0, {spec.epochs}]" if epoch > spec.epochs else "negative"
        raise ValueError(f"teacher {spec.name!r} has no weights at epoch {epoch!r} ({where}): it trains "
                         f"{spec.epochs} epochs (kept: {list(spec.stopping_epochs)}; any epoch in between is "
                         "trained on from the kept one before it)")
    return epoch


# ---------------------------------------------------------------------------------------------
# Specification → folder
# ---------------------------------------------------------------------------------------------


def _describe(value: Any) -> Any:
    """A JSON-able description of a spec: asdict with each dataclass's type named."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__,
                **{item.name: _describe(getattr(value, item.name)) for item in dataclasses.fields(value)}}
    if isinstance(value, tuple | list):
        return [_describe(item) for item in value]
    if isinstance(value, float):
        return repr(value)  # exact: 0.1 and 0.1000000000000001 hash apart
    return value


_SOURCE_MODULES = (_data, _nets, _train)


def _source_digest() -> str:
    digest = hashlib.sha256()
    for path in (*(inspect.getfile(module) for module in _SOURCE_MODULES), __file__):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def spec_hash(spec: TeacherSpec | GroundTruthSpec | ParentLabels) -> str:
    """SHA-256 of the canonical JSON of the specification and of the source of the training code.

    The JSON is ``dataclasses`` field by field (nested parents included, types named, floats by
    their exact ``repr``) with sorted keys, so the hash is the same in every process and changes
    with any field; the source is that of :mod:`kdlib.teachers`, :mod:`kdlib.nets`,
    :mod:`kdlib.train` and :mod:`kdlib.data`, so weights trained by older code are never reused.
    """
    text = json.dumps(_describe(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((text + "\n" + _source_digest()).encode()).hexdigest()


def teacher_dir(spec: TeacherSpec, cache_dir: str | os.PathLike[str]) -> Path:
    """``cache_dir/teachers/<name>-<first 16 hex digits of spec_hash>``: the teacher's folder."""
    return Path(cache_dir) / "teachers" / f"{spec.name}-{spec_hash(spec)[:16]}"


def is_trained(spec: TeacherSpec, *, cache_dir: str | os.PathLike[str]) -> bool:
    """Whether ``spec`` has been trained to its last epoch in ``cache_dir`` (nothing is trained)."""
    return (teacher_dir(spec, cache_dir) / _DONE).is_file()


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------


def ground_truth(spec: GroundTruthSpec) -> GaussianMixture:
    """The ground-truth function f_g of ``spec`` (a :class:`kdlib.data.GaussianMixture`, float64, CPU)."""
    if not isinstance(spec, GroundTruthSpec):
        raise ValueError(f"spec must be a GroundTruthSpec, got {type(spec).__name__}")
    return random_gaussian_mixture(spec.modes, D, amplitude=spec.amplitude, width_scale=spec.width_scale,
                                   generator=torch.Generator().manual_seed(spec.seed))


def root_ground_truth(labels: GroundTruthSpec | ParentLabels | TeacherSpec) -> GroundTruthSpec:
    """The ground truth at the start of a chain of parents (what a Fig. 4/5 teacher ultimately learns)."""
    while not isinstance(labels, GroundTruthSpec):
        labels = labels.labels if isinstance(labels, TeacherSpec) else labels.teacher.labels
    return labels


def label_function(
    labels: GroundTruthSpec | ParentLabels,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device = "auto",
) -> Callable[[Tensor], Tensor]:
    """x (n, 2) ↦ hard labels in {0., 1.} (x's dtype and device).

    For a :class:`GroundTruthSpec`, 1{f_g(x) > 0}; for :class:`ParentLabels`, 1{z_parent(x) > 0}
    with the parent teacher got by :func:`get` (so it is trained first if need be; that needs
    ``cache_dir``, and the parent runs on ``device``).
    """
    if isinstance(labels, GroundTruthSpec):
        f_g = ground_truth(labels)
        return lambda x: (f_g(x.to(torch.float64)) > 0).to(dtype=x.dtype)
    if isinstance(labels, ParentLabels):
        if cache_dir is None:
            raise ValueError(f"labels of the parent teacher {labels.teacher.name!r} need cache_dir= (where it is "
                             "trained and kept), e.g. label_function(labels, cache_dir=cfg.cache_dir)")
        parent = get(labels.teacher, labels.epoch, cache_dir=cache_dir, device=device)
        parent_device = next(parent.parameters()).device
        parent_dtype = next(parent.parameters()).dtype

        def parent_labels(x: Tensor) -> Tensor:
            with torch.no_grad():
                z = parent(x.to(device=parent_device, dtype=parent_dtype))
            return (z > 0).to(dtype=x.dtype, device=x.device)

        return parent_labels
    raise ValueError(f"labels must be a GroundTruthSpec or ParentLabels, got {type(labels).__name__}")


_TEST_INPUTS: dict[tuple[int, int, str], Tensor] = {}


def _test_inputs(n: int, seed: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    key = (n, seed, str(device))
    if key not in _TEST_INPUTS:
        if len(_TEST_INPUTS) > 8:
            _TEST_INPUTS.clear()
        _TEST_INPUTS[key] = gaussian_inputs(n, D, generator=torch.Generator().manual_seed(TEST_SEED_OFFSET + seed),
                                            dtype=torch.float64, device=device)
    return _TEST_INPUTS[key].to(dtype)


def test_error(
    model: nn.Module,
    labels: GroundTruthSpec | ParentLabels | Callable[[Tensor], Tensor],
    *,
    n: int = 2**16,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[float, float]:
    """The fraction p of n fresh test inputs x ~ N(0, 5² I) where 1{model(x) > 0} ≠ the labels, and its
    standard error √(p(1 − p)/n).

    The test inputs are fixed by ``seed`` (a stream of their own, never the training stream), so two
    teachers are compared on the same points. ``labels`` is a spec (see :func:`label_function`;
    ``cache_dir`` for a parent) or a label function already built.
    """
    _int("test_error", "n", n, 1)
    _int("test_error", "seed", seed, 0)
    parameter = next(model.parameters())
    if isinstance(labels, GroundTruthSpec | ParentLabels):
        label = label_function(labels, cache_dir=cache_dir, device=parameter.device)
    else:
        label = labels
    x = _test_inputs(n, seed, parameter.device, parameter.dtype)
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            predicted = (model(x) > 0).to(x.dtype)
            wrong = (predicted != label(x)).to(torch.float64).mean().item()
    finally:
        model.train(training)
    return wrong, math.sqrt(wrong * (1.0 - wrong) / n)


# ---------------------------------------------------------------------------------------------
# Training, once
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / _LOCK, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _network(spec: TeacherSpec, device: torch.device) -> NTKMLP:
    return NTKMLP(D, spec.depth, spec.width, 1.0, 1.0, generator=torch.Generator().manual_seed(2 * spec.seed),
                  dtype=torch.float32, device=device)


def _bce(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    x, y = batch
    return nn.functional.binary_cross_entropy_with_logits(model(x), y)


def _resume_points(spec: TeacherSpec) -> set[int]:
    """Epochs at which ``last.pt`` is written besides the kept ones: about 32 per run."""
    every = max(1, spec.epochs // 32)
    return set(range(every, spec.epochs + 1, every))


def _training_state(spec: TeacherSpec, label: Callable[[Tensor], Tensor], device: torch.device
                    ) -> tuple[NTKMLP, torch.optim.Optimizer, OnlineBatches, torch.Generator]:
    """The network, optimizer, batches and input generator of a run, built the same way every time, so
    that a run resumed from any of its checkpoints continues it exactly."""
    model = _network(spec, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.lr, betas=(0.9, 0.999))

    def sample(n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        x = gaussian_inputs(n, D, generator=generator, dtype=torch.float32, device=device)
        return x, label(x)

    batches = OnlineBatches(sample, spec.batch_size, spec.steps_per_epoch)
    return model, optimizer, batches, torch.Generator().manual_seed(2 * spec.seed + 1)


def _train_to(spec: TeacherSpec, epoch: int, folder: Path, cache_dir: Path, device: torch.device) -> None:
    """Keep ``epoch-{epoch}.pt`` for an epoch the run did not keep: resume from the kept checkpoint
    before it, in a scratch folder, and train on to ``epoch`` (bit-identical to the run on the CPU:
    :func:`kdlib.train.fit` restores the optimizer and every generator). The caller holds the lock."""
    start = max(e for e in spec.stopping_epochs if e < epoch)
    label = label_function(spec.labels, cache_dir=cache_dir, device=device)
    model, optimizer, batches, generator = _training_state(spec, label, device)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".extend-") as scratch:
        shutil.copyfile(checkpoint_path(folder, start), checkpoint_path(scratch, start))
        fit(model, _bce, optimizer, batches, epochs=epoch, generator=generator, checkpoint_dir=scratch,
            keep_epochs={epoch}, progress=False, desc=f"teacher {spec.name} to epoch {epoch}")
        os.replace(checkpoint_path(scratch, epoch), checkpoint_path(folder, epoch))


def _train(spec: TeacherSpec, folder: Path, cache_dir: Path, device: torch.device, progress: bool,
           callbacks: list[tuple[Any, Callable[[_train.FitState], None]]]) -> None:
    """Train (or resume) ``spec`` into ``folder``; the caller holds its lock."""
    label = label_function(spec.labels, cache_dir=cache_dir, device=device)
    truth = root_ground_truth(spec.labels)
    truth_label = label if isinstance(spec.labels, GroundTruthSpec) else label_function(truth)
    model, optimizer, batches, generator = _training_state(spec, label, device)
    metrics: dict[str, Callable[[nn.Module], float]] = {
        "test_error": lambda m: test_error(m, label, n=spec.test_samples)[0]}
    if not isinstance(spec.labels, GroundTruthSpec):
        metrics["ground_truth_error"] = lambda m: test_error(m, truth_label, n=spec.test_samples)[0]
    stops = set(spec.stopping_epochs)
    result = fit(model, _bce, optimizer, batches, epochs=spec.epochs, generator=generator,
                 callbacks=[(stops, record_metrics(**metrics)), *callbacks], checkpoint_dir=folder,
                 checkpoint_epochs=_resume_points(spec), keep_epochs=stops, progress=progress,
                 desc=f"teacher {spec.name}")
    done = {
        "spec": _describe(spec), "hash": spec_hash(spec), "device": str(device), "torch": torch.__version__,
        "train_time_s": result.train_time, "wall_time_s": result.wall_time,
        "samples_per_second": result.samples_per_second, "resumed_from": result.resumed_from,
        "history": result.history.state_dict(),
    }
    temporary = folder / f".{_DONE}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(done))
    os.replace(temporary, folder / _DONE)


def get(
    spec: TeacherSpec,
    epoch: int,
    *,
    cache_dir: str | os.PathLike[str],
    device: str | torch.device = "auto",
    progress: bool = False,
    _callbacks: list[tuple[Any, Callable[[_train.FitState], None]]] | None = None,
) -> nn.Module:
    """The teacher ``spec`` stopped at ``epoch``: trained once, kept, loaded afterwards.

    The first call trains the whole run (to ``spec.epochs``; a parent teacher first, the same way)
    with :func:`kdlib.train.fit` into :func:`teacher_dir`, keeping the weights of every stopping
    epoch; a run killed midway resumes from its newest checkpoint (bit-identical on the CPU). Later
    calls load ``epoch-{epoch}.pt`` with ``torch.load(weights_only=True)``. An exclusive ``fcntl``
    lock on the folder makes concurrent callers (processes of a sweep) train it once: the others
    wait and then load.

    Args:
        spec: the teacher.
        epoch: any epoch in [0, ``spec.epochs``]. A kept one (``spec.keep_epochs`` or the last) is
            loaded; another is trained on once from the kept checkpoint before it, bit-identically
            on the CPU, and kept as well.
        cache_dir: the cache root (a chapter's ``cfg.cache_dir``); teachers live in ``cache_dir/teachers``.
        device: where it trains and where the returned module lives (``auto``: CUDA if seen).
        progress: show fit's progress bar while training.
    Returns:
        An eval-mode :class:`kdlib.nets.NTKMLP` (float32, parameters frozen: ``requires_grad`` False)
        mapping x of shape (n, 2) to logits of shape (n,).
    Raises:
        ValueError: ``epoch`` is outside [0, ``spec.epochs``] or not an integer (the message names
            the teacher, the epoch and the range), or a bad spec.
        kdlib.train.TrainingDiverged: the training diverged (lower ``lr``).
    """
    if not isinstance(spec, TeacherSpec):
        raise ValueError(f"spec must be a TeacherSpec, got {type(spec).__name__}")
    _check_epoch(spec, epoch)
    target = resolve_device(device)
    cache = Path(cache_dir)
    folder = teacher_dir(spec, cache)
    weights = checkpoint_path(folder, epoch)
    if not (folder / _DONE).is_file() or not weights.is_file():
        if isinstance(spec.labels, ParentLabels):  # outside this folder's lock: the parent has its own
            get(spec.labels.teacher, spec.labels.epoch, cache_dir=cache, device=target, progress=progress)
        # fit restores the global generators' states when it resumes: keep the caller's untouched, so
        # that what a chapter draws after get() does not depend on whether the teacher was cached
        cuda = [target.index or 0] if target.type == "cuda" else []
        with _locked(folder), torch.random.fork_rng(devices=cuda):
            if not (folder / _DONE).is_file():
                _train(spec, folder, cache, target, progress, list(_callbacks or ()))
            if not weights.is_file():  # an epoch the run did not keep: train on to it, once
                _train_to(spec, epoch, folder, cache, target)
    model = _network(spec, target)
    load_checkpoint(weights, model, map_location=target)
    model.eval()
    model.requires_grad_(False)
    return model


def history(spec: TeacherSpec, *, cache_dir: str | os.PathLike[str], device: str | torch.device = "auto") -> dict:
    """What was recorded while ``spec`` trained (training it first if it has not been).

    Returns:
        ``{"epochs": [...], "loss": [...], "test_error": [...], "test_error_se": [...]}`` at every
        stopping epoch (``loss`` is that epoch's training loss, None at epoch 0), plus
        ``"ground_truth_error"`` (and its ``_se``) for a teacher of a parent's labels (its error
        against f_g itself); ``"loss_epochs"``/``"loss_curve"``: the training loss of every epoch;
        ``"test_samples"``; and the run's ``device``, ``train_time_s``, ``samples_per_second``,
        ``resumed_from`` (throughput of the last training call only).
    """
    folder = teacher_dir(spec, cache_dir)
    if not (folder / _DONE).is_file():
        get(spec, spec.epochs, cache_dir=cache_dir, device=device)
    done = json.loads((folder / _DONE).read_text())
    rows = done["history"]
    stops = spec.stopping_epochs
    at = {int(row["epoch"]): row for row in rows if "test_error" in row}
    n = spec.test_samples
    out: dict[str, Any] = {"epochs": list(stops), "loss": [at[e].get("loss") for e in stops],
                           "test_error": [at[e]["test_error"] for e in stops], "test_samples": n}
    out["test_error_se"] = [math.sqrt(p * (1 - p) / n) for p in out["test_error"]]
    if not isinstance(spec.labels, GroundTruthSpec):
        out["ground_truth_error"] = [at[e]["ground_truth_error"] for e in stops]
        out["ground_truth_error_se"] = [math.sqrt(p * (1 - p) / n) for p in out["ground_truth_error"]]
    curve = [(int(row["epoch"]), row["loss"]) for row in rows if "loss" in row]
    out["loss_epochs"] = [e for e, _ in curve]
    out["loss_curve"] = [v for _, v in curve]
    for key in ("device", "train_time_s", "samples_per_second", "resumed_from"):
        out[key] = done[key]
    return out
