"""kdlib.executor: a sweep's units as Ray tasks give the local run's results, in the same cache;
a worker killed mid-task is retried and nothing finished is lost."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_faults import SWEEP, _assert_same, _contents, _finish, _start, _sweep

from kdlib.config import ParamError
from kdlib.executor import Unit, run_units
from kdlib.experiments import alpha
from kdlib.results import Cache

RAY = ("-p", "executor", "ray")


def test_where_a_unit_runs_is_not_part_of_its_key(tmp_path):
    cache = Cache(tmp_path)
    p = {"n_train": 300, "seed": 1}
    assert cache.key("alpha", "students", {**p, "executor": "ray", "ray_address": "h:6379"},
                     "d") == cache.key("alpha", "students", p, "d")


def test_an_unknown_executor_is_refused_before_any_compute(tmp_path):
    with pytest.raises(ParamError, match="executor must be one of local, ray"):
        alpha.resolve({"profile": "quick", "executor": "spark"})
    with pytest.raises(ValueError, match="executor must be one of local, ray"):
        run_units(Cache(tmp_path), "alpha", "d", [Unit("u", {}, dict)], executor="dask")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("local")
    done = _sweep(cache)
    assert done.code == 0, done.stderr
    return cache


def test_ray_finishes_a_local_run_value_for_value_computing_only_what_is_missing(tmp_path,
                                                                               local_run):
    half = SWEEP["seeds"] // 2
    assert _sweep(tmp_path, "-p", "seeds", str(half)).code == 0  # teacher + half the seeds
    done = _sweep(tmp_path, *RAY, "--report", str(tmp_path / "run.json"))
    assert done.code == 0, done.stderr
    assert "(ray)" in done.stderr  # the one progress bar over units says where they ran
    report = json.loads((tmp_path / "run.json").read_text())
    assert len(report["computed"]) == SWEEP["seeds"] - half  # only the missing seeds, on Ray
    _assert_same(_contents(tmp_path), _contents(local_run))  # as if all had run locally


def _ray_workers() -> list[int]:
    """PIDs of Ray worker processes running a unit (Ray titles them after the task)."""
    out = subprocess.run(["pgrep", "-f", "ray::_compute"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def test_a_worker_killed_mid_task_is_retried_and_the_results_are_the_same(tmp_path,
                                                                          local_run):
    proc = _start(tmp_path, *RAY)
    deadline = time.monotonic() + 120
    while not (workers := _ray_workers()):
        assert proc.poll() is None and time.monotonic() < deadline, "no task started"
        time.sleep(0.05)
    os.kill(workers[0], signal.SIGKILL)
    done = _finish(proc)
    assert done.code == 0, done.stderr
    _assert_same(_contents(tmp_path), _contents(local_run))
