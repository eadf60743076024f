"""The 003 paper, *Understanding Teacher-Student Architectural Choices on Knowledge
Distillation*: one MobileNetV3-small student distilled from three teachers by Beyer et al.'s
function matching, with sweeps of temperature, learning rate and mixup (its Table 2).

As the paper describes it: CIFAR-100; teachers ResNet-44, VGG11-BN and MobileNetV2 x0.75
(pretrained); the student trained from scratch for each experiment by KL to the teacher only
(no labels), teacher and student seeing the identical mixup-augmented image; Adam with cosine
decay; 400 epochs for the teacher sweep, 300 for the others; a baseline trained on the labels
alone, without mixup, with early stopping.

Design choices beyond the source, stated in the chapter:
- no pretrained weights exist offline: each teacher is trained here, once per profile (SGD,
  Nesterov momentum 0.9, weight decay 5e-4, cosine decay, random crops and flips), cached like
  any result; its own test accuracy is reported beside its students';
- augmentation before mixup: random crop (padding 4) and horizontal flip, then mixup of the
  batch with a shuffled copy of itself, one ``l ~ Beta(mixup, mixup)`` per batch (Beyer et
  al.'s function matching, with ``mixup = 1``: a uniform mixing weight);
- the mixup students of a seed (the rows with the same epochs) train in one pass over the same
  batches, every teacher computing its outputs once per batch; the row without mixup and the
  scratch baseline train in their own passes;
- early stopping of the scratch baseline: ``patience`` epochs without a better value of
  ``stop_monitor`` (validation accuracy, or loss) on a validation set (the last ``n_val``
  official training images, never trained on), then the best epoch's weights are kept
  (``restore_best``; without it, those of the epoch it stopped at, as the early-stopping
  callbacks of Keras and PyTorch Lightning do by default). The test set never chooses
  anything: every epoch of every student is also evaluated on the validation images, so a
  best epoch can be chosen on them (:func:`best_epochs`);
- besides Table 2's nine rows, row 10 is the run of the paper's Figure 9 that Table 2 does
  not list: MobileNetV2 teacher, mixup, learning rate 0.01 at T = 2 (the text compares it
  with 0.001 at T = 2: "0.01 is very noisy in its convergence, even though it ends with a
  higher accuracy");
- the teachers are ranked by their accuracy on the validation images (``teacher_rank``), not
  on the test images that judge the claims;
- every student of a seed starts from the same initial weights (the paper trains "the same
  student from scratch for each experiment"), so rows compared within a seed differ only in
  how they were trained;
- ``width`` scales every network's widths (teachers and student alike) for CPUs;
- ``bn_momentum`` of the student's batch norm: torchvision's 0.01 in the paper profile, PyTorch's
  default 0.1 in the short ones (with 0.01, three epochs leave the running statistics so far
  behind that the evaluated student is at chance: measured 0.098 in evaluation mode against
  0.263 with batch statistics; 0.258 with 0.1).

Units of work (:mod:`kdlib.units`), each keyed by exactly what it receives: one per teacher
(its name and the ``data``, ``networks`` and ``teacher`` sections); then one per seed and pass
(:func:`passes`): the distilled passes receive ``data``, ``networks``, ``student``, their rows
and epochs and the three teachers' entries (:class:`~kdlib.units.Ref`); the baseline's pass
also ``stopping``. ``schedule`` plans the passes. Every unit cuts its images from the data set
itself (:func:`_arrays`).
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from kdlib import data, metrics
from kdlib.cifar_models import MODELS, TABLE1, madds
from kdlib.config import MAX_SEED, ParamError, Params, Section, param
from kdlib.models import n_params
from kdlib.results import Cache, Checkpoint
from kdlib.train import Recipe, nhwc_unsafe, predict, train_augmented
from kdlib.units import Ref, Unit, sweep

__all__ = ["CONFIGS", "SOURCE_SCALE", "STUDENT", "SWEEPS", "TABLE2", "TEACHERS", "Data",
           "Networks", "Results", "Schedule", "Stopping", "Student", "Teacher",
           "TeachersParams", "best_epochs", "dataset", "label", "passes", "plan", "resolve", "run",
           "student_units", "students_pass", "table1", "teacher_units"]

TEACHERS = ("ResNet44", "VGG11_bn", "MobileNetV2_x0_75")
STUDENT = "MobileNet_v3_small"

# Table 2 as printed: the teacher (None: trained from scratch on the labels), mixup, initial
# learning rate, temperature, top-1 accuracy on CIFAR-100.
TABLE2 = pd.DataFrame(
    [(1, None, False, 0.001, np.nan, 0.3153),
     (2, "ResNet44", True, 0.001, 5.0, 0.4067),
     (3, "VGG11_bn", True, 0.001, 5.0, 0.3726),
     (4, "MobileNetV2_x0_75", True, 0.001, 5.0, 0.4222),
     (5, "MobileNetV2_x0_75", True, 0.001, 2.0, 0.3914),
     (6, "MobileNetV2_x0_75", True, 0.001, 10.0, 0.4342),
     (7, "MobileNetV2_x0_75", True, 0.01, 10.0, 0.4097),
     (8, "MobileNetV2_x0_75", True, 0.003, 5.0, 0.4230),
     (9, "MobileNetV2_x0_75", False, 0.001, 10.0, 0.4821)],
    columns=["row", "teacher", "mixup", "lr", "temperature", "accuracy"]).set_index("row")
SCRATCH_ROW = 1
TEACHER_ROWS = (2, 3, 4)  # the teacher sweep: T = 5, lr 0.001, mixup
FIGURE9_ROW = 10  # Figure 9's lr 0.01 at T = 2, which Table 2 does not list
# Every configuration this chapter trains: Table 2's rows, then Figure 9's extra run
CONFIGS = pd.concat([TABLE2, pd.DataFrame(
    [(FIGURE9_ROW, "MobileNetV2_x0_75", True, 0.01, 2.0, np.nan)],
    columns=["row", *TABLE2.columns]).set_index("row")])
# The sweeps of the paper's section 5.3, as rows (figures use them)
SWEEPS: dict[str, tuple[int, ...]] = {
    "teacher": (SCRATCH_ROW, *TEACHER_ROWS),
    "temperature": (5, 4, 6),
    "learning rate": (5, FIGURE9_ROW, 6, 7, 4, 8),
    "mixup": (6, 9),
}
# The paper's scale: CIFAR-100 (fine labels), full widths, 300 epochs (400 in the teacher
# sweep), evaluated on all 10,000 test images. It trained on all 50,000 training images; the
# paper profile keeps the last 5,000 for validation, so 45,000 is taken as its scale.
SOURCE_SCALE = {"dataset": "cifar100", "labels": "fine", "width": 1.0, "n_train": 45000,
                "n_test": 10000, "epochs": 300, "teacher_sweep_epochs": 400}


def label(row: int) -> str:
    """A configuration (a row of Table 2, or Figure 9's extra run) in words."""
    r = CONFIGS.loc[row]
    if pd.isna(r["teacher"]):
        return "scratch (labels)"
    return (f"{r['teacher']}, T={r['temperature']:g}, lr={r['lr']:g}"
            + ("" if r["mixup"] else ", no mixup")
            + (" (Figure 9, not in Table 2)" if row == FIGURE9_ROW else ""))


class Data(Section):
    """The images: the data set and its subsets (each unit cuts them from the data set)."""

    dataset: param(str, "cifar100 (the paper's; official cifar-100-python.tar.gz in data_dir) "
                   "or cifar10 (this book's stand-in).", "cifar10",
                   choices=("cifar10", "cifar100"))
    labels: param(str, "CIFAR-100 labels: fine (100 classes, the paper's) or coarse (20).",
                  "fine", choices=("fine", "coarse"))
    n_train: param(int, "Training images: the first n of the official 50,000.", 4000,
                   low=100, high=50000)
    n_val: param(int, "Validation images (the baseline's early stopping, the teachers' "
                 "ranking, each student's best epoch): the last n of the official training "
                 "images (disjoint from the first n_train).", 1000, low=10, high=25000)
    n_test: param(int, "Test images: the first n of the official 10,000.", 2000, low=100,
                  high=10000)


class Networks(Section):
    """How every network is built and fed: width, batch size, memory order."""

    width: param(float, "Width multiplier of every network (1: the paper's Table 1).", 0.25,
                 low=0, high=1, low_open=True)
    batch_size: param(int, "Mini-batch size (the paper gives none).", 128, low=2, high=50000)
    channels_last: param(bool, "NHWC memory order: faster for the MobileNets, the same numbers "
                         "within float rounding; refused on CPUs where oneDNN corrupts memory "
                         "in it.", False)


class Teacher(Section):
    """Each teacher's training on the labels (one unit per teacher)."""

    teacher_epochs: param(int, "Epochs of each teacher (the paper used pretrained ones; their "
                          "recipe: 200).", 5, low=1, high=1000)
    teacher_lr: param(float, "Peak SGD learning rate of the teachers (cosine decay to 0).",
                      0.05, low=0, high=10, low_open=True)
    teacher_seed: param(int, "Seed of the teachers (trained once, shared by all seeds).", 0,
                        low=0, high=MAX_SEED)


class Schedule(Section):
    """How long the students train, over how many seeds (each pass gets its epochs, seed)."""

    epochs: param(int, "Student epochs (the paper: 300; the baseline stops early).", 3,
                  low=1, high=10000)
    teacher_sweep_epochs: param(int, "Epochs of the teacher sweep's students (rows 2-4; the "
                                "paper: 400).", 3, low=1, high=10000)
    seeds: param(int, "Independent student runs per row; CIs are over these.", 3, low=1,
                 high=50)


class Student(Section):
    """The student network and its augmentation (every pass of students)."""

    bn_momentum: param(float, "Momentum of the student's batch-norm running statistics "
                       "(torchvision's MobileNetV3: 0.01, for long schedules; after a few "
                       "epochs its running statistics lag so far that the student evaluates "
                       "at chance; PyTorch's default 0.1).", 0.1, low=0, high=1, low_open=True)
    mixup: param(float, "Concentration of mixup's Beta distribution (1: uniform weight).",
                 1.0, low=0, high=100, low_open=True)


class Stopping(Section):
    """The scratch baseline's early stopping (its pass alone)."""

    patience: param(int, "Early stopping of the baseline: epochs without a better validation "
                    "value of stop_monitor.", 2, low=1, high=10000)
    stop_monitor: param(str, "What the baseline's early stopping watches on the validation "
                        "images: val_acc (accuracy) or val_loss (cross-entropy, the Keras "
                        "callback's default).", "val_acc", choices=("val_acc", "val_loss"))
    restore_best: param(bool, "Whether the baseline keeps its best validation epoch's weights "
                        "(else those of the epoch it stopped at, the callbacks' default).",
                        True)


class TeachersParams(Params):
    """The teacher-architecture chapter's parameters."""

    chapter: ClassVar[str] = "teachers"
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {"n_train": 256, "n_val": 64, "n_test": 200, "teacher_epochs": 1,
                  "epochs": 2, "teacher_sweep_epochs": 2, "seeds": 2, "patience": 1},
        "paper": {"dataset": "cifar100", "n_train": 45000, "n_val": 5000, "n_test": 10000,
                  "width": 1.0, "teacher_epochs": 200, "teacher_lr": 0.1, "epochs": 300,
                  "teacher_sweep_epochs": 400, "bn_momentum": 0.01, "patience": 20},
    }
    data: Data = Data()
    networks: Networks = Networks()
    teacher: Teacher = Teacher()
    schedule: Schedule = Schedule()
    student: Student = Student()
    stopping: Stopping = Stopping()

    def checked(self) -> TeachersParams:
        d = self.data
        if d.n_train + d.n_val > 50000:
            raise ParamError(f"n_train + n_val must be at most 50000 (the validation images "
                             f"are the last n_val training images); got {d.n_train} + "
                             f"{d.n_val}")
        if self.networks.channels_last and (unsafe := nhwc_unsafe(
                [MODELS[name](classes=10, width=self.networks.width) for name in MODELS])):
            raise ParamError(f"channels_last=True is refused on this CPU: {unsafe}")
        return self


