"""Retention (G.RET): a purge run removes what is past its period, leaves
held records intact, records what it removed, and keeps the audit chain valid."""

from __future__ import annotations

import datetime
import json
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from governance import retention, services
from governance.audit import chain
from governance.crypto.fields import ERASED
from governance.models import AuditEvent, LegalHold, Person, RetentionPolicy
from metrics import services as metric_services
from metrics.models import Observation
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

LATER = datetime.datetime(2028, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture
def world(org):
    cat = build_catalogue(org)
    rows = [
        {
            "metric": cat.calls.key,
            "employee_id": org.people[key].employee_id,
            "period_start": f"2026-0{month}-01",
            "value": str(100 + month),
        }
        for key in ("member_a", "member_a1", "member_b")
        for month in (2, 3)
    ]
    observations = metric_services.record_observations(actor=None, rows=rows)
    for policy in (
        RetentionPolicy(
            record_type="metrics.observation", retention_days=365, purpose="p"
        ),
        RetentionPolicy(
            record_type="governance.person", retention_days=365, purpose="p"
        ),
    ):
        retention.policy_save(
            actor=org.users["compliance"], policy=policy, reason="set"
        )
    return cat, observations


def _of(observations, person):
    return sorted(str(o.pk) for o in observations if o.person_id == person.pk)


def test_a_purge_leaves_held_records_intact_and_records_what_it_removed(org, world):
    _, observations = world
    compliance = org.users["compliance"]
    a, a1, b = (org.people[k] for k in ("member_a", "member_a1", "member_b"))
    retention.hold_place(actor=compliance, person=a1, reason="tribunal claim 2026/17")
    held_record = _of(observations, b)[0]
    retention.hold_place(
        actor=compliance,
        record_type="metrics.observation",
        record_id=held_record,
        reason="disputed value",
    )
    report = retention.purge_expired(actor=compliance, now=LATER)

    result = report.types["metrics.observation"]
    expected_removed = sorted(_of(observations, a) + _of(observations, b)[1:])
    assert sorted(result.removed) == expected_removed
    assert sorted(result.held) == sorted([*_of(observations, a1), held_record])
    remaining = {str(pk) for pk in Observation.objects.values_list("pk", flat=True)}
    assert remaining == set(_of(observations, a1)) | {held_record}
    # One audit event lists counts and ids, and no value.
    event = AuditEvent.objects.get(action="retention.purged")
    data = event.data["types"]["metrics.observation"]
    assert data["removed"] == len(expected_removed)
    assert sorted(data["removed_ids"]) == expected_removed
    assert data["held"] == 3
    assert "102" not in json.dumps(event.data)
    # Every deletion left a chained "deleted" history row; nothing was rewritten.
    assert Observation.history.filter(history_type="-").count() == len(expected_removed)
    report = chain.verify()
    assert report.ok, report.breaks[:3]


def test_released_holds_no_longer_protect(org, world):
    _, _observations = world
    compliance = org.users["compliance"]
    a1 = org.people["member_a1"]
    hold = retention.hold_place(actor=compliance, person=a1, reason="claim")
    retention.hold_release(actor=compliance, hold=hold, reason="claim settled")
    with pytest.raises(ValidationError, match="already released"):
        retention.hold_release(actor=compliance, hold=hold, reason="again")
    retention.purge_expired(actor=compliance, now=LATER)
    assert not Observation.objects.filter(person=a1).exists()


def test_records_within_their_period_are_kept(org, world):
    retention.purge_expired(
        actor=org.users["compliance"],
        now=datetime.datetime(2026, 9, 1, tzinfo=datetime.UTC),
    )
    assert Observation.objects.count() == 6
    event = AuditEvent.objects.get(action="retention.purged")
    assert event.data["removed"] == 0


def test_leavers_are_crypto_shredded_after_their_period_unless_held(org, world):
    compliance = org.users["compliance"]
    leaver, held = org.people["hr"], org.people["steward_sales"]
    for person in (leaver, held):
        services.person_deactivate(person=person, actor=None, reason="left")
    retention.hold_place(actor=compliance, person=held, reason="litigation")
    report = retention.purge_expired(
        actor=compliance, now=LATER, only=["governance.person"]
    )
    assert report.types["governance.person"].removed == [str(leaver.pk)]
    assert report.types["governance.person"].held == [str(held.pk)]
    gone = Person.objects.get(pk=leaver.pk)
    assert gone.erased_at and gone.full_name is ERASED
    assert all(h.full_name is ERASED for h in gone.history.all())
    kept = Person.objects.get(pk=held.pk)
    assert kept.erased_at is None and kept.full_name == "Stew Ard"
    assert chain.verify().ok


def test_dry_run_changes_nothing(org, world):
    report = retention.purge_expired(
        actor=org.users["compliance"], dry_run=True, now=LATER
    )
    assert report.removed == 6
    assert Observation.objects.count() == 6
    assert not AuditEvent.objects.filter(action="retention.purged").exists()


def test_command_dry_run_reports_json(org, world):
    out = StringIO()
    call_command("purge_expired", "--dry-run", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["dry_run"] is True
    assert Observation.objects.count() == 6


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        ("compliance", True),
        ("admin", True),
        ("hr", False),
        ("auditor", False),
        ("steward", False),
        ("employee", False),
    ],
)
def test_retention_role_matrix(org, world, principal, allowed):
    user = org.users[principal]
    if allowed:
        retention.purge_expired(actor=user, now=LATER)
        hold = retention.hold_place(
            actor=user, person=org.people["member_a"], reason="r"
        )
        retention.hold_release(actor=user, hold=hold, reason="done")
        return
    with pytest.raises(PermissionDenied):
        retention.purge_expired(actor=user, now=LATER)
    with pytest.raises(PermissionDenied):
        retention.hold_place(actor=user, person=org.people["member_a"], reason="r")
    with pytest.raises(PermissionDenied):
        retention.policy_save(
            actor=user,
            policy=RetentionPolicy(
                record_type="metrics.evaluation", retention_days=9, purpose="p"
            ),
            reason="r",
        )
    assert Observation.objects.count() == 6
    assert not LegalHold.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"record_type": "metrics.observation", "record_id": "999999"}, "No metrics"),
        ({"record_type": "auth.user", "record_id": "1"}, "purgeable record type"),
        ({"reason": ""}, "Say why"),
    ],
)
def test_bad_holds_are_refused(org, world, kwargs, message):
    params = {"actor": org.users["compliance"], "reason": "r", **kwargs}
    with pytest.raises(ValidationError, match=message):
        retention.hold_place(**params)
    assert not LegalHold.objects.exists()


