"""Gaming detection into the non-punitive review queue (metrics.gaming_review)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from governance.classification import Sensitivity
from governance.models import AuditEvent, Person
from metrics import gaming_review, services, tasks
from metrics.models import (
    Evaluation,
    GamingFinding,
    MetricConflict,
    MetricTarget,
    Observation,
    PeerFeedback,
)
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

MONTHS = [datetime.date(2026, m, 1) for m in range(1, 7)]


@pytest.fixture
def cat(org):
    return build_catalogue(org)


def _counter_pair(org, cat):
    """Calls (individual, three people of Team A) climb while Team A's
    resolution rate falls."""
    MetricConflict.objects.create(
        metric_a=cat.calls, metric_b=cat.resolution, description="quota vs quality"
    )
    rows = []
    for i, month in enumerate(MONTHS):
        later = i >= 3
        for key in ("member_a", "member_a1", "manager_a"):
            rows.append(
                {
                    "metric": cat.calls.key,
                    "employee_id": org.people[key].employee_id,
                    "period_start": month.isoformat(),
                    "value": "150" if later else "100",
                }
            )
        rows.append(
            {
                "metric": cat.resolution.key,
                "team": "Team A",
                "period_start": month.isoformat(),
                "value": "60" if later else "80",
            }
        )
    services.record_observations(actor=None, rows=rows)


def _bunching(org, cat):
    """Calls just past the target of 60 far more often than just short of it."""
    MetricTarget.objects.create(metric=cat.calls, target=Decimal("60"))
    values = iter([60, 61, 60, 62, 63, 60, 61, 64, 65, 60, 57] + [30] * 25)
    rows = []
    for key in ("member_a", "member_a1", "manager_a"):
        for month in range(1, 13):
            rows.append(
                {
                    "metric": cat.calls.key,
                    "employee_id": org.people[key].employee_id,
                    "period_start": datetime.date(2025, month, 1).isoformat(),
                    "value": str(next(values)),
                }
            )
    services.record_observations(actor=None, rows=rows)


def _daily_spike(org, cat):
    """A daily team metric of Team B whose last three days of each month jump."""
    metric = services.metric_create(
        actor=None,
        key="product.tickets_closed",
        name="Tickets closed",
        indicator="lagging",
        level="team",
        unit="tickets",
        sensitivity=Sensitivity.INTERNAL,
        calculation="count",
        source=cat.jira,
        owner=org.people["manager_b"],
        steward=org.people["steward_sales"],
        department=org.product,
        team=org.team_b,
        update_frequency="daily",
    )
    services.metric_transition(actor=None, metric=metric, status="active", reason="ok")
    rows = []
    day = datetime.date(2026, 1, 1)
    while day <= datetime.date(2026, 2, 28):
        next_month = (day + datetime.timedelta(days=3)).month != day.month
        value = 32 if next_month else 10 + (day.day % 11)
        rows.append(
            {
                "metric": metric.key,
                "team": "Team B",
                "period_start": day.isoformat(),
                "period_end": day.isoformat(),
                "value": str(value),
            }
        )
        day += datetime.timedelta(days=1)
    services.record_observations(actor=None, rows=rows)
    return metric


def test_counter_metric_pair_is_found_per_team(org, cat):
    _counter_pair(org, cat)
    counts = gaming_review.detect_gaming(actor=None)
    assert counts["created"] == 1
    finding = GamingFinding.objects.get()
    assert finding.kind == "counter_metric"
    assert (finding.metric, finding.counter_metric, finding.team) == (
        cat.calls,
        cat.resolution,
        org.team_a,
    )
    assert finding.evidence["primary_before"] == 100.0
    assert finding.evidence["counter_after"] == 60.0
    assert finding.status == "open"


def test_resolved_conflict_is_not_a_counter_pair(org, cat):
    _counter_pair(org, cat)
    MetricConflict.objects.update(resolved=True)
    assert gaming_review.detect_gaming(actor=None)["created"] == 0


def test_bunching_just_past_the_target(org, cat):
    _bunching(org, cat)
    gaming_review.detect_gaming(actor=None)
    finding = GamingFinding.objects.get(kind="threshold_bunching")
    assert finding.metric == cat.calls and finding.team == org.team_a
    assert finding.evidence["just_passing"] == 10
    assert finding.evidence["just_failing"] == 1
    assert finding.evidence["passing"] == "at_or_above"


def test_end_of_period_spike_on_daily_values(org, cat):
    metric = _daily_spike(org, cat)
    gaming_review.detect_gaming(actor=None)
    finding = GamingFinding.objects.get(kind="end_of_period_spike")
    assert finding.metric == metric and finding.team == org.team_b
    assert finding.evidence["tail_median"] == 32.0
    assert not Observation.objects.filter(metric=metric, status="quarantined")


def test_quiet_data_files_nothing(org, cat):
    services.record_observations(
        actor=None,
        rows=[
            {
                "metric": cat.resolution.key,
                "team": "Team A",
                "period_start": m.isoformat(),
                "value": "80",
            }
            for m in MONTHS
        ],
    )
    assert gaming_review.detect_gaming(actor=None)["created"] == 0
    assert not GamingFinding.objects.exists()


def test_detection_is_idempotent_and_never_reopens(org, cat):
    _counter_pair(org, cat)
    _bunching(org, cat)
    first = tasks.gaming_detection()
    assert first["created"] == 2
    again = tasks.gaming_detection()
    assert again == {"created": 0, "refreshed": 0, "unchanged": 2}
    assert GamingFinding.objects.count() == 2
    finding = GamingFinding.objects.get(kind="counter_metric")
    gaming_review.finding_review(
        actor=org.users["hr"], finding=finding, outcome="process_fix", note="quota"
    )
    tasks.gaming_detection()
    finding.refresh_from_db()
    assert finding.status == "reviewed" and GamingFinding.objects.count() == 2
    assert AuditEvent.objects.filter(action="gaming.detection_run").count() == 3


def test_review_outcomes_and_permissions(org, cat):
    _counter_pair(org, cat)
    gaming_review.detect_gaming(actor=None)
    finding = GamingFinding.objects.get()
    for key in ("manager", "auditor", "employee", "steward"):
        with pytest.raises(PermissionDenied):
            gaming_review.finding_review(
                actor=org.users[key], finding=finding, outcome="no_action", note="x"
            )
    with pytest.raises(ValidationError, match="Unknown outcome"):
        gaming_review.finding_review(
            actor=org.users["compliance"], finding=finding, outcome="sanction", note="x"
        )
    with pytest.raises(ValidationError, match="Record what"):
        gaming_review.finding_review(
            actor=org.users["compliance"], finding=finding, outcome="coaching", note=" "
        )
    assert GamingFinding.objects.get().status == "open"
    gaming_review.finding_review(
        actor=org.users["compliance"],
        finding=finding,
        outcome="coaching",
        note="talked it through",
    )
    finding.refresh_from_db()
    assert (finding.status, finding.outcome) == ("reviewed", "coaching")
    assert finding.reviewed_by_id == org.users["compliance"].pk
    with pytest.raises(ValidationError, match="already been reviewed"):
        gaming_review.finding_review(
            actor=org.users["hr"], finding=finding, outcome="no_action", note="x"
        )


# -- never on a person's record ---------------------------------------------------------


def test_findings_have_no_relation_to_a_person():
    related = {
        f.related_model
        for f in GamingFinding._meta.get_fields()
        if f.is_relation and f.related_model is not None
    }
    assert Person not in related
    assert not any(
        f.related_model is GamingFinding
        for f in Person._meta.get_fields()
        if f.is_relation
    )


def test_findings_stay_off_the_persons_record(client, org, cat):
    _counter_pair(org, cat)
    _bunching(org, cat)
    member = org.people["member_a1"]
    before = (
        Observation.objects.filter(person=member).count(),
        Evaluation.objects.filter(person=member).count(),
        PeerFeedback.objects.filter(subject=member).count(),
    )
    gaming_review.detect_gaming(actor=None)
    assert GamingFinding.objects.count() == 2
    after = (
        Observation.objects.filter(person=member).count(),
        Evaluation.objects.filter(person=member).count(),
        PeerFeedback.objects.filter(subject=member).count(),
    )
    assert after == before
    names = [member.employee_id, str(member.full_name), str(member.pk)]
    for finding in GamingFinding.objects.all():
        text = finding.summary + str(finding.evidence)
        assert not any(name in text for name in names)

    # The employee's self-service page shows nothing of the queue.
    employee = org.users["employee"]  # member_a, whose calls were pooled too
    client.force_login(employee)
    page = client.get("/me/").content.decode()
    for finding in GamingFinding.objects.all():
        assert finding.summary[:40] not in page
    assert "gaming" not in page.lower()

    # Exports of person data (observations export) carry no finding.
    client.force_login(org.users["hr"])
    response = client.post(
        "/admin/metrics/observation/export/", {"format": "0", "resource": "0"}
    )
    assert response.status_code == 200
    exported = response.content.decode()
    assert "gaming" not in exported.lower()
    assert "counter-metric" not in exported.lower()
    assert "just on the passing side" not in exported


def test_gaming_job_is_declared_daily_and_runs_through_the_queue(org, cat):
    import importlib

    from django_q.tasks import async_task, result

    from governance import schedules

    job = schedules.registered()["metrics.gaming_detection"]
    assert (job.func, job.schedule_type) == ("metrics.tasks.gaming_detection", "D")
    module, name = job.func.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))
    _counter_pair(org, cat)
    counts = result(async_task(job.func, sync=True))
    assert counts["created"] == 1 and GamingFinding.objects.count() == 1


def test_pools_of_fewer_than_three_people_are_not_examined(org, cat, settings):
    _bunching(org, cat)  # three people's calls
    settings.GAMING_MIN_PEOPLE = 4
    assert gaming_review.detect_gaming(actor=None)["created"] == 0
    settings.GAMING_MIN_PEOPLE = 3
    assert gaming_review.detect_gaming(actor=None)["created"] == 1
