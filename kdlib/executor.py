"""Where a chapter's units of work run: here, one after another, or as Ray tasks.

A chapter's sweep is a list of :class:`~kdlib.units.Unit` s (one seed of one configuration,
say), each an entry of the results cache. :func:`run_units` returns their entries in order:

- ``executor="local"``: each unit is loaded from the cache or computed here, in turn;
- ``executor="ray"``: every unit the cache does not hold yet becomes a Ray task. ``ray_address=""``
  starts a local Ray on this machine; otherwise it names an existing cluster
  (``ray://head:10001`` or ``head:6379``).

What travels where, on Ray:

- **Code.** Workers must import the same kdlib as this process: a shared checkout, or shipped
  with the Ray runtime environment given as JSON in ``$KD_RAY_RUNTIME_ENV`` (see the README).
  A worker with other kdlib code computes another cache key, and the run stops saying so.
- **Data.** A task carries its unit's data with it (the loaded arrays): workers need no data
  files.
- **Results.** A task computes its unit in the cache of its own node, ``Cache()`` as any kdlib
  process there picks it (its ``$KD_CACHE_DIR``, else ``data/cache`` of the kdlib it imports),
  then returns the entry's files with their SHA-256 (:meth:`kdlib.results.Cache.export`). This
  process checks them and stores them in its own cache, atomically and under the entry's lock
  (:meth:`kdlib.results.Cache.import_files`): the cache need not be a shared path. A local
  Ray's workers (``ray_address=""``) are on this machine and compute straight into its cache.
- **Checkpoints.** A long unit's checkpoint lives beside its entry in the cache of the node
  running it. A task whose worker dies is retried (``retries``); a retry on the same node
  resumes from that checkpoint, one on another node starts the unit over. To keep a unit's
  progress whichever node retries it, give every node the same shared ``$KD_CACHE_DIR`` (in the
  environment of its ``ray start``), or ``$KD_RAY_RUNTIME_ENV``'s ``env_vars``.

A unit computes the same numbers wherever it runs: its seeds are its own, and it runs with the
thread count of its :class:`~kdlib.config.Numerics` (which is in its key; Ray is asked for as
many CPUs), so a cached entry does not depend on the executor or node that made it. One
progress bar counts the units; each unit a task computed is named with the node that computed
it. Finished units stay in the cache whatever happens to the others.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm  # plain: tqdm.auto wants ipywidgets in a kernel ("IProgress not found")

from kdlib.config import Execution
from kdlib.results import Cache, Entry
from kdlib.units import Unit, estimate

__all__ = ["EXECUTORS", "run_units"]

EXECUTORS = ("local", "ray")


def run_units(cache: Cache, experiment: str, units: Sequence[Unit], run: Execution,
              desc: str = "units", retries: int = 3) -> list[Entry]:
    """The entries of ``units`` (in order), computing those the cache does not hold, where
    ``run`` says (its ``executor`` and ``ray_address``)."""
    if run.executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {run.executor!r}")
    if run.executor == "ray":
        _on_ray(cache, experiment, units, run.ray_address, desc, retries)
    print(f"{desc}: {estimate(cache, experiment, units)}", file=sys.stderr, flush=True)
    entries = []
    bar = tqdm(units, desc=desc, unit="unit", mininterval=5,  # a lone unit has its own bars
               disable=run.executor == "ray" or len(units) < 2)
    for u in bar:
        entries.append(cache.get_or_compute(experiment, u.name, u.params, u.digest, u.compute,
                                            u.resumable, u.size))
    return entries


def _compute(experiment: str, unit: Unit,
             root: str | None) -> tuple[str, str, dict[str, tuple[str, bytes]]]:
    """A Ray task: compute one unit in the cache at ``root`` (``None``: this node's own,
    ``Cache()`` there); return its key, this node's id and the entry's files
    (:meth:`Cache.export`)."""
    import ray

    cache = Cache(Path(root) if root else None)
    cache.get_or_compute(experiment, unit.name, unit.params, unit.digest, unit.compute,
                         unit.resumable, unit.size)
    key = cache.key(experiment, unit.name, unit.params, unit.digest)
    return key, ray.get_runtime_context().get_node_id(), cache.export(experiment, key)


def _on_ray(cache: Cache, experiment: str, units: Sequence[Unit], address: str, desc: str,
            retries: int) -> None:
    """Compute the missing units as Ray tasks and store what they return in ``cache``, with
    one progress bar over all units."""
    import ray  # only when asked for: Ray is heavy to import

    todo = [u for u in units if not cache.has(experiment, u.name, u.params, u.digest)]
    bar = tqdm(total=len(units), initial=len(units) - len(todo), desc=f"{desc} (ray)",
               unit="unit", mininterval=5)
    if not todo:
        bar.close()
        return
    if not ray.is_initialized():
        runtime_env = json.loads(os.environ.get("KD_RAY_RUNTIME_ENV") or "null")
        if address:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        else:  # "local": a new Ray of its own, even if another one runs on this machine
            ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                     log_to_driver=False, runtime_env=runtime_env)
    threads = max(u.numerics.threads for u in todo)
    task = ray.remote(num_cpus=min(threads, os.cpu_count() or 1), max_retries=retries,
                      scheduling_strategy="SPREAD")(_compute)
    root = None if address else str(cache.root.resolve())  # a local Ray's workers share it
    expected = {task.remote(experiment, u, root):
                (u, cache.key(experiment, u.name, u.params, u.digest)) for u in todo}
    pending = list(expected)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            # a task that failed for good raises here, naming its error
            key, node, files = ray.get(done[0])
            unit, want = expected[done[0]]
            if key != want:
                raise RuntimeError(f"a Ray worker stored {key} where this process expects "
                                   f"{want}: the workers run other kdlib code or data than "
                                   "this process (see the README on clusters)")
            cache.import_files(experiment, key, files)
            cache.computed.append(key)
            bar.write(f"{desc} (ray): {unit.name} {key} computed on node {node[:12]}",
                      file=sys.stderr)
            bar.update(1)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        bar.close()
