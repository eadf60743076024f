"""Show that each fault-injection test guards something: remove one protection at a time in
a copy of the repository and run the test that should catch it; the test must fail.

    .venv/bin/python tests/mutants.py [name ...]

Prints one row per mutant (what was removed, the test, whether it failed as it should, the
time). Exits 1 if a mutant survived. Not part of the test command: it runs the fault tests
about twenty times over (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAULTS = "tests/test_faults.py::"


@dataclass(frozen=True)
class Mutant:
    """In ``path``, replace each ``old`` (which must occur exactly once) by its ``new``."""

    name: str
    path: str
    edits: tuple[tuple[str, str], ...]
    test: str


def _mutant(name: str, path: str, *edits_and_test: str) -> Mutant:
    """``_mutant(name, path, old, new[, old, new ...], test)``."""
    *flat, test = edits_and_test
    return Mutant(name, path, tuple(zip(flat[::2], flat[1::2], strict=True)), test)


MUTANTS = (
    _mutant("no cache hit: finished units are computed again", "kdlib/results.py",
           'self.used.append(key)\n        if (folder / "meta.json").exists():',
           "self.used.append(key)\n        if False:",
           'if (folder / "meta.json").exists():  # another process', "if False:  # another",
           "test_a_sweep_killed_with_sigkill_resumes_and_recomputes_no_finished_unit"),
    _mutant("stale temporaries of a killed run are not cleared", "kdlib/results.py",
           'for stale in folder.parent.glob(f".{key}.*"):', "for stale in []:",
           "test_the_debris_of_a_killed_run_is_cleared"),
    _mutant("a finished unit's leftover checkpoint is kept", "kdlib/results.py",
           "checkpoint.clear()  # left if", "pass  # left if",
           "test_the_debris_of_a_killed_run_is_cleared"),
    _mutant("label noise drawn without its seed", "kdlib/data.py",
           "rng = np.random.default_rng(seed)", "rng = np.random.default_rng()",
           "test_the_same_sweep_run_again_is_bit_identical"),
    _mutant("no lock: each process locks its own file", "kdlib/results.py",
           "lock.acquire(timeout=0)",
           'lock = FileLock(f"{folder}.{os.getpid()}.lock")\n'
           "                lock.acquire(timeout=0)",
           "test_two_processes_on_one_cache_compute_each_unit_once"),
    _mutant("cache entries loaded without their checksums", "kdlib/results.py",
           "if not path.exists() or _sha256(path) != digest:", "if not path.exists():",
           "test_a_damaged_cache_entry_is_reported_with_path_and_fix"),
    _mutant("checkpoints loaded without their checksum", "kdlib/results.py",
           "if hashlib.sha256(body).hexdigest() != digest:", "if False:",
           "test_a_damaged_checkpoint_is_reported_with_path_and_fix"),
    _mutant("data files used without their MD5", "kdlib/data.py",
           "if raw_md5 not in accepted and md5 not in accepted:", "if False:",
           "test_a_corrupt_data_file_never_reaches_training"),
    _mutant("torch.load without weights_only", "kdlib/results.py",
           "torch.load(source, weights_only=True)", "torch.load(source, weights_only=False)",
           "test_a_crafted_pickle_in_a_cache_entry_is_refused"),
    _mutant("checkpoints: torch.load without weights_only", "kdlib/results.py",
           "torch.load(source, weights_only=True)", "torch.load(source, weights_only=False)",
           "test_a_crafted_pickle_in_a_checkpoint_is_refused"),
    _mutant("CIFAR batches: plain pickle", "kdlib/data.py",
           'return _ArraysOnly(io.BytesIO(blob), encoding="bytes").load()',
           'return pickle.loads(blob, encoding="bytes")',
           "test_a_crafted_pickle_in_a_cifar_archive_is_refused"),
    _mutant("names injected by papermill not checked", "kdlib/config.py",
           "injected = injected_names(history) if", "injected = [] if",
           "test_a_bad_parameter_stops_the_first_cell_in_one_line_and_writes_nothing"
           "[alpha-unknown]"),
    _mutant("numbers not checked against their range", "kdlib/config.py",
           "if too_low or too_high or value != value:", "if value != value:",
           "test_a_bad_parameter_stops_the_first_cell_in_one_line_and_writes_nothing"
           "[epochs]"),
    _mutant("errors shown with their traceback", "kdlib/errors.py",
           "def _render_traceback_(self)", "def _render_traceback_unused(self)",
           "test_a_bad_parameter_stops_the_first_cell_in_one_line_and_writes_nothing"
           "[temperature]"),
    _mutant("a failed chapter's executed copy is kept", "kdlib/book.py",
           "        Path(tmp).unlink(missing_ok=True)\n        out.unlink(missing_ok=True)",
           "        os.replace(tmp, out)",
           "test_a_raising_notebook_fails_the_book_command_naming_notebook_and_cell"),
    _mutant("the book is built after a chapter failed", "kdlib/book.py",
           'print(f"error: {e}{kept}", file=sys.stderr)\n            return 1',
           'print(f"error: {e}{kept}", file=sys.stderr)\n            continue',
           "test_a_raising_notebook_fails_the_book_command_naming_notebook_and_cell"),
    _mutant("Jupyter Book builds in place, without staging", "kdlib/book.py",
           '"--path-output",\n                        str(staging), *options], check=True, '
           "cwd=root)\n        shutil.rmtree(old, ignore_errors=True)\n        if final.exists():\n"
           "            os.replace(final, old)\n"
           '        os.replace(staging / "_build" / output, final)',
           "*options], check=True, cwd=root)",
           "test_a_failed_jupyter_book_build_leaves_the_last_complete_book"),
    _mutant("a failed entry's temporary directory is kept", "kdlib/results.py",
           "if tmp is not None and tmp.exists():", "if False:",
           "test_a_full_disk_is_a_clear_error_and_leaves_nothing_half_written"
           "[entry]"),
    _mutant("a failed checkpoint's temporary file is kept", "kdlib/results.py",
           "            tmp.unlink(missing_ok=True)\n            raise CacheError(f\"cannot write "
           "the checkpoint", "            raise CacheError(f\"cannot write the checkpoint",
           "test_a_full_disk_is_a_clear_error_and_leaves_nothing_half_written"
           "[checkpoint]"),
    _mutant("an unwritable cache gives a raw OSError", "kdlib/results.py",
           'raise CacheError(f"cannot write the results cache at', "raise OSError(f\"",
           "test_an_unwritable_cache_is_a_clear_error_before_training"),
)


def _copy_repository(dst: Path) -> None:
    """The tracked and untracked (not ignored) files, as they are in the working tree."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)


