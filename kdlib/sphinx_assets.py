"""A Sphinx extension for the book's HTML: every script once.

Jupyter Book 1.x's build adds each inline script (sphinx-thebe's configuration, togglebutton's
selector) to every page twice; scripts with a file name are de-duplicated by Sphinx, inline ones
are not, and a second ``const THEBE_JS_URL`` is a JavaScript error in every page's console.
"""

from __future__ import annotations

from typing import Any


def _key(script: Any) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    name = getattr(script, "filename", script) or ""  # inline scripts come as None and as ""
    return str(name), tuple(sorted(attributes.items()))


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict,
                    doctree: Any) -> None:
    scripts = context.get("script_files")
    if scripts:
        seen: set[tuple] = set()
        context["script_files"] = [s for s in scripts
                                   if not (_key(s) in seen or seen.add(_key(s)))]


def setup(app: Any) -> dict[str, Any]:
    """Register the page hook (after the themes' own, so it sees their scripts too)."""
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
