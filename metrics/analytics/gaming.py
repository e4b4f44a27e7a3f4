"""Gaming-pattern detection (SPEC M5.3), pure computation.

Three checks look for patterns in *metrics*, never verdicts about people. A
finding is evidence for a non-punitive review (the review queue decides what,
if anything, it means); it must never go straight onto a person's record, and
its text describes numbers only.

``counter_metric``
    A metric improves while its counter-metric worsens (resolution time falls
    while the reopen rate climbs). Changes are relative to the earlier value
    and signed so that positive means "better" for that metric; a finding needs
    an improvement of at least ``min_improvement`` *and* a worsening of at
    least ``min_worsening`` (both inclusive, default 10 %). Moving away from an
    earlier value of exactly 0 counts as an unbounded relative change.
``end_of_period_spike``
    Values on the last ``last_days`` calendar days of each period (month,
    quarter or year) against all other days, robustly: the score is
    ``(median(tail) − median(rest)) / scale(rest)`` with ``scale = 1.4826 ·
    MAD`` (falling back to ``1.2533 · mean absolute deviation`` when the MAD is
    0). A finding needs a score of at least ``z_threshold`` (default 3.5). When
    the rest of the days are constant any tail median above them is a finding
    (the score is then unbounded and reported as ``None``).
``threshold_bunching``
    Many more values just past a threshold than just short of it. With
    ``passing="at_or_above"`` the windows are ``[T, T + ε)`` (just passing) and
    ``[T − ε, T)`` (just failing); with ``"at_or_below"`` they are ``(T − ε, T]``
    and ``(T, T + ε]``. Without bunching a smooth distribution puts about half
    of the values in each window, so the evidence is the ratio of the counts
    and an exact one-sided binomial test of ``p = 1/2``. A finding needs a
    ratio of at least ``min_ratio`` (default 2) and ``p < alpha`` (default
    0.05). Comparisons use the decimal values as written, so a value exactly on
    a window edge is classified exactly.
"""

from __future__ import annotations

import calendar
import datetime
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, Literal

from metrics.analytics.anomalies import MAD_SCALE, MEAN_AD_SCALE

__all__ = [
    "FindingKind",
    "GamingFinding",
    "MetricChange",
    "binomial_upper_tail",
    "bunching_counts",
    "check_counter_metric_pair",
    "end_of_period_spike",
    "relative_improvement",
    "spike_score",
    "threshold_bunching",
]


class FindingKind(StrEnum):
    COUNTER_METRIC = "counter_metric"
    END_OF_PERIOD_SPIKE = "end_of_period_spike"
    THRESHOLD_BUNCHING = "threshold_bunching"


@dataclass(frozen=True)
class GamingFinding:
    """A pattern worth a non-punitive review.

    ``subject`` is the caller's key for what was measured (e.g.
    ``"team:support/metric:resolution_time"``); ``evidence`` holds the numbers
    behind the finding; ``summary`` restates them in neutral words.
    """

    kind: FindingKind
    subject: str
    evidence: Mapping[str, Any]
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "subject": self.subject,
            "evidence": dict(self.evidence),
            "summary": self.summary,
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------
# Counter-metric pairs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricChange:
    """One metric's value before and after, and which direction is better."""

    metric: str
    before: float
    after: float
    higher_is_better: bool = field(default=True)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.before) and math.isfinite(self.after)):
            raise ValueError(f"{self.metric}: values must be finite numbers")


def relative_improvement(change: MetricChange) -> float:
    """Relative change signed so that positive means better.

    ``(after − before) / |before|`` (negated when lower is better). From an
    earlier value of 0 any move is ``±inf``; no move is 0.
    """
    delta = change.after - change.before
    if not change.higher_is_better:
        delta = -delta
    if change.before == 0:
        return 0.0 if delta == 0 else math.copysign(math.inf, delta)
    return delta / abs(change.before)