def resolve(namespace: Mapping[str, Any]) -> TeachersParams:
    """Validated parameters from a notebook's globals (``profile`` + one name per parameter)."""
    return TeachersParams.from_namespace(namespace)


def passes(p: TeachersParams) -> list[tuple[str, tuple[int, ...], int]]:
    """The training passes of one seed: (name, rows of :data:`CONFIGS`, epochs). Rows that
    share mixup and epochs train together on the same batches."""
    s = p.schedule
    groups: dict[tuple[bool, int], list[int]] = {}
    for row in CONFIGS.index[CONFIGS["teacher"].notna()]:
        epochs = s.teacher_sweep_epochs if row in TEACHER_ROWS else s.epochs
        groups.setdefault((bool(CONFIGS.loc[row, "mixup"]), epochs), []).append(int(row))
    out = [(("mixup" if mix else "no mixup") + f", {e} epochs", tuple(rows), e)
           for (mix, e), rows in groups.items()]
    return [*out, ("scratch", (SCRATCH_ROW,), s.epochs)]


def _arrays(ds: data.Dataset, d: Data) -> data.Split:
    """The first ``n_train`` training images, the last ``n_val`` and the first ``n_test``
    test images of ``ds``."""
    return data.cut(ds, d.n_train, d.n_test, n_val=d.n_val)


