"""Check the built book in a real browser: headless Chromium (Debian's) driven by Playwright.

Every page is served from 127.0.0.1 and opened; a problem is reported when an image does not
load, a rendered equation is missing, an internal link is broken, the console shows an error
(or a request fails), a chapter page has no table or no figure, a figure has no caption (a
notebook's figure cell gives its output one through myst-nb's ``mystnb.figure.caption`` cell
metadata), or a table runs past the right edge of the content column (a wide table must
scroll inside a box of its own, as the theme's ``pst-scrollable-table-container`` does).
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import yaml

__all__ = ["CHROMIUM", "book_pages", "check"]

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright downloads no browser of its own


def book_pages(root: Path) -> tuple[list[str], set[str]]:
    """The table of contents' pages (HTML paths under ``_build/html``), and those that are
    executed chapters with results (a table and a figure each; the scorecard is tables only)."""
    from kdlib.book import chapters

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"], *(entry["file"] for entry in toc.get("chapters", []))]
    pages = [f"{f}.html" for f in files]
    content = {f"book/{name}.html" for name in chapters(root) if name != "scorecard"}
    return pages, content


@contextmanager
def _serve(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


_PAGE_FACTS = r"""() => ({
  broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
            .map(i => i.getAttribute('src')),
  images: document.images.length,
  uncaptioned: Array.from(document.querySelectorAll('article.bd-article img, main img'))
    .filter(i => i.closest('.cell_output') && !(i.closest('figure') &&
                 i.closest('figure').querySelector('figcaption')))
    .map(i => i.getAttribute('src')),
  tables: document.querySelectorAll('table').length,
  math: document.querySelectorAll('.math').length,
  rendered: document.querySelectorAll('.math mjx-container').length,
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  wide: (() => {  // tables whose own box (the table, or a scrolling box around it) overflows
    const column = document.querySelector('article.bd-article') ||
      document.querySelector('main') || document.body;
    const edge = column.getBoundingClientRect().right + 1;
    return Array.from(document.querySelectorAll('table')).filter(t => {
      let box = t;
      for (let e = t.parentElement; e && e !== column; e = e.parentElement)
        if (['auto', 'scroll'].includes(getComputedStyle(e).overflowX)) { box = e; break; }
      return box.getBoundingClientRect().right > edge;
    }).map(t => ((t.querySelector('tr') || {}).innerText || '').split(/\s+/).slice(0, 3).join(' '));
  })(),
})"""


def check(site: Path, pages: list[str], content: set[str] = frozenset()) -> list[str]:
    """Problems found on ``pages`` (paths under ``site``), one line each; [] if none."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with _serve(site) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        links: dict[str, str] = {}  # internal URL -> the page that links to it
        for page_path in pages:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            seen: list[str] = []
            page.on("console", lambda m, seen=seen: seen.append(m.text)
                    if m.type == "error" else None)
            page.on("pageerror", lambda e, seen=seen: seen.append(str(e)))
            page.on("requestfailed", lambda r, seen=seen: seen.append(f"failed: {r.url}"))
            page.on("response", lambda r, seen=seen: seen.append(f"HTTP {r.status}: {r.url}")
                    if r.status >= 400 else None)
            response = page.goto(urljoin(base, page_path), wait_until="load")
            if response is None or response.status != 200:
                problems.append(f"{page_path}: not found")
                page.close()
                continue
            if page.evaluate("() => !!(window.MathJax && window.MathJax.startup)"):
                page.evaluate("() => window.MathJax.startup.promise")
            facts = page.evaluate(_PAGE_FACTS)
            problems += [f"{page_path}: image {src} did not load" for src in facts["broken"]]
            if facts["rendered"] < facts["math"]:
                problems.append(f"{page_path}: {facts['math'] - facts['rendered']} of "
                                f"{facts['math']} equations not rendered")
            if page_path in content and (not facts["tables"] or not facts["images"]):
                problems.append(f"{page_path}: a chapter page without a table or a figure")
            problems += [f"{page_path}: a figure without a caption ({src})"
                         for src in dict.fromkeys(facts["uncaptioned"])]
            problems += [f"{page_path}: a table wider than the content column ({head} ...)"
                         for head in facts["wide"]]
            problems += [f"{page_path}: console: {text}" for text in seen]
            for href in facts["links"]:
                url = urldefrag(href).url
                if url.startswith(base):
                    links.setdefault(url, page_path)
            page.close()
        requests = browser.new_context().request
        for url, source in links.items():
            status = requests.get(url).status
            if status != 200:
                problems.append(f"{source}: broken link {url[len(base) - 1:]} ({status})")
        browser.close()
    return problems