def check_counter_metric_pair(
    subject: str,
    primary: MetricChange,
    counter: MetricChange,
    *,
    min_improvement: float = 0.10,
    min_worsening: float = 0.10,
) -> GamingFinding | None:
    """A finding when ``primary`` improves while ``counter`` worsens enough."""
    if min_improvement < 0 or min_worsening < 0:
        raise ValueError("thresholds must be non-negative")
    improvement = relative_improvement(primary)
    worsening = -relative_improvement(counter)
    if improvement < min_improvement or worsening < min_worsening:
        return None
    evidence = {
        "primary_metric": primary.metric,
        "primary_before": primary.before,
        "primary_after": primary.after,
        "primary_relative_improvement": _finite(improvement),
        "counter_metric": counter.metric,
        "counter_before": counter.before,
        "counter_after": counter.after,
        "counter_relative_worsening": _finite(worsening),
        "min_improvement": min_improvement,
        "min_worsening": min_worsening,
    }
    summary = (
        f"{primary.metric} moved from {primary.before:g} to {primary.after:g} "
        f"(better) while its counter-metric {counter.metric} moved from "
        f"{counter.before:g} to {counter.after:g} (worse). The two are meant to "
        "move together; the pairing is worth a non-punitive review of how the "
        "metric is being produced."
    )
    return GamingFinding(FindingKind.COUNTER_METRIC, subject, evidence, summary)


# --------------------------------------------------------------------------
# End-of-period spikes
# --------------------------------------------------------------------------

Period = Literal["month", "quarter", "year"]


