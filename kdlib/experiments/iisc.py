"""The 002 IISc term paper, *Exploring Knowledge Distillation*, part 1: MNIST Table 1, the
inference-time ratios, and Lemmas 1 and 2 checked by simulation. Part 2, CIFAR-10 Table 2, is
:mod:`kdlib.experiments.iisc_cifar`; its parameters (``cifar_*``) are part of this schema.

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

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from kdlib import data, lemmas, metrics, timing
from kdlib.config import PROFILES, Param, Schema
from kdlib.executor import PARAMS as EXECUTOR_PARAMS
from kdlib.executor import Unit, run_units
from kdlib.experiments import iisc_cifar
from kdlib.losses import kd_loss
from kdlib.models import BatchedMLP, iisc_student, iisc_teacher, keras_mlp
from kdlib.results import Cache
from kdlib.timing import machine
from kdlib.train import adam, distil_batched, predict, train_supervised

__all__ = ["SCHEMA", "TABLE1", "TEACHER_HIDDEN", "Results", "comparison_params", "machine",
           "resolve", "run"]

_MAX_SEED = 2**31 - 1
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


def _sizes(key: str) -> dict[str, Any]:
    return {prof: lemmas.SIZES[prof][key] for prof in PROFILES}


SCHEMA = Schema("iisc", (
    Param("framework", str, "torch, or keras (the same networks and loss in Keras 3; timing "
          "always uses the torch twins).",
          {"quick": "torch", "default": "torch", "paper": "torch"}, choices=("torch", "keras")),
    Param("data_dir", str, "Directory holding the official files; '' searches the usual places.",
          {"quick": "", "default": "", "paper": ""}),
    Param("n_train", int, "Training images: the first n of the official 60,000.",
          {"quick": 2000, "default": 60000, "paper": 60000}, low=100, high=60000),
    Param("rows", list, "Which rows of the paper's Table 1 to run (1 to 9).",
          {prof: list(range(1, 10)) for prof in PROFILES}, low=1, high=9, item=int),
    Param("alpha", float, "Weight of the hard-label loss (0: the teacher's soft outputs only, "
          "our reading of the paper).",
          {"quick": 0.0, "default": 0.0, "paper": 0.0}, low=0, high=1),
    Param("teacher_epochs", int, "Teacher training epochs (the paper: 1).",
          {"quick": 1, "default": 1, "paper": 1}, low=1, high=100),
    Param("dropout", float, "Dropout after every hidden layer, teacher and students (the paper "
          "names none).", {"quick": 0.0, "default": 0.0, "paper": 0.0}, low=0, high=0.9),
    Param("learning_rate", float, "Adam's learning rate (Keras's default, 0.001).",
          {"quick": 0.001, "default": 0.001, "paper": 0.001}, low=0, high=1, low_open=True),
    Param("seeds", int, "Independent runs (teacher and students) per row; CIs are over these.",
          {"quick": 2, "default": 3, "paper": 5}, low=1, high=50),
    Param("rounds", int, "Timing rounds (every model timed once per round); CIs over these.",
          {"quick": 3, "default": 15, "paper": 30}, low=2, high=1000),
    Param("latency_calls", int, "Timed batch-1 calls per model and round (median taken).",
          {"quick": 20, "default": 200, "paper": 500}, low=1, high=100000),
    Param("throughput_batch", int, "Batch size of the throughput measurement.",
          {"quick": 256, "default": 1000, "paper": 1000}, low=2, high=10000),
    Param("train_steps", int, "Timed training steps per row and round (median taken).",
          {"quick": 5, "default": 40, "paper": 100}, low=1, high=100000),
    Param("lemma_ns", list, "Sample sizes N of the lemma simulations.",
          _sizes("ns"), low=2, high=1_000_000, item=int),
    Param("lemma_samples", int, "Samples S drawn per N (per seed) in the lemma simulations.",
          _sizes("samples"), low=10, high=1_000_000),
    Param("lemma_seeds", int, "Independent repetitions of the lemma simulations (CIs).",
          _sizes("seeds"), low=2, high=100),
    Param("lemma_teacher_draws", int, "Random teachers per seed in the Lemma 2 simulation.",
          _sizes("teacher_draws"), low=1, high=10000),
    Param("lemma_population", int, "Monte Carlo points for the population quantities.",
          _sizes("population_n"), low=1000, high=10_000_000),
    *iisc_cifar.PARAMS,
    *EXECUTOR_PARAMS,
))


def resolve(namespace: dict[str, Any]) -> dict[str, Any]:
    """Validated parameters from a notebook's globals (``profile`` + one name per parameter)."""
    p = SCHEMA.from_namespace(namespace)
    p["rows"] = sorted(set(p["rows"]))
    p["lemma_ns"] = sorted(set(p["lemma_ns"]))
    return p


