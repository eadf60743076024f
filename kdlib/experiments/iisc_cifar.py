"""The 002 IISc term paper, part 2: CIFAR-10 Table 2 (a section of the ``iisc`` chapter).

The paper: a ResNet-50 teacher (bottleneck blocks [3, 4, 6, 3]); students of the same family
that vary the blocks per stage and the stride of the base block; a loss ``cls_loss +
div_loss`` (cross-entropy plus KL to the teacher's softmax); an "ideal" student (blocks
[1, 1, 1, 1], stride 2) also trained without the KD loss, and both on a reduced training set
(the first 500 images of each class). Table 2 gives accuracy, training time and the
inference-time ratio teacher/student.

Design choices beyond the source, stated in the chapter:
- the students are ResNet-18's family (basic blocks; the baseline is ResNet-18, blocks
  [2, 2, 2, 2]): the abstract names ResNet-50 and ResNet-18; ``cifar_student_block`` switches
  to bottleneck blocks;
- "the stride of the base block" is the stride of the stem convolution;
- the loss is response-based, ``alpha * CE + (1 - alpha) * T^2 * KL`` with ``alpha = 0.5`` and
  ``T = 1``: the paper's ``cls_loss + div_loss``, halved (the text's "feature-based" and
  "quantized" match no formula it gives);
- SGD (Nesterov momentum 0.9, weight decay 5e-4, cosine decay), batch 128, standard
  augmentation (random crop with padding 4, horizontal flip); the teacher sees each student's
  augmented view, computed on the fly once per batch for all students of a seed;
- all students of a seed train in one pass over the same batches; a student's training time
  is the time of its own steps, plus the teacher's forward passes if it distils;
- inference time is measured on the paper's full-width architectures (``cifar_timing_width``;
  weights do not change a network's time), at batch 1 and in batches, interleaved, with FLOPs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from kdlib import data, metrics, timing
from kdlib.config import Param
from kdlib.executor import Unit, run_units
from kdlib.resnet import resnet
from kdlib.results import Cache, Checkpoint
from kdlib.train import Recipe, predict, train_augmented

__all__ = ["PARAMS", "TABLE2", "Part2", "run"]

_MAX_SEED = 2**31 - 1
TEACHER = ([3, 4, 6, 3], "bottleneck", 1)  # blocks, block kind, stem stride

# Table 2 as printed: the student, whether it distils, its training set; then accuracy,
# training time (s) and inference-time ratio teacher/student. Row 10 is ours (not in the
# paper): the ideal student taught by the teacher's outputs alone, no labels (alpha = 0).
TABLE2 = pd.DataFrame(
    [(1, "Baseline", (2, 2, 2, 2), 1, "kd", "full", 0.793, 400, 6.58),
     (2, "Blocks = [1, 1, 1, 1]", (1, 1, 1, 1), 1, "kd", "full", 0.791, 275, 8.53),
     (3, "Blocks = [2, 2, 0, 0]", (2, 2, 0, 0), 1, "kd", "full", 0.786, 370, 7.81),
     (4, "Blocks = [1, 1, 0, 0]", (1, 1, 0, 0), 1, "kd", "full", 0.794, 340, 9.85),
     (5, "Blocks = [1, 1, 1, 1], Stride = 2", (1, 1, 1, 1), 2, "kd", "full", 0.776, 280, 11.60),
     (6, "Blocks = [1, 1, 1, 1], Stride = 4", (1, 1, 1, 1), 4, "kd", "full", 0.799, 405, 9.94),
     (7, "Ideal with no KD loss", (1, 1, 1, 1), 2, "none", "full", 0.758, 330, 10.84),
     (8, "Ideal on reduced train set", (1, 1, 1, 1), 2, "kd", "reduced", 0.612, 60, 10.33),
     (9, "Ideal on reduced train set with no KD loss", (1, 1, 1, 1), 2, "none", "reduced",
      0.560, 60, 9.79),
     (10, "Ideal, teacher's outputs only (ours)", (1, 1, 1, 1), 2, "soft", "full", np.nan,
      np.nan, np.nan)],
    columns=["row", "student", "blocks", "stride", "loss", "train_set", "accuracy",
             "train_seconds", "inference_ratio"]).set_index("row")
BASELINE_ROW, IDEAL_ROW = 1, 5


def _arch(row: int) -> str:
    """The architecture's name, shared by the rows that train the same network."""
    r = TABLE2.loc[row]
    return f"[{', '.join(map(str, r['blocks']))}] stride {r['stride']}"


