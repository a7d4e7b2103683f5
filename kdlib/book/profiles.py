"""Each chapter's settings, per profile, defined once.

A chapter's settings are one frozen dataclass; its ``smoke``, ``quick`` and ``paper`` values are
three instances of it, listed in :data:`kdlib.book.chapters.CHAPTERS` under the chapter's name
(the notebook's file stem). Settings
that several chapters share (a teacher's specification, a training schedule) are one nested
dataclass used by all of them, so equal settings give equal cache keys wherever they are used.

``smoke`` runs each chapter in seconds (tests), ``quick`` is the default book on a 2-core CPU,
``paper`` uses the paper's sizes (a GPU helps; a CPU also works, slowly).

A chapter starts with ``cfg = profiles.resolve("<chapter>", profile, device=device, seed=seed,
**overrides)``; ``kdbook run -p NAME VALUE`` reaches ``overrides`` after :func:`validate_overrides`
has checked the name, type and range, so a bad value fails before anything runs. A nested setting
is named with a dot: ``-p teacher.width 256``.
"""

from __future__ import annotations

import dataclasses
import math
import random
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kdlib._device import resolve_device
from kdlib.book import claims
from kdlib.book.chapters import CHAPTERS, PROFILES
from kdlib.book.core import BookError, cache_root, find_root

__all__ = [
    "PROFILES", "Config", "chapter_settings", "resolve", "resolve_device",
    "validate_overrides", "describe", "profile_names", "registered_chapters",
]

def profile_names() -> list[str]:
    return list(PROFILES)


def registered_chapters() -> list[str]:
    return list(CHAPTERS)


def chapter_settings(chapter: str, profile: str) -> Any:
    """The settings of ``chapter`` at ``profile`` (an empty dataclass for a chapter without settings)."""
    _check_profile(profile)
    return CHAPTERS[chapter][profile] if chapter in CHAPTERS else _NoSettings()


@dataclass(frozen=True)
class _NoSettings:
    pass


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")


def _fields(settings: Any, prefix: str = "") -> dict[str, tuple[dataclasses.Field, Any, Any]]:
    """Every leaf setting by dotted name: (field, current value, type hint)."""
    hints = typing.get_type_hints(type(settings))
    found = {}
    for item in dataclasses.fields(settings):
        if item.metadata.get("derived"):  # set by the enclosing settings (a teacher's labels): not a knob
            continue
        value = getattr(settings, item.name)
        name = prefix + item.name
        if dataclasses.is_dataclass(value):
            found.update(_fields(value, name + "."))
        else:
            found[name] = (item, value, hints[item.name])
    return found


def _allowed(item: dataclasses.Field, hint: Any) -> str:
    meta = item.metadata
    kind = getattr(hint, "__name__", str(hint)).replace("typing.", "")
    if typing.get_origin(hint) is tuple:
        kind = f"tuple of {typing.get_args(hint)[0].__name__}"
    parts = [kind]
    if meta.get("choices"):
        parts.append("one of " + ", ".join(map(repr, meta["choices"])))
    low, high = (bound if bound is None or isinstance(bound, int) else f"{bound:g}"
                 for bound in (meta.get("low"), meta.get("high")))
    if low is not None and high is not None:
        parts.append(f"in [{low}, {high}]")
    elif low is not None:
        parts.append(f"≥ {low}")
    elif high is not None:
        parts.append(f"≤ {high}")
    return " ".join(parts)


def _coerce_scalar(name: str, value: Any, kind: type, item: dataclasses.Field, hint: Any) -> Any:
    def bad() -> ValueError:
        return ValueError(f"setting {name}={value!r} is not allowed; allowed: {_allowed(item, hint)}")

    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad()
    if kind is int:
        if isinstance(value, str):
            try:
                value = int(value.replace("_", ""))
            except ValueError:
                try:  # "1e8" (YAML leaves it a string) is an integer written in floating-point notation
                    number = float(value)
                except ValueError:
                    raise bad() from None
                if not number.is_integer():
                    raise bad() from None
                value = int(number)
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise bad()
        return int(value)
    if kind is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise bad() from None
        if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not math.isfinite(value):
            raise bad()
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise bad()
        return value
    raise bad()


