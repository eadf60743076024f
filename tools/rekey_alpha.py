"""Re-key the committed alpha results (``data/results/alpha``) to the units of issue 23.

The paper-scale run (teacher and three seeds) was stored under the keys of the old flat
parameters (a hand-picked list per unit). Since issue 23 a unit's key is the dump of the
sections it receives (``kdlib.experiments.alpha.units_of``), so ``paper_run`` (which finds
committed entries by unit, parameters and data, :meth:`kdlib.results.Cache.find`) no longer
found them. This maps each entry's old ``params`` to the new units' ``params`` and moves it to
the folder of its new key: the same data files, a meta with the new ``params`` (and ``data``:
the same digest), the original ``code``, ``commit``, ``machine`` and ``history``, plus
``rekeyed`` (what and why) and ``seconds`` (from the entry's table). The folder's name is the
key of that meta (its original code hash), as :meth:`Cache.import_files` checks.

    python tools/rekey_alpha.py [ROOT]   # ROOT: default data/results

Run once; an entry already re-keyed is left alone.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from kdlib import data
from kdlib.experiments.alpha import AlphaParams, units_of
from kdlib.results import PUBLISHED, _key

NOTE = ("params: re-keyed by tools/rekey_alpha.py (issue 23) from the old flat parameters "
        "{old} to the sections its unit receives; numerics.threads = 2, the torch default on "
        "the 2-core machines that computed it; files unchanged")


def new_params(meta: dict) -> tuple[str, dict, str]:
    """The entry's unit name, new key parameters and data digest."""
    old = dict(meta["params"])
    seed = old.pop("seed", None)
    p = AlphaParams.resolve("default", **old)
    if seed is not None:
        p = p.replace(seeds=seed + 1)
    ds = data.load(p.data.dataset)
    if ds.digest != meta["data"]:
        raise SystemExit(f"{meta['unit']}: data digest {meta['data']} is not {ds.digest}")
    teacher, students = units_of(p, ds)
    unit = teacher if meta["unit"] == "teacher" else students[seed]
    if unit.name != meta["unit"]:
        raise SystemExit(f"unexpected unit {meta['unit']!r}")
    return unit.name, json.loads(json.dumps(unit.params, sort_keys=True)), unit.digest


def rekey(root: Path = PUBLISHED) -> list[tuple[str, str]]:
    """Move every not yet re-keyed alpha entry under ``root`` to its new key: (old, new)."""
    moved = []
    for path in sorted((root / "alpha").glob("*/meta.json")):
        meta = json.loads(path.read_text())
        if "rekeyed" in meta:
            continue
        unit, params, digest = new_params(meta)
        table = pd.read_csv(path.parent / f"{'teacher' if unit == 'teacher' else 'students'}.csv")
        meta = {**meta, "params": params, "data": digest,
                "rekeyed": NOTE.format(old=path.parent.name),
                "seconds": float(table["seconds"].iloc[0])}
        key = _key("alpha", unit, params, digest, meta["code"])
        target = path.parent.with_name(key)
        shutil.copytree(path.parent, target)
        (target / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True,
                                                     default=str))
        shutil.rmtree(path.parent)
        moved.append((path.parent.name, key))
    return moved


if __name__ == "__main__":
    for old, new in rekey(Path(sys.argv[1]) if len(sys.argv) > 1 else PUBLISHED):
        print(f"alpha/{old} -> alpha/{new}")
