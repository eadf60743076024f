"""Tests for kdlib.data: real MNIST/CIFAR-10 from ../shared, tiny fakes for the rest; downloads
from a local HTTP server (tests/httpmirror.py) serving tiny official-format files whose MD5s are
patched in as the published ones."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from httpmirror import Mirror

from kdlib import data
from kdlib.data import DataError, Source

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def idx_bytes(a: np.ndarray) -> bytes:
    """``a`` (uint8) as an IDX file: magic 0x0000 0x08 ndim, big-endian dims, data."""
    header = bytes([0, 0, 8, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
    return header + a.astype(np.uint8).tobytes()


def tiny_idx(n_train: int = 6, n_test: int = 4) -> dict[str, bytes]:
    """Uncompressed contents of the four IDX files of a tiny 5x4 data set, by .gz name."""
    rng = np.random.default_rng(0)
    arrays = (rng.integers(0, 256, (n_train, 5, 4)), np.arange(n_train) % 10,
              rng.integers(0, 256, (n_test, 5, 4)), np.arange(n_test)[::-1] % 10)
    return {name: idx_bytes(np.asarray(a, np.uint8)) for name, a in zip(IDX, arrays, strict=True)}


def idx_source(contents: dict[str, bytes]) -> Source:
    """A fake IDX Source accepting exactly ``contents`` (uncompressed MD5s)."""
    return Source("tiny", "idx", {k: (md5(v),) for k, v in contents.items()}, tuple("0123456789"))


def write_gz(directory: Path, contents: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        (directory / name).write_bytes(gzip.compress(content, mtime=0))


def add_member(tar: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    tar.addfile(info, io.BytesIO(content))


def write_tar(path: Path, members: dict[str, bytes]) -> str:
    """Write a .tar.gz with ``members``; return its MD5."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            add_member(tar, name, content)
    return md5(path.read_bytes())


def planes(n: int, offset: int) -> np.ndarray:
    """(n, 3072) uint8 rows of R,G,B planes where pixel (r, c) of plane p is distinctive."""
    return (np.arange(n * 3072).reshape(n, 3072) + offset).astype(np.uint8)


# -- the real files -------------------------------------------------------------------------


def test_mnist_real() -> None:
    ds = data.load("mnist")
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    counts = np.bincount(ds.y_test, minlength=10)
    assert counts.sum() == 10000 and counts[1] == 1135  # the official test set's 1s
    assert ds.classes == tuple("0123456789")
    assert ds.source.endswith("mnist") and len(ds.digest) == 64
    assert data.load("mnist").digest == ds.digest


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_real() -> None:
    ds = data.load("fashion_mnist")
    assert ds.source == str(FASHION_DIR)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.y_train[:5].tolist() == [9, 0, 0, 3, 0]
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


@pytest.fixture(scope="module")
def cifar10() -> data.Dataset:
    return data.load("cifar10")


def test_cifar10_real(cifar10: data.Dataset) -> None:
    ds = cifar10
    assert ds.source.endswith("cifar-10-binary.tar.gz")
    assert ds.x_train.shape == (50000, 32, 32, 3) and ds.x_test.shape == (10000, 32, 32, 3)
    assert ds.x_train.dtype == np.uint8 and ds.y_test.dtype == np.int64
    assert ds.y_train[0] == 6 and ds.classes[6] == "frog"
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    # The first training image's top-left pixel, R, G, B (its three planes' first bytes).
    assert ds.x_train[0, 0, 0].tolist() == [59, 62, 63]
    assert ds.x_train.flags.c_contiguous


# -- tiny IDX files -------------------------------------------------------------------------


def test_tiny_idx_loads_gz_and_raw_alike(tmp_path: Path) -> None:
    contents = tiny_idx()
    src = idx_source(contents)
    write_gz(tmp_path / "gz", contents)
    ds = data._load_source(src, tmp_path / "gz")
    assert ds.x_train.shape == (6, 5, 4, 1) and ds.x_test.shape == (4, 5, 4, 1)
    assert ds.y_train.tolist() == [0, 1, 2, 3, 4, 5] and ds.y_test.tolist() == [3, 2, 1, 0]
    assert ds.y_train.dtype == np.int64 and ds.x_train.dtype == np.uint8
    expected = np.frombuffer(contents[IDX[0]], np.uint8, offset=16).reshape(6, 5, 4)
    np.testing.assert_array_equal(ds.x_train[..., 0], expected)
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, content in contents.items():
        (raw / name.removesuffix(".gz")).write_bytes(content)
    ds_raw = data._load_source(src, raw)
    np.testing.assert_array_equal(ds_raw.x_test, ds.x_test)
    assert ds_raw.digest == ds.digest  # content-derived, not wrapper-derived


