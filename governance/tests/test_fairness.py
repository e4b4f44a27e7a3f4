"""Bias assessment statistics (M8.5): four-fifths rule, significance tests, score gaps.

Reference values come from outside the module under test: the EEOC Uniform
Guidelines Q&A rates, scipy's own results, and an exact enumeration of the
hypergeometric distribution with rational arithmetic written here.
"""

from __future__ import annotations

import math
import random
import statistics
from fractions import Fraction

import numpy as np
import pytest
from scipy.stats import chi2_contingency, fisher_exact

from governance.analytics.fairness import (
    FOUR_FIFTHS,
    GroupCounts,
    assess_score_gaps,
    assess_selection,
    chi2_independence_2x2,
    cohens_d,
    counts_from_outcomes,
    fisher_exact_2x2,
)


def exact_fisher_p(table: list[list[int]]) -> Fraction:
    """Two-sided Fisher p by enumerating every table with the same margins."""
    (a, b), (c, d) = table
    row1, row2, col1 = a + b, c + d, a + c
    total = math.comb(row1 + row2, col1)

    def prob(x: int) -> Fraction:
        return Fraction(math.comb(row1, x) * math.comb(row2, col1 - x), total)

    observed = prob(a)
    support = range(max(0, col1 - row2), min(row1, col1) + 1)
    return sum((prob(x) for x in support if prob(x) <= observed), Fraction(0))


def by_group(assessment):
    return {g.group: g for g in assessment.groups}


# --- four-fifths rule --------------------------------------------------------


def test_eeoc_uniform_guidelines_rates_60_45_48_51():
    """Rates 60/45/48/51 %: ratios 0.75, 0.80, 0.85; only 0.75 is adverse."""
    result = assess_selection(
        {"A": (100, 60), "B": (100, 45), "C": (100, 48), "D": (100, 51)}
    )
    groups = by_group(result)
    assert result.reference_group == "A"
    assert groups["A"].impact_ratio == 1
    assert groups["B"].impact_ratio == Fraction(3, 4)
    assert groups["C"].impact_ratio == Fraction(4, 5)
    assert groups["D"].impact_ratio == Fraction(17, 20)
    assert [g.group for g in result.groups if g.adverse] == ["B"]
    assert result.adverse_groups == ("B",)
    assert groups["B"].parity_difference == Fraction(45 - 60, 100)
    as_json = {g["group"]: g for g in result.to_dict()["groups"]}
    assert as_json["B"]["impact_ratio"] == 0.75
    assert as_json["C"]["impact_ratio"] == 0.8
    assert as_json["C"]["impact_ratio_exact"] == "4/5"
    assert as_json["C"]["adverse"] is False


def _float_trap_cases():
    """Pairs whose exact ratio is 4/5 but whose float ratio is below 0.8."""
    cases = []
    for ref_n in range(1, 40):
        for ref_sel in range(1, ref_n + 1):
            for n in range(1, 40):
                sel = Fraction(4 * ref_sel * n, 5 * ref_n)
                if sel.denominator != 1 or sel > n:
                    continue
                sel = int(sel)
                if (sel / n) / (ref_sel / ref_n) < 0.8:
                    cases.append((n, sel, ref_n, ref_sel))
    return cases


def test_exactly_four_fifths_is_not_adverse_even_where_floats_say_below():
    cases = _float_trap_cases()
    assert cases, "expected float division to undershoot 0.8 somewhere"
    for n, sel, ref_n, ref_sel in cases[:50]:
        groups = by_group(
            assess_selection({"ref": (ref_n, ref_sel), "g": (n, sel)}, min_group_size=0)
        )
        assert groups["g"].impact_ratio == FOUR_FIFTHS
        assert groups["g"].adverse is False


def test_just_below_four_fifths_is_adverse():
    groups = by_group(
        assess_selection({"ref": (1000, 500), "g": (1000, 399)}, min_group_size=0)
    )
    assert groups["g"].impact_ratio == Fraction(399, 500)
    assert groups["g"].adverse is True


def test_nobody_selected_gives_null_ratio_and_no_verdict_of_adverse():
    result = assess_selection({"A": (20, 0), "B": (30, 0)})
    for group in result.groups:
        assert group.impact_ratio is None
        assert group.adverse is False
        assert group.rate == 0
        assert group.parity_difference == 0
    other = by_group(result)["A"]
    assert other.fisher_p == 1.0  # a zero column total: p = 1 by convention
    assert other.chi2_p is None  # undefined: expected counts of zero
    assert result.to_dict()["groups"][0]["impact_ratio"] is None


def test_reference_is_highest_rate_with_deterministic_ties():
    result = assess_selection({"small": (10, 5), "big": (40, 20), "low": (10, 1)})
    assert result.reference_group == "big"  # tie on 1/2: the larger group wins
    result = assess_selection({"b": (10, 5), "a": (10, 5)})
    assert result.reference_group == "a"  # full tie: label order
    ref = by_group(result)["a"]
    assert ref.is_reference and ref.fisher_p is None and ref.chi2_p is None


