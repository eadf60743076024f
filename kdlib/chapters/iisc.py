"""What the IISc chapter (seed 002) says: its evidence for the claims, scale note, tables,
figures and discussion, written from results. Kept apart from :mod:`kdlib.experiments.iisc` so
that rewording the chapter, or how its results answer claims, does not change the cache key of
its results. Part 2 (CIFAR-10) adds its rows to the same evidence
(:mod:`kdlib.chapters.iisc_cifar`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from kdlib import claims, metrics, plots
from kdlib.chapters import Chapter
from kdlib.chapters import iisc_cifar as part2
from kdlib.evidence import Evidence, Registry
from kdlib.experiments.iisc import (
    BASELINE_ROW,
    PAPER_TEACHER,
    TABLE1,
    IiscParams,
    Results,
    comparison_params,
    run,
)
from kdlib.experiments.iisc import plan as iisc_plan
from kdlib.metrics import UNBOUNDED, ci_text, mean_ci, summarize
from kdlib.results import Cache
from kdlib.units import Unit

__all__ = ["CHAPTER", "INFERENCE_READING", "READINGS", "REGISTRY", "SOURCE", "accuracy_figure",
           "claims_tables", "compare_frameworks", "comparison_note", "cost_table",
           "discussion", "evidence", "evidence_for", "judged", "lemma1_figure", "lemma1_text",
           "lemma2_figure", "lemma2_text", "mnist_meaning", "overlap_figure", "plan",
           "ratio_figure", "reading_params", "readings_note", "run_name", "scale_note", "table1",
           "teacher_table", "timing_text"]

SOURCE = "002"
SOURCE_N_TRAIN = 60000  # the paper's MNIST students train on all of MNIST's training images
BASELINES = {1: BASELINE_ROW, 2: part2.BASELINE_ROW}  # the row each table's times are over
PAPER_ROWS = {1: tuple(int(r) for r in TABLE1.index), 2: part2.PAPER_ROWS}
KD_PAIRS = {"full": (part2.IDEAL_ROW, 7), "reduced": (8, 9)}  # (with, without the KD loss)
COORDINATES = ("table", "row", "hidden", "net", "network", "train_set", "n", "N", "teacher",
               "deterministic", "sd")  # the evidence's coordinate columns

# Plausible readings of what the paper leaves open, run beside the main one at the same scale;
# the claims table gives the verdict under each. The first costs nothing: the timing unit
# measures both ways. The second retrains part 2's students (teacher, timing, part 1 and the
# lemmas come from the cache).
INFERENCE_READING = "inference: batched"
READINGS: dict[str, dict[str, Any]] = {
    # "time taken by the student to classify a given data point": one image per call (main),
    # or the time per image when images come in batches
    INFERENCE_READING: {},
    # "a combination of two losses: cls_loss and div_loss", weights unstated: equal (main), or
    # a considerably lower weight on the hard labels, as Hinton et al. advise
    "CIFAR KD: alpha 0.1": {"cifar_alpha": 0.1},
}

# ------------------------------------------------------------------ evidence for the claims
REGISTRY = Registry()
REGISTRY.measured("teacher_acc", "the teacher's test accuracy", bounds=(0.0, 1.0), digits=4)
REGISTRY.measured("test_acc", "test accuracy", bounds=(0.0, 1.0))
REGISTRY.measured("agreement", "top-1 agreement with the teacher", bounds=(0.0, 1.0))
REGISTRY.measured("kl_to_teacher", "KL(teacher || student), nats", bounds=(0.0, math.inf))
REGISTRY.measured("train_seconds", "a row's training time, s (Table 1: runs are timing "
                  "rounds; Table 2: seeds)", bounds=(0.0, math.inf), runs="timing rounds")
REGISTRY.measured("inference_ratio", "teacher time / student time per image",
                  bounds=(0.0, math.inf), runs="timing rounds")
for _name, _words in (("var_empirical", "variance over samples S of the empirical risk"),
                      ("var_bayes", "variance over samples S of the Bayes-distilled risk"),
                      ("mean_empirical", "mean over samples S of the empirical risk"),
                      ("mean_bayes", "mean over samples S of the Bayes-distilled risk"),
                      ("risk", "R(f), Monte Carlo"),
                      ("predicted_var_empirical", "Var_(x,y)[l_y] / N, Monte Carlo"),
                      ("predicted_var_bayes", "Var_x[p*ᵀl] / N, Monte Carlo"),
                      ("mse", "simulated E[Δ²]"),
                      ("mean_delta", "simulated E[Δ]"),
                      ("bound", "Lemma 2's bound, constant explicit"),
                      ("variance_term", "Lemma 2's 1/N variance term"),
                      ("predicted_mse", "variance term + teacher-quality term"),
                      ("var_ratio", "Var(Bayes-distilled) / Var(empirical), overlap sweep")):
    REGISTRY.measured(_name, _words,
                      bounds=UNBOUNDED if _name == "mean_delta" else (0.0, math.inf))


def _rows(t: pd.DataFrame, metric: str) -> pd.DataFrame:
    return t[t["metric"] == metric]


def _keep(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``keys`` and the source_scale flag of ``rows`` (where the table has it)."""
    return rows[[k for k in [*keys, "source_scale"] if k in rows.columns]].copy()


def _combine(t: pd.DataFrame, a: str, b: str, fn: Callable[[pd.Series, pd.Series], pd.Series],
             keys: list[str]) -> pd.DataFrame | None:
    """``fn(a, b)`` row by row, matched on ``keys`` (run and coordinates)."""
    left, right = _rows(t, a), _rows(t, b)
    if left.empty or right.empty or any(k not in t.columns for k in keys):
        return None
    cols = [c for c in left.columns if c not in ("metric", "value") and left[c].notna().any()]
    m = left[cols + ["value"]].merge(right[keys + ["value"]], on=keys, suffixes=("", "_b"))
    return m.assign(value=fn(m["value"], m["value_b"])).drop(columns="value_b")


