"""Throttles keyed on the caller, never on the client address.

DRF's stock throttles read their rates once, at import; these read
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` on every request so settings (and
tests) can change them. The 429 answer carries ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from metrics.models import ApiToken


class _DynamicRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class TokenRateThrottle(_DynamicRateThrottle):
    """Per API token: one integration can't starve the others (or the site)."""

    scope = "api_token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = request.auth
        if not isinstance(token, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": token.pk}


class SessionUserThrottle(_DynamicRateThrottle):
    """Per signed-in account (exports are expensive)."""

    scope = "api_user"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken) or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
