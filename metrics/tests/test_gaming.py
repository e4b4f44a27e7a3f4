"""Gaming-pattern detection (M5.3): counter-metric pairs, period-end spikes, bunching."""

from __future__ import annotations

import datetime
import json
import random
from fractions import Fraction

import pytest
from scipy.stats import binomtest

from metrics.analytics.gaming import (
    FindingKind,
    MetricChange,
    binomial_upper_tail,
    bunching_counts,
    check_counter_metric_pair,
    end_of_period_spike,
    relative_improvement,
    spike_score,
    threshold_bunching,
)

JUDGEMENT_WORDS = ("cheat", "fraud", "manipulat", "dishonest", "blame", "fault", "lazy")


def assert_neutral(finding):
    text = finding.summary.lower()
    assert "non-punitive" in text
    assert not any(word in text for word in JUDGEMENT_WORDS)
    json.dumps(finding.to_dict())  # evidence is plain JSON (no inf, no dates)


# --- counter-metric pairs ----------------------------------------------------


def resolution(before, after):
    return MetricChange("resolution_hours", before, after, higher_is_better=False)


def reopen(before, after):
    return MetricChange("reopen_rate", before, after, higher_is_better=False)


def test_faster_resolution_with_more_reopens_is_a_finding():
    finding = check_counter_metric_pair(
        "team:support", resolution(10.0, 7.0), reopen(0.05, 0.08)
    )
    assert finding is not None
    assert finding.kind is FindingKind.COUNTER_METRIC
    assert finding.subject == "team:support"
    assert finding.evidence["primary_relative_improvement"] == pytest.approx(0.3)
    assert finding.evidence["counter_relative_worsening"] == pytest.approx(0.6)
    assert_neutral(finding)


@pytest.mark.parametrize(
    "primary, counter",
    [
        ((10.0, 7.0), (0.05, 0.04)),  # both improve
        ((10.0, 7.0), (0.05, 0.05)),  # counter flat
        ((10.0, 9.5), (0.05, 0.08)),  # primary improves only 5 %
        ((10.0, 12.0), (0.05, 0.08)),  # both worsen: a problem, not this pattern
        ((10.0, 7.0), (0.050, 0.054)),  # counter worsens only 8 %
    ],
)
def test_no_finding_without_the_opposing_moves(primary, counter):
    assert (
        check_counter_metric_pair("s", resolution(*primary), reopen(*counter)) is None
    )


def test_thresholds_are_inclusive_and_configurable():
    # Exactly 25 % better and exactly 50 % worse (values exact in binary).
    at_edge = check_counter_metric_pair(
        "s",
        resolution(8.0, 6.0),
        reopen(0.25, 0.375),
        min_improvement=0.25,
        min_worsening=0.5,
    )
    assert at_edge is not None
    assert (
        check_counter_metric_pair(
            "s",
            resolution(8.0, 6.0),
            reopen(0.25, 0.375),
            min_improvement=0.25,
            min_worsening=0.51,
        )
        is None
    )


def test_direction_and_zero_baseline():
    assert relative_improvement(MetricChange("sales", 100, 120)) == pytest.approx(0.2)
    assert relative_improvement(MetricChange("cost", 100, 120, False)) == pytest.approx(
        -0.2
    )
    assert relative_improvement(MetricChange("neg", -50, -40)) == pytest.approx(0.2)
    assert relative_improvement(reopen(0.0, 0.0)) == 0
    finding = check_counter_metric_pair("s", resolution(10, 8), reopen(0.0, 0.02))
    assert finding is not None
    assert finding.evidence["counter_relative_worsening"] is None  # unbounded
    assert_neutral(finding)
    with pytest.raises(ValueError):
        MetricChange("x", float("nan"), 1.0)
    with pytest.raises(ValueError):
        check_counter_metric_pair("s", resolution(1, 1), reopen(1, 1), min_worsening=-1)


# --- end-of-period spikes ----------------------------------------------------


def daily_series(rng, start, end, base=100.0, noise=10.0, tail_boost=0.0, last=3):
    values = {}
    day = start
    while day <= end:
        next_month = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
        to_end = (next_month - datetime.timedelta(days=1) - day).days
        boost = tail_boost if to_end < last else 0.0
        values[day] = rng.gauss(base, noise) + boost
        day += datetime.timedelta(days=1)
    return values


