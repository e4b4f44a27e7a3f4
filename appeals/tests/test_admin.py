"""Admin actions and pages for appeals as a role × outcome matrix, through the
real changelist POST and the decide/assign pages."""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers
from django.test import Client
from django.urls import reverse

from appeals import services
from appeals.models import Appeal, ConflictDeclaration
from appeals.testing import file_and_assign, fresh

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:appeals_appeal_changelist"


def _client(world, key):
    client = Client()
    if key != "anonymous":
        client.force_login(world.user(key))
    return client


def _outcome(response):
    if response.status_code == 302 and "/login/" in response.url:
        return "login"
    return {200: "ok", 302: "redirect", 403: "denied", 404: "gone"}.get(
        response.status_code, str(response.status_code)
    )


# principal: may run the triage action (state changes)
ACTIONS = {
    "anonymous": False,
    "employee": False,
    "steward": False,
    "manager": False,
    "board": False,  # the reviewer decides; managing is HR/compliance's
    "auditor": False,
    "hr": True,
    "compliance": True,
}


@pytest.mark.parametrize("principal", ACTIONS)
def test_triage_action_matrix(world, principal):
    appeal = services.file_appeal(
        actor=fresh(world.user("employee")),
        evaluation=world.evaluation,
        grounds="g",
        requested_remedy="r",
    )
    response = _client(world, principal).post(
        reverse(CHANGELIST),
        {"action": "triage_selected", helpers.ACTION_CHECKBOX_NAME: [str(appeal.pk)]},
    )
    appeal.refresh_from_db()
    assert (appeal.status == "triaged") is ACTIONS[principal], response.status_code


@pytest.mark.parametrize("action", ["start_review_selected", "close_selected"])
def test_actions_refuse_illegal_transitions_with_a_message(world, action):
    appeal = services.file_appeal(
        actor=fresh(world.user("employee")),
        evaluation=world.evaluation,
        grounds="g",
        requested_remedy="r",
    )
    response = _client(world, "hr").post(
        reverse(CHANGELIST),
        {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(appeal.pk)]},
        follow=True,
    )
    text = " ".join(str(m) for m in response.context["messages"])
    appeal.refresh_from_db()
    assert appeal.status == "submitted"
    assert "not allowed" in text or "Assign a reviewer" in text


# principal: decide page GET, decide POST takes effect
DECIDE = {
    "anonymous": ("login", False),
    "employee": ("login", False),
    "steward": ("gone", False),  # the evaluator: no access to appeals at all
    "manager": ("gone", False),
    "auditor": ("denied", False),  # reads the appeal, may not decide
    "hr": ("denied", False),
    "compliance": ("denied", False),
    "board": ("ok", True),  # the assigned reviewer
    "metric_owner": ("gone", False),  # a board member not assigned (below)
}


@pytest.mark.parametrize("principal", DECIDE)
def test_decide_page_matrix(world, principal):
    if principal == "metric_owner":
        from django.contrib.auth.models import Group

        world.user("metric_owner").groups.add(
            Group.objects.get(name="Review board member")
        )
    appeal = file_and_assign(world)
    client = _client(world, principal)
    url = reverse("admin:appeals_appeal_decide", args=[appeal.pk])
    expected_get, decides = DECIDE[principal]
    assert _outcome(client.get(url)) == expected_get
    client.post(url, {"outcome": "rejected", "rationale": "Checked the CRM."})
    appeal.refresh_from_db()
    assert (appeal.status == "decided") is decides
    assert (appeal.outcome == "rejected") is decides


def test_decide_page_without_rationale_changes_nothing(world):
    appeal = file_and_assign(world)
    response = _client(world, "board").post(
        reverse("admin:appeals_appeal_decide", args=[appeal.pk]),
        {"outcome": "upheld", "rationale": ""},
    )
    assert (
        response.status_code == 200 and "rationale" in response.context["form"].errors
    )
    appeal.refresh_from_db()
    assert appeal.status == "under_review"


def test_reviewer_recuses_with_a_declared_conflict(world):
    appeal = file_and_assign(world)
    response = _client(world, "board").post(
        reverse("admin:appeals_appeal_decide", args=[appeal.pk]),
        {"recuse": "1", "recuse_reason": "former colleague"},
    )
    assert response.status_code == 302
    appeal.refresh_from_db()
    assert appeal.reviewer_id is None
    assert ConflictDeclaration.objects.filter(user=world.user("board")).exists()
    assert not Appeal.objects.visible_to(fresh(world.user("board"))).exists()


ASSIGN = {
    "anonymous": "login",
    "steward": "gone",
    "manager": "gone",
    "board": "gone",  # not granted this (unassigned) appeal
    "auditor": "denied",
    "hr": "ok",
    "compliance": "ok",
}


@pytest.mark.parametrize("principal", ASSIGN)
def test_assign_page_matrix(world, principal):
    appeal = services.file_appeal(
        actor=fresh(world.user("employee")),
        evaluation=world.evaluation,
        grounds="g",
        requested_remedy="r",
    )
    client = _client(world, principal)
    url = reverse("admin:appeals_appeal_assign", args=[appeal.pk])
    response = client.get(url)
    assert _outcome(response) == ASSIGN[principal]
    if ASSIGN[principal] == "ok":
        offered = {
            u.username for u in response.context["form"].fields["reviewer"].queryset
        }
        assert "board" in offered
        assert not offered & {
            "steward",
            "manager",
            "employee",
        }  # evaluator, chain, self
    client.post(url, {"reviewer": world.user("board").pk})
    appeal.refresh_from_db()
    assert (appeal.reviewer_id == world.user("board").pk) is (ASSIGN[principal] == "ok")


def test_change_view_shows_on_hold_and_masks_for_low_clearance(world):
    appeal = file_and_assign(world)
    page = _client(world, "auditor").get(
        reverse("admin:appeals_appeal_change", args=[appeal.pk])
    )
    assert page.status_code == 200
    listing = _client(world, "hr").get(reverse(CHANGELIST))
    assert appeal.reference in listing.content.decode()
    assert "icon-yes" in listing.content.decode()  # evaluation on hold
