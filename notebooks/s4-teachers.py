# ---
# jupyter:
#   jupytext: {formats: "py:percent"}
#   kernelspec: {name: python3, display_name: Python 3, language: python}
# ---

# %% [markdown]
# # The teachers of the synthetic experiments (Sec. S4.1)
#
# Sections 3–5 of {cite:t}`ji2020knowledge` distil students from three trained networks, all of the
# same Eq. 1 architecture: the *perfect teacher* of Fig. 2, trained on the hard labels of a
# Gaussian-mixture ground truth $f_g$, and the teachers of Figs. 4 and 5, trained on the perfect
# teacher's hard labels and taken at chosen *stopping epochs* (511 for Fig. 4 right, 5113 for Fig. 5
# middle). This appendix trains them once — every chapter then loads the same weights from
# `kdlib.teachers` — and shows what they are: the ground truth and its class boundary, the perfect
# teacher's decision boundary and logits (Fig. S3), the test error of each teacher against its
# training epoch with the stopping epochs marked, and the Fig. 5 teacher's test error at its stop
# next to the paper's 1.06 %.

# %% tags=["parameters"]
profile = "quick"
device = "auto"
seed = 0
overrides = {}  # chapter settings, e.g. {"teachers.fig4.width": 256}; `kdbook list` shows them per profile

# %%
import dataclasses
import time

import matplotlib.colors as mcolors
import torch
from IPython.display import Markdown, display
from matplotlib.patches import Circle

from kdlib import teachers
from kdlib.book import claims, plotting, profiles
from kdlib.book.chapters import TEACHERS
from kdlib.book.core import gpu_measurements
from kdlib.data import gaussian_inputs

cfg = profiles.resolve("s4-teachers", profile, device=device, seed=seed, **overrides)
T = cfg.teachers
plotting.publish_text("profile-s4t", f"`{cfg.name}`")
print(f"profile {cfg.name} on {cfg.device}: teachers of width {T.fig2.width}, depth {T.fig2.depth}, "
      f"batches of {T.fig2.batch_size}; stops {T.fig4_stop} (Fig. 4) and {T.fig5_stop} (Fig. 5)")

# %% [markdown]
# ## The ground truth
#
# The paper's target is a Gaussian mixture in $d = 2$ (Sec. S4),
#
# ```{math}
# :label: eq-s4-ground-truth
# \begin{aligned}
# f_g(x) &= \sum_{j=1}^{q} A_j \exp\!\bigl(-\lVert x - x_j\rVert^2 / \sigma_j^2\bigr),\\
# y_g(x) &= \mathbb 1\{f_g(x) > 0\}, \qquad x \sim \mathcal N(0, 5^2 I_2),
# \end{aligned}
# ```
#
# with random amplitudes $A_j$ of either sign, centres $x_j \sim \mathcal N(0, 5^2 I)$ and widths
# $\sigma_j$ around $\sigma = 15 / q^{2/d}$ (`kdlib.data.random_gaussian_mixture`; the paper writes
# $15/q^2$ for its 1-D pictures). The paper does not say which mixture its teachers learned. We take
# $q = 10$ modes, the simplest mixture of its Fig. S2, so $\sigma \approx 1.5$ on inputs of scale 5:
# ten bumps that a network of Eq. 1 can resolve to about 1 % error. The amplitude only scales
# $f_g$ and not its sign, so it does not change the labels; the seed is the first of 0–7 whose
# classes are balanced (51 % positive; seeds 0, 1, 6, 7 give 22–81 %).

# %%
f_g = teachers.ground_truth(T.ground_truth)
print(f"ground truth {T.ground_truth}: {f_g.modes} modes, widths {f_g.widths.min():.2f}–{f_g.widths.max():.2f}, "
      f"|A_j| {f_g.amplitudes.abs().min():.2f}–{f_g.amplitudes.abs().max():.2f}")
probe = gaussian_inputs(cfg.test_samples, generator=cfg.generator(1))
print(f"positive class: {(f_g(probe) > 0).double().mean().item():.1%} of {cfg.test_samples} test inputs")

