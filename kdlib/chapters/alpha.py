"""What the alpha chapter says: the scale notes, tables and discussion, written from results.

Kept apart from :mod:`kdlib.experiments.alpha` so that the cache key of the results (the hash
of the code that computes them) does not change when only the chapter's wording does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kdlib import claims, metrics, plots
from kdlib.experiments.alpha import (
    DIRECTIONS,
    SOURCE_SCALE,
    VALIDATION,
    Results,
    comparison_params,
    direction_params,
    paper_params,
    run,
)
from kdlib.metrics import ci_text
from kdlib.results import Cache, code_hash, summarize

__all__ = ["compare_frameworks", "comparison_note", "directions_note", "directions_summary",
           "directions_table", "discussion", "paper_claims", "paper_figure", "paper_note",
           "scale_note", "teacher_note"]


def paper_note(p: dict[str, Any], r: Results | None) -> str:
    """What the paper-scale section shows: which run, how long it took, or why it is absent."""
    q = paper_params(p)
    command = "python -m kdlib.run alpha --profile paper"
    if r is None:
        return "\n".join([
            "```{admonition} No paper-scale results yet",
            ":class: warning",
            "The committed results (`data/results/`) hold no finished seed of the paper "
            "profile. "
            f"The paper profile trains {len(q['alphas']) + 1} students x {q['n_train']:,} "
            f"images x {q['epochs']:,} epochs per seed, hours per seed on a 2-core CPU "
            f"(`bench/sweep.py` prints this machine's rate). To produce them: `{command}` "
            "(a killed run resumes from its last checkpoint), then the same command with "
            "`--publish`, and commit `data/results/`.",
            "```",
        ])
    seeds = sorted(r.test_logits)
    hours = r.students.groupby("seed")["seconds"].first() / 3600
    t = r.teacher.iloc[0]
    current = code_hash("kdlib.experiments.alpha")
    drift = ("" if r.code == (current,) else
             f" kdlib's alpha code has changed since (source hash "
             f"{', '.join(c[:12] for c in r.code)} then, {current[:12]} now): these are the "
             "numbers of that commit's code; re-run the command above to refresh them.")
    single = ("" if len(seeds) > 1 else
              " With one seed there is no confidence interval: the figure shows that run, and "
              "the claims below are judged on its values alone, as the sources judged their "
              "single runs.")
    return "\n".join([
        "```{admonition} The paper-scale run",
        ":class: " + ("note" if not drift else "warning"),
        f"Profile **paper**, {len(seeds)} of {q['seeds']} seed(s) finished ({seeds}). Teacher: "
        f"{int(t['epochs'])} epoch(s), validation accuracy {t['val_acc']:.4f}, test accuracy "
        f"{t['test_acc']:.4f}, {t['seconds'] / 3600:.2f} h. Students: "
        f"{', '.join(f'{h:.2f}' for h in hours)} h per seed (wall time of the sweep of one "
        f"seed, all {len(q['alphas']) + 1} students, on the machine that ran it, so seeds run on "
        "different CPUs take different times; `bench/sweep.py` measures yours). "
        "Computed by commit(s) "
        f"{', '.join(f'`{c}`' for c in r.commits)} with `{command}`." + drift + single,
        "```",
    ])


def paper_figure(r: Results | None):
    """Figure 3 at paper scale (None, which shows nothing, when there is no run)."""
    if r is None:
        return None
    return plots.metric_vs(r.summary("test_acc"), "alpha", "epoch", "test accuracy",
                           lines=r.references("test_acc"))


def paper_claims(r: Results | None):
    """Both sources' claims judged by the paper-scale run (None when there is no run)."""
    if r is None:
        return None
    table = claims.evaluate(claims.load("000") + claims.load("001"), r)
    return table.drop(columns=["claim"]).style.hide(axis="index")


