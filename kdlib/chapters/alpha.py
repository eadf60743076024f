"""What the alpha chapter says: its evidence for the claims, the scale notes, tables and
discussion, written from results.

Kept apart from :mod:`kdlib.experiments.alpha` so that the cache key of the results (the hash
of the code that computes them) does not change when only the chapter's wording, or how its
results answer claims, does.
"""

from __future__ import annotations

import math

import pandas as pd

from kdlib import claims, metrics, plots
from kdlib.chapters import Chapter
from kdlib.evidence import Evidence, Registry
from kdlib.experiments.alpha import (
    DIRECTIONS,
    SOURCE_SCALE,
    VALIDATION,
    AlphaParams,
    Results,
    comparison_params,
    direction_params,
    paper_params,
    paper_run,
    plan,
    reading_names,
    reading_params,
    run,
)
from kdlib.metrics import ci_text, summarize
from kdlib.results import Cache, code_hash

__all__ = ["BUDGETS", "CHAPTER", "REGISTRY", "SOURCES", "claims_tables", "comparison_note",
           "directions_note", "directions_summary", "directions_table", "discussion",
           "evidence", "evidence_for", "judged", "paper_figure", "paper_note",
           "run_description", "run_name", "scale_note", "teacher_note"]

SOURCES = ("000", "001")
BUDGETS = (100, 300, 500, 1000)  # the source's epoch budgets (Figure 3)

# ------------------------------------------------------------------ evidence for the claims
REGISTRY = Registry()
REGISTRY.measured("test_acc", "test accuracy", bounds=(0.0, 1.0))
REGISTRY.measured("test_loss", "test cross-entropy (nats)", bounds=(0.0, math.inf))
REGISTRY.measured("agreement", "top-1 agreement with the teacher", bounds=(0.0, 1.0))
REGISTRY.measured("kl_to_teacher", "KL(teacher || student), nats", bounds=(0.0, math.inf))
REGISTRY.measured("noisy_recovered", "perturbed training images predicted with their "
                  "original label", bounds=(0.0, 1.0))
REGISTRY.measured("teacher_acc", "the teacher's test accuracy", bounds=(0.0, 1.0))


def _keys(t: pd.DataFrame) -> list[str]:
    """What a per-budget derived metric is grouped by (our epoch where the table has it)."""
    return [k for k in ("epoch", "our_epoch", "run") if k in t.columns]


def _distilled_acc(t: pd.DataFrame) -> pd.DataFrame:
    rows = t[(t["metric"] == "test_acc") & (t["student"] == "distilled")]
    return rows[rows["epoch"].notna()]


@REGISTRY.derived("alpha_range", "best minus worst alpha's accuracy", bounds=(0.0, 1.0))
def _alpha_range(t: pd.DataFrame) -> pd.DataFrame:
    g = _distilled_acc(t).groupby(_keys(t))["value"]
    return (g.max() - g.min()).rename("value").reset_index()


@REGISTRY.derived("mean_acc", "accuracy averaged over the alphas", bounds=(0.0, 1.0))
def _mean_acc(t: pd.DataFrame) -> pd.DataFrame:
    return _distilled_acc(t).groupby(_keys(t))["value"].mean().reset_index()


@REGISTRY.derived("gain_over_scratch", "best alpha's accuracy minus the scratch student's",
                  bounds=(-1.0, 1.0))
def _gain(t: pd.DataFrame) -> pd.DataFrame:
    best = _distilled_acc(t).groupby(_keys(t))["value"].max()
    scratch = t[(t["metric"] == "test_acc") & (t["student"] == "scratch")
                & t["epoch"].notna()].set_index(_keys(t))["value"]
    return (best - scratch).dropna().rename("value").reset_index()


@REGISTRY.derived("scratch_loss_gap", "the scratch student's test loss minus the distilled "
                  "student's")
def _loss_gap(t: pd.DataFrame) -> pd.DataFrame:
    loss = t[(t["metric"] == "test_loss") & t["epoch"].notna()]
    keys = _keys(t)
    scratch = loss[loss["student"] == "scratch"].set_index(keys)["value"]
    own = loss[loss["student"] == "distilled"]
    gap = scratch.reindex(pd.MultiIndex.from_frame(own[keys])).to_numpy() \
        - own["value"].to_numpy()
    return own[["alpha", *keys]].assign(value=gap).dropna()


def budget_map(p: AlphaParams) -> dict[int, list[int]]:
    """Our evaluated epoch standing for each of the source's budgets, by the ratio of total
    epochs (at the paper's 1,000 epochs, each budget is itself): our epoch -> budgets."""
    out: dict[int, list[int]] = {}
    for budget in BUDGETS:
        ours = max(1, round(budget * p["epochs"] / SOURCE_SCALE["epochs"]))
        if ours in p["snapshots"]:
            out.setdefault(ours, []).append(budget)
    return out


