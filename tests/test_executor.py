"""kdlib.executor: a sweep's units as Ray tasks give the local run's results, bit for bit; a
worker killed mid-task is retried and nothing finished is lost; on a cluster of two nodes the
tasks' entries travel back to the driver's cache, which no node sees, checked on arrival."""

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_faults import ROOT, SWEEP, _assert_same, _contents, _finish, _Payload, _start, _sweep

from kdlib.config import Execution, Numerics, ParamError, Params
from kdlib.executor import run_units
from kdlib.results import Cache, CacheError
from kdlib.units import Unit

RAY = ("-p", "executor", "ray")
THREADS = Numerics().threads  # what every unit runs with: a node gets as many CPUs


def test_where_a_unit_runs_is_not_part_of_its_key(tmp_path):
    cache = Cache(tmp_path)
    p = {"n_train": 300, "seed": 1}
    assert cache.key("alpha", "students", {**p, "executor": "ray", "ray_address": "h:6379"},
                     "d") == cache.key("alpha", "students", p, "d")


def _table(seed: int) -> dict:
    return {"t": pd.DataFrame({"seed": [seed]})}


def test_an_unknown_executor_is_refused_before_any_compute(tmp_path):
    with pytest.raises(ParamError, match="executor must be one of local, ray"):
        Params.resolve("quick", executor="spark")
    run = Execution.model_construct(executor="dask", ray_address="", data_dir="")
    with pytest.raises(ValueError, match="executor must be one of local, ray"):
        run_units(Cache(tmp_path), "alpha", [Unit("u", _table, {"seed": 1})], run)


@pytest.fixture(scope="module")
def local_two_seeds(tmp_path_factory) -> Path:
    """A local run of the teacher and the first two seeds."""
    cache = tmp_path_factory.mktemp("local2")
    done = _sweep(cache, "-p", "seeds", "2")
    assert done.code == 0, done.stderr
    return cache


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, local_two_seeds) -> Path:
    """The whole sweep, run locally (from where ``local_two_seeds`` stopped)."""
    cache = tmp_path_factory.mktemp("local")
    shutil.copytree(local_two_seeds / "alpha", cache / "alpha",
                    ignore=shutil.ignore_patterns("*.lock"))
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


# -- two nodes -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class _Node:
    """A ``ray start --block`` process: one node of a Ray cluster on this machine."""

    proc: subprocess.Popen
    log: Path
    temp: Path
    address: str  # of the cluster's head

    def wait_started(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in self.log.read_text():
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"no Ray node after {timeout} s"
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGINT: ``ray start --block`` stops its node's processes, as ``ray stop`` would
        (which stops every Ray on the machine). What is left after 5 s, of the session the
        node was started in (its raylet, GCS and workers), is killed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # start_new_session: its own group
        except ProcessLookupError:
            pass
        self.proc.wait()


def _ray_node(name: str, where: Path, cache: Path, head: str | None = None) -> _Node:
    """Start a node with ``THREADS`` logical CPUs whose tasks use ``cache`` ($KD_CACHE_DIR of
    the node, as a user would set it on each machine); ``head``: the address to join, else
    start the head. All ports are free ones, so other Rays on this machine are not disturbed;
    its own temp dir keeps ``ray.init()`` elsewhere on the machine from finding it."""
    temp = Path(tempfile.mkdtemp(prefix=f"kd{name}", dir="/tmp"))  # short: socket paths
    ports = ("node-manager-port", "object-manager-port", "dashboard-agent-listen-port",
             "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port")
    args = [str(Path(sys.executable).parent / "ray"), "start", "--block",
            "--node-ip-address=127.0.0.1", f"--num-cpus={THREADS}", "--disable-usage-stats",
            f"--object-store-memory={100 << 20}", f"--temp-dir={temp}",
            *(f"--{p}={_free_port()}" for p in ports)]
    if head is None:
        head = f"127.0.0.1:{_free_port()}"
        args += ["--head", f"--port={head.split(':')[1]}", "--include-dashboard=false",
                 f"--dashboard-port={_free_port()}", f"--ray-client-server-port={_free_port()}"]
    else:
        args.append(f"--address={head}")
    log = where / f"{name}.log"
    env = {**os.environ, "KD_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("RAY_ADDRESS", None)
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    node = _Node(proc, log, temp, head)
    try:
        node.wait_started()
    except BaseException:
        node.stop()
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return node


@pytest.fixture
def two_nodes(tmp_path, monkeypatch):
    """A head and a second node on 127.0.0.1, with a token of their own (Ray's token auth),
    each node's tasks caching into their own directory; yields the head's address."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    nodes = []
    try:
        nodes.append(_ray_node("head", tmp_path, tmp_path / "node-head"))
        address = nodes[0].address
        nodes.append(_ray_node("second", tmp_path, tmp_path / "node-second", address))
        yield address
    finally:
        for node in reversed(nodes):
            node.stop()
            shutil.rmtree(node.temp, ignore_errors=True)


def test_a_sweep_on_two_nodes_fills_the_driver_cache_the_nodes_never_see(tmp_path, two_nodes,
                                                                         local_two_seeds):
    """Two seeds as tasks on two nodes (the teacher, a minute's work here, is the local
    run's). Each node's tasks compute into that node's own cache; the driver's cache, a
    directory no node is given, gets every entry from what the tasks return, bit for bit the
    local run's entries."""
    driver, seeds = tmp_path / "driver", 2
    teacher = next(m.parent for m in local_two_seeds.glob("alpha/*/meta.json")
                   if json.loads(m.read_text())["unit"] == "teacher")
    shutil.copytree(teacher, driver / "alpha" / teacher.name)
    start = time.perf_counter()
    done = _sweep(driver, *RAY, "-p", "ray_address", two_nodes, "-p", "seeds", str(seeds))
    seconds = time.perf_counter() - start
    assert done.code == 0, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if " computed on node " in line]
    ran = dict(re.findall(r"\(ray\): \w+ ([0-9a-f]{32}) computed on node ([0-9a-f]+)",
                          "\n".join(lines)))  # key: node, one line per unit a task computed
    by_dir = {name: {m.parent.name: json.loads(m.read_text())["params"]["seed"]
                     for m in (tmp_path / name).glob("alpha/*/meta.json")}
              for name in ("node-head", "node-second")}
    print(f"\ntwo-node sweep: {seconds:.1f} s", *lines, *(
        f"{name}'s cache: " + ", ".join(f"{k} (seed {seed})" for k, seed in sorted(keys.items()))
        for name, keys in by_dir.items()), sep="\n")
    assert len(ran) == seeds  # every seed ran as a task
    assert len(set(ran.values())) == 2  # on both nodes
    for name, keys in by_dir.items():  # each node cached exactly the units it reported
        assert len({ran[k] for k in keys}) == 1, name
    assert by_dir["node-head"].keys() | by_dir["node-second"].keys() == set(ran)
    assert not by_dir["node-head"].keys() & by_dir["node-second"].keys()
    _assert_same(_contents(driver), _contents(local_two_seeds))  # every entry, bit for bit
