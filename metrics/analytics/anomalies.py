"""Input-error anomaly detection (SPEC M3.4).

These checks look for values that are probably *typed wrong*, not for changes
in performance (that is :mod:`metrics.analytics.spc`). A finding becomes a
data-quality issue and the value is quarantined until a steward decides.

Observations are ``(key, value)`` pairs. The key identifies the subject and
period of the value; by convention it is a tuple ``(series, period)`` (or
``(metric, subject, period)``: everything before the last element names the
series). Pass ``series_of=`` to group differently. Order within a series is the
order of the input list.

Kinds of finding and their default thresholds:

``unit_slip``
    The value is about 100× or 1000× (or 1/100, 1/1000) the median of its
    series: ``factor / (1 + tolerance) <= value / median <= factor · (1 +
    tolerance)`` (for the small slips ``median / value`` is tested), with
    ``tolerance = 0.25`` (so ×100 means a ratio in [80, 125]). Both bounds are
    inclusive. Needs at least 3 finite values in the series and a non-zero
    median; a value of the opposite sign to the median is never a slip.
``impossible``
    Outside a declared hard range (bounds inclusive: a value equal to a bound is
    allowed), negative where negatives are not allowed (``-0.0`` is not
    negative), not a whole number where the metric is integer-only, or not a
    finite number at all (missing, text, NaN, infinity).
``duplicate``
    The same key (subject + period) appears again, with the same or a different
    value. Every occurrence after the first is a finding; ``related`` lists all
    positions of that key and ``detail`` says whether the values conflict.
``spike``
    Robust z-score ``z = (x - median) / (1.4826 · MAD)`` beyond the threshold
    (``|z| > 3.5``, strict; Iglewicz & Hoaglin's recommended cut-off for the
    modified z-score). When the MAD is 0 (more than half the values equal) the
    scale falls back to ``1.2533 · mean absolute deviation from the median``;
    when that is 0 too the series is constant and nothing is a spike. Needs at
    least 5 finite values in the series.

:func:`detect_anomalies` runs every check; a value that is a unit slip is not
reported again as a spike, and impossible values are left out of the series
statistics.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "MAD_SCALE",
    "MEAN_AD_SCALE",
    "SPIKE_MIN_POINTS",
    "SPIKE_THRESHOLD",
    "UNIT_SLIP_FACTORS",
    "UNIT_SLIP_MIN_POINTS",
    "UNIT_SLIP_TOLERANCE",
    "Finding",
    "HardRange",
    "detect_anomalies",
    "detect_duplicates",
    "detect_impossible",
    "detect_spikes",
    "detect_unit_slips",
    "robust_z_scores",
]

UNIT_SLIP_FACTORS: tuple[float, ...] = (100.0, 1000.0)
UNIT_SLIP_TOLERANCE = 0.25
UNIT_SLIP_MIN_POINTS = 3
SPIKE_THRESHOLD = 3.5
SPIKE_MIN_POINTS = 5
#: MAD × 1.4826 estimates the standard deviation of normal data (1 / Φ⁻¹(3/4)).
MAD_SCALE = 1.4826
#: Mean absolute deviation × 1.2533 (√(π/2)) estimates it too; used when MAD is 0.
MEAN_AD_SCALE = 1.2533

Observation = tuple[Hashable, Any]
SeriesOf = Callable[[Hashable], Hashable]


@dataclass(frozen=True)
class Finding:
    """One suspect observation.

    ``index`` is its position in the input list, ``kind`` one of ``unit_slip``,
    ``impossible``, ``duplicate``, ``spike``; ``score`` is the ratio to the median
    (unit slips) or the robust z-score (spikes); ``related`` lists other
    positions involved (duplicates).
    """

    kind: str
    index: int
    key: Hashable
    value: Any
    detail: str
    score: float | None = None
    related: tuple[int, ...] = ()


@dataclass(frozen=True)
class HardRange:
    """What a metric's values can possibly be (declared with the metric)."""

    minimum: float | None = None
    maximum: float | None = None
    allow_negative: bool = True
    integer_only: bool = False


def default_series(key: Hashable) -> Hashable:
    """The series of a key: everything before its last element (the period).

    ``(series, period)`` -> ``series``; ``(metric, subject, period)`` ->
    ``(metric, subject)``; any other key -> ``None`` (one series for all).
    """
    if isinstance(key, tuple) and len(key) >= 2:
        return key[:-1] if len(key) > 2 else key[0]
    return None