@dataclass
class _Data:
    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def _teacher_unit(p: dict[str, Any], seed: int, d: _Data) -> dict[str, Any]:
    """One seed's teacher: trained, then its logits on the training and test images."""
    start = time.perf_counter()
    if p["framework"] == "keras":
        from kdlib import distiller

        model = keras_mlp(TEACHER_HIDDEN, p["dropout"])
        distiller.fit_supervised(model, d.x.numpy(), d.y.numpy(), p["teacher_epochs"], 32,
                                 p["learning_rate"], seed)
        trained = time.perf_counter()
        logits = {k: torch.from_numpy(distiller.predict(model, v.numpy()))
                  for k, v in (("train", d.x), ("test", d.x_test))}
        weights = {f"w{i}": torch.from_numpy(w) for i, w in enumerate(model.get_weights())}
    else:
        torch.manual_seed(seed)
        model = iisc_teacher(p["dropout"])
        train_supervised(model, d.x, d.y, p["teacher_epochs"], 32, p["learning_rate"], seed)
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


def _student_unit(p: dict[str, Any], row: int, d: _Data,
                  teachers: list[dict[str, Any]]) -> dict[str, Any]:
    """One row of Table 1: a student per seed, each distilled from its seed's teacher, and
    evaluated. In torch the seeds' students train at once (:class:`BatchedMLP`); their time is
    measured apart, in :func:`_timing_unit`."""
    hidden, t, epochs, batch = _row_config(row)
    seeds = list(range(len(teachers)))
    start = time.perf_counter()
    if p["framework"] == "keras":
        tests = [_keras_student(p, seed, d, teachers[seed], hidden, t, epochs, batch)
                 for seed in seeds]
    else:
        students = []
        for seed in seeds:
            torch.manual_seed(seed)
            students.append(iisc_student(hidden, p["dropout"]))
        model = BatchedMLP(students)
        logits = torch.stack([teacher["logits"]["train"] for teacher in teachers])
        distil_batched(model, d.x.flatten(1), d.y, logits, p["alpha"], t, epochs, batch,
                       p["learning_rate"], seeds, desc=f"row {row}, {len(seeds)} seeds")
        tests = [predict(model.unstack(i), d.x_test) for i in seeds]
    rows = []
    for seed, test in zip(seeds, tests, strict=True):
        t_test = teachers[seed]["logits"]["test"]
        rows.append({"seed": seed, "row": row, "test_acc": metrics.accuracy(test, d.y_test),
                     "agreement": metrics.agreement(test, t_test),
                     "kl_to_teacher": metrics.mean_kl(test, t_test)})
    table = pd.DataFrame(rows).assign(seconds=time.perf_counter() - start)
    return {"students": table}


def _keras_student(p: dict[str, Any], seed: int, d: _Data, teacher: dict[str, Any],
                   hidden: int, t: float, epochs: int, batch: int) -> torch.Tensor:
    """The row's student of one seed in Keras (the teacher runs inside every step, as the
    Keras example's ``Distiller`` does); returns its test logits."""
    import keras

    from kdlib import distiller

    teacher_model = keras_mlp(TEACHER_HIDDEN, p["dropout"])
    w = teacher["weights"]
    teacher_model.set_weights([w[f"w{i}"].numpy() for i in range(len(w))])
    keras.utils.set_random_seed(seed)
    init = keras_mlp((hidden,), p["dropout"])
    found: dict[str, Any] = {}

    def keep(_i: int, _epoch: int, student) -> None:
        found["test"] = torch.from_numpy(distiller.predict(student, d.x_test.numpy()))

    distiller.fit_students(init, teacher_model, d.x.numpy(), d.y.numpy(), [p["alpha"]], t,
                           epochs, batch, p["learning_rate"], seed, [epochs], keep)
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


