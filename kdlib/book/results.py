"""A content-addressed, crash-safe store for the results of sweep tasks.

A sweep task is a call ``function(**parameters)``. Its *key* is the SHA-256 of

* the function's identity (``module:qualname``; for a function defined in a notebook or
  script, ``__main__``, its source text as well),
* the parameters, written canonically (sorted names; tensors and arrays by dtype, shape and
  a hash of their bytes, so two equal grids give the same key),
* the fingerprint of the kdlib modules the function can run: its own module and every kdlib
  module that imports, transitively (:func:`kdlib.book.core.module_fingerprint`). Editing the
  book machinery (pages, CLI, executors) keeps every entry; editing ``kernels`` invalidates the
  entries of tasks whose code imports it, and only those. A function defined in a notebook or
  script (``__main__``) may call anything in the mathematics layer, so it is keyed on all of it.

Each entry is one file ``<key[:2]>/<key>.kdr``: a JSON header line (format version, SHA-256
and length of the payload, provenance) and a pickled payload. Writes go to a unique temporary
file in the same folder which is then ``os.replace``-d into place, an atomic rename on POSIX:
a reader sees the old entry, the new one or none, never half a file, and two processes writing
the same key both write complete, equal files of which the last rename wins. A read checks
length and checksum; an entry that fails is reported as corrupt (:class:`CorruptEntry`) and
the caller recomputes it, so a truncated file is never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import json
import math
import os
import pickle
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdlib.book.core import BookError, cache_root, find_root, module_closure, module_fingerprint

__all__ = ["ResultCache", "CorruptEntry", "CacheInfo", "task_key", "task_seed", "task_modules",
           "default_cache_root"]

FORMAT = 1
SUFFIX = ".kdr"


class CorruptEntry(RuntimeError):
    """A cache entry exists but fails its length or checksum test (truncated, overwritten...)."""


def _function_identity(function: Callable[..., Any]) -> str:
    module = getattr(function, "__module__", None) or "?"
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or repr(function)
    identity = f"{module}:{name}"
    if module == "__main__" or "<locals>" in name or "<lambda>" in name:
        with contextlib.suppress(OSError, TypeError):  # not importable by name: its source is what it computes
            identity += ":" + hashlib.sha256(inspect.getsource(function).encode()).hexdigest()
    return identity


def _canonical(value: Any) -> Any:
    """A JSON-able, order-independent description of a parameter value that fixes the value exactly."""
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().contiguous()
        return {"tensor": str(array.dtype), "shape": list(array.shape),
                "sha256": hashlib.sha256(array.numpy().tobytes() if array.dtype != torch.bfloat16
                                         else array.view(torch.int16).numpy().tobytes()).hexdigest()}
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {"ndarray": str(array.dtype), "shape": list(array.shape),
                "sha256": hashlib.sha256(array.tobytes()).hexdigest()}
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return {"float": value.hex()} if not math.isnan(value) else {"float": "nan"}
    if isinstance(value, np.generic):
        return _canonical(value.item())
    if isinstance(value, Mapping):
        return {"mapping": {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}}
    if isinstance(value, list | tuple):
        return {type(value).__name__: [_canonical(v) for v in value]}
    if isinstance(value, torch.device | torch.dtype | Path):
        return {type(value).__name__: str(value)}
    raise TypeError(f"sweep parameter of type {type(value).__name__} cannot be hashed into a cache key; "
                    "use numbers, strings, tensors, arrays, lists, tuples or dicts of them")


def describe_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A short, human-readable form of the parameters for reports and provenance (tensors by shape)."""
    import torch

    out: dict[str, Any] = {}
    for name, value in parameters.items():
        if isinstance(value, torch.Tensor):
            out[name] = f"tensor{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}"
        elif isinstance(value, bool | int | float | str) or value is None:
            out[name] = value
        else:
            text = repr(value)
            out[name] = text if len(text) <= 80 else text[:77] + "..."
    return out


def task_modules(function: Callable[..., Any]) -> list[str]:
    """The kdlib modules a task's key covers: the function's module and what it imports, transitively.
    A function outside kdlib (a notebook, a script, a test) is keyed on the whole mathematics layer."""
    module = getattr(function, "__module__", None) or ""
    return module_closure([module if module.startswith("kdlib.") else "kdlib"])


