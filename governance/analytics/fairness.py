"""Bias assessment statistics (SPEC M8.5), pure computation with no Django imports.

Conventions (documented for auditors in ``docs/fairness.md``):

* **Selection rate** of a group = selected ÷ n, kept as an exact
  :class:`fractions.Fraction`.
* **Reference group** = the displayed (non-suppressed) group with the highest
  selection rate; ties go to the larger group, then to the label that sorts
  first, so the choice is deterministic.
* **Impact ratio** = rate ÷ reference rate, exact. The four-fifths rule is
  applied to the exact fraction: a group is *adverse* iff its ratio is
  strictly below 4/5; a ratio of exactly 0.8 is not adverse. When nobody in
  the displayed groups was selected the ratio is undefined (``None``) and no
  group is adverse.
* **Statistical parity difference** = rate − reference rate (≤ 0).
* **Fisher's exact test** (two-sided, "sum of probabilities no larger than the
  observed one", ties decided exactly) and the **chi-square test of
  independence without continuity correction** compare each group with the
  reference group in a 2×2 table ``[[selected, not selected] group,
  [selected, not selected] reference]``. Both are ``None`` for the reference
  group; the chi-square p-value is ``None`` when the test is undefined (a zero
  row or column total, e.g. nobody selected at all).
* **Score gaps** for continuous scores: difference of means (group − reference)
  and Cohen's d with the pooled sample standard deviation.
* **Small-group suppression**: groups with fewer than ``min_group_size``
  members are flagged ``suppressed`` and every figure about them is withheld;
  they take no part in choosing the reference group.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = [
    "DEFAULT_MIN_GROUP_SIZE",
    "FOUR_FIFTHS",
    "GroupCounts",
    "GroupScoreGap",
    "GroupSelection",
    "ScoreGapAssessment",
    "SelectionAssessment",
    "assess_score_gaps",
    "assess_selection",
    "chi2_independence_2x2",
    "cohens_d",
    "counts_from_outcomes",
    "fisher_exact_2x2",
]

FOUR_FIFTHS = Fraction(4, 5)
DEFAULT_MIN_GROUP_SIZE = 5

# Two hypergeometric log-probabilities closer than this are re-compared exactly.
_TIE_WINDOW = 1e-7


# --------------------------------------------------------------------------
# 2×2 significance tests
# --------------------------------------------------------------------------


def _check_table(table: Sequence[Sequence[int]]) -> tuple[int, int, int, int]:
    if len(table) != 2 or any(len(row) != 2 for row in table):
        raise ValueError("a 2×2 table is required")
    a, b = table[0]
    c, d = table[1]
    cells = (a, b, c, d)
    for cell in cells:
        if isinstance(cell, bool) or int(cell) != cell:
            raise ValueError("table cells must be whole numbers")
        if cell < 0:
            raise ValueError("table cells must be non-negative")
    return int(a), int(b), int(c), int(d)


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


def fisher_exact_2x2(table: Sequence[Sequence[int]]) -> tuple[float, float]:
    """Fisher's exact test on a 2×2 table, two-sided.

    Returns ``(odds_ratio, p_value)`` with the same conventions as
    ``scipy.stats.fisher_exact``: the sample odds ratio ``a·d / (b·c)``
    (``inf`` when ``b·c = 0``; ``nan`` and p = 1 when a row or column total is
    zero). The two-sided p-value sums the probabilities of all tables with the
    observed margins that are no more likely than the observed table.
    Probabilities are computed in log space relative to the mode; candidates
    within a tiny window of the observed probability are compared exactly with
    rational arithmetic, so genuine ties are always counted.
    """
    a, b, c, d = _check_table(table)
    row1, row2 = a + b, c + d
    col1 = a + c
    if 0 in (row1, row2, col1, b + d):
        return math.nan, 1.0
    odds_ratio = (a * d) / (b * c) if b > 0 and c > 0 else math.inf

    # Support of the top-left cell given the margins.
    lo = max(0, col1 - row2)
    hi = min(row1, col1)

    def step(x: int) -> Fraction:
        """P(X = x + 1) / P(X = x) for the hypergeometric distribution."""
        return Fraction((row1 - x) * (col1 - x), (x + 1) * (row2 - col1 + x + 1))

    # Log-probabilities up to a constant, built outward from lo by recurrence.
    logs = [0.0] * (hi - lo + 1)
    for x in range(lo, hi):
        num = (row1 - x) * (col1 - x)
        den = (x + 1) * (row2 - col1 + x + 1)
        logs[x - lo + 1] = logs[x - lo] + math.log(num) - math.log(den)
    observed = logs[a - lo]

    chosen: list[float] = []
    for x in range(lo, hi + 1):
        value = logs[x - lo]
        if x == a or value < observed - _TIE_WINDOW:
            chosen.append(value)
        elif value <= observed + _TIE_WINDOW:
            # Too close for floating point: decide P(x) <= P(a) exactly.
            ratio = Fraction(1)
            if x > a:
                for y in range(a, x):
                    ratio *= step(y)
            else:
                for y in range(x, a):
                    ratio /= step(y)
            if ratio <= 1:
                chosen.append(value)
    p_value = math.exp(_logsumexp(chosen) - _logsumexp(logs))
    return odds_ratio, min(p_value, 1.0)


def chi2_independence_2x2(
    table: Sequence[Sequence[int]],
) -> tuple[float, float] | None:
    """Pearson's chi-square test of independence on a 2×2 table.

    No continuity (Yates) correction; one degree of freedom. Returns
    ``(statistic, p_value)``, or ``None`` when a row or column total is zero
    (an expected count is then zero and the test is undefined). The statistic
    is computed exactly, ``N (ad − bc)² / (r1 r2 c1 c2)``, and the p-value is
    the chi-square(1) survival function ``erfc(√(x / 2))``.
    """
    a, b, c, d = _check_table(table)
    margins = (a + b, c + d, a + c, b + d)
    if 0 in margins:
        return None
    total = a + b + c + d
    statistic = Fraction(total * (a * d - b * c) ** 2, math.prod(margins))
    value = float(statistic)
    return value, math.erfc(math.sqrt(value / 2.0))


# --------------------------------------------------------------------------
# Selection rates and the four-fifths rule
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupCounts:
    """How many members a group has and how many of them were selected."""

    group: str
    n: int
    selected: int

    def __post_init__(self) -> None:
        for name in ("n", "selected"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer")
        if self.n < 0 or self.selected < 0:
            raise ValueError("counts must be non-negative")
        if self.selected > self.n:
            raise ValueError(f"group {self.group!r}: selected exceeds n")


@dataclass(frozen=True)
class GroupSelection:
    """The assessment of one group. Every figure is ``None`` when suppressed."""

    group: str
    suppressed: bool
    is_reference: bool
    n: int | None
    selected: int | None
    rate: Fraction | None
    impact_ratio: Fraction | None
    adverse: bool | None
    parity_difference: Fraction | None
    fisher_p: float | None
    chi2_p: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: fractions as floats plus their exact text."""
        return {
            "group": self.group,
            "suppressed": self.suppressed,
            "is_reference": self.is_reference,
            "n": self.n,
            "selected": self.selected,
            "rate": _float(self.rate),
            "impact_ratio": _float(self.impact_ratio),
            "impact_ratio_exact": _text(self.impact_ratio),
            "adverse": self.adverse,
            "parity_difference": _float(self.parity_difference),
            "fisher_p": self.fisher_p,
            "chi2_p": self.chi2_p,
        }


