"""The GitHub workflow (.github/workflows/book.yml) and the README's commands on a clean clone.

Nothing here reaches the internet: the data sets' official sites are replaced by a local server
on 127.0.0.1 (tests/httpmirror.py) serving the real files that this checkout finds (../shared,
Debian's directory, or data/raw/ where an earlier run fetched them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from clone import VENV, checkout, clean_env
from httpmirror import Mirror, lay_out, real_files

from kdlib import book, data

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
BIN = VENV / "bin"  # actionlint and shellcheck are pinned there
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps() -> list[dict]:
    return _workflow()["jobs"]["book"]["steps"]


# -- the workflow file ----------------------------------------------------------------------


def test_actionlint_passes_on_the_workflow() -> None:
    """actionlint (expressions, action inputs, runner labels, deprecated actions) and, through
    it, ShellCheck on every run: step."""
    actionlint, shellcheck = BIN / "actionlint", BIN / "shellcheck"
    assert actionlint.exists() and shellcheck.exists(), "pip install -r requirements.txt"
    done = subprocess.run([str(actionlint), "-no-color", "-shellcheck", str(shellcheck),
                           str(WORKFLOW)], capture_output=True, text=True)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_the_workflow_tests_builds_caches_and_publishes() -> None:
    wf = _workflow()
    job = wf["jobs"]["book"]
    assert job["container"]["image"] == "python:3.11-bookworm"  # the build machines' system
    assert wf["defaults"]["run"]["shell"] == "bash"
    runs = [s["run"] for s in _steps() if "run" in s]
    assert runs.index("make setup") < runs.index("make data") < runs.index("bash .ci/run") \
        < runs.index("make book")
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test")
    uses = {s["uses"].split("@")[0]: s for s in _steps() if "uses" in s}
    assert not [s for s in _steps() if "shared" in str(s)]  # no ../shared on GitHub
    assert job["env"]["KD_DATA_MIRROR"] == "${{ vars.KD_DATA_MIRROR }}"
    restore = [s for s in _steps() if s.get("uses", "").startswith("actions/cache/restore")]
    save = [s for s in _steps() if s.get("uses", "").startswith("actions/cache/save")]
    results = [s for s in restore + save if s["with"]["path"] == "data/cache"]
    assert len(results) == 2
    for step in results:  # keyed on kdlib's code and the notebooks' parameters
        assert step["with"]["key"].startswith(
            "results-${{ hashFiles('kdlib/**', 'notebooks/**') }}-")
    assert [s for s in save if s["with"]["path"] == "data/cache"][0]["if"] == "always()"
    assert "results-" in restore[-1]["with"]["restore-keys"].splitlines()
    assert _steps().index(results[0]) < [s.get("run") for s in _steps()].index("make book")
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    assert "cp _build/latex/kd-report.pdf _build/html/kd-report.pdf" in runs
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == "book" and deploy["environment"]["name"] == "github-pages"
    assert deploy["steps"][-1]["uses"].startswith("actions/deploy-pages@")
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}


def test_every_run_step_is_bash_without_expressions(tmp_path: Path) -> None:
    """Each run: step parses (bash -n), and takes what it needs from env:, never from a
    ${{ }} expression pasted into the script (an injection risk, and not runnable here)."""
    for i, step in enumerate(s for s in _steps() if "run" in s):
        assert "${{" not in step["run"], step
        script = tmp_path / f"step{i}.sh"
        script.write_text(step["run"])
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, (step["run"], done.stderr)


# -- the workflow's shell, run here ---------------------------------------------------------

STUB_MAKE = """#!/usr/bin/env bash
# make, as the workflow runs it: recorded; `make data` is the real one (the venv is there, so
# setup is skipped); test and book are the suite and the build, tested on their own.
echo "$*" >> "$MAKE_LOG"
case "$1" in
  data) exec "$REAL_MAKE" -o setup "$@" ;;
  book) mkdir -p _build/html _build/latex
        echo '<html></html>' > _build/html/index.html
        echo '%PDF-1.5' > _build/latex/kd-report.pdf ;;
