"""The alpha study of the 000 report (N. Hao, 2023) and its portfolio page (001).

A 256/512-filter CNN teacher; 16/32-filter CNN students distilled at T = 3 for a sweep of
alpha on MNIST training images of which a fraction of labels were perturbed; evaluated on the
clean test set. ``alpha`` weights the hard-label loss (Hinton's lambda = 1 - alpha), so
``alpha = 1`` is a student trained from scratch on the (noisy) labels.

Design choices beyond the source, stated in the chapter:
- all students of one seed start from the same initial weights and see the same batch order
  (common random numbers), so differences between alphas are due to alpha alone;
- one teacher (``teacher_seed``) serves every seed; its logits are computed once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from kdlib import data, metrics
from kdlib.config import Param, ParamError, Schema
from kdlib.executor import PARAMS as EXECUTOR_PARAMS
from kdlib.executor import Unit, run_units
from kdlib.metrics import summarize
from kdlib.models import (
    StackedHaoCNN,
    hao_student,
    hao_teacher,
    keras_hao_student,
    keras_hao_teacher,
)
from kdlib.results import PUBLISHED, Cache, Checkpoint
from kdlib.train import distil_stack, predict, train_supervised

__all__ = ["DIRECTIONS", "PAPER_DIRECTIONS", "SCHEMA", "SOURCE_SCALE", "VALIDATION", "Results",
           "check_data", "comparison_params", "direction_params", "directions", "paper_params",
           "paper_run", "resolve", "run"]

_ALPHAS = [round(0.1 * i, 1) for i in range(11)]
VALIDATION = 5000  # the last images of the official training set: the teacher's validation
SCRATCH_SEED_OFFSET = 1_000_003  # the scratch student's initial weights: seed + this
_MAX_SEED = 2**31 - 1

SCHEMA = Schema("alpha", (
    Param("framework", str, "torch: all students of a seed as one stacked model; keras: the "
          "seed's own Keras Distiller, one alpha after another (slow).",
          {"quick": "torch", "default": "torch", "paper": "torch"}, choices=("torch", "keras")),
    Param("dataset", str, "Training and test data (28x28 grey images).",
          {"quick": "mnist", "default": "mnist", "paper": "mnist"},
          choices=("mnist", "fashion_mnist")),
    Param("data_dir", str, "Directory holding the official files; '' searches the usual places.",
          {"quick": "", "default": "", "paper": ""}),
    Param("n_train", int, "Training images: the first n of the official training set.",
          {"quick": 500, "default": 10000, "paper": 10000}, low=100, high=55000),
    Param("n_test", int, "Test images: the first n of the official (clean) test set.",
          {"quick": 1000, "default": 10000, "paper": 10000}, low=100, high=10000),
    Param("noise_rate", float, "Fraction of training labels perturbed (the report: 500/10,000).",
          {"quick": 0.05, "default": 0.05, "paper": 0.05}, low=0, high=1),
    Param("noise_kind", str, "'shift' maps y to y-1 mod 10 (a 4 becomes a 3); 'symmetric' "
          "to a random other class.",
          {"quick": "shift", "default": "shift", "paper": "shift"},
          choices=("shift", "symmetric")),
    Param("noise_seed", int, "Seed choosing which labels are perturbed.",
          {"quick": 0, "default": 0, "paper": 0}, low=0, high=_MAX_SEED),
    Param("teacher_data", str, "The teacher's training set: 'subset' is the students' noisy "
          "images, 'full' the first 55,000 clean training images (the last 5,000 validate).",
          {"quick": "subset", "default": "full", "paper": "full"},
          choices=("subset", "full")),
    Param("teacher_epochs", int, "Teacher training epochs, all of them (the report trained "
          "1000); its accuracy on the 5,000 validation images is recorded, never used to stop.",
          {"quick": 1, "default": 1, "paper": 30}, low=1, high=10000),
    Param("teacher_seed", int, "Seed of the teacher's initial weights and batch order.",
          {"quick": 0, "default": 0, "paper": 0}, low=0, high=_MAX_SEED),
    Param("alphas", list, "Weights of the hard-label loss to sweep (1 means no distillation).",
          {"quick": [0.0, 0.5, 1.0], "default": _ALPHAS, "paper": _ALPHAS}, low=0, high=1),
    Param("temperature", float, "Softmax temperature T of the distillation term.",
          {"quick": 3.0, "default": 3.0, "paper": 3.0}, low=0, high=100, low_open=True),
    Param("epochs", int, "Student training epochs (the report: up to 1000).",
          {"quick": 2, "default": 10, "paper": 1000}, low=1, high=10000),
    Param("snapshots", list, "Epochs at which the students are evaluated, each at most epochs.",
          {"quick": [1, 2], "default": [1, 3, 5, 10], "paper": [100, 300, 500, 1000]},
          low=1, high=10000, item=int),
    Param("seeds", int, "Independent runs per alpha (seeds 0 to seeds-1); CIs are over these.",
          {"quick": 2, "default": 3, "paper": 3}, low=1, high=50),
    Param("batch_size", int, "Mini-batch size (the report: Keras's default, 32).",
          {"quick": 32, "default": 32, "paper": 32}, low=1, high=60000),
    Param("learning_rate", float, "Adam's learning rate (Keras's default, 0.001).",
          {"quick": 0.001, "default": 0.001, "paper": 0.001}, low=0, high=1, low_open=True),
    *EXECUTOR_PARAMS,
))

# What the 000 report ran, for the scale admonition.
SOURCE_SCALE = {"n_train": 10000, "n_test": 10000, "teacher_epochs": 1000, "epochs": 1000,
                "alphas": 11, "seeds": 1}


def resolve(namespace: dict[str, Any]) -> dict[str, Any]:
    """Validated parameters from a notebook's globals (``profile`` + one name per parameter)."""
    p = SCHEMA.from_namespace(namespace)
    if max(p["snapshots"]) > p["epochs"]:
        raise ParamError(f"snapshots must each be in [1, epochs={p['epochs']}]; "
                         f"got {p['snapshots']}")
    p["snapshots"] = sorted(set(p["snapshots"]))
    p["alphas"] = sorted(set(p["alphas"]))
    return p


