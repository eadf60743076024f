"""The few figure kinds the book uses, in one style (seaborn)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

__all__ = ["PointPanel", "bars", "confusions", "curve_panels", "heatmaps", "metric_vs",
           "point_panels", "style"]


def style() -> None:
    """Set the book's figure style (seaborn's whitegrid theme); every figure calls it first."""
    sns.set_theme(style="whitegrid", context="notebook")


def metric_vs(summary: pd.DataFrame, x: str, hue: str | None, ylabel: str,
              title: str = "", lines: pd.DataFrame | None = None,
              legend: str = "{hue} = {key}") -> plt.Figure:
    """Mean of a metric against a swept parameter, one line per ``hue``, 95% CI bands.

    ``summary`` has the columns of :func:`kdlib.metrics.summarize` (``mean``, ``ci_low``,
    ``ci_high``) plus ``x`` and ``hue``. ``lines`` (columns ``label``, ``mean``, ``ci_low``,
    ``ci_high``) are drawn as dashed horizontal references with their bands (the teacher, the
    scratch student). ``legend`` formats each line's label from ``hue`` and its ``key``.
    """
    style()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    groups = summary.groupby(hue, sort=True) if hue else [(None, summary)]
    palette = sns.color_palette("viridis", n_colors=max(len(groups), 1))
    for color, (key, group) in zip(palette, groups, strict=True):
        group = group.sort_values(x)
        label = legend.format(hue=hue, key=key) if hue else None
        sns.lineplot(data=group, x=x, y="mean", marker="o", color=color, label=label, ax=ax,
                     errorbar=None)
        ax.fill_between(group[x], group["ci_low"], group["ci_high"], color=color, alpha=0.2,
                        linewidth=0)
    greys = ["0.25", "0.55", "0.75"]
    for grey, (_, ref) in zip(greys, (lines if lines is not None else pd.DataFrame()).iterrows(),
                              strict=False):
        ax.axhline(ref["mean"], color=grey, linestyle="--", linewidth=1, label=ref["label"])
        if pd.notna(ref["ci_low"]):
            ax.axhspan(ref["ci_low"], ref["ci_high"], color=grey, alpha=0.15, linewidth=0)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if hue:
        ax.legend(title=None, frameon=False)
    fig.tight_layout()
    plt.close(fig)  # returned, not drawn: the notebook shows it once as the cell's value
    return fig


def bars(summary: pd.DataFrame, x: str, hue: str, ylabel: str,
         ylim: tuple[float, float] | None = None) -> plt.Figure:
    """Grouped bars of ``mean`` per ``x`` and ``hue`` with 95% CI error bars."""
    style()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    levels = list(dict.fromkeys(summary[hue]))
    xs = list(dict.fromkeys(summary[x]))
    width = 0.8 / len(levels)
    palette = sns.color_palette("viridis", n_colors=len(levels))
    for k, (level, color) in enumerate(zip(levels, palette, strict=True)):
        part = summary[summary[hue] == level].set_index(x).reindex(xs)
        pos = [i + (k - (len(levels) - 1) / 2) * width for i in range(len(xs))]
        err = [(part["mean"] - part["ci_low"]).fillna(0),
               (part["ci_high"] - part["mean"]).fillna(0)]
        ax.bar(pos, part["mean"], width=width, color=color, label=str(level), yerr=err,
               capsize=2, error_kw={"linewidth": 0.8})
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(frameon=False, ncols=len(levels))
    fig.tight_layout()
    plt.close(fig)
    return fig


def heatmaps(summaries: dict[str, pd.DataFrame], x: str, y: str, fmt: str = ".3f",
             cmaps: tuple[str, ...] = ("viridis", "mako", "rocket_r")) -> plt.Figure:
    """One annotated heatmap per summary (columns of :func:`kdlib.metrics.summarize`), side by
    side: each cell shows the mean over seeds and, below it, the half-width of its 95% CI."""
    style()
    fig, axes = plt.subplots(1, len(summaries), figsize=(5.2 * len(summaries), 4.4),
                             squeeze=False)
    for ax, cmap, (title, s) in zip(axes[0], cmaps, summaries.items(), strict=False):
        mean = s.pivot(index=y, columns=x, values="mean").sort_index(ascending=False)
        half = (s.assign(h=(s["ci_high"] - s["ci_low"]) / 2)
                .pivot(index=y, columns=x, values="h").reindex_like(mean))
        text = mean.map(lambda v: format(v, fmt)) + half.map(
            lambda h: "" if np.isnan(h) else "\n±" + format(h, fmt))
        sns.heatmap(mean, annot=text, fmt="", cmap=cmap, ax=ax, cbar=False,
                    annot_kws={"fontsize": 8})
        ax.set_title(title)
        ax.set_xticklabels([f"{float(t.get_text()):g}" for t in ax.get_xticklabels()])
        ax.set_yticklabels([f"{float(t.get_text()):g}" for t in ax.get_yticklabels()],
                           rotation=0)
    fig.tight_layout()
    plt.close(fig)
    return fig


def confusions(matrices: dict[str, np.ndarray], classes: tuple[str, ...]) -> plt.Figure:
    """Confusion matrices side by side (rows: true class, columns: predicted); only the
    off-diagonal cells (the confusions) are shown, so that they, not the hits, stand out."""
    style()
    fig, axes = plt.subplots(1, len(matrices), figsize=(6.2 * len(matrices), 5.4),
                             squeeze=False)
    for ax, (title, m) in zip(axes[0], matrices.items(), strict=True):
        off = np.where(np.eye(len(m), dtype=bool), np.nan, m)
        sns.heatmap(off, annot=m, fmt=".0f", cmap="rocket_r", cbar=False, ax=ax,
                    xticklabels=classes, yticklabels=classes, annot_kws={"fontsize": 7})
        ax.grid(False)
        ax.set_title(title)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    fig.tight_layout()
    plt.close(fig)
    return fig


@dataclass(frozen=True)
class PointPanel:
    """One panel of :func:`point_panels`: its title, the labels of its x positions, its lines
    (a label and rows of ``mean``, ``ci_low``, ``ci_high`` in x order), and optional grey
    square marks (a label and one value per x position)."""

    title: str
    xticks: Sequence[str]
    lines: Sequence[tuple[str, pd.DataFrame]]
    marks: tuple[str, Sequence[float]] | None = None


def point_panels(panels: Sequence[PointPanel], ylabel: str, title: str = "",
                 reference: pd.Series | None = None) -> plt.Figure:
    """Means with 95% CI error bars at categorical x positions, one panel per sweep side by
    side on a shared y axis; ``reference`` (``mean``, ``ci_low``, ``ci_high``: a baseline) is a
    dashed line and band in every panel."""
    style()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.75 * len(panels), 3.8), sharey=True,
                             squeeze=False)
    pal = sns.color_palette("viridis", 3)
    for ax, panel in zip(axes[0], panels, strict=True):
        for i, (name, s) in enumerate(panel.lines):
            color = pal[1] if len(panel.lines) == 1 else pal[i % len(pal)]
            ax.errorbar(range(len(s)), s["mean"],
                        yerr=[(s["mean"] - s["ci_low"]).fillna(0),
                              (s["ci_high"] - s["mean"]).fillna(0)],
                        fmt="o-", capsize=3, color=color, label=name)
        ax.set_xticks(range(len(panel.xticks)), list(panel.xticks))
        if panel.marks is not None:
            name, values = panel.marks
            ax.plot(range(len(values)), list(values), "s", color="0.3", label=name)
        if panel.marks is not None or len(panel.lines) > 1:
            ax.legend(frameon=False, fontsize=8)
        if reference is not None:
            ax.axhline(reference["mean"], color="0.5", linestyle="--", linewidth=1)
            if pd.notna(reference["ci_low"]):
                ax.axhspan(reference["ci_low"], reference["ci_high"], color="0.5", alpha=0.15,
                           linewidth=0)
        ax.set_title(panel.title)
    axes[0][0].set_ylabel(ylabel)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def curve_panels(panels: Mapping[str, Sequence[tuple[str, pd.DataFrame]]],
                 ylabel: str) -> plt.Figure:
    """A metric against epoch, one panel per title side by side on a shared y axis: per line
    (a label and rows of ``epoch``, ``mean``, ``ci_low``, ``ci_high``) the mean and its 95%
    band."""
    style()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.75 * len(panels), 3.8), sharey=True,
                             squeeze=False)
    for ax, (title, lines) in zip(axes[0], panels.items(), strict=True):
        pal = sns.color_palette("viridis", len(lines))
        for color, (name, g) in zip(pal, lines, strict=True):
            g = g.sort_values("epoch")
            ax.plot(g["epoch"], g["mean"], "o-", color=color, label=name, markersize=3)
            ax.fill_between(g["epoch"], g["ci_low"], g["ci_high"], color=color, alpha=0.2,
                            linewidth=0)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(frameon=False, fontsize=7)
    axes[0][0].set_ylabel(ylabel)
    fig.tight_layout()
    plt.close(fig)
    return fig
