"""Tables for the book as Markdown, which MyST turns into real tables in the HTML and in the
PDF alike (a pandas Styler prints as its repr in the PDF; a plain DataFrame as a text dump)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from IPython.display import Markdown

__all__ = ["latex_columns", "markdown", "show"]


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    text = " ".join(str(value).split())  # one line: a newline would end the row
    return text.replace("\\", "\\\\").replace("|", "\\|")


def latex_columns(head: list[str], rows: list[list[str]]) -> str:
    """A MyST ``tabularcolumns`` directive for the PDF: ragged-right columns, each given a
    share of the line in proportion to its longest cell (at most 60 characters' worth, at
    least its longest word's, up to 14), plus 3 for the space between columns. Without it
    Sphinx sets a table of more than 30 rows (a longtable) in unwrapped ``l`` columns, which
    run off the page; the HTML ignores it."""
    widths = []
    for i, h in enumerate(head):
        cells = [h, *(r[i] for r in rows)]
        word = max(len(w) for c in cells for w in (c.split() or [""]))
        widths.append(min(max(max(map(len, cells)), min(max(word, 4), 14)), 60) + 3)
    spec = "".join(rf">{{\raggedright\arraybackslash}}\X{{{w}}}{{{sum(widths)}}}" for w in widths)
    return f"```{{tabularcolumns}} {spec}\n```"


def markdown(df: pd.DataFrame, index: bool = False, digits: int = 3) -> str:
    """``df`` as a Markdown table (floats to ``digits`` decimals, NaN as a dash), preceded by
    its column widths for the PDF (:func:`latex_columns`)."""
    if index:
        names = [n or "" for n in df.index.names]
        df = df.reset_index(names=names if len(set(names)) == len(names) else None)
    head = [_cell(c if not isinstance(c, tuple) else " ".join(map(str, c)), digits)
            for c in df.columns]
    rows = [[_cell(v, digits) for v in row] for row in df.itertuples(index=False)]
    lines = [latex_columns(head, rows), "",
             "| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def show(df: pd.DataFrame, index: bool = False, digits: int = 3) -> Markdown:
    """``df`` for a notebook cell: a real table in the HTML and in the PDF."""
    return Markdown(markdown(df, index=index, digits=digits))
