"""What the teacher-architecture chapter (seed 003) says: scale note, the networks beside
Table 1, the teachers, Table 2 side by side, the sweeps and curves as figures, fidelity, and a
discussion written from the results."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator
from pandas.io.formats.style import Styler
from torch import nn

from kdlib.cifar_models import MODELS, madds
from kdlib.cifar_models import TABLE1 as MODELS_TABLE1
from kdlib.experiments.teachers import (
    SCRATCH_ROW,
    STUDENT,
    SWEEPS,
    TABLE2,
    TEACHER_ROWS,
    TEACHERS,
    Results,
    label,
)
from kdlib.metrics import ci_text, format_ci, mean_ci
from kdlib.models import n_params
from kdlib.results import summarize

__all__ = ["architecture_table", "curves_figure", "data_name", "discussion", "fidelity_text",
           "scale_note", "student_gap_text", "sweeps_figure", "table2", "teacher_table"]

_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


def data_name(p: dict[str, Any]) -> str:
    """The data set in words, with the stand-in flagged."""
    if p["dataset"] == "cifar100":
        return "CIFAR-100" + (" (coarse labels)" if p["labels"] == "coarse" else "")
    return "CIFAR-10 (stand-in for the paper's CIFAR-100)"


def scale_note(p: dict[str, Any]) -> str:
    """A MyST admonition: the data set, the scale of this run and the choices the paper
    leaves open."""
    paper = (p["dataset"] == "cifar100" and p["width"] == 1.0 and p["n_train"] >= 45000
             and p["epochs"] >= 300)
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
        f"training images; early stopping watches the last {p['n_val']:,} training images; all "
        f"evaluated on the first {p['n_test']:,} official test images, over {p['seeds']} "
        "seed(s) (one set of teachers for all). Absolute accuracies of a run this small are "
        "not the paper's: the claims table says so.")
    lines += [
        "",
        "What we implement where the paper is silent: function matching as Beyer et al. "
        "define it, the KL divergence from the teacher's softened outputs to the student's at "
        "temperature T (times T²), no labels (in this book's convention `alpha = 0`: `alpha` "
        "weights the hard-label loss, 1 - alpha the T²-scaled KL; Hinton's λ = 1 - α); random "
        "crops (padding 4) and flips, then mixup of the batch with a shuffled copy of itself "
        f"(one weight per batch from Beta({p['mixup']:g}, {p['mixup']:g})); teacher and "
        "students see the identical mixed image. Adam (torch's defaults) with the row's "
        f"learning rate decayed along a cosine, batch {p['batch_size']}. Teachers: SGD, "
        f"Nesterov momentum 0.9, weight decay 5e-4, learning rate {p['teacher_lr']:g} along "
        "a cosine, crops and flips, on the labels. The student's batch norm updates its "
        f"running statistics with momentum {p['bn_momentum']:g} (torchvision's MobileNetV3: "
        "0.01, meant for long schedules; after a few epochs such statistics lag so far "
        "behind the weights that the student evaluates at chance, though it is well above "
        "chance with the batch's own statistics). The baseline learns the labels "
        "(cross-entropy) without mixup and keeps its best epoch on the validation images. "
        "Every student of a seed starts from the same weights; the mixup students of a seed "
        "train together on the same batches, each teacher computing its outputs once per "
        "batch.",
        "```"]
    return "\n".join(lines)


def _caption(R: Results, text: str) -> str:
    return f"{text} Data: {data_name(R.params)}; profile {R.params['profile']}."


def architecture_table(R: Results) -> Styler:
    """Our four networks beside Table 1 (width 1, 100 classes), and as this run built them."""
    s = R.sizes.copy()
    small = R.teachers.set_index("teacher")
    p = R.params
    s["role"] = ["teacher 1", "teacher 2", "teacher 3", "student"]
    run_width = {name: (small.loc[name, "params_m"], small.loc[name, "madds_m"])
                 for name in TEACHERS}
    classes = 10 if p["dataset"] == "cifar10" else 100 if p["labels"] == "fine" else 20
    student = MODELS[STUDENT](classes=classes, width=R.params["width"])
    run_width[STUDENT] = (n_params(student) / 1e6, madds(student) / 1e6)
    out = pd.DataFrame({
        "role": s["role"], "model": s["model"],
        "params (M), Table 1": s["paper_params_m"], "params (M), ours": s["params_m"].round(3),
        "MAdds (M), Table 1": s["paper_madds_m"], "MAdds (M), ours": s["madds_m"].round(2),
        f"params (M) as run (x{R.params['width']:g}, {classes} classes)":
            [round(run_width[m][0], 3) for m in s["model"]],
        "MAdds (M) as run": [round(run_width[m][1], 2) for m in s["model"]]})
    return out.style.hide(axis="index").format(precision=3).set_caption(
        "Table 1 beside our networks at width 1 and 100 classes (computed, not trained), and "
        "the networks this run trained.")


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


def teacher_table(R: Results) -> Styler:
    """Each teacher: its own test accuracy here, its training time, and its student's."""
    rows = []
    for name, row in zip(TEACHERS, TEACHER_ROWS, strict=True):
        t = R.teachers.set_index("teacher").loc[name]
        acc = R.by_seed(row, "test_acc")
        agree = R.by_seed(row, f"agree_{name}")
        rows.append({"teacher": name, "Table 1 top-1 (CIFAR-100, pretrained)":
                     f"{R.sizes.set_index('model').loc[name, 'paper_top1']:.4f}",
                     "params (M), MAdds (M) as run":
                         f"{t['params_m']:.3f}, {t['madds_m']:.2f}",
                     "teacher's test accuracy (ours)": f"{t['test_acc']:.3f}",
                     "teacher training (s)": f"{t['train_seconds']:.0f}",
                     "its student's accuracy (T=5)": ci_text(acc),
                     "student-teacher agreement": ci_text(agree)})
    return pd.DataFrame(rows).style.hide(axis="index").set_caption(_caption(
        R, "The teachers, trained here once, and the students they taught (Table 2 rows 2-4; "
        "mean [95% CI] over seeds)."))


