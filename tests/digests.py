"""Digests of a results cache: what every chapter's units computed, for bit-identity checks.

A refactor must not move a number. After a quick build (``tests/test_notebooks.py`` executes
every chapter into a fresh cache), :func:`digest` hashes each entry's numbers: every tensor file
(logits, weights) and every table with its wall-time columns dropped (times differ from run to
run). Keys and unit names are left out, so a change of how units are keyed does not count as a
change of numbers. Floating point results depend on the CPU's instruction set in their last bits,
so digests are recorded per CPU (``tests/digests/<signature>.json``) and compared on the same
kind of CPU only.

    python tests/digests.py record CACHE_DIR   # after a quick build into CACHE_DIR
    python tests/digests.py compare CACHE_DIR [EXPERIMENT ...]   # against what was recorded
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent / "digests"
TIME_COLUMNS = ("seconds", "time")  # a column whose name contains one of these is a wall time


def signature() -> str:
    """The CPU model and the vector extensions that change float results, as a file name."""
    model, flags = platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    text = f"{model} {' '.join(isa)}"
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()


def _table_hash(path: Path) -> str:
    table = pd.read_csv(path)
    keep = [c for c in table.columns if not any(t in c for t in TIME_COLUMNS)]
    buffer = io.StringIO()
    table[keep].to_csv(buffer, index=False, float_format="%.17g")
    return hashlib.sha256(buffer.getvalue().encode()).hexdigest()


def digest(cache_root: Path) -> dict[str, list[str]]:
    """Per experiment, the sorted hashes of its entries' numbers (one hash per entry)."""
    out: dict[str, list[str]] = {}
    for meta in sorted(Path(cache_root).glob("*/*/meta.json")):
        folder = meta.parent
        if folder.name.startswith("."):
            continue
        parts = []
        for path in sorted(folder.iterdir()):
            if path.suffix == ".csv":
                parts.append(f"{path.name}:{_table_hash(path)}")
            elif path.suffix == ".pt":
                parts.append(f"{path.name}:{hashlib.sha256(path.read_bytes()).hexdigest()}")
        entry = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        out.setdefault(folder.parent.name, []).append(entry)
    return {k: sorted(v) for k, v in out.items()}


def recorded() -> dict[str, list[str]] | None:
    """The digest recorded on this kind of CPU, if any."""
    path = HERE / f"{signature()}.json"
    return json.loads(path.read_text()) if path.exists() else None


def compare(cache_root: Path, experiments: list[str]) -> list[str]:
    """One line per experiment: how many of its recorded entries this cache holds bit for bit,
    and how many entries it has that were not recorded."""
    want, have = recorded() or {}, digest(cache_root)
    lines = []
    for name in experiments or sorted(want):
        a, b = set(want.get(name, [])), set(have.get(name, []))
        lines.append(f"{name}: {len(a & b)} of {len(a)} recorded entries identical; "
                     f"{len(b - a)} not recorded")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "compare":
        print("\n".join(compare(Path(argv[1]), argv[2:])))
        return 0
    if len(argv) != 2 or argv[0] != "record":
        print(__doc__)
        return 2
    HERE.mkdir(exist_ok=True)
    path = HERE / f"{signature()}.json"
    path.write_text(json.dumps(digest(Path(argv[1])), indent=1, sort_keys=True) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
