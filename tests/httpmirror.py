"""A local HTTP server for the download tests: it stands in for a data set's official site or a
mirror, on 127.0.0.1 only.

It serves the files under a directory (symbolic links followed, so real data files can be served
in place), answers ``Range: bytes=N-`` requests as an official site does (206, Content-Range; 416
past the end), records every request, and can cut a file's transfer once, after a given number of
bytes, by closing the connection as a dropped network would.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["Mirror", "Request", "lay_out", "real_files"]


@dataclass(frozen=True)
class Request:
    """One request as the server saw it: the URL path, its Range header, the bytes it sent."""

    path: str
    range: str | None
    status: int
    sent: int


class Mirror:
    """``with Mirror(root) as m:`` serves ``root`` at ``m.url`` (ends with a slash).

    ``m.cut[path] = n`` makes the next GET of ``path`` stop after byte ``n`` of the file (once);
    ``m.requests`` lists what was asked, in order; ``m.got(path)`` the GETs of one path.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.cut: dict[str, int] = {}
        self._requests: list[Request] = []
        self._lock = threading.Condition()  # notified when a request has been answered
        self._started = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> Mirror:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    @property
    def requests(self) -> list[Request]:
        """What was asked, in order: every request the server has begun, once it is answered
        (a client can finish reading before the server thread has logged its request)."""
        with self._lock:
            self._lock.wait_for(lambda: len(self._requests) >= self._started, timeout=10)
            return list(self._requests)

    def got(self, path: str) -> list[Request]:
        """The GET requests of URL path ``path`` (e.g. ``/mnist/t10k-labels-idx1-ubyte.gz``)."""
        return [r for r in self.requests if r.path == path]

    def _begin(self) -> None:
        with self._lock:
            self._started += 1

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()

    def _cut_at(self, path: str) -> int | None:
        with self._lock:
            return self.cut.pop(path, None)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (the name http.server looks up)
                mirror._begin()
                path = unquote(urlsplit(self.path).path)
                rng = self.headers.get("Range")
                file = mirror.root / path.lstrip("/")
                if ".." in Path(path).parts or not file.is_file():
                    self._empty(404)
                    mirror._record(Request(path, rng, 404, 0))
                    return
                size = file.stat().st_size
                start = 0
                if rng is not None:
                    match = re.fullmatch(r"bytes=(\d+)-", rng.strip())
                    start = int(match.group(1)) if match else 0
                    if start >= size:
                        self._empty(416, {"Content-Range": f"bytes */{size}"})
                        mirror._record(Request(path, rng, 416, 0))
                        return
                status = 206 if rng is not None else 200
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size - start))
                self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
                self.end_headers()
                stop = mirror._cut_at(path)
                end = size if stop is None else max(start, min(stop, size))
                sent = 0
                try:
                    with open(file, "rb") as f:
                        f.seek(start)
                        while sent < end - start:
                            block = f.read(min(1 << 16, end - start - sent))
                            self.wfile.write(block)
                            sent += len(block)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if stop is not None:
                    self.close_connection = True  # the rest never comes: a dropped connection
                mirror._record(Request(path, rng, status, sent))

            def _empty(self, status: int, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


def lay_out(www: Path, files: dict[str, Path]) -> None:
    """Put each ``files`` value at ``www/<key>`` (a symbolic link: nothing is copied)."""
    for rel, target in files.items():
        dst = www / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.exists() or dst.is_symlink():
            dst.unlink()
        dst.symlink_to(Path(target).resolve())


def real_files(names: tuple[str, ...]) -> dict[str, Path]:
    """The official files of each data set as this checkout finds them (``../shared``, Debian's
    directory, ``data/raw/``), by their path on a mirror: ``<name>/<file>``."""
    from kdlib import data

    files = {}
    for name in names:
        found = [(src, d) for d in data._search_dirs(name, None) for src in data.SOURCES[name]
                 if src.url and data._present(src, d)]
        if not found:
            raise FileNotFoundError(f"no {name} files here to serve (see kdlib.data.load)")
        src, directory = found[0]
        for fname in (src.archive,) if src.archive else tuple(src.files):
            files[f"{name}/{fname}"] = directory / fname
    return files
