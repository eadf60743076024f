"""A clean clone of this working tree, and the environment a run in it gets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent  # this venv: a clone links to it instead of a set-up
LEAKY = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "KD_SHARED_DATA", "KD_DATA_DIR", "KD_DATA_MIRROR",
         "KD_DATA_SEARCH", "KD_DOWNLOAD", "KD_CACHE_DIR")


def checkout(dst: Path) -> Path:
    """What a clone of this working tree would hold: tracked files and new ones git does not
    ignore (no .venv, data/raw, data/cache, _build), with their current content."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=ROOT, capture_output=True, check=True
                           ).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file() and not src.is_symlink():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    return dst


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would leak into a run elsewhere: an outer
    make's flags and the data-search settings; plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}
    return {**env, "no_proxy": "127.0.0.1", **extra}
