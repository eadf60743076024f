"""Fault injection: what real use does to a sweep, and what the report does about it.

A sweep is killed with SIGKILL, run twice, run by two processes at once; cache entries,
checkpoints, weights and data files are damaged or replaced by crafted pickles; bad values
come through papermill; a notebook raises during a book build; the disk fills up. Each test
fails when the protection it checks is removed: ``python tests/mutants.py`` removes them one
at a time in a copy of the repository and runs the matching test.

The sweep is the alpha study at a tiny scale (300 images, 6 seeds of 4 students, 4 epochs):
six units after its teacher, about half a second each here, run as ``python -m kdlib.run``.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import itertools
import json
import os
import pickle
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import papermill
import pytest
import torch

from kdlib import data, results
from kdlib.data import DataError, Source
from kdlib.results import Cache, CacheError, Checkpoint

ROOT = Path(__file__).resolve().parents[1]
SWEEP = {"n_train": 300, "n_test": 200, "alphas": "[0, 0.5, 1]", "epochs": 4,
         "snapshots": "[2, 4]", "seeds": 6, "batch_size": 50}
UNITS = 1 + SWEEP["seeds"]  # the teacher, then one unit per seed


def _command(*extra: str) -> list[str]:
    args = [a for name, value in SWEEP.items() for a in ("-p", name, str(value))]
    return [sys.executable, "-m", "kdlib.run", "alpha", "--profile", "quick", *args, *extra]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "KD_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "3"}


def _start(cache: Path, *extra: str, **popen: Any) -> subprocess.Popen:
    return subprocess.Popen(_command(*extra), env=_env(cache), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """The run's last line on stderr (progress bars come before it)."""
        lines = [ln for ln in self.stderr.replace("\r", "\n").splitlines() if ln.strip()]
        return lines[-1] if lines else ""


def _finish(proc: subprocess.Popen, timeout: float = 600) -> Done:
    out, err = proc.communicate(timeout=timeout)
    return Done(proc.returncode, out, err)


def _sweep(cache: Path, *extra: str, **popen: Any) -> Done:
    return _finish(_start(cache, *extra, **popen))


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts of tensors as one dict, ``a/b`` keys."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}/"))
        return out
    return {prefix.rstrip("/"): value}


def _contents(cache: Path) -> dict[str, dict[str, Any]]:
    """Every entry of the sweep, checksums verified: tables without their wall-time column,
    tensors, the parameters and the SHA-256 of each tensor file."""
    out = {}
    for key, entry in Cache(cache).entries("alpha").items():
        meta = entry.pop("meta")
        flat: dict[str, Any] = {"params": meta["params"]}
        for name, value in entry.items():
            if isinstance(value, pd.DataFrame):
                flat[name] = value.drop(columns="seconds")
            else:
                flat.update({f"{name}/{k}": v for k, v in _flat(value).items()})
                flat[f"{name}.pt sha256"] = meta["files"][f"{name}.pt"]
        out[key] = flat
    return out


def _assert_same(ours: dict[str, dict[str, Any]], reference: dict[str, dict[str, Any]]) -> None:
    """The same entries, value for value and bit for bit."""
    assert sorted(ours) == sorted(reference)
    for key, entry in reference.items():
        assert sorted(ours[key]) == sorted(entry), key
        for name, want in entry.items():
            got = ours[key][name]
            if isinstance(want, pd.DataFrame):
                pd.testing.assert_frame_equal(got, want, check_exact=True)
            elif isinstance(want, torch.Tensor):
                assert got.dtype == want.dtype and got.shape == want.shape, (key, name)
                assert got.numpy().tobytes() == want.numpy().tobytes(), (key, name)
            else:
                assert got == want, (key, name)


def _leftovers(cache: Path) -> list[str]:
    """Anything in the cache but finished entries and their lock files."""
    return sorted(p.name for p in (cache / "alpha").iterdir()
                  if not (p.is_dir() and (p / "meta.json").exists())
                  and not p.name.endswith(".lock"))


