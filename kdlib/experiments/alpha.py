"""The alpha study of the 000 report (N. Hao, 2023) and its portfolio page (001).

A 256/512-filter CNN teacher; 16/32-filter CNN students distilled at T = 3 for a sweep of
alpha on MNIST training images of which a fraction of labels were perturbed; evaluated on the
clean test set. ``alpha`` weights the hard-label loss (Hinton's lambda = 1 - alpha), so
``alpha = 1`` is a student trained from scratch on the (noisy) labels.

Design choices beyond the source, stated in the chapter:
- all students of one seed start from the same initial weights and see the same batch order
  (common random numbers), so differences between alphas are due to alpha alone;
- one teacher (``teacher_seed``) serves every seed; its logits are computed once.

Units of work and the sections they receive (their keys):
- ``teacher``: ``data``, ``teacher``, ``training``, and ``noise`` only when it trains on the
  students' noisy images (``teacher_data="subset"``; else ``None``: a teacher of the clean
  images is shared by every noise level);
- ``students`` (one per seed, the seed a plain value): ``data``, ``noise``, ``training``,
  ``students`` and the teacher's entry. ``seeds`` (how many) is in no key.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from kdlib import data as datasets
from kdlib import metrics, units
from kdlib.backend import BACKENDS
from kdlib.config import MAX_SEED, ParamError, Params, Section, param
from kdlib.metrics import summarize
from kdlib.models import (
    hao_student,
    hao_teacher,
    keras_hao_student,
    keras_hao_teacher,
)
from kdlib.results import PUBLISHED, Cache, Checkpoint, Entry
from kdlib.units import Ref, Unit

__all__ = ["DIRECTIONS", "DIRECTION_ALPHAS", "PAPER_DIRECTIONS", "READINGS", "SOURCE_SCALE",
           "VALIDATION", "AlphaParams", "Data", "Noise", "Results", "Students", "Sweep",
           "Teacher", "Training", "check_data", "compare_frameworks", "comparison_params",
           "direction_params", "directions", "notebook_params", "paper_params", "paper_run", "plan",
           "reading_names", "reading_params", "resolve", "run", "students_unit", "teacher_unit",
           "units_of"]

_ALPHAS = [round(0.1 * i, 1) for i in range(11)]
VALIDATION = 5000  # the last images of the official training set: the teacher's validation
SCRATCH_SEED_OFFSET = 1_000_003  # the scratch student's initial weights: seed + this


class Data(Section):
    """The images: the students' training set and the (clean) test set."""

    dataset: param(str, "Training and test data (28x28 grey images).", "mnist",
                   choices=("mnist", "fashion_mnist"))
    n_train: param(int, "Training images: the first n of the official training set.", 10000,
                   low=100, high=55000)
    n_test: param(int, "Test images: the first n of the official (clean) test set.", 10000,
                  low=100, high=10000)


class Noise(Section):
    """The perturbation of the students' training labels."""

    noise_rate: param(float, "Fraction of training labels perturbed (the report: 500/10,000).",
                      0.05, low=0, high=1)
    noise_kind: param(str, "'shift' maps y to y-1 mod 10 (a 4 becomes a 3); 'symmetric' to a "
                      "random other class.", "shift", choices=("shift", "symmetric"))
    noise_seed: param(int, "Seed choosing which labels are perturbed.", 0, low=0, high=MAX_SEED)


class Teacher(Section):
    """The teacher: what it trains on, for how long, from which seed."""

    teacher_data: param(str, "The teacher's training set: 'subset' is the students' noisy "
                        "images, 'full' the first 55,000 clean training images (the last 5,000 "
                        "validate).", "full", choices=("subset", "full"))
    teacher_epochs: param(int, "Teacher training epochs, all of them (the report trained "
                          "1000); its accuracy on the 5,000 validation images is recorded, "
                          "never used to stop.", 1, low=1, high=10000)
    teacher_seed: param(int, "Seed of the teacher's initial weights and batch order.", 0,
                        low=0, high=MAX_SEED)


