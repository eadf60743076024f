"""What the poster chapter (seed 004) says: its evidence for the claims, the scale note,
figures, tables and discussion, written from results.

Kept apart from :mod:`kdlib.experiments.poster` so that rewording the chapter, or changing how
its results answer claims, does not change the cache key of its results.

Selection hygiene: everything chosen here (the best distilled cell, the best temperature for an
alpha, the best alpha for a temperature, the most faithful student, each cell's best epoch in
one reading) is chosen on the validation set; the test set only judges the choice.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import torch

from kdlib import claims, metrics, plots
from kdlib.chapters import Chapter
from kdlib.evidence import Evidence, Registry
from kdlib.experiments.poster import (
    ABLATION_ALPHAS,
    ABLATION_TEMPERATURES,
    ABLATIONS,
    CONFUSED_PAIRS,
    FIT_WITHIN,
    POOLED_SPLIT,
    POSTER_MAX_T,
    SOURCE_SCALE,
    PosterParams,
    Results,
    _best_epoch,
    _confusion,
    _fit_epoch,
    ablation_params,
    alone_cell,
    comparison_params,
    keras_example_params,
    pair_counts,
    plan,
    rank_of_pairs,
    run,
)
from kdlib.metrics import ci_text, summarize
from kdlib.models import n_params, poster_student, poster_teacher
from kdlib.results import Cache

__all__ = ["CHAPTER", "EPOCH_RULES", "READINGS", "REGISTRY", "SOURCES", "ablation_table",
           "alpha_one_check", "best_on_validation", "claims_tables", "confusion_figure",
           "curves_figure", "discussion", "evidence", "evidence_for", "fidelity_text",
           "glue_values", "grid_figure", "judged", "keras_example_table", "reports",
           "split_table", "student_rows", "teacher_table"]

SOURCES = ("004",)

# The poster's classification-report supports (its test set), digit 0 to 9.
POSTER_SUPPORT = (986, 1125, 999, 1020, 975, 902, 982, 1042, 975, 994)
OFFICIAL_SUPPORT = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
KERAS_EPOCHS = 3  # the Keras example the poster started from trains its students 3 epochs

# Which epoch of each student stands for the poster's students (it gives no epochs for its
# report or its grid); every student is evaluated after every epoch, so each rule reads the
# same run and costs nothing.
EPOCH_RULES = {
    "last": "the run's last epoch",
    "keras": f"epoch {KERAS_EPOCHS} (the Keras example's students train {KERAS_EPOCHS} epochs; "
             "the run's last epoch if it has fewer)",
    "best": "each student's epoch of least validation loss (early stopping on validation)",
}
# Plausible readings of what the poster leaves open, judged beside the main one ("last").
READINGS: dict[str, str] = {
    "students: 3 epochs": "keras",
    "students: best validation epoch": "best",
}
COORDINATES = ("model", "temperature", "alpha", "digit", "actual", "predicted", "study",
               "student", "cell")
_CELL = ("test_acc", "val_acc", "test_loss", "agreement", "val_agreement", "kl_to_teacher",
         "val_kl", "agreement_alone")

# ------------------------------------------------------------------ evidence for the claims
REGISTRY = Registry()
REGISTRY.measured("params", "trainable parameters", bounds=(0.0, math.inf), runs="exact",
                  digits=0)
REGISTRY.measured("support", "test images of a digit", bounds=(0.0, math.inf), runs="exact",
                  digits=0)
REGISTRY.measured("test_acc", "test accuracy", bounds=(0.0, 1.0), digits=4)
REGISTRY.measured("val_acc", "validation accuracy", bounds=(0.0, 1.0), digits=4)
REGISTRY.measured("test_loss", "test cross-entropy (nats)", bounds=(0.0, math.inf))
REGISTRY.measured("agreement", "top-1 agreement with the teacher on test", bounds=(0.0, 1.0))
REGISTRY.measured("val_agreement", "top-1 agreement with the teacher on validation",
                  bounds=(0.0, 1.0))
REGISTRY.measured("kl_to_teacher", "KL(teacher || student) on test, nats",
                  bounds=(0.0, math.inf))
REGISTRY.measured("val_kl", "KL(teacher || student) on validation, nats",
                  bounds=(0.0, math.inf))
REGISTRY.measured("agreement_alone", "top-1 agreement with the student alone on test",
                  bounds=(0.0, 1.0))
REGISTRY.measured("fit_epoch", f"first epoch with validation accuracy within {FIT_WITHIN:g} "
                  "of its best", bounds=(1.0, math.inf), digits=1)
REGISTRY.measured("best_epoch", "epoch of least validation loss", bounds=(1.0, math.inf),
                  digits=1)
REGISTRY.measured("confusion", "test images of one digit predicted as another",
                  bounds=(0.0, math.inf), digits=0)


def _of(t: pd.DataFrame, metric: str, **eq: Any) -> pd.DataFrame:
    """Rows of ``metric`` whose columns equal ``eq`` (none when a column is missing)."""
    rows = t[t["metric"] == metric]
    for key, value in eq.items():
        if key not in rows.columns:
            return rows.iloc[0:0]
        rows = rows[rows[key] == value]
    return rows


def _flag(rows: pd.DataFrame) -> dict[str, Any]:
    """What a value made from ``rows`` inherits: ``source_scale``, true only if every row is at
    the source's scale, and our ``epoch`` where the rows share one (the words of "at")."""
    out: dict[str, Any] = {}
    if "source_scale" in rows.columns:
        flags = rows["source_scale"].dropna()
        if not flags.empty:
            out["source_scale"] = bool(flags.astype(bool).all())
    if "epoch" in rows.columns:
        epochs = rows["epoch"].dropna().unique()
        if len(epochs) == 1:
            out["epoch"] = int(epochs[0])
    return out


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["run", "value"])


