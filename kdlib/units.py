"""Units of work: what a unit receives is its cache key, and the sweep every chapter runs.

A :class:`Unit` is a module-level function and the inputs it is called with: sections of the
chapter's parameters (:class:`kdlib.config.Section`), plain values (a seed, a row number),
another unit's entry (:class:`Ref`), and data sets (:class:`kdlib.data.Dataset`, keyed by their
digest). Its cache key is the dump of exactly those inputs, the data digests, the
:class:`~kdlib.config.Numerics` it runs under and the code; the function is called with them
and nothing else. It must be a plain module-level function with no closure and no default
values (checked when the unit is made, before any compute), and its arguments must be exactly
the unit's inputs: it has no parameter object to reach into, so a parameter outside its key
cannot change its numbers.

:func:`sweep` is every chapter's skeleton: its teacher unit(s), then the units that use the
teachers' entries (one per seed, say), through the executor (:mod:`kdlib.executor`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdlib.config import Execution, Numerics, Section
from kdlib.results import PUBLISHED, ROOT, Cache, Entry

__all__ = ["UNIT_TIMES", "Estimate", "Ref", "Sweep", "Unit", "UnitError", "compute_seconds",
           "estimate", "record_unit_times", "sweep"]

# Seconds per unit of size of each kind of unit, measured on a build machine and committed, so a
# fresh clone's first build can estimate too (``python -m kdlib.book --record-unit-times``).
UNIT_TIMES = ROOT / "data" / "unit_times.json"


class UnitError(TypeError):
    """A unit's function could read something its key does not hold (a programming error)."""


@dataclass(frozen=True)
class Ref:
    """Another unit's entry as an input: keyed by that unit's name, key parameters and data
    (not its code, so committed entries of other code are found by what they computed)."""

    unit: Unit
    entry: Entry = field(compare=False, repr=False)


def _check(fn: Callable[..., Any], names: set[str], resumable: bool) -> None:
    """Refuse a function that could see more than its inputs."""
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    if not inspect.isfunction(fn):
        raise UnitError(f"a unit's function must be a plain function; got {fn!r}")
    if fn.__closure__ or "." in fn.__qualname__ or "<" in fn.__qualname__:
        raise UnitError(f"{name} is not a module-level function: it could read parameters "
                        "its key does not hold")
    if fn.__defaults__ or fn.__kwdefaults__:
        raise UnitError(f"{name} has default values: a unit passes every input")
    wanted = set(inspect.signature(fn).parameters) - ({"checkpoint"} if resumable else set())
    if wanted != names:
        raise UnitError(f"{name} takes {sorted(wanted)}, the unit gives {sorted(names)}")


def _key_value(value: Any) -> Any:
    if isinstance(value, Section):
        return value.key()
    if isinstance(value, Ref):
        return {"unit": value.unit.name, "params": value.unit.params, "data": value.unit.digest}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_key_value(v) for v in value]
    raise UnitError(f"a unit's input must be a Section, a Ref or a plain value; got "
                    f"{type(value).__name__}")


@dataclass(frozen=True)
class Unit:
    """One unit of work: its name in the cache, its function, the inputs the function is
    called with (its key), the data sets it reads (keyed by digest), and the numerics it runs
    under. A ``resumable`` unit's function also gets its :class:`~kdlib.results.Checkpoint`."""

    name: str
    fn: Callable[..., Entry]
    inputs: Mapping[str, Any]
    data: Mapping[str, Any] = field(default_factory=dict, repr=False)  # name -> Dataset
    numerics: Numerics = Numerics()
    resumable: bool = False
    size: float = 1.0  # its work in its own measure (images x epochs, say): for estimates only

    def __post_init__(self) -> None:
        clash = set(self.inputs) & set(self.data)
        if clash:
            raise UnitError(f"unit {self.name!r}: {sorted(clash)} are both inputs and data")
        _check(self.fn, set(self.inputs) | set(self.data), self.resumable)
        self.params  # every input can be keyed  # noqa: B018
        for name, ds in self.data.items():
            if not isinstance(getattr(ds, "digest", None), str):
                raise UnitError(f"unit {self.name!r}: data {name!r} has no digest")

    @property
    def params(self) -> dict[str, Any]:
        """The unit's key parameters: its inputs' dump and the numerics."""
        return {**{n: _key_value(v) for n, v in self.inputs.items()},
                "numerics": self.numerics.key()}

    @property
    def digest(self) -> str:
        """The data part of the key: the digest of each data set it reads (``none``)."""
        if not self.data:
            return "none"
        if len(self.data) == 1:
            return next(iter(self.data.values())).digest
        joined = ",".join(f"{n}={d.digest}" for n, d in sorted(self.data.items()))
        return hashlib.sha256(joined.encode()).hexdigest()[:32]

    def compute(self, checkpoint: Any = None) -> Entry:
        """Call the function with exactly its inputs (a :class:`Ref` as its entry) and data."""
        import torch

        args = {n: v.entry if isinstance(v, Ref) else v for n, v in self.inputs.items()}
        threads = torch.get_num_threads()
        torch.set_num_threads(self.numerics.threads)
        try:
            if self.resumable:
                return self.fn(**args, **self.data, checkpoint=checkpoint)
            return self.fn(**args, **self.data)
        finally:
            torch.set_num_threads(threads)


