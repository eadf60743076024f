"""Reported numbers as data, judged by evidence: one generic engine for every chapter.

Each source document has a file ``data/claims/<source>.yaml``: for every claim its quote,
where it stands, the reported value, the tolerance and where the tolerance comes from, and how
to compare (``check``). A chapter's results arrive as an :class:`kdlib.evidence.Evidence` (one
tidy long table); this module selects from it by the claim's ``metric`` and coordinates and
returns one of the verdicts below. The rules, with their mathematics, are the book's "How
claims are judged" page (``book/judging.md``); in short, with ``[L, U]`` the 95% interval of
ours over independent runs, inside the quantity's range:

- ``approx`` (band ``[r - tol, r + tol]``), ``at_most`` (``<= r + tol``), ``at_least``
  (``>= r - tol``): *holds* when ``[L, U]`` lies inside the band, *contradicted* when it lies
  wholly outside, *inconclusive* otherwise. With ``than``, ours is the paired difference.
- ``greater``: the paired difference ``at - than - threshold`` lies above 0 (*holds*), below
  (*contradicted*), or straddles 0 (*inconclusive*); ``not_greater`` is ``at_most`` 0 of it.
- ``argmax``, ``all_approx``, ``most_greater``: the same three outcomes over a swept
  coordinate (``over``), from simultaneous (Bonferroni) intervals.

Fewer than two independent runs give *inconclusive (one run)*. An ``absolute`` claim is
judged only on evidence at the source's scale (else *not comparable at this scale*); a
claim about another ``dataset``, or ``untestable``, is *not testable here*.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from kdlib.evidence import ClaimError, Evidence
from kdlib.metrics import Interval, interval

__all__ = ["CHECKS", "CLAIMS_DIR", "VERDICTS", "Claim", "ClaimError", "Judgement", "display",
           "evaluate", "independent", "judge", "load", "primary", "printed", "scorecard"]

CLAIMS_DIR = Path(__file__).resolve().parents[1] / "data" / "claims"
HOLDS, CONTRA, INCON, ONE = "holds", "contradicted", "inconclusive", "inconclusive (one run)"
NOT_COMPARABLE, NOT_TESTABLE = "not comparable at this scale", "not testable here"
VERDICTS = (HOLDS, CONTRA, INCON, ONE, NOT_COMPARABLE, NOT_TESTABLE)
BAND_CHECKS = ("approx", "at_most", "at_least")
DIFF_CHECKS = ("greater", "not_greater")
CURVE_CHECKS = ("argmax", "argmin", "all_approx", "most_greater")
CHECKS = BAND_CHECKS + DIFF_CHECKS + CURVE_CHECKS
NEEDS_TOLERANCE = ("approx", "at_most", "at_least", "all_approx")
LEVEL = 0.95


@dataclass(frozen=True)
class Claim:
    """One reported number or direction of a source, and how to test it."""

    source: str
    id: str
    quote: str
    where: str  # where in the source the claim is made (a table, section or figure)
    check: str
    reported: Any
    metric: str = "test_acc"
    at: dict[str, Any] = field(default_factory=dict)
    than: dict[str, Any] = field(default_factory=dict)  # overrides of ``at``: the other side
    over: str = ""  # the swept coordinate of a curve claim
    among: tuple[Any, ...] = ()  # the swept values it is about (empty: all)
    range: tuple[float, float] | None = None  # all_approx: the swept values in this range
    tolerance: float = 0.0
    rel_tolerance: float = 0.0  # added to ``tolerance`` as a fraction of ``reported``
    tolerance_why: str = ""  # where the tolerance comes from (required for band checks)
    threshold: float = 0.0  # greater / most_greater: the difference must exceed this
    share: float = 0.5  # most_greater: more than this share of the swept values
    absolute: bool = False  # an absolute value: judged only at the source's scale
    dataset: str = ""  # the data set the claim is about, if it depends on it
    untestable: str = ""  # why it cannot be tested here, if so
    reading: str = ""  # how the sentence is read, where it needs reading
    hypothesis: str = ""  # a possible mechanism when it does not hold (marked as such)
    figure: str = ""  # the figure that bears on the hypothesis
    digits: int | None = None  # decimals of "ours" (default: the metric's)
    printed: str = ""  # the source's own numbers that this claim restates (``printed:``)

    @property
    def band(self) -> tuple[float, float]:
        """The values of ours that agree with the claim (band checks and all_approx)."""
        r = float(self.reported)
        tol = self.tolerance + self.rel_tolerance * abs(r)
        lo = -math.inf if self.check == "at_most" else r - tol
        hi = math.inf if self.check == "at_least" else r + tol
        return lo, hi

    @property
    def measurement(self) -> str:
        """What the claim measures (metric and coordinates): claims sharing one measurement
        share this key, and count as one independent test."""
        if self.untestable:
            return f"untestable:{self.source}/{self.id}"
        parts = [self.metric, repr(sorted(self.at.items())), repr(sorted(self.than.items())),
                 self.over, repr(list(self.among)), repr(self.range)]
        return "|".join(parts)


_FIELDS = [f.name for f in fields(Claim) if f.name != "source"]


def _claim(source: str, raw: dict[str, Any], path: Path) -> Claim:
    name = f"{path.name}, claim {raw.get('id', '?')!r}"
    unknown = [k for k in raw if k not in _FIELDS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], _FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ClaimError(f"{name}: unknown key {unknown[0]!r}{hint}")
    for key in ("among", "range"):
        if raw.get(key) is not None:
            raw = {**raw, key: tuple(raw[key])}
    try:
        claim = Claim(source=source, **raw)
    except TypeError as e:
        raise ClaimError(f"{name}: {e}") from None
    if claim.check not in CHECKS:
        raise ClaimError(f"{name}: check must be one of {', '.join(CHECKS)}; "
                         f"got {claim.check!r}")
    if claim.untestable:
        return claim
    if claim.check in NEEDS_TOLERANCE and not claim.tolerance_why:
        raise ClaimError(f"{name}: a {claim.check} claim needs tolerance_why (where its "
                         "tolerance comes from, fixed before running)")
    if claim.check in CURVE_CHECKS and not claim.over:
        raise ClaimError(f"{name}: a {claim.check} claim needs over (the swept coordinate)")
    return claim


def printed(source: str, directory: Path = CLAIMS_DIR) -> dict[str, pd.DataFrame]:
    """The numbers a source prints itself (a table, a figure's stated values), as evidence
    rows by name (``printed:`` in its claims file): each claim that names one of them must
    hold on it, or it tests something other than what the source says (tests/)."""
    doc = yaml.safe_load((directory / f"{source}.yaml").read_text())
    return {name: pd.DataFrame(rows) for name, rows in (doc.get("printed") or {}).items()}


def load(source: str, directory: Path = CLAIMS_DIR) -> list[Claim]:
    """The claims of one source document (``"000"``, ``"001"``, ...), checked."""
    path = directory / f"{source}.yaml"
    doc = yaml.safe_load(path.read_text())
    claims = [_claim(str(doc["source"]), raw, path) for raw in doc["claims"]]
    known = set(doc.get("printed") or {})
    for c in claims:
        if c.printed and c.printed not in known:
            raise ClaimError(f"{path.name}, claim {c.id!r}: printed {c.printed!r} is not one "
                             f"of the file's printed numbers ({', '.join(sorted(known))})")
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ClaimError(f"{path.name}: claim id {dup!r} appears twice")
    return claims


# ------------------------------------------------------------------------- judging
@dataclass(frozen=True)
class Judgement:
    """The verdict on one claim by one evidence, with what it rests on."""

    verdict: str
    ours: str = "—"
    how: str = ""  # the interval's method and n
    at: str = "—"  # where ours was measured, in words
    note: str = ""  # computed from the evidence: ours against the band, and why
    interval: Interval | None = None


def _digits(claim: Claim, ev: Evidence) -> int:
    return claim.digits if claim.digits is not None else ev.metric(claim.metric).digits


def _f(x: float, digits: int) -> str:
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}f}"


def _decimals(x: float) -> int:
    """Decimals needed to write ``x`` exactly (at most 6)."""
    if not math.isfinite(x):
        return 0
    text = f"{x:.6f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _band_text(lo: float, hi: float, d: int) -> str:
    d = max(d, _decimals(lo), _decimals(hi))
    if math.isinf(lo):
        return f"≤ {_f(hi, d)}"
    if math.isinf(hi):
        return f"≥ {_f(lo, d)}"
    return f"[{_f(lo, d)}, {_f(hi, d)}]"


def _versus(i: Interval, lo: float, hi: float) -> str:
    """The verdict of interval ``i`` against the band ``[lo, hi]``."""
    if lo <= i.low and i.high <= hi:
        return HOLDS
    if i.high < lo or i.low > hi:
        return CONTRA
    return INCON


def _distance(i: Interval, lo: float, hi: float, d: int) -> str:
    """Where ``i`` lies against the band, in words (for the note)."""
    if i.high < lo:
        return f"lies {_f(lo - i.high, d)} to {_f(lo - i.low, d)} below the band"
    if i.low > hi:
        return f"lies {_f(i.low - hi, d)} to {_f(i.high - hi, d)} above the band"
    if lo <= i.low and i.high <= hi:
        return "lies inside the band"
    return "overlaps the band's edge but is not inside it"


def _paired(a: pd.Series, b: pd.Series | None) -> pd.Series | None:
    """``a - b`` paired by run; a side with one run is a constant (the one teacher, say)."""
    if b is None:
        return a
    if len(b) == 1 and len(a) > 1:
        return a - float(b.iloc[0])
    if len(a) == 1 and len(b) > 1:
        return float(a.iloc[0]) - b
    common = a.index.intersection(b.index)
    if common.empty:
        return None
    return a.loc[common] - b.loc[common]


def _diff_bounds(bounds: tuple[float, float], paired: bool,
                 shift: float) -> tuple[float, float]:
    lo, hi = bounds
    if paired:
        lo, hi = lo - hi, hi - lo
    return lo - shift, hi - shift


def _values(claim: Claim, ev: Evidence) -> tuple[pd.Series | None, pd.DataFrame, str]:
    """Ours per run (a paired difference with ``than``), the rows used, and why not."""
    rows = ev.rows(claim.metric, claim.at)
    a = ev.per_run(claim.metric, claim.at)
    if a is None:
        return None, rows, f"This run has no {claim.metric} at {ev.words(claim.at)}."
    if not claim.than:
        return a - claim.threshold if claim.check in DIFF_CHECKS else a, rows, ""
    other = {**claim.at, **claim.than}
    b = ev.per_run(claim.metric, other)
    if b is None:
        return None, rows, f"This run has no {claim.metric} at {ev.words(other)}."
    d = _paired(a, b)
    if d is None:
        return None, rows, "The two sides share no run to pair."
    shift = claim.threshold if claim.check in DIFF_CHECKS else 0.0
    return d - shift, pd.concat([rows, ev.rows(claim.metric, other)]), ""


def judge(claim: Claim, ev: Evidence) -> Judgement:
    """The verdict on ``claim`` by ``ev`` (see the module docstring)."""
    if claim.untestable:
        return Judgement(NOT_TESTABLE, note=claim.untestable)
    if claim.dataset and ev.dataset not in (None, claim.dataset):
        return Judgement(NOT_TESTABLE, note=(
            f"A claim about {claim.dataset}; this run used {ev.dataset}. Run the chapter "
            f"with dataset={claim.dataset} and data_dir=... to judge it."))
    if claim.check in CURVE_CHECKS:
        return _judge_curve(claim, ev)
    values, rows, why = _values(claim, ev)
    measured_at = ev.words(claim.at, ev.rows(claim.metric, claim.at))
    if claim.than:
        other = {**claim.at, **claim.than}
        measured_at += " vs " + ev.words(claim.than, ev.rows(claim.metric, other))
    if values is None:
        return Judgement(NOT_TESTABLE, at=measured_at, note=why)
    m = ev.metric(claim.metric)
    exact = m.exact
    bounds = m.bounds
    if claim.than or claim.check in DIFF_CHECKS:
        shift = claim.threshold if claim.check in DIFF_CHECKS else 0.0
        bounds = _diff_bounds(m.bounds, bool(claim.than), shift)
    i = interval(values.to_numpy(), bounds, LEVEL, exact=exact)
    d = _digits(claim, ev)
    ours = i.text(d)
    if claim.absolute and not ev.at_source_scale(rows):
        return Judgement(NOT_COMPARABLE, ours, i.how(), measured_at, (
            "An absolute value, and this run is not at the source's scale: not judged "
            "here."), i)
    if not i.decided:
        return Judgement(ONE, ours, i.how(), measured_at,
                         "One run: no interval, so no verdict.", i)
    if claim.check in BAND_CHECKS:
        lo, hi = claim.band
        verdict = _versus(i, lo, hi)
        note = "" if verdict == HOLDS else (
            f"Ours {ours} {_distance(i, lo, hi, d)} {_band_text(lo, hi, d)}.")
    else:  # greater / not_greater: the difference against 0
        lo, hi = (0.0, math.inf) if claim.check == "greater" else (-math.inf, claim.tolerance)
        if claim.check == "greater":
            verdict = HOLDS if i.low > 0 else CONTRA if i.high < 0 else INCON
        else:
            verdict = _versus(i, lo, hi)
        side = {HOLDS: "lies above 0", CONTRA: "lies below 0",
                INCON: "includes 0"} if claim.check == "greater" else {
            HOLDS: f"lies at or below {_f(hi, d)}", CONTRA: f"lies above {_f(hi, d)}",
            INCON: f"includes {_f(hi, d)}"}
        note = "" if verdict == HOLDS else (
            f"The difference's interval {ours} {side[verdict]}.")
    return Judgement(verdict, ours, i.how(), measured_at, note, i)


def _judge_curve(claim: Claim, ev: Evidence) -> Judgement:
    curve = ev.curve(claim.metric, claim.at, claim.over, claim.among)
    measured_at = ev.words({**claim.at, "over": claim.over}
                     | ({"among": list(claim.among)} if claim.among else {}),
                     ev.rows(claim.metric, claim.at))
    if curve is None:
        return Judgement(NOT_TESTABLE, at=measured_at,
                         note=f"This run has no {claim.metric} at {ev.words(claim.at)}.")
    curve = curve.dropna(axis=1)  # runs missing a point cannot be paired
    if claim.range is not None:
        lo_x, hi_x = claim.range
        curve = curve[(curve.index >= lo_x - 1e-9) & (curve.index <= hi_x + 1e-9)]
    m = ev.metric(claim.metric)
    d = _digits(claim, ev)
    means = curve.mean(axis=1)
    if curve.empty or curve.shape[1] == 0:
        return Judgement(NOT_TESTABLE, at=measured_at, note="No complete run over the sweep.")
    runs = curve.shape[1]
    if claim.absolute and not ev.at_source_scale(ev.rows(claim.metric, claim.at)):
        return Judgement(NOT_COMPARABLE, f"{means.min():.{d}f} to {means.max():.{d}f}",
                         f"n = {runs}", measured_at, "An absolute value, and this run is not at "
                         "the source's scale: not judged here.")
    if runs < 2 and not m.exact:
        best = means.idxmax()
        return Judgement(ONE, f"best at {_x(best)}: {means.max():.{d}f}", "one run", measured_at,
                         "One run: no interval, so no verdict.")
    if claim.check in ("argmax", "argmin"):
        return _argmax(claim, ev, curve, measured_at, d)
    if claim.check == "all_approx":
        return _all_approx(claim, ev, curve, measured_at, d)
    return _most_greater(claim, ev, curve, measured_at, d)


def _x(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float | np.floating) else str(v)


def _argmax(claim: Claim, ev: Evidence, curve: pd.DataFrame, measured_at: str,
            d: int) -> Judgement:
    """The claimed value (or set of values, a list) of ``over`` is the best (``argmax``: the
    highest, ``argmin``: the lowest): its best point against every value outside it."""
    m = ev.metric(claim.metric)
    sign = 1.0 if claim.check == "argmax" else -1.0
    word = "best" if claim.check == "argmax" else "lowest"
    claimed = claim.reported if isinstance(claim.reported, list) else [claim.reported]
    inside = [x for x in curve.index if any(np.isclose(float(x), float(c)) for c in claimed)]
    means = curve.mean(axis=1) * sign
    best = means.idxmax()
    if not inside:
        return Judgement(NOT_TESTABLE, f"{word} at {_x(best)}", "", measured_at,
                         f"This run did not sweep {claim.over} = {_x(claim.reported)}.")
    others = [x for x in curve.index if x not in inside]
    if not others:
        return Judgement(NOT_TESTABLE, f"{word} at {_x(best)}", "", measured_at,
                         f"The claimed values cover every {claim.over} this run swept.")
    x0 = means.loc[inside].idxmax()  # the claimed set's best point
    level = 1 - (1 - LEVEL) / len(others)
    bounds = _diff_bounds(m.bounds, True, 0.0)
    diffs = {x: interval(sign * (curve.loc[x0] - curve.loc[x]).to_numpy(), bounds, level,
                         exact=m.exact) for x in others}
    better = [x for x, i in diffs.items() if i.high < 0]  # significantly beyond the claimed
    tied = [x for x, i in diffs.items() if not i.low > 0 and not i.high < 0]
    verdict = CONTRA if better else INCON if tied else HOLDS
    at_x0 = interval(curve.loc[x0].to_numpy(), m.bounds, LEVEL, exact=m.exact)
    at_best = interval(curve.loc[best].to_numpy(), m.bounds, LEVEL, exact=m.exact)
    ours = f"{word} at {_x(best)}: {at_best.text(d)}"
    if best != x0:
        ours += f"; at {_x(x0)}: {at_x0.text(d)}"
    how = f"{at_x0.how()}; {len(others)} paired differences at {level:.2%} each (Bonferroni)"
    claimed_text = _x(x0) if len(inside) == 1 else f"{_x(x0)} (the claimed values' {word})"
    if verdict == CONTRA:
        note = (f"{claim.over} = {', '.join(_x(x) for x in better)} is significantly "
                f"{'better' if sign > 0 else 'lower'} than {claimed_text} "
                f"(simultaneous 95%).")
    elif verdict == INCON:
        note = (f"{claimed_text} is not significantly {'better' if sign > 0 else 'lower'} "
                f"than {', '.join(_x(x) for x in tied)} (simultaneous 95%).")
    else:
        note = ""
    return Judgement(verdict, ours, how, measured_at, note)


def _all_approx(claim: Claim, ev: Evidence, curve: pd.DataFrame, measured_at: str,
                d: int) -> Judgement:
    m = ev.metric(claim.metric)
    lo, hi = claim.band
    level = 1 - (1 - LEVEL) / len(curve)
    found = {x: interval(curve.loc[x].to_numpy(), m.bounds, level, exact=m.exact)
             for x in curve.index}
    verdicts = {x: _versus(i, lo, hi) for x, i in found.items()}
    outside = [x for x, v in verdicts.items() if v == CONTRA]
    open_ = [x for x, v in verdicts.items() if v == INCON]
    verdict = CONTRA if outside else INCON if open_ else HOLDS
    means = curve.mean(axis=1)
    ours = f"{means.min():.{d}f} to {means.max():.{d}f}"
    how = f"t, n = {curve.shape[1]}; {len(curve)} points at {level:.2%} each (Bonferroni)"
    band = _band_text(lo, hi, d)
    if verdict == CONTRA:
        note = (f"At {claim.over} = {', '.join(_x(x) for x in outside)} ours lies outside "
                f"{band} (simultaneous 95%).")
    elif verdict == INCON:
        note = (f"At {claim.over} = {', '.join(_x(x) for x in open_)} ours overlaps {band} "
                f"without lying inside it.")
    else:
        note = ""
    return Judgement(verdict, ours, how, measured_at, note)


def _most_greater(claim: Claim, ev: Evidence, curve: pd.DataFrame, measured_at: str,
                  d: int) -> Judgement:
    """More than ``share`` of the swept values lie above ``than`` (paired by run), or above
    ``threshold`` without ``than``."""
    m = ev.metric(claim.metric)
    b = None
    if claim.than:
        other = {**claim.at, **claim.than}
        b = ev.per_run(claim.metric, other)
        if b is None:
            return Judgement(NOT_TESTABLE, at=measured_at,
                             note=f"This run has no {claim.metric} at {ev.words(other)}.")
    k = len(curve)
    level = 1 - (1 - LEVEL) / k
    bounds = _diff_bounds(m.bounds, b is not None, claim.threshold)
    found = {}
    for x in curve.index:
        diff = _paired(curve.loc[x], b)
        if diff is not None and len(diff):
            found[x] = interval((diff - claim.threshold).to_numpy(), bounds, level,
                                exact=m.exact)
    above = [x for x, i in found.items() if i.low > 0]
    below = [x for x, i in found.items() if i.high < 0]
    need = claim.share * k
    verdict = HOLDS if len(above) > need else CONTRA if k - len(below) <= need else INCON
    ours = f"{len(above)} of {k} above, {len(below)} below"
    how = f"t, n = {curve.shape[1]}; {k} paired differences at {level:.2%} each (Bonferroni)"
    ref = ev.words(claim.than) if claim.than else f"{claim.threshold:g}"
    note = "" if verdict == HOLDS else (
        f"{len(above)} of {k} values of {claim.over} lie significantly above {ref} and "
        f"{len(below)} below; more than {need:g} above would hold (simultaneous 95%).")
    return Judgement(verdict, ours, how, measured_at, note)


# ------------------------------------------------------------------------- tables
def _reported(c: Claim) -> str:
    if isinstance(c.reported, str):
        return c.reported
    if isinstance(c.reported, list):
        return ", ".join(_x(x) for x in c.reported)
    return f"{c.reported:g}"


def _criterion(c: Claim, ev: Evidence | None) -> str:
    """What would hold, in words: the band, or the direction."""
    if c.untestable:
        return "—"
    d = c.digits if c.digits is not None else (
        ev.metric(c.metric).digits if ev is not None and c.metric in ev.registry.metrics
        else 3)
    if c.check in BAND_CHECKS or c.check == "all_approx":
        band = _band_text(*c.band, d)
        return band if c.check != "all_approx" else f"every point in {band}"
    if c.check == "greater":
        return f"difference > {c.threshold:g}" if c.threshold else "difference > 0"
    if c.check == "not_greater":
        return f"difference ≤ {c.tolerance:g}"
    if c.check in ("argmax", "argmin"):
        word = "best" if c.check == "argmax" else "lowest"
        claimed = c.reported if isinstance(c.reported, list) else [c.reported]
        return f"{word} {c.over} in {{{', '.join(_x(x) for x in claimed)}}}"
    return f"more than {c.share:.0%} of {c.over} above"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _note(c: Claim, j: Judgement) -> str:
    parts = [j.note] if j.note else []
    if c.reading:
        parts.append(f"Read as: {_sentence(c.reading)}")
    if c.hypothesis and j.verdict not in (HOLDS, NOT_TESTABLE):
        see = f" (see {c.figure})" if c.figure else ""
        parts.append(f"Hypothesis: {c.hypothesis.rstrip('. ')}{see}.")
    return " ".join(parts)


def evaluate(claims: list[Claim], ev: Evidence,
             readings: dict[str, Evidence] | None = None) -> pd.DataFrame:
    """The claims table judged by ``ev``: one row per claim with the reported value, the
    band or direction that would hold and where its tolerance comes from, ours with its
    interval (method and n), the verdict, a note computed from the evidence, the claim's
    measurement group, and with ``readings`` (other plausible readings of the source, run at
    the same scale) one verdict column per reading and whether the verdict is ``robust``."""
    rows = []
    for c in claims:
        j = judge(c, ev)
        row = {"source": c.source, "claim": c.id, "quote": c.quote, "where": c.where,
               "reported": _reported(c), "holds if": _criterion(c, ev),
               "tolerance from": c.tolerance_why, "at": j.at, "ours (95% CI)": j.ours,
               "interval": j.how, "verdict": j.verdict, "note": _note(c, j),
               "group": f"{ev.name}|{c.measurement}|{c.absolute}", "judged on": ev.name}
        for name, other in (readings or {}).items():
            row[f"verdict: {name}"] = judge(c, other).verdict
        rows.append(row)
    table = pd.DataFrame(rows)
    if readings:
        cols = ["verdict"] + [f"verdict: {n}" for n in readings]
        table["robust"] = table[cols].nunique(axis=1) == 1
    return table


def primary(claims: list[Claim], evidence: list[Evidence]) -> pd.DataFrame:
    """Each claim judged by the first of ``evidence`` that can judge it (an absolute claim
    needs a run at the source's scale; a run without the claim's rows passes it on), else by
    the last. List the committed source-scale run first and this build's run last."""
    tables = [evaluate(claims, ev) for ev in evidence]
    out = tables[-1].copy()
    for t in reversed(tables[:-1]):
        judged = ~t["verdict"].isin([NOT_COMPARABLE, NOT_TESTABLE])
        out.loc[judged] = t.loc[judged]
    return out


def independent(table: pd.DataFrame) -> pd.Series:
    """Independent tests by verdict over the whole table (a measurement two sources share
    counts once; ``chapter`` keeps apart the runs of different chapters)."""
    chapter = table["chapter"] if "chapter" in table else ""
    whole = table.assign(source="all", group=chapter + "|" + table["group"])
    return scorecard(whole).loc["all"]


def scorecard(table: pd.DataFrame, by: str = "source") -> pd.DataFrame:
    """Independent tests per ``by`` and verdict: claims sharing one measurement of one run
    (``group``: the run, the metric and coordinates, and whether the claim is absolute)
    count once, under their common verdict, or *inconclusive* where their verdicts differ
    (one measurement that agrees with some printed values and not others)."""
    def one(group: pd.DataFrame) -> str:
        found = group["verdict"].unique()
        return found[0] if len(found) == 1 else INCON

    tests = table.groupby([by, "group"], sort=False).apply(one, include_groups=False)
    counts = pd.crosstab(tests.index.get_level_values(by), tests.to_numpy())
    counts.index.name, counts.columns.name = by, "verdict"
    return counts.reindex(columns=list(VERDICTS), fill_value=0)


def display(table: pd.DataFrame, judged_on: bool = False) -> pd.DataFrame:
    """The columns a reader needs, for the book: the claim (quote and where), the reported
    value, what would hold and where its tolerance comes from, ours with its interval, the
    verdict (and under each reading, if run), and the note."""
    def join(main: pd.Series, extra: pd.Series) -> pd.Series:
        return [f"{m} ({e})" if e else m for m, e in zip(main, extra, strict=True)]

    out = pd.DataFrame({
        "source": table["source"],
        "claim": [f"“{q}” ({w})" for q, w in zip(table["quote"], table["where"], strict=True)],
        "reported": table["reported"],
        "holds if": join(table["holds if"], table["tolerance from"]),
        "ours (95% CI)": join(table["ours (95% CI)"], table["interval"]),
        "verdict": table["verdict"],
    })
    for col in table.columns:
        if col.startswith("verdict: "):
            out[col.removeprefix("verdict: ")] = table[col]
    if "robust" in table:
        out["robust"] = table["robust"]
    if judged_on:
        out["judged on"] = table["judged on"]
    out["note"] = table["note"]
    return out
