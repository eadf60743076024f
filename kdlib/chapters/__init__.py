"""The book's chapters, found here and nowhere else: the book build, ``kdlib.run``, the
scorecard and the tests all read :func:`registry`.

A chapter is a notebook (``notebooks/<name>.ipynb``), the module that computes its results
(``kdlib/experiments/<name>.py``), the module that words them (``kdlib/chapters/<name>.py``,
which defines ``CHAPTER``) and the claims files of its source documents
(``data/claims/<source>.yaml``). :data:`MODULES` lists the chapter modules in the book's
order; ``_toc.yml`` must list their pages in the same order (a test checks it). The README's
"How to add a chapter" says which files a new one takes.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kdlib.config import Params

__all__ = ["MODULES", "Chapter", "get", "names", "registry"]

# The chapter modules, in the book's order (the scorecard page counts the chapters before it).
MODULES = ("kdlib.chapters.alpha", "kdlib.chapters.poster", "kdlib.chapters.iisc",
           "kdlib.chapters.teachers", "kdlib.scorecard")


@dataclass(frozen=True)
class Chapter:
    """What the rest of kd-report needs to know of a chapter.

    - ``name``: its notebook ``notebooks/<name>.ipynb`` and page ``book/<name>``;
    - ``params``: its typed parameters (:class:`kdlib.config.Params`);
    - ``run``: ``run(params, cache)``, its main sweep (what ``python -m kdlib.run`` runs);
      ``None`` for a page that trains nothing;
    - ``judged``: ``judged(params, cache)``, the table of its claims' verdicts that the
      scorecard counts (``None``: it judges no claims);
    - ``evidence_for``: ``evidence_for(params, cache)``, the evidence its claims are judged on;
    - ``sources``: the source documents it judges (``data/claims/<source>.yaml``);
    - ``example``: a re-run command shown in its parameters cell;
    - ``plan``: ``plan(params)``, every unit its notebook uses, as ``(experiment, unit)`` pairs,
      so the book can say before it starts what the cache holds and what is left to compute
      (``None``: it computes nothing).
    """

    name: str
    params: type[Params]
    run: Callable[..., Any] | None
    judged: Callable[..., Any] | None
    evidence_for: Callable[..., Any] | None
    sources: tuple[str, ...]
    example: str
    plan: Callable[..., Any] | None = None


def names() -> list[str]:
    """The chapters' names, in the book's order, without importing them."""
    return [m.rsplit(".", 1)[1] for m in MODULES]


@functools.cache
def get(name: str) -> Chapter:
    """One chapter (importing only its module); a ``KeyError`` naming the known ones if there
    is none of that name."""
    modules = dict(zip(names(), MODULES, strict=True))
    if name not in modules:
        raise KeyError(f"no chapter {name!r}; known: {', '.join(modules)}")
    chapter = importlib.import_module(modules[name]).CHAPTER
    if chapter.name != name:
        raise TypeError(f"{modules[name]}.CHAPTER is named {chapter.name!r}, not {name!r}")
    return chapter


def registry() -> dict[str, Chapter]:
    """Every chapter by name, in the book's order."""
    return {name: get(name) for name in names()}
