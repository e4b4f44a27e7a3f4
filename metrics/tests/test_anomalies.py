"""Input-error checks (metrics.analytics.anomalies) at their boundaries."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from metrics.analytics import anomalies as an
from metrics.analytics.anomalies import HardRange


def series(values, name="kpi"):
    """Observations of one series: keys (name, period index)."""
    return [((name, p), v) for p, v in enumerate(values)]


def at(findings, kind=None):
    return [f.index for f in findings if kind is None or f.kind == kind]


class TestUnitSlip:
    def test_hundredfold(self):
        found = an.detect_unit_slips(series([10, 11, 9, 10, 1000]))
        assert at(found) == [4]
        assert found[0].kind == "unit_slip"
        assert found[0].score == pytest.approx(100.0)
        assert "100×" in found[0].detail

    @pytest.mark.parametrize(
        ("value", "flagged"),
        [
            (800, True),  # ratio 80 = 100 / 1.25, inclusive
            (799, False),
            (1250, True),  # ratio 125 = 100 × 1.25, inclusive
            (1251, False),
            (8000, True),  # ratio 800 = 1000 / 1.25
            (7999, False),
            (12500, True),  # ratio 1250
            (12501, False),
            (2000, False),  # ×200 is between the two bands
        ],
    )
    def test_tolerance_bands(self, value, flagged):
        found = an.detect_unit_slips(series([10, 10, 10, 10, value]))
        assert at(found) == ([4] if flagged else [])

    @pytest.mark.parametrize(
        ("value", "flagged"),
        [
            (10, True),  # median / value = 100
            (8, True),  # 125, inclusive
            (7.99, False),
            (12.5, True),  # 80, inclusive
            (12.6, False),
            (1, True),  # 1/1000
            (0.8, True),  # 1250
            (0.79, False),
        ],
    )
    def test_fractional_slips(self, value, flagged):
        found = an.detect_unit_slips(series([1000, 1000, 1000, 1000, value]))
        assert at(found) == ([4] if flagged else [])
        if flagged:
            assert "1/" in found[0].detail

    def test_tolerance_is_configurable(self):
        obs = series([10, 10, 10, 10, 1010])
        assert at(an.detect_unit_slips(obs, tolerance=0.0)) == []
        assert at(an.detect_unit_slips(obs, tolerance=0.01)) == [4]
        with pytest.raises(ValueError):
            an.detect_unit_slips(obs, tolerance=-0.1)

    def test_opposite_sign_is_not_a_slip(self):
        assert an.detect_unit_slips(series([10, 10, 10, 10, -1000])) == []

    def test_zero_median_cannot_be_judged(self):
        assert an.detect_unit_slips(series([0, 0, 0, 5, 500])) == []

    def test_minimum_points(self):
        assert an.detect_unit_slips(series([10, 1000])) == []
        assert at(an.detect_unit_slips(series([10, 10, 1000]))) == [2]

    def test_each_series_has_its_own_median(self):
        obs = series([10, 11, 9], "a") + series([1000, 1100, 900, 1000, 1000], "b")
        assert an.detect_unit_slips(obs) == []
        # Without series keys everything is one series (median 1000), and the
        # values of "a" look like 1/100 slips.
        flat = [(i, v) for i, (_, v) in enumerate(obs)]
        assert at(an.detect_unit_slips(flat)) == [0, 1, 2]

    def test_custom_series_grouping(self):
        obs = [(("a", "x", 1), 10), (("a", "y", 1), 1000)] * 3
        assert an.detect_unit_slips(obs) == []  # series (a, x) and (a, y)
        by_metric = an.detect_unit_slips(obs, series_of=lambda k: k[0])
        assert by_metric == []  # median 505 -> neither side is ×100
        assert at(an.detect_unit_slips(obs[:5], series_of=lambda k: k[0])) == [1, 3]


class TestImpossible:
    def test_hard_range_is_inclusive(self):
        obs = series([0, 100, -0.001, 100.001, 50])
        found = an.detect_impossible(obs, HardRange(minimum=0, maximum=100))
        assert at(found) == [2, 3]
        assert "below the minimum 0" in found[0].detail
        assert "above the maximum 100" in found[1].detail

    def test_negative_not_allowed(self):
        obs = series([0, -0.0, -1, 1])
        assert at(an.detect_impossible(obs, HardRange(allow_negative=False))) == [2]
        assert an.detect_impossible(obs) == []

    def test_integer_only(self):
        obs = series([3, 3.0, 3.5, Decimal("4"), Decimal("4.5"), 1e-9])
        found = an.detect_impossible(obs, HardRange(integer_only=True))
        assert at(found) == [2, 4, 5]
        assert an.detect_impossible(obs) == []

    @pytest.mark.parametrize(
        "value", [None, "12", math.nan, math.inf, -math.inf, True, [1]]
    )
    def test_not_a_number(self, value):
        found = an.detect_impossible(series([1, value]))
        assert at(found) == [1]
        assert found[0].detail == "not a finite number"

    def test_several_reasons(self):
        found = an.detect_impossible(
            series([-2.5]),
            HardRange(minimum=0, allow_negative=False, integer_only=True),
        )
        assert len(found) == 1
        assert found[0].detail.count(";") == 2


class TestDuplicates:
    def test_same_and_conflicting(self):
        obs = [
            (("a", "2024-01"), 1),
            (("a", "2024-01"), 1),
            (("a", "2024-02"), 1),
            (("b", "2024-01"), 1),
            (("a", "2024-01"), 2),
        ]
        found = an.detect_duplicates(obs)
        assert at(found, "duplicate") == [1, 4]
        assert all(f.related == (0, 1, 4) for f in found)
        assert "repeats" in found[0].detail
        assert "conflicts" in found[1].detail

    def test_no_duplicates(self):
        assert an.detect_duplicates(series([1, 1, 1])) == []


class TestSpike:
    # Base series with median 0 and MAD 1 whatever large value v is appended:
    # sorted -2 -1 0 0 1 2 v; deviations 0 0 1 1 2 2 |v|. Scale 1.4826.
    BASE = [-2, -1, 0, 0, 1, 2]

    @pytest.mark.parametrize(
        ("value", "flagged"),
        [(5.18, False), (5.2, True), (-5.18, False), (-5.2, True)],
    )
    def test_threshold(self, value, flagged):
        # 5.18 / 1.4826 = 3.494 (inside); 5.2 / 1.4826 = 3.507 (beyond).
        found = an.detect_spikes(series([*self.BASE, value]))
        assert at(found) == ([6] if flagged else [])
        if flagged:
            assert found[0].score == pytest.approx(value / 1.4826)

    def test_strict_at_threshold(self):
        values = [*self.BASE, 6.0]
        z = an.robust_z_scores(values)[6]
        assert z == pytest.approx(6.0 / 1.4826)
        assert an.detect_spikes(series(values), threshold=z) == []
        assert at(an.detect_spikes(series(values), threshold=math.nextafter(z, 0))) == [
            6
        ]

    def test_mad_zero_falls_back_to_mean_absolute_deviation(self):
        values = [10, 10, 10, 10, 10, 10, 11, 30]
        # deviations 0×6, 1, 20: MAD 0, mean 21/8, scale 1.2533 × 2.625.
        z = an.robust_z_scores(values)
        assert z[7] == pytest.approx(20 / (1.2533 * 21 / 8))
        assert at(an.detect_spikes(series(values))) == [7]

    def test_constant_series(self):
        assert an.robust_z_scores([5, 5, 5]) is None
        assert an.robust_z_scores([]) is None
        assert an.detect_spikes(series([5] * 10)) == []

    def test_minimum_points(self):
        assert an.detect_spikes(series([0, 1, -1, 100])) == []
        assert at(an.detect_spikes(series([0, 1, -1, 0, 100]))) == [4]


class TestDetectAnomalies:
    def test_slip_is_not_also_a_spike(self):
        obs = series([10, 11, 9, 10, 12, 1000])
        assert at(an.detect_spikes(obs)) == [5]
        found = an.detect_anomalies(obs)
        assert [(f.index, f.kind) for f in found] == [(5, "unit_slip")]

    def test_impossible_values_stay_out_of_the_statistics(self):
        # Six impossible values of 1000 would move the median to 1000 and make
        # the five real values look like 1/100 slips if they were counted.
        obs = series([10, 11, 9, 10, 12] + [1000] * 6 + [None, "n/a"])
        assert at(an.detect_unit_slips(obs)) == [0, 1, 2, 3, 4]
        found = an.detect_anomalies(obs, hard_range=HardRange(maximum=500))
        assert {f.kind for f in found} == {"impossible"}
        assert at(found) == [5, 6, 7, 8, 9, 10, 11, 12]

    def test_all_kinds_sorted(self):
        obs = [
            *series([10, 11, 9, 10, 12, 10, 35, 1000]),
            (("kpi", 0), 10),  # duplicate of the first
            (("kpi", 9), -4),
        ]
        found = an.detect_anomalies(obs, hard_range=HardRange(allow_negative=False))
        assert [(f.index, f.kind) for f in found] == [
            (6, "spike"),
            (7, "unit_slip"),
            (8, "duplicate"),
            (9, "impossible"),
        ]
        assert found == sorted(found, key=lambda f: f.index)
