"""The one quick book build the integration tests share (it takes minutes: built once)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from clone import VENV, checkout, clean_env
from httpmirror import Mirror, lay_out, real_files

from kdlib import data


@dataclass
class QuickBook:
    clone: Path  # the clean clone, built: book/<chapter>.ipynb, _build/html, _build/latex
    cache: Path  # the results cache the build filled
    log: str  # what `make book` printed
    url: str  # the local server standing in for the data sets' official sites
    files: dict[str, Path]  # what it served: path under data/raw/ -> the real file
    requests: list  # every request it answered during `make book`
    again: subprocess.CompletedProcess  # a second `make data` after the build
    requests_again: int  # requests answered by the end of the second `make data`


@pytest.fixture(scope="session")
def quick_book(tmp_path_factory: pytest.TempPathFactory) -> QuickBook:
    """The README's `make book` at `quick` on a clean clone with no ../shared, on a machine
    without Debian's Fashion-MNIST (KD_DATA_SEARCH=raw), the official sites replaced by a local
    server serving the real files; then `make data` once more. Set-up is skipped (`-o setup`):
    the clone uses this venv (PYTHONPATH makes it import the clone's kdlib)."""
    tmp = tmp_path_factory.mktemp("quick-book")
    clone = checkout(tmp / "kd-report")
    assert not (tmp / "shared").exists()
    (clone / ".venv").symlink_to(VENV)
    files = real_files(data.BOOK_DATASETS)
    lay_out(tmp / "www", files)
    with Mirror(tmp / "www") as mirror:
        env = clean_env(KD_DATA_MIRROR=mirror.url, KD_DATA_SEARCH="raw", PYTHONPATH=str(clone),
                        KD_CACHE_DIR=str(tmp / "cache"))
        out = tmp / "make-book.log"
        with open(out, "w") as f:
            done = subprocess.run(["make", "-o", "setup", "book", "PROFILE=quick"], cwd=clone,
                                  env=env, stdout=f, stderr=subprocess.STDOUT, timeout=3600)
        log = out.read_text()
        assert done.returncode == 0, log[-5000:]
        requests = list(mirror.requests)
        again = subprocess.run(["make", "-o", "setup", "data"], cwd=clone, env=env,
                               capture_output=True, text=True, timeout=600)
        requests_again = len(mirror.requests)
    return QuickBook(clone, tmp / "cache", log, mirror.url, files, requests, again,
                     requests_again)


@pytest.fixture
def shuffle_test_labels(monkeypatch: pytest.MonkeyPatch):
    """``shuffle_test_labels(module)``: the module's ``_tensors`` (the tensors its units derive
    from a data set) give seeded-shuffled test labels, for selection-hygiene tests (nothing
    trained may read them)."""

    def patch(module) -> None:
        import torch

        real = module._tensors

        def shuffled(*args):
            d = real(*args)
            d.y_test = d.y_test[torch.randperm(len(d.y_test),
                                               generator=torch.Generator().manual_seed(0))]
            return d

        monkeypatch.setattr(module, "_tensors", shuffled)

    return patch
