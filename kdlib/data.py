"""Data sets, read offline from checksum-verified files; subsets and label noise.

``load(name)`` looks for the official files in a few known places (see ``load``), verifies every
file's MD5 before use, and returns uint8 NHWC images with int64 labels. When none holds them, it
fetches them from the data set's official source (or ``$KD_DATA_MIRROR``) into ``data/raw/``,
with a progress bar, resuming an interrupted download, and verifies them before they are kept.
The per-data-set facts (file names, accepted MD5s, download URL, class names) are data, in
``SOURCES``. ``python -m kdlib.data [NAME ...]`` finds or fetches the book's data sets.

The subset and label-noise helpers are pure numpy and deterministic for a given seed.
:func:`cut` gives a unit of work its images as tensors (:class:`Split`), cut from the data set
inside the unit (so the cut is in the unit's key).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import pickle
import sys
import tarfile
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kdlib.errors import UserError

if TYPE_CHECKING:
    import torch

__all__ = [
    "BOOK_DATASETS",
    "DATASETS",
    "SOURCES",
    "DataError",
    "Dataset",
    "Source",
    "Split",
    "cut",
    "first_n",
    "label_noise",
    "load",
    "per_class",
    "stratified_split",
    "to_float",
]

DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
BOOK_DATASETS = ("mnist", "fashion_mnist", "cifar10")  # what the chapters read by default
NOISE_KINDS = ("shift", "symmetric")
LABELS = ("fine", "coarse")

REPO_ROOT = Path(__file__).resolve().parents[1]
_SHARED_SUBDIR = {"mnist": "mnist", "cifar10": "cifar10"}
_SYSTEM_DIR = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
SEARCH_MODES = ("all", "raw")  # $KD_DATA_SEARCH: every known place, or only data/raw/
_OFF = ("0", "no", "false", "off")  # $KD_DOWNLOAD values that turn downloading off
_TIMEOUT = 60.0  # seconds without data before a download request gives up
_ATTEMPTS = 5  # requests per file and run; each after a cut connection resumes where it stopped
_CHUNK = 1 << 20
_FIX = "delete it and run again to re-download it, or restore the original file"

_IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


class DataError(UserError):
    """A data file is missing or corrupt; the message names the file and the fix."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded data set: uint8 NHWC images, int64 labels, and where they came from."""

    name: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    classes: tuple[str, ...]
    digest: str
    source: str


@dataclass(frozen=True)
class Source:
    """Where one data set's files are and how to check them.

    ``kind`` is ``"idx"`` (gzipped IDX files in a directory), ``"cifar-bin"`` (the binary
    CIFAR-10 tarball ``archive``; ``files`` are its members) or ``"cifar-py"`` (a pickled CIFAR
    tarball; ``files`` is the tarball). ``files`` maps a name to its accepted MD5s; a gzipped
    IDX file passes if its own MD5 or that of its uncompressed content is accepted.
    ``classes`` is empty when the class names are read from the archive's meta file.
    ``url`` is the official base URL of the files (empty: not downloadable); ``archive_md5`` the
    published MD5s of the ``archive`` file itself. A downloaded file is kept on the same terms as
    one found on disk: its own published MD5, or that of its content (a gzipped IDX file's
    uncompressed bytes; every member of a binary CIFAR-10 archive).
    """

    name: str
    kind: str
    files: Mapping[str, tuple[str, ...]]
    classes: tuple[str, ...] = ()
    archive: str = ""
    url: str = ""
    archive_md5: tuple[str, ...] = ()


_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"
_CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
_FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_BIN = "cifar-10-batches-bin/"

