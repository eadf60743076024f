"""What the teacher-architecture chapter (seed 003) says: its evidence for the claims, the
scale and readings notes, the networks beside Table 1, the teachers, Table 2 side by side, the
sweeps and curves as figures, fidelity, and a discussion written from the results.

Kept apart from :mod:`kdlib.experiments.teachers` so that the cache key of the results (the
hash of the code that computes them) does not change when only the chapter's wording, or how
its results answer claims, does.
"""

from __future__ import annotations

import json
import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from torch import nn

from kdlib import claims, plots
from kdlib.chapters import Chapter
from kdlib.cifar_models import MODELS, madds
from kdlib.cifar_models import TABLE1 as MODELS_TABLE1
from kdlib.evidence import Evidence, Registry
from kdlib.experiments import teachers as experiment
from kdlib.experiments.teachers import (
    CONFIGS,
    FIGURE9_ROW,
    SCRATCH_ROW,
    SOURCE_SCALE,
    STUDENT,
    SWEEPS,
    TABLE2,
    TEACHER_ROWS,
    TEACHERS,
    Results,
    TeachersParams,
    best_epochs,
    label,
    run,
)
from kdlib.metrics import ci_text, mean_ci
from kdlib.models import n_params
from kdlib.results import Cache

__all__ = ["ACC", "CHAPTER", "READINGS", "REGISTRY", "SOURCES", "architecture_table", "caption",
           "claims_tables", "curves_figure", "data_name", "discussion", "evidence",
           "evidence_for", "fidelity_text", "glued", "judged", "plan", "reading_params",
           "run_name", "scale_note", "student_gap_text", "sweeps_figure", "table2",
           "teacher_table"]

SOURCES = ("003",)
ACC = (0.0, 1.0)  # the range of an accuracy or an agreement: no interval leaves it

# Plausible readings of what the paper leaves open, each judged beside the main one at the
# same scale (the claims table gives the verdict under each). Both reuse the main run's
# teachers and distilled students: the first re-reads the same run, the second re-trains the
# baseline alone.
READINGS: dict[str, dict[str, Any]] = {
    # "After each training epoch, the updated model is tested on the validation set and the
    # metrics are recorded": Table 2 may give each student's best epoch, not its last
    "accuracy at the best validation epoch": {},
    # "an Early Stopping callback": Keras's and Lightning's callbacks watch the validation
    # loss and keep the weights of the epoch they stop at, unless told otherwise
    "early stopping: callback defaults": {"stop_monitor": "val_loss", "restore_best": False},
}
_BEST_EPOCH = "accuracy at the best validation epoch"

# ------------------------------------------------------------------ evidence for the claims
REGISTRY = Registry()
REGISTRY.measured("test_acc", "top-1 test accuracy", bounds=ACC)
REGISTRY.measured("test_loss", "test cross-entropy to the true labels (nats)",
                  bounds=(0.0, math.inf))
REGISTRY.measured("agreement", "top-1 agreement with the row's own teacher", bounds=ACC)
REGISTRY.measured("epoch_test_acc", "top-1 test accuracy after an epoch", bounds=ACC)
REGISTRY.measured("teacher_acc", "the teacher's top-1 test accuracy", bounds=ACC)
REGISTRY.measured("teacher_val_acc", "the teacher's top-1 validation accuracy", bounds=ACC)
REGISTRY.measured("params_m", "parameters (millions), width 1, 100 classes",
                  bounds=(0.0, math.inf), runs="exact")
REGISTRY.measured("madds_m", "multiply-adds of one 32 x 32 image (millions), width 1, 100 "
                  "classes", bounds=(0.0, math.inf), runs="exact")

_CONFIG = ("row", "teacher", "mixup", "lr", "temperature", "teacher_rank")


def _configs(t: pd.DataFrame) -> pd.DataFrame:
    """The coordinates of each row of the students (from the test-accuracy rows)."""
    rows = t[t["metric"] == "test_acc"]
    cols = [c for c in (*_CONFIG, "source_scale") if c in rows.columns]
    return rows[cols].drop_duplicates("row").set_index("row")


