"""Charts as inline SVG text: horizontal bars (one or several series) and a line over days.

Every string that reaches the markup goes through :func:`esc`. Each mark carries its number in
``data-value`` and a ``<title>`` (the browser's tooltip) with the label and the shown value.
"""

from __future__ import annotations

import html
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#b07aa1", "#9c755f")
WIDTH = 760
LABEL_WIDTH = 230  # the labels' column, left of the bars
VALUE_WIDTH = 90  # room for the value printed after the longest bar
ROW = 22  # height of one bar row
TOP = 8


def esc(text: object) -> str:
    """Text for HTML or SVG content and quoted attributes."""
    return html.escape(str(text), quote=True)


def short(label: str, limit: int) -> str:
    """The label cut to ``limit`` columns (East Asian wide characters take two); charts show
    it in full in the tooltip."""
    used = 0
    for index, char in enumerate(label):
        used += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if used > limit:
            return label[: max(index - 1, 0)] + "…"
    return label


def _number(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True)
class Series:
    """One series of a bar chart: a name (for the legend) and one value per row (None: no bar)."""

    name: str
    values: Sequence[float | None]
    texts: Sequence[str]  # the values as shown


def bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    width: int = WIDTH,
    label_width: int = LABEL_WIDTH,
) -> str:
    """Horizontal bars, one row per label and one bar per series in each row, on one scale
    from 0 to the largest value."""
    rows = len(labels)
    per_row = len(series)
    row_height = ROW * per_row + (6 if per_row > 1 else 0)
    legend = 20 if per_row > 1 else 0
    height = TOP + legend + rows * row_height + 8
    plot = width - label_width - VALUE_WIDTH
    largest = max(
        (v for s in series for v in s.values if v is not None and math.isfinite(v) and v > 0),
        default=1.0,
    )
    out = [
        f'<svg class="chart" role="img" aria-label="{esc(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
    ]
    if per_row > 1:
        x = label_width
        for number, item in enumerate(series):
            colour = PALETTE[number % len(PALETTE)]
            out.append(
                f'<rect x="{x}" y="{TOP}" width="10" height="10" fill="{colour}"/>'
                f'<text class="legend" x="{x + 14}" y="{TOP + 9}">{esc(item.name)}</text>'
            )
            x += 24 + 7 * len(item.name)
    for row, label in enumerate(labels):
        y0 = TOP + legend + row * row_height
        out.append(
            f'<text class="label" x="{label_width - 8}" y="{y0 + row_height / 2 + 4:.1f}" '
            f'text-anchor="end"><title>{esc(label)}</title>{esc(short(label, label_width // 7))}</text>'
        )
        for number, item in enumerate(series):
            value = item.values[row]
            if value is None or not math.isfinite(value):
                continue
            y = y0 + number * ROW + 3
            length = plot * max(value, 0.0) / largest
            colour = PALETTE[number % len(PALETTE)]
            name = f"{item.name}: " if per_row > 1 else ""
            out.append(
                f'<rect class="bar" x="{label_width}" y="{y}" width="{length:.3f}" '
                f'height="{ROW - 6}" fill="{colour}" data-value="{_number(value)}">'
                f"<title>{esc(label)} · {esc(name)}{esc(item.texts[row])}</title></rect>"
                f'<text class="value" x="{label_width + length + 4:.3f}" y="{y + ROW - 10}">'
                f"{esc(item.texts[row])}</text>"
            )
    out.append("</svg>")
    return "".join(out)


def line(
    title: str, labels: Sequence[str], values: Sequence[float], texts: Sequence[str], top: float
) -> str:
    """A line through one point per label (days, in order), on a scale from 0 to ``top``."""
    height = 240
    left, right, upper, lower = 56, 44, 12, 40
    plot_w = WIDTH - left - right
    plot_h = height - upper - lower
    step = plot_w / max(len(labels) - 1, 1)
    out = [
        f'<svg class="chart" role="img" aria-label="{esc(title)}" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
    ]
    for tick in range(5):
        y = upper + plot_h * (1 - tick / 4)
        out.append(
            f'<line class="grid" x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{esc(f'{top * tick / 4:.0%}' if top == 1 else f'{top * tick / 4:g}')}</text>"
        )
    points = [
        (left + step * i if len(labels) > 1 else left + plot_w / 2, upper + plot_h * (1 - v / top))
        for i, v in enumerate(values)
    ]
    if len(points) > 1:
        path = " ".join(f"{x:.3f},{y:.3f}" for x, y in points)
        out.append(f'<polyline class="trend" points="{path}" fill="none" stroke="{PALETTE[0]}"/>')
    ticks = min(len(labels), 8)  # labelled points, evenly spread, both ends included
    labelled = {round(j * (len(labels) - 1) / max(ticks - 1, 1)) for j in range(ticks)}
    for i, ((x, y), label, value, text) in enumerate(
        zip(points, labels, values, texts, strict=True)
    ):
        out.append(
            f'<circle class="point" cx="{x:.3f}" cy="{y:.3f}" r="4" fill="{PALETTE[0]}" '
            f'data-value="{_number(value)}"><title>{esc(label)}: {esc(text)}</title></circle>'
        )
        if i in labelled:
            out.append(
                f'<text class="axis" x="{x:.1f}" y="{height - lower + 18}" '
                f'text-anchor="middle">{esc(label)}</text>'
            )
    out.append("</svg>")
    return "".join(out)
