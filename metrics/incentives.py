"""Incentive plans, the collaboration report and team scoreboards (SPEC M5.1, M5.2, M5.6).

The arithmetic lives in :mod:`metrics.analytics.incentives` (exact fractions);
this module is the product around it:

* :func:`plan_check` — the M5.1/M5.2 verdict of one plan plus the 100 % rule;
* :func:`plan_activate` — the only way a plan becomes active: refused, with
  every reason in words, unless the weights sum to exactly 100 % and a team
  with high interdependence has at least
  ``settings.INCENTIVE_MIN_TEAM_WEIGHT_HIGH_INTERDEPENDENCE`` percent of its
  weight on team-level metrics (default: the analytics policy's 50 %);
* :func:`collaboration_report` — per visible team, the share of incentive
  weight on individual vs team metrics and the silo-risk flag (M5.1);
* :func:`team_scoreboard` — latest team values of a *team-level metric flagged
  non-punitive*; any other metric is refused (:class:`ScoreboardRefused`):
  there are no public individual rankings (M5.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from governance import permissions
from governance.audit import events
from governance.models import Team
from governance.services import save_governed
from metrics.analytics import incentives as analytics
from metrics.models import IncentiveComponent, IncentivePlan, Metric, Observation

__all__ = [
    "CollaborationRow",
    "PlanCheck",
    "ScoreboardRefused",
    "ScoreboardRow",
    "collaboration_report",
    "min_team_weight_high",
    "plan_activate",
    "plan_check",
    "policy",
    "scoreboard_metrics",
    "team_scoreboard",
]

_HUNDRED = Decimal(100)


def min_team_weight_high() -> Decimal:
    """The configured minimum team-level weight (percent) for high interdependence."""
    default = analytics.IncentivePolicy().min_team_share_high * 100
    raw = getattr(
        settings,
        "INCENTIVE_MIN_TEAM_WEIGHT_HIGH_INTERDEPENDENCE",
        Decimal(default.numerator) / Decimal(default.denominator),
    )
    value = Decimal(str(raw))
    if not 0 <= value <= 100:
        raise ValueError(
            "INCENTIVE_MIN_TEAM_WEIGHT_HIGH_INTERDEPENDENCE must be a percentage"
        )
    return value


def policy() -> analytics.IncentivePolicy:
    return analytics.IncentivePolicy(
        min_team_share_high=Fraction(min_team_weight_high()) / 100
    )


@dataclass(frozen=True)
class PlanCheck:
    plan: IncentivePlan
    total_weight: Decimal
    verdict: analytics.TeamIncentiveCheck
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def team_percent(self) -> float | None:
        share = self.verdict.team_share
        return None if share is None else round(float(share * 100), 2)

    @property
    def individual_percent(self) -> float | None:
        share = self.verdict.individual_share
        return None if share is None else round(float(share * 100), 2)


def _components(plan: IncentivePlan) -> list[analytics.IncentiveComponent]:
    return [
        analytics.IncentiveComponent(c.metric.key, c.level, c.weight)
        for c in plan.components.select_related("metric")
    ]


def plan_check(plan: IncentivePlan) -> PlanCheck:
    """Shares, silo risk, the high-interdependence minimum and the 100 % rule."""
    parts = _components(plan)
    total = sum((Fraction(c.weight) for c in parts), Fraction(0))
    total_decimal = Decimal(total.numerator) / Decimal(total.denominator)
    verdict = analytics.check_team_incentives(
        plan.team.name, plan.team.interdependence, parts, policy()
    )
    problems: list[str] = []
    if not parts:
        problems.append("The plan has no components.")
    elif total != 100:
        problems.append(
            f"The component weights sum to {total_decimal.normalize():f} %, not 100 %."
        )
    if verdict.meets_minimum is False:
        problems.append(
            f"{plan.team.name} has high interdependence: at least "
            f"{min_team_weight_high().normalize():f} % of the weight must be on "
            f"team-level metrics, the plan has "
            f"{round(float((verdict.team_share or 0) * 100), 2):g} %."
        )
    return PlanCheck(plan, total_decimal, verdict, tuple(problems))


@transaction.atomic
def plan_activate(*, actor: Any, plan: IncentivePlan, reason: str) -> IncentivePlan:
    """Activate a draft plan that passes :func:`plan_check`; refuse otherwise."""
    plan = (
        IncentivePlan.objects.select_for_update().select_related("team").get(pk=plan.pk)
    )
    if actor is not None and not permissions.can(actor, "change", plan):
        raise PermissionDenied("You may not activate this incentive plan.")
    if plan.status != IncentivePlan.Status.DRAFT:
        raise ValidationError("Only a draft plan can be activated.")
    check = plan_check(plan)
    if not check.ok:
        raise ValidationError(
            ["The plan cannot be activated:", *check.problems], code="plan_invalid"
        )
    plan.status = IncentivePlan.Status.ACTIVE
    plan.activated_at = timezone.now()
    plan.activated_by_id = getattr(actor, "pk", None)
    save_governed(plan, actor=actor, reason=reason or "activated")
    events.record(
        "incentive_plan.activated",
        actor=actor,
        target=plan,
        reason=reason,
        data={
            "team_id": plan.team_id,
            "team_share": str(check.verdict.team_share),
            "silo_risk": check.verdict.silo_risk,
        },
    )
    return plan


@transaction.atomic
def component_save(
    *, actor: Any, component: IncentiveComponent, reason: str
) -> IncentiveComponent:
    """Add or change a component of a *draft* plan (active plans are frozen)."""
    plan = IncentivePlan.objects.get(pk=component.plan_id)
    if plan.status != IncentivePlan.Status.DRAFT:
        raise ValidationError("An active plan is frozen: create a new plan instead.")
    save_governed(component, actor=actor, reason=reason)
    return component


# -- M5.1 collaboration report ------------------------------------------------------


@dataclass(frozen=True)
class CollaborationRow:
    team: Team
    plan: IncentivePlan | None
    check: PlanCheck | None

    @property
    def silo_risk(self) -> bool:
        return bool(self.check and self.check.verdict.silo_risk)


def collaboration_report(viewer: Any) -> list[CollaborationRow]:
    """Every team the viewer may see, with its current plan's shares.

    The current plan is the latest active one, else the latest draft; teams
    without a plan are listed with none (nothing to check).
    """
    teams = list(Team.objects.visible_to(viewer, "view").select_related("department"))
    plans = (
        IncentivePlan.objects.visible_to(viewer, "view")
        .filter(team__in=teams)
        .select_related("team")
        .order_by("team_id", "-period_start")
    )
    current: dict[int, IncentivePlan] = {}
    for plan in plans:
        held = current.get(plan.team_id)
        if held is None or (
            held.status == IncentivePlan.Status.DRAFT
            and plan.status == IncentivePlan.Status.ACTIVE
        ):
            current[plan.team_id] = plan
    rows = []
    for team in teams:
        plan = current.get(team.pk)
        rows.append(CollaborationRow(team, plan, plan_check(plan) if plan else None))
    return rows


# -- M5.6 non-punitive team scoreboards ------------------------------------------------


class ScoreboardRefused(ValidationError):
    """The metric may not have a public scoreboard (individual or not flagged)."""


@dataclass(frozen=True)
class ScoreboardRow:
    team: Team
    period_start: Any
    value: Any  # None when masked
    masked: bool


def _eligible(metric: Metric) -> None:
    if metric.level == Metric.Level.INDIVIDUAL:
        raise ScoreboardRefused(
            f"{metric.key} is an individual-level metric: public individual "
            "rankings are refused (M5.6)."
        )
    if metric.level != Metric.Level.TEAM:
        raise ScoreboardRefused(
            f"{metric.key} is not a team-level metric: scoreboards compare teams."
        )
    if not metric.non_punitive:
        raise ScoreboardRefused(
            f"{metric.key} is not flagged non-punitive: it may not appear on a "
            "scoreboard."
        )


def scoreboard_metrics(viewer: Any) -> list[Metric]:
    """Metrics eligible for a scoreboard that the viewer may see."""
    return list(
        Metric.objects.visible_to(viewer, "view").filter(
            level=Metric.Level.TEAM,
            non_punitive=True,
            status__in=(Metric.Status.ACTIVE, Metric.Status.SUNSET_REVIEW),
        )
    )


def team_scoreboard(*, viewer: Any, metric: Metric) -> list[ScoreboardRow]:
    """Latest current team value per team for a non-punitive team metric.

    Raises :class:`ScoreboardRefused` for any other metric (before reading a
    single value). Values above the viewer's clearance are masked.
    """
    _eligible(metric)
    if not permissions.has_model_perm(viewer, Metric, "view"):
        raise PermissionDenied
    observations = (
        Observation.objects.current()
        .filter(metric=metric, person__isnull=True, team__isnull=False)
        .select_related("team")
        .order_by("team_id", "-period_start", "-id")
    )
    latest: dict[int, Observation] = {}
    for obs in observations:
        latest.setdefault(obs.team_id, obs)  # type: ignore[arg-type]
    rows = []
    for obs in latest.values():
        level = max(int(obs.classification), int(metric.sensitivity))
        readable = permissions.can_read_level(viewer, level)
        rows.append(
            ScoreboardRow(
                obs.team,  # type: ignore[arg-type]
                obs.period_start,
                obs.value if readable else None,
                not readable,
            )
        )
    higher = metric.direction != Metric.Direction.LOWER
    rows.sort(
        key=lambda r: (r.value is None, -(r.value or 0) if higher else (r.value or 0))
    )
    return rows


def scoreboard_section(request: Any, profile: Any) -> dict[str, Any] | None:
    """The /me/ section: every team scoreboard the viewer may see (None: hidden)."""
    boards = [
        (metric, team_scoreboard(viewer=request.user, metric=metric))
        for metric in scoreboard_metrics(request.user)
    ]
    boards = [(metric, rows) for metric, rows in boards if rows]
    return {"boards": boards} if boards else None