class Training(Section):
    """How the teacher and the students are trained (both receive it)."""

    framework: param(str, "torch: all students of a seed as one stacked model; keras: the "
                     "seed's own Keras Distiller, one alpha after another (slow).", "torch",
                     choices=("torch", "keras"))
    batch_size: param(int, "Mini-batch size (the report: Keras's default, 32).", 32, low=1,
                      high=60000)
    learning_rate: param(float, "Adam's learning rate (Keras's default, 0.001).", 0.001,
                         low=0, high=1, low_open=True)


class Students(Section):
    """The students of one seed: the alphas swept, the temperature, the epochs."""

    alphas: param(list, "Weights of the hard-label loss to sweep (1 means no distillation).",
                  _ALPHAS, low=0, high=1, item=float)
    temperature: param(float, "Softmax temperature T of the distillation term.", 3.0, low=0,
                       high=100, low_open=True)
    epochs: param(int, "Student training epochs (the report: up to 1000).", 10, low=1,
                  high=10000)
    snapshots: param(list, "Epochs at which the students are evaluated, each at most epochs.",
                     [1, 3, 5, 10], low=1, high=10000, item=int)


class Sweep(Section):
    """How many seeds: each seed's unit gets its seed as a plain value (in no key as a count)."""

    seeds: param(int, "Independent runs per alpha (seeds 0 to seeds-1); CIs are over these.", 3,
                 low=1, high=50)


class AlphaParams(Params):
    """The alpha chapter's parameters."""

    chapter = "alpha"
    profiles = {
        "quick": {"n_train": 500, "n_test": 1000, "teacher_data": "subset",
                  "alphas": [0.0, 0.5, 1.0], "epochs": 2, "snapshots": [1, 2], "seeds": 2},
        "paper": {"teacher_epochs": 30, "epochs": 1000, "snapshots": [100, 300, 500, 1000]},
    }
    data: Data = Data()
    noise: Noise = Noise()
    teacher: Teacher = Teacher()
    training: Training = Training()
    students: Students = Students()
    sweep: Sweep = Sweep()

    def checked(self) -> AlphaParams:
        s = self.students
        if max(s.snapshots) > s.epochs:
            raise ParamError(f"snapshots must each be in [1, epochs={s.epochs}]; "
                             f"got {s.snapshots}")
        tidy = s.model_copy(update={"snapshots": sorted(set(s.snapshots)),
                                    "alphas": sorted(set(s.alphas))})
        return self.model_copy(update={"students": tidy})


# What the 000 report ran, for the scale admonition.
SOURCE_SCALE = {"n_train": 10000, "n_test": 10000, "teacher_epochs": 1000, "epochs": 1000,
                "alphas": 11, "seeds": 1}


def resolve(namespace: dict[str, Any]) -> AlphaParams:
    """Validated parameters from a notebook's globals (``profile`` + one name per parameter)."""
    return AlphaParams.from_namespace(namespace)


@dataclass
class Results:
    """Tidy tables of one run of the study."""

    params: AlphaParams
    teacher: pd.DataFrame   # one row: teacher test accuracy and training time
    students: pd.DataFrame  # one row per (seed, student, alpha, epoch)
    test_logits: dict[int, torch.Tensor]  # seed -> (alphas + scratch, n_test, 10), last epoch
    y_test: np.ndarray
    classes: tuple[str, ...]
    data_digest: str
    seconds: float  # wall time of this call
    code: tuple[str, ...] = ()  # hashes of the code that computed the units (code_hash)
    commits: tuple[str, ...] = ()  # the git commits that computed the units
    machines: tuple[str, ...] = ()  # the CPUs they were computed on (meta "machine")
    entries: list[Entry] = field(default_factory=list, repr=False)  # teacher, then seeds

    @property
    def compute_seconds(self) -> float:
        """Time it took to compute the results (teacher + every seed), cached or not."""
        return units.compute_seconds(self.entries)

    def per_class(self, alphas: tuple[float, ...] = (0.0, 0.5, 1.0)) -> pd.DataFrame:
        """Per-class test accuracy (recall) at the last epoch: one row per (seed, student, class).

        ``student`` is ``"alpha = a"`` for the distilled students at ``alphas`` (those in the
        run), and ``"scratch"``.
        """
        swept = self.params["alphas"]
        picks = [(f"alpha = {a:g}", swept.index(a)) for a in alphas if a in swept]
        picks.append(("scratch", len(swept)))
        rows = []
        for seed, logits in self.test_logits.items():
            for label, i in picks:
                report = metrics.class_report(logits[i], torch.from_numpy(self.y_test),
                                              self.classes)
                rows += [{"seed": seed, "student": label, "class": c, "accuracy": r}
                         for c, r in zip(report["class"], report["recall"], strict=True)]
        return pd.DataFrame(rows)

    def references(self, value: str = "test_acc") -> pd.DataFrame:
        """The scratch student at the last epoch (and the teacher, for accuracy), as lines."""
        last = max(self.params["snapshots"])
        rows = self.students[(self.students["student"] == "scratch")
                             & (self.students["epoch"] == last)]
        mean, lo, hi = metrics.mean_ci(rows[value].to_numpy(dtype=float))
        out = [{"label": f"scratch (epoch {last})", "mean": mean, "ci_low": lo, "ci_high": hi}]
        if value == "test_acc":
            out.insert(0, {"label": "teacher", "mean": float(self.teacher["test_acc"].iloc[0]),
                           "ci_low": float("nan"), "ci_high": float("nan")})
        return pd.DataFrame(out)

    def summary(self, value: str = "test_acc", student: str = "distilled") -> pd.DataFrame:
        """Mean and 95% CI over seeds of ``value`` for each (epoch, alpha)."""
        rows = self.students[self.students["student"] == student]
        return summarize(rows, ["epoch", "alpha"], value)


