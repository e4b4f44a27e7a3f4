"""Control limits and run rules (metrics.analytics.spc), on plain numbers.

Published examples:

* NIST/SEMATECH e-Handbook of Statistical Methods, 6.3.2.2 "Individuals
  Control Charts": flow rate of the first 10 batches of a new process;
  published x̄ = 50.81, MR̄ = 1.8778, UCL = 55.8041, LCL = 45.8159,
  MR UCL = 6.1347, "the process is in control".
* Montgomery, Introduction to Statistical Quality Control, Example 7.1
  (orange-juice cans, 30 samples of n = 50; the same data are the p-chart
  example of the NIST handbook, 6.3.3.2): p̄ = 0.2313, UCL = 0.4102,
  LCL = 0.0524, samples 15 and 23 above the UCL; after removing them
  p̄ = 0.2150, UCL = 0.3893, LCL = 0.0407.

Run-rule tests use centre 0 and sigma 1, so zone boundaries are ±1, ±2, ±3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from metrics.analytics import spc
from metrics.analytics.spc import Signal

NIST_FLOW = [49.6, 47.6, 49.9, 51.3, 47.8, 51.2, 52.6, 52.4, 53.6, 52.1]
MONTGOMERY_DEFECTIVES = [
    12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22,
    8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7, 13, 9, 6,
]  # fmt: skip


def hits(values: list[float], rule: str, center: float = 0.0, sigma: float = 1.0):
    """Indices where ``rule`` signals."""
    return [s.index for s in spc.detect_signals(values, center, sigma, [rule])]


def up(x: float) -> float:
    return math.nextafter(x, math.inf)


def down(x: float) -> float:
    return math.nextafter(x, -math.inf)


# --------------------------------------------------------------------------- XmR limits


class TestNistIndividualsExample:
    def test_published_limits(self):
        lim = spc.xmr_limits(NIST_FLOW)
        assert lim.baseline == 10
        assert lim.center == pytest.approx(50.81, abs=5e-5)
        assert lim.mr_bar == pytest.approx(1.8778, abs=5e-5)
        assert lim.ucl == pytest.approx(55.8041, abs=5e-5)
        assert lim.lcl == pytest.approx(45.8159, abs=5e-5)
        assert lim.mr_ucl == pytest.approx(6.1347, abs=5e-5)

    def test_hand_computation(self):
        # Σx = 508.1 over 10 points; the nine moving ranges
        # 2.0 2.3 1.4 3.5 3.4 1.4 0.2 1.2 1.5 sum to 16.9.
        lim = spc.xmr_limits(NIST_FLOW)
        assert lim.center == pytest.approx(508.1 / 10, rel=1e-12)
        assert lim.mr_bar == pytest.approx(16.9 / 9, rel=1e-12)
        assert lim.sigma == pytest.approx(16.9 / 9 / 1.128, rel=1e-12)
        assert lim.ucl == pytest.approx(50.81 + 3 * (16.9 / 9) / 1.128, rel=1e-12)
        assert lim.lcl == pytest.approx(50.81 - 3 * (16.9 / 9) / 1.128, rel=1e-12)
        assert lim.mr_ucl == pytest.approx(3.267 * 16.9 / 9, rel=1e-12)

    def test_process_in_control(self):
        chart = spc.xmr_chart(NIST_FLOW)
        assert [s for s in chart.signals if s.rule == "nelson-1"] == []
        assert chart.moving_ranges[0] is None
        assert chart.moving_ranges[1:] == pytest.approx(
            [2.0, 2.3, 1.4, 3.5, 3.4, 1.4, 0.2, 1.2, 1.5]
        )


class TestBaseline:
    def test_limits_use_only_the_baseline(self):
        wild = [*NIST_FLOW, 500.0, -300.0, 7.0]
        assert spc.xmr_limits(wild, baseline=10) == spc.xmr_limits(NIST_FLOW)

    def test_first_n_points(self):
        lim = spc.xmr_limits(NIST_FLOW, baseline=4)
        base = NIST_FLOW[:4]
        assert lim.baseline == 4
        assert lim.center == pytest.approx(sum(base) / 4)
        assert lim.mr_bar == pytest.approx((2.0 + 2.3 + 1.4) / 3)

    def test_points_after_baseline_are_judged(self):
        lim = spc.xmr_limits(NIST_FLOW)
        chart = spc.xmr_chart([*NIST_FLOW, 60.0], baseline=10)
        assert chart.limits == lim
        assert Signal(10, "nelson-1") in chart.signals

    @pytest.mark.parametrize("baseline", [0, 1, 11, -1])
    def test_out_of_range(self, baseline):
        with pytest.raises(ValueError, match="out of range"):
            spc.xmr_limits(NIST_FLOW, baseline=baseline)

    def test_smallest_baseline(self):
        assert spc.xmr_limits(NIST_FLOW, baseline=2).mr_bar == pytest.approx(2.0)

    @pytest.mark.parametrize("values", [[], [1.0]])
    def test_fewer_than_two_points(self, values):
        with pytest.raises(ValueError, match="at least two"):
            spc.xmr_chart(values)

    @pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
    def test_non_finite(self, bad):
        with pytest.raises(ValueError, match="finite"):
            spc.xmr_chart([1.0, bad, 2.0])

    def test_non_numeric(self):
        with pytest.raises(ValueError, match="numbers"):
            spc.xmr_chart([1.0, "x", 2.0])

    def test_non_integer_baseline(self):
        with pytest.raises(ValueError, match="integer"):
            spc.xmr_limits(NIST_FLOW, baseline=2.5)

    def test_strict_at_reported_limits(self):
        lim = spc.xmr_limits(NIST_FLOW)
        values = [*NIST_FLOW, lim.ucl, up(lim.ucl), lim.lcl, down(lim.lcl)]
        chart = spc.xmr_chart(values, baseline=10, rules=["nelson-1"])
        assert [s.index for s in chart.signals] == [11, 13]


# --------------------------------------------------------------------------- p-chart


class TestMontgomeryPChart:
    def test_published_limits(self):
        lim = spc.p_chart_limits(MONTGOMERY_DEFECTIVES, [50] * 30)
        assert sum(MONTGOMERY_DEFECTIVES) == 347
        assert lim.center == pytest.approx(0.2313, abs=5e-5)
        assert all(u == pytest.approx(0.4102, abs=5e-5) for u in lim.ucl)
        assert all(v == pytest.approx(0.0524, abs=5e-5) for v in lim.lcl)
        assert len(lim.ucl) == len(lim.lcl) == len(lim.sigma) == 30

    def test_samples_15_and_23_out_of_control(self):
        chart = spc.p_chart(MONTGOMERY_DEFECTIVES, [50] * 30, rules=["nelson-1"])
        assert chart.signals == (Signal(14, "nelson-1"), Signal(22, "nelson-1"))

    def test_revised_limits_without_the_two_samples(self):
        kept = [d for i, d in enumerate(MONTGOMERY_DEFECTIVES) if i not in (14, 22)]
        lim = spc.p_chart_limits(kept, [50] * 28)
        assert lim.center == pytest.approx(0.2150, abs=5e-5)
        assert lim.ucl[0] == pytest.approx(0.3893, abs=5e-5)
        assert lim.lcl[0] == pytest.approx(0.0407, abs=5e-5)


class TestPChart:
    def test_variable_sample_sizes(self):
        lim = spc.p_chart_limits([2, 5, 1], [100, 200, 50])
        p_bar = 8 / 350
        assert lim.center == pytest.approx(p_bar)
        for i, n in enumerate([100, 200, 50]):
            s = math.sqrt(p_bar * (1 - p_bar) / n)
            assert lim.sigma[i] == pytest.approx(s)
            assert lim.ucl[i] == pytest.approx(p_bar + 3 * s)
            assert lim.lcl[i] == 0.0  # p̄ - 3σ < 0 is floored

    def test_lcl_floor_and_ucl_cap(self):
        # p̄ = 0.5; n = 1 gives σ = 0.5 and raw limits -1 and 2.
        lim = spc.p_chart_limits([1, 0], [1, 1])
        assert lim.center == 0.5
        assert lim.ucl == (1.0, 1.0)
        assert lim.lcl == (0.0, 0.0)

    def test_lcl_not_floored_when_positive(self):
        lim = spc.p_chart_limits([50, 50], [100, 100])
        assert lim.lcl[0] == pytest.approx(0.5 - 3 * math.sqrt(0.25 / 100))
        assert lim.lcl[0] > 0

    def test_baseline(self):
        lim = spc.p_chart_limits([1, 3, 40], [10, 10, 50], baseline=2)
        assert lim.center == pytest.approx(4 / 20)
        assert spc.p_chart_limits([1, 3], [10, 10], baseline=1).center == 0.1

    def test_per_point_sigma_in_rules(self):
        # p̄ = 0.1. A proportion of 0.3 is beyond 3σ for n = 1000 (σ ≈ 0.0095)
        # but inside for n = 10 (σ ≈ 0.095, UCL ≈ 0.385).
        defectives = [100, 100, 300, 3]
        sizes = [1000, 1000, 1000, 10]
        chart = spc.p_chart(defectives, sizes, baseline=2, rules=["nelson-1"])
        assert chart.signals == (Signal(2, "nelson-1"),)

    def test_strict_at_per_point_limit(self):
        # p̄ = 0.5 from the baseline. With n = 4, σ = 0.25 and p̄ + σ = 0.75 exactly;
        # 3 of 4 (= 0.75) is on the 1σ line, 4 of 4 beyond it.
        sizes = [100, 100, 4, 4, 4, 4, 4]
        on_line = [50, 50, 3, 3, 3, 3, 3]
        assert spc.p_chart(on_line, sizes, baseline=2, rules=["nelson-6"]).signals == ()
        beyond = [50, 50, 4, 4, 4, 4, 4]
        chart = spc.p_chart(beyond, sizes, baseline=2, rules=["nelson-6"])
        assert [s.index for s in chart.signals] == [5, 6]

    @pytest.mark.parametrize(
        ("defectives", "sizes", "message"),
        [
            ([1, 2], [10], "same length"),
            ([1], [10], "at least two"),
            ([1, 2], [10, 0], "positive"),
            ([1, 11], [10, 10], "between 0 and n"),
            ([-1, 1], [10, 10], "between 0 and n"),
            ([1.5, 1], [10, 10], "whole number"),
            ([1, 1], [10, 10.5], "whole number"),
        ],
    )
    def test_bad_input(self, defectives, sizes, message):
        with pytest.raises(ValueError, match=message):
            spc.p_chart(defectives, sizes)

    @pytest.mark.parametrize("baseline", [0, 3])
    def test_baseline_out_of_range(self, baseline):
        with pytest.raises(ValueError, match="out of range"):
            spc.p_chart([1, 2], [10, 10], baseline=baseline)


# --------------------------------------------------------------------------- rules


class TestRuleSets:
    def test_names(self):
        assert spc.resolve_rules("nelson") == tuple(f"nelson-{i}" for i in range(1, 9))
        assert spc.resolve_rules("western-electric") == ("we-1", "we-2", "we-3", "we-4")
        assert len(spc.resolve_rules("all")) == 12

    @pytest.mark.parametrize("rules", ["nelson-9", "bogus", ["we-1", "we-5"]])
    def test_unknown(self, rules):
        with pytest.raises(ValueError, match="unknown rule"):
            spc.resolve_rules(rules)

    def test_set_limits_output(self):
        values = [0.0] * 5 + [5.0]
        assert {s.rule for s in spc.detect_signals(values, 0, 1, "nelson")} == {
            "nelson-1"
        }
        assert {
            s.rule for s in spc.detect_signals(values, 0, 1, "western-electric")
        } == {"we-1"}

    def test_sorted_by_index_then_rule(self):
        values = [1.5] * 9
        signals = spc.detect_signals(values, 0, 1, "all")
        assert signals == sorted(signals, key=lambda s: (s.index, s.rule))
        assert signals[:3] == [
            Signal(3, "nelson-6"),
            Signal(3, "we-3"),
            Signal(4, "nelson-6"),
        ]
        assert len(signals) == len(set(signals))


class TestBeyondThreeSigma:
    @pytest.mark.parametrize("rule", ["nelson-1", "we-1"])
    def test_strict(self, rule):
        assert hits([3.0, -3.0, 0.0], rule) == []
        assert hits([up(3.0), 0.0, down(-3.0)], rule) == [0, 2]


class TestSameSideRuns:
    @pytest.mark.parametrize(("rule", "length"), [("nelson-2", 9), ("we-4", 8)])
    def test_boundaries(self, rule, length):
        assert hits([0.5] * (length - 1), rule) == []
        assert hits([0.5] * length, rule) == [length - 1]
        assert hits([-0.5] * length, rule) == [length - 1]
        assert hits([0.5] * (length + 2), rule) == [length - 1, length, length + 1]

    @pytest.mark.parametrize(("rule", "length"), [("nelson-2", 9), ("we-4", 8)])
    def test_centre_line_breaks_the_run(self, rule, length):
        half = length // 2
        values = [0.5] * half + [0.0] + [0.5] * (length - half - 1)
        assert hits(values, rule) == []
        # After the break a fresh run has to reach the full length again.
        assert hits([0.5] * half + [0.0] + [0.5] * length, rule) == [half + length]

    @pytest.mark.parametrize("rule", ["nelson-2", "we-4"])
    def test_side_change_breaks_the_run(self, rule):
        assert hits([0.5] * 5 + [-0.5] * 5, rule) == []


class TestTrend:
    def test_six_increasing(self):
        rising = [i * 0.1 for i in range(6)]
        assert hits(rising[:5], "nelson-3") == []
        assert hits(rising, "nelson-3") == [5]
        assert hits([i * 0.1 for i in range(8)], "nelson-3") == [5, 6, 7]

    def test_six_decreasing(self):
        assert hits([-i * 0.1 for i in range(6)], "nelson-3") == [5]

    def test_equal_neighbour_breaks(self):
        values = [0.0, 0.1, 0.2, 0.2, 0.3, 0.4, 0.5]
        assert hits(values, "nelson-3") == []
        # Points 3..8 (0.2 0.3 0.4 0.5 0.6 0.7) are the first six rising in a row.
        assert hits([*values, 0.6], "nelson-3") == []
        assert hits([*values, 0.6, 0.7], "nelson-3") == [8]

    def test_reversal_breaks(self):
        assert hits([0, 0.1, 0.2, 0.15, 0.3, 0.4, 0.5], "nelson-3") == []


class TestAlternation:
    def zigzag(self, n: int) -> list[float]:
        return [0.5 if i % 2 else -0.5 for i in range(n)]

    def test_fourteen(self):
        assert hits(self.zigzag(13), "nelson-4") == []
        assert hits(self.zigzag(14), "nelson-4") == [13]
        assert hits(self.zigzag(16), "nelson-4") == [13, 14, 15]

    def test_equal_neighbour_breaks(self):
        values = self.zigzag(16)
        assert hits(values, "nelson-4") == [13, 14, 15]
        values.insert(8, values[7])  # 0..7 and 8..16 alternate, 7 and 8 are equal
        assert values[7] == values[8]
        assert hits(values, "nelson-4") == []

    def test_two_ups_break(self):
        values = self.zigzag(14)
        values[8] = 0.7  # points 6, 7, 8: -0.5 -> 0.5 -> 0.7 is up, up
        assert hits(values, "nelson-4") == []

    def test_alternation_needs_no_centre_crossing(self):
        values = [1.0 + (0.2 if i % 2 else 0.0) for i in range(14)]
        assert hits(values, "nelson-4") == [13]


class TestTwoOfThree:
    @pytest.mark.parametrize("rule", ["nelson-5", "we-2"])
    def test_boundaries(self, rule):
        assert hits([2.5], rule) == []
        assert hits([2.5, 2.5], rule) == [1]
        assert hits([2.5, 0.0, 2.5], rule) == [2]
        assert hits([2.5, 0.0, 0.0, 2.5], rule) == []
        assert hits([-2.5, -2.5], rule) == [1]

    @pytest.mark.parametrize("rule", ["nelson-5", "we-2"])
    def test_third_point_not_beyond_does_not_signal(self, rule):
        assert hits([2.5, 2.5, 0.0], rule) == [1]
        assert hits([2.5, 2.5, 1.9], rule) == [1]

    @pytest.mark.parametrize("rule", ["nelson-5", "we-2"])
    def test_continuation(self, rule):
        assert hits([2.5] * 4, rule) == [1, 2, 3]

    @pytest.mark.parametrize("rule", ["nelson-5", "we-2"])
    def test_strict_at_two_sigma(self, rule):
        assert hits([2.0, 2.0, 2.0], rule) == []
        assert hits([2.0, up(2.0)], rule) == []
        assert hits([up(2.0), up(2.0)], rule) == [1]
        assert hits([down(-2.0), down(-2.0)], rule) == [1]

    @pytest.mark.parametrize("rule", ["nelson-5", "we-2"])
    def test_same_side(self, rule):
        assert hits([2.5, -2.5], rule) == []
        assert hits([2.5, -2.5, 2.5], rule) == [2]


class TestFourOfFive:
    @pytest.mark.parametrize("rule", ["nelson-6", "we-3"])
    def test_boundaries(self, rule):
        assert hits([1.5] * 3, rule) == []
        assert hits([1.5] * 4, rule) == [3]
        assert hits([1.5, 0.0, 1.5, 1.5, 1.5], rule) == [4]
        assert hits([1.5, 1.5, 0.0, 0.0, 1.5, 1.5], rule) == []
        assert hits([-1.5] * 4, rule) == [3]

    @pytest.mark.parametrize("rule", ["nelson-6", "we-3"])
    def test_signalling_point_must_be_beyond(self, rule):
        assert hits([1.5, 1.5, 1.5, 1.5, 0.5], rule) == [3]
        assert hits([1.5, 1.5, 1.5, 0.5, 1.5], rule) == [4]

    @pytest.mark.parametrize("rule", ["nelson-6", "we-3"])
    def test_strict_and_same_side(self, rule):
        assert hits([1.0, 1.5, 1.5, 1.5, 1.0], rule) == []
        assert hits([1.5, 1.5, -1.5, 1.5], rule) == []
        assert hits([1.5, 1.5, -1.5, 1.5, 1.5], rule) == [4]
        assert hits([1.5] * 6, rule) == [3, 4, 5]


class TestWithinOneSigma:
    def test_fifteen(self):
        values = [0.5, -0.5, 0.0] * 5
        assert hits(values[:14], "nelson-7") == []
        assert hits(values, "nelson-7") == [14]
        assert hits([*values, 0.9], "nelson-7") == [14, 15]

    def test_strictly_within(self):
        values = [0.5] * 7 + [1.0] + [0.5] * 7
        assert hits(values, "nelson-7") == []
        values[7] = down(1.0)
        assert hits(values, "nelson-7") == [14]
        values[7] = up(-1.0)
        assert hits(values, "nelson-7") == [14]


class TestBeyondOneSigmaEitherSide:
    def test_eight(self):
        values = [1.5, -1.5] * 4
        assert hits(values[:7], "nelson-8") == []
        assert hits(values, "nelson-8") == [7]
        assert hits([*values, 2.5, 0.0], "nelson-8") == [7, 8]

    def test_one_side_is_enough(self):
        assert hits([1.5] * 8, "nelson-8") == [7]

    def test_point_on_one_sigma_breaks(self):
        values = [1.5] * 4 + [1.0] + [1.5] * 4
        assert hits(values, "nelson-8") == []
        values[4] = up(1.0)
        assert hits(values, "nelson-8") == [7, 8]


# --------------------------------------------------------------------------- vectorised


def reference_signals(x: list[float], c: list[float], s: list[float]) -> set:
    """Straight-from-the-definition rules, one point at a time (slow, obvious)."""

    def above(j, k):
        return x[j] > c[j] + k * s[j]

    def below(j, k):
        return x[j] < c[j] - k * s[j]

    def run(j, length, pred):
        return j >= length - 1 and all(pred(i) for i in range(j - length + 1, j + 1))

    def k_of_m(j, k, m, pred):
        return pred(j) and sum(pred(i) for i in range(max(0, j - m + 1), j + 1)) >= k

    out = set()
    for j in range(len(x)):
        rules = {
            "nelson-1": above(j, 3) or below(j, 3),
            "nelson-2": run(j, 9, lambda i: x[i] > c[i])
            or run(j, 9, lambda i: x[i] < c[i]),
            "nelson-3": j >= 5
            and (
                all(x[i] > x[i - 1] for i in range(j - 4, j + 1))
                or all(x[i] < x[i - 1] for i in range(j - 4, j + 1))
            ),
            "nelson-4": j >= 13
            and all(
                (x[i] > x[i - 1] and x[i - 1] < x[i - 2])
                or (x[i] < x[i - 1] and x[i - 1] > x[i - 2])
                for i in range(j - 11, j + 1)
            ),
            "nelson-5": k_of_m(j, 2, 3, lambda i: above(i, 2))
            or k_of_m(j, 2, 3, lambda i: below(i, 2)),
            "nelson-6": k_of_m(j, 4, 5, lambda i: above(i, 1))
            or k_of_m(j, 4, 5, lambda i: below(i, 1)),
            "nelson-7": run(j, 15, lambda i: c[i] - s[i] < x[i] < c[i] + s[i]),
            "nelson-8": run(j, 8, lambda i: above(i, 1) or below(i, 1)),
            "we-4": run(j, 8, lambda i: x[i] > c[i])
            or run(j, 8, lambda i: x[i] < c[i]),
        }
        rules["we-1"] = rules["nelson-1"]
        rules["we-2"] = rules["nelson-5"]
        rules["we-3"] = rules["nelson-6"]
        out |= {(j, name) for name, fired in rules.items() if fired}
    return out


class TestVectorisedAgainstReference:
    def corpus(self) -> np.ndarray:
        rng = np.random.default_rng(7)
        # Values on a 0.5 grid around 0 so that ties, centre-line points and
        # points exactly on ±1, ±2, ±3 are common; spreads vary so every rule fires.
        rows = []
        for scale in (0.3, 0.8, 1.5, 3.0):
            noise = np.round(rng.normal(0, scale, size=(60, 80)) * 2) / 2
            rows.append(noise)
        shifted = np.round(rng.normal(1.2, 0.6, size=(40, 80)) * 2) / 2
        trend = np.cumsum(
            rng.choice([-0.5, 0.0, 0.5], size=(40, 80), p=[0.2, 0.1, 0.7]), axis=1
        )
        zigzag = np.where(np.arange(80) % 2, 0.5, -0.5) * rng.choice(
            [1.0, 1.0, 1.0, 0.0], size=(40, 80)
        )
        return np.vstack([*rows, shifted, trend - trend.mean(), zigzag])

    def test_matches_reference(self):
        data = self.corpus()
        masks = spc.rule_masks(data, 0.0, 1.0, "all")
        fired = dict.fromkeys(masks, 0)
        for r, row in enumerate(data):
            x = row.tolist()
            expected = reference_signals(x, [0.0] * len(x), [1.0] * len(x))
            got = {
                (int(j), rule)
                for rule, m in masks.items()
                for j in np.flatnonzero(m[r])
            }
            assert got == expected, f"series {r}"
            for _, rule in got:
                fired[rule] += 1
        assert all(fired.values()), f"some rule never fired: {fired}"

    def test_per_point_center_and_sigma(self):
        rng = np.random.default_rng(11)
        data = np.round(rng.normal(0.3, 0.2, size=(30, 50)) * 20) / 20
        center = np.full_like(data, 0.3)
        sigma = np.round(rng.uniform(0.05, 0.3, size=data.shape) * 20) / 20
        masks = spc.rule_masks(data, center, sigma, "all")
        for r in range(data.shape[0]):
            expected = reference_signals(
                data[r].tolist(), center[r].tolist(), sigma[r].tolist()
            )
            got = {
                (int(j), rule)
                for rule, m in masks.items()
                for j in np.flatnonzero(m[r])
            }
            assert got == expected

    def test_batch_limits_match_one_series(self):
        rng = np.random.default_rng(3)
        data = rng.normal(10, 2, size=(5, 30))
        batch = spc.xmr_limits_batch(data, baseline=12)
        for r in range(5):
            one = spc.xmr_limits(data[r], baseline=12)
            assert one.center == batch["center"][r]
            assert one.ucl == batch["ucl"][r]
            assert one.mr_ucl == batch["mr_ucl"][r]
            chart = spc.xmr_chart(data[r], baseline=12)
            masks = spc.rule_masks(
                data[r : r + 1],
                batch["center"][r : r + 1, None],
                batch["sigma"][r : r + 1, None],
            )
            assert set(chart.signals) == {
                Signal(int(j), rule)
                for rule, m in masks.items()
                for j in np.flatnonzero(m[0])
            }

    def test_short_series(self):
        masks = spc.rule_masks([0.5, 0.5], 0.0, 1.0, "all")
        assert all(m.shape == (2,) and not m.any() for m in masks.values())