def table2(R: Results) -> Styler:
    """Table 2 side by side: the paper's accuracy and ours, with fidelity and epochs."""
    rows = []
    for row in TABLE2.index:
        r = TABLE2.loc[row]
        teacher = r["teacher"]
        agree = (R.by_seed(row, f"agree_{teacher}") if isinstance(teacher, str) else None)
        epochs = R.by_seed(row, "best_epoch")
        rows.append({"row": row, "teacher": teacher if isinstance(teacher, str) else
                     "trained from scratch", "mixup": "Y" if r["mixup"] else "N",
                     "lr": f"{r['lr']:g}", "T": "NA" if np.isnan(r["temperature"]) else
                     f"{r['temperature']:g}", "paper (CIFAR-100)": f"{r['accuracy']:.4f}",
                     "ours: accuracy": ci_text(R.by_seed(row, "test_acc")),
                     "ours: agreement with its teacher": "—" if agree is None else
                     ci_text(agree),
                     "epochs kept": ", ".join(str(int(e)) for e in epochs)})
    return pd.DataFrame(rows).style.hide(axis="index").set_caption(_caption(
        R, "Table 2 beside ours: mean [95% CI] over seeds of top-1 test accuracy and of "
        "top-1 agreement with the row's teacher; 'epochs kept' is per seed (the baseline "
        "keeps its best epoch)."))


def _points(ax: plt.Axes, xs: list[Any], s: pd.DataFrame, color: Any, name: str) -> None:
    ax.errorbar(range(len(xs)), s["mean"], yerr=[(s["mean"] - s["ci_low"]).fillna(0),
                                                 (s["ci_high"] - s["mean"]).fillna(0)],
                fmt="o-", capsize=3, color=color, label=name)
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])