def _days_to_period_end(day: datetime.date, period: Period) -> int:
    """0 on the last day of the period, 1 the day before, and so on."""
    if period == "month":
        end_month = day.month
    elif period == "quarter":
        end_month = ((day.month - 1) // 3 + 1) * 3
    elif period == "year":
        end_month = 12
    else:
        raise ValueError(f"unknown period {period!r}")
    last = calendar.monthrange(day.year, end_month)[1]
    return (datetime.date(day.year, end_month, last) - day).days


def _robust_scale(values: Sequence[float]) -> float:
    centre = statistics.median(values)
    deviations = [abs(v - centre) for v in values]
    scale = MAD_SCALE * statistics.median(deviations)
    if scale == 0:
        scale = MEAN_AD_SCALE * statistics.fmean(deviations)
    return scale


def spike_score(tail: Sequence[float], rest: Sequence[float]) -> float:
    """``(median(tail) − median(rest)) / robust scale(rest)``.

    ``+inf`` / ``-inf`` when the rest is constant and the tail median differs;
    0 when both medians are equal.
    """
    if not tail or not rest:
        raise ValueError("both samples need at least one value")
    gap = statistics.median(tail) - statistics.median(rest)
    scale = _robust_scale(rest)
    if scale == 0:
        return 0.0 if gap == 0 else math.copysign(math.inf, gap)
    return gap / scale


def end_of_period_spike(
    subject: str,
    daily: Mapping[datetime.date, float] | Iterable[tuple[datetime.date, float]],
    *,
    period: Period = "month",
    last_days: int = 3,
    z_threshold: float = 3.5,
    min_rest: int = 10,
) -> GamingFinding | None:
    """A finding when the last ``last_days`` days of periods stand out upward.

    ``daily`` maps a date to that day's value (days without data are simply
    absent). Tail days of every period are pooled and compared with all the
    other days; at least ``min_rest`` other days are needed.
    """
    if last_days < 1:
        raise ValueError("last_days must be at least 1")
    items = list(daily.items()) if isinstance(daily, Mapping) else list(daily)
    tail: list[float] = []
    rest: list[float] = []
    for day, value in items:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{day}: values must be finite numbers")
        (tail if _days_to_period_end(day, period) < last_days else rest).append(value)
    if not tail or len(rest) < max(min_rest, 1):
        return None
    score = spike_score(tail, rest)
    if score < z_threshold:
        return None
    tail_median = statistics.median(tail)
    rest_median = statistics.median(rest)
    evidence = {
        "period": period,
        "last_days": last_days,
        "tail_days": len(tail),
        "other_days": len(rest),
        "tail_median": tail_median,
        "other_median": rest_median,
        "median_ratio": tail_median / rest_median if rest_median else None,
        "robust_z": _finite(score),
        "z_threshold": z_threshold,
    }
    summary = (
        f"Values on the last {last_days} day(s) of each {period} have a median of "
        f"{tail_median:g} against {rest_median:g} on other days "
        f"({len(tail)} vs {len(rest)} days). A concentration at period ends can "
        "come from deadlines, batching or reporting practice; worth a "
        "non-punitive review."
    )
    return GamingFinding(FindingKind.END_OF_PERIOD_SPIKE, subject, evidence, summary)


# --------------------------------------------------------------------------
# Bunching just past thresholds
# --------------------------------------------------------------------------


def binomial_upper_tail(successes: int, trials: int) -> Fraction:
    """Exact ``P(X ≥ successes)`` for ``X ~ Binomial(trials, 1/2)``."""
    if not 0 <= successes <= trials + 1:
        raise ValueError("need 0 <= successes <= trials + 1")
    hits = sum(math.comb(trials, i) for i in range(successes, trials + 1))
    return Fraction(hits, 2**trials)


def _decimal(value: float | int | str | Decimal) -> Decimal:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("values must be finite numbers")
        return Decimal(repr(value))
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError("values must be finite numbers")
    return result


def bunching_counts(
    values: Iterable[float | int | str | Decimal],
    *,
    threshold: float | int | str | Decimal,
    epsilon: float | int | str | Decimal,
    passing: Literal["at_or_above", "at_or_below"] = "at_or_above",
) -> tuple[int, int]:
    """``(just_passing, just_failing)``: counts in the two windows at the threshold."""
    t, eps = _decimal(threshold), _decimal(epsilon)
    if eps <= 0:
        raise ValueError("epsilon must be positive")
    if passing not in ("at_or_above", "at_or_below"):
        raise ValueError(f"unknown passing rule {passing!r}")
    just_passing = just_failing = 0
    for raw in values:
        v = _decimal(raw)
        if passing == "at_or_above":
            just_passing += t <= v < t + eps
            just_failing += t - eps <= v < t
        else:
            just_passing += t - eps < v <= t
            just_failing += t < v <= t + eps
    return just_passing, just_failing


def threshold_bunching(
    subject: str,
    values: Iterable[float | int | str | Decimal],
    *,
    threshold: float | int | str | Decimal,
    epsilon: float | int | str | Decimal,
    passing: Literal["at_or_above", "at_or_below"] = "at_or_above",
    min_ratio: float = 2.0,
    alpha: float = 0.05,
) -> GamingFinding | None:
    """A finding when values pile up just on the passing side of ``threshold``."""
    t, eps = _decimal(threshold), _decimal(epsilon)
    just_passing, just_failing = bunching_counts(
        values, threshold=t, epsilon=eps, passing=passing
    )
    trials = just_passing + just_failing
    if trials == 0:
        return None
    p_value = float(binomial_upper_tail(just_passing, trials))
    ratio = just_passing / just_failing if just_failing else math.inf
    if ratio < min_ratio or p_value >= alpha:
        return None
    evidence = {
        "threshold": str(t),
        "epsilon": str(eps),
        "passing": passing,
        "just_passing": just_passing,
        "just_failing": just_failing,
        "ratio": _finite(ratio),
        "binomial_p": p_value,
        "min_ratio": min_ratio,
        "alpha": alpha,
    }
    summary = (
        f"{just_passing} values lie just on the passing side of {t} and "
        f"{just_failing} just short of it (within {eps}); a smooth distribution "
        f"would split them about evenly (one-sided binomial p = {p_value:.3g}). "
        "Bunching at a threshold can come from rounding, measurement rules or "
        "how the threshold shapes work; worth a non-punitive review."
    )
    return GamingFinding(FindingKind.THRESHOLD_BUNCHING, subject, evidence, summary)