def _net(name: str, networks: Networks, classes: int,
         student: Student | None = None) -> nn.Module:
    if name == STUDENT and student is not None:
        return MODELS[name](classes=classes, width=networks.width,
                            bn_momentum=student.bn_momentum)
    return MODELS[name](classes=classes, width=networks.width)


def _teacher_unit(name: str, data: Data, networks: Networks, teacher: Teacher,
                  ds: data.Dataset, checkpoint: Checkpoint) -> dict[str, Any]:
    """One teacher, trained on the labels (a checkpoint after every epoch)."""
    d = _arrays(ds, data)
    torch.manual_seed(teacher.teacher_seed)
    model = _net(name, networks, d.classes)
    recipe = Recipe(alpha=1.0, lr=teacher.teacher_lr)
    seconds = train_augmented({name: model}, {name: recipe}, d.x, d.y, teacher.teacher_epochs,
                              networks.batch_size, teacher.teacher_seed,
                              desc=f"teacher {name}", state=checkpoint.load(),
                              on_epoch=checkpoint.save, channels_last=networks.channels_last)
    logits = predict(model, d.x_test)
    val_acc = metrics.accuracy(predict(model, d.x_val), d.y_val)
    model = model.to(memory_format=torch.contiguous_format)
    table = pd.DataFrame([{"teacher": name, "test_acc": metrics.accuracy(logits, d.y_test),
                           "test_loss": metrics.cross_entropy(logits, d.y_test),
                           "val_acc": val_acc, "train_seconds": seconds[name]}])
    return {"teacher": table, "weights": model.state_dict(), "logits": {"test": logits}}