def _students_at_source_scale(p: AlphaParams) -> bool:
    src = SOURCE_SCALE
    return (p["dataset"] == "mnist" and p["n_train"] == src["n_train"]
            and p["n_test"] == src["n_test"] and p["epochs"] == src["epochs"]
            and len(p["alphas"]) == src["alphas"] and p["noise_rate"] == 0.05)


def run_name(r: Results, committed: bool = False) -> str:
    """Which run, in a few words (the claims tables' "judged on")."""
    return (f"the committed {r.params['profile']} run" if committed
            else f"this build's {r.params['profile']} run")


def run_description(r: Results, committed: bool = False) -> str:
    """Which run, in full: profile and seeds, and for a committed run its commits and
    machines."""
    seeds = len(r.test_logits)
    text = f"{run_name(r, committed)} ({seeds} seed{'s' if seeds != 1 else ''}"
    if committed:
        text += f"; commit {', '.join(r.commits)}; {'; '.join(r.machines)}"
    return text + ")"


def evidence(r: Results, name: str | None = None) -> Evidence:
    """The run's results as the claims' evidence: one row per (metric, student, alpha, our
    epoch, seed), the source's budget beside our epoch standing for it, and the teacher."""
    p = r.params
    budgets = budget_map(p)
    student_scale = _students_at_source_scale(p)
    rows = []
    measured = ("test_acc", "test_loss", "agreement", "kl_to_teacher", "noisy_recovered")
    for rec in r.students.to_dict("records"):
        ours = int(rec["epoch"])
        for budget in budgets.get(ours, [math.nan]):
            for m in measured:
                rows.append({"metric": m, "student": rec["student"], "alpha": rec["alpha"],
                             "epoch": budget, "our_epoch": ours, "run": int(rec["seed"]),
                             "value": float(rec[m]), "source_scale": student_scale})
    teacher_scale = p["teacher_epochs"] >= SOURCE_SCALE["teacher_epochs"]
    rows.append({"metric": "teacher_acc", "run": p["teacher_seed"],
                 "value": float(r.teacher["test_acc"].iloc[0]), "source_scale": teacher_scale})
    return Evidence.build(rows, REGISTRY, name or run_name(r), dataset=p["dataset"],
                          details=("our_epoch",), labels={"our_epoch": "our epoch"})


def claims_tables(p: AlphaParams, r: Results, committed: Results | None,
                  cache: Cache | None = None) -> dict[str, pd.DataFrame]:
    """The chapter's claims tables: ``"default"``, this build's run judged with a verdict
    per reading; ``"paper"``, the committed paper-scale run (absent without one); and
    ``"primary"``, each claim judged at the source's scale where that run exists, else by
    this build's run: the verdicts the chapter and the scorecard count. ``committed`` is
    the committed paper-scale run (:func:`kdlib.experiments.alpha.paper_run`), or None."""
    found = [c for s in SOURCES for c in claims.load(s)]
    ev = evidence(r)
    readings = {name: evidence(run(reading_params(p, name), cache), name=f"reading '{name}'")
                for name in reading_names(p)}
    out = {"default": claims.evaluate(found, ev, readings=readings)}
    if committed is not None and p["profile"] != "paper":
        paper_ev = evidence(committed, run_name(committed, committed=True))
        out["paper"] = claims.evaluate(found, paper_ev)
        out["primary"] = claims.primary(found, [paper_ev, ev])
    else:
        out["primary"] = out["default"]
    return out


def evidence_for(p: AlphaParams, cache: Cache | None = None) -> list[Evidence]:
    """The evidence the chapter judges by: the committed paper-scale run (if any, and if this
    is not itself the paper profile's run), then this build's run."""
    committed = paper_run(p) if p["profile"] != "paper" else None
    found = [] if committed is None else [evidence(committed, run_name(committed, True))]
    return [*found, evidence(run(p, cache))]


def judged(p: AlphaParams, cache: Cache | None = None) -> pd.DataFrame:
    """The verdicts the scorecard counts for this chapter (see :func:`claims_tables`)."""
    committed = paper_run(p) if p["profile"] != "paper" else None
    return claims_tables(p, run(p, cache), committed, cache)["primary"]


def paper_note(p: AlphaParams, r: Results | None) -> str:
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
              "its claims are *inconclusive (one run)* until a second seed is committed.")
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
        f"{', '.join(f'`{c}`' for c in r.commits)} with `{command}`, on "
        f"{'; '.join(r.machines)}." + drift + single,
        "```",
    ])


def paper_figure(r: Results | None):
    """Figure 3 at paper scale (None, which shows nothing, when there is no run)."""
    if r is None:
        return None
    return plots.metric_vs(r.summary("test_acc"), "alpha", "epoch", "test accuracy",
                           lines=r.references("test_acc"))


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


