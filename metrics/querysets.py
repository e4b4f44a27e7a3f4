"""Row scoping for the metrics app: ``visible_to(user, action)`` per model.

* The metric catalogue (definitions) is organisation knowledge: anyone with the
  view permission sees every definition. Changing one is scoped: organisation
  roles, the metric's owner, its steward, or its department's steward.
* Observations and everything about a person are scoped like people: org-wide
  roles see all; stewards their department's metrics; metric owners their
  metrics' data; managers their teams' people and teams; employees themselves;
  plus explicit guardian grants.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from governance import permissions
from governance.querysets import GovernedQuerySet, ReferenceQuerySet
from governance.roles import Scope

__all__ = [
    "ChangeRequestQuerySet",
    "GamingFindingQuerySet",
    "IncentivePlanQuerySet",
    "MetricQuerySet",
    "MetricScopedQuerySet",
    "ObservationQuerySet",
    "ObservationScopedQuerySet",
    "PeerReviewAssignmentQuerySet",
    "PeerReviewCycleQuerySet",
    "PersonScopedQuerySet",
    "ReferenceQuerySet",
    "SubjectScopedQuerySet",
]

_NOTHING = Q(pk__in=[])


def _metric_change_q(user: Any, prefix: str = "") -> Q:
    person = permissions.person_of(user)
    if person is None:
        return _NOTHING
    q = _NOTHING
    if permissions.has_scope(user, Scope.OWNED):
        q |= Q(**{f"{prefix}owner_id": person.pk})
    if permissions.has_scope(user, Scope.DEPARTMENT):
        q |= Q(**{f"{prefix}steward_id": person.pk}) | Q(
            **{f"{prefix}department__steward_id": person.pk}
        )
    return q


class MetricQuerySet(GovernedQuerySet):
    def visible_to(self, user: Any, action: str = "view") -> GovernedQuerySet:
        if action == "view":
            return (
                self
                if permissions.has_model_perm(user, self.model, "view")
                else self.none()
            )
        return super().visible_to(user, action)

    def scope_q(self, user: Any, action: str) -> Q:
        return _metric_change_q(user)

    def active(self) -> MetricQuerySet:
        return self.filter(status="active")


class MetricScopedQuerySet(GovernedQuerySet):
    """Rows that belong to one metric (targets, lineage steps, methodology versions)."""

    def visible_to(self, user: Any, action: str = "view") -> GovernedQuerySet:
        if action == "view":
            return (
                self
                if permissions.has_model_perm(user, self.model, "view")
                else self.none()
            )
        return super().visible_to(user, action)

    def scope_q(self, user: Any, action: str) -> Q:
        return _metric_change_q(user, "metric__")


class ChangeRequestQuerySet(MetricScopedQuerySet):
    pass


def _people_q(
    user: Any, person_field: str, team_field: str | None, metric_prefix: str | None
) -> Q:
    """Rows about people (and teams) the user's roles reach."""
    person = permissions.person_of(user)
    if person is None:
        return _NOTHING
    q = _NOTHING
    if permissions.has_scope(user, Scope.TEAM):
        teams = permissions.managed_team_ids(person)
        q |= Q(**{f"{person_field}__memberships__team_id__in": teams})
        q |= Q(**{f"{person_field}__manager_id": person.pk})
        if team_field:
            q |= Q(**{f"{team_field}_id__in": teams})
    if permissions.has_scope(user, Scope.DEPARTMENT) and metric_prefix is not None:
        q |= Q(**{f"{metric_prefix}steward_id": person.pk}) | Q(
            **{f"{metric_prefix}department__steward_id": person.pk}
        )
    if permissions.has_scope(user, Scope.OWNED) and metric_prefix is not None:
        q |= Q(**{f"{metric_prefix}owner_id": person.pk})
    if permissions.has_scope(user, Scope.SELF):
        q |= Q(**{f"{person_field}_id": person.pk})
    return q


def _observation_scope_q(user: Any, action: str) -> Q:
    """:func:`_people_q` (views) or :func:`_metric_change_q` (writes) for
    observations, resolved to id lists on the observation's own columns:
    ``person_id IN (…) OR team_id IN (…) OR metric_id IN (…)``. The same rows,
    but no join through memberships (which repeats rows and needs a
    ``pk IN (subquery)`` wrapper), so a big table is paged through its index."""
    from governance.models import Membership, Person
    from metrics.models import Metric

    person = permissions.person_of(user)
    if person is None:
        return _NOTHING
    if action != "view":
        # Only those who keep a metric's data current may write it.
        change_q = _metric_change_q(user)
        metric_ids = list(Metric.objects.filter(change_q).values_list("pk", flat=True))
        return Q(metric_id__in=metric_ids)
    q = _NOTHING
    if permissions.has_scope(user, Scope.TEAM):
        teams = permissions.managed_team_ids(person)
        people = set(
            Membership._base_manager.filter(team_id__in=teams).values_list(
                "person_id", flat=True
            )
        )
        people |= set(
            Person._base_manager.filter(manager_id=person.pk).values_list(
                "pk", flat=True
            )
        )
        q |= Q(person_id__in=sorted(people)) | Q(team_id__in=teams)
    metric_q = _NOTHING
    if permissions.has_scope(user, Scope.DEPARTMENT):
        metric_q |= Q(steward_id=person.pk) | Q(department__steward_id=person.pk)
    if permissions.has_scope(user, Scope.OWNED):
        metric_q |= Q(owner_id=person.pk)
    if metric_q is not _NOTHING:
        q |= Q(
            metric_id__in=list(
                Metric.objects.filter(metric_q).values_list("pk", flat=True)
            )
        )
    if permissions.has_scope(user, Scope.SELF):
        q |= Q(person_id=person.pk)
    return q


