"""Where one training step of the paper's alpha sweep spends its time, and what that bounds.

    .venv/bin/python bench/step_profile.py [--rounds 3] [--steps 100]

One step: the 12 students of a seed (11 alphas and the scratch student) as one
:class:`~kdlib.models.StackedHaoCNN`, a batch of 32, the KD loss, backward and Adam, as
``kdlib.train.distil_stack`` runs it. torch's profiler splits the step's time by operator into
groups; every share is the median over rounds. The step time (median, without the profiler)
projects one paper-scale seed (1000 epochs of 313 steps), and the share of the convolutions and
matrix products bounds what fusing everything else away could give: those kernels, at their
present speed, would still take that share of the step.
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch
from torch.profiler import ProfilerActivity, profile

from kdlib.losses import kd_loss
from kdlib.models import StackedHaoCNN, hao_student
from kdlib.timing import median_seconds
from kdlib.train import adam

STUDENTS, BATCH, IMAGES, EPOCHS = 12, 32, 10_000, 1000
GROUPS = {  # profiler operator name -> group
    "aten::mkldnn_convolution": "conv2 (oneDNN grouped convolution)",
    "aten::convolution_backward": "conv2 (oneDNN grouped convolution)",
    "aten::mm": "matrix products (conv1, dense)",
    "aten::addmm": "matrix products (conv1, dense)",
    "aten::bmm": "matrix products (conv1, dense)",
    "aten::baddbmm": "matrix products (conv1, dense)",
    "aten::max_pool2d_with_indices": "max-pool",
    "aten::max_pool2d_with_indices_backward": "max-pool",
    "aten::copy_": "padding and layout copies",
    "aten::fill_": "padding and layout copies",
    "aten::constant_pad_nd": "padding and layout copies",
    "aten::im2col": "padding and layout copies",
    "aten::leaky_relu": "leaky ReLU",
    "aten::leaky_relu_backward": "leaky ReLU",
    "aten::_fused_adam_": "Adam",
}
KERNELS = ("conv2 (oneDNN grouped convolution)", "matrix products (conv1, dense)")


def make_step() -> callable:
    """One training step of the stacked students on random images (fixed seed)."""
    torch.manual_seed(0)
    x, y = torch.rand(2048, 1, 28, 28), torch.randint(0, 10, (2048,))
    teacher_logits = torch.randn(2048, 10)
    alpha = torch.tensor([0.1 * i for i in range(11)] + [1.0])
    model = StackedHaoCNN([hao_student() for _ in range(STUDENTS)])
    opt = adam(model.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        idx = torch.randint(0, len(x), (BATCH,), generator=gen)
        logits = model(x[idx])
        loss = kd_loss(logits, teacher_logits[idx].expand(STUDENTS, -1, -1),
                       y[idx].expand(STUDENTS, -1), alpha, 3.0)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    return step


def shares(step: callable, steps: int) -> dict[str, float]:
    """Share of the profiled self time of each group over ``steps`` steps."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    totals: dict[str, float] = {}
    for event in prof.key_averages():
        group = GROUPS.get(event.key, "other (loss, autograd, Python)")
        totals[group] = totals.get(group, 0.0) + event.self_cpu_time_total
    whole = sum(totals.values())
    return {group: t / whole for group, t in totals.items()}


def main() -> None:
    """Profile, time and print the table and the bound."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    step = make_step()
    for _ in range(20):
        step()
    rounds, seconds = [], []
    for _ in range(args.rounds):
        rounds.append(shares(step, args.steps))
        seconds.append(median_seconds(step, args.steps, warmup=5))
    groups = sorted({g for r in rounds for g in r}, key=lambda g: -rounds[0].get(g, 0.0))
    median = {g: statistics.median(r.get(g, 0.0) for r in rounds) for g in groups}
    ms = statistics.median(seconds) * 1e3
    seed_hours = ms / 1e3 * math.ceil(IMAGES / BATCH) * EPOCHS / 3600
    print(f"one step, {STUDENTS} students at batch {BATCH}: {ms:.1f} ms (median of "
          f"{args.rounds} rounds of {args.steps}); a paper-scale seed: {seed_hours:.2f} h")
    print(f"{'group':<40} {'share':>6}")
    for g in groups:
        print(f"{g:<40} {median[g]:>6.1%}")
    kernels = sum(median[g] for g in KERNELS)
    print(f"convolutions and matrix products: {kernels:.1%} of the step. Fusing everything else "
          f"away would leave a seed at >= {kernels * seed_hours:.2f} h at their present speed.")


if __name__ == "__main__":
    main()