def test_a_hold_names_a_person_or_a_record_not_both(org, world):
    with pytest.raises(ValidationError, match="not both"):
        retention.hold_place(
            actor=org.users["compliance"],
            person=org.people["member_a"],
            record_type="metrics.observation",
            record_id="1",
            reason="r",
        )


def test_policies_only_for_purgeable_types(org):
    with pytest.raises(ValidationError, match="not a purgeable record type"):
        retention.policy_save(
            actor=org.users["compliance"],
            policy=RetentionPolicy(
                record_type="auth.user", retention_days=9, purpose="p"
            ),
            reason="r",
        )


def test_the_daily_job_is_declared_and_runs_the_purge(org, world):
    from governance import schedules, tasks

    job = schedules.registered()["governance.purge_expired"]
    assert (job.func, job.schedule_type) == ("governance.tasks.purge_expired", "D")
    expected = retention.purge_expired(actor=None, dry_run=True).removed
    result = tasks.purge_expired()
    assert result["removed"] == expected
    assert Observation.objects.count() == 6 - expected
    assert AuditEvent.objects.filter(action="retention.purged").count() == 1


def test_erasure_waits_for_a_legal_hold_to_be_released(org):
    compliance = org.users["compliance"]
    person = org.people["member_b"]
    hold = retention.hold_place(actor=compliance, person=person, reason="claim")
    with pytest.raises(ValidationError, match="legal hold"):
        services.person_erase(person=person, actor=compliance, reason="asked")
    assert Person.objects.get(pk=person.pk).erased_at is None
    retention.hold_release(actor=compliance, hold=hold, reason="settled")
    services.person_erase(person=person, actor=compliance, reason="asked")
    assert Person.objects.get(pk=person.pk).erased_at is not None
