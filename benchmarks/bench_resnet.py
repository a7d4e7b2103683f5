"""Training throughput of the CIFAR ResNets (Fig. 5 left, S2) next to their analytic FLOPs and the hardware peak.

    python benchmarks/bench_resnet.py [--device cpu] [--widths 64 16] [--batch 32] [--steps 3] [--threads 1]
    python benchmarks/bench_resnet.py --device cuda --models resnet18 resnet50 --batch 256 --steps 20
    python benchmarks/bench_resnet.py --device cuda --widths 64 --batch 512 --teacher resnet50 --compile

One training step is forward, the distillation loss (``kdlib.losses.multiclass_kd_loss`` against
fixed teacher logits, so the teacher's own forward is not counted), backward and an SGD step with
momentum and weight decay, on random 32×32 images. FLOPs per image come from
``kdlib.resnet.forward_flops`` (convolutions and the linear layer, 2 per multiply-add); a training
step costs ≈ 3× the forward (forward, gradient with respect to activations, gradient with respect
to weights), so achieved FLOP/s = images/s × 3 × forward FLOPs. Batch norm, ReLU, the optimizer
and the loss are not counted: they add memory traffic, not arithmetic.

On CUDA four variants run: float32 (cuDNN convolutions use TF32 tensor cores by default,
``torch.backends.cudnn.allow_tf32``), float32 with channels_last, bfloat16 autocast, and bfloat16
autocast with channels_last, and each is compared with the dense tensor-core peak of its number
format. With ``--teacher`` the step that chapter 05's student tasks actually run is timed as well
(``kdlib.distill.time_kd_step``: augmentation and normalisation on the device, the teacher's forward
pass, the student's forward and backward pass and SGD step, bf16 autocast and channels-last on CUDA,
``--compile`` adding ``torch.compile``); its FLOPs are 3× the student's forward plus the teacher's
forward, and its images/s turn chapter 05's estimate of the `paper` profile into a measurement.
Peaks are the H100 SXM datasheet figures (H200 has the same GH100 compute); pass
``--peak-tflops`` for another card. A line also times the data pipeline (``random_crop_flip`` and
``normalize``) to show it is not what limits training.
"""

from __future__ import annotations

import argparse
import time

import torch

from kdlib.distill import time_kd_step
from kdlib.images import normalize, random_crop_flip
from kdlib.losses import multiclass_kd_loss
from kdlib.resnet import forward_flops, resnet