def _cells(t: pd.DataFrame, poster_grid: bool = False) -> pd.DataFrame:
    """The grid's students, one row per (run, temperature, alpha) with a column per measured
    cell metric (and ``source_scale``); only T <= 10, the poster's grid, if ``poster_grid``."""
    rows = _of(t, "test_acc", model="student")
    if rows.empty or "temperature" not in rows.columns:
        return pd.DataFrame()
    rows = t[(t["metric"].isin(_CELL)) & (t["model"] == "student")]
    if poster_grid:
        rows = rows[rows["temperature"] <= POSTER_MAX_T + 1e-9]
    keys = ["run", "temperature", "alpha"]
    wide = rows.pivot_table(index=keys, columns="metric", values="value", aggfunc="first")
    if "source_scale" in rows.columns:
        wide["source_scale"] = rows.groupby(keys)["source_scale"].agg(
            lambda f: bool(f.dropna().astype(bool).all()) if f.notna().any() else np.nan)
    if "epoch" in rows.columns:
        wide["epoch"] = rows.groupby(keys)["epoch"].first()
    return wide.reset_index().sort_values(keys, ignore_index=True)


def _name(t: float, a: float) -> str:
    """A grid cell in words, e.g. ``T=2/alpha=0.5``."""
    return f"T={t:g}/alpha={a:g}"


def best_on_validation(cells: pd.DataFrame, by: list[str], score: str = "val_acc",
                       lowest: bool = False) -> pd.DataFrame:
    """Per group of ``by``, the cell with the highest (``lowest``: the least) validation
    ``score``; ties go to the first cell in (temperature, alpha) order. The test set plays no
    part in the choice."""
    cells = cells.sort_values(["run", "temperature", "alpha"])
    g = cells.groupby(by)[score]
    return cells.loc[g.idxmin() if lowest else g.idxmax()]


def _per_run(cells: pd.DataFrame, fn) -> pd.DataFrame:
    """``fn(one run's cells) -> dict | None`` for every run, as rows."""
    out = []
    for run_id, part in cells.groupby("run"):
        found = fn(part)
        if found is not None:
            out.append({"run": run_id, **_flag(part), **found})
    return _frame(out)


def _distilled_choice(part: pd.DataFrame) -> pd.Series | None:
    """The distilled cell (alpha < 1) of the poster's grid with the best validation accuracy."""
    dist = part[part["alpha"] < 1.0]
    return None if dist.empty else best_on_validation(dist, ["run"]).iloc[0]


@REGISTRY.derived("param_gap", "the teacher's parameters minus the student's",
                  runs="exact", digits=0)
def _param_gap(t: pd.DataFrame) -> pd.DataFrame:
    teacher = _of(t, "params", model="teacher").set_index("run")["value"]
    student = _of(t, "params", model="student").set_index("run")["value"]
    return (teacher - student).dropna().rename("value").reset_index()


@REGISTRY.derived("support_mismatch", "test images by which the per-digit counts differ from "
                  "the poster's supports", bounds=(0.0, math.inf), runs="exact", digits=0)
def _support_mismatch(t: pd.DataFrame) -> pd.DataFrame:
    rows = _of(t, "support")
    if rows.empty or "digit" not in rows.columns:
        return _frame([])
    out = []
    for run_id, part in rows.groupby("run"):
        counts = part.set_index(part["digit"].astype(int))["value"]
        if sorted(counts.index) == list(range(10)):
            out.append({"run": run_id, "value": float(sum(
                abs(counts[d] - POSTER_SUPPORT[d]) for d in range(10)))})
    return _frame(out)


def _grid_extreme(t: pd.DataFrame, pick: str) -> pd.DataFrame:
    """Per run, the ``pick`` (``min`` or ``max``) test accuracy of the poster's grid."""
    c = _cells(t, poster_grid=True)
    return _frame([]) if c.empty else _per_run(c, lambda p: {"value": p["test_acc"].agg(pick)})


@REGISTRY.derived("grid_min", "the lowest test accuracy of the grid (T <= 10)",
                  bounds=(0.0, 1.0), digits=4)
def _grid_min(t: pd.DataFrame) -> pd.DataFrame:
    return _grid_extreme(t, "min")


@REGISTRY.derived("grid_max", "the highest test accuracy of the grid (T <= 10)",
                  bounds=(0.0, 1.0), digits=4)
def _grid_max(t: pd.DataFrame) -> pd.DataFrame:
    return _grid_extreme(t, "max")


def _spread(t: pd.DataFrame, fixed: str, over: str, poster_grid: bool) -> pd.DataFrame:
    c = _cells(t, poster_grid)
    if c.empty:
        return _frame([])
    out = []
    for (run_id, x), part in c.groupby(["run", fixed]):
        if part[over].nunique() >= 2:
            out.append({"run": run_id, fixed: x, **_flag(part),
                        "value": part["test_acc"].max() - part["test_acc"].min()})
    return _frame(out)


@REGISTRY.derived("alpha_spread", "best minus worst alpha's test accuracy at one temperature",
                  bounds=(0.0, 1.0), digits=4)
def _alpha_spread(t: pd.DataFrame) -> pd.DataFrame:
    return _spread(t, "temperature", "alpha", poster_grid=False)


@REGISTRY.derived("t_spread", "best minus worst temperature's test accuracy (T <= 10) at one "
                  "alpha", bounds=(0.0, 1.0), digits=4)
def _t_spread(t: pd.DataFrame) -> pd.DataFrame:
    return _spread(t, "alpha", "temperature", poster_grid=True)


@REGISTRY.derived("alpha1_agreement", "the least top-1 agreement of an alpha = 1 student "
                  "with the student alone (alpha = 1, lowest T)", bounds=(0.0, 1.0), digits=4)
def _alpha1_agreement(t: pd.DataFrame) -> pd.DataFrame:
    c = _cells(t)
    if c.empty or "agreement_alone" not in c.columns:
        return _frame([])
    ones = c[np.isclose(c["alpha"], 1.0)]
    return _frame([]) if ones["temperature"].nunique() < 2 else _per_run(
        ones, lambda p: {"value": p["agreement_alone"].min()})


