"""The 002 IISc term paper, *Exploring Knowledge Distillation*, part 1: MNIST Table 1, the
inference-time ratios, and Lemmas 1 and 2 checked by simulation. Part 2, CIFAR-10 Table 2, is
:mod:`kdlib.experiments.iisc_cifar`; its sections (``part2``, ``cifar_*``) are sections of
:class:`IiscParams`.

MNIST, as the paper describes it: a teacher with two dense hidden layers of 1,200 units trained
1 epoch at batch 32; students with one dense hidden layer of 50, 300 or 600 units; the nine
rows of Table 1 vary the student's size, temperature, epochs and batch size.

Design choices beyond the source, stated in the chapter:
- the students learn from the teacher's softened outputs alone (``alpha = 0``): the paper's
  MNIST loss is a softmax cross-entropy, its "adversarial" students are "trained on the
  training set, with outputs from the teacher", and it concludes that "the teacher model can
  be used to produce labels in the absence of labeled data, as seen in the MNIST experiment";
- Adam at Keras's defaults, ReLU, no dropout (the paper names none of them);
- each seed trains its own teacher (1 epoch is cheap), so the teacher's accuracy has a CI;
- the seeds' students of a row train at once (:class:`~kdlib.models.BatchedMLP`), each with
  its own teacher and batch order; so a row's training time is measured apart, as the median
  time of a lone student's training step (interleaved rounds, :mod:`kdlib.timing`) times its
  steps; the teacher's logits are computed once per seed and are not part of it;
- inference time is measured on the torch models of each architecture (weights do not change
  the time of a dense network), as per-sample latency at batch 1 and per-sample time in
  batches, interleaved and as medians (:mod:`kdlib.timing`), on the machine that computes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from kdlib import data, metrics
from kdlib import lemmas as kdlemmas
from kdlib import timing as kdtiming
from kdlib.config import Params, Section, param
from kdlib.executor import run_units
from kdlib.experiments import iisc_cifar
from kdlib.experiments.iisc_cifar import Host
from kdlib.losses import kd_loss
from kdlib.models import BatchedMLP, iisc_student, iisc_teacher, keras_mlp
from kdlib.results import Cache
from kdlib.timing import machine
from kdlib.train import adam, distil_batched, predict, train_supervised
from kdlib.units import Ref, Unit, compute_seconds, sweep

__all__ = ["TABLE1", "TEACHER_HIDDEN", "Host", "IiscParams", "Lemmas", "Results", "Students",
           "Table1", "Timing", "Training", "comparison_params", "machine", "plan", "resolve",
           "run"]

TEACHER_HIDDEN = (1200, 1200)

# The paper's Table 1, as printed: the student's hidden units, temperature, epochs and batch
# size, then its accuracy, training time (s) and inference-time ratio teacher/student.
TABLE1 = pd.DataFrame(
    [(1, 50, 3.5, 3, 32, 0.9597, 30.998, 315.332),
     (2, 300, 3.5, 3, 16, 0.9724, 95.715, 138.753),
     (3, 300, 3.5, 3, 64, 0.9712, 48.421, 129.564),
     (4, 300, 3.5, 2, 32, 0.9617, 25.108, 126.174),
     (5, 300, 10.0, 3, 32, 0.9687, 64.573, 123.326),
     (6, 300, 1.0, 3, 32, 0.9698, 65.171, 123.264),
     (7, 300, 3.5, 3, 32, 0.9726, 64.854, 119.127),
     (8, 300, 3.5, 5, 32, 0.9723, 247.926, 116.654),
     (9, 600, 3.5, 3, 32, 0.9721, 103.010, 38.005)],
    columns=["row", "hidden", "temperature", "epochs", "batch_size", "accuracy",
             "train_seconds", "inference_ratio"]).set_index("row")
BASELINE_ROW = 7  # 300 units, T = 3.5, 3 epochs, batch 32: the row the others vary from
PAPER_TEACHER = {"accuracy": 0.9741, "inference_seconds": 1.339e-3}


class Training(Section):
    """MNIST: the teachers' training, and what the students share with it."""

    framework: param(str, "torch, or keras (the same networks and loss in Keras 3; timing "
                     "always uses the torch twins).", "torch", choices=("torch", "keras"))
    n_train: param(int, "Training images: the first n of the official 60,000.", 60000,
                   low=100, high=60000)
    teacher_epochs: param(int, "Teacher training epochs (the paper: 1).", 1, low=1, high=100)
    dropout: param(float, "Dropout after every hidden layer, teacher and students (the paper "
                   "names none).", 0.0, low=0, high=0.9)
    learning_rate: param(float, "Adam's learning rate (Keras's default, 0.001).", 0.001,
                         low=0, high=1, low_open=True)


