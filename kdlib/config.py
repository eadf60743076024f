"""Parameters: each chapter's schema, its three profiles, and validation before any compute.

A notebook's ``parameters`` cell sets ``profile`` and one variable per parameter, ``None``
meaning "the profile's value". :func:`resolve` merges the two, checks names, types and ranges,
and fails with one line naming the parameter and what it accepts.
"""

from __future__ import annotations

import ast
import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kdlib.errors import UserError

PROFILES = ("quick", "default", "paper")
_WORDS = {int: "integer", float: "number", str: "string", bool: "boolean"}
_ARTICLE = {int: "an", float: "a", str: "a", bool: "a"}


class ParamError(UserError, ValueError):
    """A parameter is unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class Param:
    """One parameter: its type, allowed values, meaning, and value in each profile.

    ``kind`` is ``int``, ``float``, ``str``, ``bool`` or ``list`` (of ``item``: floats or ints).
    Numbers (and list elements) must lie in ``[low, high]``; ``low_open`` excludes ``low``.
    Strings must be one of ``choices`` unless ``choices`` is empty.
    """

    name: str
    kind: type
    doc: str
    values: Mapping[str, Any]
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = field(default_factory=tuple)
    item: type = float

    def __post_init__(self) -> None:
        if "=" in self.doc:  # papermill's parameter parser drops a line whose comment has one
            raise ValueError(f"the doc of parameter {self.name!r} must not contain '='")

    def allowed(self) -> str:
        """The allowed values, in words."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.low is None and self.high is None:
            return f"{_ARTICLE[self.kind]} {_WORDS[self.kind]}"
        lo = "(" if self.low_open else "["
        kind = self.item if self.kind is list else self.kind
        what = f"{_ARTICLE[kind]} {_WORDS[kind]}"
        if self.kind is list:
            what = f"a list of {_WORDS[kind]}s, each"
        return f"{what} in {lo}{_fmt(self.low)}, {_fmt(self.high)}]"

    def check(self, value: Any) -> Any:
        """The value converted to this parameter's type, or :class:`ParamError`."""
        if self.kind is list:
            items = _as_list(value, self)
            if not items:
                raise self.error(value)
            try:
                return [self._number(v, self.item) for v in items]
            except ParamError:
                raise self.error(value) from None
        if self.kind is str:
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise self.error(value)
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise self.error(value)
            return value
        return self._number(value, self.kind)

    def _number(self, given: Any, kind: type) -> float | int:
        if isinstance(given, bool) or not isinstance(given, int | float):
            raise self.error(given)
        if kind is int and not float(given).is_integer():
            raise self.error(given)
        value = int(given) if kind is int else float(given)
        low = self.low
        too_low = low is not None and (value <= low if self.low_open else value < low)
        too_high = self.high is not None and value > self.high
        if too_low or too_high or value != value:
            raise self.error(given)
        return value

    def error(self, value: Any) -> ParamError:
        """The one-line error for a bad value."""
        return ParamError(f"{self.name} must be {self.allowed()}; got {value!r}")


def _fmt(x: float | None) -> str:
    if x is None:
        return "inf"
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


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


def _as_list(value: Any, param: Param) -> list[Any]:
    """Lists come from Python, or from papermill as a string like ``"0, 0.5, 1"``."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        try:
            return json.loads(value if value.strip().startswith("[") else f"[{value}]")
        except json.JSONDecodeError:
            raise param.error(value) from None
    raise param.error(value)


@dataclass(frozen=True)
class Schema:
    """A chapter's parameters, in the order its notebook lists them."""

    experiment: str
    params: tuple[Param, ...]

    def names(self) -> list[str]:
        """Parameter names, in order."""
        return [p.name for p in self.params]

    def resolve(self, profile: str = "default", **given: Any) -> dict[str, Any]:
        """Profile values overridden by ``given`` (``None`` = keep the profile's), validated."""
        if profile not in PROFILES:
            raise ParamError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
        unknown = sorted(set(given) - set(self.names()))
        if unknown:
            close = difflib.get_close_matches(unknown[0], self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ParamError(
                f"unknown parameter {unknown[0]!r} for {self.experiment}{hint}; "
                f"known: {', '.join(self.names())}"
            )
        out: dict[str, Any] = {"profile": profile}
        for p in self.params:
            value = given.get(p.name)
            out[p.name] = p.check(p.values[profile] if value is None else value)
        return out

    def from_namespace(self, namespace: Mapping[str, Any]) -> dict[str, Any]:
        """Resolve from a notebook's globals: ``profile`` plus one variable per parameter.

        In IPython, the names papermill injected (``-p name value``) are read from the
        executed cells (``In``), so a misspelt or unknown name fails here too, even when a
        later import has reused the name.
        """
        history = namespace.get("In")
        injected = injected_names(history) if isinstance(history, list) else []
        self.resolve(namespace.get("profile", "default"),
                     **{name: None for name in injected if name != "profile"})
        given = {name: namespace.get(name) for name in self.names()}
        return self.resolve(namespace.get("profile", "default"), **given)

    def docs(self) -> str:
        """One comment line per parameter: its allowed values and meaning (for notebooks)."""
        return "\n".join(f"{p.name}: {p.allowed()}. {p.doc}" for p in self.params)
