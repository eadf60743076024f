"""Speed tricks of kdlib.train, each measured against its plain alternative in one run.

    .venv/bin/python bench/speed.py [--repeats 5]

Timings on the 2-core build machines jump by up to 20x for a while, so every number is the median
of several repeats, and only ratios measured within this one run are reported.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys

import torch
import torch.nn.functional as F

from kdlib import models
from kdlib.cifar_models import MODELS
from kdlib.losses import kd_loss
from kdlib.models import (
    BatchedMLP,
    HaoCNN,
    StackedHaoCNN,
    StackedMLP,
    hao_student,
    hao_teacher,
    iisc_student,
    pad_same,
    poster_student,
)
from kdlib.timing import median_seconds
from kdlib.train import Recipe, adam, distil_batched, distil_stack, predict, train_augmented


class GroupedNCHW(torch.nn.Module):
    """The stacked students as kdlib had them before: the batch copied to every student's
    channel, both convolutions grouped, activations in NCHW."""

    def __init__(self, students: list[HaoCNN]) -> None:
        super().__init__()
        s = self.n = len(students)
        self.conv1 = torch.nn.Conv2d(s, s * 16, 3, stride=2, groups=s)
        self.conv2 = torch.nn.Conv2d(s * 16, s * 32, 3, stride=2, groups=s)
        self.dense_w = torch.nn.Parameter(torch.randn(s, 32 * 49, 10) * 0.01)
        self.dense_b = torch.nn.Parameter(torch.zeros(s, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        h = self.conv1(pad_same(x.expand(-1, self.n, -1, -1), 3, 2))
        h = models.max_pool_same(F.leaky_relu(h, 0.2))
        h = self.conv2(pad_same(h, 3, 2)).view(b, self.n, 32, 7, 7).permute(1, 0, 3, 4, 2)
        return torch.baddbmm(self.dense_b.unsqueeze(1), h.reshape(self.n, b, -1), self.dense_w)


def _epoch(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor,
           alphas: torch.Tensor) -> None:
    """One epoch of KD steps at batch 32 (the loop of kdlib.train.distil_stack)."""
    opt = adam(model.parameters(), 1e-3)
    s = len(alphas)
    for idx in torch.arange(len(x)).split(32):
        loss = kd_loss(model(x[idx]), t[idx].expand(s, -1, -1), y[idx].expand(s, -1), alphas,
                       3.0)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()


def stacked_layouts(repeats: int, n: int = 1024, students: int = 12) -> tuple[float, float]:
    """One epoch of the stacked students: the old grouped-NCHW model vs kdlib's."""
    x, y, t = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,)), torch.randn(n, 10)
    alphas = torch.linspace(0, 1, students)
    old = GroupedNCHW([hao_student()] * students)
    new = StackedHaoCNN([hao_student()] * students)
    return (median_seconds(lambda: _epoch(old, x, y, t, alphas), repeats),
            median_seconds(lambda: _epoch(new, x, y, t, alphas), repeats))


def adam_variants(repeats: int, steps: int = 300, students: int = 12) -> tuple[float, float]:
    """``steps`` Adam steps on the stacked students' parameters: per-op (foreach) vs fused."""
    params = list(StackedHaoCNN([hao_student()] * students).parameters())
    for p in params:
        p.grad = torch.randn_like(p)

    def run(**kw) -> None:
        opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7, **kw)
        for _ in range(steps):
            opt.step()

    return (median_seconds(lambda: run(foreach=True), repeats),
            median_seconds(lambda: run(fused=True), repeats))


def stacked_vs_loop(repeats: int, n: int = 1024, students: int = 11) -> tuple[float, float]:
    """One epoch of ``students`` distilled students: one stacked model vs one at a time."""
    x, y, t = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,)), torch.randn(n, 10)
    alphas = [i / (students - 1) for i in range(students)]

    def stacked() -> None:
        distil_stack(StackedHaoCNN([hao_student()] * students), x, y, t, alphas, 3.0, 1, 32,
                     1e-3, 0, desc="")

    def loop() -> None:
        for a in alphas:
            distil_stack(StackedHaoCNN([hao_student()]), x, y, t, [a], 3.0, 1, 32, 1e-3, 0,
                         desc="")

    return median_seconds(loop, repeats), median_seconds(stacked, repeats)


