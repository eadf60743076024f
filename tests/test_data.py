"""Tests for kdlib.data: real MNIST/CIFAR-10 from ../shared, tiny fakes for the rest."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import pickle
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

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
    with pytest.raises(DataError) as err:
        data.load("cifar100")
    msg = str(err.value)
    assert str(tmp_path / "env" / "cifar100") in msg
    assert str(data.REPO_ROOT / "data" / "raw" / "cifar100") in msg
    assert "data_dir=" in msg and "download=True" in msg
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


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A local HTTP server for ``tmp_path/www``, set as ``KD_DATA_MIRROR``; yields www."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("KD_DATA_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}/")
    monkeypatch.setenv("no_proxy", "*")
    try:
        yield www
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_download_lands_verified_files(server: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    contents = tiny_idx()
    write_gz(server, contents)
    src = idx_source(contents)
    dest = tmp_path / "dest"
    data._download(src, dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted(IDX)
    assert data._load_source(src, dest).y_train.tolist() == [0, 1, 2, 3, 4, 5]
    # Through the public entry point: nothing found, so download=True fetches, then loads.
    monkeypatch.setitem(data.SOURCES, "mnist", (src,))
    with pytest.raises(DataError):
        data.load("mnist", data_dir=tmp_path / "fresh")
    ds = data.load("mnist", data_dir=tmp_path / "fresh", download=True)
    assert ds.source == str(tmp_path / "fresh") and ds.x_test.shape == (4, 5, 4, 1)
    (tmp_path / "fresh" / IDX[2]).unlink()  # an interrupted download is completed
    with pytest.raises(DataError, match="is missing"):
        data.load("mnist", data_dir=tmp_path / "fresh")
    assert data.load("mnist", data_dir=tmp_path / "fresh", download=True).digest == ds.digest


def test_download_wrong_file_leaves_nothing(server: Path, tmp_path: Path) -> None:
    contents = tiny_idx()
    write_gz(server, {IDX[0]: b"wrong content"})
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="failed its checksum") as err:
        data._download(idx_source(contents), dest)
    assert IDX[0] in str(err.value)
    assert list(dest.iterdir()) == []
    with pytest.raises(DataError, match="could not download") as err:  # 404 for the others
        data._download(idx_source({IDX[1]: contents[IDX[1]]}), dest)
    assert list(dest.iterdir()) == []


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
