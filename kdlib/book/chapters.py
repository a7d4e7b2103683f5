"""The settings of every chapter, per profile: one frozen dataclass per chapter, registered by name.

``kdbook list`` prints them; ``kdbook run CHAPTER -p NAME VALUE`` overrides one, checked against the
type and range given here. A field's default is its ``quick`` value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from kdlib.teachers import GroundTruthSpec, ParentLabels, TeacherSpec

__all__ = ["PROFILES", "CHAPTERS", "setting", "register", "EffectiveStudent", "NTKRegime", "LinearizedTraining",
           "Teachers", "TEACHERS", "TeacherChapter", "DataEfficiency", "PracticalKD", "ImperfectTeacher",
           "TransferRisk"]

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


# ---------------------------------------------------------------------------------------------
# The teachers of Sections 3–5 (S4.1), shared by every chapter that distils from them
# ---------------------------------------------------------------------------------------------

# q = 10 modes (the simplest mixture of Fig. S2) of width σ ≈ 15/q = 1.5 on inputs of scale 5; the seed is
# the first of 0–7 whose classes are balanced (51 % positive); the amplitude only scales f_g, not its sign.
GROUND_TRUTH = GroundTruthSpec(modes=10, amplitude=1.0, width_scale=15.0, seed=2)


def _fig4_keep(epochs: int) -> tuple[int, ...]:
    """2^k − 1 for every k with 2^k − 1 ≤ epochs (Fig. 4's stopping epochs: 0, 1, 3, …, 511, …)."""
    return tuple(2**k - 1 for k in range(0, epochs.bit_length() + 1) if 2**k - 1 <= epochs)


def _fig5_keep(epochs: int, stop: int, grid: int = 10) -> tuple[int, ...]:
    """Fig. 5's stopping epochs: 0, the powers of two, ``grid`` evenly spaced epochs, and ``stop``."""
    powers = {2**k for k in range(epochs.bit_length()) if 2**k <= epochs}
    even = {round(epochs * j / grid) for j in range(1, grid + 1)}
    return tuple(sorted({0, stop} | powers | even))


def _powers(epochs: int) -> tuple[int, ...]:
    """0 and the powers of two up to ``epochs`` (the perfect teacher's history)."""
    return tuple(sorted({0} | {2**k for k in range(epochs.bit_length()) if 2**k <= epochs}))


def _teacher_specs(*, width: int, depth: int, batch: int, fig2_epochs: int, fig2_lr: float, fig4_epochs: int,
                   fig4_lr: float, fig5_epochs: int, fig5_lr: float, fig5_stop: int
                   ) -> tuple[TeacherSpec, TeacherSpec, TeacherSpec]:
    fig2 = TeacherSpec(name="fig2", width=width, depth=depth, lr=fig2_lr, batch_size=batch, steps_per_epoch=1,
                       epochs=fig2_epochs, keep_epochs=_powers(fig2_epochs), labels=GROUND_TRUTH, seed=2)
    parent = ParentLabels(fig2, fig2_epochs)
    fig4 = TeacherSpec(name="fig4", width=width, depth=depth, lr=fig4_lr, batch_size=batch, steps_per_epoch=1,
                       epochs=fig4_epochs, keep_epochs=_fig4_keep(fig4_epochs), labels=parent, seed=4)
    fig5 = TeacherSpec(name="fig5", width=width, depth=depth, lr=fig5_lr, batch_size=batch, steps_per_epoch=1,
                       epochs=fig5_epochs, keep_epochs=_fig5_keep(fig5_epochs, fig5_stop), labels=parent, seed=5)
    return fig2, fig4, fig5


# paper: S4.1's sizes (L = 5, m = 1024, batch 4096; η and epochs as stated; Fig. 2's epochs are not stated).
# quick: m = 128, L = 4, batch 1024, runs shortened; η scaled so that η × epochs (Adam's distance) matches the
#        paper's at the stopping epoch of Fig. 5, and Fig. 4's η kept (0.01 already converges in a few hundred).
# smoke: m = 32, L = 2, batch 256, a few dozen epochs.
_SIZES = {
    "smoke": dict(width=32, depth=2, batch=256, fig2_epochs=64, fig2_lr=1e-2, fig4_epochs=64, fig4_lr=1e-2,
                  fig5_epochs=40, fig5_lr=3e-3, fig5_stop=19),
    "quick": dict(width=128, depth=4, batch=1024, fig2_epochs=1024, fig2_lr=2e-3, fig4_epochs=1024, fig4_lr=1e-2,
                  fig5_epochs=1280, fig5_lr=8e-4, fig5_stop=639),
    "paper": dict(width=1024, depth=5, batch=4096, fig2_epochs=16384, fig2_lr=5e-4, fig4_epochs=32768, fig4_lr=1e-2,
                  fig5_epochs=10240, fig5_lr=1e-4, fig5_stop=5113),
}
_STOPS = {"smoke": (15, 19), "quick": (127, 639), "paper": (511, 5113)}
_QUICK = _teacher_specs(**_SIZES["quick"])


@dataclass(frozen=True)
class Teachers:
    """The three teachers of S4.1 and the ground truth they learn (nested in every chapter that needs them).

    ``fig2`` learns f_g's hard labels; ``fig4`` and ``fig5`` learn ``fig2``'s hard labels at its last
    epoch. Their ``labels`` are derived here from ``ground_truth`` and ``fig2`` as configured (overrides
    included), never set separately. ``fig4_stop`` and ``fig5_stop`` must be stopping epochs of their
    teacher. One epoch is ``steps_per_epoch`` Adam steps on fresh batches (1 at every profile).
    """

    ground_truth: GroundTruthSpec = setting(GROUND_TRUTH, help="the Gaussian-mixture f_g of S4 (d = 2)")
    fig2: TeacherSpec = setting(_QUICK[0], help="the perfect teacher of Fig. 2 (f_g's hard labels)")
    fig4: TeacherSpec = setting(_QUICK[1], help="Fig. 4's teacher (fig2's hard labels, η = 0.01)")
    fig5: TeacherSpec = setting(_QUICK[2], help="Fig. 5's teacher (fig2's hard labels, η = 1e-4 at paper)")
    reduction: float = setting(0.3, low=1e-6, high=100.0, help="reduction factor r of S4.1: z_t ← r z_t")
    fig4_stop: int = setting(_STOPS["quick"][0], low=0, high=10**7,
                             help="the stopping epoch of Fig. 4 right (511 in the paper)")
    fig5_stop: int = setting(_STOPS["quick"][1], low=0, high=10**7,
                             help="the stopping epoch of Fig. 5 middle (5113 in the paper)")

    def __post_init__(self) -> None:
        for name in ("fig2", "fig4", "fig5"):
            if not isinstance(getattr(self, name), TeacherSpec):
                raise ValueError(f"Teachers.{name} must be a TeacherSpec, got {getattr(self, name)!r}")
        fig2 = dataclasses.replace(self.fig2, labels=self.ground_truth)
        parent = ParentLabels(fig2, fig2.epochs)
        object.__setattr__(self, "fig2", fig2)
        object.__setattr__(self, "fig4", dataclasses.replace(self.fig4, labels=parent))
        object.__setattr__(self, "fig5", dataclasses.replace(self.fig5, labels=parent))
        for name, spec, stop in (("fig4_stop", self.fig4, self.fig4_stop), ("fig5_stop", self.fig5, self.fig5_stop)):
            if not isinstance(stop, int) or isinstance(stop, bool) or not 0 <= stop <= spec.epochs:
                raise ValueError(f"Teachers.{name} = {stop!r} is outside the run of teacher {spec.name!r}: it trains "
                                 f"{spec.epochs} epochs (a stop between its kept epochs {list(spec.stopping_epochs)} "
                                 "is trained on from the kept one before it)")


def _make_teachers(profile: str) -> Teachers:
    fig2, fig4, fig5 = _teacher_specs(**_SIZES[profile])
    fig4_stop, fig5_stop = _STOPS[profile]
    return Teachers(ground_truth=GROUND_TRUTH, fig2=fig2, fig4=fig4, fig5=fig5, fig4_stop=fig4_stop,
                    fig5_stop=fig5_stop)


TEACHERS: dict[str, Teachers] = {profile: _make_teachers(profile) for profile in PROFILES}


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


@dataclass(frozen=True)
class TeacherChapter:
    """Appendix: the teachers of S4.1, Fig. S3 (chapter s4-teachers)."""

    teachers: Teachers = setting(TEACHERS["quick"], help="the ground truth and the teachers of Figs. 2, 4, 5")
    test_samples: int = setting(2**16, low=256, high=2**24, help="test inputs of the reported test errors")
    grid: int = setting(201, low=11, high=2001, help="grid points per axis of the Fig. S3 maps")


register("s4-teachers", smoke=TeacherChapter(teachers=TEACHERS["smoke"], test_samples=2**12, grid=41),
         quick=TeacherChapter(), paper=TeacherChapter(teachers=TEACHERS["paper"], grid=401))


@dataclass(frozen=True)
class DataEfficiency:
    """Section 4: data inefficiency I(n), Figs. 3, 4, S2, S4, S5 (chapter 03-data-efficiency)."""

    samples: int = setting(1024, low=16, high=2**16, help="N: training inputs per run; every n ≤ N is one prefix")
    runs: int = setting(20, low=3, high=1000, help="independent runs (inputs, initialization, targets) per curve")
    depth: int = setting(5, low=1, high=20, help="hidden layers L of the student (S4.1: 5)")
    width: int = setting(1024, low=8, high=65_536, help="width m of the initialized student (S4.1: 1024)")
    modes: tuple[int, ...] = setting((10, 25, 50, 100, 250), low=1, high=10_000, help="mode counts q of Fig. 3 left")
    width_scale: float = setting(15.0**0.5, low=1e-3, high=1e3, help="mode width σ = width_scale / q^width_exponent")
    width_exponent: float = setting(0.5, low=0.0, high=4.0, help="see width_scale (σ² = 15/q: scale √15, exponent 1/2)")
    flip_modes: int = setting(10, low=1, high=10_000, help="q of the sign-flip task of Fig. 3 right")
    flips: tuple[float, ...] = setting((0.0, 0.001, 0.01, 0.1, 0.5), low=0.0, high=0.5,
                                       help="flip probabilities p_flip of Fig. 3 right")
    temperature: float = setting(10.0, low=1.0, high=100.0, help="T of Fig. 4's effective logits (S4.1's students)")
    rhos: tuple[float, ...] = setting((0.0, 0.01, 0.1, 0.5, 0.9, 1.0), low=0.0, high=1.0,
                                      help="soft ratios of Fig. 4 right (0: pure hard labels)")
    stops: tuple[int, ...] = setting((3, 15, 63, 127, 511, 1023), low=0, high=10**7,
                                     help="stopping epochs of the Fig. 4 teacher in Fig. 4 middle")
    smoothing: float = setting(0.1, low=1e-4, high=1.0, help="label smoothing ε compared with KD")
    window: float = setting(2.0, low=1.1, high=16.0, help="I(n) is averaged over n ∈ [n/√w, n√w] (w = 2: an octave)")
    empirical_runs: int = setting(4, low=2, high=1000, help="runs redone with the empirical kernel of the width-m net")
    empirical_widths: tuple[int, ...] = setting((256, 1024, 4096), low=8, high=65_536,
                                                help="widths of the empirical-kernel sweep (random, hard, mixture)")
    empirical_samples: int = setting(256, low=16, high=2**16, help="inputs of that sweep (a prefix of each run's)")
    reference_runs: int = setting(4, low=2, high=1000, help="runs with the kernel's predictions for the references")
    spectrum: int = setting(1024, low=16, high=2**16, help="samples whose kernel eigenvalues give the spectral rate")
    teachers: Teachers = setting(TEACHERS["quick"], help="the ground truth and the teachers of Figs. 2, 4, 5")


register("03-data-efficiency",
         smoke=DataEfficiency(samples=512, runs=6, width=256, modes=(10, 50, 250), flips=(0.0, 0.01, 0.5),
                              rhos=(0.0, 0.1, 1.0), stops=(3, 15, 63), empirical_runs=2, empirical_widths=(64, 256),
                              empirical_samples=128, reference_runs=3, spectrum=512, teachers=TEACHERS["smoke"]),
         quick=DataEfficiency(),
         paper=DataEfficiency(samples=2**14, stops=(31, 127, 511, 2047, 8191, 32767), empirical_runs=20,
                              empirical_samples=2**14, spectrum=4096, teachers=TEACHERS["paper"]))


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
         smoke=PracticalKD(teacher_epochs=4, epochs=1, min_steps=14, rhos=(0.0, 0.5, 1.0), sample_sizes=(225, 450),
                           s1_rhos=(0.0,), seeds=2, bench_batch=0),
         quick=PracticalKD(),
         paper=PracticalKD(data="cifar10", teacher_arch="resnet50", teacher_width=64, student_width=64,
                           teacher_epochs=60, epochs=30, min_steps=1000, batch_size=512, lr=0.4,
                           rhos=(0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0), sample_sizes=(3125, 6250, 12500, 25000),
                           s1_rhos=(0.0, 0.5, 1.0), seeds=5, compile=True, cpu_threads=0, bench_batch=512))