PARAMS = (
    Param("cifar", bool, "Run part 2 (CIFAR-10, Table 2).",
          {"quick": True, "default": True, "paper": True}),
    Param("cifar_data_dir", str, "Directory holding the official CIFAR-10 files; '' searches "
          "the usual places.", {"quick": "", "default": "", "paper": ""}),
    Param("cifar_n_train", int, "Training images: the first n of the official 50,000.",
          {"quick": 1000, "default": 50000, "paper": 50000}, low=100, high=50000),
    Param("cifar_reduced_per_class", int, "Images per class of the reduced training set (the "
          "paper: the first 500 of each class).",
          {"quick": 20, "default": 500, "paper": 500}, low=1, high=5000),
    Param("cifar_n_test", int, "Test images: the first n of the official 10,000.",
          {"quick": 1000, "default": 10000, "paper": 10000}, low=100, high=10000),
    Param("cifar_width", float, "Width multiplier of every network trained (1: ResNet-50's "
          "and ResNet-18's own widths, 64 to 512 planes).",
          {"quick": 0.0625, "default": 0.0625, "paper": 1.0}, low=0, high=1, low_open=True),
    Param("cifar_student_block", str, "Residual block of the students: basic (ResNet-18's "
          "family, our reading) or bottleneck (ResNet-50's).",
          {"quick": "basic", "default": "basic", "paper": "basic"},
          choices=("basic", "bottleneck")),
    Param("cifar_teacher_epochs", int, "Teacher training epochs (the paper gives none).",
          {"quick": 1, "default": 2, "paper": 30}, low=1, high=1000),
    Param("cifar_epochs", int, "Student epochs on the full training set (the paper gives none).",
          {"quick": 1, "default": 1, "paper": 15}, low=1, high=1000),
    Param("cifar_reduced_epochs", int, "Student epochs on the reduced set (default: half the "
          "images a full-set epoch shows; the paper's times suggest about a fifth).",
          {"quick": 2, "default": 5, "paper": 150}, low=1, high=10000),
    Param("cifar_alpha", float, "Weight of the cross-entropy in the KD loss (0.5, with "
          "temperature 1, is the paper's cls_loss + div_loss, halved).",
          {"quick": 0.5, "default": 0.5, "paper": 0.5}, low=0, high=1),
    Param("cifar_temperature", float, "Temperature of the KD term (the paper's formula has "
          "none: 1).", {"quick": 1.0, "default": 1.0, "paper": 1.0}, low=0, high=100,
          low_open=True),
    Param("cifar_learning_rate", float, "Peak SGD learning rate (cosine decay to 0).",
          {"quick": 0.05, "default": 0.05, "paper": 0.05}, low=0, high=10, low_open=True),
    Param("cifar_batch_size", int, "Mini-batch size.",
          {"quick": 128, "default": 128, "paper": 128}, low=1, high=50000),
    Param("cifar_teacher_seed", int, "Seed of the teacher (trained once, shared by all seeds).",
          {"quick": 0, "default": 0, "paper": 0}, low=0, high=_MAX_SEED),
    Param("cifar_seeds", int, "Independent student runs per row; CIs are over these.",
          {"quick": 2, "default": 3, "paper": 3}, low=1, high=50),
    Param("cifar_timing_width", float, "Width multiplier of the networks timed for the "
          "inference-time ratios (1: the paper's architectures).",
          {"quick": 0.0625, "default": 1.0, "paper": 1.0}, low=0, high=1, low_open=True),
    Param("cifar_rounds", int, "Timing rounds (every network timed once per round).",
          {"quick": 3, "default": 7, "paper": 15}, low=2, high=1000),
    Param("cifar_latency_calls", int, "Timed batch-1 calls per network and round (median).",
          {"quick": 3, "default": 5, "paper": 30}, low=1, high=100000),
    Param("cifar_throughput_batch", int, "Batch size of the throughput measurement.",
          {"quick": 16, "default": 16, "paper": 128}, low=2, high=10000),
)


def _student(p: dict[str, Any], row: int) -> torch.nn.Module:
    r = TABLE2.loc[row]
    return resnet(r["blocks"], p["cifar_student_block"], p["cifar_width"], r["stride"])


