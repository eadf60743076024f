"""The scorecard page: every chapter's claims in one table, judged by the same results.

Each claims file (``data/claims/<source>.yaml``) names its chapter. For every chapter that has
an experiment module, the scorecard resolves that chapter's parameters for the profile, runs it
(in a book build every result is already in the cache, so nothing trains) and judges its
claims with :func:`kdlib.claims.evaluate`, exactly as the chapter does. No verdict is typed.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from kdlib import claims
from kdlib.claims import CLAIMS_DIR, VERDICTS
from kdlib.config import Schema
from kdlib.results import Cache

__all__ = ["SCHEMA", "documents", "judge", "not_testable", "summary"]

SCHEMA = Schema("scorecard", ())  # the page's only parameter is the profile


def documents(directory: Path = CLAIMS_DIR) -> pd.DataFrame:
    """One row per claims file: source, title, chapter, number of claims."""
    rows = []
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        rows.append({"source": str(doc["source"]), "title": doc["title"],
                     "chapter": doc.get("chapter", ""), "claims": len(doc["claims"])})
    return pd.DataFrame(rows)


def _experiment(chapter: str) -> Any | None:
    name = f"kdlib.experiments.{chapter}"
    return importlib.import_module(name) if importlib.util.find_spec(name) else None


def judge(profile: str, cache: Cache | None = None,
          directory: Path = CLAIMS_DIR) -> pd.DataFrame:
    """Every claim of every chapter present, judged by that chapter's run at ``profile``."""
    docs = documents(directory)
    tables = []
    for chapter, group in docs.groupby("chapter", sort=False):
        module = _experiment(chapter)
        if module is None:
            continue
        r = module.run(module.resolve({"profile": profile}), cache)
        found = [c for s in group["source"] for c in claims.load(s, directory)]
        tables.append(claims.evaluate(found, r).assign(chapter=chapter))
    return pd.concat(tables, ignore_index=True)


def summary(table: pd.DataFrame, directory: Path = CLAIMS_DIR) -> str:
    """A Markdown table: per source document, its chapter (linked) and the count of each
    verdict; documents without a chapter yet are listed with none judged."""
    counts = claims.scorecard(table)
    lines = ["| source | document | chapter | " + " | ".join(VERDICTS) + " | claims |",
             "| --- | --- | --- | " + " | ".join("---:" for _ in VERDICTS) + " | ---: |"]
    for _, d in documents(directory).iterrows():
        if d["source"] in counts.index:
            row = counts.loc[d["source"]]
            cells = [str(int(row[v])) for v in VERDICTS] + [str(int(row.sum()))]
            link = f"[{d['chapter']}]({d['chapter']})"
        else:
            cells = ["—"] * len(VERDICTS) + [str(d["claims"])]
            link = "no chapter yet"
        lines.append(f"| {d['source']} | {d['title']} | {link} | " + " | ".join(cells) + " |")
    total = counts.sum()
    lines.append("| **all** | | | " + " | ".join(f"**{int(total[v])}**" for v in VERDICTS)
                 + f" | **{int(total.sum())}** |")
    return "\n".join(lines)


def not_testable(table: pd.DataFrame) -> pd.DataFrame:
    """The claims that cannot be tested here, with the reason."""
    rows = table[table["verdict"] == "not testable here"]
    return rows[["source", "claim", "quote", "note"]].rename(columns={"note": "why"})