SOURCES: dict[str, tuple[Source, ...]] = {
    # MNIST: MD5s of the uncompressed IDX content, then the official .gz files' MD5s.
    "mnist": (Source("mnist", "idx", dict(zip(_IDX_FILES, [
        ("6bbc9ace898e44ae57da46a324031adb", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("a25bea736e30d166cdddb491f175f624", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("2646ac647ad5339dbf082846283269ea", "9fb629c4189551a2d022fa330f9573f3"),
        ("27ae3e4e09519cfbb04c329615203637", "ec29112dd5afa0611ce80d1b7f02629c"),
    ], strict=True)), tuple("0123456789"), url="https://ossci-datasets.s3.amazonaws.com/mnist/"),),
    # Fashion-MNIST: the official .gz MD5s, then the MD5s of the uncompressed content. Debian's
    # dataset-fashion-mnist re-wrote the gzip headers (no file name, new mtime), so only the
    # uncompressed MD5s match there; they are the widely published ones for Zalando's files.
    "fashion_mnist": (Source("fashion_mnist", "idx", dict(zip(_IDX_FILES, [
        ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
        ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
        ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
    ], strict=True)), _FASHION_CLASSES,
        url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),),
    # CIFAR-10: the binary version (preferred; members verified), else the python version.
    "cifar10": (
        Source("cifar10", "cifar-bin", {
            _BIN + "data_batch_1.bin": ("5dd7e06a14cb22eb9f671a540d1b7c25",),
            _BIN + "data_batch_2.bin": ("5ea93a67294ea407fff1d09f752e9692",),
            _BIN + "data_batch_3.bin": ("942cd6a4bcdd0dd3c604fbe906cb4421",),
            _BIN + "data_batch_4.bin": ("ae636b3ba5c66a11e91e8cb52e771fcb",),
            _BIN + "data_batch_5.bin": ("53f37980c15c3d472c316c40844f3f0d",),
            _BIN + "test_batch.bin": ("803d5f7f4d78ea53de84dbe85f74fb6d",),
        }, _CIFAR10_CLASSES, archive="cifar-10-binary.tar.gz", url=_CIFAR_URL,
            archive_md5=("c32a1d4ab5d03f1284b67883e8d87530",)),
        Source("cifar10", "cifar-py", {
            "cifar-10-python.tar.gz": ("c58f30108f718f92721af3b95e74349a",),
        }, url=_CIFAR_URL),
    ),
    "cifar100": (Source("cifar100", "cifar-py", {
        "cifar-100-python.tar.gz": ("eb9058c3a382ffc7106e4002c42a8d85",),
    }, url=_CIFAR_URL),),
}


def load(name: str, data_dir: str | Path | None = None, download: bool | None = None,
         label: str = "fine") -> Dataset:
    """Load data set ``name`` (one of ``DATASETS``), verified, from the first place it is found.

    With ``data_dir`` only that directory is searched. Otherwise, in order:
    ``$KD_DATA_DIR/<name>``; ``$KD_SHARED_DATA/<subdir>`` (default ``<repo>/../shared/data``;
    MNIST and CIFAR-10); ``/usr/share/datasets/fashion-mnist`` (Fashion-MNIST, Debian package
    ``dataset-fashion-mnist``); ``<repo>/data/raw/<name>``. ``KD_DATA_SEARCH=raw`` leaves out
    ``../shared`` and the system directory (a machine that has neither, as on a fresh clone).

    If nothing is found, the files are downloaded (``_download``) into ``<repo>/data/raw/<name>``,
    or into ``data_dir`` when ``download`` is true. ``download=None`` (the default) downloads
    unless ``data_dir`` was given or ``$KD_DOWNLOAD`` is ``0``; ``False`` never downloads.
    Files that are present are never downloaded again, and one that fails its checksum is
    refused with a one-line error naming it and the fix.
    ``label`` ("fine" or "coarse") picks the CIFAR-100 labels; other data sets ignore it.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r}")
    if label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(LABELS)}; got {label!r}")
    sources = SOURCES[name]
    dirs = _search_dirs(name, data_dir)
    dest = Path(data_dir) if data_dir is not None else REPO_ROOT / "data" / "raw" / name
    fetch = _wants_download(download, data_dir)
    for directory in dirs:
        for src in sources:
            if _present(src, directory):
                if fetch and directory == dest and src.url and _missing(src, dest):
                    _download(src, dest)  # completes a data set of several files
                return _load_source(src, directory, label)
    if not fetch:
        hint = "; for Fashion-MNIST: apt-get install dataset-fashion-mnist"
        hint = hint if name == "fashion_mnist" else ""
        off = ("; downloading is off (KD_DOWNLOAD=0)"
               if data_dir is None and download is None else "")
        raise DataError(f"no {name} files found in {', '.join(map(str, dirs))}; pass "
                        f"data_dir=..., set KD_DATA_DIR, or use download=True{off}{hint}")
    src = next(s for s in sources if s.url)
    _download(src, dest)
    return _load_source(src, dest, label)


def _wants_download(download: bool | None, data_dir: str | Path | None) -> bool:
    """Whether ``load`` may download what it does not find (see ``load``)."""
    if download is not None:
        return download
    return data_dir is None and os.environ.get("KD_DOWNLOAD", "").strip().lower() not in _OFF


def _search_dirs(name: str, data_dir: str | Path | None) -> list[Path]:
    """The directories ``load`` searches for ``name``, in order."""
    if data_dir is not None:
        return [Path(data_dir)]
    mode = os.environ.get("KD_DATA_SEARCH", "").strip() or "all"
    if mode not in SEARCH_MODES:
        raise DataError(f"KD_DATA_SEARCH must be one of {', '.join(SEARCH_MODES)}; got {mode!r}")
    dirs = []
    if os.environ.get("KD_DATA_DIR"):
        dirs.append(Path(os.environ["KD_DATA_DIR"]) / name)
    if name in _SHARED_SUBDIR and mode == "all":
        shared = Path(os.environ.get("KD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
        dirs.append(shared / _SHARED_SUBDIR[name])
    if name in _SYSTEM_DIR and mode == "all":
        dirs.append(_SYSTEM_DIR[name])
    dirs.append(REPO_ROOT / "data" / "raw" / name)
    return dirs


def _find(src: Source, directory: Path, fname: str) -> Path | None:
    """``directory/fname`` (for IDX also its uncompressed form without ``.gz``), or None."""
    names = [fname, fname.removesuffix(".gz")] if src.kind == "idx" else [fname]
    return next((directory / n for n in names if (directory / n).is_file()), None)


def _present(src: Source, directory: Path) -> bool:
    """Whether any of ``src``'s files is in ``directory`` (then loading it is attempted)."""
    if src.archive:
        return (directory / src.archive).is_file()
    return any(_find(src, directory, f) is not None for f in src.files)


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _verified(data: bytes, accepted: tuple[str, ...], origin: str | Path,
              gunzip: bool = False, fix: str = _FIX) -> tuple[bytes, str]:
    """Check ``data`` against ``accepted``; return (content, content MD5), gunzipped if asked.
    An error names ``origin`` and ends with ``fix``."""
    raw_md5 = _md5(data)
    content = data
    if gunzip:
        try:
            content = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{origin} is not a valid gzip file ({e}); {fix}") from None
    md5 = _md5(content)
    if raw_md5 not in accepted and md5 not in accepted:
        got = f"{raw_md5} (file), {md5} (uncompressed)" if gunzip else md5
        raise DataError(f"{origin} failed its checksum: expected md5 {' or '.join(accepted)}, "
                        f"got {got}; {fix}")
    return content, md5


def _load_source(src: Source, directory: str | Path, label: str = "fine") -> Dataset:
    """Load ``src`` from ``directory``, verifying every file first."""
    directory = Path(directory)
    if src.kind == "idx":
        parts, md5s = [], []
        for fname in _IDX_FILES:
            path = _find(src, directory, fname)
            if path is None:
                raise DataError(f"{directory / fname} is missing; restore it or use "
                                f"download=True")
            content, md5 = _verified(path.read_bytes(), src.files[fname], path,
                                     gunzip=path.suffix == ".gz")
            parts.append(_parse_idx(content, path))
            md5s.append(md5)
        xtr, ytr, xte, yte = parts
        arrays = (xtr[..., None], ytr.astype(np.int64), xte[..., None], yte.astype(np.int64))
        classes, origin = src.classes, directory
    elif src.kind == "cifar-bin":
        origin = directory / src.archive
        blobs = _tar_members(origin, set(src.files))
        md5s = [_verified(blobs[m], ok, f"{origin}:{m}")[1] for m, ok in src.files.items()]

        def batches(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            names = sorted(m for m in src.files if m.rsplit("/", 1)[-1].startswith(prefix))
            return _concat([_parse_cifar_bin(blobs[m], origin) for m in names])

        arrays = batches("data_batch") + batches("test_batch")
        classes = src.classes
    elif src.kind == "cifar-py":
        ((fname, accepted),) = src.files.items()
        origin = directory / fname
        if not origin.is_file():
            raise DataError(f"{origin} is missing; restore it or use download=True")
        md5s = [_verified(origin.read_bytes(), accepted, origin)[1]]
        arrays, classes = _parse_cifar_py(origin, label)
    else:
        raise ValueError(f"source kind must be one of idx, cifar-bin, cifar-py; got {src.kind!r}")
    _check_arrays(arrays, len(classes), origin)
    digest = hashlib.sha256("\n".join(sorted(md5s)).encode()).hexdigest()
    return Dataset(src.name, *arrays, classes=tuple(classes), digest=digest, source=str(origin))


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    """An IDX file (unsigned-byte data) as an array of the shape its header gives."""
    if len(data) < 4 or data[:3] != b"\x00\x00\x08" or not 1 <= data[3] <= 4:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number); {_FIX}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated (short IDX header); {_FIX}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))
    if len(data) != header + int(np.prod(shape)):
        raise DataError(f"{path} has {len(data) - header} data bytes, its IDX header says "
                        f"{int(np.prod(shape))}; {_FIX}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def _tar_members(path: Path, names: set[str]) -> dict[str, bytes]:
    """The named members of tarball ``path``, read in one pass in memory."""
    blobs = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.name in names and member.isfile():
                    blobs[member.name] = _member_bytes(tar, member)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not a readable tarball ({e}); {_FIX}") from None
    if missing := sorted(names - blobs.keys()):
        raise DataError(f"{path} lacks {', '.join(missing)}; {_FIX}")
    return blobs


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """The content of a regular-file tar member."""
    f = tar.extractfile(member)
    return f.read() if f is not None else b""


def _parse_cifar_bin(data: bytes, origin: Path) -> tuple[np.ndarray, np.ndarray]:
    """Binary CIFAR-10 records (1 label byte, 3072 R,G,B plane bytes) as NHWC images, labels."""
    if len(data) % 3073:
        raise DataError(f"{origin}: a batch is not a whole number of 3073-byte records; {_FIX}")
    rec = np.frombuffer(data, np.uint8).reshape(-1, 3073)
    return _nhwc(rec[:, 1:]), rec[:, 0].astype(np.int64)


def _nhwc(flat: np.ndarray) -> np.ndarray:
    """(N, 3072) rows of R,G,B 32x32 planes as contiguous (N, 32, 32, 3) uint8."""
    return np.ascontiguousarray(flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.uint8)


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that rebuilds dicts, lists, strings, numbers and numpy arrays, and refuses
    every other global: a crafted file cannot run code when read."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"),
                ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(blob: bytes) -> Any:
    """A CIFAR python-version batch. The archive's MD5 was verified before; the restricted
    unpickler is a second guard."""
    return _ArraysOnly(io.BytesIO(blob), encoding="bytes").load()


