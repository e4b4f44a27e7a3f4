"""Composed reads for views, reports and the API."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F

from governance import display, permissions
from governance.models import Department, Jurisdiction, Membership, Person


@dataclass
class OwnProfile:
    """What an employee may see about themselves on the self-service page.

    ``person`` carries the subject's own values (they read them all, however
    classified); ``manager_name`` is the only value about anyone else, masked
    like any other if the viewer's clearance doesn't reach it.
    """

    person: Person
    department: Department
    jurisdiction: Jurisdiction
    manager_name: Any
    memberships: list[Membership] = field(default_factory=list)

    @property
    def consent_required(self) -> bool:
        return bool(self.jurisdiction.consent_required)


def own_profile(*, viewer: Any) -> OwnProfile | None:
    """The signed-in employee's own record (subject access), or None.

    None for an anonymous or deactivated user and for an account that is not
    linked to a person. Reading one's own Restricted values is recorded like
    any other Restricted read.
    """
    linked = permissions.person_of(viewer)
    if linked is None:
        return None
    person = Person.objects.select_related("department", "jurisdiction").get(
        pk=linked.pk
    )
    display.apply_masks(person, viewer, via="self-service")

    manager_name: Any = None
    if person.manager_id:
        manager = Person.objects.only("id", "full_name", "classification").get(
            pk=person.manager_id
        )
        display.apply_masks(manager, viewer, log_restricted=False)
        manager_name = manager.full_name

    memberships = list(
        Membership.objects.filter(person=person)
        .select_related("team__department", "team__parent")
        .order_by(F("end_date").asc(nulls_first=True), "team__name")
    )
    return OwnProfile(
        person=person,
        department=person.department,
        jurisdiction=person.jurisdiction,
        manager_name=manager_name,
        memberships=memberships,
    )


def bias_assessment_summary(
    *, viewer: Any, date_from: datetime.date, date_to: datetime.date
) -> dict[str, Any]:
    """Bias assessments run between ``date_from`` and ``date_to`` (inclusive)
    that ``viewer`` may see, as JSON-able data for the audit pack: each
    assessment's target, verdict, status, dataset hash, per-group figures
    (suppressed groups without figures) and remediation items; plus totals
    and the remediation items overdue at ``date_to``. Nothing for a viewer
    without permission to view assessments."""
    from governance import bias
    from governance.models import BiasAssessment, RemediationItem

    rows = (
        BiasAssessment.objects.visible_to(viewer)
        .filter(run_at__date__gte=date_from, run_at__date__lte=date_to)
        .prefetch_related("groups", "remediation_items__owner")
        .order_by("run_at", "pk")
    )
    assessments = [bias.assessment_data(a) for a in rows]
    items = [i for a in assessments for i in a["remediation"]]
    overdue = [
        i
        for i in items
        if i["status"] != RemediationItem.Status.CLOSED
        and i["due_date"] < date_to.isoformat()
    ]
    by = dict.fromkeys(BiasAssessment.Verdict.values, 0)
    for a in assessments:
        by[a["verdict"]] += 1
    return {
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
        "count": len(assessments),
        "by_verdict": by,
        "completed": sum(a["status"] == "completed" for a in assessments),
        "remediation": {
            "total": len(items),
            "closed": sum(i["status"] == RemediationItem.Status.CLOSED for i in items),
            "overdue": overdue,
        },
        "assessments": assessments,
    }
