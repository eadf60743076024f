"""The 004 poster, "Does Knowledge Distillation Really Work?" (after Stanton et al., 2021).

A small CNN teacher (Conv 8 → Conv 16 → Dense 32, 26,698 parameters) and a dense student (the
teacher without its convolutions, 25,450 parameters) on MNIST; the student is distilled over a
grid of temperature x alpha. ``alpha`` weights the hard-label loss, as in the poster's formula.

Design choices beyond the source, stated in the chapter:
- the split: the poster's test supports (986, 1125, …) are exactly 10,000 x the class shares of
  all 70,000 MNIST images, i.e. a stratified split of the pooled set; ``split="poster"`` pools and
  splits 50,000 / 10,000 / 10,000 (train / validation / test), ``"official"`` keeps the official
  test set and validates on the last 10,000 official training images;
- activation (ReLU) and dropout rate (0.2): the poster gives neither; these are TensorFlow's
  quick-start MLP, which the student's Flatten → Dense → Dropout → Dense structure is;
- all students of one seed start from the same weights, see the same batch order and share
  dropout masks, so differences between grid cells come from temperature and alpha alone;
- each seed trains its own teacher (``teacher_seed + seed``; ``teacher_per_seed``), so every
  seed repeats the whole study, teacher included, and the teacher's numbers have an interval;
- every student is evaluated after every epoch on the validation and the test set, so its
  learning curve comes with the grid, and any epoch (or each cell's best validation epoch) can
  be read off one run; anything chosen from these numbers is chosen on validation data
  (:mod:`kdlib.chapters.poster`), the test set only judges.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import torch

from kdlib import data, metrics
from kdlib.backend import BACKENDS
from kdlib.config import MAX_SEED, ParamError, Params, Section, param
from kdlib.metrics import summarize
from kdlib.models import keras_poster_student, keras_poster_teacher, poster_student, poster_teacher
from kdlib.results import Cache, Entry
from kdlib.units import Ref, Unit, sweep
from kdlib.units import Sweep as Entries

if TYPE_CHECKING:
    from kdlib.experiments import alpha as alpha_study

__all__ = ["ABLATIONS", "CONFUSED_PAIRS", "SOURCE_SCALE", "Fit", "Mnist", "Networks",
           "PosterParams", "Results", "Seeds", "Students", "Teacher", "ablation_params",
           "ablations", "compare_frameworks", "comparison_params", "keras_example_params",
           "plan", "resolve", "run"]

POOLED_SPLIT = (10000, 10000)  # validation, test: the rest of the 70,000 images trains
CONFUSED_PAIRS = ((9, 4), (5, 3), (6, 5))  # the poster's most confused digits
POSTER_MAX_T = 10.0  # the poster's grid went up to T = 10 ("if the optimal T is > 10")
_ALPHAS = [round(0.1 * i, 1) for i in range(11)]
# The poster's scale, as far as it states it: its training part of MNIST (50,000 images once
# 10,000 validate and 10,000 test), and learning curves at least this long (it names epoch 11
# as where the teacher overfits and 13 for the student, so its curves went on past them).
SOURCE_SCALE = {"n_train": 50000, "teacher_epochs": 12, "epochs": 14, "hidden": 32}


class Mnist(Section):
    """Which MNIST images train, validate and test (teachers and students)."""

    split: param(str, "'poster': all 70,000 images pooled and split 50,000/10,000/10,000 "
                 "(train/validation/test) stratified by class, as the poster's supports imply; "
                 "'official': official test set, last 10,000 training images validate.",
                 "poster", choices=("poster", "official"))
    split_seed: param(int, "Seed of the pooled split.", 0, low=0, high=MAX_SEED)


class Networks(Section):
    """What teacher and students share: the framework, the activation and dropout."""

    framework: param(str, "torch: all students of a seed as one stacked model; keras: one "
                     "Keras Distiller fit per grid cell (slow).", "torch",
                     choices=("torch", "keras"))
    activation: param(str, "Activation after each convolution and hidden dense layer (the "
                      "poster names none).", "relu", choices=("relu", "tanh", "elu"))
    dropout: param(float, "Dropout rate of both networks (the poster names none).", 0.2,
                   low=0, high=0.9)


class Fit(Section):
    """How teacher and students are trained: Adam on mini-batches."""

    batch_size: param(int, "Mini-batch size (Keras's default, 32).", 32, low=1, high=50000)
    learning_rate: param(float, "Adam's learning rate (Keras's default, 0.001).", 0.001,
                         low=0, high=1, low_open=True)


class Teacher(Section):
    """The teacher unit (one per teacher seed)."""

    teacher_n_train: param(int, "The teacher's training images: the first n of the training "
                           "part.", 50000, low=100, high=50000)
    teacher_epochs: param(int, "Teacher training epochs, all of them; it distils after the "
                          "last (its validation curve is recorded, never used to stop it).",
                          15, low=1, high=1000)


class Students(Section):
    """The students unit (one per seed: every grid cell as one stacked model)."""

    n_train: param(int, "The students' training images: the first n of the teacher's.",
                   50000, low=100, high=50000)
    hidden: param(int, "Hidden units of the student (the poster: 32, as its teacher's).", 32,
                  low=1, high=4096)
    temperatures: param(list, "Temperatures T of the grid.", [1.0, 2.0, 5.0, 10.0, 20.0],
                        low=0, high=100, low_open=True, item=float)
    alphas: param(list, "Weights of the hard-label loss in the grid (1: no distillation).",
                  [0.0, 0.25, 0.5, 0.75, 1.0], low=0, high=1, item=float)
    epochs: param(int, "Student training epochs; every student is evaluated after each.", 15,
                  low=1, high=1000)


class Seeds(Section):
    """The seeds, and which teacher serves each (units receive their seed, not this)."""

    teacher_seed: param(int, "Seed of the (first) teacher's initial weights, dropout and "
                        "batch order.", 0, low=0, high=MAX_SEED)
    teacher_per_seed: param(bool, "Each seed trains its own teacher (seed teacher_seed + "
                            "seed), so every seed repeats the whole study; false: one teacher "
                            "serves every seed.", True)
    seeds: param(int, "Independent runs per grid cell (seeds 0 to seeds-1); CIs are over "
                 "these.", 3, low=1, high=50)


class PosterParams(Params):
    """The poster chapter's parameters."""

    chapter: ClassVar[str] = "poster"
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {"teacher_n_train": 2000, "n_train": 2000, "teacher_epochs": 2,
                  "alphas": [0.0, 0.5, 1.0], "epochs": 2, "seeds": 2},
        "paper": {"teacher_epochs": 20, "temperatures": [float(t) for t in range(1, 11)] + [20.0],
                  "alphas": _ALPHAS, "epochs": 20},
    }
    mnist: Mnist = Mnist()
    networks: Networks = Networks()
    fit: Fit = Fit()
    teacher: Teacher = Teacher()
    students: Students = Students()
    sweep: Seeds = Seeds()

    def checked(self) -> PosterParams:
        """The grid's temperatures and alphas sorted without repeats; the students' images
        among the teacher's."""
        s, t = self.students, self.teacher
        if s.n_train > t.teacher_n_train:
            raise ParamError(f"n_train must be in [100, teacher_n_train={t.teacher_n_train}]; "
                             f"got {s.n_train}")
        grid = {"temperatures": sorted(set(s.temperatures)), "alphas": sorted(set(s.alphas))}
        return self.model_copy(update={"students": s.model_copy(update=grid)})