def sweeps_figure(R: Results) -> plt.Figure:
    """The four sweeps of the paper's section 5.3: test accuracy (mean, 95% CI) per
    configuration, with the baseline (dashed) and, for the teachers, their own accuracy."""
    s = summarize(R.students, ["row"], "test_acc").set_index("row")
    base = s.loc[SCRATCH_ROW]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8), sharey=True)
    pal = sns.color_palette("viridis", 3)
    panels = [
        ("teacher (T=5)", list(TEACHER_ROWS), [n.split("_")[0] for n in TEACHERS]),
        ("temperature", list(SWEEPS["temperature"]), [2, 5, 10]),
        ("learning rate", None, None),
        ("mixup (T=10)", list(SWEEPS["mixup"]), ["with", "without"]),
    ]
    for ax, (title, rows, xs) in zip(axes, panels, strict=True):
        if rows is None:  # two pairs: T = 10 (0.001, 0.01) and T = 5 (0.001, 0.003)
            for color, pair, name in ((pal[0], (6, 7), "T=10"), (pal[2], (4, 8), "T=5")):
                _points(ax, ["0.001", "higher"], s.loc[list(pair)], color, name)
            ax.set_xticks([0, 1], ["0.001", "0.01 (T=10)\n0.003 (T=5)"])
            ax.legend(frameon=False, fontsize=8)
        else:
            _points(ax, xs, s.loc[rows], pal[1], "student")
        if title.startswith("teacher"):
            own = R.teachers.set_index("teacher").loc[list(TEACHERS), "test_acc"]
            ax.plot(range(3), own.to_numpy(), "s", color="0.3", label="teacher itself")
            ax.legend(frameon=False, fontsize=8)
        ax.axhline(base["mean"], color="0.5", linestyle="--", linewidth=1)
        if pd.notna(base["ci_low"]):
            ax.axhspan(base["ci_low"], base["ci_high"], color="0.5", alpha=0.15, linewidth=0)
        ax.set_title(title)
    axes[0].set_ylabel("test accuracy")
    fig.suptitle(f"Sweeps ({data_name(R.params)}); dashed: the baseline trained from scratch",
                 fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def curves_figure(R: Results, metric: str = "test_acc") -> plt.Figure:
    """Test accuracy (or loss) against epoch, mean and 95% band over seeds, one panel per
    sweep (the paper's figures 6-11)."""
    s = summarize(R.curves, ["row", "epoch"], metric)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8), sharey=True)
    for ax, (title, rows) in zip(axes, SWEEPS.items(), strict=True):
        pal = sns.color_palette("viridis", len(rows))
        for color, row in zip(pal, rows, strict=True):
            g = s[s["row"] == row].sort_values("epoch")
            ax.plot(g["epoch"], g["mean"], "o-", color=color, label=label(row), markersize=3)
            ax.fill_between(g["epoch"], g["ci_low"], g["ci_high"], color=color, alpha=0.2,
                            linewidth=0)
        ax.set_title(f"{title} sweep")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(frameon=False, fontsize=7)
    axes[0].set_ylabel({"test_acc": "test accuracy", "test_loss": "test cross-entropy"}[metric])
    fig.tight_layout()
    plt.close(fig)
    return fig


def fidelity_text(R: Results) -> str:
    """Does the most accurate teacher also give the most faithful student?"""
    acc = R.teachers.set_index("teacher")["test_acc"]
    best_teacher = acc.idxmax()
    fidelity = {name: R.by_seed(row, f"agree_{name}")
                for name, row in zip(TEACHERS, TEACHER_ROWS, strict=True)}
    faithful = max(fidelity, key=lambda n: fidelity[n].mean())
    student = {name: R.by_seed(row, "test_acc")
               for name, row in zip(TEACHERS, TEACHER_ROWS, strict=True)}
    best_student = max(student, key=lambda n: student[n].mean())
    parts = [f"The most accurate teacher here is **{best_teacher}** ({acc[best_teacher]:.3f}); "
             f"the student that agrees most with its own teacher is **{faithful}**'s "
             f"({ci_text(fidelity[faithful])} top-1 agreement), and the most accurate student "
             f"is **{best_student}**'s ({ci_text(student[best_student])})."]
    parts.append("So the most accurate teacher " + (
        "also gives the most faithful student." if best_teacher == faithful else
        "does not give the most faithful student."))
    rows = [f"{n}: {ci_text(fidelity[n])}" for n in TEACHERS]
    parts.append("Agreement with the own teacher, by teacher: " + "; ".join(rows) + ".")
    return " ".join(parts)


