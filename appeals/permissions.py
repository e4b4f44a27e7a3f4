"""Yes/no predicates for appeals, shared by views, admin, services and jobs."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from appeals.models import Appeal, ConflictDeclaration
from governance import permissions
from governance.models import Person, Team, User
from governance.roles import Role

#: Roles whose members may be assigned as reviewers.
REVIEWER_ROLES = (Role.BOARD, Role.HR)


def manager_chain(person: Person) -> set[Any]:
    """Everyone above ``person``: line managers upwards, and the managers of
    their teams and of every team above those."""
    found: set[Any] = set()
    managers = dict(Person.objects.values_list("pk", "manager_id"))
    current = managers.get(person.pk)
    while current is not None and current not in found:
        found.add(current)
        current = managers.get(current)
    teams = {
        t: (parent, mgr)
        for t, parent, mgr in Team.objects.values_list("pk", "parent_id", "manager_id")
    }
    stack = list(person.memberships.values_list("team_id", flat=True))
    seen: set[int] = set()
    while stack:
        team_id = stack.pop()
        if team_id in seen or team_id not in teams:
            continue
        seen.add(team_id)
        parent, mgr = teams[team_id]
        if mgr is not None and mgr != person.pk:
            found.add(mgr)
            # and that manager's own line
            current = managers.get(mgr)
            while current is not None and current not in found:
                found.add(current)
                current = managers.get(current)
        if parent is not None:
            stack.append(parent)
    found.discard(person.pk)
    return found


def reviewer_conflicts(user: Any, appeal: Appeal) -> list[str]:
    """Why ``user`` may not review ``appeal`` (empty: they may)."""
    reasons: list[str] = []
    if not permissions._active(user):
        return ["The account is inactive."]
    if not (
        user.is_superuser or any(permissions.has_role(user, r) for r in REVIEWER_ROLES)
    ):
        reasons.append("Only review board members or HR staff review appeals.")
    person = Person.objects.filter(user=user).only("pk").first()
    if person is not None:
        if person.pk == appeal.appellant_id:
            reasons.append("The appellant can't review their own appeal.")
        if person.pk == appeal.evaluator_id:
            reasons.append("The evaluator of the disputed value can't review it.")
        if person.pk in manager_chain(appeal.appellant):
            reasons.append("Someone in the appellant's manager chain can't review it.")
    if ConflictDeclaration.objects.filter(
        user=user, person_id=appeal.appellant_id
    ).exists():
        reasons.append("The user declared a conflict of interest with the appellant.")
    return reasons


def eligible_reviewers(appeal: Appeal) -> QuerySet[User]:
    """Active users who may be assigned (reviewer roles, no conflict)."""
    names = [r.value for r in REVIEWER_ROLES]
    candidates = (
        User.objects.filter(is_active=True)
        .filter(Q(groups__name__in=names) | Q(is_superuser=True))
        .distinct()
    )
    excluded = {
        appeal.appellant_id,
        appeal.evaluator_id,
        *manager_chain(appeal.appellant),
    }
    candidates = candidates.exclude(person__pk__in=[p for p in excluded if p])
    conflicted = ConflictDeclaration.objects.filter(
        person_id=appeal.appellant_id
    ).values("user_id")
    return candidates.exclude(pk__in=conflicted).order_by("username")


def is_appellant(user: Any, appeal: Appeal) -> bool:
    person = permissions.person_of(user)
    return person is not None and person.pk == appeal.appellant_id


def is_reviewer(user: Any, appeal: Appeal) -> bool:
    return (
        permissions._active(user)
        and appeal.reviewer_id == user.pk
        and permissions.has_model_perm(user, Appeal, "decide")
    )


def can_manage(user: Any) -> bool:
    """Triage, assign, escalate, close: HR and compliance (org scope)."""
    return permissions.has_model_perm(
        user, Appeal, "manage"
    ) and permissions.has_org_scope(user)


def can_view(user: Any, appeal: Appeal) -> bool:
    return Appeal.objects.visible_to(user, "view").filter(pk=appeal.pk).exists()


def is_party(user: Any, appeal: Appeal) -> bool:
    """Who may read the appeal's evidence: the appellant, the assigned reviewer,
    and those who manage appeals (HR, compliance); never anyone else."""
    if not permissions._active(user):
        return False
    if is_appellant(user, appeal):
        return True
    if appeal.reviewer_id == user.pk and can_view(user, appeal):
        return True
    return can_manage(user) and can_view(user, appeal)
