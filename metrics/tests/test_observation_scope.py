"""Observation row scope, resolved to id lists on the row's own columns
(``ObservationQuerySet``): the same rows as the role rules say, guardian
grants included, in the queryset and in the admin list."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from guardian.shortcuts import assign_perm

from governance.roles import Role
from governance.testing import make_user
from metrics import services
from metrics.models import Observation
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:metrics_observation_changelist")


@pytest.fixture
def data(org):
    cat = build_catalogue(org)
    rows = [
        {
            "metric": "sales.calls_made",
            "employee_id": org.people[who].employee_id,
            "period_start": "2026-03-01",
            "value": "10",
        }
        for who in ("member_a", "member_a1", "manager_a", "member_b", "hr")
    ]
    rows += [
        {
            "metric": "support.resolution_rate",
            "team": team,
            "period_start": "2026-03-01",
            "value": "50",
        }
        for team in ("Team A", "Team B")
    ]
    services.record_observations(actor=None, rows=rows, reason="fixture")
    return cat


def _subjects(queryset) -> set[str]:
    return {
        obs.person.full_name if obs.person_id else obs.team.name
        for obs in queryset.select_related("person", "team")
    }


def _row_ids(response) -> set[int]:
    return {obs.pk for obs in response.context["cl"].result_list}


def test_manager_sees_their_teams_people_and_teams(client, org, data):
    manager = org.users["manager"]
    visible = Observation.objects.visible_to(manager)
    expected = {
        obs.pk
        for obs in Observation.objects.select_related("person", "team")
        if (obs.team and obs.team.name == "Team A")
        or (
            obs.person
            and obs.person.memberships.filter(
                team_id__in=[org.team_a.pk, org.team_a1.pk]
            ).exists()
        )
        or (obs.person and obs.person.manager_id == org.people["manager_a"].pk)
    }
    assert expected and set(visible.values_list("pk", flat=True)) == expected
    assert org.people["member_b"].full_name not in _subjects(visible)
    assert "Team B" not in _subjects(visible)
    client.force_login(manager)
    assert _row_ids(client.get(CHANGELIST)) == expected


def test_employee_sees_only_themselves(org, data):
    visible = Observation.objects.visible_to(org.users["employee"])
    assert _subjects(visible) == {org.people["member_a"].full_name}


def test_steward_sees_their_departments_metrics(org, data):
    visible = Observation.objects.visible_to(org.users["steward"])
    assert visible.count() == Observation.objects.count()  # both are Sales metrics


@pytest.mark.parametrize("via", ["user", "group"])
def test_guardian_grants_add_exactly_the_granted_rows(client, org, data, via):
    reader = make_user("grantee", Role.METRIC_OWNER)  # no person: no role scope
    assert not Observation.objects.visible_to(reader).exists()
    granted = Observation.objects.get(person=org.people["member_b"])
    if via == "user":
        assign_perm("metrics.view_observation", reader, granted)
    else:
        group = Group.objects.create(name="auditors of one value")
        reader.groups.add(group)
        assign_perm("metrics.view_observation", group, granted)
    reader = type(reader).objects.get(pk=reader.pk)  # fresh permission caches
    visible = Observation.objects.visible_to(reader)
    assert list(visible.values_list("pk", flat=True)) == [granted.pk]
    # a view grant is not a change grant
    assert not Observation.objects.visible_to(reader, "change").exists()
    client.force_login(reader)
    assert _row_ids(client.get(CHANGELIST)) == {granted.pk}


def test_scoped_list_has_no_subquery_wrapper(org, data):
    sql = str(Observation.objects.visible_to(org.users["manager"]).query)
    assert "memberships" not in sql.lower() and " IN (SELECT" not in sql
