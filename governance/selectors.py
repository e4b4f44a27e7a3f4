"""Composed reads for views, reports and the API."""

from __future__ import annotations

from typing import Any

from governance import display, permissions
from governance.models import Membership, Person


def own_profile(*, viewer: Any) -> dict[str, Any] | None:
    """The signed-in employee's own record (subject access), or None."""
    person = permissions.person_of(viewer)
    if person is None:
        return None
    person = Person.objects.select_related("department", "jurisdiction", "manager").get(
        pk=person.pk
    )
    display.apply_masks(person, viewer, via="self-service")
    memberships = Membership.objects.filter(person=person).select_related("team")
    return {"person": person, "memberships": list(memberships)}
