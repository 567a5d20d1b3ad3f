"""Open a page in headless Chromium (Debian's `chromium`, installed by .ci/run) and report what a
reader would see: images that did not load and elements that stick out of the window."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium as root in a container, offline: no sandbox, no GPU, no background connections.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
CHECK = """
<script>
window.addEventListener('load', () => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const width = document.documentElement.clientWidth;
  const images = [...document.images];
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
  const overflow = [...document.body.querySelectorAll('*')]
    .filter(e => e.getBoundingClientRect().right > width + 1)
    .map(e => e.tagName + (e.id ? '#' + e.id : '') + ' ' + (e.textContent || '').slice(0, 40));
  const out = document.createElement('pre');
  out.id = 'kzoo-check';
  out.textContent = JSON.stringify({images: images.length, broken, overflow: overflow.slice(0, 20),
    scroll_width: document.documentElement.scrollWidth, width});
  document.body.appendChild(out);
});
</script>
"""


def inspect_page(page: Path, workdir: Path, *, width: int) -> dict:
    """Load `page` (a copy with a checking script appended) at `width` px; return the findings:
    `images` (count), `broken` (alt texts), `overflow` (elements past the right edge)."""
    probe = workdir / f"probe-{width}.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"),
                     encoding="utf-8")
    out = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={workdir / 'profile'}", f"--window-size={width},900",
         "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=180, check=True).stdout
    found = re.search(r'<pre id="kzoo-check">(.*?)</pre>', out, re.S)
    assert found, f"the checking script did not run; Chromium printed: {out[-500:]!r}"
    return json.loads(html.unescape(found.group(1)))


def screenshot(page: Path, png: Path, workdir: Path, *, width: int = 1280, height: int = 6000):
    """A PNG of the page's top `height` px, as a reader sees it."""
    subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={workdir / 'profile-shot'}",
         f"--window-size={width},{height}", f"--screenshot={png}", page.as_uri()],
        capture_output=True, text=True, timeout=180, check=True)
    return png
