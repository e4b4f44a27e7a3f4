"""Yes/no predicates shared by the admin, the API, reports and jobs.

Access = model permission AND object scope (role scope or explicit guardian
grant, see :meth:`GovernedQuerySet.visible_to`) AND clearance for plaintext.
Every predicate fails closed: an inactive or anonymous user may do nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from governance.classification import Sensitivity
from governance.roles import ROLES, Role, Scope

_OBJECT_PERMISSION_MODELS: dict[type[models.Model], tuple[Any, Any]] = {}


def register_object_permission_models(
    model: type[models.Model], user_perm: Any, group_perm: Any
) -> None:
    """Declare the direct foreign-key guardian tables of a (large) model."""
    _OBJECT_PERMISSION_MODELS[model] = (user_perm, group_perm)


def object_permission_models(model: type[models.Model]) -> tuple[Any, Any]:
    return _OBJECT_PERMISSION_MODELS.get(model, (None, None))


def _active(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def role_names(user: Any) -> frozenset[str]:
    if not _active(user):
        return frozenset()
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        load_access = getattr(user, "load_access", None)
        if load_access is not None:  # roles and permissions in one query
            load_access()
            cached = getattr(user, "_portal_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._portal_roles = cached
    return cached


def has_role(user: Any, role: Role) -> bool:
    return role.value in role_names(user)


def has_scope(user: Any, scope: str) -> bool:
    return any(
        scope in ROLES[Role(name)].scopes
        for name in role_names(user)
        if name in Role._value2member_map_
    )


def has_org_scope(user: Any, model: type[models.Model] | None = None) -> bool:
    return _active(user) and (user.is_superuser or has_scope(user, Scope.ORG))


def is_privileged(user: Any) -> bool:
    if not _active(user):
        return False
    if user.is_superuser:
        return True
    return any(
        ROLES[Role(name)].privileged
        for name in role_names(user)
        if name in Role._value2member_map_
    )


def has_model_perm(user: Any, model: type[models.Model], action: str) -> bool:
    if not _active(user):
        return False
    opts = model._meta
    return bool(user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}"))


def person_of(user: Any) -> Any:
    """The Person record linked to a user account, or None."""
    if not _active(user):
        return None
    if not hasattr(user, "_portal_person"):
        from governance.models import Person

        user._portal_person = (
            Person.objects.filter(user=user).only("id", "department_id").first()
        )
    return user._portal_person


def managed_team_ids(person: Any) -> list[int]:
    """Teams a person manages, with every team below them."""
    from governance.models import Team

    pairs = list(Team.objects.values_list("id", "parent_id", "manager_id"))
    children: dict[int | None, list[int]] = {}
    for team_id, parent_id, _ in pairs:
        children.setdefault(parent_id, []).append(team_id)
    result: list[int] = []
    stack = [team_id for team_id, _, manager_id in pairs if manager_id == person.pk]
    while stack:
        team_id = stack.pop()
        if team_id in result:
            continue
        result.append(team_id)
        stack.extend(children.get(team_id, []))
    return result


def can(user: Any, action: str, obj: models.Model) -> bool:
    """Model permission AND object scope for one object."""
    manager = type(obj)._default_manager
    if not hasattr(manager, "visible_to"):
        return has_model_perm(user, type(obj), action)
    return manager.visible_to(user, action).filter(pk=obj.pk).exists()


def clearance_of(user: Any) -> int:
    if not _active(user):
        return -1
    if user.is_superuser:
        return Sensitivity.RESTRICTED
    return int(getattr(user, "clearance", Sensitivity.PUBLIC))


def is_subject(user: Any, subject_id: Any) -> bool:
    person = person_of(user)
    return (
        person is not None
        and subject_id is not None
        and str(person.pk) == str(subject_id)
    )


def can_read_level(user: Any, level: int, *, subject_id: Any = None) -> bool:
    """Clearance check for plaintext; data subjects always read their own data."""
    if not _active(user):
        return False
    return clearance_of(user) >= level or is_subject(user, subject_id)