def _per_table(t: pd.DataFrame, metric: str) -> dict[int, pd.DataFrame]:
    rows = _rows(t, metric)
    if rows.empty or "table" not in rows.columns:
        return {}
    return {int(k): g for k, g in rows.groupby("table")}


def _complete(part: pd.DataFrame, by: str, fn: str, among: tuple[int, ...] | None = None,
              table: int = 0) -> pd.DataFrame:
    """``fn`` (min, mean) of ``value`` over ``by`` per run, for runs that have every value of
    ``by`` the table has (a run missing one is left out)."""
    if among is not None:
        part = part[part[by].isin(among)]
    full = part[by].nunique()
    g = part.groupby("run")
    out = pd.DataFrame({"value": getattr(g["value"], fn)(), "count": g[by].nunique()})
    if "source_scale" in part.columns:
        out["source_scale"] = g["source_scale"].agg(lambda v: bool(pd.Series(v).all()))
    out = out[out["count"] == full].drop(columns="count").reset_index()
    return out.assign(table=table)


@REGISTRY.derived("time_vs_baseline", "training time over the baseline row's (Table 1: row "
                  "7, Table 2: row 1)", bounds=(0.0, math.inf), runs="timing rounds")
def _time_vs_baseline(t: pd.DataFrame) -> pd.DataFrame | None:
    parts = []
    for table, part in _per_table(t, "train_seconds").items():
        base = part[part["row"] == BASELINES[table]].set_index("run")["value"]
        if base.empty:
            continue
        out = _keep(part, ["table", "row", "run"])
        out["value"] = part["value"].to_numpy() / base.reindex(part["run"]).to_numpy()
        parts.append(out.dropna(subset=["value"]))
    return pd.concat(parts, ignore_index=True) if parts else None


@REGISTRY.derived("acc_minus_teacher", "a row's accuracy minus its own teacher's",
                  bounds=(-1.0, 1.0), digits=4)
def _acc_minus_teacher(t: pd.DataFrame) -> pd.DataFrame | None:
    return _combine(t, "test_acc", "teacher_acc", lambda a, b: a - b, ["table", "run"])


@REGISTRY.derived("min_student_acc", "the least accurate row's accuracy", bounds=(0.0, 1.0),
                  digits=4)
def _min_student_acc(t: pd.DataFrame) -> pd.DataFrame | None:
    parts = [_complete(part, "row", "min", table=k) for k, part in
             _per_table(t, "test_acc").items()]
    return pd.concat(parts, ignore_index=True) if parts else None


@REGISTRY.derived("mean_acc", "accuracy averaged over the paper's rows of a table",
                  bounds=(0.0, 1.0))
def _mean_acc(t: pd.DataFrame) -> pd.DataFrame | None:
    parts = [_complete(part, "row", "mean", PAPER_ROWS[k], table=k) for k, part in
             _per_table(t, "test_acc").items()]
    return pd.concat(parts, ignore_index=True) if parts else None


@REGISTRY.derived("kd_gain", "the ideal student's accuracy with minus without the KD loss",
                  bounds=(-1.0, 1.0))
def _kd_gain(t: pd.DataFrame) -> pd.DataFrame | None:
    part = _per_table(t, "test_acc").get(2)
    if part is None:
        return None
    parts = []
    for train_set, (kd, none) in KD_PAIRS.items():
        a = part[part["row"] == kd].set_index("run")
        b = part[part["row"] == none].set_index("run")["value"]
        if a.empty or b.empty:
            continue
        out = _keep(a.reset_index(), ["run"]).assign(table=2, train_set=train_set)
        out["value"] = (a["value"] - b.reindex(a.index)).to_numpy()
        if "source_scale" in a.columns:
            both = part[part["row"].isin([kd, none])].groupby("run")["source_scale"].all()
            out["source_scale"] = both.reindex(a.index).to_numpy()
        parts.append(out.dropna(subset=["value"]))
    return pd.concat(parts, ignore_index=True) if parts else None


def _extreme_ratio(t: pd.DataFrame, fn: str) -> pd.DataFrame | None:
    parts = [_complete(part, "hidden" if k == 1 else "net", fn, table=k)
             for k, part in _per_table(t, "inference_ratio").items()]
    return pd.concat(parts, ignore_index=True) if parts else None


@REGISTRY.derived("min_inference_ratio", "the slowest student's inference-time ratio",
                  bounds=(0.0, math.inf), runs="timing rounds")
def _min_inference_ratio(t: pd.DataFrame) -> pd.DataFrame | None:
    return _extreme_ratio(t, "min")


@REGISTRY.derived("max_inference_ratio", "the fastest student's inference-time ratio",
                  bounds=(0.0, math.inf), runs="timing rounds")
def _max_inference_ratio(t: pd.DataFrame) -> pd.DataFrame | None:
    return _extreme_ratio(t, "max")


def _lemma(name: str, words: str, a: str, b: str, fn: Callable[[pd.Series, pd.Series],
           pd.Series], keys: list[str], **kw: Any) -> None:
    REGISTRY.derived(name, words, **kw)(lambda t: _combine(t, a, b, fn, keys))


_L1, _L2 = ["run", "N"], ["run", "teacher", "N"]
_lemma("var_gap", "Var(empirical) - Var(Bayes-distilled) over samples S", "var_empirical",
       "var_bayes", lambda a, b: a - b, _L1)
_lemma("risk_gap", "mean empirical minus mean Bayes-distilled risk", "mean_empirical",
       "mean_bayes", lambda a, b: a - b, _L1)
