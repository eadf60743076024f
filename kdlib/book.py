"""Build the book: execute every chapter with papermill into ``book/``, then Jupyter Book.

    python -m kdlib.book [--profile default] [--only alpha] [--no-build] [--pdf] [--root .]
    python -m kdlib.book --write-parameters   # each notebook's parameters cell, from its model

A chapter that raises stops the build with one line naming the notebook and the cell; its
executed copy is never left in ``book/`` (papermill writes to a temporary file that is renamed
into place only on success). Jupyter Book writes into a staging directory that replaces
``_build/html`` (or ``_build/latex``) only when the build succeeds, so a failed build leaves
the last complete book as it was, and never a partial one.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import nbformat
import papermill
import yaml

from kdlib.config import PROFILES

ROOT = Path(__file__).resolve().parents[1]


class ChapterError(RuntimeError):
    """A chapter's notebook raised while papermill executed it."""


def chapters(root: Path = ROOT) -> list[str]:
    """The notebooks a book build executes, in order: the ``_toc.yml`` entries with a source
    notebook in ``notebooks/``. For kd-report these are the registry's chapters
    (:func:`kdlib.chapters.names`; a test checks that the two agree): Jupyter Book needs the
    table of contents, and ``--root`` may name another book."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names = [Path(entry["file"]).name for entry in toc.get("chapters", [])]
    return [n for n in names if (root / "notebooks" / f"{n}.ipynb").exists()]


def plan(name: str, profile: str) -> str:
    """What a chapter will compute at ``profile``: its units, how many the cache holds, and an
    estimate of the time the others take (:func:`kdlib.units.estimate`)."""
    from kdlib.chapters import get, names
    from kdlib.results import Cache
    from kdlib.units import Estimate, estimate

    if name not in names():
        return "not a registered chapter"
    chapter = get(name)
    if chapter.plan is None:
        return "nothing to train"
    cache, by_experiment = Cache(), {}
    for experiment, unit in chapter.plan(chapter.params.resolve(profile)):
        by_experiment.setdefault(experiment, []).append(unit)
    found = [estimate(cache, e, units) for e, units in by_experiment.items()]
    seconds = None if any(f.seconds is None for f in found) else sum(f.seconds for f in found)
    bases = "; ".join(sorted({f.basis for f in found if f.basis}))
    return str(Estimate(sum(f.units for f in found), sum(f.held for f in found), seconds,
                        bases))


def write_parameters(root: Path = ROOT, check: bool = False) -> list[str]:
    """Write each chapter notebook's ``parameters`` cell from its parameters' model
    (:func:`kdlib.config.parameters_cell`); with ``check``, write nothing. Returns the names
    of the notebooks whose cell was (or, with ``check``, would be) rewritten."""
    from kdlib.chapters import registry
    from kdlib.config import parameters_cell

    stale = []
    for name, chapter in registry().items():
        path = root / "notebooks" / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        source = parameters_cell(chapter.params, chapter.example)
        if cell.source != source:
            stale.append(name)
            if not check:
                cell.source = source
                nbformat.write(nb, path)
    return stale


class Progress:
    """The chapter's stderr (its units and progress bars) shown while it runs. In a terminal
    the bars redraw in place; elsewhere (a CI log) a redraw becomes a line of its own, at most
    one per ``every`` seconds, plus every line that ends (a bar's last state, a unit count)."""

    def __init__(self, stream: TextIO | None = None, every: float = 30.0) -> None:
        self.stream = stream or sys.stderr
        self.every, self.last, self.tty = every, -math.inf, self.stream.isatty()
        self.pending, self.shown = "", False  # the latest state of the line being drawn
        self.written = ""  # written while its line is still open (a closing bar redraws it)

    def write(self, text: str) -> int:
        if self.tty:
            self.stream.write(text)
            return len(text)
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # nested bars' cursor moves
        for piece, end in re.findall(r"([^\r\n]*)(\r|\n|$)", text):
            if piece.strip() and piece.rstrip() != self.written:
                self.pending, self.shown = piece.rstrip(), False
            now = time.monotonic()
            due = end == "\n" or (piece.strip() and now - self.last >= self.every)
            if self.pending and not self.shown and due:
                self.stream.write(self.pending + "\n")
                self.last, self.shown, self.written = now, True, self.pending
            if end == "\n":  # the line is done: the next one starts afresh
                self.pending = self.written = ""
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def execute(name: str, profile: str, root: Path = ROOT, **parameters: object) -> Path:
    """Execute ``notebooks/<name>.ipynb`` into ``book/<name>.ipynb``; return the output path."""
    src = root / "notebooks" / f"{name}.ipynb"
    out = root / "book" / f"{name}.ipynb"
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", prefix=f".{name}.", dir=out.parent)
    os.close(fd)
    try:
        papermill.execute_notebook(str(src), tmp, parameters={"profile": profile, **parameters},
                                   kernel_name="python3", cwd=str(root),
                                   progress_bar=sys.stderr.isatty(), stderr_file=Progress())
    except papermill.PapermillExecutionError as e:
        Path(tmp).unlink(missing_ok=True)
        out.unlink(missing_ok=True)  # an older copy would look complete
        raise ChapterError(f"notebooks/{name}.ipynb failed in cell {e.exec_count} "
                           f"(code cell #{e.cell_index}): {e.ename}: {e.evalue}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fold_injected(Path(tmp))
    os.replace(tmp, out)
    return out


def _fold_injected(path: Path) -> None:
    """Fold papermill's injected parameters cell (a click shows it): the chapter's own
    parameters cell, whose input is folded too, already says what every parameter means."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            cell.metadata["tags"] = [*tags, "hide-cell"]
    nbformat.write(nb, path)


def _jupyter_book(root: Path, builder: str, output: str, *options: str) -> Path:
    """Build from scratch into a staging directory; on success it becomes ``_build/<output>``
    (the previous build is swapped out, then deleted). Returns ``_build/<output>``."""
    staging = root / "_build" / f".{output}.staging"
    final, old = root / "_build" / output, root / "_build" / f".{output}.old"
    shutil.rmtree(staging, ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    try:
        subprocess.run([str(jb), "build", str(root), "--builder", builder, "--path-output",
                        str(staging), *options], check=True, cwd=root)
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(staging / "_build" / output, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return final


def build_html(root: Path = ROOT) -> Path:
    """Run Jupyter Book (warnings are errors); return the path of ``index.html``."""
    return _jupyter_book(root, "html", "html", "-W", "-n", "--keep-going") / "index.html"


def build_pdf(root: Path = ROOT) -> Path:
    """Run Jupyter Book's LaTeX builder (xelatex, via latexmk); return the PDF's path."""
    return _jupyter_book(root, "pdflatex", "latex") / "kd-report.pdf"


def latex_tables(tex: str, header: str = "") -> list[str]:
    """The tables of a LaTeX build (Sphinx's tabulary and longtable environments), each as
    its first row's text; with ``header``, those whose first row contains it."""
    found = re.findall(r"\\begin\{(tabulary|longtable|tabular)\}(.*?)\\end\{\1\}", tex,
                       flags=re.S)
    heads = []
    for _, body in found:
        first = body.split("\\\\", 1)[0]
        heads.append(" ".join(re.sub(r"\\[a-zA-Z]+|[{}]", " ", first).split()))
    return [h for h in heads if header in h]


def main(argv: list[str] | None = None) -> int:
    """Command line: execute the chapters, build the HTML, print where it is."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default", choices=PROFILES)
    ap.add_argument("--only", nargs="*", help="chapters to execute (default: all)")
    ap.add_argument("--no-build", action="store_true", help="execute only; skip Jupyter Book")
    ap.add_argument("--pdf", action="store_true", help="also build the PDF (LaTeX builder)")
    ap.add_argument("--root", type=Path, default=ROOT, help="the book's directory")
    ap.add_argument("--write-parameters", action="store_true",
                    help="write each notebook's parameters cell from its model, then stop")
    ap.add_argument("--record-unit-times", action="store_true",
                    help="write the cache's unit times to data/unit_times.json, then stop")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    if args.record_unit_times:
        from kdlib.results import Cache
        from kdlib.units import UNIT_TIMES, record_unit_times

        record_unit_times(Cache())
        print(UNIT_TIMES)
        return 0
    if args.write_parameters:
        for name in write_parameters(root):
            print(f"wrote the parameters cell of notebooks/{name}.ipynb")
        return 0
    kept = "; the book in _build/ was not changed"
    for name in args.only or chapters(root):
        print(f"executing notebooks/{name}.ipynb (profile {args.profile}): "
              f"{plan(name, args.profile)}", flush=True)
        try:
            execute(name, args.profile, root=root)
        except ChapterError as e:
            print(f"error: {e}{kept}", file=sys.stderr)
            return 1
    if args.no_build:
        return 0
    try:
        print(build_html(root))
    except subprocess.CalledProcessError:
        print(f"error: jupyter-book build failed (see the warnings above){kept}",
              file=sys.stderr)
        return 1
    if args.pdf:
        try:
            print(build_pdf(root))
        except subprocess.CalledProcessError:
            print(f"error: the PDF build failed (see the LaTeX log above){kept}",
                  file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
