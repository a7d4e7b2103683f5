"""Image data for the practical experiment (Fig. 5 left, Fig. S1, Sec. S2): CIFAR-10, 8×8 digits, augmentation.

* :func:`load_cifar10` reads the *binary* distribution of CIFAR-10 (Krizhevsky, 2009) with numpy
  alone (no unpickling of downloaded files), checks its structure and reports each file's SHA-256.
* :func:`load_digits` gives scikit-learn's 8×8 handwritten digits, a small stand-in that trains in
  seconds on a CPU, with a seeded, stratified train/test split (:func:`stratified_split`).
* :func:`random_crop_flip` is the standard CIFAR augmentation (pad 4, random 32×32 crop, horizontal
  flip with probability ½; He et al. 2016, Sec. 4.2) done batched on the tensor's device;
  :func:`channel_stats` and :func:`normalize` standardise per channel.
* :class:`InMemoryLoader` iterates over shuffled mini-batches of tensors that stay on their device:
  CIFAR-10 is 184 MB as uint8, so it lives on the GPU whole and no host-to-device copy or worker
  process sits in the training loop.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CIFAR10_ARCHIVE_MD5",
    "CIFAR10_CLASSES",
    "CIFAR10_ENV",
    "CIFAR10_FILES",
    "CIFAR10_URL",
    "ImageDataset",
    "InMemoryLoader",
    "channel_stats",
    "cifar10_folder",
    "file_sha256",
    "load_cifar10",
    "load_digits",
    "normalize",
    "random_crop_flip",
    "stratified_split",
    "verify_cifar10_archive",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
"""The binary version on Alex Krizhevsky's page (https://www.cs.toronto.edu/~kriz/cifar.html), 162 MB."""
CIFAR10_ARCHIVE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
"""MD5 of ``cifar-10-binary.tar.gz`` as published on that page."""
CIFAR10_ENV = "KDLIB_CIFAR10"
"""Environment variable naming the ``cifar-10-batches-bin`` folder (or the folder that contains it)."""
CIFAR10_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR10_RECORD = 1 + 3 * 32 * 32  # one label byte, then 1024 red, 1024 green, 1024 blue bytes (rows of 32)
_CIFAR10_RECORDS = 10_000


@dataclass(frozen=True)
class ImageDataset:
    """A train/test pair of labelled images.

    Attributes:
        train_images, test_images: (N, C, H, W) tensors (uint8 for CIFAR-10, float for digits).
        train_labels, test_labels: (N,) int64 class indices.
        classes: class names, index → name.
        sha256: file name → SHA-256 hex digest of every file read (empty for built-in data), so a
            caller can record a manifest on first use and pass it back to :func:`load_cifar10` later.
    """

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    classes: tuple[str, ...]
    sha256: dict[str, str] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device | str) -> ImageDataset:
        """The same data on ``device`` (uint8 images stay uint8: 4× less memory than float32)."""
        return ImageDataset(self.train_images.to(device), self.train_labels.to(device), self.test_images.to(device),
                            self.test_labels.to(device), self.classes, dict(self.sha256))


# ---------------------------------------------------------------------------------------------
# CIFAR-10, binary version
# ---------------------------------------------------------------------------------------------


def _missing_cifar10(reason: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{reason}. CIFAR-10 is not downloaded automatically: get the binary version from {CIFAR10_URL} "
        f"(162 MB, MD5 {CIFAR10_ARCHIVE_MD5}; check it with kdlib.images.verify_cifar10_archive), unpack it "
        f"with `tar xzf cifar-10-binary.tar.gz`, and pass the folder cifar-10-batches-bin (or its parent) "
        f"as `folder=` or set the environment variable {CIFAR10_ENV} to it."
    )


