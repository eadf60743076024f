"""Parameters: each chapter's typed model of sections, its profiles, and one-line errors.

A chapter's parameters are one :class:`Params` model made of :class:`Section` s, each the
inputs of a unit of work (its ``teacher``, its ``students``, ``timing`` ...). The fields hold
the ``default`` profile's values; each other profile lists only what it changes
(``Params.profiles``, flat names). A notebook sets parameters by flat name (``papermill -p
temperature 5``): every name belongs to exactly one section. Every chapter also has the two
sections of :class:`Params` itself: ``run`` (where a run happens and reads its files: never in a
cache key) and ``numerics`` (the thread count, which changes floating-point results: in every
unit's key, and applied by the executor).

A unit of work receives whole sections and nothing else, and its cache key is their dump
(:mod:`kdlib.units`), so a unit cannot read a parameter its key misses. :meth:`Params.resolve`
checks names, types and ranges before any compute, and a bad value is one line:
``temperature must be a number in (0, 100]; got 0``; an unknown name gets a "did you mean".
:func:`parameters_cell` writes a notebook's ``parameters`` cell from the model.
"""

from __future__ import annotations

import ast
import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from kdlib.errors import UserError

__all__ = ["MAX_SEED", "PROFILES", "Execution", "Numerics", "ParamError", "Params", "Section",
           "injected_names", "param", "parameters_cell"]

PROFILES = ("quick", "default", "paper")
MAX_SEED = 2**31 - 1  # the largest seed any parameter accepts
_WORDS = {int: "integer", float: "number", str: "string", bool: "boolean"}
_ARTICLE = {int: "an", float: "a", str: "a", bool: "a"}


class ParamError(UserError, ValueError):
    """A parameter is unknown, of the wrong type or out of range."""


def _fmt(x: float | None) -> str:
    if x is None:
        return "inf"
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class _Rule:
    """What one field accepts: its check, and the words of its one-line error."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    item: type | None = None  # the type of a list's elements (int or float)

    @property
    def bounded(self) -> bool:
        return self.low is not None or self.high is not None

    def allowed(self) -> str:
        """The allowed values, in words."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        kind = self.item or self.kind
        what = f"{_ARTICLE[kind]} {_WORDS[kind]}"
        if self.item:
            what = f"a list of {_WORDS[kind]}s" + (", each" if self.bounded else "")
        if not self.bounded:
            return what
        lo = "(" if self.low_open else "["
        return f"{what} in {lo}{_fmt(self.low)}, {_fmt(self.high)}]"

    def check(self, value: Any) -> Any:
        """The value converted to this field's type; ``ValueError`` if it is not allowed."""
        if self.item is not None:
            items = _as_list(value)
            if not items:
                raise ValueError
            return [self._number(v, self.item) for v in items]
        if self.kind is str:
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise ValueError
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        return self._number(value, self.kind)

    def _number(self, given: Any, kind: type) -> float | int:
        if isinstance(given, bool) or not isinstance(given, int | float):
            raise ValueError
        if kind is int and not float(given).is_integer():
            raise ValueError
        value = int(given) if kind is int else float(given)
        too_low = self.low is not None and (value <= self.low if self.low_open
                                            else value < self.low)
        too_high = self.high is not None and value > self.high
        if too_low or too_high or value != value:
            raise ValueError
        return value