_CURVE = ("epoch", "row", "test_acc", "test_loss", "agreement", "val_acc", "val_loss")


def best_epochs(curves: pd.DataFrame, monitor: str = "val_acc") -> pd.DataFrame:
    """Per (seed, row) of ``curves`` (or per row, without a seed column), the epoch with
    the best validation value of ``monitor`` (the highest accuracy or the lowest loss; the
    first such epoch), with that epoch's metrics. Only validation columns choose: the test
    columns ride along to be judged."""
    if monitor not in ("val_acc", "val_loss"):
        raise ValueError(f"monitor must be one of val_acc, val_loss; got {monitor!r}")
    keys = [k for k in ("seed", "row") if k in curves.columns]
    c = curves.sort_values([*keys, "epoch"])
    score = c[monitor] if monitor == "val_acc" else -c[monitor]
    return c.loc[score.groupby([c[k] for k in keys]).idxmax()].reset_index(drop=True)


def _distilled_unit(seed: int, rows: tuple[int, ...], epochs: int, data: Data,
                    networks: Networks, student: Student, resnet44: dict[str, Any],
                    vgg11_bn: dict[str, Any], mobilenetv2_x0_75: dict[str, Any],
                    ds: data.Dataset, checkpoint: Checkpoint) -> dict[str, Any]:
    """One seed's distilled students of one pass (the rows with the same mixup and epochs),
    trained together on the same batches."""
    teachers = dict(zip(TEACHERS, (resnet44, vgg11_bn, mobilenetv2_x0_75), strict=True))
    return students_pass(seed, tuple(rows), epochs, _arrays(ds, data), networks, student,
                         None, teachers, checkpoint)


