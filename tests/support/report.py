"""The Snakemake report as a reader sees it: opened in headless Chromium, each result's panel clicked open."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

# appended to a copy of the report: opens each result's panel in turn, as a reader clicking through the
# report does, and copies the caption the report rendered there (its ``.prose`` element) into the page
_CLICK_THROUGH = """<script>
window.addEventListener("load", function () {
  var out = document.createElement("pre"); out.id = "archssl-rendered"; document.body.appendChild(out);
  var paths = Object.keys(results), i = 0;
  function next() {
    if (i > 0) {
      var shown = Array.prototype.map.call(document.querySelectorAll("#app .prose"), function (el) {
        return el.innerText; }).join(" ");
      out.appendChild(document.createTextNode("\\n[[[result " + paths[i - 1] + " ]]] " + shown));
    }
    if (i >= paths.length) { out.setAttribute("data-done", String(paths.length)); return; }
    app.showResultInfo(paths[i++]);
    setTimeout(next, 50);
  }
  setTimeout(next, 200);
});
</script>"""


def _chromium() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (CI installs it with apt: see .ci/run)")
        pytest.skip("chromium is not installed here (apt-get install chromium); CI runs this part")
    return chromium


def _dump_dom(page: Path) -> str:
    """The DOM of ``page`` after headless Chromium ran its scripts."""
    return subprocess.run([_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=60000",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=300).stdout


class _Text(HTMLParser):
    """Collects the text of every element but script, style, template and noscript."""

    hidden = {"script", "style", "template", "noscript"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.depth += tag in self.hidden

    def handle_endtag(self, tag):
        if tag in self.hidden and self.depth > 0:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def _shown_text(dom: str) -> str:
    """The text of every element of a DOM but script, style, template and noscript (whitespace collapsed):
    what a browser shows, not the scripts' source (the Snakemake report holds every caption in a script)."""
    parser = _Text()
    parser.feed(dom)
    return re.sub(r"\s+", " ", " ".join(parser.parts)).strip()


def rendered_captions(report: Path) -> tuple[str, dict[str, str]]:
    """Open the report in headless Chromium and click through it: the text the page shows on load, and per
    result (its file name) the caption the report rendered in that result's panel. Skips where Chromium is
    absent (CI installs it with apt, and fails instead)."""
    page = report.with_name(report.stem + ".clicked.html")
    html = report.read_text()
    head, end, tail = html.rpartition("</body>")  # the page's own end (the report's scripts hold others)
    page.write_text(head + _CLICK_THROUGH + end + tail if end else html + _CLICK_THROUGH)
    try:
        dom = _dump_dom(page)
    finally:
        page.unlink()
    m = re.search(r'<pre id="archssl-rendered"[^>]*data-done="(\d+)"[^>]*>(.*?)</pre>', dom, re.S)
    assert m, "the report did not finish rendering its results in headless Chromium"
    shown = _shown_text(dom[: m.start()] + dom[m.end():])
    captions = {}
    for part in _shown_text(m.group(2)).split("[[[result ")[1:]:
        path, _, text = part.partition(" ]]]")
        captions[Path(path.strip()).name] = text.strip()
    assert len(captions) == int(m.group(1))
    return shown, captions


def report_files(html: str) -> set[str]:
    """The file names the Snakemake report lists (its embedded results index)."""
    return set(re.findall(r'"(?:[^"/]*/)*([A-Za-z0-9_.-]+\.(?:png|csv))"', html))