_lemma("rel_bias_bayes", "(mean Bayes-distilled risk - R(f)) / R(f)", "mean_bayes", "risk",
       lambda a, b: (a - b) / b, _L1)
_lemma("rel_bias_empirical", "(mean empirical risk - R(f)) / R(f)", "mean_empirical", "risk",
       lambda a, b: (a - b) / b, _L1)
_lemma("var_bayes_over_predicted", "Var over samples S of the Bayes-distilled risk over "
       "Var_x[p*ᵀl] / N", "var_bayes", "predicted_var_bayes", lambda a, b: a / b, _L1,
       bounds=(0.0, math.inf))
_lemma("var_empirical_over_predicted", "Var over samples S of the empirical risk over "
       "Var_(x,y)[l_y] / N", "var_empirical", "predicted_var_empirical", lambda a, b: a / b, _L1,
       bounds=(0.0, math.inf))
_lemma("mse_minus_bound", "simulated E[Δ²] minus Lemma 2's bound", "mse", "bound",
       lambda a, b: a - b, _L2)
_lemma("mse_minus_variance_term", "simulated E[Δ²] minus its 1/N term", "mse",
       "variance_term", lambda a, b: a - b, _L2)
_lemma("mse_over_predicted", "simulated E[Δ²] over the predicted", "mse", "predicted_mse",
       lambda a, b: a / b, _L2, bounds=(0.0, math.inf))


@REGISTRY.derived("var_delta_over_predicted", "Var(Δ) over samples S (E[Δ²] - E[Δ]²) over "
                  "the 1/N term", bounds=(0.0, math.inf))
def _var_delta(t: pd.DataFrame) -> pd.DataFrame | None:
    var = _combine(t, "mse", "mean_delta", lambda a, b: a - b**2, _L2)
    if var is None:
        return None
    return _combine(pd.concat([t, var.assign(metric="_var_delta")]), "_var_delta",
                    "variance_term", lambda a, b: a / b, _L2)


def run_name(r: Results) -> str:
    """Which run, in a few words (the claims tables' "judged on")."""
    return f"this build's {r.params['profile']} run"


def _part1_scale(p: IiscParams) -> bool:
    """Whether part 1 trains at the paper's scale: all 60,000 training images, a teacher of
    1 epoch (each row's student has the paper's size, epochs and batch at every profile)."""
    return p["n_train"] == SOURCE_N_TRAIN and p["teacher_epochs"] == 1


def _part1_rows(r: Results, kind: str) -> list[dict[str, Any]]:
    """Part 1 as evidence rows (``table`` 1): teachers and rows per seed, training times per
    timing round, inference ratios per timing round (``kind``), and the lemma simulations."""
    p = r.params
    scale = _part1_scale(p)
    rows: list[dict[str, Any]] = []
    for rec in r.teachers.to_dict("records"):
        rows.append({"metric": "teacher_acc", "table": 1, "run": int(rec["seed"]),
                     "value": float(rec["test_acc"]), "source_scale": scale})
    for rec in r.students.to_dict("records"):
        for m in ("test_acc", "agreement", "kl_to_teacher"):
            rows.append({"metric": m, "table": 1, "row": int(rec["row"]),
                         "run": int(rec["seed"]), "value": float(rec[m]),
                         "source_scale": scale})
    if not r.training.empty:
        for rnd, times in r.training_seconds().iterrows():
            rows += [{"metric": "train_seconds", "table": 1, "row": int(row), "run": int(rnd),
                      "value": float(v), "source_scale": scale} for row, v in times.items()]
    if not r.latency.empty:  # the paper's own networks at every profile
        for rnd, ratios in r.ratios(kind).iterrows():
            rows += [{"metric": "inference_ratio", "table": 1, "hidden": int(m.split()[1]),
                      "run": int(rnd), "value": float(v), "source_scale": True}
                     for m, v in ratios.items()]
    rows += _lemma_rows(r)
    return rows


def _lemma_rows(r: Results) -> list[dict[str, Any]]:
    """The lemma simulations: per seed and N (``n``: smallest or largest of this run's)."""
    if r.lemma1.empty:
        return []
    ns = r.params["lemma_ns"]
    end = {ns[0]: "smallest", ns[-1]: "largest"}
    rows = []
    for rec in r.lemma1.to_dict("records"):
        for m in ("var_empirical", "var_bayes", "mean_empirical", "mean_bayes", "risk",
                  "predicted_var_empirical", "predicted_var_bayes"):
            rows.append({"metric": m, "n": end.get(int(rec["n"])), "N": int(rec["n"]),
                         "run": int(rec["seed"]), "value": float(rec[m])})
    for rec in r.lemma2.to_dict("records"):
        for m in ("mse", "mean_delta", "bound", "variance_term", "predicted_mse"):
            rows.append({"metric": m, "teacher": rec["teacher"], "n": end.get(int(rec["n"])),
                         "N": int(rec["n"]), "run": int(rec["seed"]), "value": float(rec[m])})
    for rec in r.overlap.to_dict("records"):
        rows.append({"metric": "var_ratio", "deterministic": bool(rec["deterministic"]),
                     "sd": float(rec["sd"]), "run": int(rec["seed"]),
                     "value": float(rec["ratio"])})
    return rows


def evidence(r: Results, name: str | None = None, kind: str = "latency") -> Evidence:
    """The run's results as the claims' evidence: one row per (metric, coordinates, run).
    ``kind`` is how inference is timed: ``latency`` (one image per call, the main reading) or
    ``throughput`` (images in batches)."""
    rows = _part1_rows(r, kind)
    if r.cifar is not None:
        rows += part2.evidence_rows(r.cifar, kind)
    table = pd.DataFrame(rows)
    for c in COORDINATES:  # every coordinate a claim names, even with no rows (part 2 off)
        if c not in table.columns:
            table[c] = None
    return Evidence.build(table, REGISTRY, name or run_name(r), details=("N", "network"),
                          labels={"n": "N", "N": "N =", "net": "network of row",
                                  "hidden": "hidden units", "train_set": "training set"})