def directions_summary(d: pd.DataFrame, value: str = "test_acc",
                       variants: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Mean and CI over seeds of ``value`` per (variant, alpha), distilled students only."""
    rows = d[d["student"] == "distilled"]
    if variants is not None:
        rows = rows[rows["variant"].isin(variants)]
    out = summarize(rows, ["variant", "alpha"], value)
    order = {v: i for i, v in enumerate(DIRECTIONS)}
    return out.sort_values(["variant", "alpha"], key=lambda c: c.map(order) if c.name ==
                           "variant" else c).reset_index(drop=True)


def directions_table(d: pd.DataFrame) -> pd.DataFrame:
    """One row per variant: the teacher's accuracy and the scratch and best distilled students."""
    rows = []
    for variant, part in d.groupby("variant", sort=False):
        distilled = part[part["student"] == "distilled"]
        means = distilled.groupby("alpha")["test_acc"].mean()
        rows.append({
            "variant": variant, "teacher": part["teacher_acc"].iloc[0],
            "best alpha": means.idxmax(),
            "best distilled": ci_text(
                distilled[distilled["alpha"] == means.idxmax()]["test_acc"].to_numpy(float)),
            "scratch": ci_text(part[part["student"] == "scratch"]["test_acc"].to_numpy(float)),
        })
    return pd.DataFrame(rows).set_index("variant")


def directions_note(p: dict[str, Any]) -> str:
    """A MyST admonition stating the reduced scale of the future-direction runs."""
    q = direction_params(p, "noise 0%")
    return "\n".join([
        "```{admonition} Scale of these runs",
        ":class: warning",
        f"Each variant changes one thing of the main run and sweeps alpha in "
        f"{', '.join(f'{a:g}' for a in q['alphas'])} for {q['epochs']} epoch(s), "
        f"{q['seeds']} seed(s), evaluated at the last epoch. 'poor teacher': "
        + teacher_note(direction_params(p, "poor teacher")).removeprefix("Teacher: ")
        + " Fashion-MNIST: the same design on Zalando's clothes images. "
        + teacher_note(direction_params(p, "Fashion-MNIST")),
        "```",
    ])


def comparison_note(p: dict[str, Any]) -> str:
    """The configuration both frameworks run, in words (from :func:`comparison_params`)."""
    q = comparison_params(p, "torch")
    return (f"Both frameworks on one small configuration: {q['n_train']:,} training images, "
            f"alphas {', '.join(f'{a:g}' for a in q['alphas'])} and the scratch student, "
            f"{q['epochs']} epochs, {q['seeds']} seed(s), a teacher trained "
            f"{q['teacher_epochs']} epoch(s) on the students' images (each framework its own), "
            f"tested on {q['n_test']:,} images.")


def compare_frameworks(p: dict[str, Any], cache: Cache | None = None) -> pd.DataFrame:
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
        rows.append({"student": kind, "alpha": a, "torch": ci_text(t_acc),
                     "keras": ci_text(k_acc),
                     "torch - keras": text, "within seed noise": verdict})
    return pd.DataFrame(rows)


def discussion(r: Results, claims_table: pd.DataFrame) -> str:
    """A few sentences, generated from the numbers of this run, for the chapter's discussion."""
    last = max(r.params["snapshots"])
    source_last = round(last * SOURCE_SCALE["epochs"] / r.params["epochs"])
    curve = r.curve("test_acc", {"epoch": source_last})
    scratch = r.values("test_acc", {"student": "scratch", "epoch": source_last})
    agree = r.curve("agreement", {"epoch": source_last})
    means = curve.mean(axis=1)
    best = float(means.idxmax())
    diff = curve.loc[best].to_numpy(dtype=float) - scratch
    _, lo, hi = metrics.mean_ci(diff)
    if np.isnan(lo):
        beats = "one seed cannot tell whether that beats the scratch student"
    elif lo > 0:
        beats = "significantly better than the scratch student"
    elif hi < 0:
        beats = "significantly worse than the scratch student"
    else:
        beats = "not significantly different from the scratch student"
    counts = claims_table["verdict"].value_counts()
    teacher = float(r.teacher["test_acc"].iloc[0])
    reported = claims_table[claims_table["claim"] == "teacher-accuracy"]["reported"].iloc[0]
    return "\n".join([
        f"The teacher scores {teacher:.3f} on the test set (the report: {reported}). After {last} "
        "epochs the best distilled student is at alpha = "
        f"{best:g}, with {ci_text(curve.loc[best].to_numpy(dtype=float))}: {beats} "
        f"({ci_text(scratch)}; paired difference {ci_text(diff)}).",
        "",
        f"Across alpha, mean accuracy runs from {means.min():.3f} (alpha = "
        f"{float(means.idxmin()):g}) to {means.max():.3f}; at alpha = 0 it is "
        f"{ci_text(curve.iloc[0].to_numpy(dtype=float))} and at alpha = 1 "
        f"{ci_text(curve.iloc[-1].to_numpy(dtype=float))}. Agreement with the teacher is "
        "highest "
        f"at alpha = {float(agree.mean(axis=1).idxmax()):g} "
        f"({agree.mean(axis=1).max():.3f}) and lowest at alpha = "
        f"{float(agree.mean(axis=1).idxmin()):g} ({agree.mean(axis=1).min():.3f}).",
        "",
        f"Of the {len(claims_table)} claims tested, {counts.get('holds', 0)} hold, "
        f"{counts.get('contradicted', 0)} are contradicted, {counts.get('inconclusive', 0)} "
        f"are inconclusive at this number of seeds, and {counts.get('not testable here', 0)} "
        "cannot be tested by this run.",
    ])


def teacher_note(p: dict[str, Any]) -> str:
    """How the teacher is trained, in one sentence."""
    data_text = ("the first 55,000 clean training images" if p["teacher_data"] == "full"
                 else "the students' noisy training images")
    if p["teacher_target"] > 0:
        return (f"Teacher: trained on {data_text} until its accuracy on the last "
                f"{VALIDATION:,} training images (never trained on) reaches "
                f"{p['teacher_target']:g}, for at most {p['teacher_epochs']:,} epoch(s).")
    return f"Teacher: {p['teacher_epochs']:,} epoch(s) on {data_text}."


def scale_note(p: dict[str, Any]) -> str:
    """A MyST admonition stating the scale this chapter ran at, against the source's."""
    src = SOURCE_SCALE
    return "\n".join([
        "```{admonition} Scale of this run",
        ":class: " + ("note" if p["profile"] == "paper" else "warning"),
        f"Profile **{p['profile']}**. Students: {p['n_train']:,} training images "
        f"({p['noise_rate']:.0%} of labels perturbed, '{p['noise_kind']}'), "
        f"{p['epochs']:,} epochs (evaluated after {', '.join(map(str, p['snapshots']))}), "
        f"{len(p['alphas'])} alphas, {p['seeds']} seed(s), T = {p['temperature']:g}, "
        f"batch {p['batch_size']}; test on the first {p['n_test']:,} official test images. "
        + teacher_note(p)
        + f"\n\nThe source: {src['n_train']:,} training images, students trained up to "
        f"{src['epochs']:,} epochs, {src['alphas']} alphas, one run each; teacher trained "
        f"{src['teacher_epochs']:,} epochs on all of MNIST.",
        "```",
    ])