def cifar10_folder(folder: str | os.PathLike[str] | None = None) -> Path:
    """The ``cifar-10-batches-bin`` folder: ``folder`` if given, else ``$KDLIB_CIFAR10``.

    Either may name that folder itself or the folder that contains it.

    Raises:
        FileNotFoundError: neither is set, or the folder does not exist; the message says how to get the data.
    """
    if folder is None:
        folder = os.environ.get(CIFAR10_ENV) or None
        if folder is None:
            raise _missing_cifar10(f"no CIFAR-10 folder given and {CIFAR10_ENV} is not set")
    path = Path(folder).expanduser()
    if (path / "cifar-10-batches-bin").is_dir():
        path = path / "cifar-10-batches-bin"
    if not path.is_dir():
        raise _missing_cifar10(f"CIFAR-10 folder {str(path)!r} does not exist")
    return path


def file_sha256(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def verify_cifar10_archive(path: str | os.PathLike[str]) -> None:
    """Check a downloaded ``cifar-10-binary.tar.gz`` against the MD5 published on the CIFAR page.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the digest differs (a truncated or different download).
    """
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != CIFAR10_ARCHIVE_MD5:
        raise ValueError(f"archive {str(path)!r} has MD5 {digest.hexdigest()}, expected {CIFAR10_ARCHIVE_MD5} "
                         f"(the binary version from {CIFAR10_URL})")


def _read_cifar10_file(path: Path, records: int) -> tuple[Tensor, Tensor]:
    if not path.is_file():
        raise _missing_cifar10(f"CIFAR-10 file {str(path)!r} is missing")
    size, expected = path.stat().st_size, records * _CIFAR10_RECORD
    if size != expected:
        raise ValueError(f"CIFAR-10 file {str(path)!r} has {size:,} bytes, expected {expected:,} "
                         f"({records:,} records of {_CIFAR10_RECORD} bytes); is it the binary version, complete?")
    data = np.fromfile(path, dtype=np.uint8).reshape(records, _CIFAR10_RECORD)
    labels = data[:, 0]
    if labels.max(initial=0) > 9:
        bad = int(np.argmax(labels > 9))
        raise ValueError(f"CIFAR-10 file {str(path)!r}: record {bad} has label {int(labels[bad])}, allowed 0..9 "
                         f"(the record structure is not that of the binary version)")
    images = np.ascontiguousarray(data[:, 1:]).reshape(records, 3, 32, 32)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def load_cifar10(
    folder: str | os.PathLike[str] | None = None,
    *,
    expected_sha256: Mapping[str, str] | None = None,
    records_per_file: int = _CIFAR10_RECORDS,
) -> ImageDataset:
    """CIFAR-10 from its binary distribution: 50,000 training and 10,000 test images, 32×32 RGB, 10 classes.

    Reads ``data_batch_1.bin`` … ``data_batch_5.bin`` and ``test_batch.bin`` of the folder
    ``cifar-10-batches-bin`` (``folder``, else ``$KDLIB_CIFAR10``; see :func:`cifar10_folder`). Each
    file holds ``records_per_file`` records of 3073 bytes: the label (0–9), then the 32×32 red, green
    and blue planes row by row (Krizhevsky, https://www.cs.toronto.edu/~kriz/cifar.html). Only numpy
    reads them; nothing is unpickled.

    What is verified, honestly: every file's size (30,730,000 bytes for the real data) and that every
    label byte is in 0–9, which catches truncated downloads and the Python/Matlab versions. The
    publisher gives an MD5 only for the archive (check it with :func:`verify_cifar10_archive` before
    unpacking), not for the unpacked files, so this function cannot know their digests in advance:
    it computes each file's SHA-256 (returned in ``ImageDataset.sha256``) and, when
    ``expected_sha256`` is given (e.g. a manifest recorded on first use), requires every file to match it.

    Args:
        folder: the data folder; None uses ``$KDLIB_CIFAR10``.
        expected_sha256: file name → SHA-256 hex digest; must name all six files.
        records_per_file: images per file (10,000 for CIFAR-10; smaller only for synthetic test data).
    Returns:
        :class:`ImageDataset` with uint8 images (N, 3, 32, 32) and int64 labels (N,), in file order.
    Raises:
        FileNotFoundError: no folder, or a file is missing; the message says where to download the data.
        ValueError: a file has the wrong size or a label outside 0–9, or a digest differs from ``expected_sha256``.
    """
    if isinstance(records_per_file, bool) or not isinstance(records_per_file, int) or records_per_file < 1:
        raise ValueError(f"records_per_file must be an integer ≥ 1, got {records_per_file!r}")
    root = cifar10_folder(folder)
    if expected_sha256 is not None:
        missing = [name for name in CIFAR10_FILES if name not in expected_sha256]
        if missing:
            raise ValueError(f"expected_sha256 must name all of {CIFAR10_FILES}, missing {missing}")
    parts, digests = {}, {}
    for name in CIFAR10_FILES:
        parts[name] = _read_cifar10_file(root / name, records_per_file)
        digests[name] = file_sha256(root / name)
        if expected_sha256 is not None and digests[name] != expected_sha256[name].lower():
            raise ValueError(f"CIFAR-10 file {str(root / name)!r} has SHA-256 {digests[name]}, "
                             f"expected {expected_sha256[name]} from the manifest")
    train = [parts[name] for name in CIFAR10_FILES[:5]]
    test_images, test_labels = parts["test_batch.bin"]
    return ImageDataset(
        train_images=torch.cat([images for images, _ in train]),
        train_labels=torch.cat([labels for _, labels in train]),
        test_images=test_images,
        test_labels=test_labels,
        classes=CIFAR10_CLASSES,
        sha256=digests,
    )


# ---------------------------------------------------------------------------------------------
# 8×8 digits
# ---------------------------------------------------------------------------------------------


def stratified_split(labels: Tensor, test_fraction: float = 0.25, *, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A seeded train/test split that keeps each class's share: round(test_fraction·n_c) of class c go to test.

    Args:
        labels: (N,) integer class labels.
        test_fraction: share of each class put in the test set, strictly between 0 and 1.
        seed: the split is a function of (labels, test_fraction, seed) only, on every platform
            (a CPU ``torch.Generator`` draws one permutation per class, in increasing class order).
    Returns:
        (train_indices, test_indices): sorted int64 index tensors on the CPU, disjoint, covering 0..N−1.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if not isinstance(labels, Tensor) or labels.ndim != 1 or labels.dtype.is_floating_point:
        raise ValueError(f"labels must be a 1-D integer tensor, got {getattr(labels, 'shape', type(labels))}")
    labels = labels.cpu()
    generator = torch.Generator().manual_seed(int(seed))
    train, test = [], []
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = round(float(test_fraction) * len(members))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(test)).values


def load_digits(*, test_fraction: float = 0.25, seed: int = 0, dtype: torch.dtype = torch.float32) -> ImageDataset:
    """scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes; UCI optical digits test set).

    The 4-bit pixel counts 0–16 are divided by 16, so images lie in [0, 1]; the split is
    :func:`stratified_split` with ``test_fraction`` and ``seed``. The data ship with scikit-learn
    (nothing is downloaded).

    Returns:
        :class:`ImageDataset` with images (N, 1, 8, 8) of ``dtype`` and int64 labels.
    Raises:
        ImportError: scikit-learn is not installed (``pip install scikit-learn``).
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("load_digits needs scikit-learn: pip install scikit-learn") from error
    bunch = sklearn_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float64).div(16.0).to(dtype).unsqueeze(1)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    train, test = stratified_split(labels, test_fraction, seed=seed)
    return ImageDataset(images[train], labels[train], images[test], labels[test],
                        classes=tuple(str(digit) for digit in range(10)))


# ---------------------------------------------------------------------------------------------
# Augmentation and normalisation, batched on the device
# ---------------------------------------------------------------------------------------------


def _draw(shape: tuple[int, ...], high: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Uniform integers in [0, high) drawn by ``generator`` (on its own device) and placed on ``device``."""
    draw_device = generator.device if generator is not None else device
    return torch.randint(0, high, shape, generator=generator, device=draw_device).to(device)


def random_crop_flip(
    images: Tensor,
    padding: int = 4,
    generator: torch.Generator | None = None,
    *,
    flip: bool = True,
    padding_mode: str = "constant",
    return_params: bool = False,
) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """Random crops of the padded images plus random horizontal flips: the standard CIFAR augmentation.

    Each image is (conceptually) padded by ``padding`` pixels on every side, an H×W window is taken
    at an offset drawn uniformly from {0, …, 2·padding}² per image, and with probability ½ it is
    mirrored left–right (He et al. 2016, Sec. 4.2: padding 4 with zeros, 32×32 crops, flips).
    Done by index arithmetic on the whole batch: one gather, no padded copy and no Python loop
    over images, on whatever device ``images`` live; dtype (uint8 included) is kept.

    Args:
        images: (N, C, H, W).
        padding: p ≥ 0 pixels on each side.
        generator: draws the offsets and flips (on its own device; one on the images' device avoids
            a small host-device copy); None uses torch's global generator on the images' device.
        flip: also flip horizontally with probability ½.
        padding_mode: "constant" (zeros, standard for CIFAR) or "reflect" (mirror without repeating
            the edge, as ``torch.nn.functional.pad``; needs p < H and p < W).
        return_params: also return the offsets (N, 2) as (row, column) in the padded image and the
            flip flags (N,), for tests and logging.
    Returns:
        The augmented images, same shape, dtype and device; with ``return_params`` a tuple
        (images, offsets, flipped).
    """
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor of shape (N, C, H, W), got {getattr(images, 'shape', images)!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an integer ≥ 0, got {padding!r}")
    if padding_mode not in ("constant", "reflect"):
        raise ValueError(f"padding_mode must be 'constant' or 'reflect', got {padding_mode!r}")
    n, _, height, width = images.shape
    if padding_mode == "reflect" and padding >= min(height, width):
        raise ValueError(f"padding must be < min(H, W) = {min(height, width)} for reflect padding, got {padding}")
    device = images.device
    offsets = _draw((n, 2), 2 * padding + 1, generator, device)
    flipped = _draw((n,), 2, generator, device).bool() if flip else torch.zeros(n, dtype=torch.bool, device=device)
    i = torch.arange(height, device=device)
    j = torch.arange(width, device=device)
    rows = offsets[:, :1] + i - padding  # (N, H) source rows in the unpadded image
    cols = offsets[:, 1:] + torch.where(flipped[:, None], width - 1 - j, j) - padding  # (N, W)
    if padding_mode == "reflect":
        rows = torch.where(rows < 0, -rows, torch.where(rows >= height, 2 * (height - 1) - rows, rows))
        cols = torch.where(cols < 0, -cols, torch.where(cols >= width, 2 * (width - 1) - cols, cols))
        inside = None
    else:
        inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
        rows, cols = rows.clamp(0, height - 1), cols.clamp(0, width - 1)
    batch = torch.arange(n, device=device)[:, None, None]
    out = images[batch, :, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C): advanced indices come first
    if inside is not None:
        out = torch.where(inside[..., None], out, torch.zeros((), dtype=out.dtype, device=device))
    out = out.permute(0, 3, 1, 2).contiguous(memory_format=torch.contiguous_format)
    return (out, offsets, flipped) if return_params else out


def channel_stats(images: Tensor, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """Per-channel mean and (population) standard deviation of images, in float64.

    uint8 images are taken as x/255 (the scale :func:`normalize` uses). Accumulated in float64
    over chunks of ``chunk`` images, so 50,000 CIFAR images need no float64 copy of the data.

    Returns:
        (mean, std), each of shape (C,), float64, on the images' device.
    """
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty (N, C, H, W) tensor, got {getattr(images, 'shape', images)!r}")
    scale = 255.0 if images.dtype == torch.uint8 else 1.0
    total = torch.zeros(images.shape[1], dtype=torch.float64, device=images.device)
    squares = torch.zeros_like(total)
    for start in range(0, images.shape[0], chunk):
        part = images[start:start + chunk].to(torch.float64) / scale
        total += part.sum(dim=(0, 2, 3))
        squares += part.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    return mean, (squares / count - mean.square()).clamp_min(0).sqrt()


def normalize(
    images: Tensor,
    mean: Sequence[float] | Tensor,
    std: Sequence[float] | Tensor,
    *,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """(x − mean_c) / std_c per channel c, with uint8 images first scaled to x/255 ∈ [0, 1].

    Args:
        images: (N, C, H, W), uint8 or floating.
        mean, std: C values each (e.g. from :func:`channel_stats` on the training images); std > 0.
        dtype: floating dtype of the result.
    Returns:
        Normalised images of ``dtype`` on the images' device.
    """
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor of shape (N, C, H, W), got {getattr(images, 'shape', images)!r}")
    mean = torch.as_tensor(mean, dtype=dtype, device=images.device).flatten()
    std = torch.as_tensor(std, dtype=dtype, device=images.device).flatten()
    channels = images.shape[1]
    if mean.shape != (channels,) or std.shape != (channels,):
        raise ValueError(f"mean and std must have {channels} values (one per channel), got {len(mean)} and {len(std)}")
    if not bool((std > 0).all()):
        raise ValueError(f"std must be > 0 in every channel, got {std.tolist()}")
    x = images.to(dtype)
    if images.dtype == torch.uint8:
        x = x / 255.0
    return (x - mean[:, None, None]) / std[:, None, None]


# ---------------------------------------------------------------------------------------------
# Mini-batches from memory
# ---------------------------------------------------------------------------------------------


class InMemoryLoader:
    """Mini-batches of tensors that stay on their device (images, labels, teacher logits, …).

    Each pass (``for batch in loader``) draws a new permutation when ``shuffle`` (from
    ``generator``, on its own device, or torch's global generator) and yields tuples of
    ``index_select`` slices, one per tensor, of ``batch_size`` rows; the last, smaller batch is
    kept unless ``drop_last``. Nothing leaves the device, so on a GPU an epoch has no host copies.

    Args:
        *tensors: one or more tensors with the same first dimension N, on one device.
        batch_size: rows per batch (≥ 1).
        shuffle: a fresh random order every pass (else 0..N−1 in order).
        drop_last: drop the final batch when it has fewer than ``batch_size`` rows.
        generator: source of the permutations (repeatable epochs).
    """

    def __init__(
        self,
        *tensors: Tensor,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        if not tensors or not all(isinstance(t, Tensor) and t.ndim >= 1 for t in tensors):
            raise ValueError("tensors must be one or more tensors with at least one dimension")
        sizes = {t.shape[0] for t in tensors}
        if len(sizes) != 1:
            raise ValueError(f"tensors must share their first dimension, got sizes {[t.shape[0] for t in tensors]}")
        devices = {t.device for t in tensors}
        if len(devices) != 1:
            raise ValueError(f"tensors must be on one device, got {sorted(map(str, devices))}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer ≥ 1, got {batch_size!r}")
        self.tensors = tensors
        self.batch_size, self.shuffle, self.drop_last, self.generator = batch_size, shuffle, drop_last, generator
        self.size = sizes.pop()
        self.device = devices.pop()

    def __len__(self) -> int:
        if self.drop_last:
            return self.size // self.batch_size
        return -(-self.size // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        if self.shuffle:
            draw_device = self.generator.device if self.generator is not None else self.device
            order = torch.randperm(self.size, generator=self.generator, device=draw_device).to(self.device)
        else:
            order = torch.arange(self.size, device=self.device)
        for batch in range(len(self)):
            index = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            yield tuple(t.index_select(0, index) for t in self.tensors)
