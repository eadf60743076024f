"""The alpha sweep of one seed, three ways, on the same data and step count, in one run.

    .venv/bin/python bench/sweep.py [--images 1024] [--repeats 3]

(a) the seed's way: Keras ``Distiller.fit``, one alpha after another, teacher run every step;
(b) plain torch, one alpha after another, teacher run every step;
(c) kdlib: teacher logits computed once, all students of the seed as one stacked model.
Each sweep is 11 alphas plus the scratch student at batch 32, timed for 1 and for 3 epochs:
the difference is the cost of an epoch once running, without each way's start-up (Keras traces
a graph per alpha; kdlib runs the teacher once). At the paper's 1000 epochs start-up is
negligible, so the per-epoch ratio is the one that decides a paper-scale run. Prints median
times, both ratios, the achieved student-training GFLOP/s against a measured matrix-multiply
peak, and what one paper-scale seed would take each way.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from kdlib import distiller  # kdlib first: it quiets TensorFlow before Keras loads
from kdlib.losses import kd_loss
from kdlib.models import (
    StackedHaoCNN,
    hao_student,
    hao_teacher,
    keras_hao_student,
    keras_hao_teacher,
)
from kdlib.timing import median_seconds, per_call_seconds
from kdlib.train import adam, distil_stack, predict

ALPHAS = [round(0.1 * i, 1) for i in range(11)] + [1.0]  # the last one: the scratch student
EPOCHS = (1, 3)  # timed epoch counts: their difference is the per-epoch cost
PAPER_EPOCHS, PAPER_IMAGES = 1000, 10_000


def student_flops_per_image() -> float:
    """FLOPs of one training step of the student, per image (torch's flop counter)."""
    model, x = hao_student(), torch.rand(32, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return counter.get_total_flops() / 32


def matmul_peak(repeats: int) -> float:
    """Measured fp32 matrix-multiply GFLOP/s of this machine (2048 x 2048)."""
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    return 2 * 2048**3 / median_seconds(lambda: a @ b, repeats * 3) / 1e9


def main() -> None:
    """Time the three ways and print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n, r = args.images, args.repeats
    x, y = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,))
    teacher = hao_teacher()
    k_teacher = keras_hao_teacher()
    k_init = keras_hao_student()

    def keras_way(epochs: int) -> None:
        distiller.fit_students(k_init, k_teacher, x.numpy(), y.numpy(), ALPHAS, 3.0, epochs,
                               32, 1e-3, 0, [], on_snapshot=lambda *a: None)

    def plain_torch(epochs: int) -> None:
        teacher.eval()
        for alpha in ALPHAS:
            torch.manual_seed(0)
            student = hao_student()
            opt = adam(student.parameters(), 1e-3)
            gen = torch.Generator().manual_seed(0)
            for _ in range(epochs):
                for idx in torch.randperm(n, generator=gen).split(32):
                    with torch.no_grad():
                        t = teacher(x[idx])
                    loss = kd_loss(student(x[idx]), t, y[idx], alpha, 3.0)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()

    def kdlib_way(epochs: int) -> None:
        t = predict(teacher, x)
        stack = StackedHaoCNN([hao_student()] * len(ALPHAS))
        distil_stack(stack, x, y, t, ALPHAS, 3.0, epochs, 32, 1e-3, 0, desc="")

    ways = {"(a) Keras Distiller.fit, one alpha after another": keras_way,
            "(b) plain torch, one alpha after another": plain_torch,
            "(c) kdlib: teacher once, students stacked": kdlib_way}
    for fn in ways.values():  # warm-up: imports, graph tracing caches, oneDNN kernels
        fn(1)
    calls = {f"{name}|{e}": (lambda fn=fn, e=e: fn(e)) for name, fn in ways.items()
             for e in EPOCHS}
    table = per_call_seconds(calls, rounds=r, repeats=1, warmup=0)
    med = table.groupby("model")["seconds"].median()
    first, last = EPOCHS
    rows = {}
    for name in ways:
        per_epoch = (med[f"{name}|{last}"] - med[f"{name}|{first}"]) / (last - first)
        short = med[f"{name}|{first}"]
        rows[name] = {"short": short, "per_epoch": per_epoch, "start": short - first * per_epoch}
    flops = student_flops_per_image() * n * len(ALPHAS)
    peak = matmul_peak(r)
    fast = rows["(c) kdlib: teacher once, students stacked"]
    print(f"{n} images, {len(ALPHAS)} students at batch 32, timed for {first} and {last} "
          f"epochs; torch {torch.__version__}, keras {distiller.keras.__version__}, "
          f"{torch.get_num_threads()} threads; medians of {r} interleaved rounds\n")
    print(f"| way | {first} epoch (s) | start-up (s) | per epoch (s) | kdlib's speed-up, "
          f"{first} epoch | kdlib's speed-up per epoch | student GFLOP/s | share of matmul "
          "peak | one paper-scale seed (h) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, w in rows.items():
        gflops = flops / w["per_epoch"] / 1e9
        paper = (w["start"] + w["per_epoch"] * PAPER_EPOCHS * PAPER_IMAGES / n) / 3600
        print(f"| {name} | {w['short']:.2f} | {w['start']:.2f} | {w['per_epoch']:.2f} | "
              f"{w['short'] / fast['short']:.1f}x | {w['per_epoch'] / fast['per_epoch']:.1f}x | "
              f"{gflops:.1f} | {gflops / peak:.1%} | {paper:.1f} |")
    print(f"\nmatrix-multiply peak: {peak:.0f} GFLOP/s; student training step: "
          f"{student_flops_per_image() / 1e6:.2f} MFLOP per image; kdlib's students run at "
          f"{n * len(ALPHAS) / fast['per_epoch']:,.0f} student-images/s. A paper-scale seed "
          f"is {len(ALPHAS)} students x {PAPER_IMAGES:,} images x {PAPER_EPOCHS} epochs: "
          "start-up plus that many epochs at the measured per-epoch rate.")


if __name__ == "__main__":
    np.random.seed(0)
    main()