_CIFAR_PY_ROLES = {"train": "train", "test": "test", "test_batch": "test",
                   "batches.meta": "meta", "meta": "meta"}


def _parse_cifar_py(path: Path, label: str) -> tuple[tuple[np.ndarray, ...], list[str]]:
    """Arrays and class names from a verified python-version CIFAR-10/100 tarball."""
    parts: dict[str, list[tuple[str, dict]]] = {"train": [], "test": [], "meta": []}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                role = "train" if base.startswith("data_batch") else _CIFAR_PY_ROLES.get(base)
                if role and member.isfile():  # skips e.g. readme.html, file.txt~
                    d = _unpickle(_member_bytes(tar, member))
                    parts[role].append((base, d))
    except (tarfile.TarError, OSError, EOFError, zlib.error, pickle.UnpicklingError) as e:
        raise DataError(f"{path} is not a readable CIFAR tarball ({e}); {_FIX}") from None
    if not all(parts.values()):
        raise DataError(f"{path} lacks its train, test or meta member; {_FIX}")
    meta = parts["meta"][0][1]
    cifar10 = b"label_names" in meta  # CIFAR-100 has fine and coarse labels instead
    key = b"labels" if cifar10 else label.encode() + b"_labels"
    names_key = b"label_names" if cifar10 else label.encode() + b"_label_names"

    def arrays(role: str) -> tuple[np.ndarray, np.ndarray]:
        batches = [d for _, d in sorted(parts[role], key=lambda p: p[0])]
        x = np.concatenate([np.asarray(d[b"data"], np.uint8) for d in batches])
        y = np.concatenate([np.asarray(d[key], np.int64) for d in batches])
        return _nhwc(x), y

    try:
        return arrays("train") + arrays("test"), [n.decode() for n in meta[names_key]]
    except (KeyError, ValueError) as e:
        raise DataError(f"{path} has an unexpected CIFAR layout ({e!r}); {_FIX}") from None


