"""Incentive plans, the collaboration report and scoreboards (metrics.incentives)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from governance.audit import events as _events  # noqa: F401 - AuditEvent model import
from governance.models import AuditEvent
from governance.services import save_governed
from metrics import incentives, services
from metrics.models import IncentiveComponent, IncentivePlan, Metric
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat(org):
    return build_catalogue(org)


def _plan(org, team=None, weights=(("calls", "60"), ("resolution", "40")), cat=None):
    team = team or org.team_a
    plan = save_governed(
        IncentivePlan(
            team=team,
            name="H1 bonus",
            period_start=datetime.date(2026, 1, 1),
            period_end=datetime.date(2026, 6, 30),
        ),
        actor=None,
        reason="test",
    )
    for attr, weight in weights:
        metric = getattr(cat, attr)
        level = "individual" if metric.level == "individual" else "team"
        save_governed(
            IncentiveComponent(
                plan=plan, metric=metric, level=level, weight=Decimal(weight)
            ),
            actor=None,
            reason="test",
        )
    return plan


def _high(team):
    team.interdependence = "high"
    save_governed(team, actor=None, reason="test")


def test_activation_needs_weights_summing_to_100(org, cat):
    plan = _plan(org, cat=cat, weights=(("calls", "60"), ("resolution", "30")))
    with pytest.raises(ValidationError) as exc:
        incentives.plan_activate(actor=org.users["hr"], plan=plan, reason="go")
    assert "sum to 90 %, not 100 %" in " ".join(exc.value.messages)
    plan.refresh_from_db()
    assert plan.status == IncentivePlan.Status.DRAFT


def test_high_interdependence_team_below_minimum_is_refused(org, cat):
    _high(org.team_a)
    plan = _plan(org, cat=cat, weights=(("calls", "60"), ("resolution", "40")))
    with pytest.raises(ValidationError) as exc:
        incentives.plan_activate(actor=org.users["hr"], plan=plan, reason="go")
    text = " ".join(exc.value.messages)
    assert "high interdependence" in text and "at least 50 %" in text
    assert "the plan has 40 %" in text
    assert IncentivePlan.objects.get(pk=plan.pk).status == "draft"


def test_exactly_the_minimum_meets_it(org, cat):
    _high(org.team_a)
    plan = _plan(org, cat=cat, weights=(("calls", "50"), ("resolution", "50")))
    incentives.plan_activate(actor=org.users["hr"], plan=plan, reason="go")
    plan.refresh_from_db()
    assert plan.status == "active" and plan.activated_by_id == org.users["hr"].pk
    assert AuditEvent.objects.filter(
        action="incentive_plan.activated", object_id=str(plan.pk)
    ).exists()


def test_minimum_comes_from_the_setting(org, cat, settings):
    settings.INCENTIVE_MIN_TEAM_WEIGHT_HIGH_INTERDEPENDENCE = 70
    _high(org.team_a)
    plan = _plan(org, cat=cat, weights=(("calls", "40"), ("resolution", "60")))
    with pytest.raises(ValidationError, match="at least 70 %"):
        incentives.plan_activate(actor=org.users["hr"], plan=plan, reason="go")


def test_medium_interdependence_is_not_held_to_the_minimum(org, cat):
    plan = _plan(org, cat=cat, weights=(("calls", "80"), ("resolution", "20")))
    check = incentives.plan_check(plan)
    assert check.ok and check.verdict.silo_risk  # flagged, not refused
    incentives.plan_activate(actor=org.users["hr"], plan=plan, reason="go")


def test_only_hr_may_activate_and_only_drafts(org, cat):
    plan = _plan(org, cat=cat, weights=(("calls", "50"), ("resolution", "50")))
    for key in ("manager", "compliance", "auditor", "employee"):
        with pytest.raises(PermissionDenied):
            incentives.plan_activate(actor=org.users[key], plan=plan, reason="go")
    incentives.plan_activate(actor=org.users["hr"], plan=plan, reason="go")
    with pytest.raises(ValidationError, match="Only a draft"):
        incentives.plan_activate(actor=org.users["hr"], plan=plan, reason="again")


def test_active_plan_is_frozen(org, cat):
    plan = _plan(org, cat=cat, weights=(("calls", "50"), ("resolution", "50")))
    incentives.plan_activate(actor=org.users["hr"], plan=plan, reason="go")
    component = plan.components.first()
    component.weight = Decimal("10")
    with pytest.raises(ValidationError, match="frozen"):
        incentives.component_save(actor=None, component=component, reason="x")


def test_component_level_must_match_metric_level(org, cat):
    plan = _plan(org, cat=cat, weights=())
    with pytest.raises(ValidationError, match="individual-level metric"):
        save_governed(
            IncentiveComponent(
                plan=plan, metric=cat.calls, level="team", weight=Decimal("50")
            ),
            actor=None,
            reason="test",
        )


def test_collaboration_report_scoped_and_flags_silo_risk(org, cat):
    _plan(org, cat=cat, weights=(("calls", "80"), ("resolution", "20")))
    _plan(org, team=org.team_b, cat=cat, weights=(("resolution", "100"),))
    rows = {r.team.name: r for r in incentives.collaboration_report(org.users["hr"])}
    assert rows["Team A"].silo_risk and rows["Team A"].check.individual_percent == 80
    assert not rows["Team B"].silo_risk and rows["Team B"].check.team_percent == 100
    assert rows["Team A1"].plan is None
    manager_rows = incentives.collaboration_report(org.users["manager"])
    assert {r.team.name for r in manager_rows} == {"Team A", "Team A1"}
    assert incentives.collaboration_report(org.users["employee"]) == []


# -- scoreboards (M5.6) ---------------------------------------------------------------


def _flag(metric, value=True):
    Metric.objects.filter(pk=metric.pk).update(non_punitive=value)
    metric.refresh_from_db()


def test_individual_metric_scoreboard_is_refused(org, cat):
    _flag(cat.calls)  # even flagged: individual rankings are refused
    with pytest.raises(incentives.ScoreboardRefused, match="individual-level"):
        incentives.team_scoreboard(viewer=org.users["hr"], metric=cat.calls)


def test_unflagged_team_metric_is_refused(org, cat):
    with pytest.raises(incentives.ScoreboardRefused, match="non-punitive"):
        incentives.team_scoreboard(viewer=org.users["hr"], metric=cat.resolution)


def test_scoreboard_lists_latest_team_values_ranked(org, cat):
    _flag(cat.resolution)
    services.record_observations(
        actor=None,
        rows=[
            {"metric": cat.resolution.key, "team": t, "period_start": p, "value": v}
            for t, p, v in (
                ("Team A", "2026-02-01", "70"),
                ("Team A", "2026-03-01", "75"),
                ("Team B", "2026-03-01", "90"),
            )
        ],
    )
    rows = incentives.team_scoreboard(
        viewer=org.users["employee"], metric=cat.resolution
    )
    assert [(r.team.name, r.value) for r in rows] == [
        ("Team B", Decimal("90")),
        ("Team A", Decimal("75")),
    ]
    assert cat.resolution in incentives.scoreboard_metrics(org.users["employee"])
    assert cat.calls not in incentives.scoreboard_metrics(org.users["employee"])


def test_me_page_shows_team_scoreboards_only(client, org, cat):
    _flag(cat.resolution)
    _flag(cat.calls)  # flagged but individual: never on a scoreboard
    services.record_observations(
        actor=None,
        rows=[
            {
                "metric": cat.resolution.key,
                "team": "Team B",
                "period_start": "2026-03-01",
                "value": "88",
            },
            {
                "metric": cat.calls.key,
                "employee_id": org.people["member_a"].employee_id,
                "period_start": "2026-03-01",
                "value": "123",
            },
        ],
    )
    client.force_login(org.users["employee"])
    page = client.get("/me/").content.decode()
    assert "Team scoreboards" in page
    assert f'data-metric="{cat.resolution.key}"' in page and "Team B" in page
    assert f'data-metric="{cat.calls.key}"' not in page


def test_me_page_hides_scoreboards_without_eligible_metrics(client, org, cat):
    client.force_login(org.users["employee"])
    assert "Team scoreboards" not in client.get("/me/").content.decode()
