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
and length of the payload, provenance) and the payload. The payload holds *data only*, in a
format whose reader cannot run code: a JSON line describing the value (numbers, strings, lists,
tuples, dicts and ordered dicts, tensors and NumPy arrays by dtype, shape and offset) followed by
the raw bytes of the arrays (:func:`encode`, :func:`decode`). No pickle is ever read, so an entry
forged by whoever can write to a cache shared by many nodes is at worst a wrong number (and fails
its checksum unless the forger recomputed it), never code run at load. A value that the format
cannot hold (an arbitrary object) is rejected when it is stored (:class:`UnstorableResult`, naming
where in the value it sits). Tensors come back on the CPU, contiguous, without autograd history.

Writes go to a unique temporary file in the same folder which is then ``os.replace``-d into
place, an atomic rename on POSIX: a reader sees the old entry, the new one or none, never half a
file, and two processes writing the same key both write complete, equal files of which the last
rename wins. A read checks format, length and checksum; an entry that fails (truncated, edited,
or of an older format such as the pickles of format 1) is reported as corrupt
(:class:`CorruptEntry`) and the caller recomputes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
import os
import shutil
import sys
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdlib.book.core import BookError, cache_root, find_root, module_closure, module_fingerprint

__all__ = ["ResultCache", "CorruptEntry", "UnstorableResult", "CacheInfo", "task_key", "task_seed", "task_modules",
           "default_cache_root", "encode", "decode", "write_checked", "read_checked"]

FORMAT = 2  # 1 was a pickled payload: no longer read (it could run code)
SUFFIX = ".kdr"


class CorruptEntry(RuntimeError):
    """A cache entry exists but fails its format, length or checksum test (truncated, overwritten...)."""


class UnstorableResult(TypeError):
    """A value that the result format cannot hold; the message says where in the value and what it is."""


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


# ---------------------------------------------------------------- the payload: data only, never code

_TORCH_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64", "float16",
                 "bfloat16", "float32", "float64", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2")
_NUMPY_KINDS = "biufc"  # bool, signed, unsigned, float, complex: never object, void or structured
_ALIGN = 64
STORABLE = ("None, bool, int, float, str, bytes, list, tuple, dict, OrderedDict, torch.Size, "
            "torch tensors (dense) and NumPy arrays or scalars of numbers")


def _torch_dtype(name: str) -> Any:
    import torch

    if name not in _TORCH_DTYPES or not isinstance(getattr(torch, name, None), torch.dtype):
        raise ValueError(f"tensor dtype {name!r} is not one the cache stores")
    return getattr(torch, name)