def _number(value: Any) -> float | None:
    """The value as a finite float, or None when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _group(
    observations: Sequence[Observation],
    series_of: SeriesOf,
    skip: Iterable[int] = (),
) -> dict[Hashable, list[tuple[int, float]]]:
    skipped = set(skip)
    groups: dict[Hashable, list[tuple[int, float]]] = {}
    for i, (key, value) in enumerate(observations):
        number = _number(value)
        if number is None or i in skipped:
            continue
        groups.setdefault(series_of(key), []).append((i, number))
    return groups


def detect_impossible(
    observations: Sequence[Observation], hard_range: HardRange | None = None
) -> list[Finding]:
    """Values that cannot be right: not a finite number, or outside ``hard_range``."""
    rng = hard_range or HardRange()
    findings = []
    for i, (key, value) in enumerate(observations):
        number = _number(value)
        reasons: list[str] = []
        if number is None:
            reasons.append("not a finite number")
        else:
            if rng.minimum is not None and number < rng.minimum:
                reasons.append(f"below the minimum {rng.minimum:g}")
            if rng.maximum is not None and number > rng.maximum:
                reasons.append(f"above the maximum {rng.maximum:g}")
            if not rng.allow_negative and number < 0:
                reasons.append("negative where only non-negative values are allowed")
            if rng.integer_only and not number.is_integer():
                reasons.append("not a whole number where the metric counts")
        if reasons:
            findings.append(Finding("impossible", i, key, value, "; ".join(reasons)))
    return findings


def detect_duplicates(observations: Sequence[Observation]) -> list[Finding]:
    """Every repeat of a key already seen (same subject and period)."""
    positions: dict[Hashable, list[int]] = {}
    for i, (key, _value) in enumerate(observations):
        positions.setdefault(key, []).append(i)
    findings = []
    for key, where in positions.items():
        if len(where) < 2:
            continue
        first = observations[where[0]][1]
        for i in where[1:]:
            value = observations[i][1]
            same = value == first
            detail = (
                "repeats the value already recorded for this subject and period"
                if same
                else f"conflicts with the value {first!r} already recorded "
                "for this subject and period"
            )
            findings.append(
                Finding("duplicate", i, key, value, detail, related=tuple(where))
            )
    return findings


def detect_unit_slips(
    observations: Sequence[Observation],
    *,
    factors: Sequence[float] = UNIT_SLIP_FACTORS,
    tolerance: float = UNIT_SLIP_TOLERANCE,
    min_points: int = UNIT_SLIP_MIN_POINTS,
    series_of: SeriesOf = default_series,
    skip: Iterable[int] = (),
) -> list[Finding]:
    """Values about ``factor``× (or 1/``factor``) the median of their series."""
    if tolerance < 0:
        raise ValueError("tolerance must not be negative")
    findings = []
    for points in _group(observations, series_of, skip).values():
        if len(points) < min_points:
            continue
        median = statistics.median(v for _, v in points)
        if median == 0:
            continue
        for i, number in points:
            ratio = number / median
            if ratio <= 0:
                continue
            inverse = median / number
            for factor in factors:
                low, high = factor / (1 + tolerance), factor * (1 + tolerance)
                if low <= ratio <= high:
                    how = f"about {factor:g}× the series median {median:g}"
                elif low <= inverse <= high:
                    how = f"about 1/{factor:g} of the series median {median:g}"
                else:
                    continue
                key, value = observations[i]
                findings.append(Finding("unit_slip", i, key, value, how, score=ratio))
                break
    return sorted(findings, key=lambda f: f.index)


def robust_z_scores(values: Sequence[float]) -> list[float] | None:
    """``(x - median) / (1.4826 · MAD)`` for each value; None for a constant series.

    Falls back to ``1.2533 · mean |x - median|`` as the scale when the MAD is 0.
    """
    if not values:
        return None
    median = statistics.median(values)
    deviations = [abs(v - median) for v in values]
    scale = MAD_SCALE * statistics.median(deviations)
    if scale == 0:
        scale = MEAN_AD_SCALE * statistics.fmean(deviations)
    if scale == 0:
        return None
    return [(v - median) / scale for v in values]


def detect_spikes(
    observations: Sequence[Observation],
    *,
    threshold: float = SPIKE_THRESHOLD,
    min_points: int = SPIKE_MIN_POINTS,
    series_of: SeriesOf = default_series,
    skip: Iterable[int] = (),
) -> list[Finding]:
    """Values whose robust z-score is strictly beyond ``threshold`` in absolute value."""
    findings = []
    for points in _group(observations, series_of, skip).values():
        if len(points) < min_points:
            continue
        scores = robust_z_scores([v for _, v in points])
        if scores is None:
            continue
        for (i, _), z in zip(points, scores, strict=True):
            if abs(z) > threshold:
                key, value = observations[i]
                findings.append(
                    Finding(
                        "spike",
                        i,
                        key,
                        value,
                        f"robust z-score {z:.2f} beyond ±{threshold:g}",
                        score=z,
                    )
                )
    return sorted(findings, key=lambda f: f.index)


_KIND_ORDER = {"impossible": 0, "duplicate": 1, "unit_slip": 2, "spike": 3}


def detect_anomalies(
    observations: Sequence[Observation],
    *,
    hard_range: HardRange | None = None,
    factors: Sequence[float] = UNIT_SLIP_FACTORS,
    tolerance: float = UNIT_SLIP_TOLERANCE,
    spike_threshold: float = SPIKE_THRESHOLD,
    series_of: SeriesOf = default_series,
) -> list[Finding]:
    """All checks together, sorted by position then kind.

    Impossible values are excluded from the series statistics; a unit slip is
    not also reported as a spike.
    """
    impossible = detect_impossible(observations, hard_range)
    excluded = {f.index for f in impossible}
    slips = detect_unit_slips(
        observations,
        factors=factors,
        tolerance=tolerance,
        series_of=series_of,
        skip=excluded,
    )
    slipped = {f.index for f in slips}
    spikes = [
        f
        for f in detect_spikes(
            observations,
            threshold=spike_threshold,
            series_of=series_of,
            skip=excluded,
        )
        if f.index not in slipped
    ]
    findings = [*impossible, *detect_duplicates(observations), *slips, *spikes]
    return sorted(findings, key=lambda f: (f.index, _KIND_ORDER[f.kind]))
