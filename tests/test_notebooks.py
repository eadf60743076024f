"""Integration: every chapter at the quick profile through papermill, then the book build."""

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import digests
import nbformat
import papermill
import pytest
import yaml

from kdlib import book, browser, chapters
from kdlib.config import parameters_cell

ROOT = Path(__file__).resolve().parents[1]
def _copy_book(dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, dst / name)
    shutil.copytree(ROOT / "notebooks", dst / "notebooks")
    (dst / "book").mkdir()
    for page in (ROOT / "book").iterdir():  # the pages and the favicon, not executed output
        if page.suffix in (".md", ".svg"):
            shutil.copy(page, dst / "book" / page.name)
    return dst


def test_every_chapter_has_a_notebook_and_the_toc_lists_them_in_the_registry_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [Path(e["file"]).name for e in toc["chapters"]]
    assert [p for p in pages if (ROOT / "notebooks" / f"{p}.ipynb").exists()] == chapters.names()
    assert book.chapters() == chapters.names()
    assert sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")) == sorted(chapters.names())


@pytest.mark.parametrize("name", chapters.names())
def test_source_notebook_is_clean_and_its_parameters_cell_is_written_from_its_model(name):
    path = ROOT / "notebooks" / f"{name}.ipynb"
    nb = json.loads(path.read_text())
    nbformat.validate(nbformat.reads(path.read_text(), as_version=4))  # cell ids included
    assert all("id" in c for c in nb["cells"])
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code)
    tagged = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    model = chapters.get(name).params
    assert "".join(tagged[0]["source"]) == parameters_cell(model, chapters.get(name).example), (
        "stale: run python -m kdlib.book --write-parameters")
    inspected = papermill.inspect_notebook(str(path))
    assert set(inspected) == {"profile", *model.names()}
    assert all(v["help"] for v in inspected.values())