def reading_params(p: IiscParams, reading: str) -> IiscParams:
    """The main run's parameters under another reading of the paper."""
    return p.replace(**READINGS[reading])


def readings_note(p: IiscParams) -> str:
    """What each reading changes, in words, and what it costs."""
    words = {
        INFERENCE_READING: "an inference time is the time per image when images come in "
        f"batches (of {p['throughput_batch']:,} for MNIST, {p['cifar_throughput_batch']} for "
        "CIFAR-10), instead of one image per call; the same timing rounds measure both, so it "
        "costs nothing",
        "CIFAR KD: alpha 0.1": "part 2's loss weights the cross-entropy 0.1 and the KL to the "
        "teacher 0.9 (Hinton et al.'s advice of a considerably lower weight on the hard "
        "labels), instead of equal weights; it retrains part 2's students (every seed, both "
        "training sets) from the same teacher, as long again as the main run's students",
    }
    lines = ["```{admonition} Readings of the paper", ":class: note",
             "Where the paper leaves a choice open that changes the run, the chapter also runs "
             "each plausible reading at this run's scale and gives its verdict beside the main "
             "one:"]
    lines += [f"- **{name}**: {words[name]}." for name in READINGS
              if name == INFERENCE_READING or p["cifar"]]
    lines += ["", "A verdict that is the same under every reading is *robust*.", "```"]
    return "\n".join(lines)


def claims_tables(p: IiscParams, r: Results,
                  cache: Cache | None = None) -> dict[str, pd.DataFrame]:
    """The chapter's claims tables: ``"default"``, this build's run judged with a verdict per
    reading, and ``"primary"``, the verdicts the chapter and the scorecard count (the same
    table: no committed run at the paper's scale exists for this chapter, so its absolute
    claims are *not comparable at this scale* below the paper profile)."""
    found = claims.load(SOURCE)
    readings: dict[str, Evidence] = {}
    if p["profile"] != "paper":
        if not r.latency.empty:
            readings[INFERENCE_READING] = evidence(r, f"reading '{INFERENCE_READING}'",
                                                   kind="throughput")
        if p["cifar"]:
            for name, change in READINGS.items():
                if change:
                    readings[name] = evidence(run(reading_params(p, name), cache),
                                              f"reading '{name}'")
    table = claims.evaluate(found, evidence(r), readings=readings)
    return {"default": table, "primary": table}


def evidence_for(p: IiscParams, cache: Cache | None = None) -> list[Evidence]:
    """The evidence the chapter judges by: this build's run (no committed run at the paper's
    scale exists for this chapter)."""
    return [evidence(run(p, cache))]


def judged(p: IiscParams, cache: Cache | None = None) -> pd.DataFrame:
    """The verdicts the scorecard counts for this chapter (see :func:`claims_tables`)."""
    return claims_tables(p, run(p, cache), cache)["primary"]


def scale_note(p: IiscParams) -> str:
    """A MyST admonition: this run's scale and the choices the paper leaves open."""
    full = p["n_train"] == 60000 and p["rows"] == list(range(1, 10))
    scale = ("the paper's full scale: all 60,000 training images, all nine rows of Table 1"
             if full else f"smaller than the paper's: {p['n_train']:,} of the 60,000 training "
             f"images, rows {', '.join(map(str, p['rows']))} of Table 1")
    return "\n".join([
        "```{admonition} Scale of this run",
        ":class: " + ("note" if full else "warning"),
        f"Profile **{p['profile']}**, framework {p['framework']}: {scale}, each row over "
        f"{p['seeds']} seed(s) (each seed trains its own teacher, {p['teacher_epochs']} "
        "epoch(s) at batch 32), evaluated on the 10,000 official test images; the paper "
        f"reports one run. Inference times: medians over {p['rounds']} interleaved rounds. "
        f"Lemma simulations: {p['lemma_samples']:,} samples per N and seed, "
        f"{p['lemma_seeds']} seeds, N from {p['lemma_ns'][0]:,} to {p['lemma_ns'][-1]:,}.",
        "",
        "The paper leaves open, and we chose (all parameters): the students learn from the "
        f"teacher's softened outputs alone (alpha = {p['alpha']:g}; see above); Adam at "
        f"Keras's defaults (learning rate {p['learning_rate']:g}); ReLU; dropout "
        f"{p['dropout']:g}; Glorot-uniform initial weights.",
        "```",
    ])


def teacher_table(r: Results) -> pd.DataFrame:
    """The teacher: the paper's accuracy beside ours, and its training time here."""
    t = r.teachers
    return pd.DataFrame({
        "": ["test accuracy", "training time, 1 epoch (s)", "its logits on train + test (s)"],
        "paper": [f"{PAPER_TEACHER['accuracy']:.4f}", "—", "—"],
        "ours (95% CI)": [ci_text(t["test_acc"].to_numpy(), 4),
                          ci_text(t["train_seconds"].to_numpy(), 1),
                          ci_text(t["logit_seconds"].to_numpy(), 1)]}).set_index("")