@dataclass(frozen=True)
class ImperfectTeacher:
    """Section 5: Theorem 2 and Fig. 5 middle and right (chapter 04-imperfect-teacher)."""

    teachers: Teachers = setting(TEACHERS["quick"], help="the ground truth and the teachers (Fig. 5's teacher)")
    temperature: float = setting(10.0, low=0.1, high=100.0, help="T of Eq. 2 (S4.1's students use T = 10)")
    student_depth: int = setting(3, low=1, high=20, help="hidden layers L of the student (S4.1: 3)")
    student_width: int = setting(512, low=1, high=65_536,
                                 help="width m of the student network whose initial logits z₀ enter Eq. 4")
    sizes: tuple[int, ...] = setting((64, 256, 1024), low=2, high=2**17,
                                     help="sample sizes n of Fig. 5 right; the largest is Fig. 5 middle's")
    test_samples: int = setting(2048, low=64, high=2**20, help="test inputs per draw for the test errors")
    seeds: int = setting(4, low=2, high=1000, help="draws of (training and test inputs, student initialization)")
    rhos: tuple[float, ...] = setting((0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95,
                                       0.98, 1.0), low=1e-6, high=1.0, help="soft ratios of Fig. 5 middle")
    fd_sizes: tuple[int, ...] = setting((16, 64, 256), low=2, high=2**15,
                                        help="sample sizes of the finite-difference check of Theorem 2")
    fd_step: float = setting(1e-6, low=1e-12, high=1e-2, help="step in 1 − ρ of that finite difference")
    trained_size: int = setting(128, low=2, high=2**17, help="training points of the trained students")
    trained_width: int = setting(256, low=1, high=65_536, help="width of the trained (linearized) students")
    trained_steps: int = setting(500, low=1, high=10**7, help="Adam steps of each trained student")
    trained_lr: float = setting(0.03, low=1e-8, high=10.0,
                                help="Adam's learning rate (S4.1's students: 0.01; larger at quick to converge sooner)")
    trained_batch: int = setting(512, low=1, high=2**17, help="batch size (S4.1: 512; full batch when n is smaller)")
    trained_rhos: tuple[float, ...] = setting((0.2, 0.6, 1.0), low=1e-3, high=1.0,
                                              help="soft ratios of the trained students")
    trained_seeds: int = setting(2, low=1, high=100, help="draws of the trained students")


