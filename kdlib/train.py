"""One training loop for every model of the reproduction: linearized students, teachers, ResNets.

The paper trains all its networks with Adam (Sec. S4): the linearized students on a fixed sample
set (Eq. 2's loss), the Eq. 1 teachers on *online batches* — fresh inputs x ~ N(0, 5²I) at every
step, for up to 32,768 epochs, early-stopped teachers taken at chosen epochs (Fig. 4, Fig. 5) —
and the CIFAR-10 ResNets of Sec. S2 on a fixed data set in shuffled, augmented mini-batches.
:func:`fit` runs all three.

Definitions used throughout:

* A **step** is one optimizer step on one batch (then one scheduler step, if any).
* An **epoch** of a fixed data set (:class:`TensorBatches`) is one pass over it in
  ``steps_per_epoch`` mini-batches, in a fresh random order drawn from the run's generator.
  An epoch of an online sampler (:class:`OnlineBatches`) is ``steps_per_epoch`` steps, each on
  ``batch_size`` fresh samples (default 1 step: the paper's "samples are regenerated after each
  epoch" with an epoch of one batch). Epoch e ends after step e × ``steps_per_epoch``; epoch 0
  is the state before training.
* A run is **resumable**: with ``checkpoint_dir`` it writes state dicts (model, optimizer,
  scheduler, epoch, step, every random-number state, history) atomically at chosen epochs and at
  the end, and a later call with the same arguments continues from the newest one. On CPU the
  resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from tqdm import tqdm

__all__ = [
    "BatchSource",
    "FitResult",
    "FitState",
    "History",
    "OnlineBatches",
    "TensorBatches",
    "TrainingDiverged",
    "checkpoint_path",
    "fit",
    "latest_checkpoint",
    "load_checkpoint",
    "record_metrics",
]

Batch = Any  # a tensor, or a tuple/list/dict of tensors: whatever loss_fn and transform expect
Callback = Callable[["FitState"], None]
Schedule = int | Collection[int]  # one epoch (or step) or a collection of them: a set, a range, a list
CHECKPOINT_FORMAT = 1
LAST = "last.pt"
_EPOCH_FILE = re.compile(r"epoch-(\d+)\.pt")
_TEMPORARY_FILE = re.compile(r"\..+\.pt\.\d+\.tmp")


class TrainingDiverged(RuntimeError):
    """The loss or a parameter became NaN or ±inf.

    Attributes:
        step: the optimizer step at which it was found (for the loss: the first step whose loss was
            not finite; for a parameter: the last step of the epoch whose end-of-epoch check found it).
        epoch: the epoch that step belongs to (1-based: step s is in epoch ⌈s / steps_per_epoch⌉).
        quantity: ``"loss"`` or ``"parameter <name>"``.
        value: the offending value (nan, inf or -inf).
    """

    def __init__(self, quantity: str, value: float, *, step: int, epoch: int) -> None:
        self.quantity, self.value, self.step, self.epoch = quantity, value, step, epoch
        super().__init__(f"training diverged: {quantity} is {value} at step {step} (epoch {epoch}); "
                         "lower the learning rate or check the data and the loss")


# ---------------------------------------------------------------------------------------------
# Data: a fixed data set in mini-batches, or an online sampler
# ---------------------------------------------------------------------------------------------


@runtime_checkable
class BatchSource(Protocol):
    """What :func:`fit` needs from its data: a fixed number of steps per epoch and the epoch's batches.

    ``batches(generator)`` yields ``(batch, count)`` pairs, ``count`` being the samples in the batch;
    all its randomness must come from ``generator`` (a ``torch.Generator``, or None for torch's global
    one) so that runs repeat and resume exactly. It must yield ``steps_per_epoch`` pairs.
    """

    steps_per_epoch: int

    def batches(self, generator: torch.Generator | None) -> Iterator[tuple[Batch, int]]: ...


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        allowed = f"an integer ≥ {low}" if high is None else f"an integer in [{low}, {high}]"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


class TensorBatches:
    """A fixed data set of tensors, visited once per epoch in mini-batches (the students, the ResNets).

    Args:
        *tensors: tensors with the same length N along dimension 0 (inputs, targets, ...), on any
            one device; a batch is the tuple of their rows ``(t[i] for t in tensors)``.
        batch_size: samples per step, in [1, N]; default N (full batch).
        shuffle: draw a fresh random order each epoch (``torch.randperm`` on the generator's
            device); else visit the samples in order.
        drop_last: drop the last ``N mod batch_size`` samples of each epoch's order, so every
            batch is full (``train_kd``'s choice); else the last batch is smaller.
    Epoch:
        ``steps_per_epoch`` = ⌊N / batch_size⌋ with ``drop_last``, else ⌈N / batch_size⌉.
    """

    def __init__(
        self, *tensors: Tensor, batch_size: int | None = None, shuffle: bool = True, drop_last: bool = False
    ) -> None:
        if not tensors or not all(isinstance(t, Tensor) and t.ndim >= 1 for t in tensors):
            raise ValueError("tensors must be one or more tensors with a sample dimension 0, got "
                             f"{[type(t).__name__ for t in tensors]}")
        count = tensors[0].shape[0]
        if any(t.shape[0] != count for t in tensors) or count == 0:
            raise ValueError(f"tensors must have the same number ≥ 1 of samples along dimension 0, got "
                             f"{[t.shape[0] for t in tensors]}")
        if len({t.device for t in tensors}) > 1:
            raise ValueError(f"tensors must be on one device, got {sorted({str(t.device) for t in tensors})}")
        self.tensors = tensors
        self.count = count
        self.batch_size = count if batch_size is None else _check_int("batch_size", batch_size, 1, count)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.steps_per_epoch = count // self.batch_size if drop_last else -(-count // self.batch_size)

    def batches(self, generator: torch.Generator | None) -> Iterator[tuple[tuple[Tensor, ...], int]]:
        device = self.tensors[0].device
        if self.shuffle:
            where = generator.device if generator is not None else "cpu"
            order = torch.randperm(self.count, generator=generator, device=where).to(device)
        else:
            order = torch.arange(self.count, device=device)
        for step in range(self.steps_per_epoch):
            index = order[step * self.batch_size:(step + 1) * self.batch_size]
            yield tuple(t[index] for t in self.tensors), index.shape[0]


class OnlineBatches:
    """Fresh samples at every step from a sampler (the paper's online-batch teachers, Sec. S4).

    Args:
        sample: ``sample(batch_size, generator) -> batch`` draws ``batch_size`` new samples with
            ``generator`` (e.g. ``x = 5 * torch.randn(n, d, generator=g)`` and its labels); it is
            called once per step, so no two steps share samples, and the run repeats exactly
            when it draws all randomness from ``generator``.
        batch_size: samples per step (≥ 1).
        steps_per_epoch: steps that make one epoch (≥ 1); default 1, so an epoch is one batch.
    """

    def __init__(self, sample: Callable[[int, torch.Generator | None], Batch], batch_size: int,
                 steps_per_epoch: int = 1) -> None:
        if not callable(sample):
            raise ValueError(f"sample must be a callable sample(batch_size, generator) -> batch, got {sample!r}")
        self.sample = sample
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.steps_per_epoch = _check_int("steps_per_epoch", steps_per_epoch, 1)

    def batches(self, generator: torch.Generator | None) -> Iterator[tuple[Batch, int]]:
        for _ in range(self.steps_per_epoch):
            yield self.sample(self.batch_size, generator), self.batch_size


# ---------------------------------------------------------------------------------------------
# History, state and result
# ---------------------------------------------------------------------------------------------


class History:
    """Numbers recorded during training, one row per (epoch, step) at which something was recorded.

    Each row is a dict ``{"epoch": e, "step": s, name: value, ...}``; :func:`fit` records the
    epoch's mean training loss as ``"loss"`` and callbacks add their own names (see
    :func:`record_metrics`). Rows are plain numbers, so a history travels in a checkpoint that
    loads with ``weights_only=True``.
    """

    def __init__(self, rows: Sequence[Mapping[str, float | int]] = ()) -> None:
        self.rows: list[dict[str, float | int]] = [dict(row) for row in rows]

    def record(self, epoch: int, step: int, **values: float | Tensor) -> None:
        """Add ``values`` to the row of (epoch, step), creating it when it is not the last row."""
        numbers = {name: float(value.item() if isinstance(value, Tensor) else value) for name, value in values.items()}
        if self.rows and self.rows[-1]["epoch"] == epoch and self.rows[-1]["step"] == step:
            self.rows[-1].update(numbers)
        else:
            self.rows.append({"epoch": int(epoch), "step": int(step), **numbers})

    def names(self) -> list[str]:
        """Every recorded name, in order of first appearance (``"epoch"`` and ``"step"`` first)."""
        return list(dict.fromkeys(name for row in self.rows for name in row))

    def __getitem__(self, name: str) -> list[float]:
        """The values recorded under ``name``, in order (rows without it are skipped)."""
        if not any(name in row for row in self.rows):
            raise KeyError(f"nothing was recorded as {name!r}; recorded: {self.names()}")
        return [row[name] for row in self.rows if name in row]

    def epochs(self, name: str) -> list[int]:
        """The epochs at which ``name`` was recorded (aligned with ``history[name]``)."""
        return [int(row["epoch"]) for row in self.rows if name in row]

    def steps(self, name: str) -> list[int]:
        """The steps at which ``name`` was recorded (aligned with ``history[name]``)."""
        return [int(row["step"]) for row in self.rows if name in row]

    def state_dict(self) -> list[dict[str, float | int]]:
        return [dict(row) for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self.rows == other.rows

    def __repr__(self) -> str:
        return f"History({len(self.rows)} rows: {', '.join(self.names())})"


@dataclass
class FitState:
    """What a callback sees: the objects being trained and where the run stands.

    ``epoch`` counts completed epochs (an epoch is complete after its last step, so a step
    callback at that step sees it counted) and ``step`` optimizer steps; ``loss`` is the epoch's mean
    training loss for epoch callbacks (None at epoch 0) and the last batch's loss for step
    callbacks. ``samples`` counts training samples over the whole run (resumed parts included).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    generator: torch.Generator | None
    history: History
    epoch: int = 0
    step: int = 0
    samples: int = 0
    loss: float | None = None


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        history: the run's :class:`History` (including what a resumed-from checkpoint had).
        epoch, step: completed epochs and optimizer steps at the end.
        samples: training samples processed by this call (not by the run it resumed).
        wall_time: seconds this call took, callbacks and checkpoints included.
        train_time: seconds spent in training steps (callbacks and checkpoints excluded).
        samples_per_second: ``samples / train_time`` (0 when nothing was trained).
        resumed_from: the epoch of the checkpoint this call resumed from, or None for a fresh run.
    """

    history: History
    epoch: int
    step: int
    samples: int
    wall_time: float
    train_time: float
    samples_per_second: float
    resumed_from: int | None = None


def record_metrics(**metrics: Callable[[nn.Module], float | Tensor]) -> Callback:
    """A callback recording ``name=metric(model)`` for each metric in the run's history.

    The metrics are evaluated in eval mode (batch norm uses its running statistics, dropout is
    off) under ``torch.no_grad()``; the model's mode is restored afterwards. Use it as
    ``callbacks=[(range(0, 101, 10), record_metrics(test_error=error_on_test_set))]``.
    """
    for name, metric in metrics.items():
        if not callable(metric):
            raise ValueError(f"metric {name!r} must be a callable metric(model) -> number, got {metric!r}")

    def callback(state: FitState) -> None:
        training = state.model.training
        state.model.eval()
        try:
            with torch.no_grad():
                values = {name: metric(state.model) for name, metric in metrics.items()}
        finally:
            state.model.train(training)
        state.history.record(state.epoch, state.step, **values)

    return callback


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


def checkpoint_path(directory: str | os.PathLike[str], epoch: int | None = None) -> Path:
    """``directory/epoch-{epoch}.pt`` (a kept epoch), or ``directory/last.pt`` for ``epoch=None``."""
    return Path(directory) / (LAST if epoch is None else f"epoch-{_check_int('epoch', epoch, 0)}.pt")


def latest_checkpoint(directory: str | os.PathLike[str]) -> Path | None:
    """The checkpoint a run in ``directory`` resumes from: the one furthest along, or None.

    That is ``last.pt``, unless a kill fell between writing a kept ``epoch-{e}.pt`` and the
    ``last.pt`` of the same epoch (the epoch file is written first); then it is that epoch file.
    """
    found = _newest_checkpoint(Path(directory))
    return None if found is None else found[0]


def _read_checkpoint(path: Path) -> dict[str, Any]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a checkpoint written by kdlib.train.fit (format {CHECKPOINT_FORMAT}); "
                         "use a fresh checkpoint_dir")
    return checkpoint


def _newest_checkpoint(directory: Path) -> tuple[Path, dict[str, Any]] | None:
    kept = sorted((int(match[1]), path) for path in directory.glob("epoch-*.pt")
                  if (match := _EPOCH_FILE.fullmatch(path.name)))
    last = directory / LAST
    if last.is_file():
        checkpoint = _read_checkpoint(last)
        if not kept or kept[-1][0] * checkpoint["steps_per_epoch"] <= checkpoint["step"]:
            return last, checkpoint
    return (kept[-1][1], _read_checkpoint(kept[-1][1])) if kept else None


def _save_atomically(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary name in the same folder, flushed to disk, then os.replace: a reader
    (or a resumed run after a kill) sees the old file or the new one, never a torn one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    *,
    map_location: torch.device | str | None = None,
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`fit` into ``model`` (and optionally the optimizer, scheduler).

    The file is read with ``torch.load(..., weights_only=True)``: it holds only tensors, numbers,
    strings and containers of them, never code. Typical use, the teacher stopped at epoch 511::

        load_checkpoint(checkpoint_path(task_dir, 511), teacher)

    Args:
        path: a checkpoint file (see :func:`checkpoint_path`).
        model: receives the ``"model"`` state dict (strictly: names and shapes must match).
        optimizer, scheduler: receive their state dicts when given.
        map_location: where tensors are loaded; default the device of ``model``.
    Returns:
        The whole checkpoint: ``epoch``, ``step``, ``samples``, ``history`` (rows), ``rng``, ...
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    location = _model_device(model) if map_location is None else map_location
    checkpoint = torch.load(path, map_location=location, weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a checkpoint written by kdlib.train.fit (format {CHECKPOINT_FORMAT})")
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        if checkpoint["scheduler"] is None:
            raise ValueError(f"{path} holds no scheduler state (the run had no scheduler)")
        scheduler.load_state_dict(checkpoint["scheduler"])
    return checkpoint


def _rng_states(generator: torch.Generator | None) -> dict[str, Any]:
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if generator is not None:
        states["generator"] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: Mapping[str, Any], generator: torch.Generator | None) -> None:
    if (generator is None) != ("generator" not in states):
        raise ValueError(f"the checkpoint was written by a run with generator="
                         f"{'None' if 'generator' not in states else 'a torch.Generator'}; resume it the same way")
    torch.set_rng_state(states["torch"])
    if generator is not None:
        generator.set_state(states["generator"])
    cuda = states.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


def _schedule(name: str, value: Schedule, high: int, unit: str) -> frozenset[int]:
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(items, str | bytes) or not isinstance(items, Collection):
        raise ValueError(f"{name} must be an integer or a collection of integers ({unit}s), got {value!r}")
    for item in items:
        if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item <= high:
            raise ValueError(f"{name} must be {unit}s in [0, {high}], got {item!r}")
    return frozenset(items)


def _callbacks(name: str, value: Any, high: int, unit: str) -> list[tuple[frozenset[int], Callback]]:
    pairs = list(value.items()) if isinstance(value, Mapping) else value
    try:
        pairs = [(when, callback) for when, callback in pairs]
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must map {unit}s to callbacks: a dict {{{unit}s: fn}} or a list of "
                         f"({unit}s, fn) pairs, got {value!r}") from error
    result = []
    for when, callback in pairs:
        if not callable(callback):
            raise ValueError(f"{name} must pair {unit}s with a callable fn(state), got {callback!r}")
        result.append((_schedule(name, when, high, unit), callback))
    return result


def _to_device(batch: Batch, device: torch.device) -> Batch:
    if isinstance(batch, Tensor):
        return batch if batch.device == device else batch.to(device, non_blocking=True)
    if isinstance(batch, tuple | list):
        return type(batch)(_to_device(item, device) for item in batch)
    if isinstance(batch, Mapping):
        return {key: _to_device(item, device) for key, item in batch.items()}
    return batch


def fit(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Batch], Tensor],
    optimizer: torch.optim.Optimizer,
    data: BatchSource,
    *,
    epochs: int,
    max_steps: int | None = None,
    scheduler: Any = None,
    transform: Callable[[Batch, torch.Generator | None], Batch] | None = None,
    generator: torch.Generator | None = None,
    callbacks: Mapping[Schedule, Callback] | Sequence[tuple[Schedule, Callback]] = (),
    step_callbacks: Mapping[Schedule, Callback] | Sequence[tuple[Schedule, Callback]] = (),
    loss_epochs: Schedule | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_epochs: Schedule = (),
    keep_epochs: Schedule = (),
    progress: bool = False,
    desc: str = "fit",
) -> FitResult:
    """Train ``model`` for ``epochs`` epochs of ``data``; record, call back, checkpoint and resume.

    Every step: the batch is moved to the model's device, passed through ``transform`` (data
    augmentation), ``loss = loss_fn(model, batch)`` is back-propagated, ``optimizer.step()`` and
    ``scheduler.step()`` run. The loop serves the paper's three kinds of training (Sec. S4): the
    linearized students (Eq. 2 on a fixed set, :class:`TensorBatches`), the Eq. 1 teachers on
    online batches (:class:`OnlineBatches`) with checkpoints at their stopping epochs, and ResNets
    (:class:`TensorBatches` with a random-crop/flip ``transform``).

    Order of events at the end of epoch e: divergence checks; the epoch's mean loss is recorded
    in the history (if e is in ``loss_epochs``); the callbacks scheduled at e run; the checkpoint
    of e is written. Epoch 0 (before training) has callbacks and may have a checkpoint too.

    Divergence: every step's loss is tested for NaN/±inf. It is copied into a per-epoch buffer on
    its device (no host synchronisation per step), read back in one copy at the end of every
    epoch and before every step callback, and :class:`TrainingDiverged` names the first
    non-finite step. Every parameter is tested at the end of every epoch (and of a last, partial
    epoch), one fused reduction per device. Nothing is checkpointed after a divergence.

    Checkpoints and resume: with ``checkpoint_dir``, ``last.pt`` is (over)written at every epoch
    of ``checkpoint_epochs`` and ``keep_epochs`` and at the end; each epoch of ``keep_epochs`` also
    keeps its own ``epoch-{e}.pt``. A checkpoint is ``{"format", "model", "optimizer", "scheduler",
    "epoch", "step", "samples", "steps_per_epoch", "rng": {"torch", "generator", "cuda"}, "history"}``,
    written with ``torch.save`` to a temporary name and ``os.replace``d (atomic). When ``fit``
    starts and the folder holds a checkpoint (:func:`latest_checkpoint`), it loads it with
    ``weights_only=True`` into the given model, optimizer, scheduler, generator and torch's global
    (and CUDA) random-number generators and continues; callbacks of epochs already done do not
    rerun. Build the model, optimizer and scheduler exactly as for the original call: on CPU the
    resumed run is then bit-identical to an uninterrupted one. A finished run returns at once.

    Args:
        model: any module (trained in place, in train mode; its parameters' device is where
            batches go).
        loss_fn: ``loss_fn(model, batch) -> scalar tensor``, e.g.
            ``lambda model, batch: nn.functional.cross_entropy(model(batch[0]), batch[1])``.
        optimizer: any optimizer over the model's parameters.
        data: :class:`TensorBatches`, :class:`OnlineBatches` or another :class:`BatchSource`.
        epochs: epochs to train (≥ 0); ``epochs`` × ``data.steps_per_epoch`` steps.
        max_steps: stop after this many steps in all, possibly inside the last epoch (a partial
            epoch records no loss, runs no epoch callbacks; its end is checkpointed). Default: all.
        scheduler: a learning-rate scheduler, stepped (``scheduler.step()``) after every optimizer
            step; its ``state_dict`` is checkpointed.
        transform: ``transform(batch, generator) -> batch`` applied to every batch (augmentation);
            drawing its randomness from ``generator`` keeps runs repeatable and resumable.
        generator: the ``torch.Generator`` for shuffling, online samples and ``transform``;
            None uses torch's global generator (whose state is checkpointed as well).
        callbacks: ``{epochs: fn}`` or ``[(epochs, fn), ...]``: ``fn(state)`` (a :class:`FitState`)
            runs at the end of each listed epoch, in the given order; epochs are an int or a
            collection (a set, a ``range``) in [0, last epoch].
        step_callbacks: the same keyed by steps in [0, last step]: ``fn(state)`` runs right after
            the listed optimizer steps (step 0: before training).
        loss_epochs: epochs at which the epoch's mean training loss (weighted by batch sizes) is
            recorded as ``"loss"``; default every epoch.
        checkpoint_dir: a folder owned by the caller (created if missing) for the checkpoints.
        checkpoint_epochs: epochs at which ``last.pt`` is written (resume points).
        keep_epochs: epochs whose checkpoint is also kept as ``epoch-{e}.pt`` (e.g. a teacher's
            stopping epochs); see :func:`load_checkpoint`.
        progress: show a tqdm bar over steps with the loss and samples per second (the caller decides).
        desc: the bar's label.
    Returns:
        :class:`FitResult` with the history, the final epoch and step, wall time and throughput.
    Raises:
        ValueError: an argument out of range (the message names it, its value and what is
            allowed), a loss that is not a scalar tensor, or a checkpoint that does not match.
        TrainingDiverged: the loss or a parameter became NaN or ±inf.
    """
    start_time = time.perf_counter()
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    parameters = list(model.named_parameters())
    if not parameters:
        raise ValueError("model has no parameters to train")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be a callable loss_fn(model, batch) -> scalar tensor, got {loss_fn!r}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not isinstance(data, BatchSource):
        raise ValueError(f"data must be TensorBatches, OnlineBatches or another BatchSource (with steps_per_epoch "
                         f"and batches(generator)), got {type(data).__name__}")
    steps_per_epoch = _check_int("data.steps_per_epoch", data.steps_per_epoch, 1)
    epochs = _check_int("epochs", epochs, 0)
    total_steps = epochs * steps_per_epoch if max_steps is None else _check_int("max_steps", max_steps, 0,
                                                                               epochs * steps_per_epoch)
    last_epoch = total_steps // steps_per_epoch  # the last epoch that completes
    if scheduler is not None and not (callable(getattr(scheduler, "step", None))
                                      and callable(getattr(scheduler, "state_dict", None))):
        raise ValueError(f"scheduler must have step() and state_dict() (a torch LR scheduler), got {scheduler!r}")
    if transform is not None and not callable(transform):
        raise ValueError(f"transform must be None or a callable transform(batch, generator) -> batch, "
                         f"got {transform!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    epoch_callbacks = _callbacks("callbacks", callbacks, last_epoch, "epoch")
    after_steps = _callbacks("step_callbacks", step_callbacks, total_steps, "step")
    callback_steps = frozenset().union(*(when for when, _ in after_steps))
    loss_at = frozenset(range(1, last_epoch + 1)) if loss_epochs is None else _schedule("loss_epochs", loss_epochs,
                                                                                          last_epoch, "epoch")
    save_at = _schedule("checkpoint_epochs", checkpoint_epochs, last_epoch, "epoch")
    keep_at = _schedule("keep_epochs", keep_epochs, last_epoch, "epoch")
    if checkpoint_dir is None and (save_at or keep_at):
        raise ValueError("checkpoint_epochs and keep_epochs need a checkpoint_dir, got checkpoint_dir=None")
    if not isinstance(progress, bool):
        raise ValueError(f"progress must be True or False, got {progress!r}")

    device = _model_device(model)
    state = FitState(model=model, optimizer=optimizer, scheduler=scheduler, generator=generator, history=History())
    directory = None if checkpoint_dir is None else Path(checkpoint_dir)
    resumed_from = None
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.iterdir():  # left by a run killed while writing
            if _TEMPORARY_FILE.fullmatch(stale.name):
                stale.unlink(missing_ok=True)
        found = _newest_checkpoint(directory)
        if found is not None:
            resumed_from = _resume(*found, state, steps_per_epoch, epochs, total_steps)

    def checkpoint() -> None:
        assert directory is not None
        content = {
            "format": CHECKPOINT_FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(), "epoch": state.epoch,
            "step": state.step, "samples": state.samples, "steps_per_epoch": steps_per_epoch,
            "rng": _rng_states(generator), "history": state.history.state_dict(),
        }
        if state.epoch in keep_at and state.step == state.epoch * steps_per_epoch:
            _save_atomically(content, checkpoint_path(directory, state.epoch))
        _save_atomically(content, directory / LAST)  # second: see latest_checkpoint

    def run_callbacks(schedule: list[tuple[frozenset[int], Callback]], moment: int) -> float:
        began = time.perf_counter()
        for when, callback in schedule:
            if moment in when:
                callback(state)
        return time.perf_counter() - began

    pause = 0.0  # seconds spent in callbacks and checkpoints, excluded from the training time
    samples = 0
    if resumed_from is None:
        pause += run_callbacks(after_steps, 0)
        pause += run_callbacks(epoch_callbacks, 0)
        if directory is not None and (0 in save_at or 0 in keep_at or total_steps == 0):
            began = time.perf_counter()
            checkpoint()
            pause += time.perf_counter() - began

    with tqdm(total=total_steps, initial=state.step, desc=desc, disable=not progress, leave=False,
              unit="step") as bar:
        train_began = time.perf_counter()
        losses: Tensor | None = None  # every step's loss, on the loss's device, read at the epoch's end
        while state.step < total_steps:
            model.train()
            counts: list[int] = []
            first_step = state.step + 1
            for batch, count in data.batches(generator):
                if len(counts) == steps_per_epoch:
                    raise ValueError(f"data.batches(generator) yielded more than data.steps_per_epoch = "
                                     f"{steps_per_epoch} batches in epoch {state.epoch}")
                batch = _to_device(batch, device)
                if transform is not None:
                    batch = transform(batch, generator)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model, batch)
                if not isinstance(loss, Tensor) or loss.ndim != 0:
                    raise ValueError(f"loss_fn must return a scalar tensor, got {type(loss).__name__} of shape "
                                     f"{tuple(getattr(loss, 'shape', ()))}")
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                if losses is None:
                    buffer_dtype = torch.float32 if loss.device.type == "mps" else torch.float64
                    losses = torch.empty(steps_per_epoch, dtype=buffer_dtype, device=loss.device)
                losses[len(counts)].copy_(loss.detach())
                counts.append(count)
                state.step += 1
                state.samples += count
                samples += count
                if len(counts) == steps_per_epoch:
                    state.epoch += 1  # complete: step callbacks of its last step see it counted
                bar.update(1)
                if state.step in callback_steps:
                    began = time.perf_counter()
                    state.loss = _check_losses(losses[:len(counts)].tolist(), first_step, steps_per_epoch)[-1]
                    pause += time.perf_counter() - began + run_callbacks(after_steps, state.step)
                    model.train()
                if state.step == total_steps:
                    break
            if len(counts) < steps_per_epoch and state.step < total_steps:
                raise ValueError(f"data.batches(generator) yielded {len(counts)} batches in epoch {state.epoch + 1}; "
                                 f"it must yield data.steps_per_epoch = {steps_per_epoch}")
            assert losses is not None
            # the epoch's end (or the run's, inside a partial last epoch): one synchronisation
            values = _check_losses(losses[:len(counts)].tolist(), first_step, steps_per_epoch)
            _check_parameters(parameters, state.step, steps_per_epoch)
            state.loss = math.fsum(value * count for value, count in zip(values, counts, strict=True)) / sum(counts)
            began = time.perf_counter()
            if progress:
                elapsed = began - train_began - pause
                bar.set_postfix(loss=f"{state.loss:.4g}", samples_per_s=f"{samples / max(elapsed, 1e-9):.4g}",
                                refresh=False)
            if len(counts) == steps_per_epoch:
                if state.epoch in loss_at:
                    state.history.record(state.epoch, state.step, loss=state.loss)
                run_callbacks(epoch_callbacks, state.epoch)
                if directory is not None and (state.epoch in save_at or state.epoch in keep_at
                                              or state.step == total_steps):
                    checkpoint()
            elif directory is not None:  # max_steps stopped the run inside an epoch
                checkpoint()
            pause += time.perf_counter() - began
        train_time = max(time.perf_counter() - train_began - pause, 0.0)

    return FitResult(history=state.history, epoch=state.epoch, step=state.step, samples=samples,
                     wall_time=time.perf_counter() - start_time, train_time=train_time,
                     samples_per_second=samples / train_time if samples and train_time > 0 else 0.0,
                     resumed_from=resumed_from)


def _check_losses(values: list[float], first_step: int, steps_per_epoch: int) -> list[float]:
    """Raise at the first non-finite loss of an epoch read back to the host (one copy for the epoch)."""
    for index, value in enumerate(values):
        if not math.isfinite(value):
            step = first_step + index
            raise TrainingDiverged("loss", value, step=step, epoch=-(-step // steps_per_epoch))
    return values


def _check_parameters(parameters: list[tuple[str, nn.Parameter]], step: int, steps_per_epoch: int) -> None:
    """Raise at the first parameter with a NaN or ±inf entry.

    Screened by one fused ``torch._foreach_norm(·, 1)`` per device (Σ|w| is NaN or inf whenever an
    entry is; NaN and inf propagate through sums on every device) and one host read; a tensor
    the screen flags is confirmed entry by entry, so a finite Σ|w| that overflows raises nothing.
    """
    by_device: dict[torch.device, list[int]] = {}
    for index, (_, parameter) in enumerate(parameters):
        by_device.setdefault(parameter.device, []).append(index)
    for indices in by_device.values():
        sums = torch._foreach_norm([parameters[i][1].detach() for i in indices], 1)
        flags = torch.stack(sums).isfinite().tolist()
        for index, finite in zip(indices, flags, strict=True):
            name, parameter = parameters[index]
            entries = parameter.detach()
            if not finite and not bool(torch.isfinite(entries).all()):
                value = entries[~torch.isfinite(entries)].flatten()[0].item()
                raise TrainingDiverged(f"parameter {name!r}", value, step=step, epoch=-(-step // steps_per_epoch))


def _resume(path: Path, checkpoint: dict[str, Any], state: FitState, steps_per_epoch: int, epochs: int,
            total_steps: int) -> int:
    """Load ``checkpoint`` (read from ``path``) into ``state``'s objects; return its epoch."""
    if checkpoint["steps_per_epoch"] != steps_per_epoch:
        raise ValueError(f"{path} was written with {checkpoint['steps_per_epoch']} steps per epoch, the data now "
                         f"gives {steps_per_epoch}; resume with the same data settings or use a fresh checkpoint_dir")
    epoch, step = int(checkpoint["epoch"]), int(checkpoint["step"])
    if step > total_steps:
        raise ValueError(f"{path} is at step {step} (epoch {epoch}), past this run's end at step {total_steps} "
                         f"(epochs={epochs}); ask for at least as many epochs/steps or use a fresh checkpoint_dir")
    if step != epoch * steps_per_epoch and step != total_steps:
        raise ValueError(f"{path} was written inside epoch {epoch + 1} (step {step}, by max_steps); it cannot "
                         f"continue to step {total_steps}; use the same max_steps or a fresh checkpoint_dir")
    if (checkpoint["scheduler"] is None) != (state.scheduler is None):
        raise ValueError(f"{path} was written {'without' if checkpoint['scheduler'] is None else 'with'} a "
                         "scheduler; resume with the same scheduler setting")
    state.model.load_state_dict(checkpoint["model"])
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    if state.scheduler is not None:
        state.scheduler.load_state_dict(checkpoint["scheduler"])
    _set_rng_states(checkpoint["rng"], state.generator)
    state.history = History(checkpoint["history"])
    state.epoch, state.step, state.samples = epoch, step, int(checkpoint["samples"])
    return epoch