# %% [markdown]
# ## Training a teacher, and what an epoch is
#
# Every teacher is the network of Eq. 1 with $d = 2$, $\sigma_W = \sigma_b = 1$, ReLU, trained
# with Adam ($\beta_1 = 0.9$, $\beta_2 = 0.999$) on the binary cross-entropy of its hard labels.
# S4.1 trains all teachers on *online batches*: "samples are regenerated after each epoch". We
# read this literally with an epoch of one batch:
#
# > **one epoch = `steps_per_epoch` Adam steps, each on `batch_size` inputs drawn afresh from
# > $\mathcal N(0, 5^2 I_2)$** — with `steps_per_epoch` = 1 at every profile, so epoch $e$ is the
# > network after $e$ steps and $e \times$ `batch_size` distinct samples; epoch 0 is the initialization.
#
# It is a setting (`teachers.fig4.steps_per_epoch`, …): with more steps per epoch the stopping
# epochs mean proportionally more training. The Fig. 4 and 5 teachers learn the perfect teacher's
# hard labels $\mathbb 1\{z_{\text{Fig. 2}}(x) > 0\}$, computed on each fresh batch.
#
# `teachers.get(spec, epoch)` trains a teacher through the book's one training loop
# (`kdlib.train.fit`) the first time it is asked for, keeping the weights of its stopping epochs,
# in a folder named by a hash of its specification and of the training code; later calls, from any
# chapter, load them (`torch.load(weights_only=True)`). A killed run resumes from its last
# checkpoint, bit for bit on the CPU, and a file lock lets parallel sweep workers share one run.
# A stopping epoch the run did not keep (`-p teachers.fig4_stop 300`, say) costs only the epochs from
# the kept checkpoint before it, not a new run.

# %%
durations = {}
for name in ("fig2", "fig4", "fig5"):
    spec = getattr(T, name)
    trained = teachers.is_trained(spec, cache_dir=cfg.cache_dir)
    began = time.perf_counter()
    teachers.get(spec, spec.epochs, cache_dir=cfg.cache_dir, device=cfg.device)
    durations[name] = (time.perf_counter() - began, trained)
records = {name: teachers.history(getattr(T, name), cache_dir=cfg.cache_dir) for name in ("fig2", "fig4", "fig5")}
for name, (seconds, cached) in durations.items():
    record = records[name]
    print(f"{name}: {'loaded from the cache' if cached else 'trained'} in {seconds:.1f} s; training took "
          f"{record['train_time_s']:.1f} s on {record['device']} ({record['samples_per_second']:,.0f} samples/s)")

# %% [markdown]
# ## The perfect teacher (Fig. S3)
#
# The Fig. 2 teacher at its last epoch, over the plane, next to the ground truth. Its class
# boundary should follow $f_g$'s zero set wherever inputs are likely (inside the circle of radius
# 10, two standard deviations); far out, where no training input falls, it extrapolates.

# %%
perfect = teachers.get(T.fig2, T.fig2.epochs, cache_dir=cfg.cache_dir, device=cfg.device)
span = 15.0
axis = torch.linspace(-span, span, cfg.grid, dtype=torch.float64)
grid = torch.cartesian_prod(axis, axis)  # rows (x1, x2), x2 fastest
with torch.no_grad():
    z_t = perfect(grid.to(cfg.device, torch.float32)).double().cpu().reshape(cfg.grid, cfg.grid).T
z_g = f_g(grid).reshape(cfg.grid, cfg.grid).T
extent = (-span, span, -span, span)


def field_panel(ax, values, title, label):
    limit = values.abs().max().item() or 1.0
    image = ax.imshow(values, origin="lower", extent=extent, cmap="RdBu_r",
                      norm=mcolors.TwoSlopeNorm(0.0, -limit, limit))
    ax.contour(axis, axis, values, levels=[0.0], colors="black", linewidths=0.8)
    ax.add_patch(Circle((0, 0), 10.0, fill=False, linestyle=":", color="grey"))
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label=label)


fig, axes = plotting.figure(3, width=4.0, height=3.6)
field_panel(axes[0, 0], z_g, "ground truth $f_g$", "$f_g(x)$")
classes = mcolors.ListedColormap([plotting.PALETTE[5], plotting.PALETTE[1]])
axes[0, 1].imshow((z_t > 0).double(), origin="lower", extent=extent, cmap=classes, alpha=0.6)
axes[0, 1].contour(axis, axis, z_t, levels=[0.0], colors="black", linewidths=0.8)
axes[0, 1].contour(axis, axis, z_g, levels=[0.0], colors=plotting.PALETTE[3], linewidths=0.8, linestyles="--")
axes[0, 1].add_patch(Circle((0, 0), 10.0, fill=False, linestyle=":", color="grey"))
axes[0, 1].set_title("decision boundary: teacher (—), $f_g$ (--)")
axes[0, 1].set_xlabel("$x_1$")
axes[0, 1].set_ylabel("$x_2$")
field_panel(axes[0, 2], z_t, "teacher logits $z_t$ (Fig. 2)", "$z_t(x)$")
plotting.publish(fig, "figS3-teacher", paper="Fig. S3")

