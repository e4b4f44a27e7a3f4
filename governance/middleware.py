"""Request middleware: MFA enrolment for privileged roles."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from governance import permissions

# Paths a privileged user without TOTP may still reach: allauth (sign-out, MFA
# setup, re-authentication), static files, health checks and the admin's logout.
_ALLOWED_PREFIXES = (
    "/accounts/",
    "/static/",
    "/favicon.ico",
    "/healthz",
    "/admin/logout/",
)
NEXT_SESSION_KEY = "portal_mfa_next"


class MFARequiredMiddleware:
    """A privileged user without TOTP is sent to set it up before any data page.

    Runs after authentication on every request (no per-session cache: if an
    authenticator is removed, the very next request is stopped again). API
    clients get a 403 instead of a redirect.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._must_enrol(request):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"detail": "Multi-factor authentication must be set up first."},
                    status=403,
                )
            target = request.get_full_path()
            if url_has_allowed_host_and_scheme(
                target, allowed_hosts={request.get_host()}
            ):
                request.session[NEXT_SESSION_KEY] = target
            else:
                target = "/"
            return redirect(
                f"{reverse('mfa_activate_totp')}?{urlencode({'next': target})}"
            )
        return self.get_response(request)

    def _must_enrol(self, request: HttpRequest) -> bool:
        if not settings.MFA_REQUIRED_FOR_PRIVILEGED:
            return False
        user = getattr(request, "user", None)
        if (
            user is None
            or not user.is_authenticated
            or request.path.startswith(_ALLOWED_PREFIXES)
        ):
            return False
        if not permissions.is_privileged(user):
            return False
        return not has_totp(user)


def has_totp(user: object) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(
        user=user, type=Authenticator.Type.TOTP
    ).exists()