def resolve(namespace: dict[str, Any]) -> PosterParams:
    """Validated parameters from a notebook's globals (``profile`` + one name per parameter)."""
    return PosterParams.from_namespace(namespace)


@dataclass
class Split:
    """Float NCHW images and labels of one train / validation / test split."""

    x: torch.Tensor
    y: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def make_split(ds: data.Dataset, mnist: Mnist, n_train: int) -> Split:
    """The split ``mnist`` asks for, its training part cut to its first ``n_train`` images
    (the teacher's ``teacher_n_train``, the students' ``n_train``: the first of the teacher's)."""
    if mnist.split == "poster":
        x_all = np.concatenate([ds.x_train, ds.x_test])
        y_all = np.concatenate([ds.y_train, ds.y_test])
        train, val, test = data.stratified_split(y_all, POOLED_SPLIT, mnist.split_seed)
        parts = [(x_all[i], y_all[i]) for i in (train, val, test)]
    else:
        parts = [(ds.x_train[:-10000], ds.y_train[:-10000]),
                 (ds.x_train[-10000:], ds.y_train[-10000:]), (ds.x_test, ds.y_test)]
    parts[0] = data.first_n(*parts[0], n_train)
    (x, y), (xv, yv), (xt, yt) = [(torch.from_numpy(data.to_float(a)), torch.from_numpy(b))
                                  for a, b in parts]
    return Split(x, y, xv, yv, xt, yt)


