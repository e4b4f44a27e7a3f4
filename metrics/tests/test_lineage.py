"""Lineage audits (M3.2): undocumented sources and steps, metrics with no lineage."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.audit import chain
from governance.models import AuditEvent
from metrics import lineage, services
from metrics.models import DataSource, Metric, TransformationStep
from metrics.tests.test_quality import catalogue_with_consent

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat(org):
    return catalogue_with_consent(org)


def by_key(audit):
    return {m.metric.key: m for m in audit.metrics}


def test_a_catalogue_without_steps_has_no_lineage(cat):
    audit = lineage.lineage_audit()
    assert {m.metric.key for m in audit.no_lineage} == {
        "sales.calls_made",
        "sales.demo_count",
        "support.resolution_rate",
    }
    assert audit.undocumented_sources == []
    assert audit.counts()["metrics_without_lineage"] == 3


def test_undocumented_steps_and_sources_are_listed_per_metric(org, cat):
    legacy = DataSource.objects.create(code="crm-old", name="Old CRM", documented=False)
    spare = DataSource.objects.create(code="spare", name="Unused", documented=False)
    gone = DataSource.objects.create(
        code="gone", name="Retired tool", documented=False, lifecycle="retired"
    )
    TransformationStep.objects.create(
        metric=cat.calls,
        order=1,
        source=cat.manual,
        description="export",
        documented=True,
    )
    TransformationStep.objects.create(
        metric=cat.calls, order=2, source=legacy, description="join", documented=False
    )
    TransformationStep.objects.create(
        metric=cat.resolution, order=1, description="ratio", documented=True
    )
    audit = lineage.lineage_audit()
    found = by_key(audit)
    calls = found["sales.calls_made"]
    assert [s.order for s in calls.undocumented_steps] == [2]
    assert [s.code for s in calls.undocumented_sources] == ["crm-old"]
    assert not calls.no_lineage and not calls.ok
    assert found["support.resolution_rate"].ok
    sources = {
        s.code: [m.key for m in metrics] for s, metrics in audit.undocumented_sources
    }
    assert sources == {"crm-old": ["sales.calls_made"], "spare": []}  # retired left out
    assert gone.code not in sources and spare.code in sources
    assert audit.counts() == {
        "metrics_audited": 3,
        "metrics_with_findings": 2,  # calls (undocumented) and the draft (no lineage)
        "metrics_without_lineage": 1,
        "metrics_with_undocumented_steps": 1,
        "undocumented_steps": 1,
        "undocumented_sources": 2,
    }


def test_a_source_observations_came_from_counts_too(org, cat):
    """Each observation records its source: a metric fed by an undocumented
    source (here through the API's source) depends on it."""
    side = DataSource.objects.create(code="side", name="Side feed", documented=False)
    services.metric_update(
        actor=None, metric=cat.draft, changes={"source": side}, reason="fed by side"
    )
    services.metric_transition(
        actor=None, metric=cat.draft, status="active", reason="go"
    )
    services.record_observations(
        actor=None,
        rows=[
            {
                "metric": "sales.demo_count",
                "employee_id": org.people["member_a1"].employee_id,
                "period_start": "2026-01-01",
                "value": "3",
            }
        ],
        source=side,
    )
    services.metric_transition(
        actor=None, metric=cat.draft, status="sunset_review", reason="x"
    )
    audit = lineage.lineage_audit()
    assert [s.code for s in by_key(audit)["sales.demo_count"].undocumented_sources] == [
        "side"
    ]


def test_retired_metrics_are_not_audited(cat):
    services.metric_transition(
        actor=None, metric=cat.draft, status="retired", reason="gone"
    )
    assert "sales.demo_count" not in by_key(lineage.lineage_audit())


def test_the_audit_costs_a_fixed_number_of_queries(org, cat):
    with CaptureQueriesContext(connection) as small:
        lineage.lineage_audit()
    for i in range(10):
        metric = services.metric_create(
            actor=None,
            key=f"sales.extra_{i}",
            name=f"Extra {i}",
            indicator="lagging",
            level="team",
            unit="n",
            calculation="count",
            source=cat.jira,
            owner=org.people["manager_a"],
            steward=org.people["steward_sales"],
            department=org.sales,
        )
        TransformationStep.objects.create(metric=metric, order=1, source=cat.jira)
    with CaptureQueriesContext(connection) as large:
        audit = lineage.lineage_audit()
    assert len(audit.metrics) == 13
    assert len(large.captured_queries) == len(small.captured_queries) <= 4


def test_recording_the_audit_writes_counts_to_the_audit_trail(cat):
    counts = lineage.record_lineage_audit()
    event = AuditEvent.objects.get(action="lineage.audited")
    assert (
        event.data["metrics_without_lineage"] == counts["metrics_without_lineage"] == 3
    )
    assert event.data["metrics_with_findings_keys"] == sorted(
        Metric.objects.values_list("key", flat=True)
    )
    assert event.actor_label == "system"
    assert chain.verify().ok
