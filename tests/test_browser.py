"""The real-browser check finds what it should, on small sites the test writes."""

from pathlib import Path

from PIL import Image

from kdlib import browser

HEAD = '<head><link rel="icon" href="data:,"></head>'  # a sound page names its icon
GOOD = f"""<html>{HEAD}<body><h1>Good</h1><img src="dot.png">
<table><tr><td>1</td></tr></table>
<a href="other.html#part">other</a><a href="#top">top</a>
<main style="width: 400px"><div class="cell_output"><figure><img src="dot.png">
<figcaption>A captioned figure.</figcaption></figure></div><div style="overflow-x: auto">
<table><tr><td style="min-width: 900px">wide, in a scrolling box</td></tr></table></div></main>
</body></html>"""
OTHER = f"<html>{HEAD}<body><p id='part'>no table, no figure</p></body></html>"
BROKEN = """<html><body><img src="missing.png"><table><tr><td>1</td></tr></table>
<span class="math">x^2</span><a href="nowhere.html">gone</a>
<script>undefinedFunction();</script>
<main style="width: 400px"><div class="cell_output"><img src="dot.png"></div>
<table><tr><td style="min-width: 900px">wide alone</td></tr></table></main>
</body></html>"""


def _site(tmp_path: Path) -> Path:
    Image.new("RGB", (4, 4), "blue").save(tmp_path / "dot.png")
    for name, text in (("good.html", GOOD), ("other.html", OTHER), ("broken.html", BROKEN)):
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_sound_site_has_no_problems(tmp_path):
    assert browser.check(_site(tmp_path), ["good.html", "other.html"], {"good.html"}) == []


def test_a_broken_page_fails_for_each_reason(tmp_path):
    problems = browser.check(_site(tmp_path), ["broken.html", "other.html"], {"other.html"})
    text = "\n".join(problems)
    assert "broken.html: image missing.png did not load" in text
    assert "broken.html: 1 of 1 equations not rendered" in text
    assert "broken.html: broken link /nowhere.html (404)" in text
    assert "broken.html: console:" in text and "undefinedFunction" in text
    assert "other.html: a chapter page without a table or a figure" in text
    assert "broken.html: a table wider than the content column (wide alone ...)" in text
    assert "broken.html: a figure without a caption (dot.png)" in text
    assert browser.check(_site(tmp_path), ["absent.html"]) == ["absent.html: not found"]