def _rows_per_student(cache: Path) -> pd.Series:
    tables = [e["students"] for e in Cache(cache).entries("alpha").values() if "students" in e]
    rows = pd.concat(tables)
    return rows.groupby(["seed", "student", "alpha", "epoch"]).size()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One uninterrupted sweep in its own process: its cache and its entries."""
    cache = tmp_path_factory.mktemp("reference")
    done = _sweep(cache)
    assert done.code == 0, done.stderr
    contents = _contents(cache)
    assert len(contents) == UNITS
    return cache, contents


# -- kill -9 ------------------------------------------------------------------------------


def _wait_for(condition: Callable[[], Any], proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the sweep ended early: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_a_sweep_killed_with_sigkill_resumes_and_recomputes_no_finished_unit(tmp_path,
                                                                              reference):
    """SIGKILL at a random moment after the first unit is stored: once k units are stored
    (k drawn from 1 to UNITS - 2, so two or more remain), after a random fraction of the time
    one unit took in the reference run, so inside the next unit or just after it, whatever
    the machine's speed. The draw's seed is printed on failure; set KD_FAULT_SEED to repeat
    it. Then the same command again."""
    stamps = sorted(m.stat().st_mtime for m in reference[0].glob("alpha/*/meta.json"))
    unit_seconds = statistics.median(b - a for a, b in itertools.pairwise(stamps[1:]))
    seed = int(os.environ.get("KD_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    draw = random.Random(seed)
    stored, delay = draw.randint(1, UNITS - 2), draw.uniform(0, unit_seconds)
    why = f"KD_FAULT_SEED={seed}: killed {delay:.2f} s after unit {stored} was stored"
    cache = tmp_path / "cache"
    proc = _start(cache)
    _wait_for(lambda: len(list(cache.glob("alpha/*/meta.json"))) >= stored, proc, 300)
    time.sleep(delay)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"the sweep ended before the kill ({why})"
    finished = {m.parent.name: m.stat().st_mtime_ns for m in cache.glob("alpha/*/meta.json")}
    assert 1 <= len(finished) < UNITS, why

    again = _sweep(cache, "--report", str(tmp_path / "rerun.json"))
    assert again.code == 0, again.stderr
    report = json.loads((tmp_path / "rerun.json").read_text())
    computed = report["computed"]
    assert report["machine"].endswith("cores")  # wall times are read against the machine
    assert not set(computed) & set(finished), f"finished units were recomputed ({why})"
    assert len(computed) == UNITS - len(finished), why
    assert {k: (cache / "alpha" / k / "meta.json").stat().st_mtime_ns for k in finished} \
        == finished  # not even rewritten
    _assert_same(_contents(cache), reference[1])
    assert _leftovers(cache) == [], why  # no temporary directory or checkpoint survives


def test_the_debris_of_a_killed_run_is_cleared(tmp_path, reference):
    """What SIGKILL leaves at the worst moments: a temporary entry directory and a temporary
    checkpoint of an unfinished unit (killed while writing), and the checkpoint of a unit
    whose entry was stored (killed before clearing it). The rerun clears all three."""
    cache = _copy(reference, tmp_path)
    unfinished, finished = _entry(cache, "students", 4), _entry(cache, "students", 2)
    shutil.rmtree(unfinished)
    debris = [cache / "alpha" / f".{unfinished.name}.k1ll3d", cache / "alpha" /
              f".{unfinished.name}.partial.pt.4242.tmp", cache / "alpha" /
              f"{finished.name}.partial.pt"]
    debris[0].mkdir()
    (debris[0] / "students.csv").write_text("seed,stu")
    for path in debris[1:]:
        path.write_bytes(b"half a checkpoint")
    assert _leftovers(cache) == sorted(p.name for p in debris)
    done = _sweep(cache)
    assert done.code == 0, done.stderr
    assert _leftovers(cache) == []
    _assert_same(_contents(cache), reference[1])


# -- bit-identical reruns --------------------------------------------------------------------


def test_the_same_sweep_run_again_is_bit_identical(tmp_path, reference):
    """Twice more in one process (a notebook re-run in the same kernel), against the reference
    run in another: the same metrics, logits and weights to the bit (weights files by SHA-256)."""
    caches = [tmp_path / "first", tmp_path / "second"]
    script = ("import os, sys\nfrom kdlib.run import main\n"
              "for cache in sys.argv[1:3]:\n"
              "    os.environ['KD_CACHE_DIR'] = cache\n"
              "    assert main(sys.argv[3:]) == 0\n")
    args = _command()[3:]  # after "python -m kdlib.run"
    done = subprocess.run([sys.executable, "-c", script, *map(str, caches), *args],
                          env=_env(tmp_path), cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    first, second = (_contents(c) for c in caches)
    _assert_same(first, reference[1])
    _assert_same(second, reference[1])


# -- two processes at once -------------------------------------------------------------------


def test_two_processes_on_one_cache_compute_each_unit_once(tmp_path, reference):
    cache = tmp_path / "cache"
    reports = [tmp_path / f"run{i}.json" for i in range(2)]
    procs = [_start(cache, "--report", str(r)) for r in reports]
    done = [_finish(p) for p in procs]
    assert [d.code for d in done] == [0, 0], [d.stderr[-2000:] for d in done]
    assert any("waiting for another process computing" in d.stderr for d in done)  # they met
    runs = [json.loads(r.read_text()) for r in reports]
    computed = [set(r["computed"]) for r in runs]
    print("units computed by each process:", [len(c) for c in computed])
    assert not computed[0] & computed[1], "a unit was computed twice"
    assert computed[0] | computed[1] == set(reference[1])
    assert [sorted(r["used"]) for r in runs] == [sorted(reference[1])] * 2  # whole tables
    _assert_same(_contents(cache), reference[1])
    assert (_rows_per_student(cache) == 1).all()  # no row twice
    assert len(_rows_per_student(cache)) == SWEEP["seeds"] * 4 * 2  # none missing
    assert _leftovers(cache) == []


# -- damaged files ---------------------------------------------------------------------------


def _copy(reference: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    shutil.copytree(reference[0], cache)
    return cache


def _entry(cache: Path, unit: str, seed: int | None = None) -> Path:
    for meta in cache.glob("alpha/*/meta.json"):
        m = json.loads(meta.read_text())
        if m["unit"] == unit and m["params"].get("seed") == seed:
            return meta.parent
    raise AssertionError(f"no {unit} entry for seed {seed}")


def _truncate(path: Path) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[:len(blob) // 2])


@pytest.mark.parametrize("damage", ["students table", "teacher weights"])
def test_a_damaged_cache_entry_is_reported_with_path_and_fix(tmp_path, reference, damage):
    cache = _copy(reference, tmp_path)
    folder = _entry(cache, "students", 3) if damage == "students table" else \
        _entry(cache, "teacher")
    path = folder / ("students.csv" if damage == "students table" else "weights.pt")
    _truncate(path)
    blob = path.read_bytes()
    done = _sweep(cache)
    assert done.code == 2
    assert done.error == (f"error: damaged cache entry {path} (checksum mismatch); delete "
                          f"{folder} and re-run to recompute it")
    assert path.read_bytes() == blob  # neither used nor quietly replaced


def test_a_damaged_checkpoint_is_reported_with_path_and_fix(tmp_path, reference):
    cache = _copy(reference, tmp_path)
    folder = _entry(cache, "students", 5)
    shutil.rmtree(folder)  # seed 5 unfinished, with a checkpoint whose last byte flipped
    checkpoint = Checkpoint(folder.with_name(f"{folder.name}.partial.pt"))
    checkpoint.save({"epoch": 1, "w": torch.arange(8.0)})
    blob = bytearray(checkpoint.path.read_bytes())
    blob[-1] ^= 0xFF
    checkpoint.path.write_bytes(bytes(blob))
    done = _sweep(cache)
    assert done.code == 2
    assert done.error == (f"error: damaged checkpoint {checkpoint.path} (checksum mismatch); "
                          "delete it to restart that unit from the beginning")
    assert not folder.exists()


def _shared_mnist() -> Path:
    return Path(data.load("mnist").source)


@pytest.mark.parametrize("damage", ["one pixel changed", "truncated"])
def test_a_corrupt_data_file_never_reaches_training(tmp_path, damage):
    """A changed pixel in a well-formed gzip (only the MD5 can tell), and a truncated file."""
    mnist = tmp_path / "mnist"
    shutil.copytree(_shared_mnist(), mnist)
    path = mnist / "train-images-idx3-ubyte.gz"
    if damage == "truncated":
        _truncate(path)
    else:
        pixels = bytearray(gzip.decompress(path.read_bytes()))
        pixels[len(pixels) // 2] ^= 0x01
        path.write_bytes(gzip.compress(bytes(pixels), compresslevel=1))
    cache = tmp_path / "cache"
    done = _sweep(cache, "-p", "data_dir", str(mnist))
    assert done.code == 2
    assert done.error.startswith(f"error: {path} ")
    assert done.error.endswith(data._FIX)
    assert not cache.exists()  # nothing trained, nothing stored


# -- unsafe deserialisation ------------------------------------------------------------------


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: it would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_a_crafted_pickle_in_a_cache_entry_is_refused(tmp_path, reference):
    """The attacker also rewrites the checksum in meta.json: weights_only still refuses it."""
    cache = _copy(reference, tmp_path)
    folder, marker = _entry(cache, "teacher"), tmp_path / "pwned"
    torch.save({"conv.weight": _Payload(marker)}, folder / "weights.pt")
    meta = json.loads((folder / "meta.json").read_text())
    meta["files"]["weights.pt"] = results._sha256(folder / "weights.pt")
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CacheError, match=f"{folder}/weights.pt holds more than tensors and was "
                       f"not loaded .*; delete {folder} and re-run to recompute it"):
        Cache(cache).entries("alpha")
    assert not marker.exists()


def test_a_crafted_pickle_in_a_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    checkpoint = Checkpoint(tmp_path / "k.partial.pt")
    checkpoint.save({"epoch": 1, "model": _Payload(marker)})  # with a valid checksum
    with pytest.raises(CacheError, match="k.partial.pt holds more than tensors"):
        checkpoint.load()
    assert not marker.exists()


def test_a_crafted_pickle_in_a_cifar_archive_is_refused(tmp_path):
    """Even with an MD5 the loader accepts (as if the official one collided)."""
    marker = tmp_path / "pwned"
    members = {"cifar-100-python/train": pickle.dumps({b"data": _Payload(marker)}),
               "cifar-100-python/test": b"", "cifar-100-python/meta": b""}
    path = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    src = Source("cifar100", "cifar-py", {path.name: (md5,)})
    with pytest.raises(DataError, match=r"not a readable CIFAR tarball \(refused to load io.open"):
        data._load_source(src, tmp_path)
    assert not marker.exists()


def test_every_deserialisation_in_kdlib_is_a_safe_one():
    """torch.load only with weights_only=True; pickle only through the CIFAR loader's
    restricted unpickler; no np.load with pickles; Keras models only with safe_mode=True."""
    unsafe = []
    for path in sorted((ROOT / "kdlib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
            where = f"{path.relative_to(ROOT)}:{node.lineno} {name}"
            if name.endswith("torch.load") and kw.get("weights_only") != "True":
                unsafe.append(where)
            if name.startswith("pickle.") and name != "pickle.UnpicklingError":
                unsafe.append(where)
            if name.endswith("np.load") and kw.get("allow_pickle", "False") != "False":
                unsafe.append(where)
            if name.endswith(("load_model", "saving.load_model")) and \
                    kw.get("safe_mode") != "True":
                unsafe.append(where)
    assert unsafe == []


# -- bad parameters through papermill --------------------------------------------------------


@pytest.mark.parametrize(("notebook", "bad", "message"), [
    pytest.param("alpha", {"alpha": 1.5}, "unknown parameter 'alpha' for alpha (did you mean "
                 "'alphas'?); known: dataset, n_train, n_test, noise_rate, noise_kind,",
                 id="alpha-unknown"),
    pytest.param("iisc", {"alpha": 1.5}, "alpha must be a number in [0, 1]; got 1.5",
                 id="alpha-range"),
    pytest.param("alpha", {"epochs": -3}, "epochs must be an integer in [1, 10000]; got -3",
                 id="epochs"),
    pytest.param("alpha", {"dataset": "cifar1000"},
                 "dataset must be one of mnist, fashion_mnist; got 'cifar1000'", id="dataset"),
    pytest.param("alpha", {"temperature": 0}, "temperature must be a number in (0, 100]; got 0",
                 id="temperature"),
])
def test_a_bad_parameter_stops_the_first_cell_in_one_line_and_writes_nothing(
        tmp_path, monkeypatch, notebook, bad, message):
    cache = tmp_path / "cache"
    monkeypatch.setenv("KD_CACHE_DIR", str(cache))
    out = tmp_path / "out.ipynb"
    before = sorted(p.relative_to(ROOT) for p in (ROOT / "book").rglob("*"))
    with pytest.raises(papermill.PapermillExecutionError) as e:
        papermill.execute_notebook(str(ROOT / "notebooks" / f"{notebook}.ipynb"), str(out),
                                   parameters={"profile": "quick", **bad},
                                   kernel_name="python3", cwd=str(ROOT), progress_bar=False)
    assert e.value.ename == "ParamError" and e.value.evalue.startswith(message)
    assert e.value.traceback == [f"ParamError: {e.value.evalue}"]  # one line, no traceback
    cells = [c for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"]
    injected = next(i for i, c in enumerate(cells)
                    if "injected-parameters" in c.metadata.get("tags", []))
    failed = cells[injected + 1]  # the first cell after the parameters
    assert [o.output_type for o in failed.outputs][-1] == "error"
    assert all(c.execution_count is None for c in cells[injected + 2:])  # nothing ran after
    assert not cache.exists()
    assert sorted(p.relative_to(ROOT) for p in (ROOT / "book").rglob("*")) == before


# -- a chapter that raises during a book build -----------------------------------------------


def _notebook(*cells: str, parameters: bool = True) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# A chapter"))
    if parameters:
        nb.cells.append(nbformat.v4.new_code_cell('profile = "default"',
                                                  metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def _book(root: Path, chapters: dict[str, nbformat.NotebookNode]) -> Path:
    root.mkdir()
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n" + "".join(
        f"- file: book/{name}\n" for name in chapters))
    (root / "notebooks").mkdir()
    (root / "book").mkdir()
    shutil.copy(ROOT / "book" / "favicon.svg", root / "book" / "favicon.svg")
    (root / "book" / "intro.md").write_text("# A book\n\nIts chapters.\n")
    for name, nb in chapters.items():
        nbformat.write(nb, root / "notebooks" / f"{name}.ipynb")
    return root


def _book_command(root: Path, cache: Path) -> Done:
    done = subprocess.run([sys.executable, "-m", "kdlib.book", "--profile", "quick", "--root",
                           str(root)], env=_env(cache), cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    return Done(done.returncode, done.stdout, done.stderr)


def test_a_raising_notebook_fails_the_book_command_naming_notebook_and_cell(tmp_path):
    root = _book(tmp_path / "project", {
        "fine": _notebook("print('fine')"),
        "boom": _notebook("x = 1", "raise RuntimeError('injected failure')", "print('never')"),
    })
    built = root / "_build" / "html"
    built.mkdir(parents=True)
    (built / "index.html").write_text("the last complete book")
    done = _book_command(root, tmp_path / "cache")
    assert done.code == 1
    assert done.error == ("error: notebooks/boom.ipynb failed in cell 4 (code cell #4): "
                          "RuntimeError: injected failure; the book in _build/ was not changed")
    assert not (root / "book" / "boom.ipynb").exists()  # no executed copy of the failed one
    assert (root / "book" / "fine.ipynb").exists()
    assert [p.name for p in (root / "_build").iterdir()] == ["html"]
    assert (built / "index.html").read_text() == "the last complete book"


def test_a_failed_jupyter_book_build_leaves_the_last_complete_book(tmp_path):
    """A good build replaces _build/html; then a page with a broken reference (a warning,
    hence an error) fails the build, and the good book stays exactly as it was."""
    root = _book(tmp_path / "project", {"fine": _notebook("print('fine')")})
    assert _book_command(root, tmp_path / "cache").code == 0
    built = root / "_build" / "html"
    before = {p.relative_to(built): p.read_bytes() for p in built.rglob("*") if p.is_file()}
    assert b"Its chapters." in before[Path("index.html")] or \
        b"Its chapters." in before[Path("book/intro.html")]
    (root / "book" / "intro.md").write_text("# A book\n\nSee {doc}`missing`.\n")
    done = _book_command(root, tmp_path / "cache")
    assert done.code == 1
    assert done.error == ("error: jupyter-book build failed (see the warnings above); the book "
                          "in _build/ was not changed")
    after = {p.relative_to(built): p.read_bytes() for p in built.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in (root / "_build").iterdir()) == ["html"]  # no staging left


# -- disk full, unwritable cache -------------------------------------------------------------


def _file_size_limit(limit: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child's writes past ``limit`` bytes fail (EFBIG), as on a full
    disk, instead of killing it with SIGXFSZ."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize(("what", "limit"), [
    pytest.param("cache entry", 1 << 20, id="entry"),
    pytest.param("checkpoint", 1 << 16, id="checkpoint"),
])
def test_a_full_disk_is_a_clear_error_and_leaves_nothing_half_written(tmp_path, reference,
                                                                      what, limit):
    """Real write failures from the kernel: files may not grow past ``limit`` bytes. 1 MB:
    the teacher's entry (its weights are larger) fails; 64 KB, with the teacher already
    cached: a seed's first checkpoint fails."""
    cache = tmp_path / "cache"
    if what == "checkpoint":
        teacher = _entry(reference[0], "teacher")
        shutil.copytree(teacher, cache / "alpha" / teacher.name)
    done = _sweep(cache, preexec_fn=_file_size_limit(limit))
    assert done.code == 2, done.stderr[-2000:]
    assert done.error.startswith(f"error: cannot write the {what} {cache}/alpha/")
    assert done.error.endswith("File too large; free disk space or set KD_CACHE_DIR to a "
                               "writable directory")
    assert _leftovers(cache) == []
    assert len(list(cache.glob("alpha/*/meta.json"))) == (what == "checkpoint")


def test_an_unwritable_cache_is_a_clear_error_before_training(tmp_path):
    cache = tmp_path / "not-a-directory"
    cache.write_text("")  # a file where the cache should be: unwritable, even for root
    start = time.perf_counter()
    done = _sweep(cache)
    assert done.code == 2
    assert done.error.startswith(f"error: cannot write the results cache at {cache}/alpha: ")
    assert done.error.endswith("set KD_CACHE_DIR to a writable directory")
    assert not re.search(r"^teacher:", done.stderr, re.M)  # its bar never started
    assert cache.read_text() == "" and time.perf_counter() - start < 120

