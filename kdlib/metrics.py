"""Metrics: accuracy, per-class report, confusion, agreement and KL with the teacher, CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

__all__ = ["accuracy", "agreement", "ci_text", "class_report", "confusion", "cross_entropy",
           "format_ci", "mean_ci", "mean_kl", "welch_difference"]


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of ``(N, C)`` logits against ``(N,)`` labels."""
    return float(accuracy_score(labels.numpy(), logits.argmax(-1).numpy()))


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean cross-entropy (nats) of ``(N, C)`` logits against ``(N,)`` labels."""
    return float(F.cross_entropy(logits.double(), labels))


def agreement(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> float:
    """Fraction of inputs on which student and teacher predict the same class (top-1)."""
    return float((student_logits.argmax(-1) == teacher_logits.argmax(-1)).double().mean())


def mean_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
            temperature: float = 1.0) -> float:
    """Mean KL(teacher ‖ student) of the softened predictions, in nats."""
    log_ps = F.log_softmax(student_logits.double() / temperature, dim=-1)
    log_pt = F.log_softmax(teacher_logits.double() / temperature, dim=-1)
    return float((log_pt.exp() * (log_pt - log_ps)).sum(-1).mean())


def class_report(logits: torch.Tensor, labels: torch.Tensor,
                 classes: tuple[str, ...]) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support (scikit-learn), one row a class."""
    p, r, f, s = precision_recall_fscore_support(
        labels.numpy(), logits.argmax(-1).numpy(), labels=range(len(classes)), zero_division=0)
    return pd.DataFrame({"class": list(classes), "precision": p, "recall": r, "f1": f,
                         "support": s})


def confusion(logits: torch.Tensor, labels: torch.Tensor, classes: int) -> np.ndarray:
    """Confusion matrix: rows are true classes, columns predictions."""
    return confusion_matrix(labels.numpy(), logits.argmax(-1).numpy(), labels=range(classes))


def mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval over independent runs (seeds).

    One run has no spread: its interval is ``(nan, nan)``.
    """
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * stats.sem(values)
    return mean, mean - float(half), mean + float(half)


def format_ci(mean: float, lo: float, hi: float, digits: int = 3) -> str:
    """``mean [lo, hi]``, or just the mean when there is no interval (one run)."""
    if np.isnan(lo):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def ci_text(values: np.ndarray, digits: int = 3) -> str:
    """Mean and 95% interval of per-run ``values``, as text."""
    return format_ci(*mean_ci(values), digits=digits)


def welch_difference(x: np.ndarray, y: np.ndarray) -> tuple[str, str]:
    """``mean(x) - mean(y)`` with its Welch 95% interval, as text, and whether the interval
    includes zero (``"agree"``) or not (``"differ"``), for two independent sets of runs."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    diff = float(x.mean() - y.mean())
    if min(len(x), len(y)) < 2 or (x.std() == 0 and y.std() == 0):
        return f"{diff:+.3f}", "one seed: cannot tell"
    ci = stats.ttest_ind(x, y, equal_var=False).confidence_interval(0.95)
    lo, hi = float(ci.low), float(ci.high)
    return f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]", "agree" if lo <= 0 <= hi else "differ"
