"""Which torch device a run uses: ``auto`` picks CUDA when PyTorch sees it."""

from __future__ import annotations

import sys

import torch

__all__ = ["resolve_device", "worker_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cpu``, ``cuda`` and ``cuda:N`` are checked."""
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for, but CUDA is not available here; use 'auto' or 'cpu'")
        parsed = torch.device(device)
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return parsed
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def worker_device(device: str | torch.device = "auto") -> torch.device:
    """:func:`resolve_device`, except that ``auto``/``cuda`` on a dask worker become that worker's own GPU.

    For task functions of the mathematics layer, which cannot use ``kdlib.book.executor.task_device``
    (the same rule): a dask worker of a multi-GPU LocalCluster is named 0, 1, ... and one of a
    SLURM job with several GPUs ``<job>-0``, ``<job>-1``, ...; the number, modulo the GPUs seen, is
    its GPU. Outside a dask worker (``distributed`` not imported, or no worker running this thread),
    or for an explicit ``cuda:N`` or ``cpu``, the result is :func:`resolve_device`'s.
    """
    resolved = resolve_device(device)
    distributed = sys.modules.get("distributed")  # a dask worker has imported it; elsewhere there is nothing to ask
    if resolved.type != "cuda" or str(device) not in ("auto", "cuda") or distributed is None:
        return resolved
    try:
        name = distributed.get_worker().name
    except ValueError:  # not running on a worker
        return resolved
    tail = name if isinstance(name, int) else str(name).rsplit("-", 1)[-1]
    slot = int(tail) if isinstance(tail, int) or tail.isdigit() else 0
    return torch.device("cuda", slot % torch.cuda.device_count())
