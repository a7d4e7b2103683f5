"""Training throughput of the S4.1 teachers next to their FLOPs and the hardware peak; the `paper` estimate.

    python benchmarks/bench_teachers.py                          # CPU: the three profiles' sizes, a few steps each
    python benchmarks/bench_teachers.py --device cuda --steps 200 --accuracy-epochs 400   # GPU variants too

One step is what ``kdlib.teachers`` runs, through ``kdlib.train.fit`` on ``OnlineBatches``: draw
``batch`` inputs x ~ N(0, 5² I₂), label them (the ground truth f_g, or a parent teacher's forward
pass for the Fig. 4 and 5 teachers), forward, binary cross-entropy, backward, Adam. Its arithmetic
is ≈ 3 × 2 × P × batch FLOPs (forward 2P per sample, backward twice that; P parameters), plus
2 × P × batch for a parent's forward. Bias additions, ReLU, the loss and Adam are not counted.

On CUDA four variants run: float32 with TF32 matmuls off (CUDA cores), TF32 on, bfloat16 autocast,
and torch.compile (float32, TF32 on); each is compared with the dense peak of its number format,
and, with ``--accuracy-epochs``, trains a quick-size Fig. 2 teacher to measure the variant's effect
on the test error. On the CPU only float32 runs, with 1 and 2 threads.

The last lines estimate the time of every `paper` teacher (Fig. 2, 4, 5: 59,392 steps of a width-1024,
depth-5 network on batches of 4096) on one GPU from the measured CPU cost per FLOP and an assumed GPU
efficiency: an *estimate*, not a measurement, wherever no GPU was used.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from kdlib import resolve_device, teachers
from kdlib.book.chapters import TEACHERS
from kdlib.data import gaussian_inputs
from kdlib.train import OnlineBatches, fit

# NVIDIA H100 SXM5 datasheet, dense peak arithmetic rates in FLOP/s (H200: same GH100 compute).
H100_PEAK_FLOPS = {
    "fp32": 67e12,  # float32 on CUDA cores (matmuls with TF32 disabled)
    "tf32": 495e12,  # TF32 tensor cores (torch.backends.cuda.matmul.allow_tf32 = True)
    "bf16": 989e12,  # bfloat16 tensor cores (autocast)
}


def step_flops(parameters: int, batch: int, parent: bool) -> float:
    """FLOPs of one teacher step: forward + backward (3 × 2P per sample), plus a parent's forward (2P)."""
    return (6.0 + (2.0 if parent else 0.0)) * parameters * batch


def run(spec: teachers.TeacherSpec, *, steps: int, device: torch.device, parent: nn.Module | None,
        bf16: bool = False, compile: bool = False, generator_seed: int = 0) -> tuple[float, nn.Module]:
    """Train ``spec``'s network for ``steps`` steps as kdlib.teachers does; return (seconds per step, model).

    The first two steps (allocation, compilation) are run and not timed.
    """
    truth = teachers.label_function(teachers.root_ground_truth(spec))

    def label(x: torch.Tensor) -> torch.Tensor:
        if parent is None:
            return truth(x)
        with torch.no_grad():
            return (parent(x) > 0).to(x.dtype)

    def sample(n: int, generator: torch.Generator | None):
        x = gaussian_inputs(n, 2, generator=generator, dtype=torch.float32, device=device)
        return x, label(x)

    model = teachers._network(spec, device)
    network = torch.compile(model) if compile else model

    def loss_fn(_, batch):
        x, y = batch
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            z = network(x)
        return nn.functional.binary_cross_entropy_with_logits(z.float(), y)

    optimizer = torch.optim.Adam(model.parameters(), lr=spec.lr, betas=(0.9, 0.999))
    data = OnlineBatches(sample, spec.batch_size)
    generator = torch.Generator().manual_seed(generator_seed)
    fit(model, loss_fn, optimizer, data, epochs=2, generator=generator)  # warm-up, not timed
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    began = time.perf_counter()
    fit(model, loss_fn, optimizer, data, epochs=steps, generator=generator)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - began) / steps, model


