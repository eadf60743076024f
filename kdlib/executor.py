"""Where a chapter's units of work run: here, one after another, or as Ray tasks.

A chapter's sweep is a list of :class:`Unit` s (one seed of one configuration, say), each an
entry of the results cache. :func:`run_units` returns their entries in order:

- ``executor="local"``: each unit is loaded from the cache or computed here, in turn;
- ``executor="ray"``: every unit the cache does not hold yet becomes a Ray task that computes
  it into the same cache (atomic, locked: :meth:`kdlib.results.Cache.get_or_compute`), then all
  are loaded here. ``ray_address=""`` starts a local Ray on this machine; otherwise it names an
  existing cluster (``ray://head:10001`` or ``head:6379``), whose workers must see the cache
  directory (a shared path) and import the same kdlib (from a shared checkout, or shipped with
  the Ray runtime environment given as JSON in ``$KD_RAY_RUNTIME_ENV``: see the README). A
  task carries its unit's data with it (the loaded arrays), so workers need no data files.

A unit computes the same numbers wherever it runs: its seeds are its own, and every task
uses as many threads as a local run (:data:`THREADS`), so a cached entry does not depend on the
executor that made it. A worker that dies mid-task is replaced and the task retried
(``retries``); finished units stay in the cache whatever happens to the others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from kdlib.config import Param
from kdlib.results import Cache, Entry

__all__ = ["EXECUTORS", "PARAMS", "THREADS", "Unit", "run_units"]

EXECUTORS = ("local", "ray")
THREADS = torch.get_num_threads()  # the threads of a local run, given to every task too

PARAMS = (
    Param("executor", str, "Where the sweep's units run: local (here, in turn) or ray (Ray "
          "tasks, same results and cache).",
          {"quick": "local", "default": "local", "paper": "local"}, choices=EXECUTORS),
    Param("ray_address", str, "Ray cluster to use when executor is ray; '' starts a local Ray on "
          "this machine.", {"quick": "", "default": "", "paper": ""}),
)


@dataclass(frozen=True)
class Unit:
    """One independent unit of a sweep: its name and parameters in the cache, and how to
    compute it (called with its checkpoint if ``resumable``)."""

    name: str
    params: dict[str, Any]
    compute: Callable[..., Entry] = field(compare=False)
    resumable: bool = False


def run_units(cache: Cache, experiment: str, data_digest: str, units: Sequence[Unit],
              executor: str = "local", ray_address: str = "", desc: str = "units",
              retries: int = 3) -> list[Entry]:
    """The entries of ``units`` (in order), computing those the cache does not hold."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {executor!r}")
    if executor == "ray":
        _on_ray(cache, experiment, data_digest, units, ray_address, desc, retries)
    entries = []
    bar = tqdm(units, desc=desc, unit="unit", mininterval=5,  # a lone unit has its own bars
               disable=executor == "ray" or len(units) < 2)
    for u in bar:
        entries.append(cache.get_or_compute(experiment, u.name, u.params, data_digest,
                                            u.compute, u.resumable))
    return entries


def _compute(root: str, experiment: str, data_digest: str, unit: Unit, threads: int) -> str:
    """A Ray task: compute one unit into the cache at ``root``; return its key."""
    torch.set_num_threads(threads)
    cache = Cache(Path(root))
    cache.get_or_compute(experiment, unit.name, unit.params, data_digest, unit.compute,
                         unit.resumable)
    return cache.key(experiment, unit.name, unit.params, data_digest)


def _on_ray(cache: Cache, experiment: str, data_digest: str, units: Sequence[Unit],
            address: str, desc: str, retries: int) -> None:
    """Compute the missing units as Ray tasks, with one progress bar over all units."""
    import ray  # only when asked for: Ray is heavy to import

    todo = [u for u in units if not cache.has(experiment, u.name, u.params, data_digest)]
    bar = tqdm(total=len(units), initial=len(units) - len(todo), desc=f"{desc} (ray)",
               unit="unit", mininterval=5)
    if not todo:
        bar.close()
        return
    if not ray.is_initialized():
        runtime_env = json.loads(os.environ.get("KD_RAY_RUNTIME_ENV") or "null")
        if address:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     runtime_env=runtime_env)
    task = ray.remote(num_cpus=min(THREADS, os.cpu_count() or 1), max_retries=retries)(_compute)
    root = str(cache.root.resolve())
    expected = {task.remote(root, experiment, data_digest, u, THREADS):
                cache.key(experiment, u.name, u.params, data_digest) for u in todo}
    pending = list(expected)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            key = ray.get(done[0])  # a task that failed for good raises here, naming its error
            if key != expected[done[0]]:
                raise RuntimeError(f"a Ray worker stored {key} where this process expects "
                                   f"{expected[done[0]]}: the workers run other kdlib code or "
                                   "data than this process (see the README on clusters)")
            cache.computed.append(key)
            bar.update(1)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        bar.close()
