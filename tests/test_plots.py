"""kdlib.plots: one line per hue, CI bands, the reference line."""

import pandas as pd

from kdlib import plots


def test_metric_vs_draws_lines_bands_and_reference():
    summary = pd.DataFrame({"alpha": [0.0, 1.0, 0.0, 1.0], "epoch": [1, 1, 2, 2],
                            "mean": [0.5, 0.6, 0.7, 0.8], "ci_low": [0.4, 0.5, 0.6, 0.7],
                            "ci_high": [0.6, 0.7, 0.8, 0.9]})
    fig = plots.metric_vs(summary, "alpha", "epoch", "accuracy", reference=("teacher", 0.95))
    ax = fig.axes[0]
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert lines == {"epoch = 1": [0.5, 0.6], "epoch = 2": [0.7, 0.8], "teacher": [0.95, 0.95]}
    assert len(ax.collections) == 2  # one CI band per epoch
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["epoch = 1", "epoch = 2", "teacher"]
    assert ax.get_ylabel() == "accuracy"