# %% [markdown]
# ```{glue:figure} figS3-teacher
# :name: fig-s3-teacher
#
# Fig. S3 of the paper: the perfect teacher of Fig. 2 at its last epoch (profile
# {glue:md}`profile-s4t`). **Left:** the ground truth $f_g$ with its class boundary $f_g = 0$.
# **Middle:** the teacher's classes (orange: $z_t > 0$) and decision boundary (black) against
# $f_g$'s (dashed). **Right:** the teacher's logits $z_t$ with their zero contour. The dotted
# circle of radius 10 holds 86 % of the inputs $x \sim \mathcal N(0, 5^2 I)$.
# ```

# %%
perfect_error, perfect_se = teachers.test_error(perfect, T.ground_truth, n=cfg.test_samples)
print(f"Fig. 2 teacher: test error {perfect_error:.2%} ± {perfect_se:.2%} against f_g ({cfg.test_samples} inputs)")
plotting.publish_text("s4t-perfect-error", f"{perfect_error:.2%} ± {perfect_se:.2%}")
claims.check("s4.fig2-teacher-accuracy", "S4.1, Fig. 2", "the 'perfect' teacher of Fig. 2 is accurate: test error "
             "against f_g (%)", measured=100 * perfect_error, relation="<=", expected=2.0, kind="paper",
             partial_tolerance=8.0,
             note="the paper calls it perfect and gives no number; we ask for ≤ 2 % (partly: ≤ 10 %)")

# %% [markdown]
# The Fig. 2 teacher's test error against $f_g$ is {glue:md}`s4t-perfect-error`. Its mistakes
# lie along the boundary and out where inputs are rare; that is the "perfect" teacher of Secs. 3–4,
# perfect in the sense that the students of those sections learn *its* function, not $f_g$.
#
# ## Test error against training epoch
#
# Each teacher's test error at every kept epoch, recorded during training on a fixed sample of
# fresh inputs (its own `test_samples`; the error bars are $\pm$ one standard error
# $\sqrt{p(1-p)/n}$). The Fig. 4 and 5 teachers are measured against the labels they learn (the
# perfect teacher's, solid) and against $f_g$ (dashed). The vertical lines are the stopping epochs
# of Fig. 4 right and Fig. 5 middle at this profile.

# %%
fig, axes = plotting.figure(2, width=4.6, height=3.6)
ax = axes[0, 0]
for color, name in zip(plotting.colors(3), ("fig2", "fig4", "fig5"), strict=True):
    record = records[name]
    epochs = [e + 0.5 if e == 0 else e for e in record["epochs"]]  # epoch 0 drawn at 0.5 on the log axis
    ax.errorbar(epochs, record["test_error"], yerr=record["test_error_se"], color=color, marker="o", markersize=3,
                capsize=2, label=f"{name} (η = {getattr(T, name).lr:g})")
    if "ground_truth_error" in record:
        ax.plot(epochs, record["ground_truth_error"], color=color, linestyle="--", linewidth=0.9)
for stop, color, label in ((T.fig4_stop, plotting.PALETTE[1], "Fig. 4 stop"),
                           (T.fig5_stop, plotting.PALETTE[2], "Fig. 5 stop")):
    ax.axvline(max(stop, 0.5), color=color, linestyle=":", linewidth=1.2)
    ax.annotate(f"{label} = {stop}", (max(stop, 0.5), 0.98), xycoords=("data", "axes fraction"), rotation=90,
                va="top", ha="right", fontsize=7, color=color)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("training epoch $e$ (0 drawn at 0.5)")