def run(mutant: Mutant, work: Path) -> tuple[bool, float]:
    """Apply ``mutant`` to a fresh copy and run its test; (test failed, seconds)."""
    copy = work / "repo"
    shutil.rmtree(copy, ignore_errors=True)
    _copy_repository(copy)
    path = copy / mutant.path
    text = path.read_text()
    for old, new in mutant.edits:
        if text.count(old) != 1:
            raise SystemExit(f"{mutant.name}: {old!r} occurs {text.count(old)} times in "
                             f"{mutant.path}")
        text = text.replace(old, new)
    path.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(copy),
           "KD_SHARED_DATA": os.environ.get("KD_SHARED_DATA", str(ROOT.parent / "shared" /
                                                                   "data"))}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           FAULTS + mutant.test], cwd=copy, env=env, capture_output=True,
                          text=True)
    return done.returncode != 0, time.perf_counter() - start


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    rows = ["| protection removed | test | test failed | seconds |", "| --- | --- | --- | --- |"]
    survived = 0
    with tempfile.TemporaryDirectory(prefix="kd-mutants.") as work:
        for mutant in chosen:
            caught, seconds = run(mutant, Path(work))
            survived += not caught
            rows.append(f"| {mutant.name} | `{mutant.test.split('[')[0]}` | "
                        f"{'yes' if caught else 'NO: survived'} | {seconds:.0f} |")
            print(rows[-1], flush=True)
    print("\n".join(rows))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