def test_corrupted_byte_names_file_and_md5s(tmp_path: Path) -> None:
    contents = tiny_idx()
    src = idx_source(contents)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    for name, content in contents.items():
        (tmp_path / name.removesuffix(".gz")).write_bytes(content)
    path.write_bytes(contents[IDX[3]][:-1] + b"\x07")
    with pytest.raises(DataError) as err:
        data._load_source(src, tmp_path)
    msg = str(err.value)
    assert str(path) in msg and md5(contents[IDX[3]]) in msg and "re-download" in msg
    assert "\n" not in msg


def test_truncated_gzip(tmp_path: Path) -> None:
    contents = tiny_idx()
    write_gz(tmp_path, contents)
    path = tmp_path / IDX[0]
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DataError, match="not a valid gzip") as err:
        data._load_source(idx_source(contents), tmp_path)
    assert str(path) in str(err.value)


def test_bad_idx_header_is_caught_even_if_md5_matches(tmp_path: Path) -> None:
    contents = tiny_idx()
    contents[IDX[1]] = b"\x00\x00\x0d\x01" + contents[IDX[1]][4:]  # float magic
    write_gz(tmp_path, contents)
    with pytest.raises(DataError, match="magic number"):
        data._load_source(idx_source(contents), tmp_path)
    contents = tiny_idx()
    contents[IDX[2]] = contents[IDX[2]][:-3]  # header says more bytes than there are
    write_gz(tmp_path, contents)
    with pytest.raises(DataError, match="IDX header says"):
        data._load_source(idx_source(contents), tmp_path)


def test_missing_file_and_missing_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contents = tiny_idx()
    write_gz(tmp_path, {k: v for k, v in contents.items() if k != IDX[3]})
    with pytest.raises(DataError, match="is missing") as err:
        data._load_source(idx_source(contents), tmp_path)
    assert str(tmp_path / IDX[3]) in str(err.value)

    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("KD_DOWNLOAD", "0")
    with pytest.raises(DataError) as err:
        data.load("cifar100")
    msg = str(err.value)
    assert str(tmp_path / "env" / "cifar100") in msg
    assert str(data.REPO_ROOT / "data" / "raw" / "cifar100") in msg
    assert "data_dir=" in msg and "download=True" in msg
    assert "downloading is off (KD_DOWNLOAD=0)" in msg and "\n" not in msg
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as err:
        data.load("fashion_mnist", data_dir=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)


def test_search_order_and_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contents = tiny_idx()
    monkeypatch.setitem(data.SOURCES, "mnist", (idx_source(contents),))
    write_gz(tmp_path / "env" / "mnist", contents)
    write_gz(tmp_path / "shared" / "mnist", contents)
    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("KD_SHARED_DATA", str(tmp_path / "shared"))
    assert data.load("mnist").source == str(tmp_path / "env" / "mnist")
    monkeypatch.delenv("KD_DATA_DIR")
    assert data.load("mnist").source == str(tmp_path / "shared" / "mnist")
    assert data.load("mnist", data_dir=tmp_path / "env" / "mnist").source.endswith("env/mnist")


# -- tiny CIFAR tarballs --------------------------------------------------------------------