register("04-imperfect-teacher",
         smoke=ImperfectTeacher(teachers=TEACHERS["smoke"], student_width=128, sizes=(32, 128), test_samples=512,
                                seeds=3, rhos=(0.05, 0.2, 0.5, 0.8, 0.95, 1.0), fd_sizes=(16, 64), trained_size=32,
                                trained_width=64, trained_steps=200, trained_rhos=(0.5, 1.0)),
         quick=ImperfectTeacher(),
         paper=ImperfectTeacher(teachers=TEACHERS["paper"], student_width=2048, sizes=(1024, 4096, 16384),
                                test_samples=16384, seeds=8, fd_sizes=(64, 1024, 4096), trained_size=16384,
                                trained_width=2048, trained_steps=32_000, trained_lr=0.01,
                                trained_rhos=(0.1, 0.3, 0.5, 0.7, 0.9, 1.0), trained_seeds=3))


@dataclass(frozen=True)
class TransferRisk:
    """Section 3, Fig. 2, Theorem 1, S3, S6: transfer risk of perfect-teacher distillation (chapter 02)."""

    teachers: Teachers = setting(TEACHERS["quick"], help="the ground truth and the teachers; Fig. 2 uses fig2")
    rhos: tuple[float, ...] = setting((1.0, 0.9, 0.5, 0.1, 0.01, 0.0), low=0.0, high=1.0,
                                      help="soft ratios ρ (first must be 1); 0 is the pure-hard limit ρ → 0")
    temperature: float = setting(10.0, low=1.0, high=1e3, help="T of Eq. 2 (S4.1: 10)")
    depth: int = setting(3, low=1, high=20, help="student hidden layers L (S4.1: 3)")
    width: int = setting(256, low=1, high=65_536, help="student width m (S4.1: 2048)")
    pool: int = setting(1024, low=64, high=65_536, help="N: the risk curves R(n) run over n = 1 … N")
    norm_pool: int = setting(2048, low=64, high=131_072,
                             help="samples of the norm curves ‖Δŵ_n‖ (≥ pool); the largest estimates ‖Δw* − Δw_z‖")
    tests: int = setting(4096, low=256, high=2**22, help="fresh test inputs per draw (M)")
    draws: int = setting(4, low=2, high=1000, help="independent draws of inputs and student (seeds 0 … draws − 1)")
    trained_sizes: tuple[int, ...] = setting((64, 256), low=2, high=65_536,
                                             help="sample sizes n of the trained students (≤ pool)")
    trained_rhos: tuple[float, ...] = setting((1.0, 0.1), low=1e-6, high=1.0,
                                              help="soft ratios of the trained students")
    epochs: int = setting(300, low=1, high=10**7, help="epochs of each trained student")
    lr: float = setting(0.01, low=1e-8, high=10.0, help="Adam's learning rate (S4.1: 0.01)")
    batch: int = setting(512, low=1, high=65_536, help="batch size of the trained students (S4.1: 512)")
    oracle_rhos: tuple[float, ...] = setting((1.0, 0.1), low=1e-6, high=1.0,
                                             help="soft ratios whose oracle Δw* is estimated by online SGD")
    oracle_steps: int = setting(100, low=1, high=10**7, help="online-SGD steps of each oracle estimate")


register("02-transfer-risk",
         smoke=TransferRisk(teachers=TEACHERS["smoke"], rhos=(1.0, 0.5, 0.01, 0.0), width=64, pool=128, norm_pool=256,
                            tests=1024, draws=3, trained_sizes=(32,), trained_rhos=(1.0,), epochs=100, batch=128,
                            oracle_rhos=(1.0,), oracle_steps=40),
         quick=TransferRisk(),
         paper=TransferRisk(teachers=TEACHERS["paper"], width=2048, pool=4096, norm_pool=16_384, tests=2**15,
                            draws=20, trained_sizes=(64, 256, 1024, 4096), trained_rhos=(1.0, 0.5, 0.1, 0.01),
                            epochs=2000, oracle_rhos=(1.0, 0.9, 0.5, 0.1, 0.01), oracle_steps=20_000))
