"""Train the `paper` teachers of S4.1 (Figs. 2, 4, 5) end to end and time each: the measurement behind
the README's and chapter s4-teachers' statement of what the `paper` teachers cost on one GPU.

    python benchmarks/train_paper_teachers.py --device cuda [--profile paper] [--cache DIR]

Each teacher is trained by :func:`kdlib.teachers.get` exactly as the chapters train it (same loop,
checkpoints at every stopping epoch, the parent first for Figs. 4 and 5), into a fresh cache folder,
so nothing is loaded from an earlier run. Prints wall time, steps and steps/s per teacher, and the
test error at each stopping epoch; the last line is the total.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from kdlib import resolve_device, teachers
from kdlib.book.chapters import TEACHERS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--profile", default="paper", choices=sorted(TEACHERS))
    parser.add_argument("--cache", default=None, help="cache root (default: a new temporary folder)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""), flush=True)
    cache = args.cache or tempfile.mkdtemp(prefix="kd-teachers-")
    settings = TEACHERS[args.profile]
    total = 0.0
    for name in ("fig2", "fig4", "fig5"):
        spec = getattr(settings, name)
        steps = spec.epochs * spec.steps_per_epoch
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        final = teachers.get(spec, spec.epochs, cache_dir=cache, device=device, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        total += seconds
        error, error_se = teachers.test_error(final, spec.labels, cache_dir=cache)
        print(f"{args.profile} {name}: width {spec.width}, depth {spec.depth}, batch {spec.batch_size}, "
              f"{spec.epochs} epochs ({steps} steps, {steps / seconds:.0f} steps/s): {seconds:.1f} s "
              f"(its parent trained before); test error at the last epoch {error:.2%} ± {error_se:.2%}", flush=True)
    print(f"{args.profile} teachers in all: {total:.1f} s on {device}", flush=True)


if __name__ == "__main__":
    main()