def _check_arrays(arrays: tuple[np.ndarray, ...], n_classes: int, origin: str | Path) -> None:
    """Images and labels agree in length and labels lie in [0, n_classes)."""
    for x, y in (arrays[:2], arrays[2:]):
        bad_labels = len(y) > 0 and not 0 <= y.min() <= y.max() < n_classes
        if x.ndim != 4 or y.ndim != 1 or len(x) != len(y) or bad_labels:
            raise DataError(f"{origin}: images {x.shape} and labels {y.shape} do not match or "
                            f"labels lie outside [0, {n_classes}); {_FIX}")


def _pooch() -> Any:
    """pooch, imported when a download needs it. pooch imports ``tqdm.auto``, which in a
    notebook kernel without ipywidgets warns "IProgress not found"; kdlib draws its own
    progress (``_Progress``, plain tqdm) and never pooch's, so the warning is only noise."""
    import warnings

    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "IProgress not found", TqdmWarning)
        import pooch
    return pooch


def _download(src: Source, dest: Path) -> None:
    """Download ``src``'s missing files into ``dest``, each verified before it is put in place.

    Each file is fetched by ``pooch.retrieve`` with ``_Resuming`` as its downloader, from
    ``$KD_DATA_MIRROR/<name>/<file>`` if that variable is set (a mirror laid out as
    ``data/raw/``), else from ``src.url``. What arrives is kept in ``<file>.part``: a cut
    connection is resumed (an HTTP Range request), in this run or the next. The complete file is
    verified (``_check_download``); only then does pooch move it into place. A file that fails
    is deleted, and the error names it and the fix.
    """
    pooch = _pooch()
    from filelock import FileLock

    base = _base_url(src)
    if not base:
        raise DataError(f"{src.name} has no download URL; place its files in {dest}")
    dest.mkdir(parents=True, exist_ok=True)
    with FileLock(dest / ".download.lock"):  # two runs never write one .part file
        for fname in _missing(src, dest):
            url = f"{base}/{fname}"
            fetch = _Resuming(dest / f"{fname}.part",
                              lambda path, f=fname, u=url: _check_download(src, f, path, u))
            level = pooch.get_logger().level
            pooch.get_logger().setLevel("WARNING")  # kdlib says what it downloads, and checks it
            try:
                pooch.retrieve(url, known_hash=None, fname=fname, path=dest, downloader=fetch)
            except OSError as e:  # requests' errors are OSErrors too
                raise DataError(f"could not download {url} ({e}); check the network or "
                                f"KD_DATA_MIRROR, or place {fname} in {dest}; run again to "
                                "resume") from None
            finally:
                pooch.get_logger().setLevel(level)


