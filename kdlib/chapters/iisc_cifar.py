"""What part 2 of the IISc chapter (CIFAR-10, Table 2) says: its evidence for the claims (rows
of the chapter's one evidence table, :mod:`kdlib.chapters.iisc`), scale note, Table 2 side by
side, the accuracy/speed trade-off, and a discussion written from the results."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from kdlib import claims, plots
from kdlib.experiments.iisc import IiscParams
from kdlib.experiments.iisc_cifar import BASELINE_ROW, IDEAL_ROW, TABLE2, Part2, _arch
from kdlib.metrics import ci_text, mean_ci

__all__ = ["NET", "NOT_RUN", "discussion", "evidence_rows", "scale_note", "source_scale",
           "table2", "teacher_text", "timing_source_scale", "tradeoff_figure"]

# Each row's network, named by the first row of Table 2 that trains it: an inference-time
# ratio is a property of a network, so rows 5, 7, 8, 9 (and our row 10) share net 5's.
NET = {int(row): int(min(r for r in TABLE2.index if _arch(r) == _arch(row)))
       for row in TABLE2.index}
PAPER_ROWS = tuple(int(r) for r in TABLE2.dropna(subset=["accuracy"]).index)  # 1-9 (10: ours)


def source_scale(p: IiscParams) -> bool:
    """Whether part 2's students train at the paper's scale: its networks' widths on all the
    training images, tested on all the test images (the paper gives no epochs)."""
    return (p["cifar_width"] == 1.0 and p["cifar_n_train"] == 50000
            and p["cifar_n_test"] == 10000)


def timing_source_scale(p: IiscParams) -> bool:
    """Whether part 2's inference times are of the paper's networks (full width)."""
    return p["cifar_timing_width"] == 1.0


def evidence_rows(r: Part2, kind: str = "latency") -> list[dict[str, Any]]:
    """Part 2 as rows of the chapter's evidence (``table`` 2): the teacher's accuracy (its
    seed), each row's accuracy, agreement, KL and training time (per seed), and each network's
    inference-time ratio teacher / student (per timing round; ``kind``: ``latency``, one image
    per call, or ``throughput``, in batches)."""
    p = r.params
    scale = source_scale(p)
    rows: list[dict[str, Any]] = [{
        "metric": "teacher_acc", "table": 2, "run": int(p["cifar_teacher_seed"]),
        "value": float(r.teacher["test_acc"].iloc[0]), "source_scale": scale}]
    for rec in r.students.to_dict("records"):
        for m in ("test_acc", "agreement", "kl_to_teacher", "train_seconds"):
            rows.append({"metric": m, "table": 2, "row": int(rec["row"]),
                         "run": int(rec["seed"]), "value": float(rec[m]),
                         "source_scale": scale})
    timed = timing_source_scale(p)
    arch_net = {_arch(row): net for row, net in NET.items()}
    for rnd, ratios in r.ratios(kind).iterrows():
        for arch, value in ratios.items():
            rows.append({"metric": "inference_ratio", "table": 2, "net": arch_net[arch],
                         "network": arch, "run": int(rnd), "value": float(value),
                         "source_scale": timed})
    return rows


def _planes(width: float) -> str:
    return " / ".join(str(max(1, round(64 * width)) * 2**i) for i in range(4))


def scale_note(p: IiscParams) -> str:
    """A MyST admonition: the scale of part 2 and the choices the paper leaves open."""
    full = p["cifar_width"] == 1.0 and p["cifar_n_train"] == 50000
    scale = ("the paper's architectures at full width" if full else
             f"narrower than the paper's: width multiplier {p['cifar_width']:g}, so the four "
             f"stages have {_planes(p['cifar_width'])} planes instead of "
             f"{_planes(1.0)}")
    return "\n".join([
        "```{admonition} Scale of part 2",
        ":class: " + ("note" if full else "warning"),
        f"Profile **{p['profile']}**: {scale}; the teacher trains {p['cifar_teacher_epochs']} "
        f"epoch(s) and each student {p['cifar_epochs']} epoch(s) on the first "
        f"{p['cifar_n_train']:,} of the 50,000 official training images, or "
        f"{p['cifar_reduced_epochs']} epoch(s) on the reduced set (the first "
        f"{p['cifar_reduced_per_class']} images of each class); all evaluated on the first "
        f"{p['cifar_n_test']:,} official test images, over {p['cifar_seeds']} seed(s) (one "
        "teacher for all). The paper gives no epochs or schedule. "
        + ("The students train at the paper's widths on all its data, so the claims table "
           "judges their absolute numbers too. " if source_scale(p) else
           "Absolute numbers of such a run (accuracies, training times) are not comparable "
           "with the paper's: the claims table says so, and judges the relative claims (with "
           "and without KD, full and reduced data, the block variants). ")
        + f"Inference times are measured on the networks at width {p['cifar_timing_width']:g} "
        f"({_planes(p['cifar_timing_width'])} planes; 1 is the paper's), whose weights do not "
        f"change their time: medians over {p['cifar_rounds']} interleaved rounds"
        + ("; at the paper's width, the claims table judges the inference ratios."
           if timing_source_scale(p) else "; narrower than the paper's, so the claims table "
           "does not compare the inference ratios with the paper's."),
        "",
        "What we implement, where the paper is unclear: the loss is response-based, "
        f"alpha x cross-entropy + (1 - alpha) x T² x KL to the teacher's softmax, with alpha = "
        f"{p['cifar_alpha']:g} and T = {p['cifar_temperature']:g} (the paper's formulas, "
        "`cls_loss + div_loss`, halved; its words \"feature-based\" and \"quantized\" match no "
        f"formula it gives). Students are ResNet-18's family ({p['cifar_student_block']} "
        "blocks; the baseline is ResNet-18, blocks [2, 2, 2, 2]); \"the stride of the base "
        "block\" is the stride of the first convolution. SGD with Nesterov momentum 0.9, weight "
        f"decay 5e-4, learning rate {p['cifar_learning_rate']:g} decayed along a cosine, batch "
        f"{p['cifar_batch_size']}; random crops (padding 4) and horizontal flips. The teacher "
        "sees exactly the augmented view each student sees: its outputs are computed on the "
        "fly, once per batch, for all the students of a seed, which train together on the "
        "same batches.",
        "```",
    ])


NOT_RUN = "Part 2 was not run (`cifar = False`)."


def teacher_text(r: Part2 | None) -> str:
    """The teacher's accuracy and training time, in a sentence."""
    if r is None:
        return NOT_RUN
    t = r.teacher.iloc[0]
    return (f"Our ResNet-50 teacher reaches a test accuracy of {t['test_acc']:.3f} after "
            f"{r.params['cifar_teacher_epochs']} epoch(s) ({t['train_seconds'] / 60:.1f} min of "
            "training here); the paper does not report its teacher's accuracy.")


