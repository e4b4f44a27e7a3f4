"""Model permissions remembered on the user instance (``User.has_perm``).

The answers must be Django's (every backend asked, PermissionDenied ends it)
and must follow the user's state: a reloaded permission set, activation,
superuser status, the backends setting. Object permissions are never
remembered.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.models import Group, Permission, PermissionsMixin
from django.core.exceptions import PermissionDenied
from django.test import override_settings
from guardian.shortcuts import assign_perm, remove_perm

from governance import services
from governance.models import Person, User
from governance.roles import Role

pytestmark = pytest.mark.django_db

PERMS = [
    "metrics.view_observation",
    "metrics.change_observation",
    "metrics.add_observation",
    "metrics.delete_observation",
    "governance.view_person",
    "governance.change_person",
    "governance.set_clearance",
    "appeals.view_appeal",
    "nonsense.view_nothing",
]
APPS = ["metrics", "governance", "appeals", "auth", "nonsense"]


def _fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@pytest.mark.parametrize(
    "role",
    ["hr", "compliance", "manager", "employee", "auditor", "nobody", "admin"],
)
def test_answers_are_djangos_for_every_role(org, role):
    ours, django = _fresh(org.users[role]), _fresh(org.users[role])
    for _ in range(2):  # asked, then remembered
        for perm in PERMS:
            assert ours.has_perm(perm) == PermissionsMixin.has_perm(django, perm)
        for app in APPS:
            assert ours.has_module_perms(app) == PermissionsMixin.has_module_perms(
                django, app
            )


def test_a_reloaded_permission_set_is_asked_again(org):
    user = _fresh(org.users["employee"])
    assert not user.has_perm("metrics.delete_observation")
    group = Group.objects.get(name=Role.EMPLOYEE.value)
    group.permissions.add(Permission.objects.get(codename="delete_observation"))
    # Django's own cache holds the loaded set for the instance's lifetime ...
    assert not user.has_perm("metrics.delete_observation")
    # ... and dropping it (as services.user_set_access does) drops ours too.
    user.__dict__.pop("_perm_cache")
    user.__dict__.pop("_group_perm_cache")
    assert user.has_perm("metrics.delete_observation")
    assert _fresh(user).has_perm("metrics.delete_observation")


def test_changed_roles_are_seen_on_the_same_instance(org):
    user = _fresh(org.users["employee"])
    assert not user.has_perm("metrics.change_observation")
    services.user_set_access(user=user, actor=None, reason="promoted", roles=[Role.HR])
    assert user.has_perm("metrics.change_observation")


def test_deactivation_and_superuser_status_are_seen_at_once(org):
    user = _fresh(org.users["hr"])
    assert user.has_perm("metrics.view_observation")
    assert user.has_module_perms("metrics")
    user.is_active = False
    assert not user.has_perm("metrics.view_observation")
    assert not user.has_module_perms("metrics")
    user.is_active = True
    assert user.has_perm("metrics.view_observation")
    assert not user.has_perm("governance.set_clearance")
    user.is_superuser = True
    assert user.has_perm("governance.set_clearance")
    user.is_superuser = False
    assert not user.has_perm("governance.set_clearance")


class DenyingBackend(BaseBackend):
    def has_perm(self, user_obj, perm, obj=None):  # type: ignore[no-untyped-def]
        if perm == "metrics.view_observation":
            raise PermissionDenied
        return False

    def has_module_perms(self, user_obj, app_label):  # type: ignore[no-untyped-def]
        if app_label == "metrics":
            raise PermissionDenied
        return False


def test_every_backend_is_asked_in_order_and_can_deny(org, settings):
    user = _fresh(org.users["hr"])
    assert user.has_perm("metrics.view_observation")
    denying = f"{__name__}.DenyingBackend"
    with override_settings(
        AUTHENTICATION_BACKENDS=[denying, *settings.AUTHENTICATION_BACKENDS]
    ):
        assert not user.has_perm("metrics.view_observation")
        assert user.has_perm("metrics.change_observation")
        assert not user.has_module_perms("metrics")
        assert user.has_module_perms("governance")
    with override_settings(
        AUTHENTICATION_BACKENDS=[*settings.AUTHENTICATION_BACKENDS, denying]
    ):
        assert user.has_perm("metrics.view_observation")  # granted before asked
    assert user.has_perm("metrics.view_observation")


def test_object_permissions_are_never_remembered(org):
    user = _fresh(org.users["employee"])
    person = Person.objects.get(pk=org.people["member_b"].pk)
    assert not user.has_perm("governance.view_person", person)
    assign_perm("governance.view_person", user, person)
    assert user.has_perm("governance.view_person", person)
    remove_perm("governance.view_person", user, person)
    assert not user.has_perm("governance.view_person", person)


# -- roles and permissions in one query (User.load_access) ------------------------


def _djangos_sets(user: User) -> tuple[set[str], set[str], frozenset[str]]:
    from django.contrib.auth.backends import ModelBackend

    fresh = _fresh(user)
    backend = ModelBackend()
    return (
        backend.get_user_permissions(fresh),
        backend.get_group_permissions(fresh),
        frozenset(fresh.groups.values_list("name", flat=True)),
    )


@pytest.mark.parametrize(
    "role", ["hr", "compliance", "steward", "manager", "employee", "auditor", "nobody"]
)
def test_one_query_loads_exactly_what_django_would(
    org, role, django_assert_num_queries
):
    user = _fresh(org.users[role])
    user.user_permissions.add(Permission.objects.get(codename="view_jurisdiction"))
    user = _fresh(user)
    with django_assert_num_queries(1):
        user.has_perm("metrics.view_observation")
        roles = services_roles(user)
        user.has_module_perms("metrics")
    direct, grouped, names = _djangos_sets(user)
    assert user.__dict__["_user_perm_cache"] == direct
    assert "governance.view_jurisdiction" in direct
    assert user.__dict__["_group_perm_cache"] == grouped
    assert user.__dict__["_perm_cache"] == direct | grouped
    assert roles == names


def services_roles(user: User) -> frozenset[str]:
    from governance import permissions

    return permissions.role_names(user)


def test_roles_first_load_the_permissions_too(org, django_assert_num_queries):
    user = _fresh(org.users["manager"])
    expected = PermissionsMixin.has_perm(_fresh(user), "metrics.view_observation")
    with django_assert_num_queries(1):
        assert services_roles(user) == frozenset({Role.MANAGER.value})
        assert user.has_perm("metrics.view_observation") == expected


def test_superusers_and_inactive_users_are_left_to_django(org):
    admin = _fresh(org.users["admin"])
    admin.load_access()
    assert "_perm_cache" not in admin.__dict__
    assert admin.has_perm("governance.set_clearance")
    inactive = _fresh(org.users["hr"])
    inactive.is_active = False
    inactive.load_access()
    assert "_perm_cache" not in inactive.__dict__
    assert not inactive.has_perm("metrics.view_observation")
    assert services_roles(inactive) == frozenset()


def test_a_cache_already_filled_is_kept(org):
    user = _fresh(org.users["employee"])
    user.get_user_permissions()  # ModelBackend fills _user_perm_cache itself
    direct = user.__dict__["_user_perm_cache"]
    user.load_access()
    assert user.__dict__["_user_perm_cache"] is direct
    assert user.__dict__["_perm_cache"] == direct | user.__dict__["_group_perm_cache"]
