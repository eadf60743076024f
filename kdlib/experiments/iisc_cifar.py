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
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch

from kdlib import data, metrics
from kdlib import timing as kdtiming
from kdlib.config import MAX_SEED, Section, param
from kdlib.executor import run_units
from kdlib.resnet import resnet
from kdlib.results import Cache, Checkpoint
from kdlib.train import Recipe, predict, train_augmented
from kdlib.units import Ref, Unit, compute_seconds, sweep

__all__ = ["PAPER", "QUICK", "TABLE2", "CifarStudents", "CifarTeacher", "CifarTiming", "Host",
           "Part2", "Part2Section", "plan",
           "run", "teacher_unit"]
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


class Part2Section(Section):
    """Part 2 (CIFAR-10, Table 2): whether it runs, its files, its seeds; in no unit's key.

    Each seed is a unit of its own, so the number of seeds keys none of them."""

    cifar: param(bool, "Run part 2 (CIFAR-10, Table 2).", True)
    cifar_data_dir: param(str, "Directory holding the official CIFAR-10 files; '' searches "
                          "the usual places.", "")
    cifar_seeds: param(int, "Independent student runs per row; CIs are over these.", 3,
                       low=1, high=50)


class CifarTeacher(Section):
    """Part 2: the teacher, and the data and optimiser its students share with it."""

    cifar_n_train: param(int, "Training images: the first n of the official 50,000.", 50000,
                         low=100, high=50000)
    cifar_n_test: param(int, "Test images: the first n of the official 10,000.", 10000,
                        low=100, high=10000)
    cifar_width: param(float, "Width multiplier of every network trained (1: ResNet-50's "
                       "and ResNet-18's own widths, 64 to 512 planes).", 0.0625, low=0, high=1,
                       low_open=True)
    cifar_teacher_epochs: param(int, "Teacher training epochs (the paper gives none).", 2,
                                low=1, high=1000)
    cifar_learning_rate: param(float, "Peak SGD learning rate (cosine decay to 0).", 0.05,
                               low=0, high=10, low_open=True)
    cifar_batch_size: param(int, "Mini-batch size.", 128, low=1, high=50000)
    cifar_teacher_seed: param(int, "Seed of the teacher (trained once, shared by all seeds).",
                              0, low=0, high=MAX_SEED)


class CifarStudents(Section):
    """Part 2: the students of one seed and training set, trained together."""

    cifar_reduced_per_class: param(int, "Images per class of the reduced training set (the "
                                   "paper: the first 500 of each class).", 500, low=1,
                                   high=5000)
    cifar_student_block: param(str, "Residual block of the students: basic (ResNet-18's "
                               "family, our reading) or bottleneck (ResNet-50's).", "basic",
                               choices=("basic", "bottleneck"))
    cifar_epochs: param(int, "Student epochs on the full training set (the paper gives none).",
                        1, low=1, high=1000)
    cifar_reduced_epochs: param(int, "Student epochs on the reduced set (default: half the "
                                "images a full-set epoch shows; the paper's times suggest "
                                "about a fifth).", 5, low=1, high=10000)
    cifar_alpha: param(float, "Weight of the cross-entropy in the KD loss (0.5, with "
                       "temperature 1, is the paper's cls_loss + div_loss, halved).", 0.5,
                       low=0, high=1)
    cifar_temperature: param(float, "Temperature of the KD term (the paper's formula has "
                             "none: 1).", 1.0, low=0, high=100, low_open=True)


class CifarTiming(Section):
    """Part 2: the interleaved inference timings of the paper's architectures."""

    cifar_timing_width: param(float, "Width multiplier of the networks timed for the "
                              "inference-time ratios (1: the paper's architectures).", 1.0,
                              low=0, high=1, low_open=True)
    cifar_rounds: param(int, "Timing rounds (every network timed once per round).", 7, low=2,
                        high=1000)
    cifar_latency_calls: param(int, "Timed batch-1 calls per network and round (median).", 5,
                               low=1, high=100000)
    cifar_throughput_batch: param(int, "Batch size of the throughput measurement.", 16, low=2,
                                  high=10000)


class Host(Section):
    """What inference and training times depend on besides the models (not a parameter: read
    from the machine that times, and part of the timing units' keys)."""

    cpu: str
    torch: str
    malloc: str  # MALLOC_MMAP_MAX_, which changes allocation costs

    @classmethod
    def here(cls) -> Host:
        m = kdtiming.machine()
        return cls(cpu=m["cpu"], torch=m["torch"], malloc=os.environ.get("MALLOC_MMAP_MAX_", ""))


# What the quick and paper profiles change in part 2 (flat names; see iisc.IiscParams).
QUICK = {"cifar_n_train": 1000, "cifar_reduced_per_class": 20, "cifar_n_test": 1000,
         "cifar_teacher_epochs": 1, "cifar_reduced_epochs": 2, "cifar_seeds": 2,
         "cifar_timing_width": 0.0625, "cifar_rounds": 3, "cifar_latency_calls": 3}