def task_key(function: Callable[..., Any], parameters: Mapping[str, Any]) -> str:
    """The content address of ``function(**parameters)`` under the current source of the kdlib modules it uses."""
    if not isinstance(parameters, Mapping):
        raise ValueError(f"parameters must be a mapping of argument names to values, got {type(parameters).__name__}")
    blob = json.dumps({"function": _function_identity(function), "parameters": _canonical(dict(parameters)),
                       "kdlib": module_fingerprint(task_modules(function))}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def task_seed(key: str) -> int:
    """A deterministic 63-bit seed for the task with this key: equal tasks, equal random streams,
    whichever worker runs them and in whatever order."""
    return int(key[:16], 16) & (2**63 - 1)


def default_cache_root() -> Path:
    """``$KDBOOK_CACHE`` if set, else ``.kdcache`` in the book's root (the repository), else in the cwd."""
    try:
        root = find_root()
    except BookError:
        root = Path.cwd()
    return cache_root(root)


@dataclass(frozen=True)
class CacheInfo:
    """Size report of a result cache."""

    path: Path
    entries: int
    bytes: int
    temporary: int  # leftover temporary files of interrupted writes

    def describe(self) -> str:
        return f"{self.path}: {self.entries} entries, {self.bytes / 2**20:.2f} MiB" + (
            f", {self.temporary} leftover temporary file(s)" if self.temporary else "")


class ResultCache:
    """Sweep results on disk, one atomic, checksummed file per task key (see the module docstring).

    Args:
        path: the folder of the store (created on first write); default ``<cache root>/results``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_root() / "results"

    def __repr__(self) -> str:
        return f"ResultCache({str(self.path)!r})"

    def file(self, key: str) -> Path:
        if len(key) < 8 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"key must be a lowercase hex digest, got {key!r}")
        return self.path / key[:2] / f"{key}{SUFFIX}"

    def __contains__(self, key: str) -> bool:
        return self.file(key).is_file()

    def put(self, key: str, value: Any, provenance: Mapping[str, Any] | None = None) -> Path:
        """Store ``value`` under ``key`` atomically; returns the entry's path."""
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        header = {"format": FORMAT, "key": key, "sha256": hashlib.sha256(payload).hexdigest(),
                  "length": len(payload), "provenance": dict(provenance or {})}
        target = self.file(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(scratch, "wb") as handle:
                handle.write(json.dumps(header, default=str).encode() + b"\n")
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(scratch, target)
        finally:
            if scratch.exists():
                scratch.unlink()
        return target

    def _read(self, key: str) -> tuple[dict[str, Any], bytes]:
        path = self.file(key)
        data = path.read_bytes()  # FileNotFoundError propagates: a miss
        newline = data.find(b"\n")
        try:
            header = json.loads(data[:newline]) if newline > 0 else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            header = None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise CorruptEntry(f"{path}: unreadable header")
        payload = data[newline + 1:]
        if len(payload) != header.get("length"):
            raise CorruptEntry(f"{path}: payload has {len(payload)} bytes, header says {header.get('length')}"
                               " (truncated?)")
        if hashlib.sha256(payload).hexdigest() != header.get("sha256") or header.get("key") != key:
            raise CorruptEntry(f"{path}: checksum mismatch")
        return header, payload

    def get(self, key: str) -> Any:
        """The stored value. Raises KeyError on a miss and :class:`CorruptEntry` on a damaged entry."""
        try:
            _, payload = self._read(key)
        except FileNotFoundError:
            raise KeyError(key) from None
        try:
            return pickle.load(io.BytesIO(payload))
        except Exception as error:  # checksum passed yet unpicklable: written by an incompatible version
            raise CorruptEntry(f"{self.file(key)}: cannot unpickle ({type(error).__name__}: {error})") from error

    def provenance(self, key: str) -> dict[str, Any]:
        """The provenance stored with an entry (commit, versions, device, parameters, wall time, memory)."""
        try:
            header, _ = self._read(key)
        except FileNotFoundError:
            raise KeyError(key) from None
        return header["provenance"]

    def discard(self, key: str) -> None:
        """Remove an entry (e.g. one found corrupt) if it exists."""
        with contextlib.suppress(FileNotFoundError):
            self.file(key).unlink()

    def info(self) -> CacheInfo:
        entries = size = temporary = 0
        if self.path.is_dir():
            for path in self.path.rglob("*"):
                if path.name.endswith(".tmp"):
                    temporary += 1
                elif path.suffix == SUFFIX:
                    entries += 1
                    size += path.stat().st_size
        return CacheInfo(self.path, entries, size, temporary)

    def clear(self) -> CacheInfo:
        """Delete every entry; returns what was there."""
        before = self.info()
        if self.path.is_dir():
            shutil.rmtree(self.path)
        return before