class Table1(Section):
    """MNIST: which rows of Table 1 run (each row is a unit of its own)."""

    rows: param(list, "Which rows of the paper's Table 1 to run (1 to 9).", list(range(1, 10)),
                low=1, high=9, item=int)


class Students(Section):
    """MNIST: the students of a row, one per seed, each taught by its seed's teacher."""

    alpha: param(float, "Weight of the hard-label loss (0: the teacher's soft outputs only, "
                 "our reading of the paper).", 0.0, low=0, high=1)
    seeds: param(int, "Independent runs (teacher and students) per row; CIs are over these.",
                 3, low=1, high=50)


class Timing(Section):
    """MNIST: the interleaved timing rounds of inference and training steps."""

    rounds: param(int, "Timing rounds (every model timed once per round); CIs over these.",
                  15, low=2, high=1000)
    latency_calls: param(int, "Timed batch-1 calls per model and round (median taken).", 200,
                         low=1, high=100000)
    throughput_batch: param(int, "Batch size of the throughput measurement.", 1000, low=2,
                            high=10000)
    train_steps: param(int, "Timed training steps per row and round (median taken).", 40,
                       low=1, high=100000)


class Lemmas(Section):
    """The Lemma 1 and Lemma 2 simulations (:mod:`kdlib.lemmas`)."""

    lemma_ns: param(list, "Sample sizes N of the lemma simulations.",
                    [10, 30, 100, 300, 1000, 3000], low=2, high=1_000_000, item=int)
    lemma_samples: param(int, "Samples S drawn per N (per seed) in the lemma simulations.",
                         2000, low=10, high=1_000_000)
    lemma_seeds: param(int, "Independent repetitions of the lemma simulations (CIs).", 5,
                       low=2, high=100)
    lemma_teacher_draws: param(int, "Random teachers per seed in the Lemma 2 simulation.", 50,
                               low=1, high=10000)
    lemma_population: param(int, "Monte Carlo points for the population quantities.",
                            100_000, low=1000, high=10_000_000)
    lemma_sds: param(list, "Class spreads sd of Lemma 1's overlap sweep.",
                     [0.25, 0.5, 1.0, 2.0, 4.0], low=0, high=100, low_open=True, item=float)
    lemma_overlap_n: param(int, "Sample size N of Lemma 1's overlap sweep.", 100, low=2,
                           high=1_000_000)


class IiscParams(Params):
    """The IISc chapter's parameters: part 1 (MNIST, the lemmas) and part 2 (CIFAR-10)."""

    chapter: ClassVar[str] = "iisc"
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {"n_train": 2000, "seeds": 2, "rounds": 3, "latency_calls": 20,
                  "throughput_batch": 256, "train_steps": 5, "lemma_ns": [10, 100],
                  "lemma_samples": 200, "lemma_seeds": 2, "lemma_teacher_draws": 10,
                  "lemma_population": 5000, "lemma_overlap_n": 30, **iisc_cifar.QUICK},
        "paper": {"seeds": 5, "rounds": 30, "latency_calls": 500, "train_steps": 100,
                  "lemma_samples": 10_000, "lemma_seeds": 10, "lemma_population": 1_000_000,
                  **iisc_cifar.PAPER},
    }
    train: Training = Training()
    table1: Table1 = Table1()
    students: Students = Students()
    timing: Timing = Timing()
    lemmas: Lemmas = Lemmas()
    part2: iisc_cifar.Part2Section = iisc_cifar.Part2Section()
    cifar_teacher: iisc_cifar.CifarTeacher = iisc_cifar.CifarTeacher()
    cifar_students: iisc_cifar.CifarStudents = iisc_cifar.CifarStudents()
    cifar_timing: iisc_cifar.CifarTiming = iisc_cifar.CifarTiming()

    def checked(self) -> IiscParams:
        """Rows and sample sizes sorted, each once."""
        return self.model_copy(update={
            "table1": Table1(rows=sorted(set(self.table1.rows))),
            "lemmas": self.lemmas.model_copy(
                update={"lemma_ns": sorted(set(self.lemmas.lemma_ns))})})