esac
"""


def test_the_workflow_run_steps_in_order_with_a_local_server(tmp_path: Path) -> None:
    """Every run: step of the book job, in order, in a fresh checkout with no ../shared, as
    GitHub runs it (bash --noprofile --norc -eo pipefail, in the workspace), the data sets'
    sites replaced by a local server through KD_DATA_MIRROR (the workflow's own switch).
    Stubbed: ``uses:`` steps, the venv (this one, for make setup) and ``make test`` and ``make
    book`` (recorded). Real: the step scripts, .ci/run, and ``make data``, which must fetch
    MNIST and CIFAR-10 from the server and verify them."""
    work = checkout(tmp_path / "workspace")
    (work / ".venv").symlink_to(VENV)
    fetched = [n for n in data.BOOK_DATASETS  # not Fashion-MNIST where Debian's package is
               if not any(data._present(s, d) for d in [data._SYSTEM_DIR.get(n, tmp_path / "-")]
                          for s in data.SOURCES[n])]
    lay_out(tmp_path / "www", real_files(data.BOOK_DATASETS))
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "make").write_text(STUB_MAKE)
    (stubs / "make").chmod(0o755)
    log = tmp_path / "make.log"
    with Mirror(tmp_path / "www") as mirror:
        env = clean_env(**{k: str(v) for k, v in _workflow()["jobs"]["book"]["env"].items()})
        env.update(KD_DATA_MIRROR=mirror.url, PATH=f"{stubs}:{env['PATH']}", HOME=str(
            tmp_path / "home"), GITHUB_WORKSPACE=str(work), CI="true", PYTHONPATH=str(work),
            MAKE_LOG=str(log), REAL_MAKE=shutil.which("make") or "make")
        (tmp_path / "home").mkdir()
        outputs = []
        for i, step in enumerate(s for s in _steps() if "run" in s):
            script = tmp_path / f"step{i}.sh"
            script.write_text(step["run"])
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail",
                                   str(script)], cwd=work, env=env, capture_output=True,
                                  text=True, timeout=600)
            assert done.returncode == 0, (step, done.stdout, done.stderr)
            outputs.append(done.stdout + done.stderr)
    assert log.read_text().split("\n") == ["setup", "data", "test", "book", ""]
    got = sorted(r.path for r in mirror.requests)
    assert got == sorted(f"/{k}" for k in real_files(fetched))  # each file once, nothing else
    for name in fetched:
        ds = data.load(name, data_dir=work / "data" / "raw" / name)  # verified again
        assert len(ds.y_test) == 10000
    text = "\n".join(outputs)
    assert f"downloading {mirror.url}cifar10/cifar-10-binary.tar.gz" in text
    assert f"cifar10: 50,000 training and 10,000 test images, verified, in {work}" in text
    assert (work / "_build" / "html" / "kd-report.pdf").is_file()  # the PDF beside the HTML
    assert f"directory = {work}" in (tmp_path / "home" / ".gitconfig").read_text()  # step 1


# -- the Makefile's torch ------------------------------------------------------------------

STUB_PYTHON = """#!/usr/bin/env bash
# python, as make setup calls it: recorded; pip finds no local wheel when NO_LOCAL_WHEEL is set.
echo "$*" >> "$PY_LOG"
case " $* " in
  *" -m venv "*) mkdir -p "${@: -1}/bin" ;;
  *" --no-index "*) [ -z "$NO_LOCAL_WHEEL" ] ;;
esac
"""


@pytest.mark.parametrize("case", ["local wheel", "no local wheel", "another index"])
def test_make_setup_installs_torch_s_cpu_build(tmp_path: Path, case: str) -> None:
    """The torch pin is installed first, without deps: from a wheel pip has locally (the build
    machines: no index is asked) or else from PyTorch's CPU index, never PyPI's CUDA build;
    then requirements.txt (torch already satisfied) and kdlib."""
    venv = tmp_path / "venv"
    stub = tmp_path / "python"
    stub.write_text(STUB_PYTHON)
    stub.chmod(0o755)
    (venv / "bin").mkdir(parents=True)
    shutil.copy(stub, venv / "bin" / "python")
    log = tmp_path / "py.log"
    env = clean_env(PY_LOG=str(log))
    if case != "local wheel":
        env["NO_LOCAL_WHEEL"] = "1"
    extra = ["TORCH_INDEX=http://127.0.0.1:9/simple"] if case == "another index" else []
    done = subprocess.run(["make", "-B", f"VENV={venv}", f"PYTHON={stub}", *extra,
                           f"{venv}/.installed"], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    pip = "-m pip install --quiet --disable-pip-version-check"
    torch = next(line for line in (ROOT / "requirements.txt").read_text().splitlines()
                 if line.startswith("torch=="))
    assert torch == "torch==2.13.0"
    index = {"no local wheel": CPU_INDEX, "another index": "http://127.0.0.1:9/simple"}
    expected = [f"-m venv {venv}", f"{pip} --no-deps --no-index {torch}"]
    if case in index:
        expected.append(f"{pip} --no-deps --index-url {index[case]} {torch}")
    expected += [f"{pip} -r requirements.txt", f"{pip} --no-deps -e ."]
    assert log.read_text().splitlines() == expected
    assert (venv / ".installed").exists()


# -- a clean clone without ../shared ---------------------------------------------------------


@pytest.mark.integration
def test_a_clean_clone_without_shared_builds_the_quick_book_through_a_mirror(quick_book):
    """The README's `make book` (at `quick`) on a clean clone with no ../shared (the shared
    build of tests/conftest.py): every data set is downloaded once into data/raw/, verified,
    and the book (HTML and PDF) is built; a second `make data` downloads nothing."""
    b = quick_book
    assert b.again.returncode == 0, b.again.stderr
    assert b.requests_again == len(b.requests)  # present: never fetched again
    assert sorted((r.path, r.status) for r in b.requests) == sorted(
        (f"/{k}", 200) for k in b.files)
    for rel, path in b.files.items():
        assert f"downloading {b.url}{rel} " in b.log
        assert (b.clone / "data" / "raw" / rel).stat().st_size == path.stat().st_size
    for name in book.chapters():
        assert (b.clone / "_build" / "html" / "book" / f"{name}.html").is_file(), name
    # while the chapters run, their units and progress show in the log, a line at a time
    assert re.search(r"^executing notebooks/alpha.ipynb \(profile quick\): \d+ units, 0 in the "
                     r"cache, \d+ to compute", b.log, re.M)  # the chapter's plan, first
    assert re.search(r"^alpha: \d+ units, 0 in the cache, \d+ to compute", b.log, re.M)
    assert re.search(r"^teacher: 100%\|", b.log, re.M)
    assert (b.clone / "_build" / "latex" / "kd-report.pdf").stat().st_size > 10000
