"""What the poster chapter (seed 004) says: scale note, figures, tables and discussion, written
from results. Kept apart from :mod:`kdlib.experiments.poster` so that rewording the chapter does
not change the cache key of its results.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from kdlib import claims, metrics, plots
from kdlib.experiments.poster import (
    ABLATION_ALPHAS,
    ABLATION_TEMPERATURES,
    ABLATIONS,
    FIT_WITHIN,
    POOLED_SPLIT,
    Results,
    comparison_params,
    keras_example_params,
    run,
)
from kdlib.metrics import ci_text
from kdlib.results import Cache, summarize

__all__ = ["ablation_note", "ablation_table", "alpha_one_check", "compare_frameworks",
           "comparison_note", "confusion_figure", "curves_figure", "discussion",
           "fidelity_text", "grid_figure", "keras_example_note", "keras_example_table",
           "reports", "scale_note", "split_table"]

# The poster's classification-report supports (its test set), digit 0 to 9.
POSTER_SUPPORT = (986, 1125, 999, 1020, 975, 902, 982, 1042, 975, 994)
OFFICIAL_SUPPORT = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)


def scale_note(p: dict[str, Any]) -> str:
    """A MyST admonition stating this run's scale and the choices the poster leaves open."""
    split = ("all 70,000 MNIST images pooled and split "
             f"{70000 - sum(POOLED_SPLIT):,} / {POOLED_SPLIT[0]:,} / {POOLED_SPLIT[1]:,} "
             f"(train / validation / test), stratified by class, seed {p['split_seed']}"
             if p["split"] == "poster" else
             "the official test set; the last 10,000 official training images validate")
    return "\n".join([
        "```{admonition} Scale of this run",
        ":class: " + ("note" if p["profile"] == "paper" else "warning"),
        f"Profile **{p['profile']}**, framework {p['framework']}. Split: {split}. Teacher: "
        f"{p['teacher_epochs']} epochs on {p['teacher_n_train']:,} training images (seed "
        f"{p['teacher_seed']}). Students ({p['hidden']} hidden units) on the first "
        f"{p['n_train']:,} of them: {p['epochs']} epochs, "
        f"every cell of T in {{{', '.join(f'{t:g}' for t in p['temperatures'])}}} x alpha in "
        f"{{{', '.join(f'{a:g}' for a in p['alphas'])}}}, {p['seeds']} seed(s). Both: "
        f"{p['activation']} activations, dropout {p['dropout']:g}, Adam (lr "
        f"{p['learning_rate']:g}), batch {p['batch_size']}.",
        "",
        "The poster states neither its epochs, its grid, its activation nor its dropout rate: "
        "the values above are our choices (ReLU and 0.2 are TensorFlow's quick-start MLP, "
        "which the student's layer list is). Its grid reached T = 10"
        + ("; this run adds T above 10 to test its guess that a better temperature lies there."
           if max(p["temperatures"]) > 10 else "."),
        "```",
    ])


def split_table(p: dict[str, Any]) -> pd.DataFrame:
    """Test-set class counts: the poster's, the official test set's, and 10,000 x the class
    shares of all 70,000 images (what a stratified split of the pooled set gives)."""
    from kdlib import data

    ds = data.load("mnist", p["data_dir"] or None)
    pooled = np.bincount(np.concatenate([ds.y_train, ds.y_test]), minlength=10)
    shares = np.round(pooled / pooled.sum() * POOLED_SPLIT[1]).astype(int)
    table = pd.DataFrame({"poster": POSTER_SUPPORT, "official test set": OFFICIAL_SUPPORT,
                          "stratified split of all 70,000": shares}, index=list(ds.classes))
    return table.rename_axis("digit").T


def curves_figure(r: Results, value: str = "val_loss"):
    """Learning curves: the teacher (one run) and the student alone (mean and 95% CI over
    seeds), validation ``value`` and the training loss, against epoch."""
    teacher = r.teacher_curve.assign(seed=0)
    parts = []
    for name, rows in (("teacher", teacher), ("student alone", r.alone())):
        for col, what in ((value, "validation"), ("train_loss", "training")):
            if col == "train_loss" and value != "val_loss":
                continue
            s = summarize(rows, ["epoch"], col).assign(curve=f"{name}, {what}")
            parts.append(s)
    ylabel = {"val_loss": "cross-entropy (nats)", "val_acc": "validation accuracy"}[value]
    return plots.metric_vs(pd.concat(parts, ignore_index=True), "epoch", "curve", ylabel,
                           legend="{key}")