def test_month_end_spike_is_found_and_plain_series_is_not():
    start, end = datetime.date(2024, 1, 1), datetime.date(2024, 6, 30)
    plain = daily_series(random.Random(1), start, end)
    assert end_of_period_spike("metric:closed_deals", plain) is None
    spiky = daily_series(random.Random(1), start, end, tail_boost=60.0)
    finding = end_of_period_spike("metric:closed_deals", spiky)
    assert finding is not None
    assert finding.kind is FindingKind.END_OF_PERIOD_SPIKE
    assert finding.evidence["tail_days"] == 18  # 3 days x 6 months
    assert finding.evidence["other_days"] == 182 - 18
    assert finding.evidence["robust_z"] >= 3.5
    assert_neutral(finding)


def test_spike_score_is_robust_to_outliers_in_the_rest():
    rng = random.Random(4)
    rest = [rng.gauss(50, 5) for _ in range(200)]
    tail = [rng.gauss(50, 5) for _ in range(12)]
    calm = spike_score(tail, rest)
    wild = spike_score(tail, [*rest[:-3], 10_000.0, 20_000.0, -9_000.0])
    assert abs(calm) < 1.5
    assert abs(wild - calm) < 0.3
    assert spike_score([5.0], [1.0, 1.0, 1.0]) == float("inf")
    assert spike_score([1.0], [1.0, 1.0]) == 0
    with pytest.raises(ValueError):
        spike_score([], [1.0])


def test_constant_rest_with_higher_tail_is_reported_with_unbounded_score():
    days = {datetime.date(2023, 3, d): 5.0 for d in range(1, 32)}
    for d in (29, 30, 31):
        days[datetime.date(2023, 3, d)] = 9.0
    finding = end_of_period_spike("s", days)
    assert finding is not None and finding.evidence["robust_z"] is None


def test_period_ends_follow_the_calendar():
    days = {datetime.date(2023, 2, d): 1.0 for d in range(1, 29)}
    days.update({datetime.date(2023, 2, d): 50.0 for d in (26, 27, 28)})
    assert end_of_period_spike("s", days, min_rest=5) is not None
    leap = {datetime.date(2024, 2, d): 1.0 for d in range(1, 30)}
    leap.update({datetime.date(2024, 2, d): 50.0 for d in (26, 27, 28)})
    # In a leap year the 26th is not among the last three days: the tail
    # (27, 28, 29) has median 50 vs a rest that now includes a 50 → still found,
    # but the counts differ.
    found = end_of_period_spike("s", leap, min_rest=5)
    assert found is not None and found.evidence["tail_days"] == 3
    assert found.evidence["tail_median"] == 50.0
    only_29 = {datetime.date(2024, 2, d): 1.0 for d in range(1, 30)}
    only_29[datetime.date(2024, 2, 26)] = 50.0  # four days before the end
    assert end_of_period_spike("s", only_29, min_rest=5) is None


def test_quarter_period_only_counts_quarter_ends():
    rng = random.Random(8)
    start = datetime.date(2023, 1, 1)
    days = {start + datetime.timedelta(n): rng.gauss(10, 1) for n in range(365)}
    for month in (1, 2, 4, 5, 7, 8, 10, 11):  # month ends that are not quarter ends
        last = (datetime.date(2023, month + 1, 1) - datetime.timedelta(1)).day
        for d in range(last - 2, last + 1):
            days[datetime.date(2023, month, d)] = 40.0
    assert end_of_period_spike("s", days, period="month") is not None
    assert end_of_period_spike("s", days, period="quarter") is None
    assert end_of_period_spike("s", days, period="year") is None


def test_too_little_data_and_bad_input():
    few = {datetime.date(2024, 1, d): 1.0 for d in range(25, 32)}
    assert end_of_period_spike("s", few) is None  # fewer than 10 other days
    with pytest.raises(ValueError):
        end_of_period_spike("s", few, last_days=0)
    with pytest.raises(ValueError):
        end_of_period_spike("s", few, period="week")
    with pytest.raises(ValueError):
        end_of_period_spike("s", [(datetime.date(2024, 1, 1), float("inf"))])


# --- bunching just past thresholds -------------------------------------------


