"""Stewardship disputes in the admin (M3.3): raised with the add form, moved
only by the changelist's actions through the workflow's services, never edited
as a record. Role × outcome through the real URLs."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from governance.models import AuditEvent
from metrics import stewardship
from metrics.models import StewardshipDispute
from metrics.tests.test_quality import catalogue_with_consent

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat(org):
    return catalogue_with_consent(org)


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:metrics_stewardshipdispute_{name}", args=args)


def said(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def raised(cat) -> StewardshipDispute:
    return stewardship.raise_dispute(
        actor=None,
        title="Calls vs resolution",
        description="Sales counts every call; support wants calls that resolve.",
        metrics=[cat.calls, cat.resolution],
    )


def act(client, action: str, dispute: StewardshipDispute, **data: Any) -> Any:
    return client.post(
        url("changelist"),
        {
            "action": action,
            "_selected_action": [str(dispute.pk)],
            "confirm": "yes",
            **data,
        },
    )


def test_raising_goes_through_the_service(client, org, cat):
    client.force_login(org.users["hr"])
    refused = client.post(
        url("add"), {"title": "No metrics", "description": "d", "metrics": []}
    )
    assert refused.status_code == 200  # the form again, with the error
    assert not StewardshipDispute.objects.exists()
    response = client.post(
        url("add"),
        {
            "title": "Calls vs resolution",
            "description": "Two definitions of a call.",
            "metrics": [str(cat.calls.pk), str(cat.resolution.pk)],
        },
    )
    assert response.status_code == 302
    dispute = StewardshipDispute.objects.get()
    assert dispute.status == StewardshipDispute.Status.OPEN
    assert dispute.assigned_steward == org.people["steward_sales"]
    assert dispute.raised_by_id == org.users["hr"].pk
    assert dispute.metrics.count() == 2
    assert AuditEvent.objects.filter(action="dispute.raised").count() == 1


def test_the_record_is_read_only_even_to_those_who_decide(client, org, cat):
    dispute = raised(cat)
    client.force_login(org.users["steward"])
    page = client.get(url("change", dispute.pk))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    # A forged edit changes nothing.
    client.post(
        url("change", dispute.pk),
        {"title": "x", "status": "resolved", "resolution": "by decree"},
    )
    dispute.refresh_from_db()
    assert dispute.status == StewardshipDispute.Status.OPEN and not dispute.resolution
    assert client.post(url("delete", dispute.pk), {"post": "yes"}).status_code == 403
    assert StewardshipDispute.objects.filter(pk=dispute.pk).exists()


def test_the_assigned_steward_resolves_through_the_changelist(client, org, cat):
    dispute = raised(cat)
    client.force_login(org.users["steward"])
    page = client.post(
        url("changelist"),
        {"action": "resolve_selected", "_selected_action": [str(dispute.pk)]},
    )
    assert page.status_code == 200 and b"Resolve" in page.content  # asks first
    assert StewardshipDispute.objects.get(pk=dispute.pk).status == "open"
    missing = act(client, "resolve_selected", dispute, resolution="")
    assert missing.status_code == 200  # a resolution is required
    response = act(
        client,
        "resolve_selected",
        dispute,
        resolution="Weight incentives on resolution.",
    )
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == StewardshipDispute.Status.RESOLVED
    assert dispute.resolution == "Weight incentives on resolution."
    assert AuditEvent.objects.filter(action="dispute.resolved").count() == 1


def test_escalated_then_decided_by_an_organisation_wide_role(client, org, cat):
    dispute = raised(cat)
    client.force_login(org.users["steward"])
    act(client, "escalate_selected", dispute, reason="support disagrees")
    dispute.refresh_from_db()
    assert dispute.status == StewardshipDispute.Status.ESCALATED
    # Escalated: the steward may no longer resolve it; compliance may.
    refused = act(client, "resolve_selected", dispute, resolution="mine")
    assert any("may not resolve" in m for m in said(refused))
    assert StewardshipDispute.objects.get(pk=dispute.pk).status == "escalated"
    client.force_login(org.users["compliance"])
    act(client, "resolve_selected", dispute, resolution="Two metrics, two names.")
    dispute.refresh_from_db()
    assert dispute.status == StewardshipDispute.Status.RESOLVED


def test_assigning_to_another_departments_steward(client, org, cat):
    from governance.services import save_governed
    from governance.testing import make_person
    from metrics.tests.test_admin import product_metric

    product_steward = make_person(org.product, org.us, name="Pro Steward")
    org.product.steward = product_steward
    save_governed(org.product, actor=None, reason="steward")
    dispute = stewardship.raise_dispute(
        actor=None,
        title="Releases vs calls",
        description="Two meanings of throughput.",
        metrics=[cat.calls, product_metric(org, cat)],
    )
    client.force_login(org.users["compliance"])
    form = client.post(
        url("changelist"),
        {"action": "assign_selected", "_selected_action": [str(dispute.pk)]},
    )
    labels = [str(label) for _, label in form.context["form"].fields["steward"].choices]
    assert any(product_steward.employee_id in label for label in labels)
    assert not any("Pro Steward" in label for label in labels)  # no names here
    act(
        client,
        "assign_selected",
        dispute,
        steward=str(product_steward.pk),
        reason="product owns releases",
    )
    dispute.refresh_from_db()
    assert dispute.assigned_steward_id == product_steward.pk
    assert AuditEvent.objects.filter(action="dispute.assigned").count() == 1


#: principal: may raise (add), sees the actions, resolves an open dispute
MATRIX = {
    "admin": (True, True, True),
    "hr": (True, False, False),
    "compliance": (False, True, True),
    "steward": (True, True, True),
    "metric_owner": (False, False, False),
    "manager": (False, False, False),
    "auditor": (False, False, False),
    "board": (False, False, False),
    "employee": (False, False, False),
    "nobody": (False, False, False),
}


@pytest.mark.parametrize("principal", sorted(MATRIX))
def test_who_may_raise_and_decide(client, org, cat, principal):
    may_raise, sees_actions, resolves = MATRIX[principal]
    dispute = raised(cat)
    client.force_login(org.users[principal])
    add = client.get(url("add"))
    assert (add.status_code == 200) is may_raise
    page = client.get(url("changelist"))
    actions: dict[str, Any] = {}
    if page.status_code == 200 and page.context.get("action_form") is not None:
        actions = dict(page.context["action_form"].fields["action"].choices)
    assert ("resolve_selected" in actions) is sees_actions
    act(client, "resolve_selected", dispute, resolution="decided")
    dispute.refresh_from_db()
    assert (dispute.status == StewardshipDispute.Status.RESOLVED) is resolves


@pytest.mark.parametrize("principal, pseudonymised", [("auditor", True), ("hr", False)])
def test_the_dispute_page_names_people_as_the_viewer_may_see_them(
    client, org, cat, principal, pseudonymised
):
    from governance import pseudonyms

    dispute = stewardship.raise_dispute(
        actor=org.users["steward"],
        title="Calls vs resolution",
        description="Two definitions.",
        metrics=[cat.calls],
    )
    steward = org.people["steward_sales"]
    client.force_login(org.users[principal])
    for page in (url("change", dispute.pk), url("changelist")):
        html = client.get(page).content.decode()
        identities = [steward.employee_id, "Stew Ard"]
        if page != url("changelist"):
            identities.append(org.users["steward"].username)  # raised by
        if pseudonymised:
            assert pseudonyms.pseudonym(steward.pk) in html
            for value in identities:
                assert f">{value}" not in html and f" {value}<" not in html, (
                    page,
                    value,
                )
        else:
            assert steward.employee_id in html
