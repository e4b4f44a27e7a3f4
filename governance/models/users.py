"""Portal user accounts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied
from django.db import models

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

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        memo = self._permission_memo() if obj is None else None
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
            return super().has_module_perms(app_label)
        answers = memo[5]
        answer = answers.get(app_label)
        if answer is None:
            answer = answers[app_label] = (
                self.is_active and self.is_superuser
            ) or _ask_backends(memo[3], "has_module_perms", self, app_label)
        return answer


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
