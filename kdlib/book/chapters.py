"""The settings of every chapter, per profile: one frozen dataclass per chapter, registered by name.

``kdbook list`` prints them; ``kdbook run CHAPTER -p NAME VALUE`` overrides one, checked against the
type and range given here. A field's default is its ``quick`` value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PROFILES", "CHAPTERS", "setting", "register", "EffectiveStudent", "NTKRegime", "LinearizedTraining"]

PROFILES = ("smoke", "quick", "paper")

# chapter (notebook stem) → {profile: settings}
CHAPTERS: dict[str, dict[str, Any]] = {}


def setting(default: Any, *, low: float | None = None, high: float | None = None,
            choices: tuple[Any, ...] | None = None, help: str = "") -> Any:
    """A dataclass field with its allowed range (``low ≤ value ≤ high``; for a tuple, each item) and a
    one-line help text shown by ``kdbook list`` and in error messages."""
    return field(default=default, metadata={"low": low, "high": high, "choices": choices, "help": help})


def register(chapter: str, *, smoke: Any, quick: Any, paper: Any) -> None:
    """Register a chapter's settings for the three profiles (instances of one frozen dataclass)."""
    if len({type(smoke), type(quick), type(paper)}) != 1 or not dataclasses.is_dataclass(smoke):
        raise TypeError(f"{chapter}: smoke, quick and paper must be instances of one dataclass")
    CHAPTERS[chapter] = {"smoke": smoke, "quick": quick, "paper": paper}


@dataclass(frozen=True)
class EffectiveStudent:
    """Section 2, Fig. 1: effective student logits (chapter 01)."""

    points: int = setting(401, low=3, high=1_000_001, help="z_t grid points per curve")
    z_max: float = setting(10.0, low=0.1, high=1e3, help="the grid covers [-z_max, z_max]")
    gd_iterations: int = setting(10_000, low=1, high=10**8, help="steps of the paper's gradient-descent solver (S4)")


register("01-effective-student", smoke=EffectiveStudent(points=81), quick=EffectiveStudent(),
         paper=EffectiveStudent(points=2001))


@dataclass(frozen=True)
class NTKRegime:
    """Appendix: analytic against empirical NTK, Fig. S7 (chapter s1-ntk-regime)."""

    widths: tuple[int, ...] = setting((64, 256, 1024, 4096), low=1, high=65_536,
                                      help="widths of the random networks compared with Θ")
    points: int = setting(16, low=2, high=4096, help="inputs of that comparison")
    networks: int = setting(4, low=2, high=1000,
                            help="random networks per width: the independent draws behind the slope's mean")
    s7_samples: int = setting(10_000, low=10, high=10**7, help="inputs per scale in Fig. S7")
    s7_width: int = setting(4096, low=1, high=65_536, help="width of the network checked against one point of Fig. S7")
    s7_inputs: int = setting(64, low=1, high=4096, help="inputs of that check")


register("s1-ntk-regime",
         smoke=NTKRegime(widths=(64, 256, 1024), networks=8, s7_samples=500, s7_width=1024, s7_inputs=16),
         quick=NTKRegime(),
         paper=NTKRegime(widths=(64, 256, 1024, 4096, 16384), points=32, networks=8, s7_width=8192, s7_inputs=128))


@dataclass(frozen=True)
class LinearizedTraining:
    """Appendix: training the linearized student, S1 and S5 (chapter s1-linearized-training)."""

    width: int = setting(512, low=1, high=65_536, help="hidden width m of the student")
    depth: int = setting(3, low=1, high=20, help="hidden layers L (the paper's students have L = 3)")
    samples: int = setting(64, low=2, high=65_536, help="training points n")
    steps: int = setting(2000, low=10, high=10**7, help="full-batch steps of each S1 run")
    lr: float = setting(0.01, low=1e-8, high=10.0, help="Adam's learning rate (the paper's students use 0.01)")
    s5_epochs: int = setting(1000, low=10, high=10**7, help="full-batch epochs of each S5 (Fig. S6) run")
    s5_draws: int = setting(8, low=1, high=1000, help="draws of (inputs, teacher, student) behind the S5 curve")
    s5_samples: int = setting(256, low=64, high=65_536,
                              help="largest sample size of that curve (≥ 64, where the claim is read)")
    s5_speed_draws: int = setting(6, low=2, high=1000,
                                  help="independent draws (n = 64) behind the 'converges faster' verdict of S5")


register("s1-linearized-training",
         smoke=LinearizedTraining(width=256, samples=16, steps=600, s5_epochs=300, s5_draws=4, s5_samples=64,
                                  s5_speed_draws=3),
         quick=LinearizedTraining(),
         paper=LinearizedTraining(width=2048, samples=256, steps=20_000, s5_epochs=10_000, s5_draws=16,
                                  s5_samples=1024, s5_speed_draws=16))