def _scratch_unit(seed: int, epochs: int, data: Data, networks: Networks, student: Student,
                  stopping: Stopping, resnet44: dict[str, Any], vgg11_bn: dict[str, Any],
                  mobilenetv2_x0_75: dict[str, Any], ds: data.Dataset,
                  checkpoint: Checkpoint) -> dict[str, Any]:
    """One seed's baseline, trained on the labels, stopping early on the validation images
    (the teachers only measure how much it agrees with each)."""
    teachers = dict(zip(TEACHERS, (resnet44, vgg11_bn, mobilenetv2_x0_75), strict=True))
    return students_pass(seed, (SCRATCH_ROW,), epochs, _arrays(ds, data), networks, student,
                         stopping, teachers, checkpoint)


def students_pass(seed: int, rows: tuple[int, ...], epochs: int, d: data.Split,
                  networks: Networks, student: Student, stopping: Stopping | None,
                  teachers: dict[str, dict[str, Any]], checkpoint: Checkpoint
                  ) -> dict[str, Any]:
    """One seed's students of one pass, trained together; validation and test metrics after
    every epoch. The baseline (the scratch row, in a pass of its own, given ``stopping``)
    stops early on the validation images."""
    scratch = rows == (SCRATCH_ROW,)
    if scratch != (stopping is not None):
        raise ValueError("the scratch row trains alone, with its early stopping")
    models, recipes, needed = {}, {}, {}
    for row in rows:
        r = CONFIGS.loc[row]
        torch.manual_seed(seed)  # every row of a seed starts from the same weights
        models[str(row)] = _net(STUDENT, networks, d.classes, student)
        if pd.isna(r["teacher"]):
            recipes[str(row)] = Recipe(alpha=1.0, lr=float(r["lr"]), optimizer="adam")
        else:
            recipes[str(row)] = Recipe(alpha=0.0, temperature=float(r["temperature"]),
                                       lr=float(r["lr"]), optimizer="adam",
                                       teacher=r["teacher"])
            if r["teacher"] not in needed:
                net = _net(r["teacher"], networks, d.classes)
                net.load_state_dict(teachers[r["teacher"]]["weights"])
                needed[r["teacher"]] = net
    mix = bool(CONFIGS.loc[rows[0], "mixup"])
    state = checkpoint.load()
    curve: list[list[float]] = [] if state is None else state["curve"].tolist()
    best: dict[str, Any] = {} if state is None else state["best"]

    def after_epoch(epoch: int) -> bool:
        stop = False
        for row in rows:
            model = models[str(row)]
            logits, val = predict(model, d.x_test), predict(model, d.x_val)
            point = {"val_acc": metrics.accuracy(val, d.y_val),
                     "val_loss": metrics.cross_entropy(val, d.y_val)}
            own = CONFIGS.loc[row, "teacher"]  # agreement with the row's own teacher
            agree = (metrics.agreement(logits, teachers[own]["logits"]["test"])
                     if isinstance(own, str) else np.nan)
            curve.append([epoch, row, metrics.accuracy(logits, d.y_test),
                          metrics.cross_entropy(logits, d.y_test), agree, point["val_acc"],
                          point["val_loss"]])
            if stopping is not None:  # early stopping on the validation images, never test
                monitor = stopping.stop_monitor
                better = (not best or (point[monitor] > best["value"] if monitor == "val_acc"
                                       else point[monitor] < best["value"]))
                if better:
                    best.update(value=point[monitor], epoch=epoch,
                                weights=copy.deepcopy(model.state_dict()))
                stop = epoch - best["epoch"] >= stopping.patience
        return stop

    def save(st: dict[str, Any]) -> None:
        checkpoint.save({**st, "curve": torch.tensor(curve, dtype=torch.float64),
                         "best": best})

    seconds = train_augmented(models, recipes, d.x, d.y, epochs, networks.batch_size, seed,
                              teacher=needed or None,
                              mixup_concentration=student.mixup if mix else 0.0,
                              desc=f"students {list(rows)}, seed {seed}", state=state,
                              on_epoch=save, after_epoch=after_epoch,
                              channels_last=networks.channels_last)
    last = int(max(c[0] for c in curve))
    restored = stopping is not None and stopping.restore_best
    if restored:
        models[str(SCRATCH_ROW)].load_state_dict(best["weights"])
    out = []
    for row in rows:
        logits = predict(models[str(row)], d.x_test)
        r = recipes[str(row)]
        own = seconds[str(row)]
        entry = {"seed": seed, "row": row, "test_acc": metrics.accuracy(logits, d.y_test),
                 "test_loss": metrics.cross_entropy(logits, d.y_test),
                 "epochs_run": last,
                 "epoch_kept": best["epoch"] if restored else last,
                 "own_seconds": own,
                 "teacher_seconds": seconds[r.teacher] if r.teacher in needed else 0.0}
        for name in TEACHERS:  # agreement with every teacher (top-1), KL to each
            t = teachers[name]["logits"]["test"]
            entry[f"agree_{name}"] = metrics.agreement(logits, t)
            entry[f"kl_{name}"] = metrics.mean_kl(logits, t)
        out.append(entry)
    table = pd.DataFrame(curve, columns=list(_CURVE)).astype({"epoch": int, "row": int})
    return {"students": pd.DataFrame(out), "curve": table}