def encode(value: Any) -> bytes:
    """The payload of a cache entry: one JSON line describing ``value``, then the raw bytes of its arrays.

    Every node of the description is a JSON ``null``, ``true``/``false``, integer or string, or an object
    ``{"t": kind, ...}`` (floats by ``float.hex``, so ``nan``, ``inf`` and ``-0.0`` round-trip exactly;
    containers; arrays by dtype, shape and the offset of their bytes). :func:`decode` rebuilds only these
    kinds, so reading an entry can never run code.

    Raises:
        UnstorableResult: ``value`` holds something else; the message names the path, e.g. ``value['fit'][2]``.
    """
    import numpy as np
    import torch

    chunks: list[bytes] = []
    size = 0

    def buffer(data: bytes) -> dict[str, int]:
        nonlocal size
        pad = -size % _ALIGN
        if pad:
            chunks.append(b"\0" * pad)
            size += pad
        offset = size
        chunks.append(data)
        size += len(data)
        return {"offset": offset, "nbytes": len(data)}

    def walk(item: Any, path: str) -> Any:
        kind = type(item)
        if item is None or kind in (bool, int, str):
            return item
        if kind is float:
            return {"t": "float", "v": item.hex()}
        if kind is bytes:
            return {"t": "bytes", **buffer(item)}
        if kind is list:
            return {"t": "list", "v": [walk(v, f"{path}[{i}]") for i, v in enumerate(item)]}
        if kind is tuple:
            return {"t": "tuple", "v": [walk(v, f"{path}[{i}]") for i, v in enumerate(item)]}
        if kind is torch.Size:
            return {"t": "size", "v": list(item)}
        if kind in (dict, OrderedDict):
            node = {"t": "dict" if kind is dict else "odict",
                    "v": [[walk(k, f"{path} key {k!r}"), walk(v, f"{path}[{k!r}]")] for k, v in item.items()]}
            metadata = getattr(item, "_metadata", None)  # a module's state_dict carries its version here
            if kind is OrderedDict and metadata is not None:
                node["metadata"] = walk(metadata, f"{path}._metadata")
            return node
        if isinstance(item, torch.Tensor):
            name = str(item.dtype).removeprefix("torch.")
            if item.layout != torch.strided or item.is_quantized or name not in _TORCH_DTYPES:
                raise UnstorableResult(f"{path} is a {item.layout} {item.dtype} tensor; the result cache stores "
                                       f"dense tensors of {', '.join(_TORCH_DTYPES)}")
            flat = item.detach().resolve_conj().resolve_neg().to("cpu").contiguous().reshape(-1)
            return {"t": "tensor", "dtype": name, "shape": list(item.shape),
                    **buffer(flat.view(torch.uint8).numpy().tobytes())}
        if isinstance(item, np.ndarray | np.generic) and item.dtype.kind in _NUMPY_KINDS:
            array = np.asarray(item)  # keeps 0-d arrays and scalars 0-d
            return {"t": "ndarray" if isinstance(item, np.ndarray) else "npscalar", "dtype": array.dtype.str,
                    "shape": list(array.shape), **buffer(array.tobytes(order="C"))}
        raise UnstorableResult(f"{path} is a {kind.__module__}.{kind.__qualname__}, which the result cache cannot "
                               f"store (it stores {STORABLE})")

    tree = walk(value, "value")
    head = json.dumps({"byteorder": sys.byteorder, "value": tree}, separators=(",", ":")).encode()
    return head + b"\n" + b"".join(chunks)


def decode(payload: bytes) -> Any:
    """The value :func:`encode` described. Builds nothing but the kinds listed there.

    Raises:
        ValueError: the payload is not such a description (the caller reports the entry as corrupt).
    """
    import numpy as np
    import torch

    newline = payload.find(b"\n")
    if newline < 0:
        raise ValueError("no description line")
    head = json.loads(payload[:newline])
    blob = memoryview(payload)[newline + 1:]
    if not isinstance(head, dict) or head.get("byteorder") != sys.byteorder:
        raise ValueError(f"written with byte order {head.get('byteorder') if isinstance(head, dict) else '?'}, "
                         f"this machine is {sys.byteorder}")

    def data(node: dict[str, Any]) -> bytes:
        offset, nbytes = node["offset"], node["nbytes"]
        if not (isinstance(offset, int) and isinstance(nbytes, int) and 0 <= offset <= offset + nbytes <= len(blob)):
            raise ValueError("array bytes outside the payload")
        return bytes(blob[offset:offset + nbytes])

    def shape_of(node: dict[str, Any]) -> list[int]:
        shape = node["shape"]
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError(f"bad shape {shape!r}")
        return shape

    def walk(node: Any) -> Any:
        if node is None or type(node) in (bool, int, str):
            return node
        if not isinstance(node, dict):
            raise ValueError(f"unexpected node {type(node).__name__}")
        kind = node.get("t")
        if kind == "float":
            return float.fromhex(node["v"])
        if kind == "bytes":
            return data(node)
        if kind in ("list", "tuple"):
            items = [walk(v) for v in node["v"]]
            return items if kind == "list" else tuple(items)
        if kind == "size":
            return torch.Size(int(v) for v in node["v"])
        if kind in ("dict", "odict"):
            pairs = [(walk(k), walk(v)) for k, v in node["v"]]
            if kind == "dict":
                return dict(pairs)
            result = OrderedDict(pairs)
            if "metadata" in node:
                result._metadata = walk(node["metadata"])  # type: ignore[attr-defined]
            return result
        if kind == "tensor":
            dtype, shape, raw = _torch_dtype(node["dtype"]), shape_of(node), data(node)
            if not raw:
                return torch.empty(shape, dtype=dtype)
            return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape)
        if kind in ("ndarray", "npscalar"):
            dtype = np.dtype(str(node["dtype"]))
            if dtype.kind not in _NUMPY_KINDS or dtype.hasobject:
                raise ValueError(f"array dtype {dtype} is not one the cache stores")
            array = np.frombuffer(data(node), dtype=dtype).reshape(shape_of(node)).copy()
            return array if kind == "ndarray" else array[()]
        raise ValueError(f"unknown node kind {kind!r}")

    return walk(head.get("value"))


