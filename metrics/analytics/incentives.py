"""Collaboration check and bonus-structure rule (SPEC M5.1, M5.2), pure computation.

Each team's incentive plan is a list of weighted components, each tied to an
individual-level or a team-level metric. Weights are converted to exact
fractions (a float is read as the decimal it prints as, so ``0.1`` is 1/10),
and every share and comparison is exact: a share of exactly the configured
minimum meets it.

* **Shares** (M5.1): ``team_share = team weight ÷ total weight`` and
  ``individual_share = 1 − team_share``; both ``None`` when the plan carries
  no weight at all.
* **Silo risk** (M5.1): the individual share is strictly above
  ``policy.max_individual_share`` (default 1/2: most of the incentive rides on
  individual results), for teams whose interdependence is not exempt (default:
  ``"low"`` is exempt — people whose work does not depend on each other
  cannot silo against each other inside the team).
* **Bonus-structure rule** (M5.2): a team with interdependence ``"high"`` must
  have ``team_share >= policy.min_team_share_high`` (default 1/2).
  ``meets_minimum`` is ``None`` where the rule does not apply (interdependence
  below high, or a plan without weight).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

__all__ = [
    "INTERDEPENDENCE_LEVELS",
    "METRIC_LEVELS",
    "IncentiveComponent",
    "IncentivePolicy",
    "TeamIncentiveCheck",
    "TeamIncentivePlan",
    "check_incentives",
    "check_team_incentives",
]

INTERDEPENDENCE_LEVELS = ("low", "medium", "high")
METRIC_LEVELS = ("individual", "team")

Weight = int | str | Decimal | Fraction | float


def _fraction(value: Weight, what: str) -> Fraction:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number")
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"{what} must be finite")
            return Fraction(Decimal(repr(value)))
        if isinstance(value, str):
            value = Decimal(value)
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError(f"{what} must be finite")
        return Fraction(value)
    except (ArithmeticError, TypeError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None


@dataclass(frozen=True)
class IncentiveComponent:
    """One weighted metric in a team's incentive plan."""

    metric: str
    level: str
    weight: Fraction

    def __init__(self, metric: str, level: str, weight: Weight) -> None:
        if level not in METRIC_LEVELS:
            raise ValueError(f"{metric}: level must be one of {METRIC_LEVELS}")
        exact = _fraction(weight, f"{metric}: weight")
        if exact < 0:
            raise ValueError(f"{metric}: weight must be non-negative")
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "weight", exact)


@dataclass(frozen=True)
class IncentivePolicy:
    """The configured thresholds (exact fractions)."""

    min_team_share_high: Fraction = Fraction(1, 2)
    max_individual_share: Fraction = Fraction(1, 2)
    silo_exempt: frozenset[str] = field(default_factory=lambda: frozenset({"low"}))

    def __post_init__(self) -> None:
        for name in ("min_team_share_high", "max_individual_share"):
            value = _fraction(getattr(self, name), name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
            object.__setattr__(self, name, value)
        unknown = set(self.silo_exempt) - set(INTERDEPENDENCE_LEVELS)
        if unknown:
            raise ValueError(f"unknown interdependence levels: {sorted(unknown)}")


@dataclass(frozen=True)
class TeamIncentivePlan:
    team: str
    interdependence: str
    components: tuple[IncentiveComponent, ...]


@dataclass(frozen=True)
class TeamIncentiveCheck:
    """The M5.1 / M5.2 verdict for one team, with the reasons in words."""

    team: str
    interdependence: str
    individual_weight: Fraction
    team_weight: Fraction
    individual_share: Fraction | None
    team_share: Fraction | None
    silo_risk: bool
    meets_minimum: bool | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        def exact(value: Fraction | None) -> str | None:
            return None if value is None else str(value)

        return {
            "team": self.team,
            "interdependence": self.interdependence,
            "individual_weight": exact(self.individual_weight),
            "team_weight": exact(self.team_weight),
            "individual_share": exact(self.individual_share),
            "team_share": exact(self.team_share),
            "individual_share_percent": (
                None
                if self.individual_share is None
                else float(self.individual_share * 100)
            ),
            "silo_risk": self.silo_risk,
            "meets_minimum": self.meets_minimum,
            "reasons": list(self.reasons),
        }


def _percent(value: Fraction) -> str:
    return f"{float(value * 100):.4g} %"


def check_team_incentives(
    team: str,
    interdependence: str,
    components: Iterable[IncentiveComponent],
    policy: IncentivePolicy | None = None,
) -> TeamIncentiveCheck:
    """Shares, silo risk and the high-interdependence rule for one team."""
    policy = policy or IncentivePolicy()
    if interdependence not in INTERDEPENDENCE_LEVELS:
        raise ValueError(f"interdependence must be one of {INTERDEPENDENCE_LEVELS}")
    parts = list(components)
    individual = sum((c.weight for c in parts if c.level == "individual"), Fraction(0))
    collective = sum((c.weight for c in parts if c.level == "team"), Fraction(0))
    total = individual + collective
    reasons: list[str] = []
    if total == 0:
        reasons.append("the plan carries no incentive weight")
        return TeamIncentiveCheck(
            team=team,
            interdependence=interdependence,
            individual_weight=individual,
            team_weight=collective,
            individual_share=None,
            team_share=None,
            silo_risk=False,
            meets_minimum=None,
            reasons=tuple(reasons),
        )
    team_share = collective / total
    individual_share = individual / total

    silo_risk = (
        interdependence not in policy.silo_exempt
        and individual_share > policy.max_individual_share
    )
    if silo_risk:
        reasons.append(
            f"{_percent(individual_share)} of the incentive weight is on individual "
            f"metrics (more than {_percent(policy.max_individual_share)}) in a team "
            f"with {interdependence} interdependence"
        )
    meets_minimum: bool | None = None
    if interdependence == "high":
        meets_minimum = team_share >= policy.min_team_share_high
        if not meets_minimum:
            reasons.append(
                f"team-level weight is {_percent(team_share)}, below the required "
                f"{_percent(policy.min_team_share_high)} for high interdependence"
            )
    return TeamIncentiveCheck(
        team=team,
        interdependence=interdependence,
        individual_weight=individual,
        team_weight=collective,
        individual_share=individual_share,
        team_share=team_share,
        silo_risk=silo_risk,
        meets_minimum=meets_minimum,
        reasons=tuple(reasons),
    )


def check_incentives(
    plans: Iterable[TeamIncentivePlan], policy: IncentivePolicy | None = None
) -> list[TeamIncentiveCheck]:
    """:func:`check_team_incentives` for every plan, in order."""
    return [
        check_team_incentives(p.team, p.interdependence, p.components, policy)
        for p in plans
    ]
