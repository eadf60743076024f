"""Build the book: execute every chapter with papermill into ``book/``, then Jupyter Book.

    python -m kdlib.book [--profile default] [--only alpha] [--no-build] [--pdf]

A chapter that raises stops the build with one line naming the notebook and the cell; its
executed copy is never left in ``book/`` (papermill writes to a temporary file that is renamed
into place only on success), so no partial book looks complete.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import papermill
import yaml

from kdlib.config import PROFILES

ROOT = Path(__file__).resolve().parents[1]


class ChapterError(RuntimeError):
    """A chapter's notebook raised while papermill executed it."""


def chapters(root: Path = ROOT) -> list[str]:
    """Chapter names: the ``_toc.yml`` entries that have a source notebook in ``notebooks/``."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [entry["file"] for entry in toc.get("chapters", [])]
    names = [Path(f).name for f in files]
    return [n for n in names if (root / "notebooks" / f"{n}.ipynb").exists()]


def execute(name: str, profile: str, root: Path = ROOT, **parameters: object) -> Path:
    """Execute ``notebooks/<name>.ipynb`` into ``book/<name>.ipynb``; return the output path."""
    src = root / "notebooks" / f"{name}.ipynb"
    out = root / "book" / f"{name}.ipynb"
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", prefix=f".{name}.", dir=out.parent)
    os.close(fd)
    try:
        papermill.execute_notebook(str(src), tmp, parameters={"profile": profile, **parameters},
                                   kernel_name="python3", cwd=str(root),
                                   progress_bar=sys.stderr.isatty())
    except papermill.PapermillExecutionError as e:
        Path(tmp).unlink(missing_ok=True)
        out.unlink(missing_ok=True)  # an older copy would look complete
        raise ChapterError(f"notebooks/{name}.ipynb failed in cell {e.exec_count} "
                           f"(code cell #{e.cell_index}): {e.ename}: {e.evalue}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    return out


def build_html(root: Path = ROOT) -> Path:
    """Run Jupyter Book (warnings are errors); return the path of ``index.html``."""
    shutil.rmtree(root / "_build" / ".doctrees", ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(root), "--builder", "html", "-W", "-n",
                    "--keep-going"], check=True, cwd=root)
    return root / "_build" / "html" / "index.html"


def build_pdf(root: Path = ROOT) -> Path:
    """Run Jupyter Book's LaTeX builder (xelatex, via latexmk); return the PDF's path."""
    shutil.rmtree(root / "_build" / ".doctrees", ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(root), "--builder", "pdflatex"], check=True, cwd=root)
    return root / "_build" / "latex" / "kd-report.pdf"


def main(argv: list[str] | None = None) -> int:
    """Command line: execute the chapters, build the HTML, print where it is."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default", choices=PROFILES)
    ap.add_argument("--only", nargs="*", help="chapters to execute (default: all)")
    ap.add_argument("--no-build", action="store_true", help="execute only; skip Jupyter Book")
    ap.add_argument("--pdf", action="store_true", help="also build the PDF (LaTeX builder)")
    args = ap.parse_args(argv)
    names = args.only or chapters()
    for name in names:
        print(f"executing notebooks/{name}.ipynb (profile {args.profile}) ...", flush=True)
        try:
            execute(name, args.profile)
        except ChapterError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    if args.no_build:
        return 0
    try:
        index = build_html()
    except subprocess.CalledProcessError:
        print("error: jupyter-book build failed (see the warnings above)", file=sys.stderr)
        return 1
    print(index)
    if args.pdf:
        try:
            print(build_pdf())
        except subprocess.CalledProcessError:
            print("error: the PDF build failed (see _build/latex/kd-report.log)", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