def reports(r: Results) -> pd.DataFrame:
    """The poster's classification report: precision, recall and F1 per digit for the teacher
    and the student alone (mean over seeds), with the support."""
    t = metrics.class_report(r.teacher_test, r.y_test, r.classes).set_index("class")
    tmin = min(r.params["temperatures"])
    students = [metrics.class_report(r.logits(s, tmin, 1.0), r.y_test, r.classes)
                .set_index("class") for s in sorted(r.test_logits)]
    s = sum(students) / len(students)
    cols = ["precision", "recall", "f1"]
    table = pd.concat({"teacher": t[cols], "student alone": s[cols]}, axis=1)
    table[("", "support")] = t["support"]
    acc = {"teacher": metrics.accuracy(r.teacher_test, r.y_test),
           "student alone": float(np.mean([metrics.accuracy(r.logits(s_, tmin, 1.0), r.y_test)
                                           for s_ in sorted(r.test_logits)]))}
    table.loc["accuracy"] = [np.nan, np.nan, acc["teacher"], np.nan, np.nan,
                             acc["student alone"], len(r.y_test)]
    text = table.map(lambda v: "" if pd.isna(v) else f"{v:.3f}")  # accuracy: F1 column only
    text[("", "support")] = table[("", "support")].astype(int)
    return text


def confusion_figure(r: Results):
    """Confusion matrices of the teacher and of the student alone (summed over seeds, divided
    by their number)."""
    tmin = min(r.params["temperatures"])
    seeds = sorted(r.test_logits)
    student = sum(metrics.confusion(r.logits(s, tmin, 1.0), r.y_test, 10) for s in seeds)
    return plots.confusions({"teacher": metrics.confusion(r.teacher_test, r.y_test, 10),
                             f"student alone (mean of {len(seeds)} seeds)":
                             student / len(seeds)}, r.classes)


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


def fidelity_text(r: Results) -> str:
    """Does distillation make the student match its teacher better, even where it is less
    accurate? Each distilled cell against the student alone, paired by seed, in words."""
    last = r.last
    alone = r.alone()
    alone = alone[alone["epoch"] == r.params["epochs"]].set_index("seed")
    dist = last[last["alpha"] < 1]
    if dist.empty or alone.empty:
        return "This run's grid has no distilled cell and student alone to compare."

    def significant(g: pd.DataFrame, col: str, sign: int) -> bool:
        d = (g.set_index("seed")[col] - alone[col]).dropna().to_numpy(dtype=float) * sign
        _, lo, _ = metrics.mean_ci(d)
        return bool(lo > 0) if not np.isnan(lo) else bool(d.mean() > 0)

    cells_ = list(dist.groupby(["temperature", "alpha"]))
    less = [(c, g) for c, g in cells_ if significant(g, "test_acc", -1)]
    closer = [c for c, g in less if significant(g, "agreement", 1)
              or significant(g, "kl_to_teacher", -1)]
    agree = [c for c, g in cells_ if significant(g, "agreement", 1)]
    kl = [c for c, g in cells_ if significant(g, "kl_to_teacher", -1)]

    def names(cs: list) -> str:
        return ", ".join(f"(T = {t:g}, alpha = {a:g})" for t, a in cs) or "none"

    return (f"Against the student alone ({ci_text(alone['test_acc'].to_numpy(float))}), paired "
            f"by seed: of the {len(cells_)} distilled cells, {len(less)} are significantly less "
            f"accurate. Top-1 agreement with the teacher is significantly higher in "
            f"{len(agree)} cells ({names(agree)}) and the KL to the teacher significantly lower "
            f"in {len(kl)} ({names(kl)}). Less accurate yet closer to the teacher: "
            f"{len(closer)} cells ({names(closer)}).")


def ablation_note(p: dict[str, Any]) -> str:
    """The reduced grid and what each variant changes."""
    return "\n".join([
        "```{admonition} Scale of these runs",
        ":class: warning",
        f"Each variant runs T in {{{', '.join(f'{t:g}' for t in ABLATION_TEMPERATURES)}}} x "
        f"alpha in {{{', '.join(f'{a:g}' for a in ABLATION_ALPHAS)}}} for {p['epochs']} "
        f"epochs, {p['seeds']} seed(s), changing one thing of the main run: "
        + "; ".join(f"*{v}*: " + (", ".join(f"{k} = {x}" for k, x in c.items()) or
                                  "unchanged (the main grid's cells)")
                    for v, c in ABLATIONS.items())
        + ". The students on 2,000 images learn from the main teacher (trained on all the "
        "training images); the official split trains its own teacher.",
        "```",
    ])


