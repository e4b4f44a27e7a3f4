"""Row scoping for appeals: ``visible_to(user, action)``.

* Organisation-wide roles with the model permission (HR, compliance, auditor)
  see every appeal (the auditor only with ``view``).
* The appellant sees their own appeals (``view`` only; they act through the
  self-service views and the services).
* The assigned reviewer reaches exactly the appeals granted to them through
  django-guardian (direct foreign-key tables), nothing else.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from governance import permissions
from governance.querysets import GovernedQuerySet

_NOTHING = Q(pk__in=[])


class AppealQuerySet(GovernedQuerySet):
    def scope_q(self, user: Any, action: str) -> Q:
        person = permissions.person_of(user)
        if person is None or action != "view":
            return _NOTHING
        if permissions.has_scope(user, "self"):
            return Q(appellant_id=person.pk)
        return _NOTHING

    def open(self) -> AppealQuerySet:
        from appeals.workflow import OPEN_STATES

        return self.filter(status__in=[s.value for s in OPEN_STATES])


class AppealScopedQuerySet(GovernedQuerySet):
    """Rows attached to an appeal (evidence, stages): scoped like the appeal."""

    def visible_to(self, user: Any, action: str = "view") -> GovernedQuerySet:
        from appeals.models import Appeal

        if not permissions.has_model_perm(user, self.model, action):
            return self.none()
        appeal_action = "view" if action == "view" else "change"
        visible = Appeal.objects.visible_to(user, appeal_action)
        return self.filter(appeal__in=visible.values("pk"))


class ConflictQuerySet(GovernedQuerySet):
    """Declared conflicts: organisation-wide roles see all; a user their own."""

    def scope_q(self, user: Any, action: str) -> Q:
        return Q(user_id=user.pk)
