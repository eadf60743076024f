"""Metrics: accuracy, per-class report, confusion, agreement and KL with the teacher, and the
intervals over runs that every table and verdict uses (the rules: the book's "How claims are
judged" page, ``book/judging.md``), with the per-group summaries and tables built from them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

__all__ = ["RANGES", "UNBOUNDED", "Interval", "accuracy", "agreement", "bounds_of", "ci_table",
           "ci_text", "class_report", "confusion", "cross_entropy", "format_ci", "interval",
           "mean_ci", "mean_kl", "summarize", "welch_difference"]

UNBOUNDED = (-math.inf, math.inf)
# The range of a quantity, by a word in its column name: what intervals are cut to.
RANGES = (("acc", (0.0, 1.0)), ("agreement", (0.0, 1.0)), ("recovered", (0.0, 1.0)),
          ("share", (0.0, 1.0)), ("recall", (0.0, 1.0)), ("precision", (0.0, 1.0)),
          ("loss", (0.0, math.inf)), ("kl", (0.0, math.inf)), ("mse", (0.0, math.inf)),
          ("variance", (0.0, math.inf)), ("ratio", (0.0, math.inf)),
          ("seconds", (0.0, math.inf)))


def bounds_of(name: str) -> tuple[float, float]:
    """The range of the quantity a column holds, from its name (``test_acc``: [0, 1],
    ``test_loss``: [0, inf)); unbounded when no word of :data:`RANGES` is in it."""
    for word, bounds in RANGES:
        if word in name:
            return bounds
    return UNBOUNDED


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


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` independent runs and its interval, inside the quantity's range.

    ``method`` names how it was made: ``"exact"`` (a quantity with no run-to-run noise, such
    as a parameter count), ``"one run"`` (no interval: ``low`` and ``high`` are NaN), or
    ``"t"`` (Student-t), with ``", cut to [a, b]"`` when the t-interval reached past the
    quantity's range and was cut to it (the true value lies in the range, so cutting keeps
    the coverage exactly).
    """

    mean: float
    low: float
    high: float
    n: int
    method: str
    confidence: float = 0.95

    @property
    def decided(self) -> bool:
        """Whether there is an interval to judge by (two runs or more, or an exact value)."""
        return self.method != "one run"

    def text(self, digits: int = 3) -> str:
        """``mean [low, high]``, or the mean alone without an interval."""
        return format_ci(self.mean, self.low, self.high, digits)

    def how(self) -> str:
        """The method and ``n`` in words, e.g. ``"t, n = 3"``."""
        if self.method == "exact":
            return "exact"
        if self.method == "one run":
            return "one run, no interval"
        level = "" if self.confidence == 0.95 else f", {self.confidence:.2%} level"
        return self.method.replace("t", f"t, n = {self.n}", 1) + level


def interval(values: np.ndarray, bounds: tuple[float, float] = UNBOUNDED,
             confidence: float = 0.95, exact: bool = False) -> Interval:
    """The mean of per-run ``values`` and its Student-t interval, cut to ``bounds``.

    ``exact`` quantities (every run gives the same value by construction) get a zero-width
    interval; a single run gets none (NaN ends, method ``"one run"``).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("an interval needs at least one value")
    mean = float(v.mean())
    if exact:
        return Interval(mean, mean, mean, int(v.size), "exact", confidence)
    if v.size < 2:
        return Interval(mean, math.nan, math.nan, 1, "one run", confidence)
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * stats.sem(v))
    low, high = mean - half, mean + half
    lo_b, hi_b = bounds
    method = "t"
    if low < lo_b or high > hi_b:
        low, high = max(low, lo_b), min(high, hi_b)
        method = f"t, cut to [{_num(lo_b)}, {_num(hi_b)}]"
    return Interval(mean, low, high, int(v.size), method, confidence)


def _num(x: float) -> str:
    return str(int(x)) if math.isfinite(x) and float(x).is_integer() else f"{x:g}"


def mean_ci(values: np.ndarray, confidence: float = 0.95,
            bounds: tuple[float, float] = UNBOUNDED) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval over independent runs (seeds), cut to
    ``bounds`` (see :func:`interval`). One run has no spread: its interval is ``(nan, nan)``.
    """
    i = interval(values, bounds, confidence)
    return i.mean, i.low, i.high


def format_ci(mean: float, lo: float, hi: float, digits: int = 3) -> str:
    """``mean [lo, hi]``, or just the mean when there is no interval (one run)."""
    if np.isnan(lo):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def ci_text(values: np.ndarray, digits: int = 3,
            bounds: tuple[float, float] = UNBOUNDED) -> str:
    """Mean and 95% interval of per-run ``values``, as text."""
    return format_ci(*mean_ci(values, bounds=bounds), digits=digits)


def summarize(df: pd.DataFrame, by: list[str], value: str,
              confidence: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval of ``value`` over the rows (seeds) of each ``by`` group, cut to
    the quantity's range (:func:`bounds_of`: an accuracy's to [0, 1])."""
    rows = []
    bounds = bounds_of(value)
    for keys, group in df.groupby(by, sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        mean, lo, hi = mean_ci(group[value].to_numpy(dtype=np.float64), confidence, bounds)
        rows.append({**dict(zip(by, keys, strict=True)), "mean": mean, "ci_low": lo,
                     "ci_high": hi, "n": len(group)})
    return pd.DataFrame(rows)


def ci_table(summary: pd.DataFrame, index: str, columns: str, digits: int = 3) -> pd.DataFrame:
    """A wide table of ``mean [ci_low, ci_high]`` strings, for the book."""
    def cell(r: pd.Series) -> str:
        return format_ci(r["mean"], r["ci_low"], r["ci_high"], digits)

    text = summary.assign(text=summary.apply(cell, axis=1))
    return text.pivot(index=index, columns=columns, values="text")


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