def test_group_order_is_preserved_and_counts_are_aggregated():
    rows = [("x", 1), ("y", 0), ("x", 0), ("y", 1), ("y", 1), ("x", True)]
    counts = counts_from_outcomes(rows)
    assert counts == [GroupCounts("x", 3, 2), GroupCounts("y", 3, 2)]
    with pytest.raises(ValueError, match="0 or 1"):
        counts_from_outcomes([("x", 2)])


@pytest.mark.parametrize(
    "counts",
    [
        {"a": (5, 6)},
        {"a": (-1, 0)},
        [GroupCounts("a", 5, 1), GroupCounts("a", 6, 1)],
    ],
)
def test_invalid_counts_are_rejected(counts):
    with pytest.raises(ValueError):
        assess_selection(counts)


# --- small-group suppression -------------------------------------------------


def test_small_groups_are_suppressed_and_never_the_reference():
    result = assess_selection(
        {"tiny": (4, 4), "A": (50, 20), "B": (50, 10)}, min_group_size=5
    )
    groups = by_group(result)
    assert result.reference_group == "A"  # "tiny" has rate 1 but is withheld
    tiny = groups["tiny"]
    assert tiny.suppressed is True
    assert tiny.n is None and tiny.selected is None and tiny.rate is None
    assert tiny.impact_ratio is None and tiny.adverse is None
    assert tiny.fisher_p is None and tiny.chi2_p is None
    assert groups["B"].impact_ratio == Fraction(1, 2)
    assert groups["B"].adverse is True
    row = next(g for g in result.to_dict()["groups"] if g["group"] == "tiny")
    assert row["suppressed"] is True
    assert {"n", "selected", "rate", "impact_ratio", "adverse"} <= row.keys()
    assert all(row[k] is None for k in ("n", "selected", "rate", "fisher_p"))
    # A group exactly at the minimum is shown.
    shown = assess_selection({"five": (5, 1), "A": (50, 20)}, min_group_size=5)
    assert by_group(shown)["five"].suppressed is False


def test_everything_suppressed_leaves_no_reference():
    result = assess_selection({"a": (2, 1), "b": (3, 0)}, min_group_size=5)
    assert result.reference_group is None
    assert all(g.suppressed for g in result.groups)


# --- significance tests ------------------------------------------------------


def test_scipy_documentation_example_whales_and_sharks():
    odds, p = fisher_exact_2x2([[8, 2], [1, 5]])
    assert odds == 20.0
    assert p == pytest.approx(0.034965034965034975, rel=1e-12)
    assert p == pytest.approx(float(Fraction(5, 143)), rel=1e-12)
    reference = fisher_exact([[8, 2], [1, 5]])
    assert (odds, p) == pytest.approx((reference.statistic, reference.pvalue))


def test_fisher_on_7_17_15_5():
    odds, p = fisher_exact_2x2([[7, 17], [15, 5]])
    assert odds == pytest.approx(35 / 255, rel=1e-15)  # 0.13725...
    exact = exact_fisher_p([[7, 17], [15, 5]])
    assert exact == Fraction(65963351, 11435320455)
    assert p == pytest.approx(float(exact), rel=1e-12)  # 0.005768...
    assert p == pytest.approx(fisher_exact([[7, 17], [15, 5]]).pvalue, rel=1e-12)


def test_fisher_matches_exact_enumeration_including_ties():
    rng = random.Random(20240605)
    tables = [[[3, 5], [5, 3]], [[4, 4], [4, 4]], [[0, 6], [6, 0]], [[2, 8], [8, 2]]]
    tables += [[[rng.randint(0, 15) for _ in "ab"] for _ in "cd"] for _ in range(300)]
    for table in tables:
        if 0 in (sum(table[0]), sum(table[1]), table[0][0] + table[1][0]):
            continue
        if table[0][1] + table[1][1] == 0:
            continue
        assert fisher_exact_2x2(table)[1] == pytest.approx(
            float(exact_fisher_p(table)), rel=1e-12
        ), table


def test_fisher_and_chi_square_match_scipy_on_random_tables():
    rng = random.Random(7)
    checked_chi2 = 0
    for _ in range(1500):
        size = rng.choice([3, 10, 40, 200, 2000])
        table = [[rng.randint(0, size) for _ in "ab"] for _ in "cd"]
        odds, p = fisher_exact_2x2(table)
        ref = fisher_exact(table)
        assert p == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-300), table
        if math.isnan(ref.statistic):
            assert math.isnan(odds)
        else:
            assert odds == pytest.approx(float(ref.statistic), rel=1e-12)
        chi2 = chi2_independence_2x2(table)
        margins = (sum(table[0]), sum(table[1]), table[0][0] + table[1][0])
        if 0 in margins or table[0][1] + table[1][1] == 0:
            assert chi2 is None
            try:  # scipy agrees that the test is undefined here
                with np.errstate(invalid="ignore"):
                    ref2 = chi2_contingency(table, correction=False)
                undefined = math.isnan(ref2.pvalue)
            except ValueError:
                undefined = True
            assert undefined, table
            continue
        ref2 = chi2_contingency(table, correction=False)
        assert chi2[0] == pytest.approx(float(ref2.statistic), rel=1e-9)
        assert chi2[1] == pytest.approx(float(ref2.pvalue), rel=1e-9, abs=1e-300)
        checked_chi2 += 1
    assert checked_chi2 > 1000


