"""Evidence: a run's results as one tidy long table that every claim selects from.

A chapter turns its results into an :class:`Evidence`: one row per (metric, coordinates, run)
with a ``value``. The coordinates are columns (``alpha``, ``epoch``, ``row``, ...); ``run`` is
the independent repetition the value comes from (a seed, a timing round). :mod:`kdlib.claims`
selects rows by a claim's ``metric`` and ``at`` and writes the "at" wording from the same
coordinates, so it knows nothing about any chapter. Metrics computed from other metrics (the
best alpha's gain over scratch, the spread across a sweep) are registered by name in the
chapter's :class:`Registry` and added to the same table: a claim about a metric that exists
needs one row of YAML and no code. The rules that judge them: ``book/judging.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kdlib.errors import UserError
from kdlib.metrics import UNBOUNDED

__all__ = ["ClaimError", "Evidence", "Metric", "Registry", "select", "wide"]

BASE = ("metric", "run", "value")  # every evidence table has these columns


class ClaimError(UserError, ValueError):
    """A claim asks the evidence something it cannot answer as written (a YAML mistake)."""


@dataclass(frozen=True)
class Metric:
    """What one metric measures, its range and what its independent runs are.

    ``runs`` is ``"seeds"`` or ``"timing rounds"`` (one value per independent run), or
    ``"exact"`` for quantities that no run changes (a parameter count): those need no
    interval.
    """

    name: str
    words: str
    bounds: tuple[float, float] = UNBOUNDED
    runs: str = "seeds"
    digits: int = 3

    @property
    def exact(self) -> bool:
        """Whether the quantity is free of run-to-run noise."""
        return self.runs == "exact"


Derive = Callable[[pd.DataFrame], pd.DataFrame]


class Registry:
    """A chapter's metrics: the measured ones, and the derived ones with their functions.

    A derived metric's function takes the evidence table built so far (measured metrics and
    the derived ones registered before it) and returns its own rows: coordinate columns,
    ``run`` and ``value`` (the ``metric`` column is added here).
    """

    def __init__(self) -> None:
        self.metrics: dict[str, Metric] = {}
        self._derive: dict[str, Derive] = {}

    def measured(self, name: str, words: str, **kw: Any) -> None:
        """Register a metric that the chapter's results hold directly."""
        self.metrics[name] = Metric(name, words, **kw)

    def derived(self, name: str, words: str, **kw: Any) -> Callable[[Derive], Derive]:
        """Decorator: register ``fn(table) -> rows`` as the derived metric ``name``."""
        def register(fn: Derive) -> Derive:
            self.metrics[name] = Metric(name, words, **kw)
            self._derive[name] = fn
            return fn
        return register

    def table(self, measured: pd.DataFrame) -> pd.DataFrame:
        """``measured`` rows plus every derived metric's rows, in registration order."""
        unknown = sorted(set(measured["metric"]) - set(self.metrics))
        if unknown:
            raise KeyError(f"metrics not registered: {', '.join(unknown)}")
        table = measured
        for name, fn in self._derive.items():
            rows = fn(table)
            if rows is None or rows.empty:
                continue
            table = pd.concat([table, rows.assign(metric=name)], ignore_index=True)
        return table


def _matches(column: pd.Series, value: Any) -> pd.Series:
    """Which cells of ``column`` equal ``value`` (floats to 1e-9; a list: any of them)."""
    if isinstance(value, list | tuple):
        hit = pd.Series(False, index=column.index)
        for v in value:
            hit |= _matches(column, v)
        return hit
    if isinstance(value, bool) or isinstance(value, str):
        return column.astype(object) == value
    if isinstance(value, int | float):
        numeric = pd.to_numeric(column, errors="coerce")
        return pd.Series(np.isclose(numeric.to_numpy(dtype=float), float(value), rtol=0,
                                    atol=1e-9), index=column.index)
    return column.astype(object) == value