def _ci(values: np.ndarray, digits: int) -> str:
    return ci_text(values, digits)


def table2(r: Part2 | None) -> pd.DataFrame:
    """Table 2 as printed beside ours: accuracy, training time as a ratio to the baseline's,
    and the inference-time ratio (ours: latency at batch 1, in batches, and FLOPs)."""
    if r is None:
        return TABLE2.drop(columns=["blocks", "stride", "loss", "train_set"])
    cost = r.cost.set_index("model")["flops"]
    latency, batched = r.ratios("latency"), r.ratios("throughput")
    base = r.row(BASELINE_ROW, "train_seconds")
    rows = []
    for row, paper in TABLE2.iterrows():
        acc, secs = r.row(row, "test_acc"), r.row(row, "train_seconds")
        if acc is None:
            continue
        arch = _arch(row)
        rows.append({
            "row": row, "student": paper["student"],
            "accuracy (paper)": "—" if np.isnan(paper["accuracy"]) else
            f"{paper['accuracy']:.3f}",
            "accuracy (ours)": _ci(acc, 3),
            "training time / baseline's (paper)": "—" if np.isnan(paper["train_seconds"]) else
            f"{paper['train_seconds'] / TABLE2.loc[BASELINE_ROW, 'train_seconds']:.2f}",
            "(ours)": _ci(secs / base, 2),
            "inference ratio (paper)": "—" if np.isnan(paper["inference_ratio"]) else
            f"{paper['inference_ratio']:.2f}",
            "(ours, batch 1)": _ci(latency[arch].to_numpy(), 2),
            "(ours, batched)": _ci(batched[arch].to_numpy(), 2),
            "(FLOPs)": f"{cost['teacher'] / cost[arch]:.1f}",
        })
    return pd.DataFrame(rows).set_index("row")