def test_binomial_tail_matches_scipy():
    rng = random.Random(12)
    for _ in range(200):
        trials = rng.randint(1, 400)
        successes = rng.randint(0, trials)
        expected = binomtest(successes, trials, 0.5, alternative="greater").pvalue
        assert float(binomial_upper_tail(successes, trials)) == pytest.approx(
            expected, rel=1e-9, abs=1e-300
        )
    assert binomial_upper_tail(3, 3) == Fraction(1, 8)
    assert binomial_upper_tail(0, 5) == 1
    assert binomial_upper_tail(6, 5) == 0


def test_bunching_above_a_threshold():
    rng = random.Random(21)
    smooth = [round(rng.uniform(80, 100), 2) for _ in range(2000)]
    assert threshold_bunching("metric:csat", smooth, threshold=90, epsilon=1) is None
    nudged = list(smooth)
    moved = 0
    for i, v in enumerate(nudged):
        if 89 <= v < 90 and moved < 60:
            nudged[i] = round(v + 1, 2)  # just short of 90 → just past it
            moved += 1
    finding = threshold_bunching("metric:csat", nudged, threshold=90, epsilon=1)
    assert finding is not None
    assert finding.kind is FindingKind.THRESHOLD_BUNCHING
    ev = finding.evidence
    passing = sum(90 <= v < 91 for v in nudged)
    failing = sum(89 <= v < 90 for v in nudged)
    assert (ev["just_passing"], ev["just_failing"]) == (passing, failing)
    assert ev["ratio"] == pytest.approx(passing / failing)
    assert ev["binomial_p"] == pytest.approx(
        binomtest(passing, passing + failing, 0.5, alternative="greater").pvalue
    )
    assert_neutral(finding)


def test_window_edges_are_exact_decimals():
    # 0.2 + 0.1 is 0.30000000000000004 in binary floating point, which would put
    # 0.3 inside [0.2, 0.3); the windows use the decimal values instead.
    assert 0.3 < 0.2 + 0.1
    values = [0.2] * 10 + [0.2999] * 3 + [0.3] * 5 + [0.1] * 4 + [0.199] * 2
    assert bunching_counts(values, threshold=0.2, epsilon=0.1) == (13, 6)
    assert bunching_counts(values, threshold="0.2", epsilon="0.1") == (13, 6)
    below = bunching_counts(values, threshold=0.2, epsilon=0.1, passing="at_or_below")
    assert below == (12, 8)  # (0.1, 0.2] vs (0.2, 0.3]


def test_bunching_below_a_ceiling():
    # Target "at most 48 hours": values pile up in (47, 48] rather than (48, 49].
    values = [47.5] * 30 + [48.0] * 10 + [48.5] * 6 + [49.0] * 1 + [47.0] * 40
    finding = threshold_bunching(
        "metric:ticket_hours", values, threshold=48, epsilon=1, passing="at_or_below"
    )
    assert finding is not None
    assert finding.evidence["just_passing"] == 40  # 47.5 and 48.0, not 47.0
    assert finding.evidence["just_failing"] == 7  # 48.5 and 49.0
    above = threshold_bunching("s", values, threshold=48, epsilon=1)
    assert above is None  # read the other way there is no bunching


def test_bunching_needs_both_ratio_and_significance():
    few = [10.0] * 4 + [9.5]  # ratio 4 but p = 3/16
    assert threshold_bunching("s", few, threshold=10, epsilon=1) is None
    assert threshold_bunching("s", few, threshold=10, epsilon=1, alpha=0.2) is not None
    many = [10.0] * 550 + [9.5] * 450  # p tiny but ratio 1.22
    assert threshold_bunching("s", many, threshold=10, epsilon=1) is None
    only_passing = threshold_bunching("s", [10.0] * 8, threshold=10, epsilon=1)
    assert only_passing is not None and only_passing.evidence["ratio"] is None
    assert threshold_bunching("s", [1.0, 2.0], threshold=10, epsilon=1) is None
    with pytest.raises(ValueError):
        threshold_bunching("s", [1.0], threshold=10, epsilon=0)
    with pytest.raises(ValueError):
        threshold_bunching("s", [float("nan")], threshold=10, epsilon=1)
    with pytest.raises(ValueError):
        threshold_bunching("s", [1.0], threshold=10, epsilon=1, passing="near")
