"""Tables for the book as Markdown, which MyST turns into real tables in the HTML and in the
PDF alike (a pandas Styler prints as its repr in the PDF; a plain DataFrame as a text dump)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from IPython.display import Markdown

__all__ = ["markdown", "show"]


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    text = " ".join(str(value).split())  # one line: a newline would end the row
    return text.replace("\\", "\\\\").replace("|", "\\|")


def markdown(df: pd.DataFrame, index: bool = False, digits: int = 3) -> str:
    """``df`` as a Markdown table (floats to ``digits`` decimals, NaN as a dash)."""
    if index:
        names = [n or "" for n in df.index.names]
        df = df.reset_index(names=names if len(set(names)) == len(names) else None)
    head = [_cell(c if not isinstance(c, tuple) else " ".join(map(str, c)), digits)
            for c in df.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, digits) for v in row) + " |")
    return "\n".join(lines)


def show(df: pd.DataFrame, index: bool = False, digits: int = 3) -> Markdown:
    """``df`` for a notebook cell: a real table in the HTML and in the PDF."""
    return Markdown(markdown(df, index=index, digits=digits))