def report(label: str, spec: teachers.TeacherSpec, seconds: float, parent: bool, peak: float | None) -> float:
    flops = step_flops(spec.parameters, spec.batch_size, parent)
    rate = flops / seconds
    share = f", {rate / peak:6.1%} of peak" if peak else ""
    print(f"  {label:<28} {1e3 * seconds:9.2f} ms/step  {spec.batch_size / seconds:12,.0f} samples/s  "
          f"{flops / 1e9:8.2f} GFLOP/step  {rate / 1e9:9.1f} GFLOP/s{share}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--profiles", nargs="+", default=["smoke", "quick", "paper"])
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: about 2 s of CPU work)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU thread counts to time")
    parser.add_argument("--accuracy-epochs", type=int, default=0,
                        help="CUDA: train a quick-size Fig. 2 teacher this long per variant and report its test error")
    parser.add_argument("--gpu-efficiency", type=float, nargs=2, default=(0.3, 0.7),
                        help="range of the fraction of the TF32 peak assumed for the paper estimate")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))

    cpu_rate = {}
    for profile in args.profiles:
        settings = TEACHERS[profile]
        spec = settings.fig2
        print(f"profile {profile}: width {spec.width}, depth {spec.depth}, batch {spec.batch_size}, "
              f"P = {spec.parameters:,} parameters")
        steps = args.steps or max(2, min(500, int(2.0 / max(step_flops(spec.parameters, spec.batch_size, False)
                                                            / 10e9, 1e-4))))
        parent = teachers._network(spec, device).eval().requires_grad_(False)  # a stand-in parent of the same size
        if device.type == "cpu":
            for threads in args.threads:
                torch.set_num_threads(threads)
                seconds, _ = run(spec, steps=steps, device=device, parent=None)
                cpu_rate[(profile, threads)] = report(f"fp32, {threads} thread(s), f_g labels", spec, seconds,
                                                      False, None)
                if profile != "paper":  # at paper size a parent's forward is timed on the GPU only
                    seconds, _ = run(spec, steps=steps, device=device, parent=parent)
                    report(f"fp32, {threads} thread(s), parent labels", spec, seconds, True, None)
            continue
        variants = [("fp32 (TF32 off)", False, False, False, "fp32"), ("TF32", True, False, False, "tf32"),
                    ("bf16 autocast", True, True, False, "bf16"), ("torch.compile + TF32", True, False, True, "tf32")]
        for label, tf32, bf16, compiled, peak in variants:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            seconds, _ = run(spec, steps=steps, device=device, parent=None, bf16=bf16, compile=compiled)
            report(label, spec, seconds, False, H100_PEAK_FLOPS[peak])
        if args.accuracy_epochs:
            quick = TEACHERS["quick"].fig2
            print(f"  test error of a quick-size Fig. 2 teacher after {args.accuracy_epochs} epochs, per variant:")
            for label, tf32, bf16, compiled, _ in variants:
                torch.backends.cuda.matmul.allow_tf32 = tf32
                _, model = run(quick, steps=args.accuracy_epochs, device=device, parent=None, bf16=bf16,
                               compile=compiled)
                error, se = teachers.test_error(model.eval(), quick.labels)
                print(f"    {label:<24} {error:.3%} ± {se:.3%}")
        torch.backends.cuda.matmul.allow_tf32 = False

    paper = TEACHERS["paper"]
    flops = sum(spec.epochs * spec.steps_per_epoch * step_flops(spec.parameters, spec.batch_size,
                                                                isinstance(spec.labels, teachers.ParentLabels))
                for spec in (paper.fig2, paper.fig4, paper.fig5))
    steps = sum(spec.epochs * spec.steps_per_epoch for spec in (paper.fig2, paper.fig4, paper.fig5))
    print(f"paper profile: {steps:,} steps, {flops:.3g} FLOP for the three teachers")
    for (profile, threads), rate in cpu_rate.items():
        if profile == "paper":
            print(f"  measured CPU rate at paper size ({threads} thread(s)): {rate / 1e9:.1f} GFLOP/s → "
                  f"{flops / rate / 3600:,.0f} hours on this CPU")
    low, high = args.gpu_efficiency
    for name in ("fp32", "tf32"):
        peak = H100_PEAK_FLOPS[name]
        print(f"  ESTIMATE on one H100, {name}: {flops / (high * peak) / 60:.1f}–{flops / (low * peak) / 60:.1f} min "
              f"at {low:.0%}–{high:.0%} of the {peak / 1e12:.0f} TFLOP/s peak, plus a floor of ~0.3 ms/step of "
              f"kernel launches and fit's per-epoch checks ({steps * 0.3e-3 / 60:.1f} min)")


if __name__ == "__main__":
    main()
