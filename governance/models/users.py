"""Portal user accounts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AbstractUser, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connections, models, router

from governance.classification import Sensitivity


class User(AbstractUser):
    """A person who signs in. Roles are groups; ``clearance`` caps plaintext.

    Invariant: a user reads a governed value in plaintext only when their
    clearance is at least the value's classification (or it is their own data).
    Changes of clearance, roles and activation are recorded as audit events by
    :mod:`governance.services`; accounts are deactivated, never deleted.
    """

    clearance = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices,
        default=Sensitivity.INTERNAL,
        help_text="Highest classification this user may read in plaintext.",
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        permissions = [("set_clearance", "Can change a user's clearance and roles")]

    def __str__(self) -> str:
        # Named as whoever is looking may see it (governance.labels): an
        # auditor sees the pseudonym of the person behind the account.
        from governance import labels

        return labels.account(self)

    # -- model permissions, remembered for the instance's lifetime ---------------
    #
    # An admin page asks ``has_perm(...)`` some 150 times (the navigation
    # sidebar checks add/change/delete/view of every registered model), each
    # a walk through freshly imported and instantiated authentication
    # backends. Django's ModelBackend already loads the user's permissions
    # once per instance (``_perm_cache``); the answers below are remembered
    # alongside that set and dropped with it: when it is reloaded or removed
    # (``services.set_access`` removes it), when ``is_active`` or
    # ``is_superuser`` change, or when the backends setting changes. Every
    # backend is still asked, in order, as Django's ``_user_has_perm`` does.
    # Object permissions (``obj`` given) are never remembered.

    def _permission_memo(self) -> Any:
        data = self.__dict__
        loaded = data.get("_perm_cache")
        if loaded is None:  # not loaded yet (or an inactive user's): ask
            return None
        held = data.get("_portal_perm_memo")
        if (
            held is not None
            and held[0] is loaded
            and held[1] is settings.AUTHENTICATION_BACKENDS
            and held[2] == (self.is_active, self.is_superuser)
        ):
            return held
        held = data["_portal_perm_memo"] = (
            loaded,
            settings.AUTHENTICATION_BACKENDS,
            (self.is_active, self.is_superuser),
            auth.get_backends(),
            {},  # perm -> answer
            {},  # app label -> answer
        )
        return held

    def load_access(self) -> None:
        """Load the roles and model permissions in one query, into the caches
        ModelBackend and :func:`governance.permissions.role_names` read.

        Django's ModelBackend takes two queries (direct and group permissions)
        and the roles a third; every admin page needs all three. The same
        rows come back here in one statement (``_access_sql``), and go where
        those would have put them; a cache already filled is left alone, so
        the sets are exactly the ones ModelBackend would build. Only for an
        active, saved, non-superuser account while a ModelBackend is
        configured (ModelBackend loads every permission for a superuser,
        and Django answers a superuser's checks before asking it).
        """
        from django.contrib.auth.backends import ModelBackend

        data = self.__dict__
        if (
            "_perm_cache" in data
            or self.pk is None
            or not self.is_active
            or self.is_superuser
            or not any(isinstance(b, ModelBackend) for b in auth.get_backends())
        ):
            return
        with connections[router.db_for_read(Permission)].cursor() as cursor:
            cursor.execute(_access_sql(cursor.db), [self.pk] * 3)
            rows = cursor.fetchall()
        found: tuple[set[str], set[str], set[str]] = (set(), set(), set())
        for kind, first, second in rows:
            found[kind].add(f"{first}.{second}" if kind < 2 else first)
        user_perms = data.setdefault("_user_perm_cache", found[0])
        group_perms = data.setdefault("_group_perm_cache", found[1])
        data["_perm_cache"] = {*user_perms, *group_perms}
        data.setdefault("_portal_roles", frozenset(found[2]))

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        if obj is not None:
            return super().has_perm(perm, obj)
        memo = self._permission_memo()
        if memo is None:
            self.load_access()
            memo = self._permission_memo()
        if memo is None:
            return super().has_perm(perm, obj)
        answers = memo[4]
        answer = answers.get(perm)
        if answer is None:
            answer = answers[perm] = (
                self.is_active and self.is_superuser
            ) or _ask_backends(memo[3], "has_perm", self, perm, None)
        return answer

    def has_module_perms(self, app_label: str) -> bool:
        memo = self._permission_memo()
        if memo is None:
            self.load_access()
            memo = self._permission_memo()
        if memo is None:
            return super().has_module_perms(app_label)
        answers = memo[5]
        answer = answers.get(app_label)
        if answer is None:
            answer = answers[app_label] = (
                self.is_active and self.is_superuser
            ) or _ask_backends(memo[3], "has_module_perms", self, app_label)
        return answer


_ACCESS_SQL: dict[str, str] = {}


def _access_sql(connection: Any) -> str:
    """Direct permissions (0), group permissions (1) and group names (2) of
    the user given three times as a parameter (built once per database kind)."""
    sql = _ACCESS_SQL.get(connection.vendor)
    if sql is None:
        sql = _ACCESS_SQL[connection.vendor] = _build_access_sql(connection)
    return sql


def _build_access_sql(connection: Any) -> str:
    from django.contrib.auth.models import Group

    q = connection.ops.quote_name
    user_perms = User._meta.get_field("user_permissions")
    groups = User._meta.get_field("groups")
    group_perms = Group._meta.get_field("permissions")
    perm = q(Permission._meta.db_table)
    ct = q(ContentType._meta.db_table)
    named = f"FROM {perm} p JOIN {ct} ct ON ct.{q('id')} = p.{q('content_type_id')}"
    # Table and column names come from model metadata; the user id is a parameter.
    return (
        f"SELECT 0, ct.{q('app_label')}, p.{q('codename')} {named} "  # noqa: S608
        f"JOIN {q(user_perms.m2m_db_table())} up "
        f"ON up.{q(user_perms.m2m_reverse_name())} = p.{q('id')} "
        f"WHERE up.{q(user_perms.m2m_column_name())} = %s "
        f"UNION ALL SELECT 1, ct.{q('app_label')}, p.{q('codename')} {named} "
        f"JOIN {q(group_perms.m2m_db_table())} gp "
        f"ON gp.{q(group_perms.m2m_reverse_name())} = p.{q('id')} "
        f"JOIN {q(groups.m2m_db_table())} ug "
        f"ON ug.{q(groups.m2m_reverse_name())} = gp.{q(group_perms.m2m_column_name())} "
        f"WHERE ug.{q(groups.m2m_column_name())} = %s "
        f"UNION ALL SELECT 2, g.{q('name')}, '' FROM {q(Group._meta.db_table)} g "
        f"JOIN {q(groups.m2m_db_table())} ug "
        f"ON ug.{q(groups.m2m_reverse_name())} = g.{q('id')} "
        f"WHERE ug.{q(groups.m2m_column_name())} = %s"
    )


def _ask_backends(backends: list[Any], method: str, *args: Any) -> bool:
    """Django's ``_user_has_perm`` / ``_user_has_module_perms``: True if any
    backend says so; a backend raising PermissionDenied ends it with False."""
    for backend in backends:
        if not hasattr(backend, method):
            continue
        try:
            if getattr(backend, method)(*args):
                return True
        except PermissionDenied:
            return False
    return False
