"""kdlib.metrics: values checked against hand computations."""

import math

import numpy as np
import torch

from kdlib import metrics


def test_accuracy_agreement_and_confusion():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 2])
    assert metrics.accuracy(logits, labels) == 0.5
    teacher = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0, 0]])
    assert metrics.agreement(logits, teacher) == 0.75
    cm = metrics.confusion(logits, labels, 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]


def test_class_report_matches_hand_counts():
    logits = torch.eye(3)[[0, 1, 1, 2]] * 5
    labels = torch.tensor([0, 1, 2, 2])
    r = metrics.class_report(logits, labels, ("a", "b", "c"))
    assert r["support"].tolist() == [1, 1, 2]
    assert r["precision"].tolist() == [1.0, 0.5, 1.0]
    assert r["recall"].tolist() == [1.0, 1.0, 0.5]


def test_mean_kl():
    s = torch.zeros(1, 2, dtype=torch.float64)
    t = torch.tensor([[math.log(3.0), 0.0]], dtype=torch.float64)  # probabilities 3/4, 1/4
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert abs(metrics.mean_kl(s, t) - expected) < 1e-12
    assert metrics.mean_kl(t, t) == 0.0


def test_mean_ci_student_t():
    mean, lo, hi = metrics.mean_ci(np.array([1.0, 2.0, 3.0]))
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * s / sqrt(n)
    assert mean == 2.0
    assert abs(lo - (2 - half)) < 1e-9 and abs(hi - (2 + half)) < 1e-9
    mean, lo, hi = metrics.mean_ci(np.array([0.5]))
    assert mean == 0.5 and math.isnan(lo) and math.isnan(hi)


def test_ci_text():
    assert metrics.ci_text(np.array([1.0, 2.0, 3.0]), digits=2) == "2.00 [-0.48, 4.48]"
    assert metrics.ci_text(np.array([0.5])) == "0.500"  # one run: no interval


def test_welch_difference_text_and_verdict():
    from kdlib.metrics import welch_difference

    text, verdict = welch_difference(np.array([0.90, 0.91, 0.92]), np.array([0.80, 0.81, 0.82]))
    assert verdict == "differ" and text.startswith("+0.100 [")
    _, verdict = welch_difference(np.array([0.90, 0.95, 0.85]), np.array([0.91, 0.86, 0.93]))
    assert verdict == "agree"
    assert welch_difference(np.array([0.9]), np.array([0.8])) == ("+0.100", "one seed: cannot tell")


def test_summaries_cut_intervals_to_the_quantity_s_range():
    import pandas as pd

    from kdlib.metrics import bounds_of, summarize

    assert bounds_of("test_acc") == (0.0, 1.0) and bounds_of("test_loss")[0] == 0.0
    df = pd.DataFrame({"g": [0, 0, 0], "test_acc": [1.0, 1.0, 0.9]})
    row = summarize(df, ["g"], "test_acc").iloc[0]
    assert row["ci_high"] == 1.0 and row["ci_low"] < row["mean"]


def test_summarize_and_ci_table():
    import pandas as pd

    df = pd.DataFrame({"alpha": [0, 0, 0, 1], "gain": [1.0, 2.0, 3.0, 5.0]})
    s = metrics.summarize(df, ["alpha"], "gain")  # an unbounded quantity: the plain t-interval
    assert s["mean"].tolist() == [2.0, 5.0] and s["n"].tolist() == [3, 1]
    assert math.isclose(s["ci_high"][0], 2 + 4.302652729911275 / math.sqrt(3))
    assert math.isnan(s["ci_low"][1])
    s["epoch"] = 1
    t = metrics.ci_table(s, index="alpha", columns="epoch", digits=2)
    assert t.loc[0, 1] == "2.00 [-0.48, 4.48]" and t.loc[1, 1] == "5.00"
    acc = metrics.summarize(df.assign(test_acc=[0.9, 0.95, 1.0, 0.5]), ["alpha"], "test_acc")
    assert math.isclose(acc["ci_low"][0], 0.95 - 4.302652729911275 * 0.05 / math.sqrt(3))
    assert acc["ci_high"][0] == 1.0  # an accuracy's interval is cut to [0, 1]