def _base_url(src: Source) -> str:
    """Where ``src``'s files are downloaded from: the mirror's folder for it, else its own."""
    mirror = os.environ.get("KD_DATA_MIRROR", "").strip()
    return f"{mirror.rstrip('/')}/{src.name}" if mirror else src.url.rstrip("/")


def _missing(src: Source, dest: Path) -> list[str]:
    """The files of ``src`` (its archive, or its files) that ``dest`` lacks."""
    names = (src.archive,) if src.archive else tuple(src.files)
    return [n for n in names if not (dest / n).is_file() and _find(src, dest, n) is None]


def _check_download(src: Source, fname: str, path: Path, url: str) -> None:
    """Verify downloaded ``path`` (``fname`` of ``src``, from ``url``) as ``load`` would verify
    it in place: its published MD5, or that of its content. Raises ``DataError``."""
    fix = f"it was not kept; check {url} (or KD_DATA_MIRROR) and run again"
    if src.kind != "cifar-bin":
        _verified(path.read_bytes(), src.files[fname], url,
                  gunzip=src.kind == "idx" and fname.endswith(".gz"), fix=fix)
        return
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            md5.update(block)
    if md5.hexdigest() in src.archive_md5:
        return
    try:  # a re-packed archive (as in ../shared) passes when every member does
        blobs = _tar_members(path, set(src.files))
        for member, accepted in src.files.items():
            _verified(blobs[member], accepted, member)
    except DataError as e:
        raise DataError(f"{url} failed its checksum: expected md5 "
                        f"{' or '.join(src.archive_md5)}, got {md5.hexdigest()}, and its "
                        f"members do not all pass ({str(e).split('; ')[0]}); {fix}") from None