def _as_list(value: Any) -> list[Any]:
    """Lists come from Python, or from papermill as a string like ``"0, 0.5, 1"``."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value if value.strip().startswith("[") else f"[{value}]")
        except json.JSONDecodeError:
            raise ValueError from None
        if isinstance(parsed, list):
            return parsed
    raise ValueError


def param(kind: type, doc: str, default: Any, low: float | None = None,
          high: float | None = None, low_open: bool = False, choices: Sequence[str] = (),
          item: type | None = None) -> Any:
    """A field of a :class:`Section`, used as its annotation: ``kind`` (``int``, ``float``,
    ``str``, ``bool``, or ``list`` of ``item``), its meaning (``doc``, shown in the notebook),
    its value in the ``default`` profile, and what it accepts (numbers in ``[low, high]``,
    ``low_open`` excluding ``low``; strings among ``choices`` unless there are none)."""
    if "=" in doc:  # papermill's parameter parser drops a comment line that has one
        raise ValueError(f"a parameter's doc must not contain '=': {doc!r}")
    rule = _Rule(kind, low, high, low_open, tuple(choices), item)

    def check(value: Any) -> Any:
        try:
            return rule.check(value)
        except ValueError:
            raise ValueError(f"must be {rule.allowed()}; got {value!r}") from None

    python_type = list[item] if item is not None else kind
    return Annotated[python_type, BeforeValidator(check),
                     Field(default=default, description=doc,
                           json_schema_extra={"allowed": rule.allowed()})]


class Section(BaseModel):
    """A group of parameters that units of work receive whole; immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    def key(self) -> dict[str, Any]:
        """What this section adds to a unit's cache key: every field, as JSON values."""
        return self.model_dump(mode="json")


class Execution(Section):
    """Where a run happens and where it reads its files: in no cache key."""

    executor: param(str, "Where the sweep's units run: local (here, in turn) or ray (Ray "
                    "tasks, same results and cache).", "local", choices=("local", "ray"))
    ray_address: param(str, "Ray cluster to use when executor is ray; '' starts a local Ray on "
                       "this machine.", "")
    data_dir: param(str, "Directory holding the official data files; '' searches the usual "
                    "places, then downloads what is missing.", "")


class Numerics(Section):
    """What changes floating-point results but not the experiment: in every unit's key."""

    threads: param(int, "torch CPU threads per unit of work; results are bit-identical only "
                   "at the same count (2 is the build machines').", 2, low=1, high=512)


P = TypeVar("P", bound="Params")


