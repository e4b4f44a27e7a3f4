"""Builders for metrics tests and benchmarks (on top of governance.testing.build_org)."""

from __future__ import annotations

from dataclasses import dataclass

from governance.classification import Sensitivity
from governance.testing import Org
from metrics import services
from metrics.models import DataSource, Metric, StrategicObjective


@dataclass
class Catalogue:
    objective: StrategicObjective
    manual: DataSource
    jira: DataSource
    calls: Metric  # individual, confidential, manual source, active
    resolution: Metric  # team outcome, internal, jira source, active
    draft: Metric  # individual, draft


def build_catalogue(org: Org, *, consent: bool = True) -> Catalogue:
    """The catalogue below. With ``consent`` (the default), everyone in the org
    whose jurisdiction requires it has consented to individual tracking
    (M8.3), so capture tests aren't refused by the consent guard."""
    objective = StrategicObjective.objects.create(code="cx", title="Delight customers")
    manual = DataSource.objects.create(
        code="manual", name="Manual entry", system="manual", documented=True
    )
    jira = DataSource.objects.create(
        code="jira", name="Jira", system="jira", documented=True
    )
    owner, steward = org.people["manager_a"], org.people["steward_sales"]
    resolution = services.metric_create(
        actor=None,
        key="support.resolution_rate",
        name="Resolution rate",
        description="Share of tickets resolved",
        indicator="lagging",
        level="team",
        unit="%",
        direction="higher",
        sensitivity=Sensitivity.INTERNAL,
        calculation="resolved / opened",
        source=jira,
        owner=owner,
        steward=steward,
        department=org.sales,
        team=org.team_a,
        objective=objective,
        update_frequency="monthly",
        validation_rules={"min": 0, "max": 100},
    )
    calls = services.metric_create(
        actor=None,
        key="sales.calls_made",
        name="Calls made",
        description="Outbound calls per month",
        indicator="leading",
        level="individual",
        unit="calls",
        direction="higher",
        sensitivity=Sensitivity.CONFIDENTIAL,
        calculation="count of logged calls",
        source=manual,
        owner=owner,
        steward=steward,
        department=org.sales,
        team=org.team_a,
        aligned_to=resolution,
        update_frequency="monthly",
        validation_rules={"min": 0, "max": 2000, "integer_only": True},
    )
    draft = services.metric_create(
        actor=None,
        key="sales.demo_count",
        name="Demos",
        indicator="leading",
        level="individual",
        unit="demos",
        calculation="count",
        source=manual,
        owner=owner,
        steward=steward,
        department=org.sales,
        update_frequency="monthly",
    )
    for metric in (resolution, calls):
        services.metric_transition(
            actor=None, metric=metric, status="active", reason="approved for use"
        )
    if consent:
        from governance import consent as consents

        for person in org.people.values():
            if person.jurisdiction.consent_required:
                consents.give_consent(
                    actor=None,
                    person=person,
                    purpose=consents.DEFAULT_PURPOSE,
                    evidence="test fixture",
                )
    return Catalogue(objective, manual, jira, calls, resolution, draft)