def select(table: pd.DataFrame, metric: str, at: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``metric`` whose coordinates equal ``at``."""
    rows = table[table["metric"] == metric]
    for key, value in at.items():
        if key not in rows.columns:
            raise ClaimError(f"coordinate {key!r} is not in the evidence; it has "
                             f"{', '.join(c for c in table.columns if c not in BASE)}")
        rows = rows[_matches(rows[key], value)]
    return rows


def wide(table: pd.DataFrame, metric: str, at: dict[str, Any], over: str) -> pd.DataFrame:
    """``metric`` at ``at``, one row per value of ``over``, one column per run."""
    rows = select(table, metric, at)
    return rows.pivot_table(index=over, columns="run", values="value", aggfunc="first")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


@dataclass
class Evidence:
    """One run's answers to claims: the tidy table, its metrics, and which run it is.

    ``name`` says which run in words (profile, and for committed runs commit and machine).
    ``source_scale`` says whether the run is at the source's scale; a ``source_scale`` column
    in ``table`` overrides it row by row (a chapter with parts at different scales).
    ``details`` are coordinate columns told in a claim's "at" words but not selected by it
    (our epoch, standing for the source's). ``labels`` rename coordinates in those words.
    """

    table: pd.DataFrame
    registry: Registry
    name: str
    source_scale: bool = False
    dataset: str | None = None
    details: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, rows: Iterable[dict[str, Any]] | pd.DataFrame, registry: Registry,
              name: str, **kw: Any) -> Evidence:
        """Evidence from measured rows (dicts or a frame), with the derived metrics added."""
        measured = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        missing = [c for c in BASE if c not in measured.columns]
        if missing:
            raise KeyError(f"evidence rows need the columns {', '.join(missing)}")
        return cls(registry.table(measured), registry, name, **kw)

    def metric(self, name: str) -> Metric:
        """The registered metric ``name``, or a one-line error listing the known ones."""
        try:
            return self.registry.metrics[name]
        except KeyError:
            raise ClaimError(f"unknown metric {name!r}; this evidence has "
                             f"{', '.join(sorted(self.registry.metrics))}") from None

    def rows(self, metric: str, at: dict[str, Any]) -> pd.DataFrame:
        """The rows of ``metric`` at ``at``."""
        self.metric(metric)
        return select(self.table, metric, at)

    def per_run(self, metric: str, at: dict[str, Any]) -> pd.Series | None:
        """One value per run (indexed by run) of ``metric`` at ``at``; ``None`` when the run
        has no such rows. Several rows for one run mean ``at`` leaves a coordinate open."""
        rows = self.rows(metric, at)
        if rows.empty:
            return None
        if rows["run"].duplicated().any():
            raise ClaimError(f"metric {metric!r} at {at} selects {len(rows)} rows for "
                             f"{rows['run'].nunique()} run(s); also fix "
                             f"{', '.join(self._open(rows, at)) or 'the coordinates'}")
        return rows.set_index("run")["value"].astype(float).sort_index()

    def curve(self, metric: str, at: dict[str, Any], over: str,
              among: Iterable[Any] = ()) -> pd.DataFrame | None:
        """``metric`` at ``at`` against ``over``: a row per value of ``over`` (those in
        ``among`` if given), a column per run; ``None`` without rows."""
        rows = self.rows(metric, at)
        if over not in rows.columns:
            raise ClaimError(f"coordinate {over!r} is not in the evidence")
        among = list(among)
        if among:
            rows = rows[_matches(rows[over], among)]
        if rows.empty:
            return None
        if rows.duplicated(["run", over]).any():
            raise ClaimError(f"metric {metric!r} at {at} over {over!r} selects several rows "
                             f"per run and value; also fix "
                             f"{', '.join(self._open(rows, {**at, over: 0}))}")
        return rows.pivot(index=over, columns="run", values="value").astype(float)

    def at_source_scale(self, rows: pd.DataFrame) -> bool:
        """Whether every selected row comes from a run at the source's scale."""
        if "source_scale" in rows.columns:
            flags = rows["source_scale"].dropna()
            if not flags.empty:
                return bool(flags.astype(bool).all())
        return self.source_scale

    def words(self, at: dict[str, Any], rows: pd.DataFrame | None = None) -> str:
        """Where a claim is evaluated, in words: its coordinates, then the details of the
        rows it selected (e.g. ``epoch 100 (our epoch 1)``)."""
        parts = [f"{self.labels.get(k, k)} {_fmt(v)}" for k, v in at.items()]
        if rows is not None and not rows.empty:
            for d in self.details:
                if d in rows.columns:
                    seen = [v for v in dict.fromkeys(rows[d].dropna()) if v == v]
                    if seen:
                        text = f"({self.labels.get(d, d)} {_fmt(seen)})"
                        parts[-1:] = [f"{parts[-1]} {text}"] if parts else [text]
        return ", ".join(parts) if parts else "—"

    def _open(self, rows: pd.DataFrame, at: dict[str, Any]) -> list[str]:
        """Coordinates that vary among ``rows`` but are not fixed by ``at``."""
        skip = set(BASE) | set(at) | set(self.details) | {"source_scale"}
        return [c for c in rows.columns if c not in skip
                and rows[c].dropna().nunique() > 1]