def _per_row(t: pd.DataFrame, values: pd.Series) -> pd.DataFrame:
    """Values indexed by (row, run) as evidence rows with every coordinate of their row."""
    if values.empty:
        return pd.DataFrame()
    out = values.rename("value").reset_index()
    return out.join(_configs(t), on="row")


def _curves(t: pd.DataFrame) -> pd.DataFrame:
    return t[t["metric"] == "epoch_test_acc"]


@REGISTRY.derived("roughness", "mean |second difference| of the test accuracy over epochs",
                  bounds=(0.0, 2.0))
def _roughness(t: pd.DataFrame) -> pd.DataFrame:
    """Per row and run, the mean over epochs of |a(e+1) - 2 a(e) + a(e-1)|: the curve's
    wiggle once a straight trend is removed (3 epochs or more)."""
    c = _curves(t)
    if c.empty:
        return pd.DataFrame()

    def rough(g: pd.DataFrame) -> float:
        a = g.sort_values("epoch")["value"].to_numpy(dtype=float)
        return float(np.abs(np.diff(a, 2)).mean()) if len(a) >= 3 else math.nan

    values = c.groupby(["row", "run"])[["epoch", "value"]].apply(rough).dropna()
    return _per_row(t, values)


@REGISTRY.derived("late_gain", "test accuracy after the last epoch minus after half of them",
                  bounds=(-1.0, 1.0))
