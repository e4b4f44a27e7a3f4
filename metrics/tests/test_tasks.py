"""Scheduled jobs of the metrics app: declared in code, synced, runnable, idempotent."""

from __future__ import annotations

import datetime
import importlib

import pytest
from django.core import mail
from django_q.models import Schedule
from django_q.tasks import async_task, result

from governance import schedules
from governance.models import AuditEvent
from metrics import tasks
from metrics.models import Metric
from metrics.tests.test_quality import catalogue_with_consent


def test_jobs_are_declared_quarterly_and_daily_with_importable_functions():
    jobs = schedules.registered()
    lineage = jobs["metrics.lineage_audit"]
    freshness = jobs["metrics.flag_stale_and_orphaned"]
    assert lineage.schedule_type == Schedule.QUARTERLY == "Q"
    assert freshness.schedule_type == Schedule.DAILY == "D"
    for job in (lineage, freshness):
        module, name = job.func.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name))


@pytest.mark.django_db
def test_sync_schedules_creates_the_rows():
    schedules.sync_schedules()
    row = Schedule.objects.get(name="metrics.lineage_audit")
    assert (row.func, row.schedule_type, row.repeats) == (
        "metrics.tasks.lineage_audit",
        "Q",
        -1,
    )
    assert (
        Schedule.objects.get(name="metrics.flag_stale_and_orphaned").schedule_type
        == "D"
    )


@pytest.mark.django_db
def test_the_lineage_job_runs_through_the_queue_and_records_an_audit_event(org):
    catalogue_with_consent(org)
    task_id = async_task("metrics.tasks.lineage_audit", sync=True)
    counts = result(task_id)
    assert counts["metrics_audited"] == 3
    event = AuditEvent.objects.get(action="lineage.audited")
    assert event.data["metrics_audited"] == 3 and event.actor_id is None


@pytest.mark.django_db(transaction=True)
def test_the_freshness_job_is_idempotent(org, monkeypatch):
    cat = catalogue_with_consent(org)
    later = datetime.datetime(2031, 1, 1, tzinfo=datetime.UTC)
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    first = tasks.flag_stale_and_orphaned()
    second = tasks.flag_stale_and_orphaned()
    assert first["newly_stale"] == ["sales.calls_made", "support.resolution_rate"]
    assert "newly_stale" not in second and second["stale"] == 2
    assert len(mail.outbox) == 1  # sent on commit, once
    assert Metric.objects.get(pk=cat.calls.pk).stale_since == later
    assert AuditEvent.objects.filter(action="metrics.freshness_checked").count() == 2
