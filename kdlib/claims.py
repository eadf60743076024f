"""Reported numbers as data, turned into verdicts by our results.

Each source document has a file ``data/claims/<source>.yaml``: for every claim its quote, where
it stands, the reported value, and how to compare (``check``). A chapter's results object
answers two questions, and this module does the rest:

- ``values(metric, at)``: one number per seed (``None`` when this run cannot say, e.g. the
  claimed epoch was not reached);
- ``curve(metric, at)``: a table, one row per swept value (alpha), one column per seed.

Checks (95% Student-t intervals over seeds; differences are paired by seed):

- ``approx``: the interval of ours meets ``reported ± tolerance`` (plus ``rel_tolerance`` times
  the reported value);
- ``at_most``: our mean is at most ``reported + tolerance``;
- ``all_approx``: ``approx`` holds at every swept value inside ``range``;
- ``argmax``: the swept value ``reported`` is not significantly worse than our best one;
- ``greater``: ``values(at) - values(than)`` (or ``- threshold``) is significantly above 0
  (*holds*), significantly below (*contradicted*), or neither (*inconclusive*);
- ``not_greater``: ``values(at)`` is not significantly above 0.

A claim marked ``source_scale`` (an absolute number such as an accuracy) is judged only when
the evidence's ``at_source_scale(at)`` says the run matches the source's scale; otherwise ours
is shown with the verdict *not comparable at this scale*. A claim with a ``dataset`` (about
CIFAR-100 itself, say) is *not testable here* when the run's ``params["dataset"]`` is another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import yaml

from kdlib.metrics import ci_text, mean_ci

__all__ = ["Claim", "Evidence", "evaluate", "load", "scorecard"]

CLAIMS_DIR = Path(__file__).resolve().parents[1] / "data" / "claims"
VERDICTS = ("holds", "contradicted", "inconclusive", "not comparable at this scale",
            "not testable here")
CHECKS = ("approx", "at_most", "all_approx", "argmax", "greater", "not_greater")


class Evidence(Protocol):
    """What a chapter's results must answer for its claims to be judged."""

    def values(self, metric: str, at: dict[str, Any]) -> np.ndarray | None: ...

    def curve(self, metric: str, at: dict[str, Any]) -> pd.DataFrame | None: ...

    def where(self, at: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class Claim:
    """One reported number or direction, and how to test it."""

    source: str
    id: str
    quote: str
    where: str
    check: str
    reported: Any
    metric: str = "test_acc"
    at: dict[str, Any] = field(default_factory=dict)
    than: dict[str, Any] = field(default_factory=dict)
    range: tuple[float, float] = (0.0, 1.0)
    tolerance: float = 0.0
    rel_tolerance: float = 0.0  # added to ``tolerance`` as a fraction of ``reported``
    threshold: float = 0.0
    differ: str = ""
    untestable: str = ""  # why it cannot be tested offline, if so
    digits: int = 3  # decimals of "ours" (0 for counts such as parameters or epochs)
    source_scale: bool = False  # an absolute value only comparable at the source's scale
    dataset: str = ""  # the data set the claim is about, if it depends on it


def load(source: str, directory: Path = CLAIMS_DIR) -> list[Claim]:
    """The claims of one source document (``"000"``, ``"001"``, …)."""
    doc = yaml.safe_load((directory / f"{source}.yaml").read_text())
    claims = []
    for raw in doc["claims"]:
        claim = Claim(source=str(doc["source"]), **raw)
        if claim.check not in CHECKS:
            raise ValueError(f"claim {source}/{claim.id}: check must be one of "
                             f"{', '.join(CHECKS)}; got {claim.check!r}")
        claims.append(claim)
    return claims


def _dataset(ev: Evidence) -> str | None:
    """The data set the evidence was computed on, if it says."""
    params = getattr(ev, "params", None)
    return params.get("dataset") if isinstance(params, dict) else None


def _judge(claim: Claim, ev: Evidence) -> tuple[str, str]:
    """(ours, verdict) for one claim."""
    if claim.untestable:
        return "—", "not testable here"
    if claim.dataset and _dataset(ev) not in (None, claim.dataset):
        values = ev.values(claim.metric, claim.at)
        return ("—" if values is None else ci_text(values, claim.digits)), "not testable here"
    scaled = getattr(ev, "at_source_scale", None)
    if claim.source_scale and scaled is not None and not scaled(claim.at):
        values = ev.values(claim.metric, claim.at)
        ours = "—" if values is None else ci_text(values, claim.digits)
        return ours, "not comparable at this scale"
    if claim.check in ("argmax", "all_approx"):
        curve = ev.curve(claim.metric, claim.at)
        if curve is None:
            return "—", "not testable here"
        return _judge_curve(claim, curve)
    values = ev.values(claim.metric, claim.at)
    if values is None:
        return "—", "not testable here"
    if claim.check in ("greater", "not_greater"):
        if claim.than:
            other = ev.values(claim.metric, claim.than)
            if other is None:
                return "—", "not testable here"
            diff = values - other
        else:
            diff = values - claim.threshold
        mean, lo, hi = mean_ci(diff)
        text = f"{ci_text(values, claim.digits)}; difference {ci_text(diff, claim.digits)}"
        low, high = (mean, mean) if np.isnan(lo) else (lo, hi)
        if claim.check == "not_greater":
            return text, "contradicted" if low > 0 else "holds"
        return text, "holds" if low > 0 else "contradicted" if high < 0 else "inconclusive"
    mean, lo, hi = mean_ci(values)
    low, high = (mean, mean) if np.isnan(lo) else (lo, hi)
    r = float(claim.reported)
    tol = claim.tolerance + claim.rel_tolerance * abs(r)
    ours = ci_text(values, claim.digits)
    if claim.check == "approx":
        return ours, "holds" if low <= r + tol and high >= r - tol else "contradicted"
    return ours, "holds" if mean <= r + tol else "contradicted"  # at_most


def _judge_curve(claim: Claim, curve: pd.DataFrame) -> tuple[str, str]:
    means = curve.mean(axis=1)
    if claim.check == "argmax":
        best = float(means.idxmax())
        reported = float(claim.reported)
        if reported not in curve.index:
            return f"best at {best:g}", "not testable here"
        diff = (curve.loc[best] - curve.loc[reported]).to_numpy(dtype=float)
        mean, lo, _ = mean_ci(diff)
        worse = (mean if np.isnan(lo) else lo) > 0
        text = (f"best at {best:g}: {ci_text(curve.loc[best].to_numpy(dtype=float))}; "
                f"at {reported:g}: {ci_text(curve.loc[reported].to_numpy(dtype=float))}")
        return text, "contradicted" if worse else "holds"
    lo_x, hi_x = claim.range
    inside = curve[(curve.index >= lo_x - 1e-9) & (curve.index <= hi_x + 1e-9)]
    r, tol = float(claim.reported), claim.tolerance
    ok = []
    for _, row in inside.iterrows():
        mean, lo, hi = mean_ci(row.to_numpy(dtype=float))
        low, high = (mean, mean) if np.isnan(lo) else (lo, hi)
        ok.append(low <= r + tol and high >= r - tol)
    text = f"{inside.mean(axis=1).min():.3f} to {inside.mean(axis=1).max():.3f}"
    return text, "holds" if all(ok) else "contradicted"


def evaluate(claims: list[Claim], ev: Evidence) -> pd.DataFrame:
    """The claims table: reported value, ours with its CI, verdict, and why they may differ."""
    rows = []
    for c in claims:
        ours, verdict = _judge(c, ev)
        reported = c.reported if isinstance(c.reported, str) else f"{c.reported:g}"
        if c.untestable:
            note = c.untestable
        elif verdict == "not testable here" and c.dataset and _dataset(ev) != c.dataset:
            note = (f"A number about {c.dataset}, which cannot be obtained offline here; this "
                    f"run used {_dataset(ev)} (ours is shown for reference). Run the chapter "
                    f"with dataset={c.dataset} and data_dir=... to judge it.")
        elif verdict == "not comparable at this scale":
            note = ("An absolute value of a run at the paper's scale; this run is smaller (see "
                    "the scale note), so only the relative claims are judged.")
        elif ours == "—":
            note = f"this run cannot say: {ev.where(c.at)}"
        else:
            note = "" if verdict == "holds" else c.differ
        rows.append({"source": c.source, "claim": c.id, "quote": c.quote, "where": c.where,
                     "reported": reported, "at": ev.where(c.at), "ours (95% CI)": ours,
                     "verdict": verdict, "note": note})
    return pd.DataFrame(rows)


def scorecard(table: pd.DataFrame) -> pd.DataFrame:
    """Counts of each verdict per source document."""
    counts = pd.crosstab(table["source"], table["verdict"])
    return counts.reindex(columns=list(VERDICTS), fill_value=0)