def table1(r: Results) -> pd.DataFrame:
    """Table 1 side by side: the paper's row and ours (mean and 95% CI over seeds)."""
    latency, batched = r.ratios("latency"), r.ratios("throughput")
    train = r.training_seconds()
    out = []
    for row, part in r.students.groupby("row"):
        paper = TABLE1.loc[row]
        col = f"student {int(paper['hidden'])}"
        out.append({
            "row": row, "units": int(paper["hidden"]), "T": paper["temperature"],
            "epochs": int(paper["epochs"]), "batch": int(paper["batch_size"]),
            "accuracy: paper": f"{paper['accuracy']:.4f}",
            "accuracy: ours": ci_text(part["test_acc"].to_numpy(), 4),
            "training s: paper": f"{paper['train_seconds']:.1f}",
            "training s: ours": (ci_text(train[row].to_numpy(), 1) if row in train else "—"),
            "ratio: paper": f"{paper['inference_ratio']:.1f}",
            "ratio: ours, batch 1": (ci_text(latency[col].to_numpy(), 1)
                                     if col in latency else "—"),
            "ratio: ours, batched": (ci_text(batched[col].to_numpy(), 1)
                                     if col in batched else "—")})
    return pd.DataFrame(out).set_index("row")


def accuracy_figure(r: Results):
    """Each row's accuracy: the paper's and ours with 95% CIs."""
    ours = summarize(r.students, ["row"], "test_acc").assign(source="ours")
    paper = pd.DataFrame({"row": TABLE1.index, "mean": TABLE1["accuracy"], "ci_low": np.nan,
                          "ci_high": np.nan, "source": "paper"})
    paper = paper[paper["row"].isin(ours["row"])]
    teacher = mean_ci(r.teachers["test_acc"].to_numpy())
    fig = plots.bars(pd.concat([paper, ours], ignore_index=True), "row", "source",
                     "test accuracy", ylim=(min(0.93, float(ours["ci_low"].min()) - 0.005),
                                            1.0))
    ax = fig.axes[0]
    ax.axhline(teacher[0], color="0.3", linestyle="--", linewidth=1, label="our teacher")
    ax.legend(frameon=False, ncols=3)
    return fig


def cost_table(r: Results) -> pd.DataFrame:
    """Per model: parameters, weights, FLOPs, per-sample latency (batch 1) and time in batches,
    and each ratio teacher / model."""
    cost = r.cost.set_index("model")
    t = cost.loc["teacher"]
    out = []
    for kind, table in (("batch 1", r.latency), ("batched", r.throughput)):
        wide = table.pivot(index="round", columns="model", values="seconds")
        for model in cost.index:
            if kind == "batch 1":
                row = {"model": model, "parameters": f"{cost.loc[model, 'parameters']:,}",
                       "weights (MB)": f"{cost.loc[model, 'weight_bytes'] / 1e6:.2f}",
                       "FLOPs / sample": f"{cost.loc[model, 'flops']:,}",
                       "FLOPs ratio": f"{t['flops'] / cost.loc[model, 'flops']:.1f}"}
                out.append(row)
            row = out[list(cost.index).index(model)]
            us = wide[model].to_numpy() * 1e6
            row[f"µs / sample, {kind}"] = ci_text(us, 2)
            row[f"ratio, {kind}"] = ci_text((wide["teacher"] / wide[model]).to_numpy(), 1)
    return pd.DataFrame(out).set_index("model")


def ratio_figure(r: Results):
    """Teacher / student inference-time ratios: the paper's, the FLOPs ratio, and ours at
    batch 1 and in batches (log scale)."""
    cost = r.cost.set_index("model")
    parts = []
    for kind, name in (("latency", "ours, batch 1"), ("throughput", "ours, batched")):
        long = r.ratios(kind).melt(var_name="model", value_name="ratio")
        parts.append(summarize(long, ["model"], "ratio").assign(measure=name))
    students = [m for m in cost.index if m != "teacher"]
    flops = pd.DataFrame({"model": students, "mean": [cost.loc["teacher", "flops"]
                                                      / cost.loc[m, "flops"] for m in students],
                          "ci_low": np.nan, "ci_high": np.nan, "measure": "FLOPs"})
    paper = TABLE1.assign(model="student " + TABLE1["hidden"].astype(str))
    paper = paper[paper["model"].isin(students)].groupby("model", sort=False)[
        "inference_ratio"].median()
    paper = pd.DataFrame({"model": paper.index, "mean": paper.to_numpy(), "ci_low": np.nan,
                          "ci_high": np.nan, "measure": "paper (median of its rows)"})
    table = pd.concat([paper, flops, *parts], ignore_index=True)
    table["model"] = pd.Categorical(table["model"], students, ordered=True)
    fig = plots.bars(table.sort_values("model"), "model", "measure",
                     "teacher time / student time")
    fig.axes[0].set_yscale("log")
    return fig


def _median_ratio(r: Results, kind: str, hidden: int) -> float:
    return float(r.ratios(kind)[f"student {hidden}"].median())