# NVIDIA H100 SXM5 datasheet, dense (no 2:4 sparsity) peak arithmetic rates in FLOP/s.
H100_PEAK_FLOPS = {
    "bf16": 989e12,  # bfloat16 / float16 tensor cores
    "tf32": 494.7e12,  # TF32 tensor cores: what cuDNN uses for float32 convolutions by default
    "fp32": 66.9e12,  # float32 on CUDA cores (matmuls with TF32 disabled)
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    steps: int,
    warmup: int,
    bf16: bool,
    device: torch.device,
) -> float:
    """Seconds per training step, the mean over ``steps`` after ``warmup`` untimed steps."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    model.train()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(images)
        loss = multiclass_kd_loss(logits, teacher_logits, labels, rho=0.5, T=4.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / steps


def format_rate(flops_per_second: float) -> str:
    return f"{flops_per_second / 1e12:.2f} T" if flops_per_second >= 1e12 else f"{flops_per_second / 1e9:.1f} G"


def peak_for(variant: str, device: torch.device, override: float | None) -> float | None:
    if device.type != "cuda":
        return None
    if override is not None:
        return override * 1e12
    name = torch.cuda.get_device_name(device)
    if "H100" not in name and "H200" not in name:
        return None
    if variant.startswith("bf16"):
        return H100_PEAK_FLOPS["bf16"]
    return H100_PEAK_FLOPS["tf32" if torch.backends.cudnn.allow_tf32 else "fp32"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=["resnet18"])
    parser.add_argument("--widths", nargs="+", type=int, default=[64, 16], help="base channels (64 = He et al.)")
    parser.add_argument("--batch", type=int, default=None, help="images per step (default 32 on CPU, 256 on CUDA)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 3 on CPU, 20 on CUDA)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 1 on CPU, 5 on CUDA)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (1: on a 2-core machine shared with other jobs, 2 threads ran 1.5-4× slower)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="peak of the card, if not an H100/H200")
    parser.add_argument("--teacher", default=None, help="also time chapter 05's KD step with this teacher (resnet50)")
    parser.add_argument("--teacher-width", type=int, default=64, help="the teacher's base channels")
    parser.add_argument("--compile", action="store_true", help="with --teacher on CUDA: also time it compiled")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch or (256 if cuda else 32)
    steps = args.steps or (20 if cuda else 3)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    if cuda:
        torch.backends.cudnn.benchmark = True  # pick the fastest convolution algorithm for each shape once
    variants = ["fp32", "fp32 channels_last", "bf16 autocast", "bf16 autocast channels_last"] if cuda else ["fp32"]

    generator = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (batch, 3, 32, 32), generator=generator, dtype=torch.uint8).to(device)
    images = normalize(raw, [0.5] * 3, [0.25] * 3)
    labels = torch.randint(0, 10, (batch,), generator=generator).to(device)
    teacher_logits = torch.randn(batch, 10, generator=generator).to(device)

    where = torch.cuda.get_device_name(device) if cuda else f"CPU, {args.threads} thread(s)"
    print(f"ResNet training step on {where}: batch {batch}, 32×32×3, {steps} timed steps after {warmup} warm-up")
    print(f"{'model':<9}{'width':>6}  {'variant':<28}{'ms/step':>9}{'images/s':>10}"
          f"{'GFLOP/img fwd':>15}{'train FLOP/s':>14}{'% of peak':>11}")
    for name in args.models:
        for width in args.widths:
            forward = forward_flops(resnet(name, width=width), 32)
            for variant in variants:
                model = resnet(name, width=width, generator=torch.Generator().manual_seed(1)).to(device)
                inputs = images
                if "channels_last" in variant:
                    model = model.to(memory_format=torch.channels_last)
                    inputs = images.contiguous(memory_format=torch.channels_last)
                seconds = time_training(model, inputs, labels, teacher_logits, steps=steps, warmup=warmup,
                                        bf16=variant.startswith("bf16"), device=device)
                per_second = batch / seconds
                achieved = per_second * 3 * forward
                peak = peak_for(variant, device, args.peak_tflops)
                share = f"{100 * achieved / peak:.1f} %" if peak else "—"
                print(f"{name:<9}{width:>6}  {variant:<28}{1e3 * seconds:>9.1f}{per_second:>10.0f}"
                      f"{forward / 1e9:>15.3f}{format_rate(achieved):>14}{share:>11}")
                del model

    if args.teacher:
        teacher_forward = forward_flops(resnet(args.teacher, width=args.teacher_width), 32)
        print(f"chapter 05's student step with a {args.teacher}×{args.teacher_width} teacher "
              f"(kdlib.distill.time_kd_step):")
        print(f"{'model':<9}{'width':>6}  {'variant':<28}{'ms/step':>9}{'images/s':>10}"
              f"{'GFLOP/img step':>15}{'train FLOP/s':>14}{'% of peak':>11}")
        for name in args.models:
            for width in args.widths:
                flops = 3 * forward_flops(resnet(name, width=width), 32) + teacher_forward
                for compiled in ([False, True] if args.compile and cuda else [False]):
                    seconds = time_kd_step(name, width, teacher_arch=args.teacher, teacher_width=args.teacher_width,
                                           batch_size=batch, device=str(device), compile=compiled, steps=steps,
                                           warmup=warmup)
                    peak = peak_for("bf16", device, args.peak_tflops)
                    achieved = batch / seconds * flops
                    share = f"{100 * achieved / peak:.1f} %" if peak else "—"
                    variant = ("bf16 channels_last" if cuda else "fp32") + (" compiled" if compiled else "")
                    print(f"{name:<9}{width:>6}  {variant:<28}{1e3 * seconds:>9.1f}{batch / seconds:>10.0f}"
                          f"{flops / 1e9:>15.3f}{format_rate(achieved):>14}{share:>11}")

    augment_generator = torch.Generator(device=device).manual_seed(2)
    reps = 20 if cuda else 5

    def augment() -> torch.Tensor:
        return normalize(random_crop_flip(raw, 4, augment_generator), [0.5] * 3, [0.25] * 3)

    augment()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(reps):
        augment()
    synchronize(device)
    print(f"data pipeline (random_crop_flip + normalize, uint8 → float32): "
          f"{batch * reps / (time.perf_counter() - start):,.0f} images/s")
    if cuda:
        peaks = ", ".join(f"{key} {value / 1e12:g} TFLOP/s" for key, value in H100_PEAK_FLOPS.items())
        print(f"peaks used (H100 SXM dense): {peaks}; float32 rows use TF32 when cudnn.allow_tf32 "
              f"(now {torch.backends.cudnn.allow_tf32})")


if __name__ == "__main__":
    main()