class _Resuming:
    """A pooch downloader that keeps what arrives in ``part`` and, after a cut connection, asks
    only for the rest (HTTP Range), up to ``_ATTEMPTS`` requests in a run; a run that stops
    early leaves ``part`` for the next to resume. The complete file is checked (``check``
    raises, and ``part`` is deleted) before it replaces pooch's temporary file."""

    def __init__(self, part: Path, check: Callable[[Path], None]) -> None:
        self.part, self.check = part, check

    def __call__(self, url: str, output_file: str, pooch: Any = None,
                 check_only: bool = False) -> bool | None:
        import requests
        import urllib3

        if check_only:
            return requests.head(url, timeout=_TIMEOUT, allow_redirects=True).ok
        cut = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
               requests.Timeout, urllib3.exceptions.HTTPError)  # the last: raised while streaming
        progress = _Progress(url, self.part.with_suffix(""))
        try:
            stalled = 0  # failed requests in a row that brought nothing
            for attempt in range(1, _ATTEMPTS + 1):
                had = self._size()
                try:
                    if self._request(url, progress):
                        break
                except cut as e:
                    stalled = 0 if self._size() > had else stalled + 1
                    if attempt == _ATTEMPTS or stalled == 2:
                        raise OSError(f"{type(e).__name__}: {e}") from None
                    progress.note(f"connection lost ({type(e).__name__}); resuming")
                    time.sleep(0.5 * stalled)
            else:
                raise OSError(f"the server did not send the whole file in {_ATTEMPTS} requests")
        finally:
            progress.close()
        try:
            self.check(self.part)
        except BaseException:
            self.part.unlink(missing_ok=True)
            raise
        os.replace(self.part, output_file)
        return None

    def _size(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0

    def _request(self, url: str, progress: _Progress) -> bool:
        """One request for what ``part`` lacks; True once it holds the whole file."""
        import requests

        have = self._size()
        headers = {"Accept-Encoding": "identity"}  # the bytes as published, never re-encoded
        if have:
            headers["Range"] = f"bytes={have}-"
        with requests.get(url, headers=headers, stream=True, timeout=_TIMEOUT) as r:
            if r.status_code == 416 and have:  # nothing after ``have``: complete, or another file
                if _range_total(r.headers.get("Content-Range", "")) == have:
                    return True
                self.part.unlink()
                return False
            r.raise_for_status()
            if have and (r.status_code != 206 or
                         not r.headers.get("Content-Range", "").startswith(f"bytes {have}-")):
                have = 0  # the server sends the whole file again
            length = r.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            progress.start(total, have)
            with open(self.part, "ab" if have else "wb") as out:
                for chunk in r.raw.stream(_CHUNK, decode_content=False):
                    out.write(chunk)
                    progress.update(len(chunk))
        return total is None or self.part.stat().st_size >= total


def _range_total(content_range: str) -> int | None:
    """The full size in a ``Content-Range: bytes */SIZE`` (or ``bytes A-B/SIZE``) header."""
    size = content_range.rpartition("/")[2]
    return int(size) if size.isdigit() else None


class _Progress:
    """A download's progress on stderr: a tqdm bar on a terminal, else a few plain lines (a CI
    log): where from and to, each resumption, the end."""

    def __init__(self, url: str, dest: Path) -> None:
        self.url, self.dest, self.bar, self.lines = url, dest, None, not sys.stderr.isatty()
        self.done = self.started = 0

    def start(self, total: int | None, have: int) -> None:
        self.done = have
        if self.lines:
            at = f", from {_size(have)} on" if have else ""
            print(f"downloading {self.url} ({_size(total)}{at}) to {self.dest}", file=sys.stderr,
                  flush=True)
        elif self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=have, unit="B", unit_scale=True,
                            unit_divisor=1024, desc=self.dest.name, file=sys.stderr)
        else:
            self.bar.reset(total=total)
            self.bar.update(have)
        self.started += 1

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def note(self, message: str) -> None:
        text = f"{self.dest.name}: {message} at {_size(self.done)}"
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.started:
            print(f"{self.dest.name}: {_size(self.done)} received", file=sys.stderr, flush=True)