class ObservationQuerySet(GovernedQuerySet):
    """Scope and grants are plain conditions on the row's own columns (id
    lists resolved when ``visible_to`` is called), so a scoped list needs no
    ``pk IN (subquery)`` wrapper."""

    def scope_q(self, user: Any, action: str) -> Q:
        return _observation_scope_q(user, action)

    def grants_q(self, user: Any, action: str) -> Q:
        user_perm, group_perm = permissions.object_permission_models(self.model)
        codename = f"{action}_{self.model._meta.model_name}"
        ids = set(
            user_perm.objects.filter(
                user=user, permission__codename=codename
            ).values_list("content_object_id", flat=True)
        )
        ids |= set(
            group_perm.objects.filter(
                group__in=user.groups.all(), permission__codename=codename
            ).values_list("content_object_id", flat=True)
        )
        return Q(pk__in=sorted(ids))

    #: The one status charts, reports and the quality screen's raw SQL read.
    CURRENT_STATUS = "valid"

    def current(self) -> ObservationQuerySet:
        """What charts and reports use: valid values only (no quarantined or superseded)."""
        return self.filter(status=self.CURRENT_STATUS)


class ObservationScopedQuerySet(GovernedQuerySet):
    """Rows attached to an observation: scoped exactly like their observation."""

    def visible_to(self, user: Any, action: str = "view") -> GovernedQuerySet:
        from metrics.models import Observation

        if not permissions.has_model_perm(user, self.model, action):
            return self.none()
        observation_action = "view" if action == "view" else "change"
        visible = Observation.objects.visible_to(user, "view")
        if action != "view" and self.model._meta.model_name == "dataqualityissue":
            visible = Observation.objects.visible_to(user, observation_action)
        return self.filter(observation__in=visible.values("pk"))


class PersonScopedQuerySet(GovernedQuerySet):
    """Rows about one person (feedback, evaluations); ``person_field`` names it."""

    person_field = "person"

    def scope_q(self, user: Any, action: str) -> Q:
        if action != "view":
            return _NOTHING
        q = _people_q(
            user, self.person_field, "team" if self._has_team() else None, None
        )
        return Q(pk__in=self.model._default_manager.filter(q).values("pk"))

    def _has_team(self) -> bool:
        return any(f.name == "team" for f in self.model._meta.fields)


class SubjectScopedQuerySet(PersonScopedQuerySet):
    """Rows about the person in the ``subject`` field (peer feedback)."""

    person_field = "subject"


# -- incentive safeguards (M5) ---------------------------------------------------------


class IncentivePlanQuerySet(GovernedQuerySet):
    """Incentive plans (and their components): organisation roles all; managers
    read their teams' plans. Only organisation roles (HR) write them."""

    def scope_q(self, user: Any, action: str) -> Q:
        person = permissions.person_of(user)
        if person is None or action != "view":
            return _NOTHING
        if not permissions.has_scope(user, Scope.TEAM):
            return _NOTHING
        team_field = (
            "team_id"
            if self.model._meta.model_name == "incentiveplan"
            else "plan__team_id"
        )
        return Q(**{f"{team_field}__in": permissions.managed_team_ids(person)})


class GamingFindingQuerySet(GovernedQuerySet):
    """The non-punitive review queue: organisation roles with the permission only
    (HR, compliance, auditors); never line management, never the people measured."""


class PeerReviewCycleQuerySet(GovernedQuerySet):
    """Cycles: organisation roles all; managers read their own department's."""

    def scope_q(self, user: Any, action: str) -> Q:
        person = permissions.person_of(user)
        if person is None or action != "view":
            return _NOTHING
        if not permissions.has_scope(user, Scope.TEAM):
            return _NOTHING
        return Q(department_id=person.department_id)


class PeerReviewAssignmentQuerySet(GovernedQuerySet):
    """Assignments: organisation roles all; managers those of their teams' people;
    everyone the assignments they give or receive."""

    def scope_q(self, user: Any, action: str) -> Q:
        person = permissions.person_of(user)
        if person is None or action != "view":
            return _NOTHING
        q = _NOTHING
        if permissions.has_scope(user, Scope.TEAM):
            teams = permissions.managed_team_ids(person)
            for side in ("reviewer", "reviewee"):
                q |= Q(**{f"{side}__memberships__team_id__in": teams})
                q |= Q(**{f"{side}__manager_id": person.pk})
        if permissions.has_scope(user, Scope.SELF):
            q |= Q(reviewer_id=person.pk) | Q(reviewee_id=person.pk)
        return Q(pk__in=self.model._default_manager.filter(q).values("pk"))
