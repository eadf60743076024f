"""The few figure kinds the book uses, in one style (seaborn)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

__all__ = ["metric_vs"]

sns.set_theme(style="whitegrid", context="notebook")


def metric_vs(summary: pd.DataFrame, x: str, hue: str | None, ylabel: str,
              title: str = "", reference: tuple[str, float] | None = None) -> plt.Figure:
    """Mean of a metric against a swept parameter, one line per ``hue``, 95% CI bands.

    ``summary`` has the columns of :func:`kdlib.results.summarize` (``mean``, ``ci_low``,
    ``ci_high``) plus ``x`` and ``hue``. ``reference`` draws a labelled horizontal line
    (the teacher's accuracy, say).
    """
    fig, ax = plt.subplots(figsize=(7, 4.2))
    groups = summary.groupby(hue, sort=True) if hue else [(None, summary)]
    palette = sns.color_palette("viridis", n_colors=max(len(groups), 1))
    for color, (key, group) in zip(palette, groups, strict=True):
        group = group.sort_values(x)
        label = f"{hue} = {key}" if hue else None
        sns.lineplot(data=group, x=x, y="mean", marker="o", color=color, label=label, ax=ax,
                     errorbar=None)
        ax.fill_between(group[x], group["ci_low"], group["ci_high"], color=color, alpha=0.2,
                        linewidth=0)
    if reference is not None:
        ax.axhline(reference[1], color="0.3", linestyle="--", linewidth=1, label=reference[0])
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if hue:
        ax.legend(title=None, frameon=False)
    fig.tight_layout()
    plt.close(fig)  # returned, not drawn: the notebook shows it once as the cell's value
    return fig