def ablation_table(a: pd.DataFrame) -> pd.DataFrame:
    """Per variant: the teacher, the student alone, the best distilled cell, and the paired
    difference best distilled - alone, with its 95% CI and what it says."""
    rows = []
    for variant, part in a.groupby("variant", sort=False):
        alone = part[np.isclose(part["alpha"], 1.0)]
        alone = alone[alone["temperature"] == alone["temperature"].min()].set_index("seed")
        dist = part[part["alpha"] < 1]
        means = dist.groupby(["temperature", "alpha"])["test_acc"].mean()
        t, a_ = means.idxmax()
        best = dist[(dist["temperature"] == t) & (dist["alpha"] == a_)].set_index("seed")
        diff = (best["test_acc"] - alone["test_acc"].reindex(best.index)).to_numpy(float)
        _, lo, hi = metrics.mean_ci(diff)
        says = ("one seed: cannot tell" if np.isnan(lo) else "distillation helps" if lo > 0
                else "distillation hurts" if hi < 0 else "no significant difference")
        rows.append({"variant": variant, "teacher": f"{part['teacher_acc'].iloc[0]:.3f}",
                     "student alone": ci_text(alone["test_acc"].to_numpy(float)),
                     "best distilled cell": f"T = {t:g}, alpha = {a_:g}",
                     "its accuracy": ci_text(best["test_acc"].to_numpy(float)),
                     "best - alone": ci_text(diff), "verdict": says})
    return pd.DataFrame(rows).set_index("variant")


def keras_example_note(p: dict[str, Any]) -> str:
    """The scale of the Keras example's pair against the example's own."""
    q = keras_example_params(p)
    return "\n".join([
        "```{admonition} Scale of this comparison",
        ":class: warning",
        f"The Keras example trains its teacher 5 epochs on all 60,000 training images, then "
        f"a distilled (T = 10, alpha = 0.1) and a scratch student 3 epochs each, one run. "
        f"Here: the alpha chapter's teacher of profile {q['profile']} (the same networks; "
        f"at most {q['teacher_epochs']} epoch(s), shared through the cache), students on the "
        f"first {q['n_train']:,} training images with clean labels, {q['epochs']} epochs, "
        f"T = {q['temperature']:g}, alpha = {q['alphas'][0]:g}, {q['seeds']} seed(s), tested on "
        f"{q['n_test']:,} images.",
        "```",
    ])


def keras_example_table(r: Results) -> pd.DataFrame:
    """The poster's quoted Keras outputs against ours (mean and 95% CI over seeds)."""
    k = r.keras_example
    if k is None:
        return pd.DataFrame()
    dist = k.values("test_acc", {"alpha": 0.1})
    scratch = k.values("test_acc", {"student": "scratch"})
    reported = {c.id: float(c.reported) for c in claims.load("004")
                if c.id in ("keras-distilled", "keras-scratch")}
    r_dist, r_scratch = reported["keras-distilled"], reported["keras-scratch"]
    q = k.params
    return pd.DataFrame({
        "model": ["teacher", f"distilled student (T = {q['temperature']:g}, alpha = "
                  f"{q['alphas'][0]:g})", "scratch student",
                  "scratch - distilled (paired)"],
        "poster (Keras output)": ["—", f"{r_dist:.4f}", f"{r_scratch:.4f}",
                                  f"{r_scratch - r_dist:+.4f}"],
        "ours (95% CI)": [f"{float(k.teacher['test_acc'].iloc[0]):.4f}", ci_text(dist, 4),
                          ci_text(scratch, 4), ci_text(scratch - dist, 4)],
    }).set_index("model")


def comparison_note(p: dict[str, Any]) -> str:
    """The configuration both frameworks run, in words."""
    q = comparison_params(p, "torch")
    return (f"Both frameworks on one small configuration: {q['n_train']:,} training images, "
            f"teacher {q['teacher_epochs']} epochs (each framework its own), students at "
            f"T = {', '.join(f'{t:g}' for t in q['temperatures'])} and alpha = "
            f"{', '.join(f'{a:g}' for a in q['alphas'])}, {q['epochs']} epochs, {q['seeds']} "
            f"seed(s), tested on the 10,000 test images of the {q['split']} split.")


