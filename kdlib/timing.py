"""Cost of torch models: FLOPs, weight bytes, per-sample latency and throughput, and the time
of any call (a training step).

Timings on these machines jump by up to 20x for a while, so every figure is a median: each
*round* times every function in turn (interleaved, so a slow spell hits all alike), a
function's time in a round is the median of its timed calls after untimed warm-up ones, and
ratios are taken within a round. Rounds are the repeats over which a chapter gives CIs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["cost", "flops", "machine", "median_seconds", "per_call_seconds", "per_sample_seconds",
           "ratios"]


def flops(model: nn.Module, x: torch.Tensor) -> int:
    """Floating-point operations of one forward pass on ``x`` (torch's flop counter: a
    multiply-add counts 2)."""
    model.eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def cost(models: dict[str, nn.Module], sample: torch.Tensor) -> pd.DataFrame:
    """Parameters, weight bytes and FLOPs per sample of each model (``sample``: one input)."""
    rows = [{"model": name, "parameters": sum(p.numel() for p in m.parameters()),
             "weight_bytes": sum(p.numel() * p.element_size() for p in m.parameters()),
             "flops": flops(m, sample)} for name, m in models.items()]
    return pd.DataFrame(rows)


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` timed calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_call_seconds(calls: dict[str, Callable[[], object]], rounds: int, repeats: int,
                     warmup: int = 5) -> pd.DataFrame:
    """Seconds per call of each function: one row per (round, name).

    Every round takes each function's :func:`median_seconds` (``warmup`` untimed calls, then
    ``repeats`` timed ones). The order rotates from round to round, so no function always runs
    right after the same other one.
    """
    names = list(calls)
    rows = []
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            rows.append({"round": r, "model": name,
                         "seconds": median_seconds(calls[name], repeats, warmup)})
    return pd.DataFrame(rows).sort_values(["round", "model"], ignore_index=True)


def per_sample_seconds(models: dict[str, nn.Module], x: torch.Tensor, rounds: int, calls: int,
                       warmup: int = 5) -> pd.DataFrame:
    """Inference seconds per sample of each model on the batch ``x`` (eval mode, no autograd):
    :func:`per_call_seconds` of ``model(x)``, divided by ``len(x)``."""
    for m in models.values():
        m.eval()

    def call(model: nn.Module) -> Callable[[], object]:
        def forward() -> object:
            with torch.inference_mode():
                return model(x)
        return forward

    table = per_call_seconds({name: call(m) for name, m in models.items()}, rounds, calls,
                             warmup)
    return table.assign(seconds=table["seconds"] / len(x))


def machine() -> dict[str, Any]:
    """What inference times depend on besides the models: CPU, cores, threads, torch."""
    from kdlib.provenance import cpu_model

    return {"cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__}


def ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Teacher time / model time per timing round, from a :func:`per_sample_seconds` table
    with a ``"teacher"`` model: a row per round, a column per other model."""
    wide = table.pivot(index="round", columns="model", values="seconds")
    return wide.drop(columns="teacher").rdiv(wide["teacher"], axis=0)