def resolve(namespace: dict[str, Any]) -> IiscParams:
    """Validated parameters from a notebook's globals (``profile`` + one name per parameter)."""
    return IiscParams.from_namespace(namespace)


@dataclass
class _Data:
    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def _tensors(mnist: data.Dataset, n_train: int) -> _Data:
    """The first ``n_train`` training images and the whole test set, as float tensors."""
    x, y = data.first_n(mnist.x_train, mnist.y_train, n_train)
    return _Data(*[torch.from_numpy(a) for a in (data.to_float(x), y,
                                                 data.to_float(mnist.x_test), mnist.y_test)])


def _teacher_unit(train: Training, seed: int, mnist: data.Dataset) -> dict[str, Any]:
    """One seed's teacher: trained, then its logits on the training and test images."""
    d = _tensors(mnist, train.n_train)
    start = time.perf_counter()
    if train.framework == "keras":
        import keras

        from kdlib import distiller

        keras.utils.set_random_seed(seed)  # before it is built: its initial weights too
        model = keras_mlp(TEACHER_HIDDEN, train.dropout)
        distiller.fit_supervised(model, d.x.numpy(), d.y.numpy(), train.teacher_epochs, 32,
                                 train.learning_rate, seed)
        trained = time.perf_counter()
        logits = {k: torch.from_numpy(distiller.predict(model, v.numpy()))
                  for k, v in (("train", d.x), ("test", d.x_test))}
        weights = {f"w{i}": torch.from_numpy(w) for i, w in enumerate(model.get_weights())}
    else:
        torch.manual_seed(seed)
        model = iisc_teacher(train.dropout)
        train_supervised(model, d.x, d.y, train.teacher_epochs, 32, train.learning_rate, seed)
        trained = time.perf_counter()
        logits = {"train": predict(model, d.x), "test": predict(model, d.x_test)}
        weights = model.state_dict()
    done = time.perf_counter()
    table = pd.DataFrame({"seed": [seed], "test_acc": [metrics.accuracy(logits["test"],
                                                                        d.y_test)],
                          "train_seconds": [trained - start], "logit_seconds": [done - trained]})
    return {"teacher": table, "logits": logits, "weights": weights}


def _row_config(row: int) -> tuple[int, float, int, int]:
    """Hidden units, temperature, epochs and batch size of a row of Table 1."""
    c = TABLE1.loc[row]
    return int(c["hidden"]), float(c["temperature"]), int(c["epochs"]), int(c["batch_size"])


