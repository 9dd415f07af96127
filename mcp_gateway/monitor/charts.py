"""Charts drawn on the server as inline SVG (no JavaScript): a phase band, a line, a histogram, bars.

Each function returns `markupsafe.Markup`; every label is escaped. Templates call them as
``charts.phase_band(...)`` (the app puts this module in the Jinja globals).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")


def colour(label: str) -> str:
    """A stable colour per label (the same phase is the same colour on every page)."""
    return PALETTE[int(hashlib.sha1(label.encode()).hexdigest(), 16) % len(PALETTE)]


def phase_band(segments: Sequence[tuple[str, float, float]], total_s: float, width: int = 720, height: int = 30) -> Markup:
    """A timeline band: one coloured rectangle per (label, start_s, end_s), seconds from the start."""
    total = max(total_s, 1e-9)
    parts = [f'<svg class="band" role="img" aria-label="DAQ phases" width="{width}" height="{height + 16}" '
             f'viewBox="0 0 {width} {height + 16}">']
    for label, start, end in segments:
        x = width * max(start, 0.0) / total
        w = max(width * max(end - start, 0.0) / total, 1.0)
        text = escape(label)
        parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{colour(label)}">'
                     f'<title>{text}: {start:.2f}–{end:.2f} s</title></rect>')
        if w > 50:
            parts.append(f'<text x="{x + 3:.1f}" y="{height / 2 + 4:.1f}" font-size="11" fill="#fff">{text}</text>')
    parts.append(f'<text x="0" y="{height + 13}" font-size="10">0 s</text>'
                 f'<text x="{width}" y="{height + 13}" font-size="10" text-anchor="end">{total_s:.1f} s</text></svg>')
    return Markup("".join(parts))


def line(points: Sequence[tuple[float, float]], label: str, unit: str = "", width: int = 360, height: int = 120) -> Markup:
    """A line over (x seconds, y) points, with its last value and maximum."""
    head = (f'<svg class="line" role="img" aria-label="{escape(label)}" width="{width}" height="{height + 18}" '
            f'viewBox="0 0 {width} {height + 18}">')
    if not points:
        return Markup(head + f'<text x="4" y="14" font-size="11">{escape(label)}: no data yet</text></svg>')
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    top = max(max(ys), 1e-9)
    span = max(x1 - x0, 1e-9)
    path = " ".join(f"{4 + (width - 8) * (x - x0) / span:.1f},{height - (height - 20) * y / top:.1f}" for x, y in points)
    return Markup(head + f'<polyline fill="none" stroke="#4e79a7" stroke-width="2" points="{path}"/>'
                  f'<text x="4" y="12" font-size="11">{escape(label)}: {ys[-1]:g}{escape(unit)} (max {max(ys):g})</text>'
                  f'<text x="4" y="{height + 14}" font-size="10">{x0:.0f} s</text>'
                  f'<text x="{width - 4}" y="{height + 14}" font-size="10" text-anchor="end">{x1:.0f} s</text></svg>')


def histogram(values: Sequence[float], label: str, bins: int = 20, width: int = 360, height: int = 120) -> Markup:
    """Counts of ``values`` in ``bins`` equal bins."""
    head = (f'<svg class="histogram" role="img" aria-label="{escape(label)}" width="{width}" height="{height + 18}" '
            f'viewBox="0 0 {width} {height + 18}">')
    if not values:
        return Markup(head + f'<text x="4" y="14" font-size="11">{escape(label)}: no data</text></svg>')
    low, high = min(values), max(values)
    step = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / step), bins - 1)] += 1
    most = max(counts)
    bar = (width - 8) / bins
    parts = [head]
    for i, count in enumerate(counts):
        h = (height - 20) * count / most
        parts.append(f'<rect x="{4 + i * bar:.1f}" y="{height - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                     f'fill="#59a14f"><title>{low + i * step:.1f}–{low + (i + 1) * step:.1f}: {count}</title></rect>')
    parts.append(f'<text x="4" y="12" font-size="11">{escape(label)} ({len(values)})</text>'
                 f'<text x="4" y="{height + 14}" font-size="10">{low:.1f}</text>'
                 f'<text x="{width - 4}" y="{height + 14}" font-size="10" text-anchor="end">{high:.1f}</text></svg>')
    return Markup("".join(parts))


def columns(points: Sequence[tuple[float, int]], label: str, width: int = 360, height: int = 120) -> Markup:
    """One column per (x seconds, count) bin, as the bins come."""
    if not points:
        return histogram([], label, width=width, height=height)
    most = max(c for _, c in points) or 1
    bar = (width - 8) / len(points)
    parts = [f'<svg class="columns" role="img" aria-label="{escape(label)}" width="{width}" height="{height + 18}" '
             f'viewBox="0 0 {width} {height + 18}">']
    for i, (x, count) in enumerate(points):
        h = (height - 20) * count / most
        parts.append(f'<rect x="{4 + i * bar:.1f}" y="{height - h:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" '
                     f'fill="#4e79a7"><title>{x:.2f} s: {count}</title></rect>')
    parts.append(f'<text x="4" y="12" font-size="11">{escape(label)} (max {most})</text>'
                 f'<text x="4" y="{height + 14}" font-size="10">{points[0][0]:.0f} s</text>'
                 f'<text x="{width - 4}" y="{height + 14}" font-size="10" text-anchor="end">{points[-1][0]:.1f} s</text></svg>')
    return Markup("".join(parts))


def bars(items: Sequence[tuple[str, float]], unit: str = "s", width: int = 480) -> Markup:
    """Horizontal bars, one per (label, value)."""
    height = 18 * len(items) + 4
    top = max((v for _, v in items), default=0.0) or 1.0
    parts = [f'<svg class="bars" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for i, (label, value) in enumerate(items):
        w = (width - 200) * value / top
        parts.append(f'<text x="0" y="{i * 18 + 13}" font-size="11">{escape(label)}</text>'
                     f'<rect x="140" y="{i * 18 + 2}" width="{w:.1f}" height="14" fill="{colour(label)}"/>'
                     f'<text x="{144 + w:.1f}" y="{i * 18 + 13}" font-size="11">{value:g} {escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def binned(items: Sequence[tuple[str, int]], label: str, width: int = 360, height: int = 120) -> Markup:
    """One column per already counted (bin label, count), e.g. a log-binned latency histogram."""
    head = (f'<svg class="histogram" role="img" aria-label="{escape(label)}" width="{width}" height="{height + 18}" '
            f'viewBox="0 0 {width} {height + 18}">')
    if not items:
        return Markup(head + f'<text x="4" y="14" font-size="11">{escape(label)}: no data</text></svg>')
    most = max(c for _, c in items) or 1
    bar = (width - 8) / len(items)
    parts = [head]
    for i, (name, count) in enumerate(items):
        h = (height - 20) * count / most
        parts.append(f'<rect x="{4 + i * bar:.1f}" y="{height - h:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" '
                     f'fill="#59a14f"><title>{escape(name)}: {count}</title></rect>')
    parts.append(f'<text x="4" y="12" font-size="11">{escape(label)} ({sum(c for _, c in items)})</text>'
                 f'<text x="4" y="{height + 14}" font-size="10">{escape(items[0][0])}</text>'
                 f'<text x="{width - 4}" y="{height + 14}" font-size="10" text-anchor="end">{escape(items[-1][0])}</text></svg>')
    return Markup("".join(parts))