def _tensors(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(datasets.to_float(x))


@dataclass(frozen=True)
class _Images:
    """The students' images and labels, cut from the data set inside a unit."""

    x: np.ndarray
    y_clean: np.ndarray
    y_noisy: np.ndarray | None  # None: no noise was given (a teacher of the clean images)
    changed: np.ndarray | None


def _images(data: Data, noise: Noise | None, ds: datasets.Dataset) -> _Images:
    """The first ``n_train`` training images; with ``noise``, their perturbed labels."""
    x, y_clean = datasets.first_n(ds.x_train, ds.y_train, data.n_train)
    if noise is None:
        return _Images(x, y_clean, None, None)
    y_noisy, changed = datasets.label_noise(y_clean, noise.noise_rate, noise.noise_kind,
                                            noise.noise_seed)
    return _Images(x, y_clean, y_noisy, changed)


def teacher_unit(data: Data, noise: Noise | None, teacher: Teacher, training: Training,
                 ds: datasets.Dataset, checkpoint: Checkpoint) -> Entry:
    """Train the teacher; its weights and its logits on the students' images and the test set.

    ``noise`` is given only to a teacher of the students' noisy images (``subset``). In torch,
    a checkpoint after every epoch lets a killed run resume there.
    """
    start = time.perf_counter()
    images = _images(data, noise, ds)
    if teacher.teacher_data == "full":
        xt = _tensors(ds.x_train[:-VALIDATION])
        yt = torch.from_numpy(ds.y_train[:-VALIDATION])
    else:
        if images.y_noisy is None:
            raise ValueError("a teacher of the noisy subset needs its noise section")
        xt, yt = _tensors(images.x), torch.from_numpy(images.y_noisy)
    x_val, y_val = _tensors(ds.x_train[-VALIDATION:]), torch.from_numpy(ds.y_train[-VALIDATION:])
    x_test = _tensors(ds.x_test[:data.n_test])
    val_acc: list[float] = []
    b = BACKENDS[training.framework]

    def record(m) -> None:  # validation accuracy per epoch; never a reason to stop
        val_acc.append(metrics.accuracy(b.predict(m, x_val), y_val))

    def save(state: dict[str, Any]) -> None:  # torch's only: Keras never checkpoints
        checkpoint.save({**state, "val_acc": val_acc, "seconds": time.perf_counter() - start})

    state = checkpoint.load()
    if state is not None:  # resume: the validation scores and time of the epochs done
        val_acc.extend(state["val_acc"])
        start -= state["seconds"]
    model = _network(training.framework, "teacher", teacher.teacher_seed)
    losses = b.fit(model, xt, yt, teacher.teacher_epochs, training.batch_size,
                   training.learning_rate, teacher.teacher_seed, on_epoch=record, state=state,
                   checkpoint_every=1, on_checkpoint=save)
    test_logits = b.predict(model, x_test)
    train_logits = b.predict(model, _tensors(images.x))
    y_test = torch.from_numpy(ds.y_test[:data.n_test])
    table = pd.DataFrame({"test_acc": [metrics.accuracy(test_logits, y_test)],
                          "final_train_loss": [losses[-1]], "epochs": [len(losses)],
                          "val_acc": [val_acc[-1] if val_acc else float("nan")],
                          "seconds": [time.perf_counter() - start]})
    return {"teacher": table, "weights": b.weights(model),
            "logits": {"train": train_logits, "test": test_logits}}
@dataclass
class _Scorer:
    """Turns one snapshot's logits of a seed's students into tidy rows."""

    seed: int
    alphas: list[float]
    kinds: list[str]
    teacher_test: torch.Tensor
    y_test: torch.Tensor
    y_recovered: torch.Tensor  # the original labels of the perturbed training images
    rows: list[dict[str, Any]]

    def add(self, i: int, epoch: int, logits: torch.Tensor, noisy: torch.Tensor | None) -> None:
        """Metrics of student ``i`` after ``epoch``: test logits, logits on perturbed images."""
        self.rows.append({
            "seed": self.seed, "student": self.kinds[i], "alpha": self.alphas[i], "epoch": epoch,
            "test_acc": metrics.accuracy(logits, self.y_test),
            "test_loss": metrics.cross_entropy(logits, self.y_test),
            "agreement": metrics.agreement(logits, self.teacher_test),
            "kl_to_teacher": metrics.mean_kl(logits, self.teacher_test),
            "noisy_recovered": float("nan") if noisy is None
            else metrics.accuracy(noisy, self.y_recovered),
        })

    def table(self, history: np.ndarray, start: float) -> pd.DataFrame:
        """The rows, sorted, with each student's training loss at its epoch and the time."""
        table = pd.DataFrame(self.rows)
        index = {(k, a): i for i, (k, a) in enumerate(zip(self.kinds, self.alphas, strict=True))}
        table["train_loss"] = [float(history[e - 1, index[(k, a)]]) for k, a, e in
                               zip(table["student"], table["alpha"], table["epoch"], strict=True)]
        table["seconds"] = time.perf_counter() - start
        order = {k: i for i, k in enumerate(("distilled", "scratch"))}
        return table.sort_values(["epoch", "student", "alpha"],
                                 key=lambda c: c.map(order) if c.name == "student" else c,
                                 ignore_index=True)


def checkpoint_every(epochs: int) -> int:
    """Epochs between a seed's checkpoints: about 100 per run, at least every epoch."""
    return max(1, epochs // 100)


def students_unit(data: Data, noise: Noise, training: Training, students: Students, seed: int,
                  teacher: Entry, ds: datasets.Dataset, checkpoint: Checkpoint) -> Entry:
    """One seed: every alpha's student, and the scratch student.

    The distilled students share one initialisation; the scratch student (hard labels only,
    i.e. alpha = 1) has its own, as the report's separately built Keras model had. In torch,
    the run saves a checkpoint every ``checkpoint_every(epochs)`` epochs and resumes from it.
    """
    start = time.perf_counter()
    images = _images(data, noise, ds)
    x, y = _tensors(images.x), torch.from_numpy(images.y_noisy)
    x_test = _tensors(ds.x_test[:data.n_test])
    y_test = torch.from_numpy(ds.y_test[:data.n_test])
    changed, y_clean = torch.from_numpy(images.changed), torch.from_numpy(images.y_clean)
    alphas = [*students.alphas, 1.0]
    kinds = ["distilled"] * len(students.alphas) + ["scratch"]
    scorer = _Scorer(seed, alphas, kinds, teacher["logits"]["test"], y_test, y_clean[changed],
                     [])
    last: dict[int, torch.Tensor] = {}
    b = BACKENDS[training.framework]
    teacher_model = b.load(_network(training.framework, "teacher", 0), teacher["weights"])
    init = _network(training.framework, "student", seed)
    scratch = _network(training.framework, "student", SCRATCH_SEED_OFFSET + seed)

    def evaluate(epoch: int, indices: list[int], predict_) -> None:
        logits = predict_(x_test)
        noisy = predict_(x[changed]) if len(changed) else [None] * len(indices)
        for j, i in enumerate(indices):
            scorer.add(i, epoch, logits[j], noisy[j])
            last[i] = logits[j].clone()

    def save(state: dict[str, Any]) -> None:  # torch's only: Keras never checkpoints
        state.update(rows=scorer.rows, last=last, seconds=time.perf_counter() - start)
        checkpoint.save(state)

    state = checkpoint.load()
    if state is not None:  # resume: the rows and time of the epochs already done
        scorer.rows.extend(state["rows"])
        last.update(state["last"])
        start -= state["seconds"]
    history = b.distil([init] * len(students.alphas) + [scratch], teacher_model, x, y, alphas,
                       students.temperature, students.epochs, training.batch_size,
                       training.learning_rate, seed, snapshots=students.snapshots,
                       on_snapshot=evaluate, teacher_logits=teacher["logits"]["train"],
                       desc=f"students, seed {seed}", state=state,
                       checkpoint_every=checkpoint_every(students.epochs), on_checkpoint=save)
    logits = torch.stack([last[i] for i in range(len(alphas))])
    return {"students": scorer.table(history, start), "logits": {"test": logits}}


def _network(framework: str, kind: str, seed: int):
    """The report's teacher or student network in ``framework``, its initial weights drawn
    from ``seed``."""
    if framework == "keras":
        import keras

        keras.utils.set_random_seed(seed)
        return keras_hao_teacher() if kind == "teacher" else keras_hao_student()
    torch.manual_seed(seed)
    return hao_teacher() if kind == "teacher" else hao_student()


def _teacher_noise(p: AlphaParams) -> Noise | None:
    """The noise section for a teacher of the students' noisy images; None for one of the
    clean images (so it is shared by every noise level)."""
    return p.noise if p.teacher.teacher_data == "subset" else None


# A Keras unit's work per image against torch's (one Distiller.fit per student, eager
# Keras steps), for estimates only: a first guess, to be set from timed comparison units.
KERAS_COST = 4.0
_FORWARD = 1 / 3  # an evaluation (forward-only) pass over an image, against a training step


def _cost(training: Training) -> float:
    return KERAS_COST if training.framework == "keras" else 1.0


def _teacher(p: AlphaParams, ds: datasets.Dataset) -> Unit:
    """The teacher's unit. Its size counts image passes: training images x epochs, plus the
    validation images every epoch and the logits at the end, each a third of a step."""
    n = len(ds.x_train) - VALIDATION if p.teacher.teacher_data == "full" else p.data.n_train
    epochs = p.teacher.teacher_epochs
    size = (epochs * (n + _FORWARD * VALIDATION)
            + _FORWARD * (p.data.n_train + p.data.n_test)) * _cost(p.training)
    return Unit("teacher", teacher_unit, {"data": p.data, "noise": _teacher_noise(p),
                                          "teacher": p.teacher, "training": p.training},
                data={"ds": ds}, numerics=p.numerics, resumable=True, size=size)


def _students(p: AlphaParams, ds: datasets.Dataset, ref: Ref, seed: int) -> Unit:
    """One seed's unit. Its size counts image passes of all its students (the alphas and the
    scratch one): training images x epochs, plus the test images (and the perturbed training
    images) at every snapshot, each a third of a step."""
    nets = len(p.students.alphas) + 1
    evaluated = p.data.n_test + round(p.noise.noise_rate * p.data.n_train)
    size = nets * (p.students.epochs * p.data.n_train
                   + _FORWARD * len(p.students.snapshots) * evaluated) * _cost(p.training)
    return Unit("students", students_unit, {"data": p.data, "noise": p.noise,
                                            "training": p.training, "students": p.students,
                                            "seed": seed, "teacher": ref},
                data={"ds": ds}, numerics=p.numerics, resumable=True, size=size)


def units_of(p: AlphaParams, ds: datasets.Dataset) -> tuple[Unit, list[Unit]]:
    """The teacher's unit, and the seeds' units for it (its ``Ref`` keyed without its entry):
    what :func:`run` computes, built by the same functions."""
    teacher = _teacher(p, ds)
    return teacher, [_students(p, ds, Ref(teacher, {}), seed) for seed in range(p.sweep.seeds)]


def run(p: AlphaParams, cache: Cache | None = None, compute: bool = True) -> Results | None:
    """Run (or load from the cache) the study for resolved parameters ``p``.

    With ``compute=False`` nothing is trained: the seeds the cache holds are loaded (computed
    by this code or, failing that, by other code: ``Results.code`` says which), and ``None`` is
    returned if it holds no teacher or no seed.
    """
    start = time.perf_counter()
    cache = cache or Cache()
    ds = datasets.load(p.data.dataset, p.run.data_dir or None)
    teacher = _teacher(p, ds)

    def seeds(refs: list[Ref]) -> list[Unit]:
        return [_students(p, ds, refs[0], seed) for seed in range(p.sweep.seeds)]

    found = units.sweep(cache, "alpha", [teacher], seeds, p.run, desc="alpha", compute=compute)
    done = [e for e in found.units if e is not None]
    if found.teachers[0] is None or not done:
        return None
    entries = [found.teachers[0], *done]
    made_by = {_made_by(e) for e in entries}
    return Results(params=p, teacher=found.teachers[0]["teacher"],
                   students=pd.concat([e["students"] for e in done], ignore_index=True),
                   test_logits={int(e["students"]["seed"].iloc[0]): e["logits"]["test"]
                                for e in done},
                   y_test=ds.y_test[:p.data.n_test], classes=ds.classes, data_digest=ds.digest,
                   seconds=time.perf_counter() - start,
                   code=tuple(sorted({c for c, _, _ in made_by})),
                   commits=tuple(sorted({c for _, c, _ in made_by})),
                   machines=tuple(sorted({m for _, _, m in made_by})), entries=entries)


def _made_by(entry: Entry) -> tuple[str, str, str]:
    """The code hash, commit and machine that computed a cache entry."""
    meta = entry["meta"]
    return meta["code"], meta.get("commit", "unknown"), meta.get("machine", "unknown")


def paper_params(p: AlphaParams) -> AlphaParams:
    """The paper profile's parameters (with this run's data directory)."""
    return AlphaParams.resolve("paper", data_dir=p.run.data_dir)


def paper_run(p: AlphaParams, root: Path = PUBLISHED) -> Results | None:
    """The committed paper-scale results for this code (the seeds finished so far), or None."""
    return run(paper_params(p), Cache(root), compute=False)


# The report's future directions (its Section 7), each a variant of the main run's parameters.
# They sweep fewer alphas for half the epochs, and the chapter says so.
DIRECTIONS: dict[str, dict[str, Any]] = {
    "noise 0%": {"noise_rate": 0.0},
    "noise 10%": {"noise_rate": 0.1},
    "noise 20%": {"noise_rate": 0.2},
    "poor teacher": {"teacher_data": "subset", "teacher_epochs": 1},
    "Fashion-MNIST": {"dataset": "fashion_mnist", "teacher_data": "subset", "teacher_epochs": 2},
}
# At paper scale the teachers of two variants see all clean images, as the main teacher does.
PAPER_DIRECTIONS: dict[str, dict[str, Any]] = {
    "poor teacher": {"teacher_data": "full", "teacher_epochs": 2},  # the report's suggestion
    "Fashion-MNIST": {"teacher_data": "full", "teacher_epochs": 10},
}
DIRECTION_ALPHAS = [0.0, 0.25, 0.5, 0.75, 1.0]

# Plausible readings of what the report leaves open, each run beside the main one at the
# same scale; the claims table shows the verdict under each.
READINGS: dict[str, dict[str, Any]] = {
    # "if an image has label 4, ... changing it to 3": an example; random labels also fit
    "noise: symmetric": {"noise_kind": "symmetric"},
    # "trained the teacher model on all of the MNIST": or on the students' noisy images
    "teacher: noisy subset": {"teacher_data": "subset"},
}


def direction_params(p: AlphaParams, variant: str) -> AlphaParams:
    """The main run's parameters, reduced (5 alphas, half the epochs) and changed by a variant."""
    epochs = max(1, p.students.epochs // 2)
    paper = PAPER_DIRECTIONS.get(variant, {}) if p.profile == "paper" else {}
    return p.replace(**{"alphas": DIRECTION_ALPHAS, "epochs": epochs, "snapshots": [epochs],
                        **DIRECTIONS[variant], **paper})


def reading_params(p: AlphaParams, reading: str) -> AlphaParams:
    """The main run's parameters under another reading of the source."""
    return p.replace(**READINGS[reading])


def check_data(p: AlphaParams) -> None:
    """Load (and so checksum) every data set the chapter will use, main run and directions,
    so a missing or corrupt file stops it before any training."""
    names = {p.data.dataset} | {direction_params(p, v).data.dataset for v in DIRECTIONS}
    for name in sorted(names):
        datasets.load(name, p.run.data_dir or None)


def directions(p: AlphaParams, cache: Cache | None = None) -> pd.DataFrame:
    """Every future-direction variant, run (or loaded); last-epoch rows with a ``variant``."""
    tables = []
    for variant in DIRECTIONS:
        r = run(direction_params(p, variant), cache)
        last = r.students[r.students["epoch"] == max(r.params["snapshots"])]
        tables.append(last.assign(variant=variant,
                                  teacher_acc=float(r.teacher["test_acc"].iloc[0])))
    return pd.concat(tables, ignore_index=True)


def comparison_params(p: AlphaParams, framework: str) -> AlphaParams:
    """A small configuration run in both frameworks (3 alphas, 3 epochs, <= 2,000 images)."""
    return p.replace(framework=framework, n_train=min(p["n_train"], 2000),
                     n_test=min(p["n_test"], 2000), teacher_data="subset", teacher_epochs=1,
                     alphas=[0.0, 0.5, 1.0], epochs=3, snapshots=[3])


def compare_frameworks(p: AlphaParams, cache: Cache | None = None) -> pd.DataFrame:
    """Torch (stacked) and Keras (the seed's Distiller) on one small configuration.

    One row per (student, alpha): each framework's mean test accuracy with its CI over seeds,
    and the difference torch - keras with its Welch 95% interval. Each framework trains its
    own teacher, so teacher noise is part of the seed noise.
    """
    runs = {fw: run(comparison_params(p, fw), cache).students for fw in ("torch", "keras")}
    rows = []
    for (kind, a), part in runs["torch"].groupby(["student", "alpha"], sort=False):
        other = runs["keras"]
        other = other[(other["student"] == kind) & (other["alpha"] == a)]
        t_acc, k_acc = part["test_acc"].to_numpy(), other["test_acc"].to_numpy()
        text, verdict = metrics.welch_difference(t_acc, k_acc)
        rows.append({"student": kind, "alpha": a, "torch": metrics.ci_text(t_acc),
                     "keras": metrics.ci_text(k_acc),
                     "torch - keras": text, "within seed noise": verdict})
    return pd.DataFrame(rows)


def reading_names(p: AlphaParams) -> tuple[str, ...]:
    """The readings run beside the main run (none at the paper profile, which judges its run
    alone)."""
    return tuple(READINGS) if p.profile != "paper" else ()


def notebook_params(p: AlphaParams) -> list[AlphaParams]:
    """Every run the chapter's notebook makes at ``p``: the main run, each reading, each future
    direction and both frameworks' comparison (the committed paper run is only read)."""
    return [p, *(reading_params(p, r) for r in reading_names(p)),
            *(direction_params(p, v) for v in DIRECTIONS),
            *(comparison_params(p, fw) for fw in ("torch", "keras"))]


def plan(p: AlphaParams) -> list[tuple[str, Unit]]:
    """Every unit the chapter's notebook computes at ``p``, once each, as ``("alpha", unit)``
    (built by :func:`units_of`, as :func:`run` builds them)."""
    loaded: dict[str, datasets.Dataset] = {}
    out: dict[tuple[str, str, str], Unit] = {}
    for q in notebook_params(p):
        if q.data.dataset not in loaded:
            loaded[q.data.dataset] = datasets.load(q.data.dataset, q.run.data_dir or None)
        teacher, seeds = units_of(q, loaded[q.data.dataset])
        for u in (teacher, *seeds):
            out.setdefault((u.name, json.dumps(u.params, sort_keys=True), u.digest), u)
    return [("alpha", u) for u in out.values()]
