"""Composed reads for views, reports and the API."""

from __future__ import annotations

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
