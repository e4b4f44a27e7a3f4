"""Bearer-token authentication for integrations (one token = one data source)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from metrics import tokens
from metrics.models import ApiToken


class TokenPrincipal:
    """``request.user`` of a token-authenticated request.

    Not an account: it holds no role, no permission and no clearance, so a token
    can never pass a session user's checks (every predicate of
    :mod:`governance.permissions` answers no). What the token may do is decided
    by its data source (``request.auth``) and its issuer's permissions.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None
    clearance = -1
    _portal_roles: frozenset[str] = frozenset()
    _portal_person = None

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.username = f"token:{token.prefix}"

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perms: Any, obj: Any = None) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer pgp_<prefix>_<secret>``.

    No header: not this scheme (other authenticators may try). A Bearer header
    with an unknown, expired or revoked token: 401, with the same message for
    each so the answer tells an attacker nothing.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[TokenPrincipal, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as “Authorization: Bearer <token>”."
            )
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        token = tokens.authenticate(secret)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return TokenPrincipal(token), token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "metrics.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "pgp_<prefix>_<secret>",
            "description": "A data source's API token (issued once, scoped to that source).",
        }