def compute_seconds(entries: Sequence[Entry | None]) -> float:
    """The time it took to compute these entries, wherever and whenever they were computed
    (each entry's ``meta["seconds"]``; 0 for one that does not record it)."""
    return float(sum(e["meta"].get("seconds", 0.0) for e in entries if e is not None))


@dataclass
class Sweep:
    """A chapter's entries: its teachers' and the rest, in the order of their units."""

    teachers: list[Entry | None]
    units: list[Entry | None]

    @property
    def compute_seconds(self) -> float:
        """The time it took to compute every entry, cached or not."""
        return compute_seconds([*self.teachers, *self.units])


def sweep(cache: Cache, experiment: str, teachers: Sequence[Unit],
          units: Callable[[list[Ref]], Sequence[Unit]], run: Execution,
          desc: str = "", compute: bool = True) -> Sweep:
    """The teacher unit(s), then the units ``units(refs)`` makes from the teachers' entries,
    through the executor ``run`` names. With ``compute=False`` nothing is computed: entries
    are found (this code's, else other code's, :meth:`Cache.find`) or ``None``; units whose
    teachers are missing are not looked for."""
    from kdlib.executor import run_units

    desc = desc or experiment
    if compute:
        found: list[Entry | None] = list(run_units(cache, experiment, teachers, run,
                                                   desc=f"{desc} teacher"))
    else:
        found = [cache.find(experiment, u.name, u.params, u.digest) for u in teachers]
    if any(e is None for e in found):
        return Sweep(found, [])
    refs = [Ref(u, e) for u, e in zip(teachers, found, strict=True)]
    todo = list(units(refs))
    if compute:
        return Sweep(found, list(run_units(cache, experiment, todo, run, desc=desc)))
    return Sweep(found, [cache.find(experiment, u.name, u.params, u.digest) for u in todo])


@dataclass(frozen=True)
class Estimate:
    """How much of a list of units the cache holds, and how long the rest should take."""

    units: int
    held: int
    seconds: float | None  # None: no unit of these kinds has been timed in reach
    basis: str  # where the unit times come from

    def __str__(self) -> str:
        todo = self.units - self.held
        text = (f"{self.units} unit{'s' * (self.units != 1)}, {self.held} in the cache, "
                f"{todo} to compute")
        if todo and self.seconds is not None:
            text += f", about {_duration(self.seconds)} ({self.basis})"
        elif todo:
            text += ", no estimate (no unit of this kind timed yet)"
        return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _rates(roots: Sequence[Any], experiment: str) -> dict[str, tuple[float, str]]:
    """Per unit name: the median seconds per unit of size of the timed entries under
    ``roots``, and the machine(s) they were timed on."""
    found: dict[str, list[tuple[float, str]]] = {}
    for root in roots:
        for path in sorted((root / experiment).glob("*/meta.json")):
            meta = json.loads(path.read_text())
            if "seconds" in meta and meta.get("size"):
                found.setdefault(meta["unit"], []).append(
                    (meta["seconds"] / meta["size"], meta.get("machine", "unknown")))
    return {name: (statistics.median(r for r, _ in rows), rows[-1][1])
            for name, rows in found.items()}


def estimate(cache: Cache, experiment: str, units: Sequence[Unit]) -> Estimate:
    """The units the cache holds, and the time the others should take: each unit's size times
    the median seconds per size of the entries of its kind (name) timed in this cache or in the
    committed results. An estimate from this machine's own past units where there are any."""
    todo = [u for u in units if not cache.has(experiment, u.name, u.params, u.digest)]
    if not todo:
        return Estimate(len(units), len(units), 0.0, "")
    committed = json.loads(UNIT_TIMES.read_text()).get(experiment, {}) if UNIT_TIMES.exists() \
        else {}
    rates = ({name: (r[0], r[1]) for name, r in committed.items()}
             | _rates([PUBLISHED], experiment) | _rates([cache.root], experiment))
    if any(u.name not in rates for u in todo):
        return Estimate(len(units), len(units) - len(todo), None, "")
    machines = sorted({rates[u.name][1] for u in todo})
    seconds = sum(u.size * rates[u.name][0] for u in todo)
    return Estimate(len(units), len(units) - len(todo), seconds,
                    "from unit times on " + "; ".join(machines))


def record_unit_times(cache: Cache, path: Path = UNIT_TIMES) -> dict[str, Any]:
    """Write the seconds per unit of size of every kind of unit timed in ``cache`` to
    ``path`` (to be committed), keeping the kinds it has not timed; returns what it wrote."""
    table = json.loads(path.read_text()) if path.exists() else {}
    for folder in sorted(p for p in cache.root.iterdir() if p.is_dir()):
        for name, (rate, machine) in _rates([cache.root], folder.name).items():
            table.setdefault(folder.name, {})[name] = [rate, machine]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return table