@dataclass
class Results:
    """Tidy tables of one run of the study."""

    params: dict[str, Any]
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

    @property
    def compute_seconds(self) -> float:
        """Time it took to compute the results (teacher + every seed), cached or not."""
        per_seed = self.students.groupby("seed")["seconds"].first().sum()
        return float(self.teacher["seconds"].iloc[0] + per_seed)

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
    return torch.from_numpy(data.to_float(x))


def _teacher_unit(p: dict[str, Any], ds: data.Dataset, x: np.ndarray, y_noisy: np.ndarray,
                  checkpoint: Checkpoint) -> dict[str, Any]:
    """Train the teacher; its weights and its logits on the students' images and the test set.

    In torch, a checkpoint after every epoch lets a killed run resume there.
    """
    start = time.perf_counter()
    if p["teacher_data"] == "full":
        xt = _tensors(ds.x_train[:-VALIDATION])
        yt = torch.from_numpy(ds.y_train[:-VALIDATION])
    else:
        xt, yt = _tensors(x), torch.from_numpy(y_noisy)
    x_val, y_val = ds.x_train[-VALIDATION:], ds.y_train[-VALIDATION:]
    x_test = _tensors(ds.x_test[:p["n_test"]])
    val_acc: list[float] = []
    if p["framework"] == "keras":
        from kdlib import distiller

        def record(m) -> bool:  # validation accuracy per epoch; never a reason to stop
            val_acc.append(metrics.accuracy(torch.from_numpy(distiller.predict(
                m, _tensors(x_val).numpy())), torch.from_numpy(y_val)))
            return False

        model = keras_hao_teacher()
        losses = distiller.fit_supervised(model, xt.numpy(), yt.numpy(), p["teacher_epochs"],
                                          p["batch_size"], p["learning_rate"], p["teacher_seed"],
                                          stop=record)
        weights = {f"w{i}": torch.from_numpy(w) for i, w in enumerate(model.get_weights())}
        test_logits = torch.from_numpy(distiller.predict(model, x_test.numpy()))
        train_logits = torch.from_numpy(distiller.predict(model, _tensors(x).numpy()))
    else:
        def record(m: torch.nn.Module) -> bool:  # validation accuracy; never stops
            val_acc.append(metrics.accuracy(predict(m, _tensors(x_val)),
                                            torch.from_numpy(y_val)))
            return False

        def save(state: dict[str, Any]) -> None:
            checkpoint.save({**state, "val_acc": val_acc,
                             "seconds": time.perf_counter() - start})

        state = checkpoint.load()
        if state is not None:  # resume: the validation scores and time of the epochs done
            val_acc.extend(state["val_acc"])
            start -= state["seconds"]
        torch.manual_seed(p["teacher_seed"])
        model = hao_teacher()
        losses = train_supervised(model, xt, yt, p["teacher_epochs"], p["batch_size"],
                                  p["learning_rate"], p["teacher_seed"],
                                  stop=record,
                                  state=state, checkpoint_every=1, on_checkpoint=save)
        weights = model.state_dict()
        test_logits = predict(model, x_test)
        train_logits = predict(model, _tensors(x))
    y_test = torch.from_numpy(ds.y_test[:p["n_test"]])
    table = pd.DataFrame({"test_acc": [metrics.accuracy(test_logits, y_test)],
                          "final_train_loss": [losses[-1]], "epochs": [len(losses)],
                          "val_acc": [val_acc[-1] if val_acc else float("nan")],
                          "seconds": [time.perf_counter() - start]})
    return {"teacher": table, "weights": weights,
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


def _student_unit(p: dict[str, Any], seed: int, x: torch.Tensor, y: torch.Tensor,
                  teacher: dict[str, Any], x_test: torch.Tensor, y_test: torch.Tensor,
                  changed: torch.Tensor, y_clean: torch.Tensor,
                  checkpoint: Checkpoint) -> dict[str, Any]:
    """One seed: every alpha's student, and the scratch student.

    The distilled students share one initialisation; the scratch student (hard labels only,
    i.e. alpha = 1) has its own, as the report's separately built Keras model had. In torch,
    the run saves a checkpoint every ``checkpoint_every(epochs)`` epochs and resumes from it.
    """
    start = time.perf_counter()
    alphas = [*p["alphas"], 1.0]
    kinds = ["distilled"] * len(p["alphas"]) + ["scratch"]
    scorer = _Scorer(seed, alphas, kinds, teacher["logits"]["test"], y_test, y_clean[changed],
                     [])
    last: dict[int, torch.Tensor] = {}
    if p["framework"] == "keras":
        history = _keras_students(p, seed, x, y, teacher, x_test, changed, scorer, last)
    else:
        torch.manual_seed(seed)
        init = hao_student()
        torch.manual_seed(SCRATCH_SEED_OFFSET + seed)
        scratch = hao_student()
        model = StackedHaoCNN([init] * len(p["alphas"]) + [scratch])

        def evaluate(epoch: int, stack: torch.nn.Module) -> None:
            s = len(alphas)
            logits = predict(stack, x_test)
            noisy = predict(stack, x[changed]) if len(changed) else [None] * s
            for i in range(s):
                scorer.add(i, epoch, logits[i], noisy[i])
                last[i] = logits[i].clone()

        def save(state: dict[str, Any]) -> None:
            state.update(rows=scorer.rows, last=last, seconds=time.perf_counter() - start)
            checkpoint.save(state)

        state = checkpoint.load()
        if state is not None:  # resume: the rows and time of the epochs already done
            scorer.rows.extend(state["rows"])
            last.update(state["last"])
            start -= state["seconds"]
        history = distil_stack(model, x, y, teacher["logits"]["train"], alphas,
                               p["temperature"], p["epochs"], p["batch_size"],
                               p["learning_rate"], seed, snapshots=p["snapshots"],
                               on_snapshot=evaluate, desc=f"students, seed {seed}",
                               state=state, checkpoint_every=checkpoint_every(p["epochs"]),
                               on_checkpoint=save).numpy()
    logits = torch.stack([last[i] for i in range(len(alphas))])
    return {"students": scorer.table(history, start), "logits": {"test": logits}}


def _keras_students(p: dict[str, Any], seed: int, x: torch.Tensor, y: torch.Tensor,
                    teacher: dict[str, Any], x_test: torch.Tensor, changed: torch.Tensor,
                    scorer: _Scorer, last: dict[int, torch.Tensor]) -> np.ndarray:
    """The seed's way: a Keras ``Distiller.fit`` per alpha, then the scratch student."""
    import keras

    from kdlib import distiller

    teacher_model = keras_hao_teacher()
    teacher_model.set_weights([teacher["weights"][f"w{i}"].numpy()
                               for i in range(len(teacher["weights"]))])
    xn, yn, xt = x.numpy(), y.numpy(), x_test.numpy()
    noisy_x = x[changed].numpy()

    def evaluate(i: int, epoch: int, student) -> None:
        logits = torch.from_numpy(distiller.predict(student, xt))
        noisy = torch.from_numpy(distiller.predict(student, noisy_x)) if len(changed) else None
        scorer.add(i, epoch, logits, noisy)
        last[i] = logits

    keras.utils.set_random_seed(seed)
    init = keras_hao_student()
    common = (p["temperature"], p["epochs"], p["batch_size"], p["learning_rate"], seed,
              p["snapshots"])
    history = distiller.fit_students(init, teacher_model, xn, yn, p["alphas"], *common,
                                     on_snapshot=evaluate)
    keras.utils.set_random_seed(SCRATCH_SEED_OFFSET + seed)
    scratch = keras_hao_student()
    k = len(p["alphas"])
    scratch_history = distiller.fit_students(
        scratch, teacher_model, xn, yn, [1.0], *common,
        on_snapshot=lambda i, e, m: evaluate(k + i, e, m))
    return np.concatenate([history, scratch_history], axis=1)


def run(p: dict[str, Any], cache: Cache | None = None, compute: bool = True) -> Results | None:
    """Run (or load from the cache) the study for resolved parameters ``p``.

    With ``compute=False`` nothing is trained: the seeds the cache holds are loaded (computed
    by this code or, failing that, by other code: ``Results.code`` says which), and ``None`` is
    returned if it holds no teacher or no seed.
    """
    start = time.perf_counter()
    cache = cache or Cache()
    ds = data.load(p["dataset"], p["data_dir"] or None)
    x_np, y_clean_np = data.first_n(ds.x_train, ds.y_train, p["n_train"])
    y_noisy_np, changed_np = data.label_noise(y_clean_np, p["noise_rate"], p["noise_kind"],
                                              p["noise_seed"])
    teacher_keys = ["framework", "dataset", "n_train", "n_test", "teacher_data", "teacher_epochs",
                    "teacher_seed", "batch_size", "learning_rate"]
    if p["teacher_data"] == "subset":  # then the teacher saw the noisy labels too
        teacher_keys += ["noise_rate", "noise_kind", "noise_seed"]
    tp = {k: p[k] for k in teacher_keys}
    executor_args = {"executor": p["executor"], "ray_address": p["ray_address"]}
    if compute:
        teacher = run_units(cache, "alpha", ds.digest, [Unit(
            "teacher", tp, lambda checkpoint: _teacher_unit(p, ds, x_np, y_noisy_np, checkpoint),
            resumable=True)], **executor_args, desc="alpha teacher")[0]
    elif (teacher := cache.find("alpha", "teacher", tp, ds.digest)) is None:
        return None
    x, y = _tensors(x_np), torch.from_numpy(y_noisy_np)
    x_test = _tensors(ds.x_test[:p["n_test"]])
    y_test = torch.from_numpy(ds.y_test[:p["n_test"]])
    changed, y_clean = torch.from_numpy(changed_np), torch.from_numpy(y_clean_np)
    tables, logits = [], {}
    made_by = {_made_by(teacher)}
    def params(seed: int) -> dict[str, Any]:
        return {**{k: v for k, v in p.items() if k not in ("profile", "seeds", "data_dir")},
                "seed": seed}

    if compute:
        units = run_units(cache, "alpha", ds.digest, [Unit(
            "students", params(seed),
            lambda checkpoint, seed=seed: _student_unit(p, seed, x, y, teacher, x_test, y_test,
                                                        changed, y_clean, checkpoint),
            resumable=True) for seed in range(p["seeds"])], **executor_args, desc="alpha seeds")
    else:
        units = [cache.find("alpha", "students", params(seed), ds.digest)
                 for seed in range(p["seeds"])]
    for seed, unit in enumerate(units):
        if unit is None:
            continue
        tables.append(unit["students"])
        logits[seed] = unit["logits"]["test"]
        made_by.add(_made_by(unit))
    if not tables:
        return None
    return Results(params=p, teacher=teacher["teacher"],
                   students=pd.concat(tables, ignore_index=True), test_logits=logits,
                   y_test=ds.y_test[:p["n_test"]], classes=ds.classes, data_digest=ds.digest,
                   seconds=time.perf_counter() - start,
                   code=tuple(sorted({c for c, _, _ in made_by})),
                   commits=tuple(sorted({c for _, c, _ in made_by})),
                   machines=tuple(sorted({m for _, _, m in made_by})))


def _made_by(entry: dict[str, Any]) -> tuple[str, str, str]:
    """The code hash, commit and machine that computed a cache entry."""
    meta = entry["meta"]
    return meta["code"], meta.get("commit", "unknown"), meta.get("machine", "unknown")


def paper_params(p: dict[str, Any]) -> dict[str, Any]:
    """The paper profile's parameters (with this run's data directory)."""
    return resolve({"profile": "paper", "data_dir": p["data_dir"]})


def paper_run(p: dict[str, Any], root: Path = PUBLISHED) -> Results | None:
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


def direction_params(p: dict[str, Any], variant: str) -> dict[str, Any]:
    """The main run's parameters, reduced (5 alphas, half the epochs) and changed by a variant."""
    epochs = max(1, p["epochs"] // 2)
    q = {**p, "alphas": DIRECTION_ALPHAS, "epochs": epochs, "snapshots": [epochs],
         **DIRECTIONS[variant]}
    if p["profile"] == "paper":
        q.update(PAPER_DIRECTIONS.get(variant, {}))
    return q


def check_data(p: dict[str, Any]) -> None:
    """Load (and so checksum) every data set the chapter will use, main run and directions,
    so a missing or corrupt file stops it before any training."""
    names = {p["dataset"]} | {direction_params(p, v)["dataset"] for v in DIRECTIONS}
    for name in sorted(names):
        data.load(name, p["data_dir"] or None)


def directions(p: dict[str, Any], cache: Cache | None = None) -> pd.DataFrame:
    """Every future-direction variant, run (or loaded); last-epoch rows with a ``variant``."""
    tables = []
    for variant in DIRECTIONS:
        r = run(direction_params(p, variant), cache)
        last = r.students[r.students["epoch"] == max(r.params["snapshots"])]
        tables.append(last.assign(variant=variant,
                                  teacher_acc=float(r.teacher["test_acc"].iloc[0])))
    return pd.concat(tables, ignore_index=True)


def comparison_params(p: dict[str, Any], framework: str) -> dict[str, Any]:
    """A small configuration run in both frameworks (3 alphas, 3 epochs, <= 2,000 images)."""
    return {**p, "framework": framework, "n_train": min(p["n_train"], 2000),
            "n_test": min(p["n_test"], 2000), "teacher_data": "subset", "teacher_epochs": 1,
            "alphas": [0.0, 0.5, 1.0], "epochs": 3, "snapshots": [3]}


