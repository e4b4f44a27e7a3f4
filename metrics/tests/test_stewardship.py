"""Stewardship disputes (M3.3) and the stale/orphaned check (M1.5)."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from governance.audit import chain
from governance.models import AuditEvent, Person
from governance.roles import Role
from governance.services import save_governed
from governance.testing import make_person, make_user
from metrics import services, stewardship
from metrics.models import Metric, StewardshipDispute
from metrics.tests.test_quality import catalogue_with_consent, month

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat(org):
    return catalogue_with_consent(org)


@pytest.fixture
def dispute(org, cat):
    return stewardship.raise_dispute(
        actor=org.users["hr"],
        title="Calls vs resolution",
        description="Sales counts every call; support wants calls that resolve.",
        metrics=[cat.calls, cat.resolution],
    )


def actions(dispute):
    return list(
        AuditEvent.objects.filter(
            object_id=str(dispute.pk), action__startswith="dispute."
        )
        .order_by("id")
        .values_list("action", flat=True)
    )


# -- the workflow ----------------------------------------------------------------------


def test_raise_assigns_the_department_steward_and_records_it(org, dispute):
    assert dispute.status == StewardshipDispute.Status.OPEN
    assert dispute.assigned_steward == org.people["steward_sales"]
    assert dispute.raised_by_id == org.users["hr"].pk
    assert set(dispute.metrics.values_list("key", flat=True)) == {
        "sales.calls_made",
        "support.resolution_rate",
    }
    event = AuditEvent.objects.get(action="dispute.raised")
    assert event.data["metrics"] == ["sales.calls_made", "support.resolution_rate"]
    assert dispute.history.first().history_change_reason.startswith("dispute raised")


def test_open_then_resolved_by_the_assigned_steward(org, dispute):
    resolved = stewardship.resolve_dispute(
        actor=org.users["steward"],
        dispute=dispute,
        resolution="Count calls, but weight the incentive on resolution.",
    )
    assert resolved.status == StewardshipDispute.Status.RESOLVED
    assert resolved.resolution.startswith("Count calls") and resolved.resolved_at
    assert actions(dispute) == ["dispute.raised", "dispute.resolved"]
    with pytest.raises(ValidationError):
        stewardship.resolve_dispute(
            actor=org.users["steward"], dispute=dispute, resolution="again"
        )
    assert chain.verify().ok


def test_escalated_disputes_are_resolved_by_an_organisation_wide_role(org, dispute):
    stewardship.escalate_dispute(
        actor=org.users["steward"], dispute=dispute, reason="Product and Sales disagree"
    )
    with pytest.raises(PermissionDenied):
        stewardship.resolve_dispute(
            actor=org.users["steward"], dispute=dispute, resolution="x"
        )
    done = stewardship.resolve_dispute(
        actor=org.users["compliance"], dispute=dispute, resolution="Board decision 12"
    )
    assert done.status == StewardshipDispute.Status.RESOLVED
    assert actions(dispute) == [
        "dispute.raised",
        "dispute.escalated",
        "dispute.resolved",
    ]
    with pytest.raises(ValidationError):  # only open disputes escalate
        stewardship.escalate_dispute(
            actor=org.users["steward"], dispute=dispute, reason="x"
        )


def test_reasons_and_resolutions_are_required(org, dispute):
    with pytest.raises(ValidationError):
        stewardship.escalate_dispute(
            actor=org.users["steward"], dispute=dispute, reason=" "
        )
    with pytest.raises(ValidationError):
        stewardship.resolve_dispute(
            actor=org.users["steward"], dispute=dispute, resolution=""
        )
    with pytest.raises(ValidationError):
        stewardship.raise_dispute(
            actor=org.users["hr"], title="t", description="d", metrics=[]
        )


def test_assign_to_a_steward_of_a_disputed_department_only(org, cat, dispute):
    product_steward = make_person(org.product, org.us)
    org.product.steward = product_steward
    save_governed(org.product, actor=None, reason="steward")
    with pytest.raises(ValidationError):  # Product has no disputed metric
        stewardship.assign_dispute(
            actor=org.users["compliance"], dispute=dispute, steward=product_steward
        )
    stewardship.assign_dispute(actor=org.users["compliance"], dispute=dispute)
    assert actions(dispute)[-1] == "dispute.assigned"


# -- who may do what: role × outcome --------------------------------------------------------

MATRIX = {
    # principal: (raise, escalate an open dispute, resolve an open one, resolve an escalated one)
    "admin": (True, True, True, True),
    "hr": (True, False, False, False),  # may raise, not decide
    "compliance": (False, True, True, True),  # organisation-wide, decides escalations
    "steward": (True, True, True, False),  # the Sales steward, assigned
    "metric_owner": (False, False, False, False),
    "board": (False, False, False, False),
    "manager": (False, False, False, False),
    "employee": (False, False, False, False),
    "auditor": (False, False, False, False),  # read-only
    "nobody": (False, False, False, False),
}


def attempt(fn):
    try:
        fn()
    except PermissionDenied:
        return False
    return True


@pytest.mark.parametrize("principal", sorted(MATRIX))
def test_dispute_permissions(org, cat, principal):
    user = org.users[principal]

    def fresh():
        return stewardship.raise_dispute(
            actor=None, title="t", description="d", metrics=[cat.calls]
        )

    got = (
        attempt(
            lambda: stewardship.raise_dispute(
                actor=user, title="t", description="d", metrics=[cat.calls]
            )
        ),
        attempt(
            lambda: stewardship.escalate_dispute(
                actor=user, dispute=fresh(), reason="r"
            )
        ),
        attempt(
            lambda: stewardship.resolve_dispute(
                actor=user, dispute=fresh(), resolution="r"
            )
        ),
        attempt(
            lambda: stewardship.resolve_dispute(
                actor=user,
                dispute=stewardship.escalate_dispute(
                    actor=None, dispute=fresh(), reason="r"
                ),
                resolution="r",
            )
        ),
    )
    assert got == MATRIX[principal]


def test_a_steward_of_another_department_may_not_decide(org, cat, dispute):
    other = make_person(org.product, org.us)
    org.product.steward = other
    save_governed(org.product, actor=None, reason="steward")
    user = make_user("steward_product", Role.STEWARD, person=other)
    with pytest.raises(PermissionDenied):
        stewardship.resolve_dispute(actor=user, dispute=dispute, resolution="mine now")
    with pytest.raises(PermissionDenied):
        stewardship.escalate_dispute(actor=user, dispute=dispute, reason="x")


# -- stale and orphaned (M1.5) ----------------------------------------------------------------


def later(days):
    return timezone.now() + datetime.timedelta(days=days)


def test_a_metric_without_data_goes_stale_after_frequency_and_grace(org, cat):
    # Monthly, 7 grace days: activated today, due in 31 + 7 days.
    assert stewardship.flag_stale_and_orphaned(now=later(37))["stale"] == 0
    summary = stewardship.flag_stale_and_orphaned(now=later(40))
    assert summary["stale"] == 2
    assert summary["newly_stale"] == ["sales.calls_made", "support.resolution_rate"]
    calls = Metric.objects.get(pk=cat.calls.pk)
    assert calls.stale_since is not None and calls.orphaned_since is None
    assert (
        Metric.objects.get(pk=cat.draft.pk).stale_since is None
    )  # drafts take no data


def test_stale_flags_clear_when_data_arrives_and_notify_once(
    org, cat, django_capture_on_commit_callbacks
):
    when = datetime.datetime(2030, 6, 15, tzinfo=datetime.UTC)
    with django_capture_on_commit_callbacks(execute=True):
        first = stewardship.flag_stale_and_orphaned(now=when)
    assert first["stale"] == 2 and first["notified"] == 1
    assert len(mail.outbox) == 1  # one mail to the Sales steward for both metrics
    message = mail.outbox[0]
    assert (
        "sales.calls_made" in message.body and "support.resolution_rate" in message.body
    )
    # Idempotent: nothing changes the second time, nobody is mailed again.
    with django_capture_on_commit_callbacks(execute=True):
        second = stewardship.flag_stale_and_orphaned(now=when)
    assert len(mail.outbox) == 1 and "stale_cleared" not in second
    services.record_observations(
        actor=None,
        rows=[
            {
                "metric": "support.resolution_rate",
                "team": "Team A",
                "period_start": "2030-05-01",
                "value": "80",
            }
        ],
    )
    third = stewardship.flag_stale_and_orphaned(now=when)
    assert third["stale_cleared"] == ["support.resolution_rate"]
    assert Metric.objects.get(pk=cat.resolution.pk).stale_since is None
    assert Metric.objects.get(pk=cat.calls.pk).stale_since is not None
    events = AuditEvent.objects.filter(action="metrics.freshness_checked")
    assert events.count() == 3 and chain.verify().ok


def test_recent_data_keeps_a_metric_fresh(org, cat):
    services.record_observations(
        actor=None,
        rows=[
            {
                "metric": "sales.calls_made",
                "employee_id": org.people["member_a1"].employee_id,
                "period_start": month(24),  # 2026-01
                "value": "100",
            }
        ],
    )
    # January's value ends 31 Jan; due by 31 Jan + 31 + 7 days = 10 March.
    fresh = datetime.datetime(2026, 3, 10, 12, tzinfo=datetime.UTC)
    stale = datetime.datetime(2026, 3, 12, 12, tzinfo=datetime.UTC)
    state = stewardship.freshness([cat.calls], today=fresh.date())[cat.calls.pk]
    assert state["due"] == datetime.date(2026, 3, 10) and not state["stale"]
    assert stewardship.freshness([cat.calls], today=stale.date())[cat.calls.pk]["stale"]


def test_a_metric_whose_owner_left_is_orphaned_until_reassigned(
    org, cat, django_capture_on_commit_callbacks
):
    owner = org.people["manager_a"]
    owner.status = Person.Status.LEFT
    save_governed(owner, actor=None, reason="left the company")
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        summary = stewardship.flag_stale_and_orphaned(now=now)
    assert summary["orphaned"] == 2  # manager_a owns both active metrics
    assert summary["newly_orphaned"] == ["sales.calls_made", "support.resolution_rate"]
    calls = Metric.objects.get(pk=cat.calls.pk)
    assert calls.orphaned_since is not None
    assert "orphaned: the owner has left" in mail.outbox[0].body
    services.metric_update(
        actor=None,
        metric=calls,
        changes={"owner": org.people["steward_sales"]},
        reason="new owner",
    )
    cleared = stewardship.flag_stale_and_orphaned(now=now)
    assert cleared["orphaned_cleared"] == ["sales.calls_made"]
    assert Metric.objects.get(pk=cat.calls.pk).orphaned_since is None