def discussion(R: Results, C: pd.DataFrame) -> str:
    """A few paragraphs written from this run's numbers and verdicts."""
    v = C.set_index("claim")["verdict"]
    s = summarize(R.students, ["row"], "test_acc").set_index("row")

    def acc(row: int) -> str:
        r = s.loc[row]
        return format_ci(r["mean"], r["ci_low"], r["ci_high"])

    gains = (R.students.pivot(index="seed", columns="row", values="test_acc")
             .sub(R.students[R.students["row"] == SCRATCH_ROW].set_index("seed")["test_acc"],
                  axis=0).drop(columns=SCRATCH_ROW))
    beat = int((gains.mean() > 0).sum())
    mean, lo, hi = mean_ci(R.values("worst_gain_over_scratch", {}))
    counts = C["verdict"].value_counts()
    classes = (10 if R.params["dataset"] == "cifar10" else
               100 if R.params["labels"] == "fine" else 20)
    weak = [n for n, a in R.teachers.set_index("teacher")["test_acc"].items()
            if a < 1.5 / classes]
    weak_text = (" " + ", ".join(weak) + (" is" if len(weak) == 1 else " are") +
                 f" barely above chance (1/{classes}) at this scale, and a faithful student of "
                 "a teacher that has learned little learns little: the teacher's own accuracy "
                 "caps what function matching can transfer." if weak else "")
    paras = [
        f"**Distillation against the baseline.** The baseline trained on the labels reaches "
        f"{acc(SCRATCH_ROW)}; {beat} of the 8 distilled configurations beat it on average. The "
        f"worst distilled row of each seed minus that seed's baseline is "
        f"{format_ci(mean, lo, hi)}: the paper's 'all distilled models beat the baseline' "
        f"{_verb(v['distilled-beat-scratch'])}.",
        f"**Teachers.** With T = 5, the students of ResNet-44, VGG11-BN and MobileNetV2 reach "
        f"{acc(2)}, {acc(3)} and {acc(4)}; the teachers themselves "
        + ", ".join(f"{a:.3f}" for a in R.teachers.set_index("teacher").loc[list(TEACHERS),
                                                                              "test_acc"])
        + f".{weak_text} MobileNetV2's student over VGG's "
        f"{_verb(v['teacher-choice-matters'])}; the "
        f"architecturally closest teacher being best {_verb(v['closest-teacher-best'])}, and "
        f"the most accurate teacher's student beating the second's "
        f"{_verb(v['most-accurate-teacher-best'])}. " + fidelity_text(R),
        f"**Temperature, learning rate, mixup.** T = 2, 5, 10 give {acc(5)}, {acc(4)}, "
        f"{acc(6)}: T = 10 best {_verb(v['temperature-10-best'])}, T = 10 over T = 2 "
        f"{_verb(v['higher-temperature-helps'])}. At T = 10, learning rate 0.01 gives "
        f"{acc(7)} against {acc(6)} at 0.001 (the paper's 'ends higher' "
        f"{_verb(v['lr-001-ends-higher'])}; 'noisier' {_verb(v['lr-001-noisier'])}). Without "
        f"mixup the student reaches {acc(9)}, with it {acc(6)}: 'better without mixup' "
        f"{_verb(v['no-mixup-better'])}. Accuracy still rising in the second half of "
        f"training {_verb(v['longer-training-helps'])}.",
        f"**Verdicts.** {', '.join(f'{n} {k}' for k, n in counts.items())}. The networks are "
        "Table 1's (their sizes hold); the absolute accuracies are CIFAR-100's and cannot be "
        "tested on the stand-in. A run this short on CIFAR-10 says how the design choices "
        "behave early in training, with narrow networks and weak teachers; the paper's "
        "300-400 epochs are the `paper` profile."
        if R.params["dataset"] != "cifar100" else
        f"**Verdicts.** {', '.join(f'{n} {k}' for k, n in counts.items())}.",
    ]
    return "\n\n".join(paras)


def _verb(verdict: str) -> str:
    return {"holds": "holds", "contradicted": "is contradicted",
            "inconclusive": "is inconclusive (the 95% interval of the difference includes 0)",
            "not testable here": "cannot be tested in this run",
            "not comparable at this scale": "is not comparable at this scale"}[verdict]
