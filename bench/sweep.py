"""The alpha sweep of one seed, three ways, on the same data and step count, in one run.

    .venv/bin/python bench/sweep.py [--images 1024] [--repeats 3]

(a) the seed's way: Keras ``Distiller.fit``, one alpha after another, teacher run every step;
(b) plain torch, one alpha after another, teacher run every step;
(c) kdlib: teacher logits computed once, all students of the seed as one stacked model.
Each sweep is 11 alphas plus the scratch student, one epoch at batch 32. Prints median times,
the ratios, and the achieved student-training GFLOP/s against a measured matrix-multiply peak.
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
from kdlib.timing import median_seconds
from kdlib.train import adam, distil_stack, predict

ALPHAS = [round(0.1 * i, 1) for i in range(11)] + [1.0]  # the last one: the scratch student


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

    def keras_way() -> None:
        distiller.fit_students(k_init, k_teacher, x.numpy(), y.numpy(), ALPHAS, 3.0, 1, 32,
                               1e-3, 0, [], on_snapshot=lambda *a: None)

    def plain_torch() -> None:
        teacher.eval()
        for alpha in ALPHAS:
            torch.manual_seed(0)
            student = hao_student()
            opt = adam(student.parameters(), 1e-3)
            for idx in torch.randperm(n, generator=torch.Generator().manual_seed(0)).split(32):
                with torch.no_grad():
                    t = teacher(x[idx])
                loss = kd_loss(student(x[idx]), t, y[idx], alpha, 3.0)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    def kdlib_way() -> None:
        t = predict(teacher, x)
        stack = StackedHaoCNN([hao_student()] * len(ALPHAS))
        distil_stack(stack, x, y, t, ALPHAS, 3.0, 1, 32, 1e-3, 0, desc="")

    times = {"(a) Keras Distiller.fit, one alpha after another": median_seconds(keras_way, r),
             "(b) plain torch, one alpha after another": median_seconds(plain_torch, r),
             "(c) kdlib: teacher once, students stacked": median_seconds(kdlib_way, r)}
    flops = student_flops_per_image() * n * len(ALPHAS)
    peak = matmul_peak(r)
    print(f"{n} images, {len(ALPHAS)} students, 1 epoch at batch 32; torch "
          f"{torch.__version__}, keras {distiller.keras.__version__}, "
          f"{torch.get_num_threads()} threads; "
          f"medians of {r}\n")
    print("| way | seconds | kdlib's speed-up | student GFLOP/s | share of matmul peak |")
    print("| --- | --- | --- | --- | --- |")
    fast = times["(c) kdlib: teacher once, students stacked"]
    for name, secs in times.items():
        gflops = flops / secs / 1e9
        print(f"| {name} | {secs:.2f} | {secs / fast:.1f}x | {gflops:.1f} | "
              f"{gflops / peak:.1%} |")
    print(f"\nmatrix-multiply peak: {peak:.0f} GFLOP/s; student training step: "
          f"{student_flops_per_image() / 1e6:.2f} MFLOP per image")
    t = predict(teacher, x)
    students = median_seconds(lambda: distil_stack(StackedHaoCNN([hao_student()] * len(ALPHAS)),
                                                x, y, t, ALPHAS, 3.0, 1, 32, 1e-3, 0, desc=""),
                           r)
    per_seed = students / n * 10_000 * 1000 / 3600
    print(f"(c) without the one-off teacher pass: {students:.2f} s, i.e. "
          f"{n * len(ALPHAS) / students:,.0f} student-images/s; the paper-scale sweep of one "
          f"seed (12 students x 10,000 images x 1000 epochs) at that rate: {per_seed:.1f} h")


if __name__ == "__main__":
    np.random.seed(0)
    main()
