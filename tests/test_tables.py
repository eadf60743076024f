"""Tables as Markdown, with column widths for the PDF."""

import re

import pandas as pd

from kdlib import tables


def test_a_table_is_markdown_after_its_pdf_column_widths():
    df = pd.DataFrame({"source": ["000", "001"], "claim": ["a " * 100, "short"],
                       "ours": [0.5, float("nan")], "holds": [True, False]})
    widths, text = tables.markdown(df).split("\n\n", 1)
    assert text.splitlines() == ["| source | claim | ours | holds |",
                                 "| --- | --- | --- | --- |",
                                 f"| 000 | {'a ' * 99}a | 0.500 | yes |",
                                 "| 001 | short | — | no |"]
    shares = [int(a) for a, _ in re.findall(r"\\X\{(\d+)\}\{(\d+)\}", widths)]
    total = {int(b) for _, b in re.findall(r"\\X\{(\d+)\}\{(\d+)\}", widths)}
    assert widths.startswith("```{tabularcolumns} ") and widths.endswith("\n```")
    assert shares == [6 + 3, 60 + 3, 5 + 3, 5 + 3]  # the longest cell, capped at 60, + 3
    assert total == {sum(shares)}  # the columns fill the line
    assert widths.count(r">{\raggedright\arraybackslash}") == 4