def table1(classes: int = 100, width: float = 1.0) -> pd.DataFrame:
    """Our four networks' parameters and multiply-adds (millions) beside Table 1's."""
    rows = []
    for name, row in TABLE1.items():
        model = MODELS[name](classes=classes, width=width)
        rows.append({"model": name, "params_m": n_params(model) / 1e6,
                     "madds_m": madds(model) / 1e6, "paper_params_m": row["params_m"],
                     "paper_madds_m": row["madds_m"], "paper_top1": row["top1"] / 100,
                     "paper_top5": row["top5"] / 100})
    return pd.DataFrame(rows)


@dataclass
class Results:
    """Tidy tables of one run (the chapter module turns them into the claims' evidence)."""

    params: TeachersParams
    teachers: pd.DataFrame  # one row per teacher: test and validation accuracy, time, size
    students: pd.DataFrame  # one row per (seed, row of CONFIGS): the weights kept
    curves: pd.DataFrame  # one row per (seed, row, epoch): test and validation metrics
    sizes: pd.DataFrame  # table1() at the paper's scale (width 1, 100 classes)
    data_digest: str
    seconds: float
    compute_seconds: float  # what computing every entry took, cached or not

    def by_seed(self, row: int, metric: str) -> np.ndarray | None:
        """One value of ``metric`` per seed for a row of :data:`CONFIGS`."""
        rows = self.students[self.students["row"] == row].sort_values("seed")
        return None if rows.empty else rows[metric].to_numpy(dtype=float)

    def teacher_rank(self) -> dict[str, int]:
        """Each teacher's rank by its accuracy on the validation images (1: the most
        accurate; ties by Table 1's order). The test images do not rank."""
        t = self.teachers.set_index("teacher").loc[list(TEACHERS), "val_acc"]
        order = sorted(TEACHERS, key=lambda n: (-float(t[n]), TEACHERS.index(n)))
        return {name: i + 1 for i, name in enumerate(order)}


@functools.cache
def _madds(name: str, classes: int, width: float) -> float:
    """Multiply-adds of one forward pass of network ``name`` on one image (its weights drawn
    under a forked random state: building it moves no unit's random draws)."""
    with torch.random.fork_rng(devices=[]):
        return madds(MODELS[name](classes=classes, width=width))


# A unit's size (for time estimates, kdlib.units.Unit.size) counts its multiply-adds, in
# billions: a training step of a network as three forward passes (forward and backward), a
# teacher's outputs for the students as one, and every evaluation (validation and test images,
# after every epoch for students, once for a teacher) as one forward pass of what it evaluates.
def _teacher_size(name: str, d: Data, teacher: Teacher, classes: int, width: float) -> float:
    m = _madds(name, classes, width)
    return (3 * d.n_train * teacher.teacher_epochs + d.n_val + d.n_test) * m / 1e9


def _pass_size(rows: Sequence[int], epochs: int, d: Data, classes: int, width: float) -> float:
    student = _madds(STUDENT, classes, width)
    taught = {t for t in CONFIGS.loc[list(rows), "teacher"] if isinstance(t, str)}
    teachers = sum(_madds(t, classes, width) for t in taught)
    per_epoch = (d.n_train * (3 * len(rows) * student + teachers)
                 + (d.n_val + d.n_test) * len(rows) * student)
    return epochs * per_epoch / 1e9