def timing_text(r: Results) -> str:
    """Which ratio a deployment sees, from the measured numbers."""
    cost = r.cost.set_index("model")
    sizes = [int(m.split()[1]) for m in cost.index if m != "teacher"]
    small, large = min(sizes), max(sizes)
    flops = {h: _flops_ratio(r, h) for h in sizes}
    lat = {h: _median_ratio(r, "latency", h) for h in sizes}
    thr = {h: _median_ratio(r, "throughput", h) for h in sizes}
    teacher_us = r.latency[r.latency["model"] == "teacher"]["seconds"].median() * 1e6
    small_us = r.latency[r.latency["model"] == f"student {small}"]["seconds"].median() * 1e6
    paper = TABLE1.groupby("hidden")["inference_ratio"]
    same = TABLE1[TABLE1["hidden"] == TABLE1["hidden"].mode()[0]]["inference_ratio"]
    above = [h for h in sizes if paper.median()[h] > flops[h]]
    below_flops = all(thr[h] <= flops[h] * 1.1 for h in sizes)
    compressed = lat[small] < thr[small]
    text = (
        f"On this machine ({r.machine['cpu']}, {r.machine['threads']} torch threads, torch "
        f"{r.machine['torch']}), one image through the teacher takes {teacher_us:.0f} µs and "
        f"through the {small}-unit student {small_us:.0f} µs (medians). The student does "
        f"{flops[small]:.0f}x fewer FLOPs and is {lat[small]:.1f}x faster at batch 1 and "
        f"{thr[small]:.1f}x faster in batches of {r.params['throughput_batch']:,}; for the "
        f"{large}-unit student ({flops[large]:.0f}x fewer FLOPs) the two ratios are "
        f"{lat[large]:.1f}x and {thr[large]:.1f}x.")
    if compressed:
        text += (
            " At batch 1 much of a small network's time is the fixed cost of a call (Python, "
            "the framework's dispatch, a few small kernels), which the teacher pays too, so "
            "the ratio is compressed towards 1; in batches that cost is shared.")
    text += (
        "\n\n**Which ratio a deployment sees.** A service that answers one request at a time "
        "sees the batch-1 ratio; offline scoring, or a server that batches requests, sees the "
        "batched one. "
        + ("Here neither exceeds the FLOPs ratio by more than 10%: a student saves at most "
           "what its arithmetic saves." if below_flops and all(
               lat[h] <= flops[h] * 1.1 for h in sizes) else
           "Here some ratio exceeds the FLOPs ratio: memory traffic matters too (the teacher "
           f"holds {cost.loc['teacher', 'weight_bytes'] / 1e6:.1f} MB of weights)."))
    if above:
        text += (
            "\n\n**The paper's ratios.** Per-call overhead pulls ratios *down* towards 1, so it "
            f"cannot explain the paper's ratios above the FLOPs ratio (units "
            f"{', '.join(map(str, above))}: e.g. {paper.median()[above[0]]:.0f}x against "
            f"{flops[above[0]]:.0f}x). Nor can anything about the networks explain why its "
            f"{len(same)} rows with the same {TABLE1['hidden'].mode()[0]}-unit network (the "
            f"same inference cost) range from {same.min():.1f}x to {same.max():.1f}x. Ratios "
            "above the FLOPs ratio need the teacher's time to include something the students' "
            "does not (a first call with its one-off set-up, a different batch size, a busy "
            "machine while the teacher was timed); the paper does not say how it timed.")
    return text