ax.set_ylabel("test error")
ax.legend(loc="lower left")
ax = axes[0, 1]
for color, name in zip(plotting.colors(3), ("fig2", "fig4", "fig5"), strict=True):
    record = records[name]
    loss = torch.tensor(record["loss_curve"])
    window = max(1, len(loss) // 100)
    smooth = loss.unfold(0, window, window).mean(1) if window > 1 else loss
    centres = torch.tensor(record["loss_epochs"], dtype=torch.float64)
    centres = centres.unfold(0, window, window).mean(1) if window > 1 else centres
    ax.plot(centres, smooth, color=color, label=name)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("training epoch $e$")
ax.set_ylabel("training loss (binary cross-entropy)")
ax.legend()
plotting.publish(fig, "teachers-test-error")

# %% [markdown]
# ```{glue:figure} teachers-test-error
# :name: fig-teachers-test-error
#
# The teachers of Figs. 2, 4 and 5 during training (profile {glue:md}`profile-s4t`). **Left:** test
# error at each kept epoch (solid: against the labels the teacher learns; dashed: against $f_g$),
# with the stopping epochs of Fig. 4 right and Fig. 5 middle. **Right:** the training loss of each
# epoch's fresh batch, averaged over windows of 1 % of the run.
# ```

# %%
stop4 = records["fig4"]["epochs"].index(T.fig4_stop)
last4 = records["fig4"]["epochs"].index(T.fig4.epochs)
ratio = records["fig4"]["test_error"][stop4] / max(records["fig4"]["test_error"][last4], 1e-12)
print(f"Fig. 4 teacher: test error {records['fig4']['test_error'][stop4]:.2%} at the stop {T.fig4_stop}, "
      f"{records['fig4']['test_error'][last4]:.2%} at the last epoch {T.fig4.epochs} (ratio {ratio:.2f})")
claims.check("s4.fig4-early-stop-worse", "Sec. 4.1, Fig. 4 left", "an early-stopped teacher is a simplified, less "
             "accurate one: test error at the stop / at the last epoch", measured=ratio, relation=">", expected=1.0,
             kind="paper", note=f"{T.fig4.test_samples} test inputs per epoch; the ratio is > 1 beyond noise "
             "when the errors differ by several standard errors")

# %% [markdown]
# ## The Fig. 5 teacher at its stop
#
# S4.1: the Fig. 5 teacher "is early stopped at $e = 5113$ and at a test error of 1.06 % to make
# this phenomenon obvious". The paper does not say against which labels; the teacher learns the
# perfect teacher's, so we compare that error with 1.06 % and show the error against $f_g$ beside it.
# The comparison is loose by construction: our ground truth is not the paper's (which is not
# published), and at `quick` the network is smaller and the run shorter (the stop scaled with it).
# We call the number reproduced within ±0.5 percentage points and partly within ±1.5.

# %%
fig5_stopped = teachers.get(T.fig5, T.fig5_stop, cache_dir=cfg.cache_dir, device=cfg.device)
fig5_error, fig5_se = teachers.test_error(fig5_stopped, T.fig5.labels, n=cfg.test_samples, cache_dir=cfg.cache_dir)
fig5_truth, fig5_truth_se = teachers.test_error(fig5_stopped, T.ground_truth, n=cfg.test_samples)
print(f"Fig. 5 teacher at e = {T.fig5_stop}: test error {fig5_error:.2%} ± {fig5_se:.2%} against the Fig. 2 "
      f"teacher's labels, {fig5_truth:.2%} ± {fig5_truth_se:.2%} against f_g; paper: 1.06 %")
plotting.publish_text("s4t-fig5-error", f"{fig5_error:.2%} ± {fig5_se:.2%}")
plotting.publish_text("s4t-fig5-truth", f"{fig5_truth:.2%} ± {fig5_truth_se:.2%}")
claims.check("s4.fig5-teacher-error", "S4.1, Fig. 5 middle", "the Fig. 5 teacher stopped at its stop epoch has "
             "test error 1.06 % (against the labels it learns)", measured=100 * fig5_error, relation="==",
             expected=1.06, tolerance=0.5, partial_tolerance=1.5, kind="paper",
             note=f"{cfg.test_samples} test inputs (standard error {100 * fig5_se:.2f} points); our f_g is not the "
             "paper's")

# %% [markdown]
# At its stop the Fig. 5 teacher errs on {glue:md}`s4t-fig5-error` of fresh inputs against the
# labels it learns, and {glue:md}`s4t-fig5-truth` against $f_g$ (paper: 1.06 %).
#
# ## The settings of each profile
#
# `paper` uses S4.1's sizes: $L = 5$, $m = 1024$, batches of 4096, η = 5·10⁻⁴ (Fig. 2), 0.01 with
# 32,768 epochs (Fig. 4), 10⁻⁴ with 10,240 epochs (Fig. 5). S4.1 does not state how long the Fig. 2
# teacher trained; we give it 16,384 epochs. `quick` must train all three in about two minutes of
# CPU time, so it narrows the network ($m = 128$, $L = 4$), uses batches of 1024 and shortens the runs
# (1024, 1024 and 1280 epochs). Adam moves each weight by about η per step, so a shorter run
# needs a larger η to travel as far: the Fig. 5 teacher gets η = 8·10⁻⁴ for 1280 epochs with its stop
# at 639 (paper: 10⁻⁴, stop 5113; η × stop is the same), and the Fig. 2 teacher η = 2·10⁻³. The Fig.
# 4 teacher keeps η = 0.01 and its stops $2^k - 1$; at `quick` its Fig. 4-right stop is 127, where it
# is already accurate but measurably worse than at the end of its run (the paper's 511 is 1/64 of its
# run, our 127 is 1/8 of ours: a shorter run has to stop relatively later to give a usable teacher).
# `smoke` only checks that the chapter runs.

# %%
def describe(settings):
    rows = []
    for name in ("fig2", "fig4", "fig5"):
        spec = getattr(settings, name)
        labels = "f_g" if isinstance(spec.labels, teachers.GroundTruthSpec) else f"fig2 @ {spec.labels.epoch}"
        stop = {"fig4": settings.fig4_stop, "fig5": settings.fig5_stop}.get(name, "—")
        rows.append(f"{spec.width} × {spec.depth}, batch {spec.batch_size}, η = {spec.lr:g}, "
                    f"{spec.epochs} epochs, stop {stop}, labels {labels}")
    return rows


header = "| teacher | " + " | ".join(["this run", *TEACHERS]) + " |"
lines = [header, "|" + " --- |" * (len(TEACHERS) + 2)]
columns = [describe(T), *(describe(settings) for settings in TEACHERS.values())]
for i, name in enumerate(("fig2", "fig4", "fig5")):
    lines.append(f"| {name} | " + " | ".join(column[i] for column in columns) + " |")
display(Markdown("\n".join(lines)))
print(f"ground truth: {dataclasses.asdict(T.ground_truth)}; reduction factor r = {T.reduction}; "
      f"one epoch = {T.fig2.steps_per_epoch} step(s) of fresh inputs")

# %% [markdown]
# ## What the `paper` teachers cost
#
# {glue:md}`s4t-gpu-cost`
#
# The cost is paid once: every later chapter loads the kept checkpoints.

# %%
recorded = gpu_measurements()
if recorded is None:
    plotting.publish_text("s4t-gpu-cost", "No GPU measurement is recorded in this checkout "
                                          "(`benchmarks/recorded/gpu.json`).")
else:
    paper_teachers = recorded["teachers_paper"]
    seconds = paper_teachers["seconds"]
    steps = paper_teachers["steps"]
    expected_steps = {name: getattr(TEACHERS["paper"], name).epochs * getattr(TEACHERS["paper"], name).steps_per_epoch
                      for name in ("fig2", "fig4", "fig5")}
    assert steps == expected_steps, f"the recorded run trained {steps} steps, the paper profile {expected_steps}"
    paper_spec = TEACHERS["paper"].fig2
    step_flops = 6 * paper_spec.parameters * paper_spec.batch_size  # forward 2P, backward 4P per sample
    plotting.publish_text("s4t-gpu-cost", (
        f"The `paper` teachers take {sum(expected_steps.values()):,} Adam steps of a width-{paper_spec.width}, "
        f"depth-{paper_spec.depth} network on batches of {paper_spec.batch_size}, about {step_flops / 1e9:.0f} GFLOP "
        "each (forward and backward pass). "
        f"**Measured on one GPU** ({recorded['device']}, {recorded['date']}, torch {recorded['torch']}, "
        f"{paper_teachers['precision']}; `benchmarks/train_paper_teachers.py`): the three `paper` teachers "
        f"trained in {sum(seconds.values()):.0f} s, "
        + ", ".join(f"{name} {seconds[name]:.0f} s ({steps[name] / seconds[name]:.0f} steps/s)" for name in seconds)
        + ", with final test errors of "
        + ", ".join(f"{error:.2%}" for error in paper_teachers["final_test_error"].values())
        + ". One step at TF32 with `torch.compile` took "
        f"{recorded['teacher_step_paper']['ms_per_step']['torch.compile + tf32']:.2f} ms against "
        f"{recorded['teacher_step_paper']['ms_per_step']['fp32']:.2f} ms in float32: at this size the step is "
        "bound by kernel launches and memory traffic, not by arithmetic (`benchmarks/bench_teachers.py`)."))

# %% [markdown]
# ## Claims of this chapter

# %%
claims.table()