class Params(BaseModel):
    """A chapter's parameters: its sections (fields whose type is a :class:`Section`), the
    profile they were resolved for, and the two sections every chapter has."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    chapter: ClassVar[str] = ""
    profiles: ClassVar[Mapping[str, Mapping[str, Any]]] = {}  # profile -> flat overrides
    profile: str = "default"
    run: Execution = Execution()
    numerics: Numerics = Numerics()

    @classmethod
    def sections(cls) -> dict[str, type[Section]]:
        """The model's sections by field name: the chapter's own, then run and numerics."""
        found = {name: f.annotation for name, f in cls.model_fields.items()
                 if isinstance(f.annotation, type) and issubclass(f.annotation, Section)}
        own = [n for n in found if n not in ("run", "numerics")]
        return {n: found[n] for n in [*own, "run", "numerics"]}

    @classmethod
    def names(cls) -> dict[str, str]:
        """Every flat parameter name, in order, with the section that holds it."""
        out: dict[str, str] = {}
        for section, model in cls.sections().items():
            for name in model.model_fields:
                if name in out or name == "profile":
                    raise TypeError(f"{cls.__name__}: parameter {name!r} is defined twice")
                out[name] = section
        return out

    @classmethod
    def resolve(cls: type[P], profile: str = "default", **given: Any) -> P:
        """The profile's values overridden by ``given`` (``None`` keeps the profile's),
        validated; a bad name or value raises :class:`ParamError` in one line."""
        if profile not in PROFILES:
            raise ParamError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
        cls._known(given)
        values = {**cls.profiles.get(profile, {}),
                  **{k: v for k, v in given.items() if v is not None}}
        return cls._build(profile, values)

    @classmethod
    def _known(cls, given: Mapping[str, Any]) -> None:
        names = cls.names()
        unknown = [k for k in given if k not in names]
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(names), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ParamError(f"unknown parameter {unknown[0]!r} for {cls.chapter}{hint}; "
                             f"known: {', '.join(names)}")

    @classmethod
    def _build(cls: type[P], profile: str, values: Mapping[str, Any]) -> P:
        names, models = cls.names(), cls.sections()
        grouped: dict[str, dict[str, Any]] = {s: {} for s in models}
        for name, value in values.items():
            grouped[names[name]][name] = value
        try:
            p = cls(profile=profile, **{s: models[s](**v) for s, v in grouped.items()})
        except ValidationError as e:
            raise ParamError(_one_line(e)) from None
        return p.checked()

    def checked(self: P) -> P:
        """Checks across parameters, after each has passed its own. Override to raise
        :class:`ParamError`, or to return a normalised copy (``model_copy``)."""
        return self

    def replace(self: P, **flat: Any) -> P:
        """A copy with some parameters (by flat name) changed, validated as :meth:`resolve`
        validates; the profile stays."""
        self._known(flat)
        return self._build(self.profile, {**self.flat(with_profile=False), **flat})

    @classmethod
    def from_namespace(cls: type[P], namespace: Mapping[str, Any]) -> P:
        """Resolve from a notebook's globals: ``profile`` plus one variable per parameter.

        In IPython, the names papermill injected (``-p name value``) are read from the
        executed cells (``In``), so a misspelt or unknown name fails here too, even when a
        later import has reused the name.
        """
        history = namespace.get("In")
        injected = injected_names(history) if isinstance(history, list) else []
        profile = namespace.get("profile", "default")
        cls.resolve(profile, **{n: None for n in injected if n != "profile"})
        return cls.resolve(profile, **{n: namespace.get(n) for n in cls.names()})

    def flat(self, with_profile: bool = True) -> dict[str, Any]:
        """Every parameter by flat name (the notebook's view), the profile first."""
        out: dict[str, Any] = {"profile": self.profile} if with_profile else {}
        for section in self.sections():
            out.update(getattr(self, section).model_dump())
        return out

    def __getitem__(self, name: str) -> Any:
        """A parameter by flat name, for a chapter's prose and tables (units of work receive
        sections, never the whole model)."""
        if name == "profile":
            return self.profile
        section = self.names().get(name)
        if section is None:
            raise KeyError(name)
        return getattr(getattr(self, section), name)


def _one_line(e: ValidationError) -> str:
    """The first error of a validation, as ``name must be ...; got ...``."""
    err = e.errors()[0]
    name = str(err["loc"][-1]) if err["loc"] else "value"
    message = str(err.get("ctx", {}).get("error", err["msg"]))
    if message.startswith("must be "):
        return f"{name} {message}"
    return f"{name}: {message}"


def parameters_cell(model: type[Params], example: str) -> str:
    """The source of a notebook's ``parameters`` cell, written from the model: ``profile``,
    then each section's parameters under a comment naming it, each ``None`` (the profile's
    value) with what it accepts and what it means."""
    lines = ["# Parameters. None = the profile's value. Re-run with, e.g.:",
             f"#   {example}",
             f'profile = "default"  # one of {", ".join(PROFILES)}']
    for section, sub in model.sections().items():
        lines.append(f"# {section}: {(sub.__doc__ or '').strip().splitlines()[0]}")
        for name, f in sub.model_fields.items():
            allowed = (f.json_schema_extra or {}).get("allowed", "")
            lines.append(f"{name} = None  # {allowed}. {f.description}")
    return "\n".join(lines)


def injected_names(cells: Sequence[str]) -> list[str]:
    """Names papermill set in the executed ``cells``: those assigned in a cell that starts
    with papermill's ``# Parameters`` line (the notebook's own parameters cell does not)."""
    names = []
    for source in cells:
        if not isinstance(source, str) or source.split("\n", 1)[0].strip() != "# Parameters":
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        names += [t.id for node in tree.body if isinstance(node, ast.Assign)
                  for t in node.targets if isinstance(t, ast.Name)]
    return names

