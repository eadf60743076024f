"""What the IISc chapter (seed 002) says: scale note, tables, figures and discussion, written from
results. Kept apart from :mod:`kdlib.experiments.iisc` so that rewording the chapter does not
change the cache key of its results.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kdlib import claims, metrics, plots
from kdlib.experiments.iisc import (
    BASELINE_ROW,
    PAPER_TEACHER,
    TABLE1,
    Results,
    comparison_params,
    run,
)
from kdlib.metrics import ci_text, mean_ci
from kdlib.results import Cache, summarize

__all__ = ["accuracy_figure", "compare_frameworks", "comparison_note", "cost_table",
           "discussion", "lemma1_figure", "lemma1_text", "lemma2_figure", "lemma2_text",
           "mnist_meaning", "overlap_figure", "ratio_figure", "scale_note", "table1",
           "teacher_table", "timing_text", "tolerance_note"]


def scale_note(p: dict[str, Any]) -> str:
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


def comparison_note(p: dict[str, Any]) -> str:
    """The scale of the framework comparison."""
    q = comparison_params(p, "torch")
    return "\n".join([
        "```{admonition} Scale of this comparison",
        ":class: note",
        f"{q['n_train']:,} training images, rows {', '.join(map(str, q['rows']))} (the three "
        f"student sizes), {q['seeds']} seed(s) per framework; no timing.",
        "```"])


def compare_frameworks(p: dict[str, Any], cache: Cache | None = None) -> pd.DataFrame:
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


def _tolerances() -> tuple[float, float]:
    """The claims file's tolerance for the rows' accuracies (absolute) and for their time and
    inference ratios (relative), so the text states the rule the verdicts used."""
    rows = [c for c in claims.load("002") if c.id.startswith("row") and not c.untestable]
    acc = {c.tolerance for c in rows if c.id.endswith("-accuracy")}
    rel = {c.rel_tolerance for c in rows if not c.id.endswith("-accuracy")}
    if len(acc) != 1 or len(rel) != 1:
        raise ValueError("data/claims/002.yaml: Table 1 claims must share their tolerances")
    return acc.pop(), rel.pop()


def tolerance_note() -> str:
    """How the claims table judges Table 1, from the claims file."""
    acc, rel = _tolerances()
    return (f"Accuracies count as reproduced within {acc:g}; training times (as ratios to row "
            f"{BASELINE_ROW}'s) and inference ratios within {rel:.0%}. *Inconclusive* means the "
            "95% interval of a difference includes zero.")


def _inference_summary(r: Results, claims_table: pd.DataFrame) -> str:
    """The inference-time paragraph of the discussion, from the ratio claims' verdicts."""
    verdict = dict(zip(claims_table["claim"], claims_table["verdict"], strict=True))
    ratio_rows = [c for c in verdict if c.startswith("row") and c.endswith("-inference-ratio")]
    held = sum(verdict[c] == "holds" for c in ratio_rows)
    small = min(int(m.split()[1]) for m in r.cost["model"] if m != "teacher")
    met = [kind for kind, claim in (("at batch 1", "aim-latency"), ("in batches", "aim-throughput"))
           if verdict.get(claim) == "holds"]
    aim = (f"The paper's aim of a 10-100x faster student is met {' and '.join(met)} by the "
           f"{small}-unit student." if met else
           "The paper's aim of a 10-100x faster student is not met by any student here.")
    return (f"**Inference time.** {held} of {len(ratio_rows)} of the paper's ratios reproduce "
            f"within {_tolerances()[1]:.0%}. Measured as medians of interleaved rounds, the "
            f"{small}-unit student is {_median_ratio(r, 'latency', small):.1f}x faster per "
            "image at batch 1 and "
            f"{_median_ratio(r, 'throughput', small):.1f}x in batches, against a FLOPs ratio of "
            f"{_flops_ratio(r, small):.0f}x. {aim}")


def _flops_ratio(r: Results, hidden: int) -> float:
    cost = r.cost.set_index("model")["flops"]
    return float(cost["teacher"] / cost[f"student {hidden}"])


def discussion(r: Results, claims_table: pd.DataFrame) -> str:
    """The chapter's discussion, written from the results and the claims table."""
    verdict = dict(zip(claims_table["claim"], claims_table["verdict"], strict=True))
    counts = claims_table["verdict"].value_counts()
    acc = [c for c in verdict if c.startswith("row") and c.endswith("-accuracy")]
    means = r.students.groupby("row")["test_acc"].mean()
    labels = ("holds" if verdict.get("labels-from-teacher") == "holds" else
              "does not hold here")
    lemma = [c for c in verdict if c.startswith(("lemma1", "lemma2"))]
    lemma_ok = all(verdict[c] == "holds" for c in lemma)
    return (
        f"**Table 1.** {sum(verdict[c] == 'holds' for c in acc)} of {len(acc)} row "
        f"accuracies reproduce within {100 * _tolerances()[0]:g} points. Students that never see "
        "a label reach "
        f"{means.min():.2%} to {means.max():.2%} (row means), against a teacher of "
        f"{r.teachers['test_acc'].mean():.2%}: the paper's point that a teacher can stand in "
        f"for labels {labels}. Size, temperature, epochs and batch size move the row means "
        f"within {100 * (means.max() - means.min()):.1f} percentage points of each other.\n\n"
        + _inference_summary(r, claims_table) + "\n\n"
        + "**The lemmas.** "
        + ("All the lemma claims hold in simulation, as they must: Lemma 1 is Jensen's "
           "inequality and Lemma 2 a bias-variance split. " if lemma_ok else
           "Not every lemma claim holds in this simulation (see the claims table). ")
        + "The simulation adds what the paper leaves as O(·): how large the teacher-quality "
        "term is, and that it does not shrink with more data."
        + (" One sentence of the paper does not hold as written: the Bayes-distilled risk is "
           "not *less* than the empirical risk, only less variable."
           if verdict.get("bayes-risk-less") != "holds" else "")
        + f"\n\n**Scorecard.** {counts.get('holds', 0)} claims hold, "
        f"{counts.get('contradicted', 0)} are contradicted, "
        f"{counts.get('inconclusive', 0)} are inconclusive, "
        f"{counts.get('not comparable at this scale', 0)} are absolute numbers of part 2 not "
        f"comparable at this run's scale, and {counts.get('not testable here', 0)} cannot be "
        "tested here.")