PAPER = {"cifar_width": 1.0, "cifar_teacher_epochs": 30, "cifar_epochs": 15,
         "cifar_reduced_epochs": 150, "cifar_rounds": 15, "cifar_latency_calls": 30,
         "cifar_throughput_batch": 128}


def _student(block: str, width: float, row: int) -> torch.nn.Module:
    r = TABLE2.loc[row]
    return resnet(r["blocks"], block, width, r["stride"])


def _teacher(width: float) -> torch.nn.Module:
    blocks, block, stride = TEACHER
    return resnet(blocks, block, width, stride)


@dataclass
class _Data:
    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def _nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(data.to_float(a))


def _tensors(cifar10: data.Dataset, teacher: CifarTeacher) -> _Data:
    """The first ``cifar_n_train`` training images and the first ``cifar_n_test`` test
    images, as float tensors."""
    x, y = data.first_n(cifar10.x_train, cifar10.y_train, teacher.cifar_n_train)
    n = teacher.cifar_n_test
    return _Data(_nchw(x), torch.from_numpy(y), _nchw(cifar10.x_test[:n]),
                 torch.from_numpy(cifar10.y_test[:n]))


def _teacher_unit(teacher: CifarTeacher, cifar10: data.Dataset,
                  checkpoint: Checkpoint) -> dict[str, Any]:
    """The teacher, trained once (a checkpoint after every epoch), and its test accuracy."""
    d = _tensors(cifar10, teacher)
    torch.manual_seed(teacher.cifar_teacher_seed)
    model = _teacher(teacher.cifar_width)
    state = checkpoint.load()
    recipe = Recipe(alpha=1.0, lr=teacher.cifar_learning_rate)
    seconds = train_augmented({"teacher": model}, {"teacher": recipe}, d.x, d.y,
                              teacher.cifar_teacher_epochs, teacher.cifar_batch_size,
                              teacher.cifar_teacher_seed, desc="CIFAR-10 teacher", state=state,
                              on_epoch=checkpoint.save)
    logits = predict(model, d.x_test)
    table = pd.DataFrame({"test_acc": [metrics.accuracy(logits, d.y_test)],
                          "train_seconds": [seconds["teacher"]]})
    return {"teacher": table, "weights": model.state_dict(), "logits": {"test": logits}}


def _students_unit(teacher: CifarTeacher, students: CifarStudents, seed: int, train_set: str,
                   trained: dict[str, Any], cifar10: data.Dataset) -> dict[str, Any]:
    """One seed's students of one training set, trained together on the same batches, taught
    by the ``trained`` teacher (the teacher unit's entry)."""
    d = _tensors(cifar10, teacher)
    found = trained
    rows = [int(r) for r in TABLE2.index[TABLE2["train_set"] == train_set]]
    models, recipes = {}, {}
    for i, row in enumerate(rows):
        torch.manual_seed(seed * 1000 + i)
        models[str(row)] = _student(students.cifar_student_block, teacher.cifar_width, row)
        alpha = {"kd": students.cifar_alpha, "none": 1.0, "soft": 0.0}[TABLE2.loc[row, "loss"]]
        recipes[str(row)] = Recipe(alpha, students.cifar_temperature,
                                   teacher.cifar_learning_rate)
    teacher_model = _teacher(teacher.cifar_width)
    teacher_model.load_state_dict(found["weights"])
    if train_set == "full":
        x, y, epochs = d.x, d.y, students.cifar_epochs
    else:
        xr, yr = data.per_class(cifar10.x_train, cifar10.y_train,
                                students.cifar_reduced_per_class)
        x, y, epochs = _nchw(xr), torch.from_numpy(yr), students.cifar_reduced_epochs
    seconds = train_augmented(models, recipes, x, y, epochs, teacher.cifar_batch_size, seed,
                              teacher=teacher_model,
                              desc=f"CIFAR-10 students ({train_set}), seed {seed}")
    t_test = found["logits"]["test"]
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


def _timing_unit(timing: CifarTiming, block: str, host: Host) -> dict[str, Any]:
    """Cost and interleaved inference timings of the teacher and each student architecture,
    at ``cifar_timing_width``: per-sample latency at batch 1 and per-sample time in batches,
    on the ``host``."""
    torch.manual_seed(0)
    width = timing.cifar_timing_width
    models = {"teacher": _teacher(width)}
    for row in TABLE2.index:
        models.setdefault(_arch(row), _student(block, width, row))
    x = torch.rand(timing.cifar_throughput_batch, 3, 32, 32)
    cost = kdtiming.cost(models, x[:1])
    latency = kdtiming.per_sample_seconds(models, x[:1], timing.cifar_rounds,
                                          timing.cifar_latency_calls, warmup=2)
    batched = kdtiming.per_sample_seconds(models, x, timing.cifar_rounds, 2, warmup=1)
    return {"cost": cost, "latency": latency, "throughput": batched}


