"""kdlib.plots: one line per hue, CI bands, the reference line."""

import numpy as np
import pandas as pd

from kdlib import plots


def test_metric_vs_draws_lines_bands_and_reference():
    summary = pd.DataFrame({"alpha": [0.0, 1.0, 0.0, 1.0], "epoch": [1, 1, 2, 2],
                            "mean": [0.5, 0.6, 0.7, 0.8], "ci_low": [0.4, 0.5, 0.6, 0.7],
                            "ci_high": [0.6, 0.7, 0.8, 0.9]})
    refs = pd.DataFrame({"label": ["teacher", "scratch"], "mean": [0.95, 0.55],
                         "ci_low": [float("nan"), 0.5], "ci_high": [float("nan"), 0.6]})
    fig = plots.metric_vs(summary, "alpha", "epoch", "accuracy", lines=refs)
    ax = fig.axes[0]
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert lines == {"epoch = 1": [0.5, 0.6], "epoch = 2": [0.7, 0.8], "teacher": [0.95, 0.95],
                     "scratch": [0.55, 0.55]}
    assert len(ax.collections) == 2  # one CI band per epoch
    assert len(ax.patches) == 1  # the scratch student's band (the teacher has none)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["epoch = 1", "epoch = 2", "teacher", "scratch"]
    assert ax.get_ylabel() == "accuracy"


def test_bars_one_group_per_x_with_error_bars():
    summary = pd.DataFrame({"class": ["0", "1", "0", "1"], "student": ["a", "a", "b", "b"],
                            "mean": [0.9, 0.8, 0.7, 0.6], "ci_low": [0.85, 0.75, 0.65, 0.55],
                            "ci_high": [0.95, 0.85, 0.75, 0.65]})
    ax = plots.bars(summary, "class", "student", "accuracy").axes[0]
    heights = sorted(round(p.get_height(), 2) for p in ax.patches)
    assert heights == [0.6, 0.7, 0.8, 0.9]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]


def test_heatmaps_annotate_mean_and_ci_half_width():
    s = pd.DataFrame({"temperature": [1.0, 1.0, 2.0, 2.0], "alpha": [0.0, 1.0, 0.0, 1.0],
                      "mean": [0.9, 0.8, 0.7, 0.6], "ci_low": [0.88, 0.8, 0.69, float("nan")],
                      "ci_high": [0.92, 0.8, 0.71, float("nan")], "n": [3, 3, 3, 1]})
    fig = plots.heatmaps({"a": s, "b": s}, "alpha", "temperature")
    assert len(fig.axes) == 2
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "0.900\n±0.020" in texts and "0.600" in texts  # no interval: the mean alone


def test_confusions_show_only_the_errors():
    m = np.array([[50, 2], [7, 41]])
    fig = plots.confusions({"model": m}, ("zero", "one"))
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["2", "7"]
