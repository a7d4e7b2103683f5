"""Teachers and students of the practical experiment (Fig. 5 left, Fig. S1, Sec. S2): ResNets distilled on images.

The paper's last experiment distils a ResNet-50 teacher (6.97 % test error) into ResNet-18 students
on CIFAR-10 (10.48 % from scratch) and plots the students' test error against the soft ratio ρ
(Fig. 5 left) and against their sample size n (Fig. S1, five runs per point). It states neither
the schedule nor the temperature. This module trains both kinds of network with one recipe,
:class:`Schedule`, on :func:`kdlib.train.fit`:

* :func:`train_teacher` — hard labels (cross-entropy) on the whole training set; returns the
  weights as plain tensors, so a teacher is an ordinary cached result and students are keyed by
  the teacher's actual weights.
* :func:`train_student` — Hinton's loss :func:`kdlib.losses.multiclass_kd_loss` (T² convention)
  at soft ratio ρ on the first n images of a seeded, nested, class-stratified order of the training
  set (:func:`stratified_order`); ρ = 0 is the from-scratch baseline and needs no teacher.

Both are *sweep tasks*: keyword arguments of plain data (numbers, strings, dicts, tensors), a plain
result, and a ``checkpoint_dir`` in which :func:`kdlib.train.fit` checkpoints, so a killed run
resumes where it stopped. A data set is named by a small :func:`dataset_spec` mapping rather than
passed as tensors: CIFAR-10 by the SHA-256 of its six files (so a result is keyed by the bytes, not
by where they lie; the folder comes from ``$KDLIB_CIFAR10``), the digits by their split.

**One seed, common random numbers.** A student's ``seed`` fixes its subset, initial weights, batch
order and augmentation. Students that differ only in ρ therefore share all of them, and differences
between soft ratios are paired comparisons, far less noisy than independent runs; students that
differ only in n see nested subsets.

**On a GPU** (see :class:`Speed`): data live on the device whole (CIFAR-10 is 184 MB as uint8),
augmentation (:func:`kdlib.images.random_crop_flip`) and normalisation run there in the batch, the
forward passes run under bfloat16 autocast in channels-last layout, the loss in float32, no step
reads a value back to the host (the loss's label check is done once, on the data), and
``torch.compile`` is optional. The teacher runs online on each augmented batch, in eval mode.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as nnf
from torch import Tensor, nn

from kdlib._device import resolve_device, worker_device
from kdlib.images import (
    CIFAR10_ENV,
    ImageDataset,
    channel_stats,
    load_cifar10,
    load_digits,
    normalize,
    random_crop_flip,
)
from kdlib.losses import multiclass_kd_loss
from kdlib.resnet import ResNet, resnet
from kdlib.train import LAST, TensorBatches, fit

__all__ = [
    "DATA_SOURCES",
    "Schedule",
    "Speed",
    "dataset_spec",
    "load_dataset",
    "stratified_order",
    "training_length",
    "train_teacher",
    "train_student",
    "error_rate_of",
    "time_kd_step",
]

DATA_SOURCES = ("digits", "cifar10")
CIFAR_PADDING = 4  # He et al. (2016), Sec. 4.2: pad 4, random 32×32 crop, horizontal flip
_EVAL_BATCH = 1000


# ---------------------------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """The training recipe shared by teacher and students: SGD with Nesterov momentum and a one-cycle rate.

    The learning rate follows ``torch.optim.lr_scheduler.OneCycleLR`` (Smith & Topin, 2019): it rises
    from ``lr``/25 to ``lr`` over the first ``warmup`` fraction of the steps, then falls to ``lr``/25·10⁻⁴
    along a cosine. The momentum stays at ``momentum`` (that class's momentum cycling is off, so the
    stated momentum is the one used). No label smoothing, mixup or other regulariser beyond weight
    decay (on every parameter).

    Attributes:
        epochs: passes over the training data (of the student's n samples, for a student).
        min_steps: at least this many optimizer steps: a small subset gets more epochs (see
            :func:`training_length`), so students of small n are not left undertrained.
        batch_size: samples per step (a subset smaller than this is one full batch); the last
            incomplete batch of each epoch's shuffled order is dropped, so every step has one shape.
        lr: the peak learning rate.
        momentum: Nesterov momentum, constant.
        weight_decay: L2 penalty coefficient of SGD.
        warmup: fraction of the steps spent rising to the peak rate.
    """

    epochs: int = 30
    min_steps: int = 0
    batch_size: int = 512
    lr: float = 0.4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup: float = 0.25

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("min_steps", 0), ("batch_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"schedule {name} must be an integer ≥ {low}, got {value!r}")
        for name, allowed, ok in (("lr", "> 0", lambda v: v > 0), ("momentum", "in [0, 1)", lambda v: 0 <= v < 1),
                                  ("weight_decay", "≥ 0", lambda v: v >= 0), ("warmup", "in (0, 1)",
                                                                             lambda v: 0 < v < 1)):
            value = getattr(self, name)
            number = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
            if not number or not ok(value):
                raise ValueError(f"schedule {name} must be a number {allowed}, got {value!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | Schedule) -> Schedule:
        """A schedule from a plain mapping (a sweep task's argument); unknown names are an error."""
        if isinstance(values, Schedule):
            return values
        if not isinstance(values, Mapping):
            raise ValueError(f"schedule must be a mapping of {[f.name for f in fields(cls)]}, got {values!r}")
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"schedule has no setting(s) {unknown}; known: {[f.name for f in fields(cls)]}")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_length(n: int, schedule: Schedule | Mapping[str, Any]) -> tuple[int, int, int]:
    """(batch size, steps per epoch, epochs) for n training samples under ``schedule``.

    The batch is min(batch_size, n); an epoch is ⌊n / batch⌋ steps (the last incomplete batch of the
    shuffled order is dropped); the epochs are ``schedule.epochs``, raised to ⌈min_steps / steps per
    epoch⌉ when that is more. Optimizer steps = steps per epoch × epochs; images processed = steps × batch.
    """
    schedule = Schedule.from_mapping(schedule)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer ≥ 1, got {n!r}")
    batch = min(schedule.batch_size, n)
    steps_per_epoch = n // batch
    epochs = max(schedule.epochs, -(-schedule.min_steps // steps_per_epoch))
    return batch, steps_per_epoch, epochs


@dataclass(frozen=True)
class Speed:
    """How the forward passes run: bfloat16 autocast, channels-last layout, ``torch.compile``.

    :meth:`for_device` picks all three for CUDA (compile only when asked) and none for the CPU, where
    bfloat16 convolutions are slow without AMX and compilation takes longer than the small runs.
    """

    bf16: bool = False
    channels_last: bool = False
    compile: bool = False

    @classmethod
    def for_device(cls, device: torch.device, compile: bool = False) -> Speed:
        cuda = device.type == "cuda"
        return cls(bf16=cuda, channels_last=cuda, compile=compile and cuda)

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        return torch.autocast(device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()

    def layout(self, images: Tensor) -> Tensor:
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def dataset_spec(
    source: str,
    *,
    folder: str | os.PathLike[str] | None = None,
    test_fraction: float = 0.25,
    split_seed: int = 0,
    records_per_file: int | None = None,
) -> tuple[dict[str, Any], ImageDataset]:
    """Load and check a data set once; return its spec (the plain mapping sweep tasks take) and the data.

    * ``"digits"``: scikit-learn's 8×8 digits, split by :func:`kdlib.images.load_digits` with
      ``test_fraction`` and ``split_seed``; spec ``{"source", "test_fraction", "split_seed"}``.
    * ``"cifar10"``: the binary CIFAR-10 in ``folder`` (else ``$KDLIB_CIFAR10``), read and checked by
      :func:`kdlib.images.load_cifar10`; spec ``{"source", "sha256"}`` with every file's digest, so
      tasks are keyed by the data's bytes. A task reads the files from ``$KDLIB_CIFAR10`` (set it where
      tasks run, e.g. on the workers of a cluster) and refuses files with other digests.

    The loaded data set is remembered in this process under its spec, so tasks run here do not read it again.

    Raises:
        ValueError: unknown source; FileNotFoundError: CIFAR-10 is missing (the message says how to get it).
    """
    if source == "digits":
        spec: dict[str, Any] = {"source": "digits", "test_fraction": float(test_fraction),
                                "split_seed": int(split_seed)}
        return spec, load_dataset(spec)
    if source == "cifar10":
        extra = {} if records_per_file is None else {"records_per_file": int(records_per_file)}
        data = load_cifar10(folder, **extra)
        spec = {"source": "cifar10", "sha256": dict(sorted(data.sha256.items())), **extra}
        _LOADED[_spec_key(spec)] = data
        return spec, data
    raise ValueError(f"source must be one of {DATA_SOURCES}, got {source!r}")


_LOADED: dict[str, ImageDataset] = {}


def _spec_key(spec: Mapping[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True)


def load_dataset(spec: Mapping[str, Any]) -> ImageDataset:
    """The data set a :func:`dataset_spec` names (on the CPU), loaded once per process.

    Raises:
        ValueError: a malformed spec, or CIFAR-10 files whose digests differ from the spec's.
        FileNotFoundError: CIFAR-10 is not where ``$KDLIB_CIFAR10`` says.
    """
    if not isinstance(spec, Mapping) or spec.get("source") not in DATA_SOURCES:
        raise ValueError(f"data must be a spec from dataset_spec with source in {DATA_SOURCES}, got {spec!r}")
    key = _spec_key(spec)
    if key in _LOADED:
        return _LOADED[key]
    if spec["source"] == "digits":
        unknown = set(spec) - {"source", "test_fraction", "split_seed"}
        if unknown:
            raise ValueError(f"a digits spec has source, test_fraction and split_seed, got also {sorted(unknown)}")
        data = load_digits(test_fraction=spec.get("test_fraction", 0.25), seed=spec.get("split_seed", 0))
    else:
        unknown = set(spec) - {"source", "sha256", "records_per_file"}
        if unknown or not isinstance(spec.get("sha256"), Mapping):
            raise ValueError(f"a cifar10 spec has source, sha256 (file → digest) and optionally records_per_file, "
                             f"got {sorted(spec)}")
        extra = {"records_per_file": spec["records_per_file"]} if "records_per_file" in spec else {}
        data = load_cifar10(os.environ.get(CIFAR10_ENV) or None, expected_sha256=spec["sha256"], **extra)
    _LOADED[key] = data
    return data


@dataclass(frozen=True)
class _DeviceData:
    """A data set on one device, ready for training: raw training images (uint8 for CIFAR, augmented and
    normalised per batch), normalised test images, and the normalisation and augmentation to apply."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    mean: Tensor
    std: Tensor
    augment: bool
    num_classes: int

    @property
    def in_channels(self) -> int:
        return self.train_images.shape[1]

    def prepare(self, images: Tensor, generator: torch.Generator | None, *, augment: bool = True) -> Tensor:
        """Augment (CIFAR only: crop with padding 4 and flip) and normalise a batch of training images."""
        if augment and self.augment:
            images = random_crop_flip(images, CIFAR_PADDING, generator)
        return normalize(images, self.mean, self.std)


@functools.lru_cache(maxsize=2)
def _on_device(key: str, device: str) -> _DeviceData:
    data = load_dataset(json.loads(key))
    if data.train_labels.numel() and (int(data.train_labels.min()) < 0
                                      or int(data.train_labels.max()) >= data.num_classes):
        raise ValueError("training labels outside [0, classes − 1]")  # checked once here, not at every step
    mean, std = channel_stats(data.train_images)
    target = torch.device(device)
    test = torch.cat([normalize(data.test_images[i:i + _EVAL_BATCH].to(target), mean.float(), std.float())
                      for i in range(0, len(data.test_images), _EVAL_BATCH)])
    return _DeviceData(
        train_images=data.train_images.to(target), train_labels=data.train_labels.to(target), test_images=test,
        test_labels=data.test_labels.to(target), mean=mean.float().to(target), std=std.float().to(target),
        augment=json.loads(key)["source"] == "cifar10", num_classes=data.num_classes,
    )


def stratified_order(labels: Tensor, seed: int) -> Tensor:
    """A seeded order of the training samples whose every prefix is class-stratified, so subsets of growing n nest.

    Which class comes at each position follows Tijdeman's (1980) solution of the *chairman assignment
    problem*: at step n, among the classes whose deficit n·s_c − count_c is at least δ = 1/(2(C − 1))
    (s_c = N_c/N the class's share, C the number of classes), take the one with the earliest deadline
    (count_c + 1 − δ)/s_c. It guarantees |count_c(n) − n·s_c| ≤ 1 − δ < 1 for every prefix n and
    class c: the first n samples hold each class in proportion to within one sample, which a random
    subset does not (and a separate stratified draw per n would not nest). Within a class the members
    come in a random order drawn from a CPU generator seeded with ``seed``.

    Returns:
        (N,) int64 indices on the CPU, a permutation of 0..N−1.
    """
    if not isinstance(labels, Tensor) or labels.ndim != 1 or labels.dtype.is_floating_point:
        raise ValueError(f"labels must be a 1-D integer tensor, got {getattr(labels, 'shape', labels)!r}")
    labels = labels.cpu()
    generator = torch.Generator().manual_seed(int(seed))
    classes = torch.unique(labels).tolist()
    members = []
    for label in classes:
        found = torch.nonzero(labels == label).flatten()
        members.append(found[torch.randperm(len(found), generator=generator)].tolist())
    sizes = [len(m) for m in members]
    total, count = len(labels), [0] * len(classes)
    delta = 1.0 / (2 * (len(classes) - 1)) if len(classes) > 1 else 0.0
    order = []
    for n in range(1, total + 1):
        best, deadline = -1, math.inf
        for c, size in enumerate(sizes):  # C is small (10): plain Python is fast enough even for N = 50,000
            if count[c] < size and n * size / total - count[c] >= delta:
                due = (count[c] + 1 - delta) * total / size
                if due < deadline:
                    best, deadline = c, due
        if best < 0:  # cannot happen by Tijdeman's theorem; kept so a rounding edge never loses a sample
            best = min((c for c in range(len(sizes)) if count[c] < sizes[c]), key=lambda c: count[c] / sizes[c])
        order.append(members[best][count[best]])
        count[best] += 1
    return torch.tensor(order, dtype=torch.int64)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

# Independent random streams drawn from one seed.
_SUBSET, _INIT, _BATCHES = 0, 1, 2


def _stream(seed: int, which: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(3 * int(seed) + which)


def _check_model_spec(arch: str, width: int) -> None:
    if not isinstance(arch, str):
        raise ValueError(f"arch must be a ResNet name such as 'resnet18', got {arch!r}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be an integer ≥ 1, got {width!r}")


def _build(arch: str, width: int, data: _DeviceData, seed: int | None, device: torch.device, speed: Speed) -> ResNet:
    generator = None if seed is None else _stream(seed, _INIT)
    model = resnet(arch, width=width, in_channels=data.in_channels, num_classes=data.num_classes, generator=generator)
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if speed.channels_last else model


def _forward(model: nn.Module, speed: Speed) -> Any:
    # fixed shapes (drop_last) let one compiled graph serve every step
    return torch.compile(model, dynamic=False) if speed.compile else model


def error_rate_of(model: nn.Module, images: Tensor, labels: Tensor, *, speed: Speed = Speed(),
                  prepare: Any = None, batch_size: int = _EVAL_BATCH) -> float:
    """Error rate of ``model`` on ``images`` (eval mode, no gradients, in batches), as a fraction.

    ``prepare(batch)`` turns a batch of stored images into network inputs (e.g. normalises uint8
    CIFAR images batch by batch, so the normalised set never exists whole); None: use them as given.
    """
    training = model.training
    model.eval()
    wrong = torch.zeros((), dtype=torch.int64, device=labels.device)
    try:
        with torch.no_grad(), speed.autocast(images.device):
            for start in range(0, len(images), batch_size):
                inputs = images[start:start + batch_size]
                logits = model(speed.layout(inputs if prepare is None else prepare(inputs)))
                wrong += (logits.argmax(1) != labels[start:start + batch_size]).sum()
    finally:
        model.train(training)
    return wrong.item() / len(labels)


def _teacher_logits(teacher: nn.Module, images: Tensor, speed: Speed) -> Tensor:
    with torch.no_grad(), speed.autocast(images.device):
        return teacher(speed.layout(images)).float()


def _fit(
    model: ResNet,
    forward: Any,
    data: _DeviceData,
    index: Tensor,
    schedule: Schedule,
    *,
    seed: int,
    rho: float,
    T: float,
    teacher: Any,
    speed: Speed,
    progress: bool,
    desc: str,
    checkpoint_dir: str | os.PathLike[str] | None,
    checkpoints: int,
) -> dict[str, Any]:
    """Train ``model`` on the samples ``index`` of ``data``; the teacher's logits (if any) on each batch."""
    device = data.train_images.device
    batch, steps_per_epoch, epochs = training_length(len(index), schedule)
    images, labels = data.train_images[index.to(device)], data.train_labels[index.to(device)]
    tensors: tuple[Tensor, ...] = (images, labels)
    if teacher is not None and not data.augment:  # fixed inputs: the teacher's logits once, not at every step
        fixed = torch.cat([_teacher_logits(teacher, data.prepare(images[i:i + _EVAL_BATCH], None), speed)
                           for i in range(0, len(images), _EVAL_BATCH)])
        tensors = (*tensors, fixed)
    batches = TensorBatches(*tensors, batch_size=batch, shuffle=True, drop_last=True)

    def transform(batch_: tuple[Tensor, ...], generator: torch.Generator | None) -> tuple[Tensor, ...]:
        x = speed.layout(data.prepare(batch_[0], generator))
        if teacher is None:
            return x, batch_[1]
        z_t = batch_[2] if len(batch_) == 3 else _teacher_logits(teacher, x, speed)
        return x, batch_[1], z_t

    def loss_fn(_: nn.Module, batch_: tuple[Tensor, ...]) -> Tensor:
        with speed.autocast(device):
            logits = forward(batch_[0])
        if teacher is None:
            return nnf.cross_entropy(logits.float(), batch_[1])
        return multiclass_kd_loss(logits, batch_[2], batch_[1], rho=rho, T=T, check_labels=False)

    optimizer = torch.optim.SGD(model.parameters(), lr=schedule.lr, momentum=schedule.momentum, nesterov=True,
                                weight_decay=schedule.weight_decay)
    total = epochs * steps_per_epoch
    # OneCycleLR divides by the rise's length, warmup·total − 1 steps: keep it positive in very short runs
    rise = min(max(schedule.warmup, 1.5 / total), 1 - 0.5 / total)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=schedule.lr, pct_start=rise, total_steps=total,
                                                    cycle_momentum=False)
    every = max(1, epochs // max(checkpoints, 1))
    # the bar goes to the process's own standard error (the terminal that started kdbook, a dask worker's
    # log), not into a notebook's captured output, where a long run would leave thousands of updates
    terminal = sys.__stderr__ if progress and sys.__stderr__ is not None else None
    with contextlib.redirect_stderr(terminal) if terminal is not None else contextlib.nullcontext():
        result = fit(model, loss_fn, optimizer, batches, epochs=epochs, scheduler=scheduler, transform=transform,
                     generator=_stream(seed, _BATCHES, device), checkpoint_dir=checkpoint_dir,
                     checkpoint_epochs=range(every, epochs + 1, every) if checkpoint_dir is not None else (),
                     progress=progress, desc=desc)
    return {
        "test_error": error_rate_of(model, data.test_images, data.test_labels, speed=speed),
        "final_loss": result.history["loss"][-1] if len(result.history) else float("nan"),
        "n": len(index), "batch_size": batch, "epochs": epochs, "steps": result.step,
        "images_per_second": result.samples_per_second, "train_seconds": result.train_time,
        "resumed_from": -1 if result.resumed_from is None else result.resumed_from,
    }


def train_teacher(
    *,
    data: Mapping[str, Any],
    arch: str,
    width: int,
    schedule: Mapping[str, Any],
    seed: int,
    device: str = "auto",
    compile: bool = False,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train a teacher with hard labels (cross-entropy) on the whole training set of ``data``.

    Args:
        data: a :func:`dataset_spec`.
        arch, width: the network (:func:`kdlib.resnet.resnet`; the paper's teacher is "resnet50", width 64).
        schedule: a :class:`Schedule` as a plain mapping.
        seed: fixes initial weights, batch order and augmentation.
        device: "auto", "cpu", "cuda" or "cuda:N" (:func:`kdlib.resolve_device`; "auto" and "cuda" on a
            dask worker mean that worker's own GPU); :class:`Speed` follows it.
        compile: ``torch.compile`` the forward pass (CUDA only; ignored on the CPU).
        progress: a tqdm bar with the loss and images per second, on the process's own standard error.
        checkpoint_dir: where to checkpoint (ten times per run and at the end); rerun to resume.
    Returns:
        ``{"arch", "width", "state_dict" (CPU float tensors), "test_error", "train_error"`` (on the
        un-augmented training images), ``"final_loss", "n", "batch_size", "epochs", "steps",
        "images_per_second", "train_seconds", "resumed_from"}`` (−1: a fresh run).
    """
    _check_model_spec(arch, width)
    schedule_ = Schedule.from_mapping(schedule)
    target = worker_device(device)
    speed = Speed.for_device(target, compile)
    prepared = _on_device(_spec_key(data), str(target))
    if target.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model = _build(arch, width, prepared, seed, target, speed)
    index = torch.arange(len(prepared.train_labels))
    result = _fit(model, _forward(model, speed), prepared, index, schedule_, seed=seed, rho=0.0, T=1.0, teacher=None,
                  speed=speed, progress=progress, desc=f"teacher {arch}×{width}", checkpoint_dir=checkpoint_dir,
                  checkpoints=10)
    result["train_error"] = error_rate_of(model, prepared.train_images, prepared.train_labels, speed=speed,
                                          prepare=lambda images: prepared.prepare(images, None, augment=False))
    state = {name: tensor.detach().to("cpu", memory_format=torch.contiguous_format).clone()
             for name, tensor in model.state_dict().items()}
    return {"arch": arch, "width": width, "state_dict": state, **result}


def train_student(
    *,
    data: Mapping[str, Any],
    arch: str,
    width: int,
    schedule: Mapping[str, Any],
    n: int,
    seed: int,
    rho: float,
    T: float,
    teacher: Mapping[str, Any] | None = None,
    device: str = "auto",
    compile: bool = False,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Distil ``teacher`` into a student trained on n samples at soft ratio ρ and temperature T.

    The loss is :func:`kdlib.losses.multiclass_kd_loss` (Hinton's T² convention; its docstring gives
    the equivalent soft ratio ρ' of the paper's Eq. 2); ρ = 0 is plain cross-entropy, the student
    trained from scratch, and takes no teacher. The samples are the first n of
    :func:`stratified_order` for ``seed``.

    Args:
        data: a :func:`dataset_spec`.
        arch, width: the student network (the paper's: "resnet18", width 64).
        schedule: a :class:`Schedule` as a plain mapping.
        n: training samples, 1 ≤ n ≤ the training set's size.
        seed: fixes the subset, initial weights, batch order and augmentation (shared across ρ).
        rho: soft ratio ρ ∈ [0, 1]; T: temperature > 0.
        teacher: a :func:`train_teacher` result (at least "arch", "width", "state_dict"); None for ρ = 0.
        device, compile, progress: as for :func:`train_teacher`.
        checkpoint_dir: where to checkpoint (five times per run); the checkpoint is deleted once the
            student is trained, as only its numbers are kept.
    Returns:
        ``{"test_error", "final_loss", "n", "batch_size", "epochs", "steps", "images_per_second",
        "train_seconds", "resumed_from", "rho", "T"}``.
    """
    _check_model_spec(arch, width)
    schedule_ = Schedule.from_mapping(schedule)
    if isinstance(rho, bool) or not isinstance(rho, int | float) or not 0.0 <= rho <= 1.0:
        raise ValueError(f"rho must be a soft ratio in [0, 1], got {rho!r}")
    if isinstance(T, bool) or not isinstance(T, int | float) or not 0.0 < T < math.inf:
        raise ValueError(f"T must be a finite temperature > 0, got {T!r}")
    if rho > 0 and teacher is None:
        raise ValueError(f"rho = {rho} > 0 needs a teacher (a train_teacher result); only rho = 0 trains without")
    target = worker_device(device)
    speed = Speed.for_device(target, compile)
    prepared = _on_device(_spec_key(data), str(target))
    total = len(prepared.train_labels)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= total:
        raise ValueError(f"n must be an integer in [1, {total}] (the training set's size), got {n!r}")
    if target.type == "cuda":
        torch.backends.cudnn.benchmark = True
    teacher_forward = None
    if rho > 0:
        assert teacher is not None
        _check_model_spec(teacher["arch"], teacher["width"])
        teacher_model = _build(teacher["arch"], teacher["width"], prepared, None, target, speed)
        teacher_model.load_state_dict(teacher["state_dict"])
        teacher_model.eval().requires_grad_(False)
        teacher_forward = _forward(teacher_model, speed)
    index = stratified_order(prepared.train_labels, 3 * seed + _SUBSET)[:n]
    model = _build(arch, width, prepared, seed, target, speed)
    result = _fit(model, _forward(model, speed), prepared, index, schedule_, seed=seed, rho=float(rho), T=float(T),
                  teacher=teacher_forward, speed=speed, progress=progress,
                  desc=f"student ρ={rho:g} n={n} seed {seed}", checkpoint_dir=checkpoint_dir, checkpoints=5)
    if checkpoint_dir is not None:
        (Path(checkpoint_dir) / LAST).unlink(missing_ok=True)
    return {**result, "rho": float(rho), "T": float(T)}


def time_kd_step(
    arch: str,
    width: int,
    *,
    teacher_arch: str | None = None,
    teacher_width: int = 64,
    batch_size: int = 512,
    image_size: int = 32,
    in_channels: int = 3,
    num_classes: int = 10,
    device: str = "auto",
    compile: bool = False,
    steps: int = 3,
    warmup: int = 1,
    seed: int = 0,
) -> float:
    """Seconds per training step of a student as :func:`train_student` runs it, on random images.

    One step: augmentation and normalisation of uint8 images on the device, the teacher's forward pass
    (if ``teacher_arch``; eval mode, no gradients), the student's forward and backward pass and an SGD
    step, with the :class:`Speed` of the device. The mean over ``steps`` timed steps after ``warmup``
    untimed ones (which also absorb cuDNN's algorithm search and compilation). This is the number a
    run's time is estimated from: images per second = ``batch_size`` / seconds.
    """
    target = resolve_device(device)
    speed = Speed.for_device(target, compile)
    if target.type == "cuda":
        torch.backends.cudnn.benchmark = True
    generator = torch.Generator().manual_seed(seed)
    raw = torch.randint(0, 256, (batch_size, in_channels, image_size, image_size), generator=generator,
                        dtype=torch.uint8).to(target)
    labels = torch.randint(0, num_classes, (batch_size,), generator=generator).to(target)
    mean, std = torch.full((in_channels,), 0.5, device=target), torch.full((in_channels,), 0.25, device=target)
    data = _DeviceData(raw, labels, raw[:1].float(), labels[:1], mean, std, True, num_classes)
    student = _build(arch, width, data, seed, target, speed)
    forward = _forward(student, speed)
    teacher = None
    if teacher_arch is not None:
        teacher_model = _build(teacher_arch, teacher_width, data, seed + 1, target, speed).eval().requires_grad_(False)
        teacher = _forward(teacher_model, speed)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    augment = _stream(seed, _BATCHES, target)

    def step() -> None:
        x = speed.layout(data.prepare(raw, augment))
        with speed.autocast(target):
            logits = forward(x)
        if teacher is None:
            loss = nnf.cross_entropy(logits.float(), labels)
        else:
            loss = multiclass_kd_loss(logits, _teacher_logits(teacher, x, speed), labels, rho=0.5, T=4.0,
                                      check_labels=False)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def synchronize() -> None:
        if target.type == "cuda":
            torch.cuda.synchronize(target)

    student.train()
    for _ in range(warmup):
        step()
    synchronize()
    began = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return (time.perf_counter() - began) / steps