def _timing_unit(p: dict[str, Any]) -> dict[str, Any]:
    """Cost (parameters, bytes, FLOPs) and interleaved timings of the teacher and each student
    size: per-sample latency at batch 1 and per-sample time at ``throughput_batch``; and the
    time of one training step of each row's student."""
    torch.manual_seed(0)
    sizes = sorted({int(TABLE1.loc[r, "hidden"]) for r in p["rows"]})
    models: dict[str, nn.Module] = {"teacher": iisc_teacher()}
    models.update({f"student {h}": iisc_student(h) for h in sizes})
    x = torch.rand(p["throughput_batch"], 1, 28, 28)
    cost = timing.cost(models, x[:1])
    latency = timing.per_sample_seconds(models, x[:1], p["rounds"], p["latency_calls"])
    batched = timing.per_sample_seconds(models, x, p["rounds"],
                                        max(3, p["latency_calls"] // 20))
    steps = {row: _training_step(row, 10000, p["learning_rate"]) for row in p["rows"]}
    training = timing.per_call_seconds(steps, p["rounds"], p["train_steps"])
    training = training.rename(columns={"model": "row", "seconds": "step_seconds"})
    return {"cost": cost, "latency": latency, "throughput": batched, "training": training}


def _lemma_unit(p: dict[str, Any]) -> dict[str, Any]:
    """The Lemma 1 and Lemma 2 simulations (:mod:`kdlib.lemmas`)."""
    sizes = {"samples": p["lemma_samples"], "seeds": p["lemma_seeds"],
             "population_n": p["lemma_population"]}
    problem = lemmas.mixture()
    return {
        "lemma1": lemmas.lemma1(problem, p["lemma_ns"], **sizes),
        "overlap": lemmas.lemma1_overlap(lemmas.SIZES[p["profile"]]["sds"],
                                         lemmas.SIZES[p["profile"]]["overlap_n"], **sizes),
        "lemma2": lemmas.lemma2(problem, lemmas.TEACHERS, p["lemma_ns"],
                                teacher_draws=p["lemma_teacher_draws"], **sizes),
    }


@dataclass
class Results:
    """Tidy tables of one run of the chapter."""

    params: dict[str, Any]
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

    @property
    def compute_seconds(self) -> float:
        """Training time of the teachers and students (cached or not)."""
        t = self.teachers[["train_seconds", "logit_seconds"]].to_numpy().sum()
        part2 = self.cifar.compute_seconds if self.cifar is not None else 0.0
        return float(t + self.students.groupby("row")["seconds"].first().sum() + part2)

    def training_seconds(self) -> pd.DataFrame:
        """A lone student's training time per row and timing round: the median step time times
        the row's steps (``ceil(n_train / batch)`` per epoch). Rows are timing rounds."""
        t = self.training.join(TABLE1[["epochs", "batch_size"]], on="row")
        steps = np.ceil(self.params["n_train"] / t["batch_size"]) * t["epochs"]
        t = t.assign(seconds=t["step_seconds"] * steps)
        return t.pivot(index="round", columns="row", values="seconds")

    def ratios(self, kind: str = "latency") -> pd.DataFrame:
        """Teacher time / student time per round: a row per round, a column per student."""
        return timing.ratios(self.latency if kind == "latency" else self.throughput)


def _load(p: dict[str, Any]) -> tuple[_Data, data.Dataset]:
    ds = data.load("mnist", p["data_dir"] or None)
    x, y = data.first_n(ds.x_train, ds.y_train, p["n_train"])
    as_tensors = [torch.from_numpy(a) for a in (data.to_float(x), y, data.to_float(ds.x_test),
                                                ds.y_test)]
    return _Data(*as_tensors), ds


def run(p: dict[str, Any], cache: Cache | None = None, timings: bool = True,
        lemmas_too: bool = True) -> Results:
    """Run (or load from the cache) the chapter for resolved parameters ``p``."""
    start = time.perf_counter()
    cache = cache or Cache()
    d, ds = _load(p)
    base = {k: p[k] for k in ("framework", "n_train", "teacher_epochs", "dropout",
                              "learning_rate")}
    executor_args = {"executor": p["executor"], "ray_address": p["ray_address"]}
    teachers = run_units(cache, "iisc", ds.digest, [Unit(
        "teacher", {**base, "seed": seed}, lambda seed=seed: _teacher_unit(p, seed, d))
        for seed in range(p["seeds"])], **executor_args, desc="IISc teachers")
    students = [u["students"] for u in run_units(cache, "iisc", ds.digest, [Unit(
        "students", {**base, "alpha": p["alpha"], "seeds": p["seeds"], "row": row},
        lambda row=row: _student_unit(p, row, d, teachers)) for row in p["rows"]], **executor_args,
        desc="IISc rows")]
    table = pd.concat(students, ignore_index=True).sort_values(["seed", "row"],
                                                                ignore_index=True)
    table = table.join(TABLE1[["hidden", "temperature", "epochs", "batch_size"]], on="row")
    empty = pd.DataFrame()
    timed: dict[str, Any] = {"cost": empty, "latency": empty, "throughput": empty,
                             "training": empty}
    here = machine()
    if timings:
        tp = {k: p[k] for k in ("rows", "rounds", "latency_calls", "throughput_batch",
                                "train_steps", "learning_rate")}
        tp.update(here, malloc=os.environ.get("MALLOC_MMAP_MAX_", ""))
        timed = cache.get_or_compute("iisc", "timing", tp, "none", lambda: _timing_unit(p))
    sims: dict[str, Any] = {"lemma1": empty, "overlap": empty, "lemma2": empty}
    if lemmas_too:
        lp = {k: p[k] for k in p if k.startswith("lemma_")}
        sims = cache.get_or_compute("iisc", "lemmas", {**lp, "profile": p["profile"]}, "none",
                                    lambda: _lemma_unit(p))
    part2 = iisc_cifar.run(p, cache) if p["cifar"] else None
    return Results(params=p, teachers=pd.concat([t["teacher"] for t in teachers],
                                                ignore_index=True), students=table,
                   cost=timed["cost"], latency=timed["latency"],
                   throughput=timed["throughput"], training=timed["training"],
                   lemma1=sims["lemma1"], overlap=sims["overlap"], lemma2=sims["lemma2"],
                   machine=here, data_digest=ds.digest, seconds=time.perf_counter() - start,
                   cifar=part2)


def comparison_params(p: dict[str, Any], framework: str) -> dict[str, Any]:
    """A small configuration run in both frameworks: 2,000 images, the rows of the three
    student sizes (1, 7 and 9), no timings or lemmas."""
    return {**p, "framework": framework, "n_train": min(p["n_train"], 2000), "rows": [1, 7, 9],
            "cifar": False}
