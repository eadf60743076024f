"""Progress bars in a notebook kernel: plain tqdm on stderr, never tqdm.auto's "IProgress not
found" warning (a kernel without ipywidgets, as papermill runs the chapters)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter made to look like an IPython kernel (tqdm.autonotebook's test is
# "ipykernel.zmqshell in sys.modules"), with ipywidgets absent: import every kdlib module and
# the lazily imported pooch, and report each source file that imported tqdm.auto as it warned.
_KERNEL = r"""
import importlib, json, pkgutil, sys, traceback, types, warnings
import IPython  # noqa: F401  (autonotebook asks it for the shell)
sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
sys.modules["ipywidgets"] = None  # absent, as in the book's kernel
culprits = []

def show(message, category, filename, lineno, file=None, line=None):
    if "IProgress" in str(message):
        stack = [f.filename for f in traceback.extract_stack()]
        first = next(i for i, f in enumerate(stack) if "/tqdm/" in f)  # tqdm.auto's import
        culprits.append([f for f in stack[:first] if not f.startswith("<frozen")][-1])

def forget(*prefixes):  # so the next importer of tqdm.auto (or pooch) runs it again
    for name in [n for n in sys.modules if n.startswith(prefixes)]:
        del sys.modules[name]

warnings.showwarning = show
warnings.simplefilter("always")
"""
_IMPORTS = r"""
import kdlib
for m in pkgutil.walk_packages(kdlib.__path__, "kdlib."):
    if m.name != "kdlib.browser":  # needs a browser driver; draws no bars
        importlib.import_module(m.name)
        forget("tqdm.auto", "tqdm.autonotebook")
forget("tqdm.auto", "tqdm.autonotebook", "pooch")
from kdlib import data
data._pooch()  # imported only when a download starts
print(json.dumps(culprits))
"""


@pytest.fixture(scope="module")
def culprits() -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _KERNEL + _IMPORTS], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=300)
    return [str(Path(f).relative_to(ROOT)) if f.startswith(str(ROOT)) else f
            for f in json.loads(out.stdout.strip().splitlines()[-1])]


def test_the_kernel_simulation_sees_the_warning_it_looks_for():
    """The check above would notice: tqdm.auto imported in that kernel does warn."""
    script = _KERNEL + "import tqdm.auto\nprint(json.dumps(culprits))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1])


def test_no_kdlib_module_warns_iprogress_not_found_in_a_kernel(culprits):
    assert culprits == []
