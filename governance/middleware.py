"""Request middleware: MFA enrolment for privileged roles."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from governance import permissions

_ALLOWED_PREFIXES = ("/accounts/", "/static/", "/favicon.ico", "/healthz")


class MFARequiredMiddleware:
    """A privileged user without TOTP is sent to set it up before any data page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._must_enrol(request):
            if request.path.startswith("/api/"):
                return HttpResponse(
                    "Multi-factor authentication must be set up first.", status=403
                )
            return redirect(
                f"/accounts/2fa/totp/activate/?next={request.get_full_path()}"
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
        if request.session.get("portal_mfa_enrolled") == user.pk:
            return False
        from allauth.mfa.models import Authenticator

        if Authenticator.objects.filter(
            user=user, type=Authenticator.Type.TOTP
        ).exists():
            request.session["portal_mfa_enrolled"] = user.pk
            return False
        return True