def pool_variants(repeats: int, n: int = 500) -> dict[str, float]:
    """The teacher's stride-1 'same' 2x2 max-pool on its real activation shape, three ways."""
    x = torch.randn(n, 256, 14, 14)

    def nchw() -> torch.Tensor:
        return F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=-math.inf), 2, 1)

    def shifted() -> torch.Tensor:
        right = torch.cat([x[..., :, 1:], x[..., :, -1:]], dim=-1)
        rows = torch.maximum(x, right)
        return torch.maximum(rows, torch.cat([rows[..., 1:, :], rows[..., -1:, :]], dim=-2))

    assert torch.equal(nchw(), shifted()) and torch.equal(nchw(), models.max_pool_same(x))
    return {name: median_seconds(fn, repeats) for name, fn in
            [("NCHW pad + max_pool2d", nchw), ("shifted maxima", shifted),
             ("channels-last (kdlib)", lambda: models.max_pool_same(x))]}


def teacher_with_nchw_pool(repeats: int, n: int = 1000) -> tuple[float, float]:
    """Whole-teacher inference with an NCHW max-pool vs kdlib's channels-last one."""
    x = torch.rand(n, 1, 28, 28)
    teacher = hao_teacher()
    fast = median_seconds(lambda: predict(teacher, x), repeats)
    kept = models.max_pool_same
    models.max_pool_same = lambda t, pool=2, stride=1: F.max_pool2d(
        F.pad(t, (0, 1, 0, 1), value=-math.inf), 2, 1)
    try:
        slow = median_seconds(lambda: predict(teacher, x), repeats)
    finally:
        models.max_pool_same = kept
    return slow, fast


def teacher_once_vs_per_epoch(repeats: int, n: int = 1000, students: int = 11) -> dict[str, float]:
    """Teacher forward on the training set vs one epoch of the stacked students."""
    x, y = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,))
    teacher = hao_teacher()
    t = predict(teacher, x)
    alphas = [0.5] * students
    return {
        "teacher logits, once": median_seconds(lambda: predict(teacher, x), repeats),
        "students, one epoch": median_seconds(
            lambda: distil_stack(StackedHaoCNN([hao_student()] * students), x, y, t, alphas,
                                 3.0, 1, 32, 1e-3, 0, desc=""), repeats),
    }