def _students_unit(train: Training, students: Students, row: int, teachers: list[Ref],
                   mnist: data.Dataset) -> dict[str, Any]:
    """One row of Table 1: a student per seed, each distilled from its seed's teacher, and
    evaluated. In torch the seeds' students train at once (:class:`BatchedMLP`); their time is
    measured apart, in :func:`_timing_unit`."""
    d = _tensors(mnist, train.n_train)
    found = [t.entry for t in teachers]
    hidden, t, epochs, batch = _row_config(row)
    seeds = list(range(len(found)))
    start = time.perf_counter()
    if train.framework == "keras":
        tests = [_keras_student(train, students.alpha, seed, d, found[seed], hidden, t, epochs,
                                batch) for seed in seeds]
    else:
        models = []
        for seed in seeds:
            torch.manual_seed(seed)
            models.append(iisc_student(hidden, train.dropout))
        model = BatchedMLP(models)
        logits = torch.stack([teacher["logits"]["train"] for teacher in found])
        distil_batched(model, d.x.flatten(1), d.y, logits, students.alpha, t, epochs, batch,
                       train.learning_rate, seeds, desc=f"row {row}, {len(seeds)} seeds")
        tests = [predict(model.unstack(i), d.x_test) for i in seeds]
    rows = []
    for seed, test in zip(seeds, tests, strict=True):
        t_test = found[seed]["logits"]["test"]
        rows.append({"seed": seed, "row": row, "test_acc": metrics.accuracy(test, d.y_test),
                     "agreement": metrics.agreement(test, t_test),
                     "kl_to_teacher": metrics.mean_kl(test, t_test)})
    table = pd.DataFrame(rows).assign(seconds=time.perf_counter() - start)
    return {"students": table}


def _keras_student(train: Training, alpha: float, seed: int, d: _Data,
                   teacher: dict[str, Any], hidden: int, t: float, epochs: int,
                   batch: int) -> torch.Tensor:
    """The row's student of one seed in Keras (the teacher runs inside every step, as the
    Keras example's ``Distiller`` does); returns its test logits."""
    import keras

    from kdlib import distiller

    teacher_model = keras_mlp(TEACHER_HIDDEN, train.dropout)
    w = teacher["weights"]
    teacher_model.set_weights([w[f"w{i}"].numpy() for i in range(len(w))])
    keras.utils.set_random_seed(seed)
    init = keras_mlp((hidden,), train.dropout)
    found: dict[str, Any] = {}

    def keep(_i: int, _epoch: int, student) -> None:
        found["test"] = torch.from_numpy(distiller.predict(student, d.x_test.numpy()))

    distiller.fit_students(init, teacher_model, d.x.numpy(), d.y.numpy(), [alpha], t,
                           epochs, batch, train.learning_rate, seed, [epochs], keep)
    return found["test"]