def _drop(t: pd.DataFrame, fixed: str, over: str, high_first: bool) -> pd.DataFrame:
    """Per run and value of ``fixed``, test accuracy at the lowest minus at the highest value
    of ``over`` (``high_first``: highest minus lowest), over cells with T in (1, 10] and
    alpha < 1."""
    c = _cells(t, poster_grid=True)
    if c.empty:
        return _frame([])
    c = c[(c["temperature"] > 1.0 + 1e-9) & (c["alpha"] < 1.0)]
    out = []
    for (run_id, x), part in c.groupby(["run", fixed]):
        if part[over].nunique() >= 2:
            acc = part.set_index(over)["test_acc"]
            lo, hi = acc[acc.index.min()], acc[acc.index.max()]
            out.append({"run": run_id, fixed: x, **_flag(part),
                        "value": hi - lo if high_first else lo - hi})
    return _frame(out)


@REGISTRY.derived("t_drop", "test accuracy at the lowest T above 1 minus at the highest T "
                  "<= 10, at one alpha < 1", bounds=(-1.0, 1.0), digits=4)
def _t_drop(t: pd.DataFrame) -> pd.DataFrame:
    return _drop(t, "alpha", "temperature", high_first=False)


@REGISTRY.derived("alpha_drop", "test accuracy at the highest alpha below 1 minus at the "
                  "lowest alpha, at one T in (1, 10]", bounds=(-1.0, 1.0), digits=4)
def _alpha_drop(t: pd.DataFrame) -> pd.DataFrame:
    return _drop(t, "temperature", "alpha", high_first=True)


def _chosen_rows(best: pd.DataFrame, coordinate: str) -> pd.DataFrame:
    """The chosen cells' test accuracies as rows at ``coordinate``, naming the cell chosen."""
    out = best.assign(value=best["test_acc"], chosen=[
        _name(x, a) for x, a in zip(best["temperature"], best["alpha"], strict=True)])
    keep = ["run", coordinate, "value", "chosen"]
    return out[keep + [c for c in ("source_scale", "epoch") if c in out.columns]]


@REGISTRY.derived("best_t_acc", "test accuracy at one alpha, at the temperature (T <= 10) "
                  "with the best validation accuracy", bounds=(0.0, 1.0), digits=4)
def _best_t_acc(t: pd.DataFrame) -> pd.DataFrame:
    c = _cells(t, poster_grid=True)
    if c.empty:
        return _frame([])
    return _chosen_rows(best_on_validation(c, ["run", "alpha"]), "alpha")


@REGISTRY.derived("best_alpha_acc", "test accuracy at one temperature, at the alpha < 1 with "
                  "the best validation accuracy", bounds=(0.0, 1.0), digits=4)
def _best_alpha_acc(t: pd.DataFrame) -> pd.DataFrame:
    c = _cells(t)
    if c.empty:
        return _frame([])
    c = c[c["alpha"] < 1.0]
    if c.empty:
        return _frame([])
    return _chosen_rows(best_on_validation(c, ["run", "temperature"]), "temperature")


def _of_run(values: pd.Series, run_id: Any) -> float | None:
    """A run's value of a series indexed by run; a lone value (one teacher) serves every run."""
    return values.get(run_id, values.iloc[0] if len(values) == 1 else None)


def _versus_choice(t: pd.DataFrame, other: pd.Series, sign: float) -> pd.DataFrame:
    """Per run, ``sign * (other - test accuracy of the validation-chosen distilled cell of the
    poster's grid)``; ``other`` is indexed by run."""
    c = _cells(t, poster_grid=True)
    if c.empty or other.empty:
        return _frame([])

    def one(part: pd.DataFrame) -> dict[str, Any] | None:
        run_id = part["run"].iloc[0]
        chosen = _distilled_choice(part)
        base = _of_run(other, run_id)
        if chosen is None or base is None:
            return None
        return {"value": sign * (base - chosen["test_acc"]),
                "chosen": _name(chosen["temperature"], chosen["alpha"])}
    return _per_run(c, one)


@REGISTRY.derived("alone_minus_distilled", "the student alone's test accuracy minus the "
                  "distilled student's (its grid cell, alpha < 1 and T <= 10, chosen on "
                  "validation)", bounds=(-1.0, 1.0), digits=4)
def _alone_minus_distilled(t: pd.DataFrame) -> pd.DataFrame:
    alone = _of(t, "test_acc", model="student alone").set_index("run")["value"]
    return _versus_choice(t, alone, 1.0)


@REGISTRY.derived("teacher_minus_distilled", "the teacher's test accuracy minus the distilled "
                  "student's (its grid cell, alpha < 1 and T <= 10, chosen on validation)",
                  bounds=(-1.0, 1.0), digits=4)
def _teacher_minus_distilled(t: pd.DataFrame) -> pd.DataFrame:
    teacher = _of(t, "test_acc", model="teacher").set_index("run")["value"]
    return _versus_choice(t, teacher, 1.0)


@REGISTRY.derived("cell_minus_alone", "one distilled cell's test accuracy (T <= 10) minus the "
                  "student alone's", bounds=(-1.0, 1.0), digits=4)
def _cell_minus_alone(t: pd.DataFrame) -> pd.DataFrame:
    c = _cells(t, poster_grid=True)
    alone = _of(t, "test_acc", model="student alone").set_index("run")["value"]
    if c.empty or alone.empty:
        return _frame([])
    c = c[(c["alpha"] < 1.0) & c["run"].isin(alone.index)]
    out = c.assign(cell=[_name(x, a) for x, a in zip(c["temperature"], c["alpha"],
                                                      strict=True)],
                   value=c["test_acc"].to_numpy() - alone.reindex(c["run"]).to_numpy())
    return out[["run", "cell", "value"] + [c for c in ("source_scale", "epoch")
                                            if c in out.columns]]


def _teacher_value(t: pd.DataFrame, metric: str) -> pd.Series:
    return _of(t, metric, model="teacher").set_index("run")["value"]