def compare_frameworks(p: dict[str, Any], cache: Cache | None = None) -> pd.DataFrame:
    """Torch (stacked) and Keras (one ``Distiller.fit`` per cell) on one small configuration:
    each framework's mean test accuracy with its CI, and the Welch 95% interval of the
    difference."""
    runs = {fw: run(comparison_params(p, fw), cache, keras_example=False)
            for fw in ("torch", "keras")}
    out = []
    teachers = {fw: float(r.teacher["test_acc"].iloc[0]) for fw, r in runs.items()}
    out.append({"model": "teacher", "torch": f"{teachers['torch']:.3f}",
                "keras": f"{teachers['keras']:.3f}",
                "torch - keras": f"{teachers['torch'] - teachers['keras']:+.3f}",
                "within seed noise": "one run each"})
    for (t, a), part in runs["torch"].last.groupby(["temperature", "alpha"]):
        other = runs["keras"].last
        other = other[(other["temperature"] == t) & (other["alpha"] == a)]
        x, y = part["test_acc"].to_numpy(float), other["test_acc"].to_numpy(float)
        text, verdict = metrics.welch_difference(x, y)
        out.append({"model": f"student, T = {t:g}, alpha = {a:g}", "torch": ci_text(x),
                    "keras": ci_text(y), "torch - keras": text, "within seed noise": verdict})
    return pd.DataFrame(out)


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
            found.append(f"{reason} (best distilled - alone: "
                         f"{table.loc[variant, 'best - alone']})")
    if not found:
        return ("Neither more capacity nor fewer labels makes distillation pay here, so these "
                "ablations do not explain the poster's result.")
    return "The numbers support: " + "; ".join(found) + "."


def discussion(r: Results, a: pd.DataFrame, claims_table: pd.DataFrame) -> str:
    """The chapter's conclusion, written from this run's numbers."""
    grid = r.grid("test_acc")
    best = grid.loc[grid["mean"].idxmax()]
    alone = r.alone()
    alone = alone[alone["epoch"] == r.params["epochs"]]["test_acc"].to_numpy(float)
    diff = r.values("alone_minus_best_distilled", {})
    table = ablation_table(a)
    verdicts = table["verdict"]
    counts = claims_table["verdict"].value_counts()
    helped = [v for v, s in verdicts.items() if s == "distillation helps"]
    if diff is None:
        verdict = "This grid has no distilled cell to compare with the student alone."
    else:
        _, lo, hi = metrics.mean_ci(diff)
        low, high = (diff.mean(), diff.mean()) if np.isnan(lo) else (lo, hi)
        verdict = ("So, as on the poster, the student alone beats every distilled student."
                   if low > 0 else
                   "So, unlike on the poster, a distilled student beats the student alone."
                   if high < 0 else
                   "So the best distilled student and the student alone cannot be told apart "
                   f"at {len(diff)} seed(s): distillation gains nothing here, as on the "
                   "poster, but need not lose either when T and alpha are chosen well.")
    text = [
        f"In this run the best cell of the grid is T = {best['temperature']:g}, alpha = "
        f"{best['alpha']:g} ({metrics.format_ci(best['mean'], best['ci_low'], best['ci_high'])}"
        f"); the student alone scores {ci_text(alone)}, and the student alone minus the best "
        f"distilled cell (T ≤ 10) is {ci_text(diff) if diff is not None else '—'} per seed. "
        + verdict,
        "",
        "The ablations ask why: "
        + "; ".join(f"*{v}*: {s}" for v, s in verdicts.items()) + ". "
        + (f"Distillation helps only in: {', '.join(helped)}. " if helped else
           "Distillation helps in none of them. ") + _explanation(table),
        "",
        f"Of the {len(claims_table)} claims tested, {counts.get('holds', 0)} hold, "
        f"{counts.get('contradicted', 0)} are contradicted, {counts.get('inconclusive', 0)} "
        f"are inconclusive at {r.params['seeds']} seed(s), and "
        f"{counts.get('not testable here', 0)} cannot be tested by this run. A good fit "
        f"means a validation accuracy within {FIT_WITHIN:g} of the curve's best.",
    ]
    return "\n".join(text)

