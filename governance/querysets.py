"""Reusable querysets. ``visible_to(user, action)`` is THE row-scoping rule.

Admin changelists, change/history views, autocomplete, foreign-key dropdowns,
search, exports, reports and the API all scope rows through it (NetBox's
``restrict()``). It answers "which rows may this user act on": the model
permission, then the user's role scope, then explicit object grants. Clearance
is not a row filter: rows above a reader's clearance stay visible with their
values masked (see :mod:`governance.display`).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Exists, OuterRef, Q

from governance import gcpause
from governance.crypto.store import attach_keys


class GovernedQuerySet(models.QuerySet):
    """Base queryset of governed models: fetches data keys per page, scopes rows."""

    _masked_for: Any = None
    _relations_masked_for: Any = None

    def _fetch_all(self) -> None:
        if self._result_cache is not None:  # cached (prefetches may still run)
            super()._fetch_all()
            return
        with gcpause.relaxed():
            super()._fetch_all()
            if self._result_cache and isinstance(self._result_cache[0], models.Model):
                attach_keys(self._result_cache, source=self)
                if self._masked_for is not None:
                    from governance import display

                    display.apply_masks_many(self._result_cache, self._masked_for)  # type: ignore[arg-type]
                if self._relations_masked_for is not None:
                    from governance import display

                    display.mask_cached_relations(
                        self._result_cache,  # type: ignore[arg-type]
                        self._relations_masked_for,
                    )

    def _clone(self) -> GovernedQuerySet:
        clone = super()._clone()  # type: ignore[misc]
        clone._masked_for = self._masked_for
        clone._relations_masked_for = self._relations_masked_for
        return clone

    def masked_for(self, user: Any) -> GovernedQuerySet:
        """Rows come back masked for ``user`` as in a list: nothing above their
        clearance and no Restricted plaintext (for labels, e.g. autocomplete)."""
        clone = self._chain()  # type: ignore[attr-defined]
        clone._masked_for = user
        return clone

    def relations_masked_for(self, user: Any) -> GovernedQuerySet:
        """Related rows loaded with ``select_related`` come back masked for
        ``user`` (the rows themselves are left as they are)."""
        clone = self._chain()  # type: ignore[attr-defined]
        clone._relations_masked_for = user
        return clone

    # -- scoping -------------------------------------------------------------

    def visible_to(self, user: Any, action: str = "view") -> GovernedQuerySet:
        from governance import permissions

        if not permissions.has_model_perm(user, self.model, action):
            return self.none()
        if self.reaches_all(user, action):
            return self
        return self.filter(self.scope_q(user, action) | self.grants_q(user, action))

    def reaches_all(self, user: Any, action: str = "view") -> bool:
        """Whether ``visible_to(user, action)`` is every row (no row filter)."""
        from governance import permissions

        return permissions.has_model_perm(user, self.model, action) and (
            user.is_superuser or permissions.has_org_scope(user, self.model)
        )

    def scope_q(self, user: Any, action: str) -> Q:
        """Rows the user's roles reach besides organisation-wide scope. Override."""
        return Q(pk__in=[])

    def grants_q(self, user: Any, action: str) -> Q:
        """Explicit django-guardian object grants (direct foreign-key tables)."""
        from governance import permissions

        user_perm, group_perm = permissions.object_permission_models(self.model)
        if user_perm is None:
            return Q(pk__in=[])
        codename = f"{action}_{self.model._meta.model_name}"
        q = Q(
            Exists(
                user_perm.objects.filter(
                    content_object=OuterRef("pk"),
                    user=user,
                    permission__codename=codename,
                )
            )
        )
        if group_perm is not None:
            q |= Q(
                Exists(
                    group_perm.objects.filter(
                        content_object=OuterRef("pk"),
                        group__in=user.groups.all(),
                        permission__codename=codename,
                    )
                )
            )
        return q


class PersonQuerySet(GovernedQuerySet):
    def active(self) -> PersonQuerySet:
        return self.exclude(status="left")

    def scope_q(self, user: Any, action: str) -> Q:
        from governance import permissions

        person = permissions.person_of(user)
        if person is None:
            return Q(pk__in=[])
        q = Q(pk__in=[])
        if permissions.has_scope(user, "team"):
            teams = permissions.managed_team_ids(person)
            q |= Q(memberships__team_id__in=teams) | Q(manager_id=person.pk)
        if permissions.has_scope(user, "department"):
            q |= Q(department__steward_id=person.pk)
        if permissions.has_scope(user, "self") and action == "view":
            q |= Q(pk=person.pk)
        return Q(pk__in=self.model._default_manager.filter(q).values("pk"))


class TeamQuerySet(GovernedQuerySet):
    def scope_q(self, user: Any, action: str) -> Q:
        from governance import permissions

        person = permissions.person_of(user)
        if person is None:
            return Q(pk__in=[])
        q = Q(pk__in=[])
        if permissions.has_scope(user, "team"):
            q |= Q(pk__in=permissions.managed_team_ids(person))
        if permissions.has_scope(user, "department"):
            q |= Q(department__steward_id=person.pk)
        if permissions.has_scope(user, "self") and action == "view":
            q |= Q(memberships__person_id=person.pk)
        return Q(pk__in=self.model._default_manager.filter(q).values("pk"))


class DepartmentQuerySet(GovernedQuerySet):
    def scope_q(self, user: Any, action: str) -> Q:
        from governance import permissions

        person = permissions.person_of(user)
        if person is None:
            return Q(pk__in=[])
        q = Q(pk__in=[])
        if permissions.has_scope(user, "department"):
            q |= Q(steward_id=person.pk)
        if action == "view" and (
            permissions.has_scope(user, "team") or permissions.has_scope(user, "self")
        ):
            q |= Q(pk=person.department_id)
        return q


class MembershipQuerySet(GovernedQuerySet):
    def scope_q(self, user: Any, action: str) -> Q:
        from governance import permissions

        person = permissions.person_of(user)
        if person is None:
            return Q(pk__in=[])
        q = Q(pk__in=[])
        if permissions.has_scope(user, "team"):
            q |= Q(team_id__in=permissions.managed_team_ids(person))
        if permissions.has_scope(user, "department"):
            q |= Q(team__department__steward_id=person.pk)
        if permissions.has_scope(user, "self") and action == "view":
            q |= Q(person_id=person.pk)
        return q


class ReferenceQuerySet(GovernedQuerySet):
    """Reference data (jurisdictions): readable by anyone with the model permission."""

    def visible_to(self, user: Any, action: str = "view") -> GovernedQuerySet:
        from governance import permissions

        if not permissions.has_model_perm(user, self.model, action):
            return self.none()
        return self
