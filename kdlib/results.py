"""The results cache: finished units of work, stored once and checked on every load.

One finished unit of work (a teacher, one seed of a sweep) is one entry, keyed by everything
that changes its numbers: experiment, unit, resolved parameters, data digest and the hash of
kdlib's source. A hit loads; a miss computes under the entry's lock (another process wanting
the same entry waits, then loads it), serialises in memory, then writes a temporary directory
that is renamed into place: a killed run or a full disk leaves nothing half-written, and what
a killed run left (``.<key>.*``) is deleted the next time that entry is computed. Every
file's SHA-256 is recorded and checked on load, and tensors load with
``torch.load(weights_only=True)``: a damaged or crafted entry is reported with its path and
the fix, never used.

A long unit can also keep a checkpoint beside its future entry (``<key>.partial.pt``, written
atomically, SHA-256 inside): a killed run resumes from it, and it is deleted once the entry
is stored.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
import os
import pickle
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from filelock import FileLock, Timeout

from kdlib.errors import UserError

__all__ = ["PUBLISHED", "Cache", "CacheError", "Checkpoint", "code_files", "code_hash", "cpu_model",
           "git_commit"]

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
DEFAULT_CACHE = ROOT / "data" / "cache"
PUBLISHED = ROOT / "data" / "results"  # committed entries of long runs, looked up by key
RUN_ONLY = ("executor", "ray_address")  # parameters that change where a unit runs, not its numbers

Entry = dict[str, Any]  # name → pandas.DataFrame or dict of tensors; loaded ones add "meta"


class CacheError(UserError, RuntimeError):
    """A cache entry is damaged or the cache directory cannot be written."""


def _kdlib_imports(path: Path) -> set[str]:
    """The ``kdlib`` modules a source file imports (``from kdlib import x`` counts ``x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kdlib"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("kdlib"))
    return found


def _module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    base = PACKAGE.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def code_files(module: str = "kdlib") -> list[Path]:
    """Source files of ``module`` and every kdlib module it imports, transitively, with the
    package's ``__init__.py`` (which every import of kdlib runs) and what that imports.

    ``"kdlib"`` (or a module that does not exist) means the whole package.
    """
    start = _module_file(module) if module != "kdlib" else None
    if start is None:
        return sorted(PACKAGE.rglob("*.py"))
    seen = {start, PACKAGE / "__init__.py"}
    todo = list(seen)
    while todo:
        for name in _kdlib_imports(todo.pop()):
            path = _module_file(name)
            if path is not None and path not in seen:
                seen.add(path)
                todo.append(path)
    return sorted(seen)


@functools.cache
def code_hash(module: str = "kdlib") -> str:
    """SHA-256 of :func:`code_files` of ``module``.

    Computed once per process, from the source as it was when first asked: the code that ran.
    """
    h = hashlib.sha256()
    for path in code_files(module):
        h.update(path.relative_to(PACKAGE).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cpu_model() -> str:
    """The CPU: its model name, family and model numbers (one name covers several
    generations: "AMD EPYC" is Zen 2 as family 23, Zen 5 as family 26), the vector
    instructions torch dispatches to (they change results' last bits), and the cores this
    process may use. E.g. ``"AMD EPYC (family 23, model 49; AVX2), 2 cores"``."""
    name, ids = platform.processor() or platform.machine(), {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name":
                name = value.strip()
            elif key in ("cpu family", "model") and key not in ids:
                ids[key] = value.strip()
            if key == "processor" and ids:  # the first processor is enough
                break
    except OSError:
        pass
    where = f"family {ids['cpu family']}, model {ids['model']}; " if len(ids) == 2 else ""
    isa = torch.backends.cpu.get_cpu_capability()
    return f"{name} ({where}{isa}), {len(os.sched_getaffinity(0))} cores"


def git_commit(root: Path = ROOT) -> str:
    """The checkout's commit, with ``+dirty`` when tracked files were changed."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + ("+dirty" if dirty else "")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_tensors(source: Path | io.BytesIO, path: Path, fix: str) -> Any:
    """``torch.load`` restricted to tensors and plain containers (``weights_only``): a file
    that would run code when unpickled is refused, whatever its checksum says."""
    try:
        return torch.load(source, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0]
        raise CacheError(f"{path} holds more than tensors and was not loaded ({first}); "
                         f"{fix}") from None


def _key(experiment: str, unit: str, params: dict[str, Any], data_digest: str,
         code: str) -> str:
    blob = json.dumps({"experiment": experiment, "unit": unit, "params": params,
                       "data": data_digest, "code": code}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class Checkpoint:
    """The saved state of an unfinished unit: one file, its SHA-256 first, replaced atomically."""

    path: Path

    def load(self) -> dict[str, Any] | None:
        """The saved state, or ``None`` if there is none."""
        if not self.path.exists():
            return None
        blob = self.path.read_bytes()
        digest, body = blob[:64].decode(errors="replace"), blob[64:]
        if hashlib.sha256(body).hexdigest() != digest:
            raise CacheError(f"damaged checkpoint {self.path} (checksum mismatch); delete it "
                             "to restart that unit from the beginning")
        return _load_tensors(io.BytesIO(body), self.path, "delete it to restart that unit "
                             "from the beginning")

    def save(self, state: dict[str, Any]) -> None:
        """Replace the saved state with ``state`` (a temporary file renamed into place)."""
        buffer = io.BytesIO()
        torch.save(state, buffer)
        body = buffer.getvalue()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(hashlib.sha256(body).hexdigest().encode() + body)
            os.replace(tmp, self.path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise CacheError(f"cannot write the checkpoint {self.path}: {e}; free disk space "
                             "or set KD_CACHE_DIR to a writable directory") from e

    def clear(self) -> None:
        """Delete the saved state."""
        self.path.unlink(missing_ok=True)


@dataclass
class Cache:
    """A directory of entries ``<root>/<experiment>/<key>/`` with a ``meta.json`` each."""

    root: Path | None = None  # None: $KD_CACHE_DIR, else data/cache

    def __post_init__(self) -> None:
        self.root = Path(self.root or os.environ.get("KD_CACHE_DIR", DEFAULT_CACHE))
        self.computed: list[str] = []  # keys computed (not loaded) by this object, in order
        self.used: list[str] = []  # keys of every entry this object returned, in order

    def key(self, experiment: str, unit: str, params: dict[str, Any], data_digest: str) -> str:
        """The entry's key: a hash of all that determines its numbers (not of the parameters
        that only say where it runs, :data:`RUN_ONLY`)."""
        params = {k: v for k, v in params.items() if k not in RUN_ONLY}
        return _key(experiment, unit, params, data_digest,
                    code_hash(f"kdlib.experiments.{experiment}"))

    def has(self, experiment: str, unit: str, params: dict[str, Any], data_digest: str) -> bool:
        """Whether the entry is stored (never loads or computes)."""
        key = self.key(experiment, unit, params, data_digest)
        return (self.root / experiment / key / "meta.json").exists()

    def get(self, experiment: str, unit: str, params: dict[str, Any],
            data_digest: str) -> Entry | None:
        """The entry if it exists, else ``None`` (never computes)."""
        key = self.key(experiment, unit, params, data_digest)
        folder = self.root / experiment / key
        if not (folder / "meta.json").exists():
            return None
        self.used.append(key)
        return self._load(folder)

    def find(self, experiment: str, unit: str, params: dict[str, Any],
             data_digest: str) -> Entry | None:
        """The entry for this code if there is one, else the newest one with the same
        parameters and data computed by other code (its ``meta`` names that code and commit);
        ``None`` if neither exists. For committed results of long runs: never computes."""
        exact = self.get(experiment, unit, params, data_digest)
        if exact is not None:
            return exact
        want = json.loads(json.dumps({k: v for k, v in params.items() if k not in RUN_ONLY},
                                     sort_keys=True, default=str))
        metas = sorted((self.root / experiment).glob("*/meta.json"),
                       key=lambda m: m.stat().st_mtime, reverse=True)
        for path in metas:
            meta = json.loads(path.read_text())
            if (meta.get("unit"), meta.get("data"), meta.get("params")) == (unit, data_digest,
                                                                             want):
                self.used.append(path.parent.name)
                return self._load(path.parent)
        return None

    def get_or_compute(self, experiment: str, unit: str, params: dict[str, Any],
                       data_digest: str, compute: Callable[..., Entry],
                       resumable: bool = False, size: float | None = None) -> Entry:
        """Load the entry if it exists, else compute, store and return it.

        With ``resumable``, ``compute`` is called with the entry's :class:`Checkpoint`, which
        it may save its progress to and resume from; the checkpoint is deleted once the entry
        is stored. Its meta records the seconds it took and, if given, its ``size`` (the
        unit's work in its own measure, for estimates: :func:`kdlib.units.estimate`).
        """
        key = self.key(experiment, unit, params, data_digest)
        folder = self.root / experiment / key
        checkpoint = Checkpoint(folder.with_name(f"{key}.partial.pt"))
        self.used.append(key)
        if (folder / "meta.json").exists():
            checkpoint.clear()  # left if a run was killed between storing and clearing it
            return self._load(folder)
        lock = self._lock(folder)
        try:
            if (folder / "meta.json").exists():  # another process finished it meanwhile
                return self._load(folder)
            self._clear_debris(folder)
            start = time.perf_counter()
            entry = compute(checkpoint) if resumable else compute()
            meta = {"experiment": experiment, "unit": unit,
                    "params": {k: v for k, v in params.items() if k not in RUN_ONLY},
                    "data": data_digest, "code": code_hash(f"kdlib.experiments.{experiment}"),
                    "commit": git_commit(), "machine": cpu_model(),
                    "seconds": time.perf_counter() - start}  # this run's share, if resumed
            if size is not None:
                meta["size"] = size
            self._store(folder, entry, meta)
            checkpoint.clear()
            self.computed.append(key)
            return self._load(folder)  # fresh and cached results are the same objects
        finally:
            lock.release()

    def entries(self, experiment: str) -> dict[str, Entry]:
        """Every finished entry of ``experiment``, by key, each checked against its checksums."""
        metas = sorted((self.root / experiment).glob("*/meta.json"))
        return {m.parent.name: self._load(m.parent) for m in metas
                if not m.parent.name.startswith(".")}

    def _clear_debris(self, folder: Path) -> None:
        """Delete the temporaries a killed run left beside the entry (call under its lock)."""
        key = folder.name
        for stale in folder.parent.glob(f".{key}.*"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)

    def _lock(self, folder: Path) -> FileLock:
        """Hold the entry's lock: one process computes it, the others wait, then load it."""
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(folder) + ".lock")
            try:
                lock.acquire(timeout=0)
            except Timeout:
                print(f"waiting for another process computing {folder} ...", file=sys.stderr,
                      flush=True)
                lock.acquire()
        except OSError as e:
            raise CacheError(f"cannot write the results cache at {folder.parent}: {e}; "
                             "set KD_CACHE_DIR to a writable directory") from e
        return lock

    def publish(self, experiment: str, keys: list[str], to: Path | None = None) -> list[Path]:
        """Copy finished entries to ``to`` (default: the committed results), each atomically."""
        to = to or PUBLISHED
        out = []
        for key in keys:
            target = to / experiment / key
            if not (target / "meta.json").exists():
                self._load(self.root / experiment / key)  # checksums first
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=target.parent))
                shutil.copytree(self.root / experiment / key, tmp, dirs_exist_ok=True)
                os.replace(tmp, target)
            out.append(target)
        return out

    def export(self, experiment: str, key: str) -> dict[str, tuple[str, bytes]]:
        """A finished entry's files as stored, ``{filename: (sha256, bytes)}``, checked as a
        load checks them first: what :meth:`import_files` stores in another cache (a Ray
        worker sends the entries it computed to the driver's cache this way)."""
        folder = self.root / experiment / key
        meta = self._load(folder)["meta"]
        out = {}
        for filename in [*meta["files"], "meta.json"]:
            blob = (folder / filename).read_bytes()
            out[filename] = (hashlib.sha256(blob).hexdigest(), blob)
        return out

    def import_files(self, experiment: str, key: str,
                     files: dict[str, tuple[str, bytes]]) -> None:
        """Store entry ``key`` from another cache's :meth:`export` as if computed here:
        atomically and under the entry's lock (an entry already here is kept).

        Nothing is stored unless every file matches the SHA-256 it came with and the one its
        ``meta.json`` lists, that meta describes entry ``key`` (its parameters, data and code
        hash to it) and every tensor file loads with ``weights_only``.
        """
        folder = self.root / experiment / key
        fix = "it was not stored; re-run to compute it again"
        blobs = {}
        for filename, (digest, blob) in files.items():
            if hashlib.sha256(blob).hexdigest() != digest:
                raise CacheError(f"{folder}/{filename} arrived damaged (checksum mismatch); "
                                 f"{fix}")
            blobs[filename] = blob
        try:
            meta = json.loads(blobs["meta.json"])
            listed = dict(meta["files"])
            made = _key(meta["experiment"], meta["unit"], meta["params"], meta["data"],
                        meta["code"])
        except (KeyError, TypeError, ValueError) as e:
            raise CacheError(f"{folder} arrived without a readable meta.json ({e}); "
                             f"{fix}") from e
        if meta["experiment"] != experiment or made != key:
            raise CacheError(f"{folder} arrived holding another entry ({meta['experiment']}/"
                             f"{made}); {fix}")
        if set(blobs) != {*listed, "meta.json"} or any(
                not re.fullmatch(r"\w[\w.-]*\.(csv|pt)", f)
                or hashlib.sha256(blobs[f]).hexdigest() != d for f, d in listed.items()):
            raise CacheError(f"{folder} arrived with files other than its meta.json lists "
                             f"(names or checksums); {fix}")
        for filename in listed:
            if filename.endswith(".pt"):
                _load_tensors(io.BytesIO(blobs[filename]), folder / filename, fix)
        lock = self._lock(folder)
        try:
            if not (folder / "meta.json").exists():
                self._clear_debris(folder)
                self._write(folder, blobs)
            Checkpoint(folder.with_name(f"{key}.partial.pt")).clear()  # of a local attempt
        finally:
            lock.release()

    def _store(self, folder: Path, entry: Entry, meta: dict[str, Any]) -> None:
        """Serialise in memory, write into a temporary directory, rename it into place."""
        blobs, dtypes = {}, {}
        for name, value in entry.items():
            if isinstance(value, pd.DataFrame):
                blobs[f"{name}.csv"] = value.to_csv(index=False, float_format="%.17g").encode()
                dtypes[name] = {c: str(t) for c, t in value.dtypes.items()}
            else:
                buffer = io.BytesIO()
                torch.save(value, buffer)
                blobs[f"{name}.pt"] = buffer.getvalue()
        files = {f: hashlib.sha256(b).hexdigest() for f, b in blobs.items()}
        blobs["meta.json"] = json.dumps({**meta, "files": files, "dtypes": dtypes}, indent=1,
                                        sort_keys=True, default=str).encode()
        self._write(folder, blobs)

    def _write(self, folder: Path, blobs: dict[str, bytes]) -> None:
        """Write ``blobs`` into a temporary directory, rename it to ``folder``."""
        tmp = None
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
            for filename in sorted(blobs, key=lambda f: f == "meta.json"):  # it marks the
                (tmp / filename).write_bytes(blobs[filename])  # entry whole: written last
            os.replace(tmp, folder)
        except OSError as e:
            raise CacheError(f"cannot write the cache entry {folder}: {e}; "
                             "free disk space or set KD_CACHE_DIR to a writable directory") from e
        finally:
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _load(self, folder: Path) -> Entry:
        try:
            meta = json.loads((folder / "meta.json").read_text())
            files = meta["files"]
        except (OSError, ValueError, KeyError) as e:
            raise CacheError(f"damaged cache entry {folder} ({e}); delete that directory "
                             "and re-run to recompute it") from e
        entry: Entry = {}
        for filename, digest in files.items():
            path = folder / filename
            if not path.exists() or _sha256(path) != digest:
                raise CacheError(f"damaged cache entry {path} (checksum mismatch); delete "
                                 f"{folder} and re-run to recompute it")
            name, ext = os.path.splitext(filename)
            if ext == ".csv":
                entry[name] = pd.read_csv(path).astype(meta["dtypes"][name])
            else:
                entry[name] = _load_tensors(path, path, f"delete {folder} and re-run to "
                                            "recompute it")
        entry["meta"] = meta  # what made it: parameters, data digest, code hash, commit
        return entry