def test_tiny_cifar100_fine_and_coarse(tmp_path: Path) -> None:
    def batch(n: int, offset: int) -> bytes:
        return pickle.dumps({b"data": planes(n, offset), b"fine_labels": [3 * i for i in range(n)],
                             b"coarse_labels": [i % 2 for i in range(n)]})

    meta = pickle.dumps({b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                         b"coarse_label_names": [f"c{i}".encode() for i in range(20)]})
    path = tmp_path / "cifar-100-python.tar.gz"
    digest = write_tar(path, {"cifar-100-python/file.txt~": b"not a pickle",
                              "cifar-100-python/train": batch(3, 0),
                              "cifar-100-python/test": batch(2, 7),
                              "cifar-100-python/meta": meta})
    src = Source("cifar100", "cifar-py", {path.name: (digest,)})
    fine = data._load_source(src, tmp_path, label="fine")
    coarse = data._load_source(src, tmp_path, label="coarse")
    assert fine.x_train.shape == (3, 32, 32, 3) and fine.x_test.shape == (2, 32, 32, 3)
    assert fine.y_train.tolist() == [0, 3, 6] and fine.y_test.tolist() == [0, 3]
    assert coarse.y_train.tolist() == [0, 1, 0] and coarse.y_test.tolist() == [0, 1]
    assert len(fine.classes) == 100 and fine.classes[3] == "f3"
    assert len(coarse.classes) == 20 and coarse.classes[1] == "c1"
    np.testing.assert_array_equal(fine.x_test, coarse.x_test)
    # NHWC from planes: pixel (r, c), channel p is byte p*1024 + r*32 + c of the row.
    row = planes(3, 0)[1]
    assert fine.x_train[1, 2, 5].tolist() == [row[69], row[1024 + 69], row[2048 + 69]]
    with pytest.raises(ValueError, match="label must be one of fine, coarse; got 'mid'"):
        data.load("cifar100", label="mid")


def test_tiny_cifar10_python_and_binary_preferred(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"n{i}".encode() for i in range(10)]
    py = {f"cifar-10-batches-py/data_batch_{i}": pickle.dumps(
        {b"data": planes(2, i), b"labels": [i, i + 1]}) for i in (2, 1, 3, 5, 4)}
    py["cifar-10-batches-py/test_batch"] = pickle.dumps({b"data": planes(1, 9), b"labels": [9]})
    py["cifar-10-batches-py/batches.meta"] = pickle.dumps({b"label_names": names})
    py["cifar-10-batches-py/readme.html"] = b"<html></html>"
    py_src = Source("cifar10", "cifar-py", {
        "cifar-10-python.tar.gz": (write_tar(tmp_path / "cifar-10-python.tar.gz", py),)})
    ds = data._load_source(py_src, tmp_path)
    assert ds.x_train.shape == (10, 32, 32, 3) and ds.x_test.shape == (1, 32, 32, 3)
    assert ds.y_train.tolist() == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]  # batches in order 1..5
    assert ds.y_test.tolist() == [9] and ds.classes[9] == "n9"

    def record(label: int) -> bytes:
        return bytes([label]) + planes(1, label).tobytes()

    binary = {"b/data_batch_1.bin": record(4) + record(2), "b/test_batch.bin": record(8)}
    write_tar(tmp_path / "bin.tar.gz", binary)
    bin_src = Source("cifar10", "cifar-bin", {k: (md5(v),) for k, v in binary.items()},
                     data._CIFAR10_CLASSES, archive="bin.tar.gz")
    monkeypatch.setitem(data.SOURCES, "cifar10", (bin_src, py_src))
    ds = data.load("cifar10", data_dir=tmp_path)
    assert ds.source == str(tmp_path / "bin.tar.gz")
    assert ds.y_train.tolist() == [4, 2] and ds.y_test.tolist() == [8]
    np.testing.assert_array_equal(ds.x_test[0], planes(1, 8).reshape(3, 32, 32).transpose(1, 2, 0))
    monkeypatch.setitem(data.SOURCES, "cifar10", (
        Source("cifar10", "cifar-bin", {"b/test_batch.bin": ("0" * 32,)}, archive="bin.tar.gz"),))
    with pytest.raises(DataError, match="b/test_batch.bin failed its checksum"):
        data.load("cifar10", data_dir=tmp_path)


