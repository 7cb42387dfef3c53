"""Static SVG line charts, written as text: no plotting library, no JavaScript, nothing fetched when viewed.

`line_chart` draws series of (x, y) points on linear axes with "nice" ticks (1, 2, 2.5, 5 x 10^k steps), an
optional horizontal band (the estimate's cost range), and vertical markers (interruptions, resumes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
MARKER_COLORS = {"interrupted": "#d62728", "resumed": "#2ca02c", "killed": "#7f7f7f"}


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]
    color: str = PALETTE[0]
    dashed: bool = False
    dots: bool = False  # draw each point (sparse series such as evaluations)


@dataclass
class Marker:
    x: float
    label: str
    kind: str = "interrupted"  # interrupted | resumed | killed


@dataclass
class Band:
    low: float
    high: float
    label: str
    mid: float | None = None


@dataclass
class Chart:
    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    band: Band | None = None
    x_range: tuple[float, float] | None = None  # a shared x axis for charts read together
    empty_note: str = "no data recorded for this chart"


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """About `target` round tick values covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(lo / step), math.ceil(hi / step - 1e-9)
    ticks = [round(k * step, 12) for k in range(first, max(last, first + 1) + 1)]
    return ticks


def _label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e7 or abs(v) < 0.001:
        return f"{v:.2g}"
    if float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:,.4g}"


class _Frame:
    """Maps data to pixels inside the plot area."""

    def __init__(self, chart: Chart, width: int, height: int):
        xs = [x for s in chart.series for x, _ in s.points] + [m.x for m in chart.markers] + list(chart.x_range or ())
        ys = [y for s in chart.series for _, y in s.points]
        if chart.band:
            ys += [chart.band.low, chart.band.high]
        self.xt = nice_ticks(min(xs, default=0.0), max(xs, default=1.0))
        self.yt = nice_ticks(min(min(ys, default=0.0), 0.0) if ys and min(ys) >= 0 else min(ys, default=0.0),
                             max(ys, default=1.0))
        self.left, self.right, self.top, self.bottom = 64, width - 16, 34, height - 44

    def x(self, v: float) -> float:
        lo, hi = self.xt[0], self.xt[-1]
        return self.left + (v - lo) / (hi - lo) * (self.right - self.left)

    def y(self, v: float) -> float:
        lo, hi = self.yt[0], self.yt[-1]
        return self.bottom - (v - lo) / (hi - lo) * (self.bottom - self.top)


def _axes(f: _Frame, chart: Chart, width: int, height: int) -> list[str]:
    out = [f'<rect x="{f.left}" y="{f.top}" width="{f.right - f.left}" height="{f.bottom - f.top}" '
           'fill="#fff" stroke="#bbb"/>']
    for t in f.yt:
        y = f.y(t)
        out.append(f'<line x1="{f.left}" x2="{f.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{f.left - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(t)}</text>')
    for t in f.xt:
        x = f.x(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{f.bottom}" y2="{f.bottom + 4}" stroke="#888"/>')
        out.append(f'<text x="{x:.1f}" y="{f.bottom + 16}" text-anchor="middle">{_label(t)}</text>')
    out.append(f'<text x="{(f.left + f.right) / 2:.0f}" y="{height - 8}" text-anchor="middle">'
               f'{escape(chart.x_label)}</text>')
    out.append(f'<text x="14" y="{(f.top + f.bottom) / 2:.0f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(f.top + f.bottom) / 2:.0f})">{escape(chart.y_label)}</text>')
    out.append(f'<text x="{f.left}" y="20" class="title">{escape(chart.title)}</text>')
    return out


def _band(f: _Frame, band: Band) -> list[str]:
    y1, y2 = f.y(band.high), f.y(band.low)
    out = [f'<rect class="band" x="{f.left}" y="{y1:.1f}" width="{f.right - f.left}" height="{max(y2 - y1, 1):.1f}" '
           f'fill="#ff7f0e" fill-opacity="0.15"><title>{escape(band.label)}</title></rect>']
    if band.mid is not None:
        y = f.y(band.mid)
        out.append(f'<line x1="{f.left}" x2="{f.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ff7f0e" '
                   'stroke-dasharray="6 3"/>')
    out.append(f'<text x="{f.right - 4}" y="{y1 - 3:.1f}" text-anchor="end" fill="#b35900">{escape(band.label)}</text>')
    return out


def _series(f: _Frame, s: Series) -> list[str]:
    pts = " ".join(f"{f.x(x):.1f},{f.y(y):.1f}" for x, y in s.points)
    dash = ' stroke-dasharray="5 3"' if s.dashed else ""
    out = [f'<polyline class="series" fill="none" stroke="{s.color}" stroke-width="1.8"{dash} points="{pts}">'
           f'<title>{escape(s.name)}</title></polyline>'] if len(s.points) > 1 else []
    if s.dots or len(s.points) == 1:
        out += [f'<circle cx="{f.x(x):.1f}" cy="{f.y(y):.1f}" r="3" fill="{s.color}"/>' for x, y in s.points]
    return out


def _markers(f: _Frame, markers: list[Marker]) -> list[str]:
    out = []
    for i, m in enumerate(markers):
        x, color = f.x(m.x), MARKER_COLORS.get(m.kind, "#555")
        out.append(f'<line class="marker {m.kind}" x1="{x:.1f}" x2="{x:.1f}" y1="{f.top}" y2="{f.bottom}" '
                   f'stroke="{color}" stroke-dasharray="3 3"><title>{escape(m.label)}</title></line>')
        out.append(f'<text x="{x + 3:.1f}" y="{f.top + 12 + 11 * (i % 3)}" fill="{color}" '
                   f'font-size="10">{escape(m.label)}</text>')
    return out


def _legend(chart: Chart, width: int) -> list[str]:
    out, x = [], width - 16
    for s in reversed([s for s in chart.series if s.points]):
        text = escape(s.name)
        x -= 26 + 6.2 * len(s.name)
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        out.append(f'<line x1="{x:.0f}" x2="{x + 18:.0f}" y1="16" y2="16" stroke="{s.color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{x + 22:.0f}" y="20">{text}</text>')
    return out


def line_chart(chart: Chart, width: int = 720, height: int = 260) -> str:
    """One chart as an <svg> element; a chart without points says so instead of drawing empty axes."""
    if not any(s.points for s in chart.series):
        return (f'<svg class="chart empty" width="{width}" height="60" '
                f'role="img"><text x="8" y="20" class="title">{escape(chart.title)}</text>'
                f'<text x="8" y="44">{escape(chart.empty_note)}</text></svg>')
    f = _Frame(chart, width, height)
    parts = _axes(f, chart, width, height)
    if chart.band:
        parts += _band(f, chart.band)
    for s in chart.series:
        parts += _series(f, s)
    parts += _markers(f, chart.markers) + _legend(chart, width)
    body = "\n".join(parts)
    return (f'<svg class="chart" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(chart.title)}">\n{body}\n</svg>')
