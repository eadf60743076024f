"""kdlib.executor: a sweep's units as Ray tasks give the local run's results, in the same cache;
a worker killed mid-task is retried and nothing finished is lost."""

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_faults import SWEEP, _assert_same, _contents, _finish, _Payload, _start, _sweep

from kdlib.config import ParamError
from kdlib.executor import Unit, run_units
from kdlib.experiments import alpha
from kdlib.results import Cache, CacheError

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


# -- results travel back to the driver -------------------------------------------------------


def _one_entry(root: Path) -> tuple[Cache, str]:
    """A cache at ``root`` holding one small entry: a table and a dict of tensors."""
    cache = Cache(root)
    params = {"seed": 3}
    cache.get_or_compute("alpha", "students", params, "d", lambda: {
        "students": pd.DataFrame({"seed": [3], "acc": [0.25], "seconds": [1.5]}),
        "logits": {"test": torch.arange(6, dtype=torch.float32).reshape(2, 3)}})
    return cache, cache.key("alpha", "students", params, "d")


def test_an_exported_entry_imports_into_another_cache_byte_for_byte(tmp_path):
    worker, key = _one_entry(tmp_path / "worker")
    files = worker.export("alpha", key)
    assert sorted(files) == ["logits.pt", "meta.json", "students.csv"]
    driver = Cache(tmp_path / "driver")
    driver.import_files("alpha", key, files)
    for name, (digest, blob) in files.items():
        assert (tmp_path / "driver" / "alpha" / key / name).read_bytes() == blob
        assert hashlib.sha256(blob).hexdigest() == digest
    _assert_same(_contents(tmp_path / "driver"), _contents(tmp_path / "worker"))
    driver.import_files("alpha", key, files)  # a second copy keeps the first: no error
    assert sorted(p.name for p in (tmp_path / "driver" / "alpha").iterdir()) == [key,
                                                                                 f"{key}.lock"]


def _resend(files: dict[str, tuple[str, bytes]], name: str, blob: bytes,
            relist: bool = True) -> dict[str, tuple[str, bytes]]:
    """``files`` with ``name`` replaced by ``blob``, its checksums made to match (in meta.json
    too if ``relist``): what a forger sends."""
    out = dict(files)
    out[name] = (hashlib.sha256(blob).hexdigest(), blob)
    if relist:
        meta = json.loads(out["meta.json"][1])
        meta["files"][name] = out[name][0]
        body = json.dumps(meta).encode()
        out["meta.json"] = (hashlib.sha256(body).hexdigest(), body)
    return out


def test_files_that_arrive_damaged_crafted_or_for_another_entry_are_never_stored(tmp_path):
    worker, key = _one_entry(tmp_path / "worker")
    files = worker.export("alpha", key)
    driver, folder = Cache(tmp_path / "driver"), tmp_path / "driver" / "alpha" / key
    marker = tmp_path / "pwned"
    crafted = io.BytesIO()
    torch.save({"test": _Payload(marker)}, crafted)
    digest, blob = files["students.csv"]
    cases = {
        "damaged on the way": ({**files, "students.csv": (digest, blob[:-3])},
                               f"{folder}/students.csv arrived damaged"),
        "changed, meta.json not": (_resend(files, "students.csv", b"seed,acc,seconds\n3,1.0,1.5\n",
                                           relist=False), "files other than its meta.json"),
        "a path outside the entry": (_resend(files, "../x.csv", b""), "files other than"),
        "a crafted pickle": (_resend(files, "logits.pt", crafted.getvalue()),
                             f"{folder}/logits.pt holds more than tensors"),
    }
    for name, (sent, message) in cases.items():
        with pytest.raises(CacheError, match=re.escape(message)):
            driver.import_files("alpha", key, sent)
        assert not folder.exists() and not (folder.parent / "x.csv").exists(), name
    other = "0" * 32
    with pytest.raises(CacheError, match=f"arrived holding another entry \\(alpha/{key}\\)"):
        driver.import_files("alpha", other, files)
    assert not marker.exists() and not list((tmp_path / "driver").rglob("meta.json"))