def _coerce(name: str, value: Any, item: dataclasses.Field, hint: Any) -> Any:
    meta = item.metadata
    if typing.get_origin(hint) is tuple:
        if isinstance(value, str):
            value = [part for part in value.replace("(", "").replace(")", "").split(",") if part.strip()]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = [value]  # `-p widths 1024`: one width
        if not isinstance(value, list | tuple) or not value:
            raise ValueError(f"setting {name}={value!r} is not allowed; allowed: a non-empty "
                             f"{_allowed(item, hint)}, e.g. -p {name} 64,256")
        kind = typing.get_args(hint)[0]
        items = [_coerce_scalar(name, part.strip() if isinstance(part, str) else part, kind, item, hint)
                 for part in value]
        checked = tuple(items)
    else:
        checked = _coerce_scalar(name, value, hint, item, hint)
        items = [checked]
    for part in items:
        if meta.get("choices") and part not in meta["choices"]:
            raise ValueError(f"setting {name}={value!r} is not allowed; allowed: {_allowed(item, hint)}")
        if isinstance(part, int | float) and not isinstance(part, bool) and (
                (meta.get("low") is not None and part < meta["low"])
                or (meta.get("high") is not None and part > meta["high"])):
            raise ValueError(f"setting {name}={value!r} is out of range; allowed: {_allowed(item, hint)}")
    return checked


def validate_overrides(chapter: str, profile: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Check and coerce ``overrides`` against ``chapter``'s settings; None means "the profile's value".

    Raises:
        ValueError: an unknown name (the message lists every setting with what it allows), a value of the
            wrong type (``3.7`` for an integer, ``true`` for a size) or out of its range.
    """
    base = chapter_settings(chapter, profile)
    known = _fields(base)
    checked = {}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in known:
            listing = "; ".join(f"{key} ({_allowed(item, hint)})" for key, (item, _, hint) in known.items())
            raise ValueError(f"{chapter} has no setting {name!r}; its settings: {listing or 'none'}")
        item, _, hint = known[name]
        checked[name] = _coerce(name, value, item, hint)
    return checked


def _replace(settings: Any, changes: Mapping[str, Any]) -> Any:
    direct = {name: value for name, value in changes.items() if "." not in name}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in changes.items():
        if "." in name:
            head, rest = name.split(".", 1)
            nested.setdefault(head, {})[rest] = value
    for head, inner in nested.items():
        direct[head] = _replace(getattr(settings, head), inner)
    return dataclasses.replace(settings, **direct)


@dataclass(frozen=True)
class Config:
    """A resolved chapter configuration: its settings at a profile (with overrides), device and seed."""

    chapter: str
    name: str  # the profile
    settings: Any
    device: torch.device
    seed: int

    def __getattr__(self, name: str) -> Any:
        # Settings read as cfg.points; only called when normal lookup fails.
        settings = object.__getattribute__(self, "settings")
        try:
            return getattr(settings, name)
        except AttributeError:
            names = ", ".join(f.name for f in dataclasses.fields(settings))
            raise AttributeError(f"{self.chapter} has no setting {name!r}; settings: {names}") from None

    @property
    def cache_dir(self) -> Path:
        """The book's cache root (``$KDBOOK_CACHE`` or ``.kdcache``): where trained models are shared."""
        try:
            root = find_root()
        except BookError:
            root = Path.cwd()
        return cache_root(root)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU torch generator seeded from this run's seed (plus ``offset`` for sub-streams)."""
        return torch.Generator().manual_seed(self.seed + offset)


def resolve(chapter: str | None, profile: str = "quick", *, device: str | torch.device = "auto", seed: int = 0,
            **overrides: Any) -> Config:
    """The configuration of one run of ``chapter`` at ``profile``, with ``overrides`` applied.

    Also seeds Python, NumPy and torch with ``seed`` so a chapter is repeatable, and tells the claims
    ledger the profile.

    Raises:
        ValueError: unknown profile or setting, a bad value (the message says what is allowed), a bad device.
    """
    _check_profile(profile)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    chapter = chapter or ""
    settings = _replace(chapter_settings(chapter, profile), validate_overrides(chapter, profile, overrides))
    seed = int(seed)
    claims.set_profile(profile)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return Config(chapter=chapter, name=profile, settings=settings, device=resolve_device(device), seed=seed)


def describe(chapter: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Rows ``(setting, what it allows and means, {profile: value})`` for ``kdbook list``."""
    per_profile = {profile: _fields(chapter_settings(chapter, profile)) for profile in PROFILES}
    rows = []
    for name, (item, _, hint) in per_profile["quick"].items():
        meaning = _allowed(item, hint) + (f"; {item.metadata['help']}" if item.metadata.get("help") else "")
        rows.append((name, meaning, {profile: per_profile[profile][name][1] for profile in PROFILES}))
    return rows