def malloc_env(repeats: int) -> tuple[float, float]:
    """Teacher inference in a fresh process, glibc malloc defaults vs no mmap/trim."""
    code = ("import time, torch, statistics; from kdlib.models import hao_teacher; "
            "from kdlib.train import predict; m = hao_teacher(); x = torch.rand(1000, 1, 28, 28);"
            "predict(m, x); ts = []\n"
            f"for _ in range({repeats}):\n"
            "    s = time.perf_counter(); predict(m, x); ts.append(time.perf_counter() - s)\n"
            "print(statistics.median(ts))")
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    tuned = {**base, "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "17179869184"}
    out = []
    for env in (base, tuned):
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        out.append(float(res.stdout.strip().splitlines()[-1]))
    return out[0], out[1]


def poster_grid_stacked_vs_loop(repeats: int, n: int = 2048,
                                cells: int = 25) -> tuple[float, float]:
    """One epoch of the poster's 5 x 5 grid of dense students: one stack vs one at a time."""
    x, y, t = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,)), torch.randn(n, 10)
    alphas = [(i % 5) / 4 for i in range(cells)]
    temps = [float(1 + i // 5) for i in range(cells)]

    def stacked() -> None:
        distil_stack(StackedMLP([poster_student()] * cells), x, y, t, alphas, temps, 1, 32,
                     1e-3, 0, desc="")

    def loop() -> None:
        for a, temp in zip(alphas, temps, strict=True):
            distil_stack(StackedMLP([poster_student()]), x, y, t, [a], temp, 1, 32, 1e-3, 0,
                         desc="")

    return median_seconds(loop, repeats), median_seconds(stacked, repeats)


class _Lone(torch.nn.Module):
    """One model shaped as a stack of one, for distil_stack."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).unsqueeze(0)


def iisc_seeds_batched_vs_loop(repeats: int, n: int = 4096, seeds: int = 3,
                               hidden: int = 300) -> tuple[float, float]:
    """One epoch of an IISc row (300 units, batch 32) for 3 seeds, each with its own teacher
    and batch order: one BatchedMLP vs one student at a time."""
    x, y = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,))
    t = torch.randn(seeds, n, 10)

    def batched() -> None:
        model = BatchedMLP([iisc_student(hidden) for _ in range(seeds)])
        distil_batched(model, x.flatten(1), y, t, 0.0, 3.5, 1, 32, 1e-3, list(range(seeds)),
                       desc="")

    def loop() -> None:
        for seed in range(seeds):
            distil_stack(_Lone(iisc_student(hidden)), x, y, t[seed], [0.0], 3.5, 1, 32, 1e-3,
                         seed, desc="")

    return median_seconds(loop, repeats), median_seconds(batched, repeats)


def mobilenet_channels_last(repeats: int, n: int = 512) -> dict[str, tuple[float, float]]:
    """One epoch (batch 128, crops and flips) of the teachers chapter's student and its
    MobileNetV2 teacher at width 0.25: NCHW vs channels-last (NHWC) memory order."""
    x, y = torch.rand(n, 3, 32, 32), torch.randint(0, 10, (n,))
    out = {}
    for name in ("MobileNet_v3_small", "MobileNetV2_x0_75"):
        def epoch(cl: bool, name: str = name) -> None:
            torch.manual_seed(0)
            m = MODELS[name](classes=10, width=0.25)
            train_augmented({"m": m}, {"m": Recipe(1.0, lr=1e-3, optimizer="adam")}, x, y, 1,
                            128, 0, desc="", channels_last=cl)
        out[name] = (median_seconds(lambda e=epoch: e(False), repeats),
                     median_seconds(lambda e=epoch: e(True), repeats))
    return out


def teachers_shared_pass(repeats: int, n: int = 512) -> tuple[float, float]:
    """The teachers chapter's 7 mixup students (3 teachers, width 0.25), one epoch: each in its
    own pass (its teacher's outputs computed for it alone) vs one shared pass (each teacher's
    outputs once per batch for all its students)."""
    x, y = torch.rand(n, 3, 32, 32), torch.randint(0, 10, (n,))
    torch.manual_seed(0)
    teachers = {name: MODELS[name](classes=10, width=0.25) for name in
                ("ResNet44", "VGG11_bn", "MobileNetV2_x0_75")}
    rows = [("ResNet44", 5.0), ("VGG11_bn", 5.0)] + [("MobileNetV2_x0_75", t)
                                                      for t in (5.0, 2.0, 10.0, 10.0, 5.0)]
    recipes = {str(i): Recipe(0.0, t, 1e-3, "adam", name) for i, (name, t) in enumerate(rows)}

    def students() -> dict[str, torch.nn.Module]:
        torch.manual_seed(0)
        return {k: MODELS["MobileNet_v3_small"](classes=10, width=0.25) for k in recipes}

    def separate() -> None:
        for k, m in students().items():
            r = recipes[k]
            train_augmented({k: m}, {k: r}, x, y, 1, 128, 0, {r.teacher: teachers[r.teacher]},
                            mixup_concentration=1.0, desc="", channels_last=True)

    def shared() -> None:
        train_augmented(students(), recipes, x, y, 1, 128, 0, teachers,
                        mixup_concentration=1.0, desc="", channels_last=True)

    return median_seconds(separate, repeats), median_seconds(shared, repeats)


def flush_denormals(repeats: int, steps: int = 2) -> tuple[float, float]:
    """A confident teacher's training step with denormals kept, and flushed (kdlib.numerics).

    The teacher is made confident as a long-trained one is: its logits on the batch are spread
    so that the softmax of the other classes falls into the denormal range. The learning rate
    is 0, so every step sees the same state. One thread: torch's flag is per thread, and only
    this one is switched off here.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model, x = hao_teacher(), torch.rand(32, 1, 28, 28)
    y = torch.zeros(32, dtype=torch.long)
    with torch.no_grad():  # logit gaps of 88-103 nats: e^-88 ... e^-103 are denormal floats
        model.dense.weight.mul_(0.01)
        model.dense.bias.copy_(-torch.tensor([0.0, 88, 90, 92, 94, 96, 98, 100, 102, 103]))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)

    def train(flush: bool) -> None:
        torch.set_flush_denormal(flush)
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    try:
        kept = median_seconds(lambda: train(False), repeats)
        flushed = median_seconds(lambda: train(True), repeats)
    finally:
        torch.set_flush_denormal(True)
        torch.set_num_threads(threads)
    return kept, flushed


def main() -> None:
    """Run every measurement and print a table of medians and ratios."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    r = ap.parse_args().repeats
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, medians of {r}\n")
    print("| trick | plain (s) | with trick (s) | speed-up |\n| --- | --- | --- | --- |")
    loop, stacked = stacked_vs_loop(r)
    print(f"| 11 students as one stacked model (1 epoch, 1024 images) | {loop:.3f} | "
          f"{stacked:.3f} | {loop / stacked:.2f}x |")
    old, new = stacked_layouts(r)
    print(f"| stack: shared patches + channels-last, not copied batch + grouped NCHW (12 "
          f"students, 1 epoch, 1024 images) | {old:.3f} | {new:.3f} | {old / new:.2f}x |")
    plain, fused = adam_variants(r)
    print(f"| fused Adam, not per-op (300 steps, 12 students' parameters) | {plain:.3f} | "
          f"{fused:.3f} | {plain / fused:.2f}x |")
    pools = pool_variants(r)
    base = pools["NCHW pad + max_pool2d"]
    for name, secs in pools.items():
        print(f"| teacher max-pool as {name} (500 x 256 x 14 x 14) | {base:.3f} | {secs:.3f} | "
              f"{base / secs:.2f}x |")
    slow, fast = teacher_with_nchw_pool(r)
    print(f"| whole teacher with the channels-last max-pool (1000 images) | {slow:.3f} | "
          f"{fast:.3f} | {slow / fast:.2f}x |")
    once = teacher_once_vs_per_epoch(r)
    t, s = once["teacher logits, once"], once["students, one epoch"]
    print(f"| teacher logits computed once, not every epoch (1000 images, 11 students) | "
          f"{t + s:.3f} | {s:.3f} | {(t + s) / s:.2f}x per epoch |")
    loop, stacked = poster_grid_stacked_vs_loop(r)
    print(f"| poster: 25 grid cells (T x alpha) as one stacked model (1 epoch, 2048 images) | "
          f"{loop:.3f} | {stacked:.3f} | {loop / stacked:.2f}x |")
    loop, batched = iisc_seeds_batched_vs_loop(r)
    print(f"| IISc: 3 seeds' students (own teacher, own batches) as one batched model (1 epoch, "
          f"4096 images, 300 units) | {loop:.3f} | {batched:.3f} | {loop / batched:.2f}x |")
    for name, (plain, last) in mobilenet_channels_last(r).items():
        print(f"| teachers chapter: {name} x0.25 in channels-last, not NCHW (1 training epoch, "
              f"512 images) | {plain:.3f} | {last:.3f} | {plain / last:.2f}x |")
    separate, shared = teachers_shared_pass(r)
    print(f"| teachers chapter: 7 mixup students and 3 teachers in one pass, not 7 passes (1 "
          f"epoch, 512 images) | {separate:.3f} | {shared:.3f} | {separate / shared:.2f}x |")
    kept, flushed = flush_denormals(r)
    print(f"| denormals flushed to zero (a confident teacher, 2 training steps, 1 thread) | "
          f"{kept:.3f} | {flushed:.3f} | {kept / flushed:.2f}x |")
    plain, tuned = malloc_env(r)
    print(f"| MALLOC_MMAP_MAX_=0 + high MALLOC_TRIM_THRESHOLD_ (teacher, 1000 images) | "
          f"{plain:.3f} | {tuned:.3f} | {plain / tuned:.2f}x |")


if __name__ == "__main__":
    main()