def _late_gain(t: pd.DataFrame) -> pd.DataFrame:
    """Per row and run, the accuracy after the last epoch minus after epoch ceil(last / 2)
    (2 epochs or more)."""
    c = _curves(t)
    if c.empty:
        return pd.DataFrame()

    def gain(g: pd.DataFrame) -> float:
        a = g.set_index("epoch")["value"].sort_index()
        last = int(a.index[-1])
        half = -(-last // 2)
        return float(a.iloc[-1] - a.loc[half]) if last >= 2 and half in a.index else math.nan

    values = c.groupby(["row", "run"])[["epoch", "value"]].apply(gain).dropna()
    return _per_row(t, values)


@REGISTRY.derived("mean_late_gain", "late_gain averaged over the distilled students",
                  bounds=(-1.0, 1.0))
def _mean_late_gain(t: pd.DataFrame) -> pd.DataFrame:
    g = t[t["metric"] == "late_gain"]
    g = g[g["teacher"] != "scratch"] if not g.empty else g
    if g.empty:
        return pd.DataFrame()
    return g.groupby("run")["value"].mean().reset_index()


@REGISTRY.derived("teacher_minus_student", "the row's teacher's test accuracy minus the "
                  "student's", bounds=(-1.0, 1.0))
def _teacher_gap(t: pd.DataFrame) -> pd.DataFrame:
    """Per distilled row and run: its teacher's accuracy (one run: a constant) minus its own."""
    acc = t[t["metric"] == "teacher_acc"]
    if acc.empty or "teacher" not in t.columns:
        return pd.DataFrame()
    students = t[(t["metric"] == "test_acc") & t["teacher"].isin(list(acc["model"]))]
    if students.empty:
        return pd.DataFrame()
    teacher = acc.groupby("model")["value"].mean()
    out = students.drop(columns=["metric"]).copy()
    out["value"] = out["teacher"].map(teacher) - out["value"]
    return out


def _students_at_source_scale(p: TeachersParams, row: int) -> bool:
    """Whether a row's students ran at the paper's scale (its epochs: 400 in the teacher
    sweep, 300 in the others)."""
    s = SOURCE_SCALE
    epochs = p["teacher_sweep_epochs"] if row in TEACHER_ROWS else p["epochs"]
    need = s["teacher_sweep_epochs"] if row in TEACHER_ROWS else s["epochs"]
    return (p["dataset"] == s["dataset"] and p["labels"] == s["labels"]
            and p["width"] == s["width"] and p["n_train"] >= s["n_train"]
            and p["n_test"] == s["n_test"] and epochs >= need)


def _dataset(p: TeachersParams) -> str:
    """The data set in the claims' words: a claim about CIFAR-100 (fine labels) is not
    testable on the coarse labels."""
    if p["dataset"] == "cifar100" and p["labels"] != "fine":
        return f"cifar100 ({p['labels']} labels)"
    return p["dataset"]


def _coords(row: int, rank: dict[str, int]) -> dict[str, Any]:
    r = CONFIGS.loc[row]
    teacher = r["teacher"] if isinstance(r["teacher"], str) else "scratch"
    return {"row": int(row), "teacher": teacher, "mixup": bool(r["mixup"]),
            "lr": float(r["lr"]), "temperature": float(r["temperature"]),
            "teacher_rank": float(rank[teacher]) if teacher in rank else math.nan}


def run_name(r: Results, reading: str | None = None) -> str:
    """Which run, in a few words (the claims tables' "judged on")."""
    text = f"this build's {r.params['profile']} run"
    return text if reading is None else f"{text}, reading '{reading}'"


def evidence(r: Results, name: str | None = None, epoch: str = "last") -> Evidence:
    """The run's results as the claims' evidence: one row per (metric, row of
    :data:`CONFIGS` with its coordinates, seed) for the students, per epoch for their
    curves, per teacher and per network of Table 1. ``epoch`` is ``"last"`` (the weights
    each student ends with; the baseline's early-stopped ones) or ``"best on validation"``
    (each student's epoch with the best validation accuracy: the first reading)."""
    p = r.params
    rank = r.teacher_rank()
    students = r.students[["seed", "row", "test_acc", "test_loss"]].copy()
    students["agreement"] = [rec[f"agree_{CONFIGS.loc[rec['row'], 'teacher']}"]
                             if isinstance(CONFIGS.loc[rec["row"], "teacher"], str)
                             else math.nan for rec in r.students.to_dict("records")]
    if epoch == "best on validation":
        students = best_epochs(r.curves, "val_acc")[["seed", "row", "test_acc", "test_loss",
                                                     "agreement"]]
    elif epoch != "last":
        raise ValueError(f"epoch must be one of last, best on validation; got {epoch!r}")
    rows = []
    for rec in students.to_dict("records"):
        at = {**_coords(rec["row"], rank), "run": int(rec["seed"]),
              "source_scale": _students_at_source_scale(p, rec["row"])}
        for m in ("test_acc", "test_loss", "agreement"):
            if not pd.isna(rec[m]):
                rows.append({"metric": m, **at, "value": float(rec[m])})
    for rec in r.curves.to_dict("records"):
        rows.append({"metric": "epoch_test_acc", **_coords(rec["row"], rank),
                     "epoch": int(rec["epoch"]), "run": int(rec["seed"]),
                     "value": float(rec["test_acc"]),
                     "source_scale": _students_at_source_scale(p, rec["row"])})
    teacher_scale = (p["dataset"] == SOURCE_SCALE["dataset"] and p["width"] == 1.0
                     and p["labels"] == SOURCE_SCALE["labels"]
                     and p["n_train"] >= SOURCE_SCALE["n_train"])
    refs = {name: i + 1 for i, name in enumerate(MODELS_TABLE1)}
    for rec in r.teachers.to_dict("records"):
        for m, col in (("teacher_acc", "test_acc"), ("teacher_val_acc", "val_acc")):
            rows.append({"metric": m, "model": rec["teacher"], "ref": refs[rec["teacher"]],
                         "run": p["teacher_seed"], "value": float(rec[col]),
                         "source_scale": teacher_scale})
    for rec in r.sizes.to_dict("records"):  # at the paper's width and classes, by design
        for m in ("params_m", "madds_m"):
            rows.append({"metric": m, "model": rec["model"], "ref": refs[rec["model"]],
                         "run": 0, "value": float(rec[m]), "source_scale": True})
    return Evidence.build(rows, REGISTRY, name or run_name(r), dataset=_dataset(p))


def reading_params(p: TeachersParams, reading: str) -> TeachersParams:
    """The main run's parameters under another reading of the source."""
    return p.replace(**READINGS[reading])


def _reading_evidence(p: TeachersParams, r: Results, reading: str,
                      cache: Cache | None) -> Evidence:
    name = run_name(r, reading)
    if reading == _BEST_EPOCH:
        return evidence(r, name, epoch="best on validation")
    return evidence(run(reading_params(p, reading), cache), name)


def _runs(p: TeachersParams) -> list[TeachersParams]:
    """The parameters of every run the chapter judges: the main run, and each reading that
    re-trains something (not at the paper profile, which judges its run alone)."""
    if p["profile"] == "paper":
        return [p]
    return [p, *(reading_params(p, name) for name, change in READINGS.items() if change)]


def plan(p: TeachersParams) -> list[tuple[str, Any]]:
    """Every unit the chapter's notebook computes at ``p`` (the main run's and the readings'
    that re-train), once each, as ``(experiment, unit)`` pairs
    (:func:`kdlib.experiments.teachers.plan`)."""
    ds, seen, out = experiment.dataset(p), set(), []
    for q in _runs(p):
        for folder, unit in experiment.plan(q, ds):
            key = (folder, unit.name, json.dumps(unit.params, sort_keys=True), unit.digest)
            if key not in seen:
                seen.add(key)
                out.append((folder, unit))
    return out


def glued(p: TeachersParams) -> dict[str, Any]:
    """The values the notebook's prose shows through myst-nb's ``glue`` (what we implement,
    the readings): parameters, and the early stopping in words."""
    return {"mixup": p["mixup"], "batch_size": p["batch_size"], "teacher_lr": p["teacher_lr"],
            "bn_momentum": p["bn_momentum"], "patience": p["patience"], "seeds": p["seeds"],
            "epochs": p["epochs"],
            "stop_watches": "accuracy" if p["stop_monitor"] == "val_acc" else "loss",
            "stop_keeps": "its best epoch" if p["restore_best"] else "the epoch it stops at"}


def claims_tables(p: TeachersParams, r: Results,
                  cache: Cache | None = None) -> dict[str, pd.DataFrame]:
    """The chapter's claims tables: ``"default"``, this build's run judged with a verdict per
    reading; ``"primary"``, the verdicts the chapter and the scorecard count. No run at the
    paper's scale is committed for this chapter, so both are this build's run (the paper
    profile itself judges its run alone)."""
    found = [c for s in SOURCES for c in claims.load(s)]
    ev = evidence(r)
    readings = ({name: _reading_evidence(p, r, name, cache) for name in READINGS}
                if p["profile"] != "paper" else {})
    table = claims.evaluate(found, ev, readings=readings)
    return {"default": table, "primary": table}


def evidence_for(p: TeachersParams, cache: Cache | None = None) -> list[Evidence]:
    """The evidence the chapter judges by: this build's run (no source-scale run of this
    chapter is committed)."""
    return [evidence(run(p, cache))]


def judged(p: TeachersParams, cache: Cache | None = None) -> pd.DataFrame:
    """The verdicts the scorecard counts for this chapter (see :func:`claims_tables`)."""
    return claims_tables(p, run(p, cache), cache)["primary"]


# ------------------------------------------------------------------------------ notes
def data_name(p: TeachersParams) -> str:
    """The data set in words, with the stand-in flagged."""
    if p["dataset"] == "cifar100":
        return "CIFAR-100" + (" (coarse labels)" if p["labels"] == "coarse" else "")
    return "CIFAR-10 (stand-in for the paper's CIFAR-100)"


def scale_note(p: TeachersParams) -> str:
    """A MyST admonition: the data set and the scale of this run (what we implement where
    the paper is silent is the notebook's, with :func:`glued` values)."""
    paper = all(_students_at_source_scale(p, row) for row in CONFIGS.index)
    lines = ["```{admonition} Data set and scale of this chapter",
             ":class: " + ("note" if paper else "warning")]
    if p["dataset"] != "cifar100":
        lines.append(
            "**This chapter runs on CIFAR-10, a stand-in.** The paper used CIFAR-100, which "
            "cannot be obtained offline here. Every table and figure below is on CIFAR-10 "
            "(10 classes); claims about CIFAR-100's own numbers are *not testable here*, while "
            "the design claims (teacher choice, temperature, learning rate, mixup, longer "
            "training) are tested on the stand-in. `-p dataset cifar100 -p data_dir DIR` runs "
            "the chapter on the official `cifar-100-python.tar.gz` in DIR.")
        lines.append("")
    lines.append(
        f"Profile **{p['profile']}**: every network at width x{p['width']:g} (1 is Table 1's); "
        f"each teacher trained {p['teacher_epochs']} epoch(s) here (the paper used pretrained "
        f"ones); students {p['teacher_sweep_epochs']} epoch(s) in the teacher sweep (the paper: "
        f"400) and {p['epochs']} in the others (the paper: 300; the baseline stops early with "
        f"patience {p['patience']}), on the first {p['n_train']:,} of the 50,000 official "
        f"training images; the last {p['n_val']:,} training images, never trained on, are the "
        f"validation images; all evaluated on the first {p['n_test']:,} official test images, "
        f"over {p['seeds']} seed(s) (one set of teachers for all). An absolute accuracy is "
        "judged only on a run at the paper's scale (CIFAR-100, width 1, 300-400 epochs, all "
        "10,000 test images); "
        + ("this run is one." if paper else "this run is not, so it judges the relative "
           "claims (directions, best configurations, sizes) and leaves Table 2's accuracies "
           "to such a run; none is committed for this chapter yet."))
    lines.append("```")
    return "\n".join(lines)


def caption(R: Results, text: str) -> str:
    """A table's caption, with the data set and profile (Markdown)."""
    return f"*{text} Data: {data_name(R.params)}; profile {R.params['profile']}.*"


def _acc_text(values: np.ndarray | None) -> str:
    return "—" if values is None else ci_text(values, bounds=ACC)


# ----------------------------------------------------------------------------- tables
def architecture_table(R: Results) -> pd.DataFrame:
    """Our four networks beside Table 1 (width 1, 100 classes), and as this run built them."""
    s = R.sizes.copy()
    small = R.teachers.set_index("teacher")
    p = R.params
    run_width = {name: (small.loc[name, "params_m"], small.loc[name, "madds_m"])
                 for name in TEACHERS}
    classes = 10 if p["dataset"] == "cifar10" else 100 if p["labels"] == "fine" else 20
    student = MODELS[STUDENT](classes=classes, width=p["width"])
    run_width[STUDENT] = (n_params(student) / 1e6, madds(student) / 1e6)
    return pd.DataFrame({
        "role": ["teacher 1", "teacher 2", "teacher 3", "student"], "model": s["model"],
        "params (M), Table 1": [f"{v:.2f}" for v in s["paper_params_m"]],
        "params (M), ours": [f"{v:.3f}" for v in s["params_m"]],
        "MAdds (M), Table 1": [f"{v:g}" for v in s["paper_madds_m"]],
        "MAdds (M), ours": [f"{v:.2f}" for v in s["madds_m"]],
        f"params (M) as run (x{p['width']:g}, {classes} classes)":
            [f"{run_width[m][0]:.3f}" for m in s["model"]],
        "MAdds (M) as run": [f"{run_width[m][1]:.2f}" for m in s["model"]]})


def student_gap_text() -> str:
    """Our student's parameter count at width 1 and 100 classes against Table 1's, and the
    count without batch norm's affine parameters (one reading of Table 1's figure)."""
    model = MODELS[STUDENT](classes=100)
    total = n_params(model)
    affine = sum(m.weight.numel() + m.bias.numel() for m in model.modules()
                 if isinstance(m, nn.BatchNorm2d))
    paper = MODELS_TABLE1[STUDENT]["params_m"]
    return (f"Its {total / 1e6:.3f} M parameters are {100 * (total / 1e6 / paper - 1):.1f}% "
            f"above Table 1's {paper:g} M; the same network without batch norm's "
            f"{affine:,} affine parameters has {(total - affine) / 1e6:.3f} M, so the paper's "
            "count may have left those out.")


def teacher_table(R: Results) -> pd.DataFrame:
    """Each teacher: its own validation and test accuracy here, its rank (on validation), its
    training time, and its student's accuracy and agreement."""
    rows = []
    rank = R.teacher_rank()
    for name, row in zip(TEACHERS, TEACHER_ROWS, strict=True):
        t = R.teachers.set_index("teacher").loc[name]
        rows.append({"teacher": name, "Table 1 top-1 (CIFAR-100, pretrained)":
                     f"{R.sizes.set_index('model').loc[name, 'paper_top1']:.4f}",
                     "params (M), MAdds (M) as run":
                         f"{t['params_m']:.3f}, {t['madds_m']:.2f}",
                     "validation accuracy (ours)": f"{t['val_acc']:.3f}",
                     "rank (on validation)": rank[name],
                     "test accuracy (ours)": f"{t['test_acc']:.3f}",
                     "training (s)": f"{t['train_seconds']:.0f}",
                     "its student's accuracy (T=5)": _acc_text(R.by_seed(row, "test_acc")),
                     "student-teacher agreement": _acc_text(R.by_seed(row, f"agree_{name}"))})
    return pd.DataFrame(rows)


def table2(R: Results) -> pd.DataFrame:
    """Table 2 side by side (and Figure 9's extra run): the paper's accuracy and ours, with
    fidelity and the epochs kept."""
    rows = []
    for row in CONFIGS.index:
        r = CONFIGS.loc[row]
        teacher = r["teacher"]
        agree = (R.by_seed(row, f"agree_{teacher}") if isinstance(teacher, str) else None)
        kept = R.by_seed(row, "epoch_kept")
        paper = TABLE2["accuracy"].get(row, math.nan)
        rows.append({"row": row, "teacher": teacher if isinstance(teacher, str) else
                     "trained from scratch", "mixup": "Y" if r["mixup"] else "N",
                     "lr": f"{r['lr']:g}", "T": "NA" if np.isnan(r["temperature"]) else
                     f"{r['temperature']:g}",
                     "paper (CIFAR-100)": "— (Figure 9 only)" if math.isnan(paper)
                     else f"{paper:.4f}",
                     "ours: accuracy": _acc_text(R.by_seed(row, "test_acc")),
                     "ours: agreement with its teacher": _acc_text(agree),
                     "epochs kept": "—" if kept is None else
                     ", ".join(str(int(e)) for e in kept)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- figures
def _summary(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean and 95% interval over seeds per ``by`` group, cut to [0, 1] for accuracies."""
    bounds = ACC if value in ("test_acc", "agreement", "val_acc") else (0.0, math.inf)
    out = []
    for keys, g in df.groupby(by, sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        mean, lo, hi = mean_ci(g[value].to_numpy(dtype=float), bounds=bounds)
        out.append({**dict(zip(by, keys, strict=True)), "mean": mean, "ci_low": lo,
                    "ci_high": hi, "n": len(g)})
    return pd.DataFrame(out)


def sweeps_figure(R: Results) -> plt.Figure:
    """The four sweeps of the paper's section 5.3: test accuracy (mean, 95% CI) per
    configuration, with the baseline (dashed) and, for the teachers, their own accuracy."""
    s = _summary(R.students, ["row"], "test_acc").set_index("row")
    own = R.teachers.set_index("teacher").loc[list(TEACHERS), "test_acc"]
    panels = [
        plots.PointPanel("teacher (T=5)", [n.split("_")[0] for n in TEACHERS],
                         [("student", s.loc[list(TEACHER_ROWS)])],
                         marks=("teacher itself", own.to_numpy())),
        plots.PointPanel("temperature", ["2", "5", "10"],
                         [("student", s.loc[list(SWEEPS["temperature"])])]),
        # three pairs: T = 2 and T = 10 (0.001, 0.01), T = 5 (0.001, 0.003)
        plots.PointPanel("learning rate", ["0.001", "0.01 (T=2, 10)\n0.003 (T=5)"],
                         [("T=2 (Fig. 9)", s.loc[[5, FIGURE9_ROW]]), ("T=10", s.loc[[6, 7]]),
                          ("T=5", s.loc[[4, 8]])]),
        plots.PointPanel("mixup (T=10)", ["with", "without"],
                         [("student", s.loc[list(SWEEPS["mixup"])])]),
    ]
    return plots.point_panels(panels, "test accuracy", reference=s.loc[SCRATCH_ROW],
                              title=f"Sweeps ({data_name(R.params)}); dashed: the baseline "
                              "trained from scratch")


def curves_figure(R: Results, metric: str = "test_acc") -> plt.Figure:
    """Test accuracy (or loss) against epoch, mean and 95% band over seeds, one panel per
    sweep (the paper's figures 6-11)."""
    s = _summary(R.curves, ["row", "epoch"], metric)
    panels = {f"{title} sweep": [(label(row), s[s["row"] == row]) for row in rows]
              for title, rows in SWEEPS.items()}
    return plots.curve_panels(panels, {"test_acc": "test accuracy",
                                       "test_loss": "test cross-entropy"}[metric])


# ------------------------------------------------------------------------------ texts
def fidelity_text(R: Results) -> str:
    """Does the most accurate teacher (on the validation images) also give the most faithful
    student? Computed from the run."""
    rank = R.teacher_rank()
    first = min(rank, key=rank.get)
    t = R.teachers.set_index("teacher")
    fidelity = {name: R.by_seed(row, f"agree_{name}")
                for name, row in zip(TEACHERS, TEACHER_ROWS, strict=True)}
    faithful = max(fidelity, key=lambda n: fidelity[n].mean())
    student = {name: R.by_seed(row, "test_acc")
               for name, row in zip(TEACHERS, TEACHER_ROWS, strict=True)}
    best_student = max(student, key=lambda n: student[n].mean())
    parts = [f"The teacher ranked first on the validation images is **{first}** (validation "
             f"{t.loc[first, 'val_acc']:.3f}, test {t.loc[first, 'test_acc']:.3f}); the "
             f"student that agrees most with its own teacher on average is **{faithful}**'s "
             f"({_acc_text(fidelity[faithful])} top-1 agreement), and the student most "
             f"accurate on average is **{best_student}**'s ({_acc_text(student[best_student])})"
             "; the claims table says which of these orderings the seeds resolve."]
    parts.append("Agreement with the own teacher, by teacher: " + "; ".join(
        f"{n}: {_acc_text(fidelity[n])}" for n in TEACHERS) + ".")
    return " ".join(parts)


_VERB = {"holds": "holds", "contradicted": "is contradicted",
         "inconclusive": "is inconclusive (the runs do not decide)",
         "inconclusive (one run)": "is inconclusive (one run)",
         "not testable here": "cannot be tested in this run",
         "not comparable at this scale": "is not comparable at this scale"}


def discussion(R: Results, tables: dict[str, pd.DataFrame]) -> str:
    """A few paragraphs written from this run's numbers and verdicts."""
    C = tables["primary"]
    v = C.set_index("claim")["verdict"]

    def verb(claim: str) -> str:
        return _VERB[v[claim]]

    def acc(row: int) -> str:
        return _acc_text(R.by_seed(row, "test_acc"))

    base = R.by_seed(SCRATCH_ROW, "test_acc")
    distilled = [r for r in TABLE2.index if r != SCRATCH_ROW]
    beat = sum(R.by_seed(r, "test_acc").mean() > base.mean() for r in distilled)
    own = R.teachers.set_index("teacher")
    classes = (10 if R.params["dataset"] == "cifar10" else
               100 if R.params["labels"] == "fine" else 20)
    weak = [n for n, a in own["test_acc"].items() if a < 1.5 / classes]
    weak_text = (" " + ", ".join(weak) + (" is" if len(weak) == 1 else " are") +
                 f" below 1.5 times chance (1/{classes}) on the test images at this scale."
                 if weak else "")
    size_rows = [c.id for s in SOURCES for c in claims.load(s)
                 if c.metric in ("params_m", "madds_m") and c.check == "approx"]
    sizes_hold = sum(v[c] == "holds" for c in size_rows)
    paras = [
        f"**Distillation against the baseline.** The baseline trained on the labels reaches "
        f"{acc(SCRATCH_ROW)}; {beat} of Table 2's 8 distilled configurations are above it on "
        f"average over seeds. 'All distilled models beat the baseline', each row "
        f"significantly above it, {verb('distilled-beat-scratch')}.",
        f"**Teachers.** With T = 5, the students of ResNet-44, VGG11-BN and MobileNetV2 reach "
        f"{acc(2)}, {acc(3)} and {acc(4)}; the teachers themselves "
        + ", ".join(f"{own.loc[n, 'test_acc']:.3f}" for n in TEACHERS)
        + f" on the test images.{weak_text} MobileNetV2's student above VGG's "
        f"{verb('teacher-choice-matters')}; the architecturally closest teacher's student "
        f"being the best {verb('closest-teacher-best')}; the first-ranked teacher's (on "
        f"validation) being the best {verb('most-accurate-teacher-best')}; the largest "
        f"capacity gap (VGG) giving the worst student {verb('capacity-gap-worst')}; and the "
        f"closest teacher's student being the most faithful "
        f"{verb('closest-teacher-most-faithful')}. " + fidelity_text(R),
        f"**Temperature, learning rate, mixup.** T = 2, 5, 10 give {acc(5)}, {acc(4)}, "
        f"{acc(6)}: T = 10 best {verb('temperature-10-best')}, and its lowest test loss "
        f"{verb('temperature-10-lowest-loss')}. Learning rate 0.01 against 0.001 gives "
        f"{acc(FIGURE9_ROW)} against {acc(5)} at T = 2 (Figure 9's pair: 'ends higher' "
        f"{verb('lr-0.01-ends-higher-t2')}, 'noisier' {verb('lr-0.01-noisier-t2')}) and "
        f"{acc(7)} against {acc(6)} at T = 10 (Table 2's pair: 'ends higher' "
        f"{verb('lr-0.01-ends-higher-t10')}, 'noisier' {verb('lr-0.01-noisier-t10')}). "
        f"Without mixup the student reaches {acc(9)}, with it {acc(6)}: 'better without "
        f"mixup' {verb('no-mixup-better')}. Accuracy still rising in the second half of "
        f"training {verb('longer-training-helps')}.",
        f"**The networks.** {sizes_hold} of Table 1's {len(size_rows)} parameter and "
        "multiply-add counts hold at its printed precision; the student having the fewest "
        f"multiply-adds {verb('student-lowest-madds')}, and the fewest parameters "
        f"{verb('student-fewest-parameters')} (Table 1 itself gives ResNet-44 fewer).",
    ]
    card = claims.scorecard(C).sum()
    counted = ", ".join(f"{int(card[k])} {k}" for k in claims.VERDICTS if card[k])
    left = C[C["verdict"].isin([claims.NOT_COMPARABLE, claims.NOT_TESTABLE])]
    text = (f"**Verdicts.** Counted as independent tests (claims that share one measurement "
            f"count once), the paper's {len(C)} claims make {int(card.sum())}: {counted}. "
            f"This run leaves {len(left)} claims to other data or a run at the paper's scale "
            "(Table 2's accuracies among them), or cannot test them at all (pretrained "
            "weights, mechanisms offered without a measurement).")
    if "robust" in C:
        judged_here = C[~C["verdict"].isin([claims.NOT_COMPARABLE, claims.NOT_TESTABLE])]
        text += (f" Of the {len(judged_here)} claims this run judges, "
                 f"{int(judged_here['robust'].sum())} get the same verdict under every "
                 "reading (the reading columns of the claims table).")
    paras.append(text)
    return "\n\n".join(paras)


CHAPTER = Chapter("teachers", TeachersParams, run=run, judged=judged, evidence_for=evidence_for,
                  sources=SOURCES, example="papermill notebooks/teachers.ipynb out.ipynb -p "
                  "profile quick -p dataset cifar100 -p data_dir DIR", plan=plan)