def _fidelity(t: pd.DataFrame, score: str, lowest: bool, ours: str, base: pd.Series,
              transform) -> pd.DataFrame:
    c = _cells(t)
    if c.empty or base.empty or score not in c.columns:
        return _frame([])
    c = c[c["alpha"] < 1.0]

    def one(part: pd.DataFrame) -> dict[str, Any] | None:
        if part.empty:
            return None
        run_id = part["run"].iloc[0]
        b = _of_run(base, run_id)
        if b is None:
            return None
        chosen = best_on_validation(part, ["run"], score, lowest).iloc[0]
        return {"value": transform(chosen[ours]) - b,
                "chosen": _name(chosen["temperature"], chosen["alpha"])}
    return _per_run(c, one)


@REGISTRY.derived("disagreement_gap", "test images on which the most faithful distilled "
                  "student (chosen on validation agreement) disagrees with its teacher, minus "
                  "those the teacher gets wrong (shares)", bounds=(-1.0, 1.0), digits=4)
def _disagreement_gap(t: pd.DataFrame) -> pd.DataFrame:
    error = 1.0 - _teacher_value(t, "test_acc")
    return _fidelity(t, "val_agreement", False, "agreement", error, lambda a: 1.0 - a)


@REGISTRY.derived("kl_gap", "KL(teacher || student) on test of the most faithful distilled "
                  "student (chosen on validation KL), minus the teacher's test cross-entropy "
                  "(nats)", digits=4)
def _kl_gap(t: pd.DataFrame) -> pd.DataFrame:
    return _fidelity(t, "val_kl", True, "kl_to_teacher", _teacher_value(t, "test_loss"),
                     lambda k: k)


def _matrices(t: pd.DataFrame, model: str) -> dict[Any, tuple[np.ndarray, dict]]:
    rows = _of(t, "confusion", model=model)
    out = {}
    if rows.empty or "actual" not in rows.columns:
        return out
    for run_id, part in rows.groupby("run"):
        m = np.zeros((10, 10))
        m[part["actual"].astype(int), part["predicted"].astype(int)] = part["value"]
        out[run_id] = (m, _flag(part))
    return out


def _both(t: pd.DataFrame):
    """Per run, the teacher's and the student alone's confusion matrices (a single teacher
    pairs with every run)."""
    teacher, alone = _matrices(t, "teacher"), _matrices(t, "student alone")
    for run_id, (m, flag) in alone.items():
        tm = teacher.get(run_id, next(iter(teacher.values())) if len(teacher) == 1 else None)
        if tm is not None:
            flags = [f["source_scale"] for f in (flag, tm[1]) if f]
            yield run_id, tm[0], m, {"source_scale": all(flags)} if flags else {}


@REGISTRY.derived("confusion_rank", "the worst rank of the named digit pairs (9-4, 5-3, 6-5) "
                  "among the 45 pairs, by the teacher's and the student alone's test errors "
                  "together", bounds=(1.0, 45.0), digits=1)
def _confusion_rank(t: pd.DataFrame) -> pd.DataFrame:
    return _frame([{"run": r, **f, "value": float(rank_of_pairs(tm + sm, CONFUSED_PAIRS))}
                   for r, tm, sm, f in _both(t)])


@REGISTRY.derived("confusion_similarity", "Pearson correlation of the teacher's and the "
                  "student alone's test errors over the 45 digit pairs", bounds=(-1.0, 1.0))
def _confusion_similarity(t: pd.DataFrame) -> pd.DataFrame:
    out = []
    for r, tm, sm, f in _both(t):
        a, b = (np.array(list(pair_counts(m).values()), dtype=float) for m in (tm, sm))
        if a.std() > 0 and b.std() > 0:
            out.append({"run": r, **f, "value": float(np.corrcoef(a, b)[0, 1])})
    return _frame(out)


# ------------------------------------------------------------------ building the evidence
def _teacher_scale(p: PosterParams) -> bool:
    return p["teacher_n_train"] >= SOURCE_SCALE["n_train"]


def _teacher_curve_scale(p: PosterParams) -> bool:
    return _teacher_scale(p) and p["teacher_epochs"] >= SOURCE_SCALE["teacher_epochs"]


def _student_scale(p: PosterParams, rule: str = "last") -> bool:
    """Whether the students of rule ``rule`` are at the poster's scale: its training images,
    its networks, a teacher at its scale, and (except when the rule stands for the Keras
    example's 3 epochs) curves as long as the poster's."""
    data = (p["n_train"] >= SOURCE_SCALE["n_train"] and p["hidden"] == SOURCE_SCALE["hidden"]
            and _teacher_scale(p))
    long_enough = (p["epochs"] >= KERAS_EPOCHS if rule == "keras"
                   else p["epochs"] >= SOURCE_SCALE["epochs"])
    return data and long_enough


def student_rows(r: Results, rule: str = "last") -> pd.DataFrame:
    """One row per (seed, temperature, alpha): the student after the epoch of ``rule``
    (:data:`EPOCH_RULES`)."""
    s = r.students
    if rule == "last":
        return s[s["epoch"] == r.params["epochs"]]
    if rule == "keras":
        return s[s["epoch"] == min(KERAS_EPOCHS, r.params["epochs"])]
    if rule == "best":
        return s.loc[s.groupby(["seed", "temperature", "alpha"])["val_loss"].idxmin()]
    raise ValueError(f"rule must be one of {', '.join(EPOCH_RULES)}; got {rule!r}")


def _curve_rows(curves: list[tuple[int, pd.DataFrame]], model: str, scale: bool) -> list[dict]:
    rows = [{"metric": "fit_epoch", "model": model, "run": k, "value": float(_fit_epoch(c)),
             "source_scale": scale} for k, c in curves]
    best = [(k, _best_epoch(c), len(c)) for k, c in curves]
    if all(b < n for _, b, n in best):  # else still improving at the end: when it overfits
        rows += [{"metric": "best_epoch", "model": model, "run": k, "value": float(b),
                  "source_scale": scale} for k, b, _ in best]
    return rows


