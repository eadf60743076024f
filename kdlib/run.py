"""Run one experiment's main sweep outside the book, e.g. at the paper profile.

    python -m kdlib.run alpha --profile paper [-p seeds 1] [--publish] [--report run.json]

For runs too long for a book build (the paper profile takes hours per seed). Results go to the
cache (``$KD_CACHE_DIR`` or ``data/cache``); a killed run resumes from its last checkpoint when
the same command is run again. ``--publish`` then copies the run's finished entries to
``data/results/``, which is committed and which the chapter finds by its parameters and data
(naming the commit and machine that computed them, and warning when the code has changed
since). ``--report`` writes what the run computed and loaded (the entries' keys), its wall
time and the machine (CPU model, cores) as JSON: wall times differ between machines. Bad
parameters, missing or corrupt data and an unwritable or damaged cache end the run with one line
naming the fix (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import yaml

from kdlib import chapters
from kdlib.config import PROFILES
from kdlib.errors import UserError
from kdlib.provenance import cpu_model
from kdlib.results import Cache

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Resolve the parameters, run (or resume) the sweep, print the times, maybe publish."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", choices=[n for n in chapters.names() if n != "scorecard"])
    ap.add_argument("--profile", default="paper", choices=PROFILES)
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a parameter, as papermill's -p (values parsed as YAML)")
    ap.add_argument("--publish", action="store_true",
                    help="copy the finished entries to data/results (to be committed)")
    ap.add_argument("--report", type=Path, help="write the keys computed and loaded as JSON")
    args = ap.parse_args(argv)
    chapter = chapters.get(args.experiment)
    try:
        params = chapter.params.resolve(args.profile, **{name: yaml.safe_load(value)
                                                         for name, value in args.p})
        cache = Cache()
        start = time.perf_counter()
        results = chapter.run(params, cache)
    except UserError as e:  # one line, no traceback: the message says the fix
        print(f"error: {e}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - start
    print(f"{args.experiment} ({args.profile}): wall time {wall:,.0f} s; "
          f"compute time of the results {results.compute_seconds:,.0f} s; "
          f"{len(cache.computed)} of {len(cache.used)} entries computed now")
    if args.report:
        tmp = args.report.with_name(f".{args.report.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"experiment": args.experiment, "computed": cache.computed,
                                   "used": cache.used, "wall_seconds": wall,
                                   "machine": cpu_model()}, indent=1))
        os.replace(tmp, args.report)
    if args.publish:
        for path in cache.publish(args.experiment, cache.used):
            print(f"published {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