def teacher_units(p: TeachersParams, ds: data.Dataset) -> list[Unit]:
    """One unit per teacher, keyed by its name, the data, the networks and its recipe."""
    classes = len(ds.classes)
    return [Unit(f"teacher {name}", _teacher_unit,
                 {"name": name, "data": p.data, "networks": p.networks, "teacher": p.teacher},
                 data={"ds": ds}, numerics=p.numerics, resumable=True,
                 size=_teacher_size(name, p.data, p.teacher, classes, p.networks.width))
            for name in TEACHERS]


def student_units(p: TeachersParams, ds: data.Dataset, refs: Sequence[Ref]) -> list[Unit]:
    """One unit per (seed, pass): the distilled passes, keyed by their rows, epochs, the
    students' section and the teachers' entries; the baseline's pass also by its early
    stopping (so a reading that changes it re-trains the baseline alone). A unit is named for
    its kind of pass (``students mixup``, ``students no mixup``, ``students scratch``), the
    same at every profile, so its time per size estimates the others'; its rows and epochs
    are in its key."""
    teachers = {name.lower(): ref for name, ref in zip(TEACHERS, refs, strict=True)}
    shared = {"data": p.data, "networks": p.networks, "student": p.student, **teachers}
    classes, width = len(ds.classes), p.networks.width
    units = []
    for seed in range(p.schedule.seeds):
        for name, rows, epochs in passes(p):
            size = _pass_size(rows, epochs, p.data, classes, width)
            if rows == (SCRATCH_ROW,):
                units.append(Unit("students scratch", _scratch_unit,
                                  {"seed": seed, "epochs": epochs, **shared,
                                   "stopping": p.stopping},
                                  data={"ds": ds}, numerics=p.numerics, resumable=True,
                                  size=size))
            else:
                units.append(Unit(f"students {name.split(',')[0]}", _distilled_unit,
                                  {"seed": seed, "rows": rows, "epochs": epochs, **shared},
                                  data={"ds": ds}, numerics=p.numerics, resumable=True,
                                  size=size))
    return units


def plan(p: TeachersParams, ds: data.Dataset | None = None) -> list[tuple[str, Unit]]:
    """Every unit :func:`run` computes at ``p``, as ``(experiment, unit)`` pairs, built by the
    same functions (the students' teachers as :class:`~kdlib.units.Ref`s without an entry,
    which key the same); ``ds`` is loaded when not given."""
    ds = ds or dataset(p)
    ts = teacher_units(p, ds)
    return [("teachers", u) for u in [*ts, *student_units(p, ds, [Ref(u, {}) for u in ts])]]


def dataset(p: TeachersParams) -> data.Dataset:
    """The data set ``p`` names (read from ``data_dir`` or the usual places)."""
    return data.load(p.data.dataset, p.run.data_dir or None, label=p.data.labels)


def run(p: TeachersParams, cache: Cache | None = None) -> Results:
    """Run (or load from the cache) the chapter's experiments for resolved parameters ``p``:
    the three teachers, then one unit per seed and pass (:func:`student_units`)."""
    start = time.perf_counter()
    cache = cache or Cache()
    ds = dataset(p)
    done = sweep(cache, "teachers", teacher_units(p, ds),
                 functools.partial(student_units, p, ds), p.run, desc="teachers")
    todo = [(seed, name) for seed in range(p.schedule.seeds) for name, _, _ in passes(p)]
    tables, curves = [], []
    for (seed, name), unit in zip(todo, done.units, strict=True):
        tables.append(unit["students"].assign(**{"pass": name}))
        curves.append(unit["curve"].assign(seed=seed))
    teacher_table = pd.concat([t["teacher"] for t in done.teachers], ignore_index=True)
    small = table1(len(ds.classes), p.networks.width).set_index("model")
    teacher_table["params_m"] = teacher_table["teacher"].map(small["params_m"])
    teacher_table["madds_m"] = teacher_table["teacher"].map(small["madds_m"])
    students = pd.concat(tables, ignore_index=True).sort_values(["seed", "row"],
                                                                ignore_index=True)
    curve = pd.concat(curves, ignore_index=True)
    return Results(params=p, teachers=teacher_table, students=students, curves=curve,
                   sizes=table1(), data_digest=ds.digest, seconds=time.perf_counter() - start,
                   compute_seconds=done.compute_seconds)