def lemma1_figure(r: Results):
    """Variance over samples S of the two risk estimates against N (log-log), with the
    predicted Var/N lines dashed."""
    # "N", not "n": summarize() adds a column "n" (the number of seeds)
    long = r.lemma1.rename(columns={"n": "N"}).melt(
        id_vars=["seed", "N"], value_vars=["var_empirical", "var_bayes"], var_name="estimate",
        value_name="variance")
    long["estimate"] = long["estimate"].map({"var_empirical": "empirical risk (one-hot)",
                                             "var_bayes": "Bayes-distilled risk (p*)"})
    fig = plots.metric_vs(summarize(long, ["estimate", "N"], "variance"), "N", "estimate",
                          "variance of the estimate over samples S", legend="{key}")
    ax = fig.axes[0]
    pred = r.lemma1.groupby("n")[["predicted_var_empirical", "predicted_var_bayes"]].mean()
    for col in pred:
        ax.plot(pred.index, pred[col], color="0.4", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sample size N")
    return fig


def overlap_figure(r: Results):
    """Var(Bayes-distilled) / Var(empirical) against the classes' overlap (sd)."""
    o = r.overlap.assign(labels=np.where(r.overlap["deterministic"], "labels a function of x",
                                         "labels drawn from p*(y|x)"))
    fig = plots.metric_vs(summarize(o, ["labels", "sd"], "ratio"), "sd", "labels",
                          "Var(Bayes-distilled) / Var(empirical)", legend="{key}")
    ax = fig.axes[0]
    ax.axhline(1.0, color="0.4", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    sds = sorted(o["sd"].unique())
    ax.set_xticks(sds, [f"{v:g}" for v in sds])
    ax.minorticks_off()
    ax.set_xlabel("standard deviation of each class (overlap)")
    return fig


def lemma2_figure(r: Results):
    """Simulated E[Delta^2] per teacher against N, with the bound dashed (log-log)."""
    sims = r.lemma2.rename(columns={"n": "N"})  # summarize() adds its own "n"
    fig = plots.metric_vs(summarize(sims, ["teacher", "N"], "mse"), "N", "teacher",
                          "E[Δ²] (simulated)", legend="{key}")
    ax = fig.axes[0]
    bound = r.lemma2.groupby(["teacher", "n"])["bound"].mean()
    for (_name, part), line in zip(bound.groupby(level=0), ax.get_lines(), strict=False):
        ax.plot(part.index.get_level_values("n"), part.to_numpy(), color=line.get_color(),
                linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sample size N  (dashed: the bound for each teacher)")
    return fig


def lemma1_text(r: Results) -> str:
    """The Lemma 1 simulation in words, from its numbers."""
    ratio = (r.lemma1["var_bayes"] / r.lemma1["var_empirical"]).to_numpy()
    pred = (r.lemma1["predicted_var_bayes"] / r.lemma1["predicted_var_empirical"]).mean()
    rel = (r.lemma1["var_bayes"] / r.lemma1["predicted_var_bayes"]).to_numpy()
    det = r.overlap[r.overlap["deterministic"]]["ratio"]
    return (
        f"Across every N the Bayes-distilled risk varies {1 / ratio.mean():.2f} times less "
        f"than the empirical risk (ratio of variances {ci_text(ratio)} over all N and seeds; "
        f"predicted {pred:.3f}), and both variances fall as 1/N: the simulated variance of "
        f"the Bayes-distilled risk is {ci_text(rel)} times the paper's Var[p\\*ᵀl]/N. "
        + _overlap_words(r) + " With labels a function of x (p\\* one-hot) the two estimates "
        f"are equal sample by sample (ratio {det.min():.4f} to {det.max():.4f}), the paper's "
        "equality condition.")


def _overlap_words(r: Results) -> str:
    """How the variance ratio moves with the classes' overlap, from the overlap sweep."""
    ratio = r.overlap[~r.overlap["deterministic"]].groupby("sd")["ratio"].mean()
    low = float(ratio.idxmin())
    text = (f"In the overlap sweep the ratio is {ratio.iloc[0]:.2f} at sd = "
            f"{ratio.index[0]:g} (classes apart: a label rarely differs from p\\*'s choice) and "
            f"smallest, {ratio.min():.3f}, at sd = {low:g}.")
    if low < ratio.index[-1]:
        text += (f" It does not keep falling: at sd = {ratio.index[-1]:g} it is "
                 f"{ratio.iloc[-1]:.3f}, as the fixed predictor's loss varies more from point "
                 "to point (its logits grow with |x|), a variance soft labels do not remove.")
    return text


def lemma2_text(r: Results) -> str:
    """The Lemma 2 simulation in words, from its numbers."""
    big = r.lemma2[r.lemma2["n"] == r.lemma2["n"].max()]
    parts = []
    for name, g in big.groupby("teacher", sort=False):
        share = (g["quality_term"] / g["mse"]).mean()
        parts.append(f"'{name}' {share:.0%}")
    above = []  # (teacher, N) where the simulated error is significantly above the bound
    for (name, n), g in r.lemma2.groupby(["teacher", "n"], sort=False):
        _, lo, _ = mean_ci((g["mse"] - g["bound"]).to_numpy())
        if lo > 0:
            above.append(f"{name} at N = {n:,}")
    return (
        "E[Δ²] falls as 1/N only for the Bayes teacher. For the others it levels off at the "
        "teacher-quality term (the squared gap between the teacher's risk and the true risk), "
        f"which at N = {int(big['n'].iloc[0]):,} is this share of E[Δ²]: "
        + ", ".join(parts) + ". The bound, with the constant made explicit "
        "(c² = E‖l(f(x))‖², Q = teacher bias² + teacher variance), "
        + ("is never significantly below the simulated error (for the Bayes teacher it equals "
           "the predicted error, as Q = 0)" if not above else
           "is significantly below the simulated error for " + "; ".join(above))
        + ". For imperfect teachers it is loose by about the factor c², since Cauchy–Schwarz "
        "ignores that the teacher's errors partly cancel in p^tᵀl.")


def _crossing(r: Results) -> int:
    """The largest N, over the imperfect teachers, at which the teacher-quality term first
    exceeds the variance term in the simulation (the largest N simulated if it never does)."""
    means = r.lemma2.groupby(["teacher", "n"])[["quality_term", "variance_term"]].mean()
    found = []
    for name, g in means.groupby(level="teacher"):
        if name == "Bayes":
            continue
        over = g[g["quality_term"] > g["variance_term"]].index.get_level_values("n")
        found.append(int(over.min()) if len(over) else int(r.lemma2["n"].max()))
    return max(found)


def mnist_meaning(r: Results) -> str:
    """What the lemmas say about the MNIST students above."""
    agree = r.students.groupby("row")["agreement"].mean()
    gap = r.students.assign(gap=r.students["test_acc"].to_numpy()
                            - r.teachers.set_index("seed").loc[r.students["seed"],
                                                               "test_acc"].to_numpy())
    n, cross = r.params["n_train"], _crossing(r)
    return (
        f"The MNIST students are distilled on N = {n:,} images. In the simulation the "
        f"teacher-quality term overtakes the variance term by N = {cross:,} for every "
        f"imperfect teacher, so at N = {n:,} what matters is the teacher's quality, not the "
        "amount of data. The MNIST teacher is an imperfect p^t: "
        f"{r.params['teacher_epochs']} epoch(s) of training, "
        f"{r.teachers['test_acc'].mean():.2%} accurate, and softened by T. Lemma 2 predicts "
        "that a student fitting the teacher's outputs inherits the teacher's errors instead of "
        "averaging them away. The students agree with their teacher on "
        f"{agree.min():.1%} to {agree.max():.1%} of test images, and their accuracy minus "
        f"their own teacher's is {ci_text(gap['gap'].to_numpy(), 4)}. Lemma 1's gain, a "
        "lower variance than one-hot labels, belongs to a *Bayes* teacher, which a briefly "
        "trained MLP is not.")


def comparison_note(p: IiscParams) -> str:
    """The scale of the framework comparison."""
    q = comparison_params(p, "torch")
    return "\n".join([
        "```{admonition} Scale of this comparison",
        ":class: note",
        f"{q['n_train']:,} training images, rows {', '.join(map(str, q['rows']))} (the three "
        f"student sizes), {q['seeds']} seed(s) per framework; no timing.",
        "```"])


def compare_frameworks(p: IiscParams, cache: Cache | None = None) -> pd.DataFrame:
    """Torch and Keras on one small configuration: mean test accuracy of the teacher and each
    row with CIs, and the Welch 95% interval of the difference."""
    runs = {fw: run(comparison_params(p, fw), cache, timings=False, lemmas_too=False)
            for fw in ("torch", "keras")}
    def acc(fw: str, row: int | None) -> np.ndarray:
        t = runs[fw].teachers if row is None else runs[fw].students
        t = t if row is None else t[t["row"] == row]
        return t["test_acc"].to_numpy(float)

    rows = [None, *comparison_params(p, "torch")["rows"]]
    pairs = [("teacher" if row is None else f"row {row}", (acc("torch", row), acc("keras", row)))
             for row in rows]
    out = []
    for name, (x, y) in pairs:
        text, verdict = metrics.welch_difference(x, y)
        out.append({"model": name, "torch": ci_text(x), "keras": ci_text(y),
                    "torch - keras": text, "within seed noise": verdict})
    return pd.DataFrame(out)


def _tests(table: pd.DataFrame) -> str:
    """Independent tests by verdict, in words (claims sharing a measurement count once)."""
    card = claims.scorecard(table).sum()
    return ", ".join(f"{int(card[v])} {v}" for v in claims.VERDICTS if card[v]) or "none"


def _claims(table: pd.DataFrame, pattern: str) -> pd.DataFrame:
    return table[table["claim"].str.fullmatch(pattern)]


def _inference_summary(r: Results, claims_table: pd.DataFrame) -> str:
    """The inference-time paragraph of the discussion, from the ratio claims' verdicts."""
    verdict = dict(zip(claims_table["claim"], claims_table["verdict"], strict=True))
    ratios = _claims(claims_table, r"row\d-inference-ratio")
    small = min(int(m.split()[1]) for m in r.cost["model"] if m != "teacher")
    aim = verdict.get("aim-10x")
    aim_text = (f"The paper's aim of a student 10-100x faster than the teacher, for the "
                f"fastest student at batch 1: {aim}.")
    if "verdict: " + INFERENCE_READING in claims_table:
        row = claims_table[claims_table["claim"] == "aim-10x"].iloc[0]
        aim_text += f" In batches: {row['verdict: ' + INFERENCE_READING]}."
    return (f"**Inference time.** Table 1 prints {len(ratios)} inference-time ratios of "
            f"{ratios['group'].nunique()} networks (rows 2-8 are one 300-unit student), so "
            f"they make {ratios['group'].nunique()} independent tests: {_tests(ratios)}. "
            "Measured as medians of interleaved rounds, the "
            f"{small}-unit student is {_median_ratio(r, 'latency', small):.1f}x faster per "
            "image at batch 1 and "
            f"{_median_ratio(r, 'throughput', small):.1f}x in batches, against a FLOPs ratio of "
            f"{_flops_ratio(r, small):.0f}x. {aim_text}")


def _flops_ratio(r: Results, hidden: int) -> float:
    cost = r.cost.set_index("model")["flops"]
    return float(cost["teacher"] / cost[f"student {hidden}"])


def discussion(r: Results, claims_table: pd.DataFrame) -> str:
    """The chapter's discussion, written from the results and the claims table."""
    verdict = dict(zip(claims_table["claim"], claims_table["verdict"], strict=True))
    acc = _claims(claims_table, r"row\d-accuracy")
    means = r.students.groupby("row")["test_acc"].mean()
    labels = verdict.get("labels-from-teacher", claims.NOT_TESTABLE)
    lemma = claims_table[claims_table["claim"].str.startswith(("lemma1", "lemma2"))]
    lemma_ok = (lemma["verdict"] == claims.HOLDS).all()
    scale = (f"judged against the printed precision (±0.005 points): {_tests(acc)}"
             if _part1_scale(r.params) else
             f"are not compared with the paper's: this run trains on {r.params['n_train']:,} "
             "of the 60,000 training images"
             + ("" if r.params["teacher_epochs"] == 1 else
                f", its teachers {r.params['teacher_epochs']} epochs (the paper: 1)"))
    bayes = verdict.get("bayes-risk-less")
    part1 = claims_table[~claims_table["claim"].str.startswith("t2-")]
    return (
        f"**Table 1.** The {len(acc)} row accuracies {scale}. Students that never see a "
        "label reach "
        f"{means.min():.2%} to {means.max():.2%} (row means), against a teacher of "
        f"{r.teachers['test_acc'].mean():.2%}; the paper's point that a teacher can stand in "
        f"for labels ('labels-from-teacher'): {labels}. Size, temperature, epochs and batch "
        f"size move the row means within {100 * (means.max() - means.min()):.1f} percentage "
        "points of each other.\n\n"
        + _inference_summary(r, claims_table) + "\n\n"
        + "**The lemmas.** "
        + ("All the lemma claims hold in simulation, as they must: Lemma 1 is Jensen's "
           "inequality and Lemma 2 a bias-variance split. " if lemma_ok else
           "Not every lemma claim holds in this simulation (see the claims table). ")
        + "The simulation adds what the paper leaves as O(·): how large the teacher-quality "
        "term is, and that it does not shrink with more data."
        + (f" The sentence 'the Bayes' Risk is less than the empirical risk' is {bayes} "
           "here: both estimate the same R(f) without bias (the unbiasedness rows), and "
           "Lemma 1 is about their variances." if bayes not in (None, claims.HOLDS) else "")
        + f"\n\n**Counted.** Part 1's {len(part1)} claims make "
        f"{int(claims.scorecard(part1).sum().sum())} independent tests: {_tests(part1)}.")


def plan(p: IiscParams) -> list[tuple[str, Unit]]:
    """Every unit the notebook computes at ``p``, each once: the main run, each reading of
    :func:`claims_tables` and both runs of :func:`compare_frameworks`."""
    found = list(iisc_plan(p))
    if p["profile"] != "paper" and p["cifar"]:
        for name, change in READINGS.items():
            if change:
                found += iisc_plan(reading_params(p, name))
    for fw in ("torch", "keras"):
        found += iisc_plan(comparison_params(p, fw), timings=False, lemmas_too=False)
    seen, out = set(), []
    for experiment, u in found:
        key = (experiment, u.name, json.dumps(u.params, sort_keys=True, default=str), u.digest)
        if key not in seen:
            seen.add(key)
            out.append((experiment, u))
    return out


CHAPTER = Chapter(
    name="iisc", params=IiscParams, run=run, judged=judged, evidence_for=evidence_for,
    sources=(SOURCE,),
    example="papermill notebooks/iisc.ipynb out.ipynb -p profile quick -p rows '[1, 7, 9]'",
    plan=plan)