# -- download -------------------------------------------------------------------------------
# Each data set's official files in miniature (the official formats, a few images), served by a
# local server as its official site; their MD5s are patched into SOURCES as the published ones.


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirror]:
    """A local server for ``tmp_path/www``, and a repository root in ``tmp_path/repo`` with no
    ``../shared`` and no system directory searched: downloads land in ``repo/data/raw``."""
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.setenv("KD_SHARED_DATA", str(tmp_path / "no-shared"))
    monkeypatch.setenv("KD_DATA_SEARCH", "raw")
    for name in ("KD_DATA_DIR", "KD_DATA_MIRROR", "KD_DOWNLOAD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with Mirror(tmp_path / "www") as mirror:
        yield mirror


def raw(name: str) -> Path:
    return data.REPO_ROOT / "data" / "raw" / name


def official_mnist(site: Mirror, monkeypatch: pytest.MonkeyPatch, folder: str = "official",
                   ) -> dict[str, bytes]:
    """Tiny MNIST (.gz files) at ``<site>/<folder>/mnist/``, its MD5s patched in as published
    (the .gz file's and its content's, as for the real files); returns the contents."""
    contents = tiny_idx()
    write_gz(site.root / folder / "mnist", contents)
    accepted = {n: (md5((site.root / folder / "mnist" / n).read_bytes()), md5(c))
                for n, c in contents.items()}
    monkeypatch.setitem(data.SOURCES, "mnist", (Source(
        "mnist", "idx", accepted, tuple("0123456789"), url=f"{site.url}{folder}/mnist/"),))
    return contents


def cifar10_binary(path: Path) -> dict[str, bytes]:
    """A tiny ``cifar-10-binary.tar.gz`` at ``path``: five train batches and a test batch of
    3073-byte records, and the meta file; returns the batch members."""
    def batch(labels: list[int]) -> bytes:
        return b"".join(bytes([y]) + planes(1, 11 * y + i).tobytes() for i, y in enumerate(labels))

    members = {f"cifar-10-batches-bin/data_batch_{i}.bin": batch([i, (i + 3) % 10])
               for i in range(1, 6)}
    members["cifar-10-batches-bin/test_batch.bin"] = batch([9, 8, 7])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_tar(path, {**members, "cifar-10-batches-bin/batches.meta.txt": b"airplane\n"})
    return members


def official_cifar10(site: Mirror, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tiny binary CIFAR-10 at ``<site>/official/cifar10/``, the archive's MD5 and its members'
    patched in as published; returns the served archive."""
    path = site.root / "official" / "cifar10" / "cifar-10-binary.tar.gz"
    members = cifar10_binary(path)
    monkeypatch.setitem(data.SOURCES, "cifar10", (Source(
        "cifar10", "cifar-bin", {k: (md5(v),) for k, v in members.items()},
        data._CIFAR10_CLASSES, archive=path.name, url=f"{site.url}official/cifar10/",
        archive_md5=(md5(path.read_bytes()),)),))
    return path


def official_cifar100(site: Mirror, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tiny ``cifar-100-python.tar.gz`` (pickled train, test, meta) at
    ``<site>/official/cifar100/``, its MD5 patched in as published; returns it."""
    def batch(n: int, offset: int) -> bytes:
        return pickle.dumps({b"data": planes(n, offset), b"fine_labels": list(range(n)),
                             b"coarse_labels": [i % 20 for i in range(n)]})

    meta = pickle.dumps({b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                         b"coarse_label_names": [f"c{i}".encode() for i in range(20)]})
    path = site.root / "official" / "cifar100" / "cifar-100-python.tar.gz"
    path.parent.mkdir(parents=True)
    digest = write_tar(path, {"cifar-100-python/train": batch(40, 0),
                              "cifar-100-python/test": batch(30, 5),
                              "cifar-100-python/meta": meta})
    monkeypatch.setitem(data.SOURCES, "cifar100", (Source(
        "cifar100", "cifar-py", {path.name: (digest,)}, url=f"{site.url}official/cifar100/"),))
    return path


def test_first_use_fetches_verifies_and_never_fetches_again(
        site: Mirror, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    contents = official_mnist(site, monkeypatch)
    ds = data.load("mnist")  # found nowhere: downloaded (the default), verified, loaded
    assert ds.source == str(raw("mnist"))
    assert ds.y_train.tolist() == [0, 1, 2, 3, 4, 5] and ds.x_test.shape == (4, 5, 4, 1)
    assert sorted(p.name for p in raw("mnist").iterdir()) == sorted([*IDX, ".download.lock"])
    for name, content in contents.items():
        assert gzip.decompress((raw("mnist") / name).read_bytes()) == content
        assert [(r.range, r.status) for r in site.got(f"/official/mnist/{name}")] == [(None, 200)]
    err = capsys.readouterr().err  # not a terminal: a line where from and to, one at the end
    assert f"downloading {site.url}official/mnist/{IDX[0]} (0.0 MiB) to {raw('mnist') / IDX[0]}" \
        in err
    assert f"{IDX[0]}: 0.0 MiB received" in err
    before = len(site.requests)
    assert data.load("mnist").digest == ds.digest  # present: read, never fetched again
    assert data.main(["mnist"]) == 0
    assert capsys.readouterr().out == (f"mnist: 6 training and 4 test images, verified, in "
                                       f"{raw('mnist')}\n")
    assert len(site.requests) == before
    (raw("mnist") / IDX[2]).unlink()  # a data set with a file missing is completed
    assert data.load("mnist").digest == ds.digest
    assert [r.path for r in site.requests[before:]] == [f"/official/mnist/{IDX[2]}"]


def test_a_cut_connection_resumes_where_it_stopped(
        site: Mirror, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    archive = official_cifar10(site, monkeypatch)
    size, url = archive.stat().st_size, "/official/cifar10/cifar-10-binary.tar.gz"
    site.cut[url] = size // 2  # the first transfer stops halfway, its connection closed
    ds = data.load("cifar10")
    assert ds.source == str(raw("cifar10") / archive.name)
    assert ds.y_test.tolist() == [9, 8, 7] and len(ds.y_train) == 10
    assert [(r.range, r.status, r.sent) for r in site.got(url)] == [
        (None, 200, size // 2), (f"bytes={size // 2}-", 206, size - size // 2)]  # only the rest
    assert (raw("cifar10") / archive.name).read_bytes() == archive.read_bytes()
    assert not (raw("cifar10") / f"{archive.name}.part").exists()
    err = capsys.readouterr().err
    assert f"{archive.name}: connection lost (" in err and f"resuming at {size // 2 / 2**20:.1f}" \
        in err


def test_a_run_killed_mid_download_resumes_in_the_next(
        site: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = official_cifar100(site, monkeypatch)
    blob, url = archive.read_bytes(), "/official/cifar100/cifar-100-python.tar.gz"
    part = raw("cifar100") / f"{archive.name}.part"  # what a killed run left
    part.parent.mkdir(parents=True)
    part.write_bytes(blob[:1000])
    ds = data.load("cifar100", label="coarse")
    assert ds.source == str(raw("cifar100") / archive.name) and len(ds.classes) == 20
    assert ds.x_train.shape == (40, 32, 32, 3) and ds.y_test.tolist()[:3] == [0, 1, 2]
    assert [(r.range, r.sent) for r in site.got(url)] == [("bytes=1000-", len(blob) - 1000)]
    part.write_bytes(blob)  # a complete .part left (killed before its move): nothing re-sent
    (raw("cifar100") / archive.name).unlink()
    assert data.load("cifar100").digest == ds.digest
    assert [r.status for r in site.got(url)] == [206, 416]


def test_a_corrupted_file_is_refused_with_its_fix(
        site: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    contents = official_mnist(site, monkeypatch)
    served = site.root / "official" / "mnist" / IDX[3]
    good = served.read_bytes()
    served.write_bytes(gzip.compress(contents[IDX[3]][:-1] + b"\x07", mtime=0))  # one byte off
    with pytest.raises(DataError) as err:
        data.load("mnist")
    url = f"{site.url}official/mnist/{IDX[3]}"
    assert str(err.value).startswith(f"{url} failed its checksum: expected md5 ")
    assert str(err.value).endswith(f"; it was not kept; check {url} (or KD_DATA_MIRROR) and run "
                                   "again") and "\n" not in str(err.value)
    assert not (raw("mnist") / IDX[3]).exists() and not (raw("mnist") / f"{IDX[3]}.part").exists()
    served.write_bytes(good)  # the site is right again: the next run fetches only what is missing
    before = len(site.requests)
    ds = data.load("mnist")
    assert [r.path for r in site.requests[before:]] == [f"/official/mnist/{IDX[3]}"]

    # A file damaged on disk after its download: refused, never fetched over, the fix named.
    path = raw("mnist") / IDX[0]
    pixels = bytearray(gzip.decompress(path.read_bytes()))
    pixels[-1] ^= 1
    path.write_bytes(gzip.compress(bytes(pixels)))
    before = len(site.requests)
    with pytest.raises(DataError) as err:
        data.load("mnist")
    assert str(err.value).startswith(f"{path} failed its checksum")
    assert str(err.value).endswith(data._FIX) and "\n" not in str(err.value)
    assert len(site.requests) == before
    path.unlink()  # the fix: delete it and run again
    assert data.load("mnist").digest == ds.digest
    assert len(site.requests) == before + 1


def test_a_mirror_replaces_each_official_base(site: Mirror,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    contents = official_mnist(site, monkeypatch)
    (site.root / "official").rename(site.root / "mirror")  # only the mirror has the files
    monkeypatch.setenv("KD_DATA_MIRROR", f"{site.url}mirror")
    assert data.load("mnist").x_train.shape == (6, 5, 4, 1)
    assert sorted(r.path for r in site.requests) == sorted(f"/mirror/mnist/{n}" for n in contents)
    # A mirror may re-pack the files (as ../shared and Debian did): the content decides.
    www = site.root / "mirror"
    for name, content in contents.items():  # other gzip headers: other .gz MD5s, same content
        (www / "mnist" / name).write_bytes(gzip.compress(content, compresslevel=1, mtime=7))
    for f in raw("mnist").iterdir():
        f.unlink()
    assert data.load("mnist").y_test.tolist() == [3, 2, 1, 0]
    path = site.root / "official" / "cifar10" / "cifar-10-binary.tar.gz"
    official_cifar10(site, monkeypatch)
    members = cifar10_binary(www / "cifar10" / path.name)
    write_tar(www / "cifar10" / path.name, {**members, "cifar-10-batches-bin/readme": b"mirror"})
    assert md5((www / "cifar10" / path.name).read_bytes()) != md5(path.read_bytes())  # re-packed
    assert data.load("cifar10").y_test.tolist() == [9, 8, 7]
    assert site.got(f"/official/cifar10/{path.name}") == []
    (raw("cifar10") / path.name).unlink()
    members["cifar-10-batches-bin/test_batch.bin"] = b"\x01" * 3073  # one member changed
    write_tar(www / "cifar10" / path.name, members)
    with pytest.raises(DataError, match=r"cifar-10-binary.tar.gz failed its checksum: expected "
                       r"md5 \w+, got \w+, and its members do not all pass \(cifar-10-batches-bin"
                       r"/test_batch.bin failed its checksum: expected md5 \w+, got \w+\); it was "
                       r"not kept"):
        data.load("cifar10")
    assert list(raw("cifar10").glob("*.tar.gz*")) == []


def test_downloading_off_a_named_directory_and_no_network(
        site: Mirror, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    official_mnist(site, monkeypatch)
    monkeypatch.setenv("KD_DOWNLOAD", "0")
    with pytest.raises(DataError, match="no mnist files found in .*downloading is off"):
        data.load("mnist")
    monkeypatch.delenv("KD_DOWNLOAD")
    with pytest.raises(DataError, match=f"no mnist files found in {tmp_path / 'mine'}; pass"):
        data.load("mnist", data_dir=tmp_path / "mine")  # a directory one names is only read
    assert site.requests == []
    assert data.load("mnist", data_dir=tmp_path / "mine", download=True).source == str(
        tmp_path / "mine")  # unless asked
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("KD_DATA_MIRROR", f"http://127.0.0.1:{port}/")
    with pytest.raises(DataError) as err:
        data.load("mnist", data_dir=tmp_path / "other", download=True)
    assert str(err.value).startswith(f"could not download http://127.0.0.1:{port}/mnist/{IDX[0]} (")
    assert str(err.value).endswith(f"check the network or KD_DATA_MIRROR, or place {IDX[0]} in "
                                   f"{tmp_path / 'other'}; run again to resume")
    monkeypatch.setenv("KD_DATA_SEARCH", "nowhere")
    with pytest.raises(DataError, match="KD_DATA_SEARCH must be one of all, raw; got 'nowhere'"):
        data.load("mnist")


def test_the_official_sources_and_their_published_md5s() -> None:
    """What a clean clone fetches (no test here reaches these sites)."""
    mnist, fashion = data.SOURCES["mnist"][0], data.SOURCES["fashion_mnist"][0]
    cifar10, cifar100 = data.SOURCES["cifar10"][0], data.SOURCES["cifar100"][0]
    assert mnist.url == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert mnist.files[IDX[0]][1] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"  # the .gz file's
    assert fashion.url == "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    assert fashion.files[IDX[0]][0] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert (cifar10.kind, cifar10.url) == ("cifar-bin", "https://www.cs.toronto.edu/~kriz/")
    assert cifar10.archive_md5 == ("c32a1d4ab5d03f1284b67883e8d87530",)
    assert cifar100.files == {"cifar-100-python.tar.gz": ("eb9058c3a382ffc7106e4002c42a8d85",)}
    assert data.BOOK_DATASETS == ("mnist", "fashion_mnist", "cifar10")


# -- subsets, noise, conversion -------------------------------------------------------------


def test_first_n_and_per_class() -> None:
    y = np.array([0, 1, 0, 2, 1, 0, 2, 2, 1])
    x = np.arange(len(y)) * 10
    xs, ys = data.first_n(x, y, 4)
    assert xs.tolist() == [0, 10, 20, 30] and ys.tolist() == [0, 1, 0, 2]
    xs, ys = data.per_class(x, y, 2)
    assert ys.tolist() == [0, 1, 0, 2, 1, 2] and xs.tolist() == [0, 10, 20, 30, 40, 60]
    with pytest.raises(ValueError, match=r"n_per_class must be in \[1, 3\]; got 4"):
        data.per_class(x, y, 4)
    with pytest.raises(ValueError, match=r"n_train must be in \[1, 9\]; got 0"):
        data.first_n(x, y, 0)


def test_label_noise_shift_exact_and_deterministic() -> None:
    y = np.arange(1000) % 10
    noisy, idx = data.label_noise(y, 0.25, "shift", seed=1)
    assert len(idx) == 250 and idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
    assert np.flatnonzero(noisy != y).tolist() == idx.tolist()
    assert noisy[idx].tolist() == ((y[idx] - 1) % 10).tolist()  # a 4 becomes a 3, a 0 a 9
    assert y.tolist() == (np.arange(1000) % 10).tolist()  # input untouched
    again, idx2 = data.label_noise(y, 0.25, "shift", seed=1)
    np.testing.assert_array_equal(again, noisy)
    np.testing.assert_array_equal(idx2, idx)
    _, other = data.label_noise(y, 0.25, "shift", seed=2)
    assert not np.array_equal(other, idx)
    assert len(data.label_noise(y, 0.0, "shift", seed=1)[1]) == 0
    assert len(data.label_noise(y[:7], 0.5, "shift", seed=1)[1]) == round(3.5)


def test_label_noise_symmetric() -> None:
    y = np.arange(2000) % 10
    noisy, idx = data.label_noise(y, 1.0, "symmetric", seed=3)
    assert len(idx) == 2000 and np.all(noisy != y)
    assert np.bincount(noisy, minlength=10).min() > 150  # roughly uniform over the others
    assert not np.array_equal(noisy, data.label_noise(y, 1.0, "symmetric", seed=4)[0])
    np.testing.assert_array_equal(noisy, data.label_noise(y, 1.0, "symmetric", seed=3)[0])


def test_label_noise_errors() -> None:
    y = np.zeros(10, np.int64)
    with pytest.raises(ValueError, match=r"noise_rate must be in \[0, 1\]; got 1.5"):
        data.label_noise(y, 1.5, "shift", seed=0)
    with pytest.raises(ValueError, match="noise_kind must be one of shift, symmetric; got 'x'"):
        data.label_noise(y, 0.1, "x", seed=0)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        data.label_noise(y + 5, 0.1, "shift", seed=0, classes=3)


def _small() -> data.Dataset:
    rng = np.random.default_rng(0)
    return data.Dataset("small", rng.integers(0, 256, (10, 4, 4, 3), dtype=np.uint8),
                        np.arange(10, dtype=np.int64) % 3,
                        rng.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8),
                        np.arange(6, dtype=np.int64) % 3, ("a", "b", "c"), "d", "test")


def test_cut_takes_the_first_training_and_test_images_and_the_last_for_validation() -> None:
    import torch

    ds = _small()
    s = data.cut(ds, 4, 5, n_val=3)
    assert torch.equal(s.x, torch.from_numpy(data.to_float(ds.x_train[:4])))
    assert s.y.tolist() == ds.y_train[:4].tolist()
    assert torch.equal(s.x_val, torch.from_numpy(data.to_float(ds.x_train[-3:])))
    assert s.y_val.tolist() == ds.y_train[-3:].tolist()
    assert torch.equal(s.x_test, torch.from_numpy(data.to_float(ds.x_test[:5])))
    assert (s.x.dtype, s.y.dtype, s.x.shape, s.classes) == (torch.float32, torch.int64,
                                                            (4, 3, 4, 4), 3)
    whole = data.cut(ds)  # every training and test image, no validation images
    assert (len(whole.y), whole.x_val, whole.y_val, len(whole.y_test)) == (10, None, None, 6)
    assert len(data.cut(ds, n_val=3).y) == 7  # the rest before the validation images
    with pytest.raises(ValueError, match=r"n_train must be in \[1, 7\] \(with n_val = 3\)"):
        data.cut(ds, 8, n_val=3)
    with pytest.raises(ValueError, match=r"n_test must be in \[1, 6\]; got 7"):
        data.cut(ds, 4, 7)
    with pytest.raises(ValueError, match=r"n_val must be in \[0, 9\]"):
        data.cut(ds, 4, n_val=10)
    pooled = data.Split.of((ds.x_test, ds.y_test), None, (ds.x_train[:2], ds.y_train[:2]), 3)
    assert (len(pooled.y), pooled.x_val, len(pooled.y_test)) == (6, None, 2)
    with pytest.raises(ValueError, match="same length"):
        data.Split.of((ds.x_test, ds.y_train), None, (ds.x_test, ds.y_test), 3)


def test_to_float_and_unknown_dataset() -> None:
    x = np.arange(2 * 3 * 4 * 2, dtype=np.uint8).reshape(2, 3, 4, 2) * 5
    f = data.to_float(x)
    assert f.shape == (2, 2, 3, 4) and f.dtype == np.float32 and f.flags.c_contiguous
    assert f[1, 1, 2, 3] == pytest.approx(x[1, 2, 3, 1] / 255)
    assert f.max() <= 1.0
    with pytest.raises(ValueError) as err:
        data.load("cifar1000")
    assert str(err.value) == ("dataset must be one of mnist, fashion_mnist, cifar10, cifar100; "
                              "got 'cifar1000'")


def test_stratified_split_keeps_class_shares_is_disjoint_and_seeded() -> None:
    y = np.repeat(np.arange(4), [100, 200, 300, 400])
    rest, val, test = data.stratified_split(y, (100, 200), seed=3)
    assert (len(rest), len(val), len(test)) == (700, 100, 200)
    assert len(np.unique(np.concatenate([rest, val, test]))) == 1000
    assert np.bincount(y[val]).tolist() == [10, 20, 30, 40]
    assert np.bincount(y[test]).tolist() == [20, 40, 60, 80]
    again = data.stratified_split(y, (100, 200), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((rest, val, test), again, strict=True))
    other = data.stratified_split(y, (100, 200), seed=4)
    assert not np.array_equal(val, other[1])


def test_the_poster_test_supports_are_a_stratified_split_of_all_mnist() -> None:
    ds = data.load("mnist")
    y = np.concatenate([ds.y_train, ds.y_test])
    _, _, test = data.stratified_split(y, (10000, 10000), seed=0)
    poster = [986, 1125, 999, 1020, 975, 902, 982, 1042, 975, 994]
    assert np.bincount(y[test]).tolist() == poster
    assert np.bincount(ds.y_test).tolist() != poster  # not the official test set