def _training_step(row: int, n: int, lr: float) -> Callable[[], None]:
    """One training step of a lone student of ``row`` (random data of MNIST's shape: a dense
    network's time does not depend on the values), as :func:`kdlib.train.distil_stack` takes
    it: gather the batch, forward, KD loss, backward, Adam."""
    hidden, t, _, batch = _row_config(row)
    gen = torch.Generator().manual_seed(row)
    x, logits = torch.rand(n, 784, generator=gen), torch.randn(n, 10, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    model = iisc_student(hidden).train()
    opt = adam(model.parameters(), lr)

    def step() -> None:
        idx = torch.randint(0, n, (batch,), generator=gen)
        loss = kd_loss(model(x[idx]), logits[idx], y[idx], 0.0, t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _timing_unit(timing: Timing, host: Host, rows: list[int],
                 learning_rate: float) -> dict[str, Any]:
    """Cost (parameters, bytes, FLOPs) and interleaved timings of the teacher and each student
    size of ``rows``: per-sample latency at batch 1 and per-sample time at
    ``throughput_batch``; and the time of one training step of each row's student, on the
    ``host``."""
    torch.manual_seed(0)
    sizes = sorted({int(TABLE1.loc[r, "hidden"]) for r in rows})
    models: dict[str, nn.Module] = {"teacher": iisc_teacher()}
    models.update({f"student {h}": iisc_student(h) for h in sizes})
    x = torch.rand(timing.throughput_batch, 1, 28, 28)
    cost = kdtiming.cost(models, x[:1])
    latency = kdtiming.per_sample_seconds(models, x[:1], timing.rounds, timing.latency_calls)
    batched = kdtiming.per_sample_seconds(models, x, timing.rounds,
                                          max(3, timing.latency_calls // 20))
    steps = {row: _training_step(row, 10000, learning_rate) for row in rows}
    training = kdtiming.per_call_seconds(steps, timing.rounds, timing.train_steps)
    training = training.rename(columns={"model": "row", "seconds": "step_seconds"})
    return {"cost": cost, "latency": latency, "throughput": batched, "training": training}


def _lemmas_unit(lemmas: Lemmas) -> dict[str, Any]:
    """The Lemma 1 and Lemma 2 simulations (:mod:`kdlib.lemmas`)."""
    sizes = {"samples": lemmas.lemma_samples, "seeds": lemmas.lemma_seeds,
             "population_n": lemmas.lemma_population}
    problem = kdlemmas.mixture()
    return {
        "lemma1": kdlemmas.lemma1(problem, lemmas.lemma_ns, **sizes),
        "overlap": kdlemmas.lemma1_overlap(lemmas.lemma_sds, lemmas.lemma_overlap_n, **sizes),
        "lemma2": kdlemmas.lemma2(problem, kdlemmas.TEACHERS, lemmas.lemma_ns,
                                  teacher_draws=lemmas.lemma_teacher_draws, **sizes),
    }


@dataclass
class Results:
    """Tidy tables of one run of the chapter."""

    params: IiscParams
    teachers: pd.DataFrame  # one row per seed
    students: pd.DataFrame  # one row per (seed, row), with the row's configuration
    cost: pd.DataFrame  # one row per model: parameters, weight bytes, FLOPs per sample
    latency: pd.DataFrame  # one row per (round, model): seconds per sample at batch 1
    throughput: pd.DataFrame  # the same in batches of throughput_batch
    training: pd.DataFrame  # one row per (round, row): seconds per training step
    lemma1: pd.DataFrame
    overlap: pd.DataFrame
    lemma2: pd.DataFrame
    machine: dict[str, Any]
    data_digest: str
    seconds: float
    cifar: iisc_cifar.Part2 | None = None  # part 2, if run

    compute_seconds: float = 0.0  # the time it took to compute every entry, cached or not

    def training_seconds(self) -> pd.DataFrame:
        """A lone student's training time per row and timing round: the median step time times
        the row's steps (``ceil(n_train / batch)`` per epoch). Rows are timing rounds."""
        t = self.training.join(TABLE1[["epochs", "batch_size"]], on="row")
        steps = np.ceil(self.params.train.n_train / t["batch_size"]) * t["epochs"]
        t = t.assign(seconds=t["step_seconds"] * steps)
        return t.pivot(index="round", columns="row", values="seconds")

    def ratios(self, kind: str = "latency") -> pd.DataFrame:
        """Teacher time / student time per round: a row per round, a column per student."""
        return kdtiming.ratios(self.latency if kind == "latency" else self.throughput)


def _teachers(p: IiscParams, ds: data.Dataset) -> list[Unit]:
    """One teacher unit per seed (size: training images x epochs)."""
    size = p.train.n_train * p.train.teacher_epochs
    return [Unit("teacher", _teacher_unit, {"train": p.train, "seed": seed}, data={"mnist": ds},
                 numerics=p.numerics, size=size) for seed in range(p.students.seeds)]


def _rows(p: IiscParams, ds: data.Dataset, refs: list[Ref]) -> list[Unit]:
    """One students unit per row of Table 1, taught by the teachers ``refs`` (size: training
    images x the row's epochs x students (seeds) x the student's hidden units)."""
    out = []
    for row in p.table1.rows:
        hidden, _, epochs, _ = _row_config(row)
        out.append(Unit("students", _students_unit, {
            "train": p.train, "students": p.students, "row": row, "teachers": refs},
            data={"mnist": ds}, numerics=p.numerics,
            size=p.train.n_train * epochs * len(refs) * hidden))
    return out


def _extra(p: IiscParams, host: Host, timings: bool, lemmas_too: bool) -> list[Unit]:
    """The timing unit (size: rounds x (timed batch-1 calls x models + timed training steps x
    rows)) and the lemmas unit (size: seeds x samples x (the Ns summed x (1 + teachers) + the
    overlap sweep's points) + population points)."""
    extra = []
    if timings:
        models = 1 + len({int(TABLE1.loc[r, "hidden"]) for r in p.table1.rows})
        t = p.timing
        extra.append(Unit("timing", _timing_unit, {
            "timing": t, "host": host, "rows": p.table1.rows,
            "learning_rate": p.train.learning_rate}, numerics=p.numerics,
            size=t.rounds * (t.latency_calls * models + t.train_steps * len(p.table1.rows))))
    if lemmas_too:
        m = p.lemmas
        draws = sum(m.lemma_ns) * (1 + len(kdlemmas.TEACHERS) * m.lemma_teacher_draws)
        size = m.lemma_seeds * (m.lemma_samples * (draws + len(m.lemma_sds) * m.lemma_overlap_n)
                                + m.lemma_population)
        extra.append(Unit("lemmas", _lemmas_unit, {"lemmas": m}, numerics=p.numerics,
                          size=size))
    return extra


def plan(p: IiscParams, timings: bool = True, lemmas_too: bool = True) -> list[tuple[str, Unit]]:
    """Every unit :func:`run` computes at ``p``, as ``(experiment, unit)`` pairs (the students
    keyed on teacher refs without entries: the same keys)."""
    ds = data.load("mnist", p.run.data_dir or None)
    teachers = _teachers(p, ds)
    refs = [Ref(u, {}) for u in teachers]
    units = [*teachers, *_rows(p, ds, refs), *_extra(p, Host.here(), timings, lemmas_too)]
    out = [("iisc", u) for u in units]
    return out + (iisc_cifar.plan(p) if p.part2.cifar else [])


def run(p: IiscParams, cache: Cache | None = None, timings: bool = True,
        lemmas_too: bool = True) -> Results:
    """Run (or load from the cache) the chapter for resolved parameters ``p``."""
    start = time.perf_counter()
    cache = cache or Cache()
    ds = data.load("mnist", p.run.data_dir or None)
    swept = sweep(cache, "iisc", _teachers(p, ds), partial(_rows, p, ds), p.run, desc="IISc")
    table = pd.concat([u["students"] for u in swept.units], ignore_index=True)
    table = table.sort_values(["seed", "row"], ignore_index=True)
    table = table.join(TABLE1[["hidden", "temperature", "epochs", "batch_size"]], on="row")
    local = p.run.model_copy(update={"executor": "local"})  # timed where the host was read
    extra = _extra(p, Host.here(), timings, lemmas_too)
    done = run_units(cache, "iisc", extra, local, desc="IISc timing and lemmas")
    found = dict(zip([u.name for u in extra], done, strict=True))
    empty = pd.DataFrame()
    timed = found.get("timing", {k: empty for k in ("cost", "latency", "throughput",
                                                    "training")})
    sims = found.get("lemmas", {k: empty for k in ("lemma1", "overlap", "lemma2")})
    part2 = iisc_cifar.run(p, cache) if p.part2.cifar else None
    seconds = swept.compute_seconds + compute_seconds(done)
    return Results(params=p, teachers=pd.concat([t["teacher"] for t in swept.teachers],
                                                ignore_index=True), students=table,
                   cost=timed["cost"], latency=timed["latency"],
                   throughput=timed["throughput"], training=timed["training"],
                   lemma1=sims["lemma1"], overlap=sims["overlap"], lemma2=sims["lemma2"],
                   machine={**machine(), "threads": p.numerics.threads},
                   data_digest=ds.digest, seconds=time.perf_counter() - start,
                   cifar=part2, compute_seconds=seconds
                   + (part2.compute_seconds if part2 is not None else 0.0))


def comparison_params(p: IiscParams, framework: str) -> IiscParams:
    """A small configuration run in both frameworks: 2,000 images, the rows of the three
    student sizes (1, 7 and 9), no timings or lemmas."""
    return p.replace(framework=framework, n_train=min(p.train.n_train, 2000), rows=[1, 7, 9],
                     cifar=False)