def test_fisher_handles_large_unbalanced_tables():
    for table in ([[9000, 1000], [8500, 1500]], [[3, 50000], [40, 49000]]):
        p = fisher_exact_2x2(table)[1]
        assert p == pytest.approx(float(fisher_exact(table).pvalue), rel=1e-9)
        assert 0 <= p < 1e-6


def test_chi_square_has_no_continuity_correction():
    table = [[12, 5], [9, 7]]
    corrected = chi2_contingency(table, correction=True).pvalue
    uncorrected = chi2_contingency(table, correction=False).pvalue
    assert corrected != pytest.approx(uncorrected)
    assert chi2_independence_2x2(table)[1] == pytest.approx(uncorrected, rel=1e-12)


@pytest.mark.parametrize(
    "table", [[[1, 2]], [[1, 2], [3]], [[1, -2], [3, 4]], [[1.5, 2], [3, 4]]]
)
def test_malformed_tables_are_rejected(table):
    with pytest.raises(ValueError):
        fisher_exact_2x2(table)
    with pytest.raises(ValueError):
        chi2_independence_2x2(table)


def test_assessment_tests_each_group_against_the_reference():
    rng = random.Random(99)
    for _ in range(40):
        counts = {}
        for label in "ABCD":
            n = rng.randint(5, 300)
            counts[label] = (n, rng.randint(0, n))
        result = assess_selection(counts)
        ref_n, ref_sel = counts[result.reference_group]
        assert all(
            Fraction(s, n) <= Fraction(ref_sel, ref_n) for n, s in counts.values()
        )
        for group in result.groups:
            if group.is_reference:
                continue
            n, sel = counts[group.group]
            table = [[sel, n - sel], [ref_sel, ref_n - ref_sel]]
            assert group.fisher_p == pytest.approx(
                float(fisher_exact(table).pvalue), rel=1e-9, abs=1e-300
            )
            if ref_sel > 0 and sel + ref_sel < n + ref_n:
                assert group.chi2_p == pytest.approx(
                    float(chi2_contingency(table, correction=False).pvalue),
                    rel=1e-9,
                    abs=1e-300,
                )
            if ref_sel:
                ratio = Fraction(sel, n) / Fraction(ref_sel, ref_n)
                assert group.impact_ratio == ratio
                assert group.adverse is (ratio < Fraction(4, 5))


# --- score gaps --------------------------------------------------------------


def test_cohens_d_matches_the_pooled_sd_formula():
    rng = random.Random(3)
    for _ in range(50):
        x = [rng.gauss(50, 10) for _ in range(rng.randint(2, 40))]
        y = [rng.gauss(55, 12) for _ in range(rng.randint(2, 40))]
        nx, ny = len(x), len(y)
        mx, my = sum(x) / nx, sum(y) / ny
        ssx = sum((v - mx) ** 2 for v in x)
        ssy = sum((v - my) ** 2 for v in y)
        pooled = math.sqrt((ssx + ssy) / (nx + ny - 2))
        assert cohens_d(x, y) == pytest.approx((mx - my) / pooled, rel=1e-9)


def test_cohens_d_textbook_value_and_degenerate_cases():
    # Means 3 and 5, both sample SDs 1.5811 → pooled 1.5811, d = −1.2649.
    assert cohens_d([1, 2, 3, 4, 5], [3, 4, 5, 6, 7]) == pytest.approx(
        -2 / math.sqrt(2.5), rel=1e-12
    )
    assert cohens_d([1, 1], [1, 1]) is None  # no spread
    assert cohens_d([1], [2]) is None  # no degrees of freedom
    assert cohens_d([], [1, 2]) is None


def test_score_gaps_against_reference_with_suppression():
    scores = {
        "A": [70.0, 72, 68, 75, 71],
        "B": [60.0, 65, 62, 58, 61, 64],
        "C": [99.0, 98],  # small: suppressed, cannot be the reference
    }
    result = assess_score_gaps(scores, min_group_size=5)
    assert result.reference_group == "A"
    groups = {g.group: g for g in result.groups}
    assert groups["C"].suppressed and groups["C"].mean is None
    assert groups["B"].mean_difference == pytest.approx(
        statistics.fmean(scores["B"]) - statistics.fmean(scores["A"])
    )
    assert groups["B"].cohens_d == pytest.approx(cohens_d(scores["B"], scores["A"]))
    assert groups["B"].sd == pytest.approx(statistics.stdev(scores["B"]))
    assert groups["A"].mean_difference == 0
    explicit = assess_score_gaps(scores, reference="B", min_group_size=5)
    assert {g.group: g for g in explicit.groups}["A"].mean_difference > 0
    with pytest.raises(ValueError, match="suppressed"):
        assess_score_gaps(scores, reference="C", min_group_size=5)
    with pytest.raises(ValueError, match="finite"):
        assess_score_gaps({"A": [1.0, math.nan]})
