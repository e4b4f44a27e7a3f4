"""The incentive-safeguard admin pages and actions as a role × outcome matrix."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.urls import reverse

from governance.models import Team
from governance.services import save_governed
from metrics import services
from metrics.models import (
    GamingFinding,
    IncentiveComponent,
    IncentivePlan,
    Metric,
    PeerReviewAssignment,
    PeerReviewCycle,
)
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

ROLES = (
    "anonymous",
    "nobody",
    "employee",
    "hr",
    "compliance",
    "steward",
    "metric_owner",
    "board",
    "manager",
    "auditor",
    "admin",
)


@pytest.fixture
def world(org):
    cat = build_catalogue(org)
    Metric.objects.filter(pk__in=[cat.resolution.pk, cat.calls.pk]).update(
        non_punitive=True
    )
    services.record_observations(
        actor=None,
        rows=[
            {
                "metric": cat.resolution.key,
                "team": team,
                "period_start": "2026-03-01",
                "value": value,
            }
            for team, value in (("Team A", "71"), ("Team B", "93"))
        ],
    )
    plans = {}
    for team, weights in ((org.team_a, ("80", "20")), (org.team_b, ("30", "70"))):
        plan = save_governed(
            IncentivePlan(
                team=team,
                name=f"{team.name} H1",
                period_start=datetime.date(2026, 1, 1),
                period_end=datetime.date(2026, 6, 30),
            ),
            actor=None,
            reason="test",
        )
        for metric, level, weight in (
            (cat.calls, "individual", weights[0]),
            (cat.resolution, "team", weights[1]),
        ):
            save_governed(
                IncentiveComponent(
                    plan=plan, metric=metric, level=level, weight=Decimal(weight)
                ),
                actor=None,
                reason="test",
            )
        plans[team.name] = plan
    now = datetime.datetime(2026, 4, 1, tzinfo=datetime.UTC)
    finding = save_governed(
        GamingFinding(
            kind="threshold_bunching",
            metric=cat.calls,
            team=org.team_a,
            fingerprint="f1",
            evidence={"just_passing": 9, "just_failing": 1},
            summary="9 values lie just on the passing side of 60.",
            detected_at=now,
            last_seen_at=now,
        ),
        actor=None,
        reason="test",
    )
    cycle = save_governed(
        PeerReviewCycle(
            name="2026-H1",
            department=org.sales,
            reviewers_per_person=1,
            starts_on=datetime.date(2026, 1, 1),
        ),
        actor=None,
        reason="test",
    )
    return org, cat, plans, finding, cycle


def _login(client, org, role):
    if role != "anonymous":
        client.force_login(org.users[role])


def _outcome(response):
    if response.status_code == 302:
        return "login" if "/login/" in response.url else f"302 {response.url}"
    return {200: "ok", 403: "denied", 404: "gone"}.get(
        response.status_code, str(response.status_code)
    )


def _said(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


COLLABORATION = {
    "anonymous": "login",
    "nobody": "login",
    "employee": "login",
    "hr": "ok",
    "compliance": "ok",
    "steward": "denied",
    "metric_owner": "denied",
    "board": "denied",
    "manager": "ok",
    "auditor": "ok",
    "admin": "ok",
}


@pytest.mark.parametrize("role", ROLES)
def test_collaboration_report(client, world, role):
    org, *_ = world
    _login(client, org, role)
    response = client.get(reverse("admin:metrics_incentiveplan_collaboration"))
    assert _outcome(response) == COLLABORATION[role]
    if response.status_code != 200:
        return
    teams = {row.team.name: row for row in response.context["rows"]}
    expected = (
        {"Team A", "Team A1"}
        if role == "manager"
        else set(Team.objects.values_list("name", flat=True))
    )
    assert set(teams) == expected
    html = response.content.decode()
    assert teams["Team A"].silo_risk and "Silo risk" in html
    assert "80.0 %" in html
    if role != "manager":
        assert not teams["Team B"].silo_risk


SCOREBOARD = {
    "anonymous": "login",
    "nobody": "login",
    "employee": "login",  # employees see scoreboards on /me/
    **dict.fromkeys(
        ("hr", "compliance", "steward", "metric_owner", "board", "manager"), "ok"
    ),
    "auditor": "ok",
    "admin": "ok",
}


@pytest.mark.parametrize("role", ROLES)
def test_team_scoreboard_page(client, world, role):
    org, cat, *_ = world
    _login(client, org, role)
    index = client.get(reverse("admin:metrics_incentiveplan_scoreboards"))
    assert _outcome(index) == SCOREBOARD[role]
    response = client.get(
        reverse("admin:metrics_incentiveplan_scoreboard", args=[cat.resolution.pk])
    )
    assert _outcome(response) == SCOREBOARD[role]
    if response.status_code == 200:
        assert [m.key for m in index.context["metrics"]] == [cat.resolution.key]
        rows = response.context["rows"]
        assert [(r.team.name, r.value) for r in rows] == [
            ("Team B", Decimal("93")),
            ("Team A", Decimal("71")),
        ]


@pytest.mark.parametrize("role", ["hr", "manager", "auditor", "admin"])
def test_individual_metric_scoreboard_is_refused(client, world, role):
    org, cat, *_ = world
    _login(client, org, role)
    response = client.get(
        reverse("admin:metrics_incentiveplan_scoreboard", args=[cat.calls.pk])
    )
    assert response.status_code == 403
    assert "public individual rankings are refused" in response.content.decode()
    assert response.context["rows"] == []


REVIEW = {
    "anonymous": "login",
    "nobody": "login",
    "employee": "login",
    "hr": "ok",
    "compliance": "ok",
    "steward": "denied",
    "metric_owner": "denied",
    "board": "denied",
    "manager": "denied",
    "auditor": "denied",
    "admin": "ok",
}


@pytest.mark.parametrize("role", ROLES)
def test_review_page(client, world, role):
    org, _cat, _plans, finding, _cycle = world
    _login(client, org, role)
    url = reverse("admin:metrics_gamingfinding_review", args=[finding.pk])
    assert _outcome(client.get(url)) == REVIEW[role]
    response = client.post(url, {"outcome": "process_fix", "note": "quota reworded"})
    finding.refresh_from_db()
    if REVIEW[role] == "ok":
        assert response.status_code == 302
        assert (finding.status, finding.outcome) == ("reviewed", "process_fix")
        assert finding.review_note == "quota reworded"
    else:
        assert _outcome(response) == REVIEW[role]
        assert finding.status == "open"


def test_review_needs_a_note_and_a_known_outcome(client, world):
    org, _cat, _plans, finding, _cycle = world
    client.force_login(org.users["compliance"])
    url = reverse("admin:metrics_gamingfinding_review", args=[finding.pk])
    response = client.post(url, {"outcome": "sanction", "note": ""})
    assert response.status_code == 200 and response.context["form"].errors
    assert GamingFinding.objects.get(pk=finding.pk).status == "open"


def _action(client, url, action, pks, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(p) for p in pks]}
    data.update(extra)
    return client.post(url, data)


ACTIVATE = {
    "hr": "activated",
    "admin": "activated",
    **dict.fromkeys(("compliance", "manager", "auditor"), "unavailable"),
    **dict.fromkeys(("steward", "metric_owner", "board"), "denied"),
    **dict.fromkeys(("anonymous", "nobody", "employee"), "login"),
}


@pytest.mark.parametrize("role", ROLES)
def test_activate_action(client, world, role):
    org, _cat, plans, _finding, _cycle = world
    _login(client, org, role)
    valid = plans["Team B"]  # medium interdependence, weights sum to 100
    url = reverse("admin:metrics_incentiveplan_changelist")
    response = _action(
        client, url, "activate_selected", [valid.pk], confirm="yes", reason="H1 plan"
    )
    valid.refresh_from_db()
    expected = ACTIVATE[role]
    if expected == "activated":
        assert valid.status == "active", _said(response)
        assert "Activated 1 plan(s)." in _said(response)
    else:
        assert valid.status == "draft"
        if expected == "unavailable":
            assert response.status_code in (200, 302)
            assert not any("Activated" in m for m in _said(response))
        else:
            assert _outcome(response) == expected


def test_activation_refused_for_high_interdependence_below_minimum(client, world):
    org, _cat, plans, _finding, _cycle = world
    org.team_a.interdependence = "high"
    save_governed(org.team_a, actor=None, reason="test")
    client.force_login(org.users["hr"])
    plan = plans["Team A"]  # 20 % team weight
    response = _action(
        client,
        reverse("admin:metrics_incentiveplan_changelist"),
        "activate_selected",
        [plan.pk],
        confirm="yes",
        reason="H1",
    )
    plan.refresh_from_db()
    assert plan.status == "draft"
    said = " ".join(_said(response))
    assert "high interdependence" in said and "the plan has 20 %" in said


def test_active_plan_is_read_only_in_the_admin(client, world):
    org, _cat, plans, _finding, _cycle = world
    client.force_login(org.users["hr"])
    plan = plans["Team B"]
    _action(
        client,
        reverse("admin:metrics_incentiveplan_changelist"),
        "activate_selected",
        [plan.pk],
        confirm="yes",
        reason="go",
    )
    response = client.get(reverse("admin:metrics_incentiveplan_change", args=[plan.pk]))
    assert response.status_code == 200
    assert not response.context["has_change_permission"]


GENERATE = {
    "hr": "generated",
    "admin": "generated",
    **dict.fromkeys(("compliance", "manager", "auditor"), "unavailable"),
    **dict.fromkeys(("steward", "metric_owner", "board"), "denied"),
    **dict.fromkeys(("anonymous", "nobody", "employee"), "login"),
}


@pytest.mark.parametrize("role", ROLES)
def test_generate_assignments_action(client, world, role):
    org, _cat, _plans, _finding, cycle = world
    _login(client, org, role)
    response = _action(
        client,
        reverse("admin:metrics_peerreviewcycle_changelist"),
        "generate_selected",
        [cycle.pk],
    )
    cycle.refresh_from_db()
    count = PeerReviewAssignment.objects.filter(cycle=cycle).count()
    if GENERATE[role] == "generated":
        assert cycle.status == "assigned" and count == 4  # Sales: 4 people, k=1
        assert any("4 assignment(s) generated" in m for m in _said(response))
    else:
        assert cycle.status == "draft" and count == 0
        if GENERATE[role] != "unavailable":
            assert _outcome(response) == GENERATE[role]


def test_finding_change_page_offers_review_only_to_reviewers(client, world):
    org, _cat, _plans, finding, _cycle = world
    url = reverse("admin:metrics_gamingfinding_change", args=[finding.pk])
    review = reverse("admin:metrics_gamingfinding_review", args=[finding.pk])
    client.force_login(org.users["compliance"])
    assert review in client.get(url).content.decode()
    client.force_login(org.users["auditor"])
    page = client.get(url)
    assert page.status_code == 200 and review not in page.content.decode()


def _add_plan_data(org, cat, level):
    return {
        "name": "Team A1 H2",
        "team": str(org.team_a1.pk),
        "period_start": "2026-07-01",
        "period_end": "2026-12-31",
        "components-TOTAL_FORMS": "2",
        "components-INITIAL_FORMS": "0",
        "components-MIN_NUM_FORMS": "0",
        "components-MAX_NUM_FORMS": "1000",
        "components-0-metric": str(cat.calls.pk),
        "components-0-level": level,
        "components-0-weight": "40",
        "components-1-metric": str(cat.resolution.pk),
        "components-1-level": "team",
        "components-1-weight": "60",
    }


def test_hr_creates_a_plan_with_components_in_the_admin(client, world):
    org, cat, *_ = world
    client.force_login(org.users["hr"])
    url = reverse("admin:metrics_incentiveplan_add")
    response = client.post(url, _add_plan_data(org, cat, "individual"))
    assert response.status_code == 302, response.context["errors"]
    plan = IncentivePlan.objects.get(name="Team A1 H2")
    assert sorted(plan.components.values_list("level", "weight")) == [
        ("individual", Decimal("40.00")),
        ("team", Decimal("60.00")),
    ]
    assert plan.status == "draft" and plan.history.count() == 1


def test_component_level_mismatch_is_a_form_error_and_nothing_is_saved(client, world):
    org, cat, *_ = world
    client.force_login(org.users["hr"])
    response = client.post(
        reverse("admin:metrics_incentiveplan_add"), _add_plan_data(org, cat, "team")
    )
    assert response.status_code == 200
    assert "individual-level metric" in response.content.decode()
    assert not IncentivePlan.objects.filter(name="Team A1 H2").exists()


def test_manager_cannot_create_plans(client, world):
    org, cat, *_ = world
    client.force_login(org.users["manager"])
    response = client.post(
        reverse("admin:metrics_incentiveplan_add"),
        _add_plan_data(org, cat, "individual"),
    )
    assert response.status_code == 403
    assert not IncentivePlan.objects.filter(name="Team A1 H2").exists()


@pytest.mark.parametrize(
    ("role", "scoreboards", "collaboration"),
    [
        ("hr", True, True),
        ("manager", True, True),
        ("auditor", True, True),
        ("steward", True, False),
        ("board", True, False),
    ],
)
def test_metrics_index_links_the_pages_each_role_may_open(
    client, world, role, scoreboards, collaboration
):
    org, *_ = world
    client.force_login(org.users[role])
    html = client.get(reverse("admin:app_list", args=["metrics"])).content.decode()
    assert (reverse("admin:metrics_incentiveplan_scoreboards") in html) is scoreboards
    assert (
        reverse("admin:metrics_incentiveplan_collaboration") in html
    ) is collaboration