def _size(n: int | None) -> str:
    return "size unknown" if n is None else f"{n / 2**20:.1f} MiB"


def first_n(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` examples."""
    _check_xy(x, y)
    if not 1 <= n <= len(y):
        raise ValueError(f"n_train must be in [1, {len(y)}]; got {n}")
    return x[:n], y[:n]


def per_class(x: np.ndarray, y: np.ndarray, n_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_per_class`` examples of each class present, in their original order."""
    _check_xy(x, y)
    values, counts = np.unique(y, return_counts=True)
    most = int(counts.min()) if len(y) else 0
    if not 1 <= n_per_class <= most:
        raise ValueError(f"n_per_class must be in [1, {most}]; got {n_per_class} "
                         f"(the smallest class has {most})")
    idx = np.sort(np.concatenate([np.flatnonzero(y == c)[:n_per_class] for c in values]))
    return x[idx], y[idx]


def stratified_split(y: np.ndarray, sizes: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """Indices of disjoint parts of ``y`` of the given ``sizes`` (the rest is the first part),
    each with the class proportions of ``y`` (scikit-learn's stratified shuffle splits, one
    after another, with ``random_state=seed``)."""
    from sklearn.model_selection import train_test_split

    rest = np.arange(len(y))
    parts = []
    for size in sizes:
        rest, part = train_test_split(rest, test_size=size, stratify=y[rest],
                                      random_state=seed)
        parts.append(np.sort(part))
    return [np.sort(rest), *parts]


def label_noise(y: np.ndarray, rate: float, kind: str, seed: int,
                classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``y`` with exactly ``round(rate * len(y))`` labels changed, and their indices.

    ``kind="shift"`` maps a label to ``(y - 1) mod classes`` (a 4 becomes a 3);
    ``kind="symmetric"`` to a uniformly random other class. Indices (returned sorted, int64)
    come from ``np.random.default_rng(seed).choice(len(y), k, replace=False)``.
    """
    if not 0 <= rate <= 1:
        raise ValueError(f"noise_rate must be in [0, 1]; got {rate}")
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise_kind must be one of {', '.join(NOISE_KINDS)}; got {kind!r}")
    if classes < 2:
        raise ValueError(f"classes must be at least 2; got {classes}")
    if len(y) and not 0 <= y.min() <= y.max() < classes:
        raise ValueError(f"labels must be in [0, {classes}); got {y.min()}..{y.max()}")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(y), round(rate * len(y)), replace=False)).astype(np.int64)
    noisy = np.array(y, dtype=np.int64)
    if kind == "shift":
        noisy[idx] = (noisy[idx] - 1) % classes
    else:
        noisy[idx] = (noisy[idx] + rng.integers(1, classes, size=len(idx))) % classes
    return noisy, idx


@dataclass(frozen=True, eq=False)
class Split:
    """A unit's images as float32 NCHW tensors in [0, 1] with their int64 labels: training,
    validation (``None`` where the unit has none) and test, and the number of classes."""

    x: torch.Tensor = field(repr=False)
    y: torch.Tensor = field(repr=False)
    x_val: torch.Tensor | None = field(repr=False)
    y_val: torch.Tensor | None = field(repr=False)
    x_test: torch.Tensor = field(repr=False)
    y_test: torch.Tensor = field(repr=False)
    classes: int

    @classmethod
    def of(cls, train: tuple[np.ndarray, np.ndarray],
           val: tuple[np.ndarray, np.ndarray] | None, test: tuple[np.ndarray, np.ndarray],
           classes: int) -> Split:
        """A split from uint8 NHWC images and labels (``(x, y)`` pairs; ``val`` may be
        ``None``), for a split :func:`cut` does not make (a pooled, stratified one)."""
        import torch

        def tensors(part: tuple[np.ndarray, np.ndarray] | None) -> tuple[Any, Any]:
            if part is None:
                return None, None
            _check_xy(*part)
            return torch.from_numpy(to_float(part[0])), torch.from_numpy(part[1])

        return cls(*tensors(train), *tensors(val), *tensors(test), classes)


def cut(ds: Dataset, n_train: int | None = None, n_test: int | None = None,
        n_val: int = 0) -> Split:
    """The first ``n_train`` official training images (``None``: all), the last ``n_val`` as
    validation images (0: none; never among the first ``n_train``) and the first ``n_test``
    official test images (``None``: all), as a :class:`Split`."""
    n_all, m_all = len(ds.y_train), len(ds.y_test)
    n = n_all - n_val if n_train is None else n_train
    m = m_all if n_test is None else n_test
    if not 0 <= n_val < n_all:
        raise ValueError(f"n_val must be in [0, {n_all - 1}]; got {n_val}")
    if not 1 <= n <= n_all - n_val:
        raise ValueError(f"n_train must be in [1, {n_all - n_val}] (with n_val = {n_val}); "
                         f"got {n}")
    if not 1 <= m <= m_all:
        raise ValueError(f"n_test must be in [1, {m_all}]; got {m}")
    val = (ds.x_train[-n_val:], ds.y_train[-n_val:]) if n_val else None
    return Split.of((ds.x_train[:n], ds.y_train[:n]), val, (ds.x_test[:m], ds.y_test[:m]),
                    len(ds.classes))


def to_float(x: np.ndarray) -> np.ndarray:
    """uint8 NHWC images as contiguous float32 NCHW in [0, 1]."""
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"x must be uint8 of shape (N, H, W, C); got {x.dtype} {x.shape}")
    out = np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)
    out /= 255.0
    return out


def _check_xy(x: np.ndarray, y: np.ndarray) -> None:
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")


def main(argv: list[str] | None = None) -> int:
    """``python -m kdlib.data [NAME ...]``: find (or fetch) and verify each data set."""
    ap = argparse.ArgumentParser(
        prog="python -m kdlib.data",
        description="Find each data set (see kdlib.data.load), or download it into data/raw/ "
                    "from its official source or $KD_DATA_MIRROR; verify it either way.")
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help=f"of {', '.join(DATASETS)} (default: {' '.join(BOOK_DATASETS)})")
    names = ap.parse_args(argv).names or list(BOOK_DATASETS)
    if bad := [n for n in names if n not in DATASETS]:
        ap.error(f"unknown data set {bad[0]!r}; choose from {', '.join(DATASETS)}")
    for name in names:
        try:
            ds = load(name)
        except DataError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"{name}: {len(ds.y_train):,} training and {len(ds.y_test):,} test images, "
              f"verified, in {ds.source}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