def _teacher(width: float) -> torch.nn.Module:
    blocks, block, stride = TEACHER
    return resnet(blocks, block, width, stride)


@dataclass
class _Data:
    x: torch.Tensor
    y: torch.Tensor
    x_reduced: torch.Tensor
    y_reduced: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def _load(p: dict[str, Any]) -> tuple[_Data, data.Dataset]:
    ds = data.load("cifar10", p["cifar_data_dir"] or None)
    x, y = data.first_n(ds.x_train, ds.y_train, p["cifar_n_train"])
    xr, yr = data.per_class(ds.x_train, ds.y_train, p["cifar_reduced_per_class"])

    def nchw(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(data.to_float(a))

    return _Data(nchw(x), torch.from_numpy(y), nchw(xr), torch.from_numpy(yr),
                 nchw(ds.x_test[:p["cifar_n_test"]]),
                 torch.from_numpy(ds.y_test[:p["cifar_n_test"]])), ds


def _teacher_unit(p: dict[str, Any], d: _Data, checkpoint: Checkpoint) -> dict[str, Any]:
    """The teacher, trained once (a checkpoint after every epoch), and its test accuracy."""
    torch.manual_seed(p["cifar_teacher_seed"])
    model = _teacher(p["cifar_width"])
    state = checkpoint.load()
    recipe = Recipe(alpha=1.0, lr=p["cifar_learning_rate"])
    seconds = train_augmented({"teacher": model}, {"teacher": recipe}, d.x, d.y,
                              p["cifar_teacher_epochs"], p["cifar_batch_size"],
                              p["cifar_teacher_seed"], desc="CIFAR-10 teacher", state=state,
                              on_epoch=checkpoint.save)
    logits = predict(model, d.x_test)
    table = pd.DataFrame({"test_acc": [metrics.accuracy(logits, d.y_test)],
                          "train_seconds": [seconds["teacher"]]})
    return {"teacher": table, "weights": model.state_dict(), "logits": {"test": logits}}


def _students_unit(p: dict[str, Any], seed: int, train_set: str, d: _Data,
                   teacher: dict[str, Any]) -> dict[str, Any]:
    """One seed's students of one training set, trained together on the same batches."""
    rows = [int(r) for r in TABLE2.index[TABLE2["train_set"] == train_set]]
    models, recipes = {}, {}
    for i, row in enumerate(rows):
        torch.manual_seed(seed * 1000 + i)
        models[str(row)] = _student(p, row)
        alpha = {"kd": p["cifar_alpha"], "none": 1.0, "soft": 0.0}[TABLE2.loc[row, "loss"]]
        recipes[str(row)] = Recipe(alpha, p["cifar_temperature"], p["cifar_learning_rate"])
    teacher_model = _teacher(p["cifar_width"])
    teacher_model.load_state_dict(teacher["weights"])
    x, y = (d.x, d.y) if train_set == "full" else (d.x_reduced, d.y_reduced)
    epochs = p["cifar_epochs"] if train_set == "full" else p["cifar_reduced_epochs"]
    seconds = train_augmented(models, recipes, x, y, epochs, p["cifar_batch_size"], seed,
                              teacher=teacher_model,
                              desc=f"CIFAR-10 students ({train_set}), seed {seed}")
    t_test = teacher["logits"]["test"]
    out = []
    for row in rows:
        logits = predict(models[str(row)], d.x_test)
        own = seconds[str(row)]
        out.append({"seed": seed, "row": row, "test_acc": metrics.accuracy(logits, d.y_test),
                    "agreement": metrics.agreement(logits, t_test),
                    "kl_to_teacher": metrics.mean_kl(logits, t_test), "own_seconds": own,
                    "train_seconds": own + (seconds["teacher"] if recipes[str(row)].alpha < 1
                                            else 0)})
    return {"students": pd.DataFrame(out)}


def _timing_unit(p: dict[str, Any]) -> dict[str, Any]:
    """Cost and interleaved inference timings of the teacher and each student architecture,
    at ``cifar_timing_width``: per-sample latency at batch 1 and per-sample time in batches."""
    torch.manual_seed(0)
    width = p["cifar_timing_width"]
    models = {"teacher": _teacher(width)}
    for row in TABLE2.index:
        models.setdefault(_arch(row), _student({**p, "cifar_width": width}, row))
    x = torch.rand(p["cifar_throughput_batch"], 3, 32, 32)
    cost = timing.cost(models, x[:1])
    latency = timing.per_sample_seconds(models, x[:1], p["cifar_rounds"],
                                        p["cifar_latency_calls"], warmup=2)
    batched = timing.per_sample_seconds(models, x, p["cifar_rounds"], 2, warmup=1)
    return {"cost": cost, "latency": latency, "throughput": batched}


@dataclass
class Part2:
    """Tidy tables of part 2."""

    params: dict[str, Any]
    teacher: pd.DataFrame  # one row: the teacher's test accuracy and training time
    students: pd.DataFrame  # one row per (seed, row of Table 2)
    cost: pd.DataFrame  # one row per architecture at cifar_timing_width
    latency: pd.DataFrame  # one row per (round, architecture): seconds per sample, batch 1
    throughput: pd.DataFrame  # the same in batches of cifar_throughput_batch
    data_digest: str

    @property
    def compute_seconds(self) -> float:
        """Training time of the teacher and of every seed's students (one pass per set)."""
        passes = self.students.groupby(["seed", "train_set"])["pass_seconds"].first().sum()
        return float(self.teacher["train_seconds"].iloc[0] + passes)

    def ratios(self, kind: str = "latency") -> pd.DataFrame:
        """Teacher time / student time per timing round: one column per architecture."""
        return timing.ratios(self.latency if kind == "latency" else self.throughput)

    def row(self, row: int, metric: str) -> np.ndarray | None:
        """One value of ``metric`` per seed for a row of Table 2 (None if not run)."""
        rows = self.students[self.students["row"] == row].sort_values("seed")
        return None if rows.empty else rows[metric].to_numpy(dtype=float)


def run(p: dict[str, Any], cache: Cache) -> Part2:
    """Run (or load from the cache) part 2 for resolved parameters ``p``."""
    d, ds = _load(p)
    # the teacher unit's key: everything it reads, its test set included (it stores the test
    # logits of the first cifar_n_test images; issue 23)
    tp = {k: p[k] for k in ("cifar_n_train", "cifar_n_test", "cifar_width",
                            "cifar_teacher_epochs", "cifar_learning_rate", "cifar_batch_size",
                            "cifar_teacher_seed")}
    executor_args = {"executor": p["executor"], "ray_address": p["ray_address"]}
    teacher = run_units(cache, "iisc", ds.digest, [Unit(
        "cifar teacher", tp, lambda checkpoint: _teacher_unit(p, d, checkpoint),
        resumable=True)], **executor_args, desc="CIFAR-10 teacher")[0]
    sp = {**tp, **{k: p[k] for k in ("cifar_reduced_per_class", "cifar_n_test",
                                     "cifar_student_block", "cifar_epochs",
                                     "cifar_reduced_epochs", "cifar_alpha",
                                     "cifar_temperature")}}
    todo = [(seed, s) for seed in range(p["cifar_seeds"]) for s in ("full", "reduced")]
    units = run_units(cache, "iisc", ds.digest, [Unit(
        f"cifar students {train_set}", {**sp, "seed": seed},
        lambda seed=seed, s=train_set: _students_unit(p, seed, s, d, teacher))
        for seed, train_set in todo], **executor_args, desc="CIFAR-10 students")
    tables = []
    for (_, train_set), unit in zip(todo, units, strict=True):
        table = unit["students"]
        shared = (table["train_seconds"] - table["own_seconds"]).max()  # the teacher's
        tables.append(table.assign(train_set=train_set,
                                   pass_seconds=table["own_seconds"].sum() + shared))
    tp_timing = {k: p[k] for k in ("cifar_student_block", "cifar_timing_width", "cifar_rounds",
                                   "cifar_latency_calls", "cifar_throughput_batch")}
    tp_timing.update(timing.machine(), malloc=os.environ.get("MALLOC_MMAP_MAX_", ""))
    timed = cache.get_or_compute("iisc", "cifar timing", tp_timing, "none",
                                 lambda: _timing_unit(p))
    students = pd.concat(tables, ignore_index=True).sort_values(["seed", "row"],
                                                                ignore_index=True)
    return Part2(params=p, teacher=teacher["teacher"], students=students, cost=timed["cost"],
                 latency=timed["latency"], throughput=timed["throughput"],
                 data_digest=ds.digest)