def evidence(r: Results, name: str | None = None, rule: str = "last") -> Evidence:
    """The run's results as the claims' evidence: the networks' parameter counts, the test
    set's digit counts, each teacher (one run per seed it serves), the learning curves' fit and
    overfit epochs, every grid cell and the student alone after the epoch of ``rule`` (our
    epoch as a detail), both models' test confusions, and the Keras example's pair."""
    p = r.params
    rows: list[dict[str, Any]] = [
        {"metric": "params", "model": "teacher", "run": 0,
         "value": float(n_params(poster_teacher(p["dropout"], p["activation"])))},
        {"metric": "params", "model": "student", "run": 0,
         "value": float(n_params(poster_student(p["hidden"], p["dropout"], p["activation"])))}]
    support = np.bincount(r.y_test.numpy(), minlength=10)
    rows += [{"metric": "support", "digit": d, "run": 0, "value": float(support[d])}
             for d in range(10)]
    t_scale = _teacher_scale(p)
    for rec in r.teacher.to_dict("records"):
        k = int(rec["seed"])
        rows += [{"metric": m, "model": "teacher", "run": k, "value": float(rec[m]),
                  "source_scale": t_scale} for m in ("test_acc", "test_loss")]
        m = _confusion(r.teacher_test[k].argmax(-1), r.y_test)
        rows += [{"metric": "confusion", "model": "teacher", "actual": a, "predicted": b,
                  "run": k, "value": float(m[a, b])} for a in range(10) for b in range(10)]
    rows += _curve_rows([(int(k), c) for k, c in r.teacher_curve.groupby("seed")], "teacher",
                        _teacher_curve_scale(p))
    alone_curves = [(int(k), c) for k, c in r.alone().groupby("seed")]
    rows += _curve_rows(alone_curves, "student alone",
                        _student_scale(p, "last") and bool(alone_curves))
    s_scale = _student_scale(p, rule)
    chosen = student_rows(r, rule)
    for rec in chosen.to_dict("records"):
        coords = {"model": "student", "temperature": float(rec["temperature"]),
                  "alpha": float(rec["alpha"]), "epoch": int(rec["epoch"])}
        rows += [{"metric": m, **coords, "run": int(rec["seed"]), "value": float(rec[m]),
                  "source_scale": s_scale} for m in _CELL if m in rec and rec[m] == rec[m]]
    alone = alone_cell(p.students)
    if alone is not None:
        at = chosen[(chosen["temperature"] == alone[0]) & np.isclose(chosen["alpha"], 1.0)]
        for rec in at.to_dict("records"):
            seed, epoch = int(rec["seed"]), int(rec["epoch"])
            rows += [{"metric": m, "model": "student alone", "epoch": epoch, "run": seed,
                      "value": float(rec[m]), "source_scale": s_scale}
                     for m in ("test_acc", "test_loss")]
            cm = r.confusion[(r.confusion["seed"] == seed) & (r.confusion["epoch"] == epoch)]
            rows += [{"metric": "confusion", "model": "student alone", "actual": int(a),
                      "predicted": int(b), "run": seed, "value": float(c)}
                     for a, b, c in zip(cm["actual"], cm["predicted"], cm["count"],
                                        strict=True)]
    if r.keras_example is not None:
        k = r.keras_example.students
        k = k[k["epoch"] == k["epoch"].max()]
        rows += [{"metric": "test_acc", "study": "keras example", "student": rec["student"],
                  "run": int(rec["seed"]), "value": float(rec["test_acc"]),
                  "source_scale": False} for rec in k.to_dict("records")]
    table = pd.DataFrame(rows)
    for col in COORDINATES:  # every coordinate a claim may name, even when this run has none
        if col not in table.columns:
            table[col] = np.nan
    return Evidence.build(table, REGISTRY, name or run_name(r), dataset="mnist",
                          details=("epoch", "chosen"),
                          labels={"epoch": "our epoch", "chosen": "chosen on validation"})


def run_name(r: Results) -> str:
    """Which run, in a few words (the claims tables' "judged on")."""
    return f"this build's {r.params['profile']} run"


def claims_tables(p: PosterParams, r: Results) -> dict[str, pd.DataFrame]:
    """The chapter's claims tables: ``"default"``, this build's run judged under the main
    reading (each student after the run's last epoch) with a verdict column per other reading
    (:data:`READINGS`: the same run read at other epochs, so they cost nothing); ``"primary"``,
    the verdicts the chapter and the scorecard count (the same table: no committed run at the
    source's scale exists for this chapter, and the default profile is at it)."""
    found = [c for s in SOURCES for c in claims.load(s)]
    readings = {name: evidence(r, f"reading '{name}'", rule) for name, rule in READINGS.items()}
    table = claims.evaluate(found, evidence(r), readings=readings)
    return {"default": table, "primary": table}


def evidence_for(p: PosterParams, cache: Cache | None = None) -> list[Evidence]:
    """The evidence the chapter judges by: this build's run (no committed source-scale run)."""
    return [evidence(run(p, cache))]


def judged(p: PosterParams, cache: Cache | None = None) -> pd.DataFrame:
    """The verdicts the scorecard counts for this chapter (see :func:`claims_tables`)."""
    return claims_tables(p, run(p, cache))["primary"]


