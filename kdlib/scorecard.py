"""The scorecard page: every chapter's claims in one table, judged as the chapter judges them.

Each claims file (``data/claims/<source>.yaml``) names its chapter. For every chapter of the
registry (:func:`kdlib.chapters.registry`) that judges claims, the scorecard takes the verdicts
the chapter counts, from its ``judged(params, cache)``: each claim judged at the source's scale
where a committed run at that scale exists, else by the profile's run (in a book build every
result is already in the cache, so nothing trains). It counts independent tests (claims sharing
one measurement count once, :func:`kdlib.claims.scorecard`) and says how many verdicts depend
on the reading of a source. No verdict is typed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from kdlib import claims
from kdlib.chapters import Chapter
from kdlib.claims import CLAIMS_DIR, VERDICTS
from kdlib.config import Params
from kdlib.results import Cache

__all__ = ["CHAPTER", "ScorecardParams", "documents", "judge", "not_testable", "readings",
           "summary"]


class ScorecardParams(Params):
    """The scorecard page's parameters: the profile whose verdicts it counts."""

    chapter = "scorecard"


def documents(directory: Path = CLAIMS_DIR) -> pd.DataFrame:
    """One row per claims file: source, title, chapter, number of claims."""
    rows = []
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        rows.append({"source": str(doc["source"]), "title": doc["title"],
                     "chapter": doc.get("chapter", ""), "claims": len(doc["claims"])})
    return pd.DataFrame(rows)


def judge(profile: str, cache: Cache | None = None,
          directory: Path = CLAIMS_DIR) -> pd.DataFrame:
    """Every claim of every chapter present, as its chapter counts it at ``profile``."""
    from kdlib.chapters import registry

    docs = documents(directory)
    tables = []
    for name, chapter in registry().items():
        sources = set(docs.loc[docs["chapter"] == name, "source"])
        if chapter.judged is None or not sources:
            continue
        p = chapter.params.resolve(profile)
        if directory == CLAIMS_DIR:
            table = chapter.judged(p, cache)
        else:  # claims of another directory (the tests'), judged by the same evidence
            found = [c for s in sorted(sources) for c in claims.load(s, directory)]
            table = claims.primary(found, chapter.evidence_for(p, cache))
        tables.append(table[table["source"].isin(sources)].assign(chapter=name))
    return pd.concat(tables, ignore_index=True)


def readings(table: pd.DataFrame) -> pd.Series:
    """Per claim: ``"robust"`` (the same verdict under every reading run), ``"depends on the
    reading"``, or ``"one reading"`` (no other reading was run for it)."""
    if "robust" not in table:
        return pd.Series("one reading", index=table.index)
    return table["robust"].map({True: "robust", False: "depends on the reading"}).fillna(
        "one reading")


def summary(table: pd.DataFrame, directory: Path = CLAIMS_DIR) -> str:
    """A Markdown table: per source document, its chapter (linked), the independent tests by
    verdict, the number of tests and of claims, and the claims whose verdict depends on the
    reading; documents without a chapter yet are listed with none judged."""
    counts = claims.scorecard(table)
    dependent = (readings(table) == "depends on the reading").groupby(table["source"]).sum()
    heads = [*VERDICTS, "tests", "claims", "reading-dependent"]
    lines = ["| source | document | chapter | " + " | ".join(heads) + " |",
             "| --- | --- | --- | " + " | ".join("---:" for _ in heads) + " |"]
    n_claims = table.groupby("source").size()
    for _, d in documents(directory).iterrows():
        s = d["source"]
        if s in counts.index:
            row = counts.loc[s]
            cells = [str(int(row[v])) for v in VERDICTS] + [
                str(int(row.sum())), str(int(n_claims[s])), str(int(dependent.get(s, 0)))]
            link = f"[{d['chapter']}]({d['chapter']})"
        else:
            cells = ["—"] * len(VERDICTS) + ["—", str(d["claims"]), "—"]
            link = "no chapter yet"
        lines.append(f"| {s} | {d['title']} | {link} | " + " | ".join(cells) + " |")
    total = claims.independent(table)
    cells = [f"**{int(total[v])}**" for v in VERDICTS] + [
        f"**{int(total.sum())}**", f"**{len(table)}**", f"**{int(dependent.sum())}**"]
    lines.append("| **all** | | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def not_testable(table: pd.DataFrame) -> pd.DataFrame:
    """The claims that cannot be tested here, with the reason."""
    rows = table[table["verdict"] == "not testable here"]
    return rows[["source", "claim", "quote", "note"]].rename(columns={"note": "why"})


CHAPTER = Chapter("scorecard", ScorecardParams, run=None, judged=None, evidence_for=None,
                  sources=(), example="papermill notebooks/scorecard.ipynb out.ipynb "
                  "-p profile quick")
