"""Server-side SVG control charts (M7.1): no JavaScript, no inline styles.

The page's Content-Security-Policy allows styles only from the site's own
files (``style-src 'self'``), so the chart uses SVG *presentation attributes*
(``fill``, ``stroke``, ``stroke-dasharray``, ``font-size`` …), never ``style``
attributes or ``<style>`` elements. Everything interpolated is escaped.

:func:`xmr_svg` draws the individuals chart (values, centre line, UCL/LCL from
the baseline, the baseline shaded, signals in red with their rule names,
annotated points ringed) above its moving-range chart (MR̄ and its UCL).
Hovering a point shows its period, value, signals and annotations through SVG
``<title>`` elements, which screen readers read too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from metrics.analytics import spc

__all__ = ["COLOURS", "nice_ticks", "xmr_svg"]

COLOURS = {
    "axis": "#555555",
    "grid": "#e3e3e3",
    "line": "#1f4e79",
    "point": "#1f4e79",
    "signal": "#c0392b",
    "centre": "#2e7d32",
    "limit": "#c0392b",
    "baseline": "#eef3f8",
    "annotation": "#8e44ad",
    "text": "#333333",
}

_FONT = 'font-family="sans-serif"'


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]`` (1, 2, 5 × 10ⁿ steps)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    """A label for a value: whole numbers plain, others to 4 significant digits."""
    if float(value).is_integer() or abs(value) >= 1000:
        return f"{value:,.0f}"
    decimals = max(0, 3 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")


def _attrs(**attrs: Any) -> str:
    return " ".join(
        f'{name.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
        for name, value in attrs.items()
        if value is not None
    )


class _Panel:
    """A plotting area mapping (index, value) to SVG coordinates."""

    def __init__(
        self,
        *,
        top: float,
        height: float,
        left: float,
        width: float,
        n: int,
        low: float,
        high: float,
    ) -> None:
        self.top, self.height, self.left, self.width = top, height, left, width
        self.n = n
        pad = (high - low) * 0.08 or max(abs(high), 1.0) * 0.1
        self.low, self.high = low - pad, high + pad

    def x(self, index: float) -> float:
        if self.n <= 1:
            return self.left + self.width / 2
        return self.left + self.width * index / (self.n - 1)

    def y(self, value: float) -> float:
        span = self.high - self.low
        return self.top + self.height * (1 - (value - self.low) / span)


def _line(panel: _Panel, value: float, colour: str, label: str, dashed: bool) -> str:
    y = panel.y(value)
    right = panel.left + panel.width
    return (
        f"<line {_attrs(x1=f'{panel.left:.1f}', y1=f'{y:.1f}', x2=f'{right:.1f}', y2=f'{y:.1f}', stroke=colour, stroke_width='1.5', stroke_dasharray='6 4' if dashed else None)}/>"
        f"<text {_attrs(x=f'{right + 4:.1f}', y=f'{y + 4:.1f}', fill=colour, font_size='11')} {_FONT}>"
        f"{escape(label)}</text>"
    )


def _axes(panel: _Panel, title: str) -> list[str]:
    parts = []
    for tick in nice_ticks(panel.low, panel.high):
        y = panel.y(tick)
        parts.append(
            f"<line {_attrs(x1=f'{panel.left:.1f}', y1=f'{y:.1f}', x2=f'{panel.left + panel.width:.1f}', y2=f'{y:.1f}', stroke=COLOURS['grid'], stroke_width='1')}/>"
            f"<text {_attrs(x=f'{panel.left - 6:.1f}', y=f'{y + 4:.1f}', fill=COLOURS['text'], font_size='11', text_anchor='end')} {_FONT}>"
            f"{escape(_fmt(tick))}</text>"
        )
    bottom = panel.top + panel.height
    parts.append(
        f"<line {_attrs(x1=f'{panel.left:.1f}', y1=f'{panel.top:.1f}', x2=f'{panel.left:.1f}', y2=f'{bottom:.1f}', stroke=COLOURS['axis'], stroke_width='1')}/>"
        f"<line {_attrs(x1=f'{panel.left:.1f}', y1=f'{bottom:.1f}', x2=f'{panel.left + panel.width:.1f}', y2=f'{bottom:.1f}', stroke=COLOURS['axis'], stroke_width='1')}/>"
        f"<text {_attrs(x=f'{panel.left:.1f}', y=f'{panel.top - 8:.1f}', fill=COLOURS['text'], font_size='12', font_weight='bold')} {_FONT}>"
        f"{escape(title)}</text>"
    )
    return parts


def _x_labels(panel: _Panel, labels: Sequence[str], y: float) -> list[str]:
    n = len(labels)
    every = max(1, math.ceil(n / 12))
    parts = []
    for i, label in enumerate(labels):
        if i % every and i != n - 1:
            continue
        parts.append(
            f"<text {_attrs(x=f'{panel.x(i):.1f}', y=f'{y:.1f}', fill=COLOURS['text'], font_size='10', text_anchor='middle')} {_FONT}>"
            f"{escape(label)}</text>"
        )
    return parts


def xmr_svg(
    *,
    labels: Sequence[str],
    values: Sequence[float],
    chart: spc.XmRChart,
    signals: dict[int, list[str]] | None = None,
    annotated: dict[int, list[str]] | None = None,
    title: str = "Control chart",
    unit: str = "",
    width: int = 760,
) -> SafeString:
    """The XmR chart as one inline SVG element (individuals over moving range)."""
    signals = signals or {}
    annotated = annotated or {}
    n = len(values)
    lim = chart.limits
    left, right, top = 64, 96, 28
    plot_w = width - left - right
    x_h, mr_h, gap = 230, 110, 64
    height = top + x_h + gap + mr_h + 40
    lo = min([*values, lim.lcl, lim.center])
    hi = max([*values, lim.ucl, lim.center])
    xp = _Panel(top=top, height=x_h, left=left, width=plot_w, n=n, low=lo, high=hi)
    mrs = [m for m in chart.moving_ranges if m is not None]
    mp = _Panel(
        top=top + x_h + gap,
        height=mr_h,
        left=left,
        width=plot_w,
        n=n,
        low=0.0,
        high=max([*mrs, lim.mr_ucl, lim.mr_bar, 0.0]) or 1.0,
    )
    signal_count = len(signals)
    summary = (
        f"{n} values; centre {_fmt(lim.center)}, UCL {_fmt(lim.ucl)}, LCL "
        f"{_fmt(lim.lcl)} from the first {lim.baseline}; "
        f"{signal_count} point(s) signal."
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" {_attrs(viewBox=f"0 0 {width} {height}", width="100%", role="img", aria_labelledby="xmr-title xmr-desc", class_="control-chart")}>',
        f'<title id="xmr-title">{escape(title)}</title>',
        f'<desc id="xmr-desc">{escape(summary)}</desc>',
    ]
    # The baseline: where the limits come from.
    if lim.baseline < n:
        x_end = xp.x(lim.baseline - 0.5)
        parts.append(
            f"<rect {_attrs(x=f'{left:.1f}', y=f'{top:.1f}', width=f'{x_end - left:.1f}', height=str(x_h), fill=COLOURS['baseline'])}>"
            f"<title>Baseline: the first {lim.baseline} values set the limits</title></rect>"
        )
    parts += _axes(xp, f"Individuals ({unit})" if unit else "Individuals")
    parts.append(_line(xp, lim.ucl, COLOURS["limit"], f"UCL {_fmt(lim.ucl)}", True))
    parts.append(
        _line(xp, lim.center, COLOURS["centre"], f"X̄ {_fmt(lim.center)}", False)
    )
    parts.append(_line(xp, lim.lcl, COLOURS["limit"], f"LCL {_fmt(lim.lcl)}", True))
    if n > 1:
        path = " ".join(f"{xp.x(i):.1f},{xp.y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f"<polyline {_attrs(points=path, fill='none', stroke=COLOURS['line'], stroke_width='1.5')}/>"
        )
    for i, value in enumerate(values):
        cx, cy = xp.x(i), xp.y(value)
        rules = signals.get(i, [])
        notes = annotated.get(i, [])
        tip = [f"{labels[i]}: {_fmt(value)}"]
        tip += [f"signal {r}: {spc.RULE_DESCRIPTIONS.get(r, r)}" for r in rules]
        tip += [f"annotation: {k}" for k in notes]
        if notes:
            parts.append(
                f"<circle {_attrs(cx=f'{cx:.1f}', cy=f'{cy:.1f}', r='8', fill='none', stroke=COLOURS['annotation'], stroke_width='2', class_='annotated')}/>"
            )
        colour = COLOURS["signal"] if rules else COLOURS["point"]
        parts.append(
            f"<circle {_attrs(cx=f'{cx:.1f}', cy=f'{cy:.1f}', r='5' if rules else '3.5', fill=colour, class_='signal' if rules else 'point')}>"
            f"<title>{escape('; '.join(tip))}</title></circle>"
        )
        if rules:
            short = ", ".join(
                r.replace("nelson-", "N").replace("we-", "WE") for r in rules
            )
            parts.append(
                f"<text {_attrs(x=f'{cx:.1f}', y=f'{cy - 9:.1f}', fill=COLOURS['signal'], font_size='10', text_anchor='middle')} {_FONT}>"
                f"{escape(short)}</text>"
            )
    parts += _x_labels(xp, labels, top + x_h + 16)
    # Moving range chart.
    parts += _axes(mp, "Moving range")
    parts.append(
        _line(mp, lim.mr_ucl, COLOURS["limit"], f"UCL {_fmt(lim.mr_ucl)}", True)
    )
    parts.append(
        _line(mp, lim.mr_bar, COLOURS["centre"], f"MR̄ {_fmt(lim.mr_bar)}", False)
    )
    mr_points = [(i, m) for i, m in enumerate(chart.moving_ranges) if m is not None]
    if len(mr_points) > 1:
        path = " ".join(f"{mp.x(i):.1f},{mp.y(m):.1f}" for i, m in mr_points)
        parts.append(
            f"<polyline {_attrs(points=path, fill='none', stroke=COLOURS['line'], stroke_width='1')}/>"
        )
    for i, m in mr_points:
        above = m > lim.mr_ucl
        parts.append(
            f"<circle {_attrs(cx=f'{mp.x(i):.1f}', cy=f'{mp.y(m):.1f}', r='3', fill=COLOURS['signal'] if above else COLOURS['point'])}>"
            f"<title>{escape(f'{labels[i]}: moving range {_fmt(m)}')}</title></circle>"
        )
    parts += _x_labels(mp, labels, top + x_h + gap + mr_h + 16)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolation is escaped