@dataclass
class Part2:
    """Tidy tables of part 2."""

    params: Any  # the chapter's IiscParams
    teacher: pd.DataFrame  # one row: the teacher's test accuracy and training time
    students: pd.DataFrame  # one row per (seed, row of Table 2)
    cost: pd.DataFrame  # one row per architecture at cifar_timing_width
    latency: pd.DataFrame  # one row per (round, architecture): seconds per sample, batch 1
    throughput: pd.DataFrame  # the same in batches of cifar_throughput_batch
    data_digest: str

    compute_seconds: float = 0.0  # the time it took to compute every entry, cached or not

    def ratios(self, kind: str = "latency") -> pd.DataFrame:
        """Teacher time / student time per timing round: one column per architecture."""
        return kdtiming.ratios(self.latency if kind == "latency" else self.throughput)

    def row(self, row: int, metric: str) -> np.ndarray | None:
        """One value of ``metric`` per seed for a row of Table 2 (None if not run)."""
        rows = self.students[self.students["row"] == row].sort_values("seed")
        return None if rows.empty else rows[metric].to_numpy(dtype=float)


def teacher_unit(p: Any, cifar10: data.Dataset) -> Unit:
    """The teacher's unit: it receives the whole ``cifar_teacher`` section, so its key holds
    everything it reads (the test set's size included: it stores the test logits). Size:
    training images x epochs."""
    t = p.cifar_teacher
    return Unit("cifar teacher", _teacher_unit, {"teacher": t}, data={"cifar10": cifar10},
                numerics=p.numerics, resumable=True, size=t.cifar_n_train * t.cifar_teacher_epochs)


def _todo(p: Any) -> list[tuple[int, str]]:
    return [(seed, s) for seed in range(p.part2.cifar_seeds) for s in ("full", "reduced")]


def _students(p: Any, cifar10: data.Dataset, refs: list[Ref]) -> list[Unit]:
    """One unit per seed and training set (size: training images x epochs x (students + the
    teacher's forward pass))."""
    out = []
    s, t = p.cifar_students, p.cifar_teacher
    for seed, train_set in _todo(p):
        count = int((TABLE2["train_set"] == train_set).sum())
        images, epochs = ((t.cifar_n_train, s.cifar_epochs) if train_set == "full"
                          else (10 * s.cifar_reduced_per_class, s.cifar_reduced_epochs))
        out.append(Unit(f"cifar students {train_set}", _students_unit, {
            "teacher": t, "students": s, "seed": seed, "train_set": train_set,
            "trained": refs[0]}, data={"cifar10": cifar10}, numerics=p.numerics,
            size=images * epochs * (count + 1)))
    return out


def _timing(p: Any, host: Host) -> Unit:
    """The timing unit (size: rounds x (batch-1 calls + 2 batches' images) x width squared)."""
    t = p.cifar_timing
    return Unit("cifar timing", _timing_unit, {
        "timing": t, "block": p.cifar_students.cifar_student_block, "host": host},
        numerics=p.numerics, size=t.cifar_rounds * (t.cifar_latency_calls
                                                    + 2 * t.cifar_throughput_batch)
        * t.cifar_timing_width ** 2)


def plan(p: Any) -> list[tuple[str, Unit]]:
    """Every unit :func:`run` computes at ``p``, as ``(experiment, unit)`` pairs."""
    ds = data.load("cifar10", p.part2.cifar_data_dir or None)
    teacher = teacher_unit(p, ds)
    units = [teacher, *_students(p, ds, [Ref(teacher, {})]), _timing(p, Host.here())]
    return [("iisc", u) for u in units]


def run(p: Any, cache: Cache) -> Part2:
    """Run (or load from the cache) part 2 for the chapter's resolved parameters ``p``
    (:class:`kdlib.experiments.iisc.IiscParams`)."""
    ds = data.load("cifar10", p.part2.cifar_data_dir or None)
    todo = _todo(p)
    swept = sweep(cache, "iisc", [teacher_unit(p, ds)], partial(_students, p, ds), p.run,
                  desc="CIFAR-10")
    tables = []
    for (_, train_set), unit in zip(todo, swept.units, strict=True):
        table = unit["students"]
        shared = (table["train_seconds"] - table["own_seconds"]).max()  # the teacher's
        tables.append(table.assign(train_set=train_set,
                                   pass_seconds=table["own_seconds"].sum() + shared))
    local = p.run.model_copy(update={"executor": "local"})  # timed where the host was read
    timed = run_units(cache, "iisc", [_timing(p, Host.here())], local, desc="CIFAR-10 timing")[0]
    students_table = pd.concat(tables, ignore_index=True).sort_values(["seed", "row"],
                                                                      ignore_index=True)
    return Part2(params=p, teacher=swept.teachers[0]["teacher"], students=students_table,
                 cost=timed["cost"], latency=timed["latency"], throughput=timed["throughput"],
                 data_digest=ds.digest, compute_seconds=swept.compute_seconds
                 + compute_seconds([timed]))