def directions_note(p: AlphaParams) -> str:
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


def comparison_note(p: AlphaParams) -> str:
    """The configuration both frameworks run, in words (from :func:`comparison_params`)."""
    q = comparison_params(p, "torch")
    return (f"Both frameworks on one small configuration: {q['n_train']:,} training images, "
            f"alphas {', '.join(f'{a:g}' for a in q['alphas'])} and the scratch student, "
            f"{q['epochs']} epochs, {q['seeds']} seed(s), a teacher trained "
            f"{q['teacher_epochs']} epoch(s) on the students' images (each framework its own), "
            f"tested on {q['n_test']:,} images.")


def _paragraph(r: Results, name: str) -> str:
    """What one run says at its last evaluated epoch, computed from its evidence."""
    ev = evidence(r, name)
    last = max(r.params["snapshots"])
    at = {"student": "distilled", "our_epoch": last}
    curve = ev.curve("test_acc", at, "alpha")
    scratch = ev.per_run("test_acc", {"student": "scratch", "our_epoch": last})
    agree = ev.curve("agreement", at, "alpha").mean(axis=1)
    means = curve.mean(axis=1)
    best = float(means.idxmax())
    diff = (curve.loc[best] - scratch).to_numpy(dtype=float)
    i = metrics.interval(diff, (-1.0, 1.0))
    if not i.decided:
        beats = "one run cannot tell whether that beats the scratch student"
    elif i.low > 0:
        beats = "better than the scratch student (the paired interval lies above 0)"
    elif i.high < 0:
        beats = "worse than the scratch student (the paired interval lies below 0)"
    else:
        beats = "not distinguishable from the scratch student (the paired interval includes 0)"
    acc = (0.0, 1.0)
    teacher = float(r.teacher["test_acc"].iloc[0])
    return (f"In {name}, the teacher scores {teacher:.3f} on the test set. After {last:,} "
            f"epochs the best distilled student is at alpha = {best:g}, with "
            f"{ci_text(curve.loc[best].to_numpy(dtype=float), bounds=acc)}: {beats} "
            f"({ci_text(scratch.to_numpy(dtype=float), bounds=acc)}; paired difference "
            f"{i.text()}). Across alpha, mean accuracy runs from {means.min():.3f} (alpha = "
            f"{float(means.idxmin()):g}) to {means.max():.3f}. Agreement with the teacher is "
            f"highest at alpha = {float(agree.idxmax()):g} ({agree.max():.3f}) and lowest at "
            f"alpha = {float(agree.idxmin()):g} ({agree.min():.3f}).")


def discussion(r: Results, tables: dict[str, pd.DataFrame], committed: Results | None) -> str:
    """A few sentences for the chapter's discussion, computed from this build's run and,
    where it exists, the committed paper-scale run (which judges the counted verdicts)."""
    parts = []
    if committed is not None:
        parts.append(_paragraph(committed, run_description(committed, committed=True)))
    parts.append(_paragraph(r, run_description(r)))
    card = claims.independent(tables["primary"])
    total = int(card.sum())
    counted = ", ".join(f"{int(card[v])} {v}" for v in claims.VERDICTS if card[v])
    judged_by = ("judged at the source's scale by the committed run where it can judge them, "
                 "else by this build's run" if committed is not None else "judged by this build's "
                 "run; the absolute numbers wait for a run at the source's scale")
    parts.append(f"Counted as independent tests (claims that share one measurement count "
                 f"once, also across the two sources), the claims make {total}: {counted}; "
                 f"{judged_by}.")
    if "robust" in tables["default"]:
        d = tables["default"]
        judged_here = d[~d["verdict"].isin([claims.NOT_COMPARABLE, claims.NOT_TESTABLE])]
        parts.append(f"Of the {len(judged_here)} claims this build's run judges, "
                     f"{int(judged_here['robust'].sum())} get the same verdict under every "
                     "reading of the report (the reading columns of its table).")
    return "\n\n".join(parts)


def teacher_note(p: AlphaParams) -> str:
    """How the teacher is trained, in one sentence."""
    data_text = ("the first 55,000 clean training images" if p["teacher_data"] == "full"
                 else "the students' noisy training images")
    return (f"Teacher: {p['teacher_epochs']:,} epoch(s) on {data_text}, all of them (its "
            f"accuracy on the last {VALIDATION:,} training images, never trained on, is "
            "recorded and never used to stop it).")


def scale_note(p: AlphaParams) -> str:
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


CHAPTER = Chapter(
    name="alpha", params=AlphaParams, run=run, judged=judged, evidence_for=evidence_for,
    sources=SOURCES, plan=plan,
    example="papermill notebooks/alpha.ipynb out.ipynb -p profile quick -p temperature 5")
