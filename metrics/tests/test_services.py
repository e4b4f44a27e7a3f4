"""The metrics write path: one validation path, all-or-nothing, change control."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from governance.audit import chain
from metrics import services
from metrics.models import ChangeRequest, MethodologyVersion, Metric, Observation
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat(org):
    return build_catalogue(org)


def _row(org, **over):
    row = {
        "metric": "sales.calls_made",
        "employee_id": org.people["member_a"].employee_id,
        "period_start": "2026-03-01",
        "value": "120",
    }
    row.update(over)
    return row


def test_batch_is_stored_with_sealed_values_history_and_chain(org, cat):
    rows = [
        _row(org),
        _row(org, employee_id=org.people["member_a1"].employee_id, value="95"),
    ]
    rows.append(
        {
            "metric": "support.resolution_rate",
            "team": "Team A",
            "period_start": "2026-03-01",
            "value": "87.5",
        }
    )
    stored = services.record_observations(
        actor=org.users["hr"], rows=rows, reason="March import"
    )
    assert len(stored) == 3
    obs = Observation.objects.get(metric=cat.calls, person=org.people["member_a"])
    assert obs.value == Decimal("120") and obs.value_plain is None
    assert obs.period_end.isoformat() == "2026-03-31"
    assert obs.methodology_version == 1 and obs.entered_by_id == org.users["hr"].pk
    team_obs = Observation.objects.get(metric=cat.resolution)
    assert team_obs.value_plain == Decimal("87.5") and team_obs.value_sealed is None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT value_sealed FROM metrics_observation WHERE value_sealed IS NOT NULL"
        )
        tokens = [r[0] for r in cursor.fetchall()]
        cursor.execute(
            "SELECT value_sealed FROM metrics_historicalobservation WHERE value_sealed IS NOT NULL"
        )
        tokens += [r[0] for r in cursor.fetchall()]
    assert len(tokens) == 4 and all(
        t.startswith("pgp1:") and "120" not in t for t in tokens
    )
    assert Observation.history.count() == 3
    assert chain.verify().ok


def test_one_bad_row_stores_nothing_and_every_error_is_reported(org, cat):
    rows = [
        _row(org),
        _row(org, value="12.5"),  # integer only
        _row(org, employee_id="NOPE"),
        _row(org, period_start="2026-03-15"),  # not aligned to the month
        _row(org, metric="sales.demo_count"),  # draft metric takes no data
        _row(org, bogus="x"),
    ]
    with pytest.raises(services.BatchRejected) as exc:
        services.record_observations(actor=org.users["hr"], rows=rows)
    errors = {(e.row, e.field) for e in exc.value.errors}
    assert (
        (2, "value") in errors
        and (3, "employee_id") in errors
        and (4, "period_start") in errors
    )
    assert (5, "metric") in errors and (6, "bogus") in errors
    assert 1 not in {e.row for e in exc.value.errors}
    assert Observation.objects.count() == 0


def test_duplicates_within_a_batch_are_refused(org, cat):
    with pytest.raises(services.BatchRejected):
        services.record_observations(
            actor=org.users["hr"], rows=[_row(org), _row(org, value="5")]
        )


def test_source_scoping_and_actor_scoping(org, cat):
    with pytest.raises(services.BatchRejected) as exc:
        services.record_observations(actor=None, rows=[_row(org)], source=cat.jira)
    assert "not fed by data source" in exc.value.errors[0].message
    with pytest.raises(PermissionDenied):
        services.record_observations(actor=org.users["employee"], rows=[_row(org)])
    # The metric owner (manager_a, no owner role) may not; the steward of Sales may.
    steward = org.users["steward"]
    assert services.record_observations(actor=steward, rows=[_row(org)])


def test_capture_guard_refuses_with_its_message(org, cat):
    def guard(metric, person, team, start):
        return f"No consent from {person.employee_id}" if person else None

    services.register_capture_guard(guard)
    try:
        with pytest.raises(services.BatchRejected) as exc:
            services.record_observations(actor=None, rows=[_row(org)])
        assert (
            exc.value.errors[0].message
            == f"No consent from {org.people['member_a'].employee_id}"
        )
    finally:
        services._capture_guards.remove(guard)


def test_correction_supersedes_and_keeps_the_original(org, cat):
    (obs,) = services.record_observations(actor=None, rows=[_row(org)])
    new = services.correct_observation(
        actor=org.users["hr"], observation=obs, value="121", reason="typo in CRM"
    )
    old = Observation.objects.get(pk=obs.pk)
    assert old.status == Observation.Status.SUPERSEDED and old.value == Decimal("120")
    assert new.supersedes_id == old.pk and new.value == Decimal("121")
    assert list(Observation.objects.current().filter(metric=cat.calls)) == [new]
    with pytest.raises(ValidationError):
        services.correct_observation(
            actor=None, observation=old, value="3", reason="again"
        )


def test_governed_edit_of_active_metric_is_refused_and_change_request_applies(org, cat):
    with pytest.raises(services.ChangeControlRequired, match="change request"):
        services.metric_update(
            actor=org.users["hr"],
            metric=cat.calls,
            changes={"calculation": "calls + emails"},
            reason="x",
        )
    # Non-governed fields stay editable.
    services.metric_update(
        actor=org.users["hr"],
        metric=cat.calls,
        changes={"description": "Clearer"},
        reason="wording",
    )
    request = services.change_request_create(
        actor=org.users["hr"],
        metric=cat.calls,
        changes={"calculation": "calls + emails"},
        reason="emails count too",
    )
    with pytest.raises(PermissionDenied):
        services.change_request_decide(
            actor=org.users["manager"], change_request=request, approve=True
        )
    services.change_request_decide(
        actor=org.users["steward"], change_request=request, approve=True, note="ok"
    )
    metric = Metric.objects.get(pk=cat.calls.pk)
    assert metric.calculation == "calls + emails" and metric.methodology_version == 2
    assert (
        MethodologyVersion.objects.filter(metric=metric)
        .values_list("version", flat=True)
        .count()
        == 2
    )
    assert (
        ChangeRequest.objects.get(pk=request.pk).status == ChangeRequest.Status.APPLIED
    )
    (obs,) = services.record_observations(actor=None, rows=[_row(org)])
    assert obs.methodology_version == 2


def test_lifecycle_transitions(org, cat):
    with pytest.raises(ValidationError):
        services.metric_transition(
            actor=None, metric=cat.calls, status="draft", reason="back"
        )
    services.metric_transition(
        actor=None, metric=cat.calls, status="retired", reason="sunset"
    )
    with pytest.raises(services.BatchRejected, match="retired"):
        services.record_observations(actor=None, rows=[_row(org)])


def test_people_for_validation_load_like_only(org):
    from governance.models import Person

    wanted = {p.employee_id for p in org.people.values()} | {"NOBODY"}
    fast = {p.employee_id: p for p in services._people_for_validation(wanted)}
    slow = {
        p.employee_id: p
        for p in Person._base_manager.filter(employee_id__in=wanted).only(
            *services._PERSON_COLUMNS
        )
    }
    assert fast.keys() == slow.keys() and "NOBODY" not in fast
    for employee_id, person in fast.items():
        other = slow[employee_id]
        for column in services._PERSON_COLUMNS:
            assert getattr(person, column) == getattr(other, column)
        assert person.get_deferred_fields() == other.get_deferred_fields()
        assert person.jurisdiction == other.jurisdiction  # related objects load
        assert not person._state.adding and person._state.db == other._state.db
    someone = next(iter(fast.values()))
    assert someone.full_name == Person.objects.get(pk=someone.pk).full_name  # deferred
