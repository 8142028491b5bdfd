"""Headless Chromium (Debian's, installed by make browser): the layout of a
page's charts as the browser computed it, and a screenshot of the page."""

from __future__ import annotations

import html as html_text
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

WIDTH = 1000

# Appended to a copy of the page (without its CSP, which forbids scripts): each chart's box
# and its marks' boxes, in page coordinates, after layout.
PROBE = """<script>
const box = e => { const r = e.getBoundingClientRect();
  return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; };
const charts = [...document.querySelectorAll("figure > svg.chart")].map(svg => ({
  figure: svg.parentElement.id, box: box(svg),
  marks: [...svg.querySelectorAll(".bar, .point")].map(m => ({
    box: box(m), fill: m.getAttribute("fill"), value: Number(m.dataset.value)})),
}));
const pre = document.createElement("pre");
pre.id = "probe";
pre.textContent = JSON.stringify({height: document.documentElement.scrollHeight, charts});
document.body.append(pre);
</script>"""


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @staticmethod
    def of(data: dict[str, float]) -> Box:
        return Box(data["x"], data["y"], data["width"], data["height"])

    def centre(self) -> tuple[int, int]:
        return int(self.x + self.width / 2), int(self.y + self.height / 2)


@dataclass(frozen=True)
class Drawn:
    fill: str
    value: float
    box: Box


@dataclass(frozen=True)
class Chart:
    figure: str
    box: Box
    marks: list[Drawn]


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: run make browser"
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--force-device-scale-factor=1", "--no-first-run", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def layout(page: Path, work: Path) -> tuple[int, list[Chart]]:
    """The page's height and its charts, as laid out at WIDTH."""
    html = page.read_text(encoding="utf-8")
    csp = html.index('<meta http-equiv="Content-Security-Policy"')
    probed = html[:csp] + html[html.index(">", csp) + 1 :].replace("</body>", PROBE + "</body>")
    copy = work / f"probe-{page.name}"
    copy.write_text(probed, encoding="utf-8")
    dom = chromium(work / "profile", f"--window-size={WIDTH},800", "--dump-dom", copy.as_uri())
    start = dom.stdout.index('<pre id="probe">') + len('<pre id="probe">')
    text = dom.stdout[start : dom.stdout.index("</pre>", start)]
    data: dict[str, Any] = json.loads(html_text.unescape(text))
    charts = [
        Chart(
            c["figure"],
            Box.of(c["box"]),
            [Drawn(m["fill"], m["value"], Box.of(m["box"])) for m in c["marks"]],
        )
        for c in data["charts"]
    ]
    return int(data["height"]), charts


def screenshot(page: Path, work: Path, height: int) -> Image.Image:
    shot = work / f"{page.stem}.png"
    chromium(
        work / "profile", f"--window-size={WIDTH},{height}", f"--screenshot={shot}", page.as_uri()
    )
    with Image.open(shot) as image:
        return image.convert("RGB")


def rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