# ---------------------------------------------------------------- checked files: a JSON header line + payload


def write_checked(target: Path, header: Mapping[str, Any], payload: bytes) -> Path:
    """Write ``header`` (plus the payload's SHA-256 and length) and ``payload`` to ``target`` atomically:
    a unique temporary file in the same folder, flushed, then renamed into place."""
    record = {**header, "sha256": hashlib.sha256(payload).hexdigest(), "length": len(payload)}
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(scratch, "wb") as handle:
            handle.write(json.dumps(record, default=str).encode() + b"\n")
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, target)
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink()
    return target


def read_checked(path: Path, format: int) -> tuple[dict[str, Any], bytes]:
    """The header and payload of a file :func:`write_checked` wrote, after checking format, length and
    checksum. FileNotFoundError propagates (a miss); anything else wrong raises :class:`CorruptEntry`."""
    data = path.read_bytes()
    newline = data.find(b"\n")
    try:
        header = json.loads(data[:newline]) if newline > 0 else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict):
        raise CorruptEntry(f"{path}: unreadable header")
    if header.get("format") != format:
        raise CorruptEntry(f"{path}: format {header.get('format')!r}, this version reads only format {format}"
                           + (" (format 1 held pickles, which are never loaded)" if header.get("format") == 1 else ""))
    payload = data[newline + 1:]
    if len(payload) != header.get("length"):
        raise CorruptEntry(f"{path}: payload has {len(payload)} bytes, header says {header.get('length')}"
                           " (truncated?)")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise CorruptEntry(f"{path}: checksum mismatch")
    return header, payload


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
        """Store ``value`` under ``key`` atomically; returns the entry's path.

        Raises:
            UnstorableResult: ``value`` holds something the format cannot (see :func:`encode`).
            OSError: the store cannot be written (the caller decides whether that is fatal).
        """
        return self.put_encoded(key, encode(value), provenance)

    def put_encoded(self, key: str, payload: bytes, provenance: Mapping[str, Any] | None = None) -> Path:
        """Store a payload made by :func:`encode` (a caller that also needs the decoded value encodes once)."""
        return write_checked(self.file(key), {"format": FORMAT, "key": key, "provenance": dict(provenance or {})},
                             payload)

    def _read(self, key: str) -> tuple[dict[str, Any], bytes]:
        path = self.file(key)
        header, payload = read_checked(path, FORMAT)  # FileNotFoundError propagates: a miss
        if header.get("key") != key:
            raise CorruptEntry(f"{path}: holds key {header.get('key')!r}")
        return header, payload

    def get(self, key: str) -> Any:
        """The stored value. Raises KeyError on a miss and :class:`CorruptEntry` on a damaged entry."""
        try:
            _, payload = self._read(key)
        except (FileNotFoundError, NotADirectoryError):  # a miss
            raise KeyError(key) from None
        try:
            return decode(payload)
        except Exception as error:  # checksum passed yet not a description this version reads
            raise CorruptEntry(f"{self.file(key)}: cannot decode ({type(error).__name__}: {error})") from error

    def provenance(self, key: str) -> dict[str, Any]:
        """The provenance stored with an entry (commit, versions, device, parameters, wall time, memory)."""
        try:
            header, _ = self._read(key)
        except (FileNotFoundError, NotADirectoryError):  # a miss
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

