"""Run profiles: every size a notebook uses comes from here, defined once.

``smoke`` runs each notebook in seconds (tests), ``quick`` is the default book on a 2-core
CPU, ``paper`` uses the paper's exact sizes (a GPU helps; a CPU also works, slowly).
A notebook calls ``resolve(profile, device=..., seed=..., **overrides)`` once and reads
every size from the returned config; ``kdbook run -p NAME VALUE`` reaches the override.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from kdlib import claims

__all__ = ["Profile", "Config", "PROFILES", "resolve", "resolve_device", "profile_names"]


@dataclass(frozen=True)
class Profile:
    """Sizes of every experiment in the book, per profile. Fields are grouped by chapter."""

    name: str
    # Section 2, Fig. 1: effective logits
    fig1_points: int = 401          # z_t grid points per curve
    fig1_z_max: float = 10.0        # grid covers [-fig1_z_max, fig1_z_max]
    gd_iterations: int = 10_000     # the paper's gradient-descent solver (Sec. S4)
    # Section S1 / appendix: NTK regime
    ntk_widths: tuple[int, ...] = (64, 256, 1024, 4096)
    ntk_points: int = 16
    ntk_seeds: int = 4              # random networks per width (analytic vs empirical NTK)
    lin_width: int = 512            # appendix S1/S5: linearized student (d = 2, L = lin_depth)
    lin_samples: int = 64           # training points n
    lin_steps: int = 2000           # full-batch steps of the S1 runs; epochs of the S5 runs
    lin_depth: int = 3              # hidden layers (the paper's S5 student has L = 3)
    lin_lr: float = 0.01            # Adam's learning rate (the paper's Fig. 2 students use 0.01)
    s5_draws: int = 8               # S5: draws of (inputs, teacher, student) behind the closed-form curve
    s5_samples: int = 256           # S5: largest sample size of that curve (≥ 64, where the claim is read)
    fig_s7_samples: int = 10_000
    fig_s7_width: int = 4096        # wide network checked against one point of Fig. S7
    fig_s7_empirical: int = 64      # inputs of that check
    extra: dict[str, Any] = field(default_factory=dict)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", fig1_points=81,
        ntk_widths=(64, 256, 1024), ntk_points=16, ntk_seeds=4, lin_width=256, lin_samples=16, lin_steps=600,
        s5_draws=4, s5_samples=64, fig_s7_samples=500, fig_s7_width=1024, fig_s7_empirical=16,
    ),
    "quick": Profile(name="quick"),
    "paper": Profile(
        name="paper", fig1_points=2001,
        ntk_widths=(64, 256, 1024, 4096, 16384), ntk_points=32, ntk_seeds=8, lin_width=2048, lin_samples=256,
        lin_steps=20_000, s5_draws=16, s5_samples=1024, fig_s7_samples=10_000, fig_s7_width=8192, fig_s7_empirical=128,
    ),
}


def profile_names() -> list[str]:
    return list(PROFILES)


@dataclass(frozen=True)
class Config:
    """A resolved profile: its sizes plus the device and seed of this run."""

    profile: Profile
    device: torch.device
    seed: int

    def __getattr__(self, name: str) -> Any:
        # Sizes read as cfg.fig1_points; only called when normal lookup fails.
        profile = object.__getattribute__(self, "profile")
        try:
            return getattr(profile, name)
        except AttributeError:
            raise AttributeError(f"profile has no setting {name!r}; settings: {', '.join(_field_names())}") from None

    @property
    def name(self) -> str:
        return self.profile.name

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU torch generator seeded from this run's seed (plus ``offset`` for sub-streams)."""
        return torch.Generator().manual_seed(self.seed + offset)


def _field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Profile) if f.name not in ("name", "extra")]


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


def _coerce(name: str, value: Any, template: Any) -> Any:
    if isinstance(template, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)
    if isinstance(template, tuple):
        if isinstance(value, str):
            value = [item for item in value.replace("(", "").replace(")", "").split(",") if item.strip()]
        kind = type(template[0]) if template else float
        return tuple(kind(item) for item in value)
    try:
        return type(template)(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"setting {name}={value!r} is not a valid {type(template).__name__}") from error


def resolve(profile: str = "quick", *, device: str | torch.device = "auto", seed: int = 0, **overrides: Any) -> Config:
    """The config of one run: the named profile, overridden where an override is not None.

    Also seeds Python, NumPy and torch with ``seed`` so a notebook is repeatable.

    Raises:
        ValueError: unknown profile or setting (the message lists what is allowed), or a bad device.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
    base = PROFILES[profile]
    allowed = _field_names()
    changes = {}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in allowed:
            raise ValueError(f"unknown setting {name!r}; settings: {', '.join(allowed)}")
        changes[name] = _coerce(name, value, getattr(base, name))
    seed = int(seed)
    claims.set_profile(profile)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return Config(profile=dataclasses.replace(base, **changes), device=resolve_device(device), seed=seed)