def cells(students: Students) -> list[tuple[float, float]]:
    """The grid's (temperature, alpha) cells, temperature-major."""
    return [(t, a) for t in students.temperatures for a in students.alphas]


def alone_cell(students: Students) -> tuple[float, float] | None:
    """The cell of the student alone: alpha = 1 at the lowest temperature (at alpha = 1 the
    soft term has weight zero, so every temperature trains the same student)."""
    return (min(students.temperatures), 1.0) if 1.0 in students.alphas else None


def teacher_seed(seeds: Seeds, seed: int) -> int:
    """The seed of the teacher that student seed ``seed`` distils from."""
    return seeds.teacher_seed + (seed if seeds.teacher_per_seed else 0)


def teacher_index(seeds: Seeds, seed: int) -> int:
    """The row of the teacher (among the run's teachers) that student seed ``seed`` distils
    from."""
    return seed if seeds.teacher_per_seed else 0


def _epoch_stats(epoch: int, logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return {"epoch": epoch, "val_loss": metrics.cross_entropy(logits, y),
            "val_acc": metrics.accuracy(logits, y)}


def _confusion(pred: torch.Tensor, y: torch.Tensor, k: int = 10) -> np.ndarray:
    """Counts of (true, predicted) class pairs: rows true, columns predicted."""
    return np.bincount(y.numpy().astype(np.int64) * k + pred.numpy().astype(np.int64),
                       minlength=k * k).reshape(k, k)


def _seed_torch(seed: int) -> None:
    torch.manual_seed(seed)


def _seed_keras(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


# Each framework's seeding before a model is built (the backend leaves it to the experiment),
# and its networks: the poster's layer tables in torch and in Keras.
_SEED = {"torch": _seed_torch, "keras": _seed_keras}
_TEACHERS = {"torch": poster_teacher, "keras": keras_poster_teacher}
_STUDENTS = {"torch": poster_student, "keras": keras_poster_student}


def train_teacher(mnist: Mnist, networks: Networks, fit: Fit, teacher: Teacher, seed: int,
                  ds: data.Dataset) -> Entry:
    """The teacher unit: train one teacher (of seed ``seed``) on the first ``teacher_n_train``
    images for all its epochs, evaluating it on the validation set after every epoch
    (recorded, never used to stop it)."""
    s = make_split(ds, mnist, teacher.teacher_n_train)
    start = time.perf_counter()
    b = BACKENDS[networks.framework]
    curve: list[dict[str, float]] = []

    def observe(m) -> None:
        curve.append(_epoch_stats(len(curve) + 1, b.predict(m, s.x_val), s.y_val))

    _SEED[networks.framework](seed)  # the initial weights
    model = _TEACHERS[networks.framework](networks.dropout, networks.activation)
    losses = b.fit(model, s.x, s.y, teacher.teacher_epochs, fit.batch_size, fit.learning_rate,
                   seed, on_epoch=observe)
    logits = {"train": b.predict(model, s.x), "val": b.predict(model, s.x_val),
              "test": b.predict(model, s.x_test)}
    weights = b.weights(model)
    count = sum(w.numel() for w in weights.values())  # no buffers: the parameters, both ways
    table = pd.DataFrame(curve).assign(train_loss=losses)
    summary = pd.DataFrame({"teacher_seed": [seed],
                            "test_acc": [metrics.accuracy(logits["test"], s.y_test)],
                            "test_loss": [metrics.cross_entropy(logits["test"], s.y_test)],
                            "epochs": [len(losses)], "parameters": [count],
                            "seconds": [time.perf_counter() - start]})
    return {"teacher": summary, "curve": table, "logits": logits, "weights": weights}


def train_students(mnist: Mnist, networks: Networks, fit: Fit, students: Students, seed: int,
                   teacher: Entry, ds: data.Dataset) -> Entry:
    """The students unit of one seed: every grid cell's student, on the first ``n_train`` of
    the teacher's images, evaluated after every epoch on the validation set (loss, accuracy,
    agreement and KL with the teacher) and on the test set (the same, and top-1 agreement
    with the student alone), and the student alone's test confusion matrix after every
    epoch."""
    s = make_split(ds, mnist, students.n_train)
    start = time.perf_counter()
    grid = cells(students)
    t_val, t_test = teacher["logits"]["val"], teacher["logits"]["test"]
    t_train = teacher["logits"]["train"][:students.n_train]
    rows: list[dict[str, Any]] = []
    last: dict[int, torch.Tensor] = {}
    preds: dict[tuple[int, int], torch.Tensor] = {}  # (cell, epoch) -> test predictions

    def add(i: int, epoch: int, val: torch.Tensor, test: torch.Tensor) -> None:
        t, a = grid[i]
        rows.append({"seed": seed, "temperature": t, "alpha": a, "cell": i,
                     **_epoch_stats(epoch, val, s.y_val),
                     "val_agreement": metrics.agreement(val, t_val),
                     "val_kl": metrics.mean_kl(val, t_val),
                     "test_acc": metrics.accuracy(test, s.y_test),
                     "test_loss": metrics.cross_entropy(test, s.y_test),
                     "agreement": metrics.agreement(test, t_test),
                     "kl_to_teacher": metrics.mean_kl(test, t_test)})
        preds[(i, epoch)] = test.argmax(-1).to(torch.int8)
        last[i] = test

    every = list(range(1, students.epochs + 1))
    b = BACKENDS[networks.framework]

    def evaluate(epoch: int, indices: list[int], predict_) -> None:
        val, test = predict_(s.x_val), predict_(s.x_test)
        for j, i in enumerate(indices):
            add(i, epoch, val[j], test[j])

    teacher_model = b.load(_TEACHERS[networks.framework](networks.dropout, networks.activation),
                           teacher["weights"])
    _SEED[networks.framework](seed)  # the students' shared initial weights
    init = _STUDENTS[networks.framework](students.hidden, networks.dropout, networks.activation)
    torch.manual_seed(seed)  # torch's dropout masks (Keras reseeds before every fit)
    history = b.distil([init] * len(grid), teacher_model, s.x, s.y, [a for _, a in grid],
                       [t for t, _ in grid], students.epochs, fit.batch_size, fit.learning_rate,
                       seed, snapshots=every, on_snapshot=evaluate, teacher_logits=t_train,
                       desc=f"students, seed {seed}")
    table = pd.DataFrame(rows)
    alone = alone_cell(students)
    confusion = []
    if alone is not None:
        k = grid.index(alone)
        table["agreement_alone"] = [float((preds[(i, e)] == preds[(k, e)]).double().mean())
                                    for i, e in zip(table["cell"], table["epoch"], strict=True)]
        for e in every:
            m = _confusion(preds[(k, e)], s.y_test)
            confusion += [{"seed": seed, "epoch": e, "actual": a, "predicted": b,
                           "count": int(m[a, b])} for a in range(10) for b in range(10)]
    else:
        table["agreement_alone"] = np.nan
    table["train_loss"] = [float(history[e - 1, i])
                           for i, e in zip(table["cell"], table["epoch"], strict=True)]
    table["seconds"] = time.perf_counter() - start
    table = table.drop(columns="cell").sort_values(["epoch", "temperature", "alpha"],
                                                   ignore_index=True)
    return {"students": table, "confusion": pd.DataFrame(confusion),
            "logits": {"test": torch.stack([last[i] for i in range(len(grid))])}}


def pair_counts(m: np.ndarray) -> dict[tuple[int, int], int]:
    """Errors between each unordered pair of digits ``(i, j)``, ``i > j``: test images of
    either digit predicted as the other (both directions of a confusion matrix)."""
    sym = np.asarray(m) + np.asarray(m).T
    return {(i, j): int(sym[i, j]) for i in range(len(sym)) for j in range(i)}


def rank_of_pairs(m: np.ndarray, pairs: tuple[tuple[int, int], ...] = CONFUSED_PAIRS) -> int:
    """The worst rank of ``pairs`` among all unordered digit pairs of confusion matrix ``m``,
    by :func:`pair_counts`: a pair's rank is 1 + the number of pairs confused strictly more
    often (tied pairs share a rank)."""
    counts = pair_counts(m)
    rank = {pair: 1 + sum(c > n for c in counts.values()) for pair, n in counts.items()}
    return max(rank[(max(a, b), min(a, b))] for a, b in pairs)


@dataclass
class Results:
    """Tidy tables of one run of the poster's study. Seed ``k``'s students distil from the
    teacher of row ``k`` of ``teacher`` (row 0 when one teacher serves every seed)."""

    params: PosterParams
    teacher: pd.DataFrame  # one row per teacher: seed (the students' it serves), test accuracy...
    teacher_curve: pd.DataFrame  # one row per (seed, epoch): train_loss, val_loss, val_acc
    teacher_test: dict[int, torch.Tensor]  # seed -> the teacher's test logits
    students: pd.DataFrame  # one row per (seed, temperature, alpha, epoch)
    confusion: pd.DataFrame  # the student alone's test confusions: (seed, epoch, actual, ...)
    test_logits: dict[int, torch.Tensor]  # seed -> (cells, n_test, 10) after the last epoch
    y_test: torch.Tensor
    classes: tuple[str, ...]
    data_digest: str
    seconds: float
    compute_seconds: float  # the time it took to compute every entry, cached or not
    keras_example: alpha_study.Results | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def last(self) -> pd.DataFrame:
        """The rows after the last epoch."""
        return self.students[self.students["epoch"] == self.params.students.epochs]

    def alone(self) -> pd.DataFrame:
        """The student alone (alpha = 1, lowest temperature: all are the same loss), per epoch."""
        rows = self.students[np.isclose(self.students["alpha"], 1.0)]
        return rows[rows["temperature"] == rows["temperature"].min()]

    def logits(self, seed: int, temperature: float, alpha: float) -> torch.Tensor:
        """Test logits of one grid cell's student of one seed, after the last epoch."""
        return self.test_logits[seed][cells(self.params.students).index((temperature, alpha))]

    def teacher_logits(self, seed: int) -> torch.Tensor:
        """Test logits of the teacher that seed ``seed``'s students distil from."""
        return self.teacher_test[teacher_index(self.params.sweep, seed)]

    def grid(self, value: str = "test_acc", epoch: int | None = None) -> pd.DataFrame:
        """Mean and 95% CI over seeds of ``value`` per (temperature, alpha) after ``epoch``."""
        rows = self.students[self.students["epoch"] == (epoch or self.params.students.epochs)]
        return summarize(rows, ["temperature", "alpha"], value)


def _best_epoch(curve: pd.DataFrame) -> int:
    """The epoch of least validation loss: the model overfits after it."""
    return int(curve.loc[curve["val_loss"].idxmin(), "epoch"])


FIT_WITHIN = 0.005  # a "good fit": validation accuracy within this of its best


def _fit_epoch(curve: pd.DataFrame) -> int:
    """The first epoch whose validation accuracy is within ``FIT_WITHIN`` of the best."""
    best = curve["val_acc"].max()
    return int(curve[curve["val_acc"] >= best - FIT_WITHIN]["epoch"].min())


def keras_example_params(p: PosterParams) -> alpha_study.AlphaParams:
    """The Keras example's CNN pair (the 000 report's networks) at T = 10, alpha = 0.1, 3 epochs:
    the alpha chapter's study with no label noise and this pair's settings.

    The teacher is the alpha chapter's teacher of the same profile (shared through the cache).
    """
    from kdlib.experiments import alpha as alpha_study

    q = alpha_study.AlphaParams.resolve(p.profile, data_dir=p.run.data_dir,
                                        executor=p.run.executor,
                                        ray_address=p.run.ray_address,
                                        threads=p.numerics.threads)
    return q.replace(noise_rate=0.0, alphas=[0.1], temperature=10.0, epochs=3, snapshots=[3],
                     seeds=p.sweep.seeds, framework="torch")


def run_keras_example(p: PosterParams, cache: Cache | None = None) -> alpha_study.Results:
    """The Keras example's pair, run (or loaded) as the alpha chapter's study."""
    from kdlib.experiments import alpha as alpha_study

    return alpha_study.run(keras_example_params(p), cache)


# Unit sizes, in training-image steps: an epoch over n images counts n, a forward pass over an
# image (an evaluation) a third of one. Torch trains a seed's grid as one stacked model, whose
# cost at these widths is mostly per step, not per cell (measured on the quick profile: a stack
# of 2, 6 and 15 students took about the same time); ``STACK`` more students double it (a
# guess for wide grids, not measured). Keras fits one cell after another, the teacher inside
# every step: ``COST`` scales its steps against torch's.
EVALUATION = 1 / 3
STACK = 30
COST = {"torch": 1.0, "keras": 1.0}  # measured (quick): a Keras cell-epoch ~ a torch stack-epoch
N_EVALUATED = POOLED_SPLIT[0]  # the validation images, evaluated after every epoch (both splits)


def teacher_size(p: PosterParams) -> float:
    """A teacher's work: its epochs over its images and the validation set, then one pass
    over its images, the validation and the test set."""
    n, epochs = p.teacher.teacher_n_train, p.teacher.teacher_epochs
    return epochs * (n + EVALUATION * N_EVALUATED) + EVALUATION * (n + 2 * N_EVALUATED)


def students_size(p: PosterParams) -> float:
    """One seed's students: the epochs over their images and the validation and test sets
    (evaluated after every epoch), for the stack (torch) or for every cell (Keras)."""
    n_cells = len(cells(p.students))
    per = 1 + n_cells / STACK if p.networks.framework == "torch" else n_cells
    return (COST[p.networks.framework] * per * p.students.epochs
            * (p.students.n_train + EVALUATION * 2 * N_EVALUATED))


def units(p: PosterParams, ds: data.Dataset) -> tuple[list[Unit], Any]:
    """The study's units: a teacher per teacher seed, and (from the teachers' entries) one
    students unit per seed."""
    common = {"mnist": p.mnist, "networks": p.networks, "fit": p.fit}
    seeds = sorted({teacher_seed(p.sweep, k) for k in range(p.sweep.seeds)})
    teachers = [Unit("teacher", train_teacher, {**common, "teacher": p.teacher, "seed": t},
                     {"ds": ds}, numerics=p.numerics, size=teacher_size(p)) for t in seeds]

    def students(refs: list[Ref]) -> list[Unit]:
        return [Unit("students", train_students,
                     {**common, "students": p.students, "seed": seed,
                      "teacher": refs[teacher_index(p.sweep, seed)]},
                     {"ds": ds}, numerics=p.numerics, size=students_size(p))
                for seed in range(p.sweep.seeds)]
    return teachers, students


def run(p: PosterParams, cache: Cache | None = None, keras_example: bool = True) -> Results:
    """Run (or load from the cache) the study for resolved parameters ``p``."""
    start = time.perf_counter()
    cache = cache or Cache()
    ds = data.load("mnist", p.run.data_dir or None)
    teachers, students = units(p, ds)
    found: Entries = sweep(cache, "poster", teachers, students, p.run, desc="poster")
    made = found.units
    y_test = make_split(ds, p.mnist, p.teacher.teacher_n_train).y_test
    example = run_keras_example(p, cache) if keras_example else None
    return Results(
        params=p,
        teacher=pd.concat([t["teacher"].assign(seed=i) for i, t in enumerate(found.teachers)],
                          ignore_index=True),
        teacher_curve=pd.concat([t["curve"].assign(seed=i)
                                 for i, t in enumerate(found.teachers)], ignore_index=True),
        teacher_test={i: t["logits"]["test"] for i, t in enumerate(found.teachers)},
        students=pd.concat([u["students"] for u in made], ignore_index=True),
        confusion=pd.concat([u["confusion"] for u in made], ignore_index=True),
        test_logits={seed: u["logits"]["test"] for seed, u in enumerate(made)},
        y_test=y_test, classes=ds.classes, data_digest=ds.digest,
        seconds=time.perf_counter() - start, compute_seconds=found.compute_seconds,
        keras_example=example)


# "What happened?": variants of the main run, each a reduced grid, run over the same seeds.
# Two common temperatures, fixed before any run (no result chose them), and few cells, so the
# best distilled cell of each variant (chosen on validation) is not the luckiest of many.
ABLATION_TEMPERATURES = [2.0, 5.0]
ABLATION_ALPHAS = [0.0, 0.5, 1.0]
ABLATIONS: dict[str, dict[str, Any]] = {
    "as run": {},
    "wider student (128 units)": {"hidden": 128},
    "students on 2,000 images": {"n_train": 2000},
    # one teacher for all seeds: its own split needs its own teachers, the study's costliest part
    "official split": {"split": "official", "teacher_per_seed": False},
}


def ablation_params(p: PosterParams, variant: str) -> PosterParams:
    """The main run's parameters on the reduced grid, changed by a variant (never more
    students' images than the main run's)."""
    change = {"temperatures": ABLATION_TEMPERATURES, "alphas": ABLATION_ALPHAS,
              **ABLATIONS[variant]}
    change["n_train"] = min(change.get("n_train", p["n_train"]), p["n_train"])
    return p.replace(**change)


def _main_serves(p: PosterParams, q: PosterParams) -> bool:
    """Whether the run of ``p`` holds every cell of the reduced grid ``q`` ("as run")."""
    return set(cells(q.students)) <= set(cells(p.students))


def ablations(p: PosterParams, cache: Cache | None = None,
              main: Results | None = None) -> pd.DataFrame:
    """Every ablation, run (or loaded): last-epoch rows with a ``variant`` and the test
    accuracy of the teacher each seed distils from. ``main``, the run of ``p``, supplies "as
    run" when its grid holds the reduced grid's cells: a cell trains the same with or without
    other cells, up to the rounding of the stacked matrix products (``tests/test_poster.py``)."""
    tables = []
    for variant in ABLATIONS:
        q = ablation_params(p, variant)
        wanted = set(cells(q.students))
        if variant == "as run" and main is not None and _main_serves(p, q):
            r = main
            rows = r.last[[c in wanted for c in zip(r.last["temperature"], r.last["alpha"],
                                                   strict=True)]]
        else:
            r = run(q, cache, keras_example=False)
            rows = r.last
        acc = r.teacher["test_acc"].to_numpy(float)
        served = [acc[teacher_index(q.sweep, int(s))] for s in rows["seed"]]
        tables.append(rows.assign(variant=variant, teacher_acc=served))
    return pd.concat(tables, ignore_index=True)


FRAMEWORKS = ("torch", "keras")


def comparison_params(p: PosterParams, framework: str) -> PosterParams:
    """A small configuration run in both frameworks (2,000 images, two cells, <= 3 epochs)."""
    return p.replace(framework=framework, n_train=min(p["n_train"], 2000),
                     teacher_n_train=min(p["teacher_n_train"], 2000),
                     teacher_epochs=min(p["teacher_epochs"], 2), temperatures=[5.0],
                     alphas=[0.5, 1.0], epochs=min(p["epochs"], 3))


def compare_frameworks(p: PosterParams, cache: Cache | None = None) -> pd.DataFrame:
    """Torch (stacked) and Keras (one ``Distiller.fit`` per cell) on one small configuration:
    each framework's mean test accuracy with its CI, and the Welch 95% interval of the
    difference."""
    runs = {fw: run(comparison_params(p, fw), cache, keras_example=False) for fw in FRAMEWORKS}
    x, y = (runs[fw].teacher["test_acc"].to_numpy(float) for fw in ("torch", "keras"))
    rows = [("teacher", x, y)]
    other = runs["keras"].last
    for (t, a), part in runs["torch"].last.groupby(["temperature", "alpha"]):
        same = other[(other["temperature"] == t) & (other["alpha"] == a)]
        rows.append((f"student, T = {t:g}, alpha = {a:g}", part["test_acc"].to_numpy(float),
                     same["test_acc"].to_numpy(float)))
    out = []
    for model, x, y in rows:
        text, verdict = metrics.welch_difference(x, y)
        out.append({"model": model, "torch": metrics.ci_text(x), "keras": metrics.ci_text(y),
                    "torch - keras": text, "within seed noise": verdict})
    return pd.DataFrame(out)


def plan(p: PosterParams) -> list[tuple[str, Unit]]:
    """Every unit the chapter's notebook computes at ``p``, as ``(experiment, unit)`` pairs,
    each once: the main run's, the ablations' (all but "as run", which the main run serves
    when its grid holds the reduced one), both frameworks' of the comparison, and the Keras
    example's (the alpha chapter's units)."""
    from kdlib.experiments import alpha as alpha_study

    ds = data.load("mnist", p.run.data_dir or None)
    variants = [ablation_params(p, v) for v in ABLATIONS]
    runs = [p, *(q for v, q in zip(ABLATIONS, variants, strict=True)
                 if v != "as run" or not _main_serves(p, q)),
            *(comparison_params(p, fw) for fw in FRAMEWORKS)]
    found: dict[tuple[str, str, str, str], tuple[str, Unit]] = {}
    for q in runs:
        teachers, students = units(q, ds)
        for u in [*teachers, *students([Ref(t, {}) for t in teachers])]:
            found.setdefault(_unit_key("poster", u), ("poster", u))
    q = keras_example_params(p)
    teacher, seeds = alpha_study.units_of(q, data.load(q.data.dataset, q.run.data_dir or None))
    for u in [teacher, *seeds]:
        found.setdefault(_unit_key("alpha", u), ("alpha", u))
    return list(found.values())


def _unit_key(experiment: str, u: Unit) -> tuple[str, str, str, str]:
    return experiment, u.name, json.dumps(u.params, sort_keys=True, default=str), u.digest
