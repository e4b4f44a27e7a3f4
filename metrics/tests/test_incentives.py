"""Collaboration check (M5.1) and bonus-structure rule (M5.2)."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from fractions import Fraction

import pytest

from metrics.analytics.incentives import (
    IncentiveComponent,
    IncentivePolicy,
    TeamIncentivePlan,
    check_incentives,
    check_team_incentives,
)


def plan(individual: list, team: list) -> list[IncentiveComponent]:
    parts = [
        IncentiveComponent(f"ind{i}", "individual", w) for i, w in enumerate(individual)
    ]
    parts += [IncentiveComponent(f"team{i}", "team", w) for i, w in enumerate(team)]
    return parts


def test_shares_are_exact():
    check = check_team_incentives("ops", "medium", plan([30, 10], [60]))
    assert check.individual_weight == 40 and check.team_weight == 60
    assert check.individual_share == Fraction(2, 5)
    assert check.team_share == Fraction(3, 5)
    assert check.silo_risk is False
    assert check.meets_minimum is None  # rule only for high interdependence
    assert check.reasons == ()


def test_float_weights_are_read_as_the_decimals_they_print_as():
    # In binary floats the team share below is 0.7999999999999999; read as the
    # decimals they print as, it is exactly 4/5 and meets a 4/5 minimum.
    team, individual = [0.1, 0.4, 0.7], [0.3]
    assert sum(team) / (sum(team) + sum(individual)) < 0.8
    policy = IncentivePolicy(min_team_share_high=Fraction(4, 5))
    check = check_team_incentives("dev", "high", plan(individual, team), policy)
    assert check.team_share == Fraction(4, 5)
    assert check.meets_minimum is True
    same = check_team_incentives(
        "dev", "high", plan(["0.3"], [Decimal("0.1"), "0.4", Fraction(7, 10)]), policy
    )
    assert same.team_share == check.team_share


@pytest.mark.parametrize(
    "team_weight, meets", [(49, False), (50, True), (51, True), (0, False)]
)
def test_high_interdependence_needs_the_minimum_team_share(team_weight, meets):
    check = check_team_incentives(
        "dev", "high", plan([100 - team_weight], [team_weight])
    )
    assert check.meets_minimum is meets
    if not meets:
        assert any("below the required 50 %" in r for r in check.reasons)


def test_configured_minimum_and_silo_threshold():
    policy = IncentivePolicy(
        min_team_share_high=Fraction(2, 3), max_individual_share="0.25"
    )
    check = check_team_incentives("dev", "high", plan([35], [65]), policy)
    assert check.meets_minimum is False  # 65 % < 2/3
    assert check.silo_risk is True  # 35 % individual > 25 %
    assert len(check.reasons) == 2
    assert check_team_incentives("dev", "high", plan([1], [2]), policy).meets_minimum


def test_silo_risk_matrix():
    """Interdependence x individual share → silo flag (default threshold 1/2)."""
    expected = {
        ("low", 90): False,  # exempt by default
        ("low", 50): False,
        ("medium", 90): True,
        ("medium", 51): True,
        ("medium", 50): False,  # exactly half is not "more than half"
        ("high", 90): True,
        ("high", 50): False,
        ("high", 10): False,
    }
    for (level, individual), flagged in expected.items():
        check = check_team_incentives(
            "t", level, plan([individual], [100 - individual])
        )
        assert check.silo_risk is flagged, (level, individual)
    strict = IncentivePolicy(silo_exempt=frozenset())
    assert check_team_incentives("t", "low", plan([90], [10]), strict).silo_risk


def test_no_weight_at_all():
    check = check_team_incentives("t", "high", plan([0], [0]))
    assert check.team_share is None and check.individual_share is None
    assert check.meets_minimum is None and check.silo_risk is False
    assert check.reasons == ("the plan carries no incentive weight",)
    assert check_team_incentives("t", "high", []).team_share is None


def test_many_plans_against_exact_arithmetic():
    weights = [0, 1, 2, 5, "0.5", "2.5"]
    for ind, team, level in itertools.product(weights, weights, ["medium", "high"]):
        check = check_team_incentives("t", level, plan([ind], [team]))
        total = Fraction(Decimal(str(ind))) + Fraction(Decimal(str(team)))
        if total == 0:
            assert check.team_share is None
            continue
        share = Fraction(Decimal(str(team))) / total
        assert check.team_share == share
        assert check.individual_share == 1 - share
        assert check.silo_risk is (1 - share > Fraction(1, 2))
        if level == "high":
            assert check.meets_minimum is (share >= Fraction(1, 2))


def test_check_incentives_and_json_form():
    plans = [
        TeamIncentivePlan("a", "high", tuple(plan([3], [1]))),
        TeamIncentivePlan("b", "low", tuple(plan([3], [1]))),
    ]
    results = check_incentives(plans)
    assert [r.team for r in results] == ["a", "b"]
    data = json.loads(json.dumps(results[0].to_dict()))
    assert data["team_share"] == "1/4"
    assert data["individual_share_percent"] == 75.0
    assert data["meets_minimum"] is False and data["silo_risk"] is True


@pytest.mark.parametrize(
    "make",
    [
        lambda: IncentiveComponent("m", "department", 1),
        lambda: IncentiveComponent("m", "team", -1),
        lambda: IncentiveComponent("m", "team", float("inf")),
        lambda: IncentiveComponent("m", "team", "NaN"),
        lambda: IncentiveComponent("m", "team", "lots"),
        lambda: IncentiveComponent("m", "team", True),
        lambda: IncentivePolicy(min_team_share_high=Fraction(3, 2)),
        lambda: IncentivePolicy(silo_exempt=frozenset({"none"})),
        lambda: check_team_incentives("t", "extreme", []),
    ],
)
def test_invalid_input_is_rejected(make):
    with pytest.raises(ValueError):
        make()
