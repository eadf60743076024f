"""kdlib.results: the cache hits, misses, never half-writes, and detects damage."""

import os

import pandas as pd
import pytest
import torch

from kdlib import results
from kdlib.results import Cache, CacheError, Checkpoint


def _entry():
    return {"table": pd.DataFrame({"seed": [0, 1], "alpha": [0.0, 1.0], "acc": [0.1 + 0.2, 1 / 3],
                                   "name": ["a", "b"]}),
            "weights": {"w": torch.arange(6.0).reshape(2, 3)}}


def test_miss_computes_hit_loads_exact_values(tmp_path):
    cache = Cache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return _entry()

    first = cache.get_or_compute("exp", "unit", {"a": 1}, "digest", compute)
    second = Cache(tmp_path).get_or_compute("exp", "unit", {"a": 1}, "digest", compute)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first["table"], second["table"], check_exact=True)
    assert second["table"]["acc"].tolist() == [0.1 + 0.2, 1 / 3]  # floats round-trip exactly
    assert second["table"]["alpha"].dtype == "float64"  # 0.0 is not read back as an int
    assert torch.equal(second["weights"]["w"], torch.arange(6.0).reshape(2, 3))


def test_key_changes_with_params_data_and_code(tmp_path, monkeypatch):
    cache = Cache(tmp_path)
    k = cache.key("exp", "unit", {"a": 1}, "d")
    assert k == cache.key("exp", "unit", {"a": 1}, "d")
    assert k != cache.key("exp", "unit", {"a": 2}, "d")
    assert k != cache.key("exp", "unit", {"a": 1}, "d2")
    assert k != cache.key("exp", "other", {"a": 1}, "d")
    monkeypatch.setattr(results, "code_hash", lambda module="kdlib": "changed source")
    assert k != cache.key("exp", "unit", {"a": 1}, "d")


def test_failed_compute_leaves_nothing(tmp_path):
    cache = Cache(tmp_path)

    def boom():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute("exp", "unit", {}, "d", boom)
    leftovers = [p for p in (tmp_path / "exp").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_damaged_entry_is_reported_with_path_and_fix(tmp_path):
    cache = Cache(tmp_path)
    cache.get_or_compute("exp", "unit", {}, "d", _entry)
    folder = tmp_path / "exp" / cache.key("exp", "unit", {}, "d")
    with open(folder / "table.csv", "a") as f:
        f.write("2,0.5,0.5,c\n")
    with pytest.raises(CacheError, match=f"damaged cache entry {folder}/table.csv.*delete"):
        cache.get_or_compute("exp", "unit", {}, "d", _entry)


def test_unwritable_cache_gives_clear_error(tmp_path):
    root = tmp_path / "ro"
    root.mkdir()
    os.chmod(root, 0o500)
    if os.access(root, os.W_OK):  # root ignores permissions: use a file where a dir should be
        os.chmod(root, 0o700)
        root = tmp_path / "file"
        root.write_text("")
    with pytest.raises(CacheError, match="KD_CACHE_DIR"):
        Cache(root).get_or_compute("exp", "unit", {}, "d", _entry)


def test_code_files_follow_the_experiments_imports():
    names = {p.name for p in results.code_files("kdlib.experiments.alpha")}
    assert {"alpha.py", "data.py", "models.py", "losses.py", "train.py", "metrics.py",
            "results.py", "config.py", "distiller.py"} <= names  # imports inside functions too
    assert not names & {"plots.py", "book.py", "provenance.py", "claims.py"}
    assert len(results.code_files()) > len(names)  # the whole package
    # every kdlib import runs the package's __init__, which sets the floating-point mode
    assert {"__init__.py", "numerics.py"} <= {p.name for p in results.code_files("kdlib.lemmas")}


def test_checkpoint_round_trips_and_a_damaged_one_is_reported(tmp_path):
    cp = Checkpoint(tmp_path / "k.partial.pt")
    assert cp.load() is None
    cp.save({"epoch": 3, "w": torch.arange(4.0)})
    state = cp.load()
    assert state["epoch"] == 3 and torch.equal(state["w"], torch.arange(4.0))
    blob = bytearray(cp.path.read_bytes())
    blob[-10] ^= 0xFF  # one flipped byte in the tensor data
    cp.path.write_bytes(bytes(blob))
    with pytest.raises(CacheError, match="damaged checkpoint .*k.partial.pt.*delete it"):
        cp.load()
    cp.clear()
    assert not cp.path.exists() and cp.load() is None