# ------------------------------------------------------------------ the chapter's text
def _list(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def glue_values(p: PosterParams) -> dict[str, Any]:
    """The values the notebook's notes glue into their sentences (``{glue:text}`name```):
    this run's scale, the readings, the ablations, the Keras example and the frameworks'
    comparison (a name starting ``md_`` holds Markdown). The sentences are the notebook's."""
    sw, src = p.sweep, SOURCE_SCALE
    teachers = (f"one per seed (seeds {sw.teacher_seed} to {sw.teacher_seed + sw.seeds - 1}), "
                "each trained" if sw.teacher_per_seed
                else f"one (seed {sw.teacher_seed}) for every seed,")
    split = ("all 70,000 MNIST images pooled and split "
             f"{70000 - sum(POOLED_SPLIT):,} / {POOLED_SPLIT[0]:,} / {POOLED_SPLIT[1]:,} "
             f"(train / validation / test), stratified by class, seed {p['split_seed']}"
             if p["split"] == "poster" else
             "the official test set; the last 10,000 official training images validate")
    at_scale = _student_scale(p) and _teacher_curve_scale(p)
    k = keras_example_params(p)
    c = comparison_params(p, "torch")
    out: dict[str, Any] = {
        **{f"p_{name}": value for name, value in p.flat().items()
           if isinstance(value, int | float | str) and not isinstance(value, bool)},
        "p_temperatures": _list(p["temperatures"]), "p_alphas": _list(p["alphas"]),
        "split_words": split, "teachers_words": teachers,
        "scale_verdict": ("at that scale: its absolute numbers (accuracies, fit epochs) are "
                          "judged" if at_scale else
                          "not at that scale: its absolute numbers are shown, not judged"),
        "above_ten": ("; this run adds T above 10 to test its guess that a better "
                      "temperature lies there" if max(p["temperatures"]) > POSTER_MAX_T else ""),
        **{f"source_{name}": value for name, value in src.items()},
        "last_rule": EPOCH_RULES["last"],
        "ablation_temperatures": _list(ABLATION_TEMPERATURES),
        "ablation_alphas": _list(ABLATION_ALPHAS),
        "md_ablation_variants": "; ".join(
            f"*{v}*: " + (", ".join(f"{n} = {x}" for n, x in change.items())
                          or "unchanged (the main grid's cells)")
            for v, change in ABLATIONS.items()),
        "keras_profile": k["profile"], "keras_teacher_epochs": k["teacher_epochs"],
        "keras_n_train": k["n_train"], "keras_epochs": k["epochs"],
        "keras_temperature": k["temperature"], "keras_alpha": k["alphas"][0],
        "keras_seeds": k["seeds"], "keras_n_test": k["n_test"],
        "comparison_n_train": c["n_train"], "comparison_teacher_epochs": c["teacher_epochs"],
        "comparison_teachers": "one per seed" if c["teacher_per_seed"] else "one",
        "comparison_temperatures": _list(c["temperatures"]),
        "comparison_alphas": _list(c["alphas"]), "comparison_epochs": c["epochs"],
        "comparison_seeds": c["seeds"], "comparison_split": c["split"],
    }
    out.update({f"md_reading_{i}": f"**{name}**: {EPOCH_RULES[rule]}"
                for i, (name, rule) in enumerate(READINGS.items())})
    return out


def split_table(p: PosterParams) -> pd.DataFrame:
    """Test-set class counts: the poster's, the official test set's, and 10,000 x the class
    shares of all 70,000 images (what a stratified split of the pooled set gives)."""
    from kdlib import data

    ds = data.load("mnist", p.run.data_dir or None)
    pooled = np.bincount(np.concatenate([ds.y_train, ds.y_test]), minlength=10)
    shares = np.round(pooled / pooled.sum() * POOLED_SPLIT[1]).astype(int)
    table = pd.DataFrame({"poster": POSTER_SUPPORT, "official test set": OFFICIAL_SUPPORT,
                          "stratified split of all 70,000": shares}, index=list(ds.classes))
    return table.rename_axis("digit").T.rename_axis("test set")


def teacher_table(r: Results) -> pd.DataFrame:
    """One row per teacher: its seed, the student seeds it serves, epochs, test accuracy and
    cross-entropy, and the time it took."""
    t = r.teacher
    serves = ([str(int(s)) for s in t["seed"]] if r.params["teacher_per_seed"]
              else [", ".join(str(s) for s in range(r.params["seeds"]))])
    return pd.DataFrame({"teacher seed": t["teacher_seed"].astype(int),
                         "serves student seed(s)": serves, "epochs": t["epochs"].astype(int),
                         "test accuracy": t["test_acc"].map(lambda v: f"{v:.4f}"),
                         "test cross-entropy": t["test_loss"].map(lambda v: f"{v:.4f}"),
                         "seconds": t["seconds"].map(lambda v: f"{v:.0f}")})


def curves_figure(r: Results, value: str = "val_loss"):
    """Learning curves of the teacher and of the student alone (mean and 95% CI over seeds):
    validation ``value`` and the training loss, against epoch."""
    parts = []
    for name, rows in (("teacher", r.teacher_curve), ("student alone", r.alone())):
        for col, what in ((value, "validation"), ("train_loss", "training")):
            if col == "train_loss" and value != "val_loss":
                continue
            parts.append(summarize(rows, ["epoch"], col).assign(curve=f"{name}, {what}"))
    ylabel = {"val_loss": "cross-entropy (nats)", "val_acc": "validation accuracy"}[value]
    return plots.metric_vs(pd.concat(parts, ignore_index=True), "epoch", "curve", ylabel,
                           legend="{key}")


def _alone_logits(r: Results) -> list[torch.Tensor]:
    t, a = alone_cell(r.params.students)
    return [r.logits(s, t, a) for s in sorted(r.test_logits)]


def reports(r: Results) -> pd.DataFrame:
    """The poster's classification report: precision, recall and F1 per digit for the teachers
    and the student alone after its last epoch (means over seeds), with the support."""
    cols = ["precision", "recall", "f1"]
    teachers = [metrics.class_report(r.teacher_test[k], r.y_test, r.classes).set_index("class")
                for k in sorted(r.teacher_test)]
    alone = _alone_logits(r)
    students = [metrics.class_report(x, r.y_test, r.classes).set_index("class") for x in alone]
    t, s = sum(teachers) / len(teachers), sum(students) / len(students)
    table = pd.concat({"teacher": t[cols], "student alone": s[cols]}, axis=1)
    table[("", "support")] = teachers[0]["support"]
    acc = {"teacher": float(r.teacher["test_acc"].mean()),
           "student alone": float(np.mean([metrics.accuracy(x, r.y_test) for x in alone]))}
    table.loc["accuracy"] = [np.nan, np.nan, acc["teacher"], np.nan, np.nan,
                             acc["student alone"], len(r.y_test)]
    text = table.map(lambda v: "" if pd.isna(v) else f"{v:.3f}")  # accuracy: F1 column only
    text[("", "support")] = table[("", "support")].astype(int)
    return text


def confusion_figure(r: Results):
    """Confusion matrices of the teachers and of the student alone after its last epoch (each
    summed over seeds and divided by their number)."""
    teachers = [metrics.confusion(r.teacher_test[k], r.y_test, 10) for k in sorted(r.teacher_test)]
    alone = [metrics.confusion(x, r.y_test, 10) for x in _alone_logits(r)]
    return plots.confusions({f"teacher (mean of {len(teachers)})": sum(teachers) / len(teachers),
                             f"student alone (mean of {len(alone)} seeds)":
                             sum(alone) / len(alone)}, r.classes)


def grid_figure(r: Results, epoch: int | None = None):
    """Heatmaps over (temperature, alpha): test accuracy, agreement and KL to the teacher."""
    return plots.heatmaps({
        "test accuracy": r.grid("test_acc", epoch),
        "top-1 agreement with the teacher": r.grid("agreement", epoch),
        "KL(teacher || student) on test (nats)": r.grid("kl_to_teacher", epoch),
    }, "alpha", "temperature")


def alpha_one_check(r: Results) -> str:
    """Are the alpha = 1 students of different temperatures identical, bit for bit?"""
    temps = r.params["temperatures"]
    if 1.0 not in r.params["alphas"] or len(temps) < 2:
        return "This run's grid has no alpha = 1 at two temperatures to compare."
    same = [all(torch.equal(r.logits(s, temps[0], 1.0), r.logits(s, t, 1.0)) for t in temps)
            for s in sorted(r.test_logits)]
    if all(same):
        return (f"At alpha = 1 the test logits of the students at T = "
                f"{', '.join(f'{t:g}' for t in temps)} are **bit-identical** in every seed "
                f"({len(same)} of {len(same)}): the soft term is multiplied by exactly zero, "
                "so T cannot matter, and with a shared initialisation, batch order and dropout "
                "masks nothing else differs.")
    return (f"At alpha = 1 the students at different T are *not* bit-identical in "
            f"{same.count(False)} of {len(same)} seeds.")


def _paired_interval(x: pd.Series, y: pd.Series, bounds=(-1.0, 1.0)) -> metrics.Interval:
    d = (x - y.reindex(x.index)).dropna().to_numpy(dtype=float)
    return metrics.interval(d, bounds)


def fidelity_text(r: Results) -> str:
    """Does distillation make the student match its teacher better, even where it is less
    accurate? Each distilled cell after the last epoch against the student alone, paired by
    seed (95% intervals), in words."""
    last = r.last
    alone = r.alone()
    alone = alone[alone["epoch"] == r.params["epochs"]].set_index("seed")
    dist = last[last["alpha"] < 1]
    if dist.empty or alone.empty:
        return "This run's grid has no distilled cell and student alone to compare."
    if r.params["seeds"] < 2:
        return ("One seed: no interval, so this run cannot tell which distilled cells differ "
                "from the student alone.")

    def sig(g: pd.DataFrame, col: str, sign: int) -> bool:
        bounds = (-1.0, 1.0) if col != "kl_to_teacher" else metrics.UNBOUNDED
        i = _paired_interval(g.set_index("seed")[col] * sign, alone[col] * sign, bounds)
        return i.decided and i.low > 0

    cells_ = list(dist.groupby(["temperature", "alpha"]))
    less = [(c, g) for c, g in cells_ if sig(g, "test_acc", -1)]
    closer = [c for c, g in less if sig(g, "agreement", 1) or sig(g, "kl_to_teacher", -1)]
    agree = [c for c, g in cells_ if sig(g, "agreement", 1)]
    kl = [c for c, g in cells_ if sig(g, "kl_to_teacher", -1)]

    def names(cs: list) -> str:
        return ", ".join(f"(T = {t:g}, alpha = {a:g})" for t, a in cs) or "none"

    return (f"Against the student alone ({ci_text(alone['test_acc'].to_numpy(float), 4)}), "
            f"paired by seed: of the {len(cells_)} distilled cells, {len(less)} are "
            f"significantly less accurate. Top-1 agreement with the teacher is significantly "
            f"higher in {len(agree)} cells ({names(agree)}) and the KL to the teacher "
            f"significantly lower in {len(kl)} ({names(kl)}). Less accurate yet closer to the "
            f"teacher: {len(closer)} cells ({names(closer)}).")


def _choices_text(chosen: pd.DataFrame) -> str:
    counts = Counter(_name(t, a) for t, a in zip(chosen["temperature"], chosen["alpha"],
                                                 strict=True))
    return "; ".join(f"{c} ({n} seed{'s' if n != 1 else ''})" for c, n in counts.most_common())


def ablation_table(a: pd.DataFrame, p: PosterParams) -> pd.DataFrame:
    """Per variant of the main run ``p``: the teachers, the student alone, the distilled cell
    chosen on validation in each seed, and the paired difference chosen distilled - alone on
    test, with its 95% CI and what it says."""
    rows = []
    for variant, part in a.groupby("variant", sort=False):
        per_seed = ablation_params(p, variant)["teacher_per_seed"]
        alone = part[np.isclose(part["alpha"], 1.0)]
        alone = alone[alone["temperature"] == alone["temperature"].min()].set_index("seed")
        dist = part[part["alpha"] < 1].rename(columns={"seed": "run"})
        best = best_on_validation(dist, ["run"]).set_index("run")
        diff = (best["test_acc"] - alone["test_acc"].reindex(best.index)).to_numpy(float)
        i = metrics.interval(diff, (-1.0, 1.0))
        says = ("one seed: cannot tell" if not i.decided else "distillation helps"
                if i.low > 0 else "distillation hurts" if i.high < 0
                else "no significant difference")
        teachers = part.groupby("seed")["teacher_acc"].first().to_numpy(float)
        teacher = (ci_text(teachers, 4, (0.0, 1.0)) if per_seed
                   else f"{teachers[0]:.4f} (one teacher)")
        rows.append({"variant": variant, "teacher": teacher,
                     "student alone": ci_text(alone["test_acc"].to_numpy(float), 4, (0, 1)),
                     "distilled cell chosen on validation": _choices_text(best),
                     "its test accuracy": ci_text(best["test_acc"].to_numpy(float), 4, (0, 1)),
                     "chosen - alone": i.text(4), "verdict": says})
    return pd.DataFrame(rows).set_index("variant")


def keras_example_table(r: Results) -> pd.DataFrame:
    """The poster's quoted Keras outputs against ours (mean and 95% CI over seeds)."""
    k = r.keras_example
    if k is None:
        return pd.DataFrame()
    s = k.students[k.students["epoch"] == k.students["epoch"].max()]
    dist = s[s["student"] == "distilled"].set_index("seed")["test_acc"]
    scratch = s[s["student"] == "scratch"].set_index("seed")["test_acc"]
    reported = {c.id: float(c.reported) for c in claims.load("004")
                if c.id in ("keras-distilled", "keras-scratch")}
    r_dist, r_scratch = reported["keras-distilled"], reported["keras-scratch"]
    q = k.params
    acc = (0.0, 1.0)
    return pd.DataFrame({
        "model": ["teacher", f"distilled student (T = {q['temperature']:g}, alpha = "
                  f"{q['alphas'][0]:g})", "scratch student",
                  "scratch - distilled (paired)"],
        "poster (Keras output)": ["—", f"{r_dist:.4f}", f"{r_scratch:.4f}",
                                  f"{r_scratch - r_dist:+.4f}"],
        "ours (95% CI)": [f"{float(k.teacher['test_acc'].iloc[0]):.4f}",
                          ci_text(dist.to_numpy(float), 4, acc),
                          ci_text(scratch.to_numpy(float), 4, acc),
                          _paired_interval(scratch, dist).text(4)],
    }).set_index("model")


def _explanation(table: pd.DataFrame) -> str:
    """What the ablation verdicts, taken together, support (``table``: :func:`ablation_table`)."""
    verdicts = table["verdict"]
    if verdicts.get("as run") == "distillation helps":
        return "Distillation does help the poster's own pair here, so nothing needs explaining."
    found = []
    for variant, reason in (
            ("wider student (128 units)", "a wider student gains from the same teacher, so "
             "the 32-unit student's capacity limits what it can take from it"),
            ("students on 2,000 images", "students with few labelled images gain from the "
             "same teacher, so with the full training set the labels already teach the "
             "student what the teacher would")):
        if verdicts.get(variant) == "distillation helps":
            found.append(f"{reason} (chosen distilled - alone: "
                         f"{table.loc[variant, 'chosen - alone']})")
    if not found:
        return ("Neither more capacity nor fewer labels makes distillation pay here, so these "
                "ablations do not explain the poster's result.")
    return "The numbers support: " + "; ".join(found) + "."


def discussion(r: Results, a: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> str:
    """The chapter's conclusion, written from this run's numbers and its claims tables."""
    ev = evidence(r)
    diff = ev.per_run("alone_minus_distilled", {})
    rows = ev.rows("alone_minus_distilled", {})
    alone = ev.per_run("test_acc", {"model": "student alone"})
    if diff is None or alone is None:
        verdict = "This grid has no distilled cell and student alone to compare."
    else:
        i = metrics.interval(diff.to_numpy(float), (-1.0, 1.0))
        chosen = Counter(rows["chosen"])
        picks = "; ".join(f"{c} in {n} seed{'s' if n != 1 else ''}"
                          for c, n in chosen.most_common())
        says = ("one run cannot tell which is better" if not i.decided else
                "the student alone is better, as on the poster" if i.low > 0 else
                "the distilled student is better, unlike on the poster" if i.high < 0 else
                "the two cannot be told apart at this number of seeds")
        verdict = (f"In each seed the distilled student is the cell of the poster's grid with "
                   f"the best validation accuracy (here {picks}). The student alone scores "
                   f"{ci_text(alone.to_numpy(float), 4, (0.0, 1.0))} "
                   f"on test, and the student alone minus the chosen distilled student is "
                   f"{i.text(4)} per seed: {says}.")
    table = ablation_table(a, r.params)
    verdicts = table["verdict"]
    helped = [v for v, s in verdicts.items() if s == "distillation helps"]
    primary = tables["primary"]
    card = claims.scorecard(primary).sum()
    counted = ", ".join(f"{int(card[v])} {v}" for v in claims.VERDICTS if card[v])
    text = [
        verdict,
        "",
        "The ablations ask why: "
        + "; ".join(f"*{v}*: {s}" for v, s in verdicts.items()) + ". "
        + (f"Distillation helps only in: {', '.join(helped)}. " if helped else
           "Distillation helps in none of them. ") + _explanation(table),
        "",
        f"The poster's {len(primary)} claims make {int(card.sum())} independent tests "
        f"(claims that share one measurement count once): {counted}, at "
        f"{r.params['seeds']} seed(s). A good fit means a validation accuracy within "
        f"{FIT_WITHIN:g} of the curve's best.",
    ]
    if "robust" in primary:
        judged_here = primary[~primary["verdict"].isin([claims.NOT_COMPARABLE,
                                                        claims.NOT_TESTABLE])]
        text += ["", f"Of the {len(judged_here)} claims this run judges, "
                 f"{int(judged_here['robust'].sum())} get the same verdict under every reading "
                 "of the poster's training length (the reading columns of the table)."]
    return "\n".join(text)


CHAPTER = Chapter("poster", params=PosterParams, run=run, judged=judged,
                  evidence_for=evidence_for, sources=SOURCES,
                  example="papermill notebooks/poster.ipynb out.ipynb -p profile quick "
                          "-p split official", plan=plan)
