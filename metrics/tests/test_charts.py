"""Server-side SVG control charts: well-formed, CSP-clean, faithful to the data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from metrics import charts
from metrics.analytics import spc

SVG = "{http://www.w3.org/2000/svg}"
VALUES = [10, 11, 9, 10, 12, 10, 9, 11, 10, 30]


def render(values=VALUES, labels=None, annotated=None, rules="nelson"):
    chart = spc.xmr_chart(values, baseline=min(len(values), 9), rules=rules)
    signals: dict[int, list[str]] = {}
    for s in chart.signals:
        signals.setdefault(s.index, []).append(s.rule)
    labels = labels or [f"2024-{i + 1:02d}" for i in range(len(values))]
    svg = charts.xmr_svg(
        labels=labels,
        values=values,
        chart=chart,
        signals=signals,
        annotated=annotated or {},
        title="Calls <made>",
        unit="calls",
    )
    return chart, signals, ET.fromstring(str(svg)), str(svg)  # noqa: S314 - own output


def test_the_svg_is_well_formed_and_carries_no_style_script_or_handlers():
    _, _, root, text = render()
    assert root.tag == f"{SVG}svg"
    for element in root.iter():
        assert element.tag not in (f"{SVG}style", f"{SVG}script", f"{SVG}foreignObject")
        for name in element.attrib:
            assert name != "style" and not name.lower().startswith("on"), name
    assert "javascript:" not in text and "href" not in text


def test_every_value_is_a_point_and_signals_are_highlighted_with_rule_names():
    _, signals, root, _ = render()
    assert signals == {9: ["nelson-1"]}
    points = [
        c for c in root.iter(f"{SVG}circle") if c.get("class") in ("point", "signal")
    ]
    assert len(points) == len(VALUES)
    (flagged,) = [c for c in points if c.get("class") == "signal"]
    assert flagged.get("fill") == charts.COLOURS["signal"]
    tip = flagged.find(f"{SVG}title").text
    assert tip.startswith("2024-10: 30") and "nelson-1: one point beyond 3 sigma" in tip
    assert points.index(flagged) == 9


def test_points_are_placed_against_the_limits():
    chart, _, root, _ = render()
    lines: dict[str, float] = {}
    for t in root.iter(f"{SVG}text"):  # the individuals chart's come first
        word = (t.text or "").split(" ")[0]
        if word in ("UCL", "LCL"):
            lines.setdefault(word, float(t.get("y")) - 4)
    points = [
        c for c in root.iter(f"{SVG}circle") if c.get("class") in ("point", "signal")
    ]
    ys = [float(c.get("cy")) for c in points]
    # SVG y grows downwards: the point above the UCL is drawn above its line,
    # the others between the limits.
    assert VALUES[9] > chart.limits.ucl and ys[9] < lines["UCL"]
    assert all(lines["UCL"] < y < lines["LCL"] for y in ys[:9])
    labels = [t.text for t in root.iter(f"{SVG}text") if t.text]
    assert f"UCL {charts._fmt(chart.limits.ucl)}" in labels
    assert f"MR̄ {charts._fmt(chart.limits.mr_bar)}" in labels


def test_annotations_are_marked_and_listed_in_the_tooltip():
    _, _, root, _ = render(annotated={3: ["External event"]})
    rings = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "annotated"]
    assert len(rings) == 1
    points = [
        c for c in root.iter(f"{SVG}circle") if c.get("class") in ("point", "signal")
    ]
    assert rings[0].get("cx") == points[3].get("cx")
    assert "annotation: External event" in points[3].find(f"{SVG}title").text


def test_text_is_escaped():
    labels = ['<script>alert("x")</script>', *[f"p{i}" for i in range(1, len(VALUES))]]
    _, _, root, text = render(labels=labels)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert root.find(f"{SVG}title").text == "Calls <made>"


def test_the_baseline_is_shaded_only_when_it_is_shorter_than_the_series():
    _, _, root, _ = render()  # baseline 9 of 10
    assert len(list(root.iter(f"{SVG}rect"))) == 1
    _, _, root, _ = render(values=VALUES[:8])  # baseline = all
    assert len(list(root.iter(f"{SVG}rect"))) == 0


def test_a_constant_series_still_draws():
    _, signals, root, _ = render(values=[5, 5, 5, 5])
    assert signals == {}
    assert len([c for c in root.iter(f"{SVG}circle") if c.get("class") == "point"]) == 4


@pytest.mark.parametrize(
    "low, high, expected",
    [
        (0, 10, [0, 5, 10]),
        (97.3, 143.1, [100, 120, 140]),
        (0, 4, [0, 1, 2, 3, 4]),
        (-1, 1, [-1, -0.5, 0, 0.5, 1]),
        (5, 5, [5]),
    ],
)
def test_nice_ticks(low, high, expected):
    assert charts.nice_ticks(low, high) == expected


@pytest.mark.parametrize(
    "value, text",
    [(0, "0"), (12, "12"), (1234.5, "1,234"), (0.12345, "0.1235"), (99.05, "99.05")],
)
def test_value_labels(value, text):
    assert charts._fmt(value) == text