def test_progress_redraws_in_a_terminal_and_writes_spaced_lines_to_a_log(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(book.time, "monotonic", lambda: now[0])
    log = io.StringIO()
    p = book.Progress(log, every=30)
    for now[0], text in ((0, "alpha seeds: 3 units, 1 in the cache, 2 to compute\n"),
                         (1, "\rseed 0:  10%|#"), (2, "\rseed 0:  20%|##"),
                         (40, "\rseed 0:  90%|#########\x1b[A"),
                         (41, "\rseed 0: 100%|##########\n"),
                         (42, "\rseed 1:  50%|#####"), (43, "\rseed 1: 100%|##########"),
                         (44, "\n"), (80, "\rteacher: 100%|##########"),
                         (81, "\rteacher: 100%|##########\n"),  # close() redraws it
                         (82, "alpha seeds: 3 units, 1 in the cache, 2 to compute\n")):
        p.write(text)
    assert log.getvalue().splitlines() == [
        "alpha seeds: 3 units, 1 in the cache, 2 to compute",  # a line that ends: shown
        "seed 0:  90%|#########",  # 30 s after the last line, without the cursor move
        "seed 0: 100%|##########",  # a bar's last state ends its line
        "seed 1: 100%|##########",  # even when its end comes in a write of its own
        "teacher: 100%|##########",  # once, though drawn again as the bar closes
        "alpha seeds: 3 units, 1 in the cache, 2 to compute"]  # a line repeated: shown again
    term = io.StringIO()
    term.isatty = lambda: True
    book.Progress(term).write("\rseed 0:  10%|#")
    assert term.getvalue() == "\rseed 0:  10%|#"  # a terminal redraws in place


@pytest.mark.integration
def test_quick_book_builds_with_figures_and_tables(quick_book):
    """Every chapter executed at `quick` by papermill and the book built, HTML and PDF, with
    warnings as errors: the shared clean-clone build of tests/conftest.py (`make book`)."""
    root = quick_book.clone
    for name in book.chapters():
        out = root / "book" / f"{name}.ipynb"
        cells = json.loads(out.read_text())["cells"]
        outputs = [o for c in cells if c["cell_type"] == "code" for o in c["outputs"]]
        assert not [o for o in outputs if o["output_type"] == "error"]
        if name != "scorecard":  # the scorecard is tables only
            assert any("image/png" in o.get("data", {}) for o in outputs), "no figure"
        # every table is Markdown, which MyST makes a real table in the HTML and the PDF; a
        # DataFrame or Styler shown as such would print as text (or its repr) in the PDF
        assert any("| --- |" in "".join(o.get("data", {}).get("text/markdown", ""))
                   for o in outputs), "no table"
        raw = [o for o in outputs if "<table" in "".join(o.get("data", {}).get("text/html", ""))]
        assert not raw, f"{name}: a table shown as HTML only (use kdlib.tables.show)"
    # refactors keep the numbers: the entries equal those recorded on this kind of CPU
    recorded = digests.recorded()
    if recorded is not None:
        assert digests.digest(quick_book.cache) == recorded, "a number moved"
    assert (root / "_build" / "html" / "index.html").exists()
    for name in book.chapters():  # set-up cells folded: a click shows them
        html = (root / "_build" / "html" / "book" / f"{name}.html").read_text()
        assert 'class="cell tag_injected-parameters tag_hide-cell' in html, name
        assert 'class="cell tag_parameters tag_hide-input' in html, name
    html = (root / "_build" / "html" / "book" / "alpha.html").read_text()
    assert "<img" in html and "<table" in html
    assert "Scale of this run" in html and "Profile <strong>quick</strong>" in html
    html = (root / "_build" / "html" / "book" / "poster.html").read_text()
    assert html.count("<img") >= 5 and "<table" in html  # curves, confusions, heatmaps
    text = re.sub(r"<[^>]+>", "", html)  # the scale note's profile is glued in, not bold
    assert "Profile quick" in text and ("bit-identical in every seed" in text
                                        or "not bit-identical in" in text)
    html = (root / "_build" / "html" / "book" / "iisc.html").read_text()
    assert html.count("<img") >= 5 and html.count("<table") >= 4  # accuracy, ratios, lemmas
    assert "Profile <strong>quick</strong>" in html and "fewer FLOPs" in html
    assert "Table 2, side by side" in html and "Scale of part 2" in html  # CIFAR-10
    assert html.count("<img") >= 6 and html.count("<table") >= 6
    # MathJax is served from the book itself, so equations render offline
    assert 'src="../_static/mathjax/tex-chtml.js"' in html and "cdn.jsdelivr" not in html
    assert (root / "_build" / "html" / "_static" / "mathjax" / "tex-chtml.js").is_file()
    html = (root / "_build" / "html" / "book" / "teachers.html").read_text()
    assert "Profile <strong>quick</strong>" in html and "stand-in" in html
    assert html.count("<img") >= 3 and html.count("<table") >= 6  # sweeps, curves; tables
    assert "Table 2 beside ours" in html and "Data: CIFAR-10 (stand-in" in html
    html = (root / "_build" / "html" / "book" / "scorecard.html").read_text()
    for chapter in ("alpha", "poster", "iisc", "teachers"):  # each chapter's claims, linked
        assert f'href="{chapter}.html"' in html
    assert "Profile <strong>quick</strong>" in html and html.count("<table") >= 3
    pages, content = browser.book_pages(root)  # every page, in headless Chromium
    assert browser.check(root / "_build" / "html", pages, content) == []
    pdf = root / "_build" / "latex" / "kd-report.pdf"  # the same book through LaTeX
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    for title in ("The effect of alpha", "Does knowledge distillation really work",
                  "Exploring knowledge distillation", "Which teacher?", "Scorecard"):
        assert title in text, title
    log = (root / "_build" / "latex" / "kd-report.log").read_text(errors="replace")
    assert "Missing character" not in log  # every glyph of the text is in the fonts
    assert "pandas.io.formats.style.Styler" not in text and "<IPython" not in text
    tex = (root / "_build" / "latex" / "kd-report.tex").read_text()
    claims_tables = book.latex_tables(tex, "verdict")
    assert len(claims_tables) >= 5, claims_tables  # every chapter's claims, and the scorecard
    # a long table breaks across pages in wrapped columns that fit the line, not Sphinx's
    # default unwrapped `l` columns, which run off the page
    # every figure keeps its caption in the PDF: no graphic outside a captioned figure
    figures = re.findall(r"\\begin\{figure\}.*?\\end\{figure\}", tex, flags=re.S)
    graphics = len(re.findall(r"\\sphinxincludegraphics", tex))
    assert figures and all("\\caption{" in f for f in figures), "a figure without a caption"
    assert sum(f.count("\\sphinxincludegraphics") for f in figures) == graphics
    specs = re.findall(r"\\begin\{longtable\}(\{.*\})\n", tex)
    column = r">\{\\raggedright\\arraybackslash\}\\X\{\d+\}\{\d+\}"
    assert specs and all(re.fullmatch(rf"\{{({column})+\}}", spec) for spec in specs), specs


@pytest.mark.integration
def test_a_failing_chapter_names_notebook_and_cell_and_leaves_no_output(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache"))
    root = _copy_book(tmp_path / "project")
    stale = root / "book" / "alpha.ipynb"
    stale.write_text("{}")  # an older executed copy must not survive a failed run
    with pytest.raises(book.ChapterError) as e:
        book.execute("alpha", "quick", root=root, temperature=0)
    assert str(e.value).startswith("notebooks/alpha.ipynb failed in cell")
    assert "temperature must be a number in (0, 100]; got 0" in str(e.value)
    assert not stale.exists()
    assert [p.name for p in (root / "book").iterdir() if p.suffix == ".ipynb"] == []
    assert not (tmp_path / "cache").exists()  # nothing computed, nothing written