def tradeoff_figure(r: Part2 | None):
    """Accuracy against the inference-time ratio teacher/student at batch 1, one point per
    student (95% CIs: accuracy over seeds, ratio over timing rounds); the paper's points, on
    the same axes, on the right."""
    if r is None:
        return None
    ratios = r.ratios("latency")
    points = []
    for row in TABLE2.index:
        acc = r.row(row, "test_acc")
        if acc is None:
            continue
        a, a_lo, a_hi = mean_ci(acc)
        t, t_lo, t_hi = mean_ci(ratios[_arch(row)].to_numpy())
        points.append({"row": row, "set": TABLE2.loc[row, "train_set"],
                       "loss": TABLE2.loc[row, "loss"], "acc": a, "acc_err": (a - a_lo, a_hi - a),
                       "ratio": t, "ratio_err": (t - t_lo, t_hi - t)})
    plots.style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    palette = dict(zip(["kd", "none", "soft"], sns.color_palette("colorblind", 3), strict=True))
    ax = axes[0]
    for pt in points:
        ax.errorbar(pt["ratio"], pt["acc"], xerr=np.array(pt["ratio_err"])[:, None],
                    yerr=np.array(pt["acc_err"])[:, None],
                    fmt="o" if pt["set"] == "full" else "s", color=palette[pt["loss"]],
                    capsize=3)
        ax.annotate(str(pt["row"]), (pt["ratio"], pt["acc"]), textcoords="offset points",
                    xytext=(5, 4), fontsize=9)
    ax.axhline(float(r.teacher["test_acc"].iloc[0]), color="0.3", linestyle="--", linewidth=1)
    ax.set_xlabel(f"inference-time ratio teacher / student, batch 1 (ours, width "
                  f"{r.params['cifar_timing_width']:g})")
    ax.set_ylabel("test accuracy (ours)")
    ax.set_title("ours: KD (blue), no KD (orange), teacher only (green);\n"
                 "squares: reduced set; dashed: our teacher", fontsize=9)
    ax = axes[1]
    paper = TABLE2.dropna(subset=["accuracy"])
    for row, pt in paper.iterrows():
        ax.plot(pt["inference_ratio"], pt["accuracy"], "o" if pt["train_set"] == "full" else "s",
                color=palette[pt["loss"]])
        ax.annotate(str(row), (pt["inference_ratio"], pt["accuracy"]),
                    textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set_xlabel("inference-time ratio teacher / student (paper)")
    ax.set_ylabel("test accuracy (paper)")
    ax.set_title("the paper's Table 2", fontsize=9)
    fig.tight_layout()
    plt.close(fig)  # returned, not drawn: the notebook shows it once as the cell's value
    return fig


def _minus(r: Part2, row: int, other: int) -> np.ndarray:
    """Accuracy of ``row`` minus that of ``other``, paired by seed."""
    return r.row(row, "test_acc") - r.row(other, "test_acc")


def _counts(table: pd.DataFrame) -> str:
    """Independent tests by verdict, in words (claims sharing a measurement count once)."""
    card = claims.scorecard(table).sum()
    return ", ".join(f"{int(card[v])} {v}" for v in claims.VERDICTS if card[v])


def discussion(r: Part2 | None, claims_table: pd.DataFrame) -> str:
    """What part 2 found, from the numbers and the verdicts."""
    if r is None:
        return NOT_RUN
    part = claims_table[claims_table["claim"].str.startswith("t2-")]
    gain_full, gain_reduced = _minus(r, IDEAL_ROW, 7), _minus(r, 8, 9)
    soft = _minus(r, 10, 7)
    cost = r.cost.set_index("model")["flops"]
    flops = cost["teacher"] / cost.drop("teacher")
    latency, batched = r.ratios("latency").median(), r.ratios("throughput").median()
    s2, s4 = _arch(IDEAL_ROW), _arch(6)
    words = []
    teacher_acc = float(r.teacher["test_acc"].iloc[0])
    acc = TABLE2["accuracy"]
    acc_range = (0.0, 1.0)
    diff_range = (-1.0, 1.0)
    words.append(
        f"On the full training set, the ideal student gains {ci_text(gain_full, 3, diff_range)} "
        f"in accuracy from the KD loss (the paper: {acc[IDEAL_ROW] - acc[7]:+.3f}); on the "
        f"reduced set {ci_text(gain_reduced, 3, diff_range)} (the paper: "
        f"{acc[8] - acc[9]:+.3f}), with a teacher of {teacher_acc:.3f} accuracy. A student of "
        "ours that never sees a label (row 10, not in the paper), taught by the teacher's "
        f"outputs alone, is {ci_text(soft, 3, diff_range)} from the one trained on the labels "
        f"without KD (row 7, {ci_text(r.row(7, 'test_acc'), 3, acc_range)}).")
    rank = {kind: float(pd.Series(v[flops.index]).corr(flops, method="spearman"))
            for kind, v in (("batch 1", latency), ("batched", batched))}
    arch = [_arch(row) for row in TABLE2.index]
    same = TABLE2.loc[[a == s2 for a in arch], "inference_ratio"].dropna()
    paper_s2, paper_s4 = TABLE2.loc[IDEAL_ROW, "inference_ratio"], TABLE2.loc[6, "inference_ratio"]
    words.append(
        f"Speed: the stride-2 stem makes the ideal student {latency[s2]:.1f}x faster than the "
        f"teacher per image at batch 1 and {batched[s2]:.1f}x in batches "
        f"({flops[s2]:.0f}x fewer FLOPs); the stride-4 stem {latency[s4]:.1f}x and "
        f"{batched[s4]:.1f}x ({flops[s4]:.0f}x fewer FLOPs), at width "
        f"{r.params['cifar_timing_width']:g}. Across the six networks the rank correlation of "
        f"speed-up and FLOPs ratio is {rank['batch 1']:.2f} at batch 1 and "
        f"{rank['batched']:.2f} in batches. The paper has the stride-4 student "
        f"{'slower' if paper_s4 < paper_s2 else 'faster'} ({paper_s4:g}x) than the stride-2 "
        f"one ({paper_s2:g}x), and gives the same network (rows "
        f"{', '.join(map(str, same.index))}) {len(same)} ratios from {same.min():g}x to "
        f"{same.max():g}x.")
    words.append(
        f"Part 2's {len(part)} claims make {int(claims.scorecard(part).sum().sum())} "
        f"independent tests (rows that print one measurement count once): {_counts(part)}. "
        "Absolute numbers (accuracies, training times, and inference ratios when the networks "
        "are timed narrower than the paper's) wait for a run at the paper's scale.")
    return "\n\n".join(words)
