"""Who may call which endpoint: integrations (tokens) or staff (sessions)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from metrics.models import ApiToken


class IsApiToken(BasePermission):
    message = "This endpoint takes an API token (Authorization: Bearer …)."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiToken)


class IsStaffSession(BasePermission):
    """A signed-in, active staff account (not a token). Rows are then scoped
    with ``visible_to`` and values masked by clearance in the view."""

    message = "Sign in with a staff account to use this endpoint."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            not isinstance(request.auth, ApiToken)
            and user
            and user.is_authenticated
            and user.is_active
            and user.is_staff
        )


class IsApiTokenOrStaffSession(BasePermission):
    message = "Use an API token or sign in with a staff account."

    def has_permission(self, request: Request, view: Any) -> bool:
        return IsApiToken().has_permission(
            request, view
        ) or IsStaffSession().has_permission(request, view)