@dataclass(frozen=True)
class SelectionAssessment:
    """Selection rates, impact ratios and significance tests for all groups."""

    reference_group: str | None
    groups: tuple[GroupSelection, ...]
    min_group_size: int

    @property
    def adverse_groups(self) -> tuple[str, ...]:
        return tuple(g.group for g in self.groups if g.adverse)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference_group": self.reference_group,
            "four_fifths_threshold": "4/5",
            "min_group_size": self.min_group_size,
            "groups": [g.to_dict() for g in self.groups],
        }


def _float(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def _text(value: Fraction | None) -> str | None:
    return None if value is None else str(value)


def _as_counts(
    counts: Mapping[str, tuple[int, int]] | Iterable[GroupCounts],
) -> list[GroupCounts]:
    if isinstance(counts, Mapping):
        items = [GroupCounts(str(g), n, s) for g, (n, s) in counts.items()]
    else:
        items = list(counts)
    labels = [item.group for item in items]
    if len(set(labels)) != len(labels):
        raise ValueError("group labels must be unique")
    return items


def counts_from_outcomes(rows: Iterable[tuple[str, int | bool]]) -> list[GroupCounts]:
    """Aggregate ``(group, outcome)`` pairs (outcome 0/1) into group counts."""
    totals: dict[str, list[int]] = {}
    for group, outcome in rows:
        if outcome not in (0, 1):
            raise ValueError(f"outcome must be 0 or 1, got {outcome!r}")
        bucket = totals.setdefault(group, [0, 0])
        bucket[0] += 1
        bucket[1] += int(outcome)
    return [GroupCounts(g, n, s) for g, (n, s) in sorted(totals.items())]


def _pick_reference(items: Sequence[GroupCounts]) -> GroupCounts | None:
    if not items:
        return None
    return min(items, key=lambda g: (-Fraction(g.selected, g.n), -g.n, g.group))


def assess_selection(
    counts: Mapping[str, tuple[int, int]] | Iterable[GroupCounts],
    *,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> SelectionAssessment:
    """Assess selection outcomes per group against the four-fifths rule.

    ``counts`` maps each group label to ``(n, selected)`` or is an iterable of
    :class:`GroupCounts`. Groups keep their given order in the result.
    Groups with ``n < min_group_size`` (and empty groups) are suppressed.
    """
    if min_group_size < 0:
        raise ValueError("min_group_size must be non-negative")
    items = _as_counts(counts)
    shown = [g for g in items if g.n >= max(min_group_size, 1)]
    reference = _pick_reference(shown)
    ref_rate = Fraction(reference.selected, reference.n) if reference else None

    results: list[GroupSelection] = []
    for item in items:
        if item not in shown or reference is None or ref_rate is None:
            results.append(
                GroupSelection(
                    group=item.group,
                    suppressed=item not in shown,
                    is_reference=False,
                    n=None,
                    selected=None,
                    rate=None,
                    impact_ratio=None,
                    adverse=None,
                    parity_difference=None,
                    fisher_p=None,
                    chi2_p=None,
                )
            )
            continue
        rate = Fraction(item.selected, item.n)
        is_reference = item is reference
        ratio = rate / ref_rate if ref_rate > 0 else None
        fisher_p: float | None = None
        chi2_p: float | None = None
        if not is_reference:
            table = [
                [item.selected, item.n - item.selected],
                [reference.selected, reference.n - reference.selected],
            ]
            fisher_p = fisher_exact_2x2(table)[1]
            chi2 = chi2_independence_2x2(table)
            chi2_p = None if chi2 is None else chi2[1]
        results.append(
            GroupSelection(
                group=item.group,
                suppressed=False,
                is_reference=is_reference,
                n=item.n,
                selected=item.selected,
                rate=rate,
                impact_ratio=ratio,
                adverse=ratio is not None and ratio < FOUR_FIFTHS,
                parity_difference=rate - ref_rate,
                fisher_p=fisher_p,
                chi2_p=chi2_p,
            )
        )
    return SelectionAssessment(
        reference_group=reference.group if reference else None,
        groups=tuple(results),
        min_group_size=min_group_size,
    )


# --------------------------------------------------------------------------
# Score gaps (continuous scores)
# --------------------------------------------------------------------------


def cohens_d(group: Sequence[float], reference: Sequence[float]) -> float | None:
    """Cohen's d = (mean(group) − mean(reference)) / pooled SD.

    The pooled SD is ``√(((n₁−1)s₁² + (n₂−1)s₂²) / (n₁+n₂−2))`` with sample
    variances. ``None`` when it is undefined (fewer than three scores in all,
    an empty side, or zero pooled spread).
    """
    n1, n2 = len(group), len(reference)
    if n1 == 0 or n2 == 0 or n1 + n2 - 2 <= 0:
        return None
    var1 = statistics.variance(group) if n1 > 1 else 0.0
    var2 = statistics.variance(reference) if n2 > 1 else 0.0
    pooled = math.sqrt(((n1 - 1) * var1 + (n2 - 1) * var2) / (n1 + n2 - 2))
    if pooled == 0:
        return None
    return (statistics.fmean(group) - statistics.fmean(reference)) / pooled


@dataclass(frozen=True)
class GroupScoreGap:
    """Score summary of one group against the reference group."""

    group: str
    suppressed: bool
    is_reference: bool
    n: int | None
    mean: float | None
    sd: float | None
    mean_difference: float | None
    cohens_d: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "suppressed": self.suppressed,
            "is_reference": self.is_reference,
            "n": self.n,
            "mean": self.mean,
            "sd": self.sd,
            "mean_difference": self.mean_difference,
            "cohens_d": self.cohens_d,
        }


@dataclass(frozen=True)
class ScoreGapAssessment:
    reference_group: str | None
    groups: tuple[GroupScoreGap, ...]
    min_group_size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference_group": self.reference_group,
            "min_group_size": self.min_group_size,
            "groups": [g.to_dict() for g in self.groups],
        }


