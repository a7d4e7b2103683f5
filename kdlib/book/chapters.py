"""The settings of every chapter, per profile: one frozen dataclass per chapter, registered by name.

``kdbook list`` prints them; ``kdbook run CHAPTER -p NAME VALUE`` overrides one, checked against the
type and range given here. A field's default is its ``quick`` value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PROFILES", "CHAPTERS", "setting", "register", "EffectiveStudent", "NTKRegime", "LinearizedTraining",
           "PracticalKD"]

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
    networks: int = setting(4, low=1, high=1000, help="random networks per width")
    s7_samples: int = setting(10_000, low=10, high=10**7, help="inputs per scale in Fig. S7")
    s7_width: int = setting(4096, low=1, high=65_536, help="width of the network checked against one point of Fig. S7")
    s7_inputs: int = setting(64, low=1, high=4096, help="inputs of that check")


register("s1-ntk-regime",
         smoke=NTKRegime(widths=(64, 256, 1024), s7_samples=500, s7_width=1024, s7_inputs=16),
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


register("s1-linearized-training",
         smoke=LinearizedTraining(width=256, samples=16, steps=600, s5_epochs=300, s5_draws=4, s5_samples=64),
         quick=LinearizedTraining(),
         paper=LinearizedTraining(width=2048, samples=256, steps=20_000, s5_epochs=10_000, s5_draws=16,
                                  s5_samples=1024))


_RESNETS = ("resnet18", "resnet34", "resnet50")


@dataclass(frozen=True)
class PracticalKD:
    """Fig. 5 left, Fig. S1, Sec. S2: ResNets distilled on images (chapter 05-practical-kd)."""

    data: str = setting("digits", choices=("digits", "cifar10"),
                        help="images: scikit-learn's 8×8 digits (no download) or CIFAR-10 (the paper's)")
    cifar_folder: str = setting("", help="CIFAR-10 binary folder (cifar-10-batches-bin or its parent); "
                                         "empty: $KDLIB_CIFAR10")
    test_fraction: float = setting(0.5, low=0.05, high=0.95, help="digits only: share of each class held out")
    teacher_arch: str = setting("resnet18", choices=_RESNETS, help="teacher network (the paper's: resnet50)")
    teacher_width: int = setting(8, low=1, high=512, help="teacher's base channels (64: He et al.)")
    student_arch: str = setting("resnet18", choices=_RESNETS, help="student network (the paper's: resnet18)")
    student_width: int = setting(4, low=1, high=512, help="student's base channels (64: He et al.)")
    teacher_epochs: int = setting(20, low=1, high=10_000, help="teacher's epochs over the training set")
    epochs: int = setting(8, low=1, high=10_000, help="students' epochs over their n samples")
    min_steps: int = setting(112, low=0, high=10**7, help="students train at least this many steps (small n: more "
                                                          "epochs)")
    batch_size: int = setting(64, low=1, high=65_536, help="images per SGD step")
    lr: float = setting(0.1, low=1e-6, high=10.0, help="peak learning rate of the one-cycle schedule")
    weight_decay: float = setting(5e-4, low=0.0, high=1.0, help="SGD weight decay")
    warmup: float = setting(0.25, low=0.01, high=0.99, help="fraction of steps rising to the peak rate")
    T: float = setting(4.0, low=0.1, high=100.0, help="distillation temperature (RepDistiller's default)")
    rhos: tuple[float, ...] = setting((0.0, 0.1, 0.5, 0.9, 1.0), low=0.0, high=1.0,
                                      help="soft ratios ρ of Fig. 5 left (Hinton's T² convention; 0 and 1 always run)")
    sample_sizes: tuple[int, ...] = setting((112, 225, 450), low=10, high=50_000,
                                            help="student sample sizes n of Fig. S1 (the whole training set is added)")
    s1_rhos: tuple[float, ...] = setting((0.0, 0.5), low=0.0, high=1.0, help="soft ratios drawn in Fig. S1")
    seeds: int = setting(3, low=2, high=100, help="students per point (subset, initialisation, batch order)")
    compile: bool = setting(False, help="torch.compile the networks (CUDA only)")
    cpu_threads: int = setting(1, low=0, high=1024, help="torch threads on a CPU (0: torch's default); "
                                                         "1 suits the tiny networks of smoke and quick")
    bench_batch: int = setting(4, low=0, high=4096, help="batch of the timed step of the paper's networks "
                                                          "(0: skip)")


register("05-practical-kd",
         smoke=PracticalKD(teacher_epochs=2, epochs=1, min_steps=14, rhos=(0.0, 0.5, 1.0), sample_sizes=(225, 450),
                           s1_rhos=(0.0,), seeds=2, bench_batch=0),
         quick=PracticalKD(),
         paper=PracticalKD(data="cifar10", teacher_arch="resnet50", teacher_width=64, student_width=64,
                           teacher_epochs=60, epochs=30, min_steps=1000, batch_size=512, lr=0.4,
                           rhos=(0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0), sample_sizes=(3125, 6250, 12500, 25000),
                           s1_rhos=(0.0, 0.5, 1.0), seeds=5, compile=True, cpu_threads=0, bench_batch=512))