def assess_score_gaps(
    scores: Mapping[str, Sequence[float]],
    *,
    reference: str | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> ScoreGapAssessment:
    """Score gaps of each group against a reference group.

    ``reference`` defaults to the displayed group with the highest mean score
    (ties: larger group, then label). Pass the selection analysis's reference
    group to keep both analyses on one baseline. Small groups are suppressed
    as in :func:`assess_selection`; a suppressed group cannot be the reference.
    """
    if min_group_size < 0:
        raise ValueError("min_group_size must be non-negative")
    data = {str(g): [float(v) for v in values] for g, values in scores.items()}
    for group, values in data.items():
        if any(not math.isfinite(v) for v in values):
            raise ValueError(f"group {group!r}: scores must be finite numbers")
    shown = {g for g, v in data.items() if len(v) >= max(min_group_size, 1)}
    if reference is None:
        if shown:
            reference = min(
                shown,
                key=lambda g: (-statistics.fmean(data[g]), -len(data[g]), g),
            )
    elif reference not in data:
        raise ValueError(f"unknown reference group {reference!r}")
    elif reference not in shown:
        raise ValueError(f"reference group {reference!r} is suppressed")

    results = []
    for group, values in data.items():
        if group not in shown or reference is None:
            results.append(
                GroupScoreGap(
                    group, group not in shown, False, None, None, None, None, None
                )
            )
            continue
        ref_values = data[reference]
        mean = statistics.fmean(values)
        results.append(
            GroupScoreGap(
                group=group,
                suppressed=False,
                is_reference=group == reference,
                n=len(values),
                mean=mean,
                sd=statistics.stdev(values) if len(values) > 1 else None,
                mean_difference=mean - statistics.fmean(ref_values),
                cohens_d=cohens_d(values, ref_values),
            )
        )
    return ScoreGapAssessment(reference, tuple(results), min_group_size)
