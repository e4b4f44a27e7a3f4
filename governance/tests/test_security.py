"""Production hardening: ``check --deploy``, security headers, secure cookies,
and CSP-clean pages (no inline script or style anywhere we render).

The production tests run the real settings module in a subprocess with
``PORTAL_ENV_FILE=.env.production.example`` so they see exactly what a
deployment would (only the database is swapped for an in-memory SQLite).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from governance.testing import PASSWORD

BASE_DIR = Path(settings.BASE_DIR)
PRODUCTION_ENV = ".env.production.example"


def production_env(**extra: str) -> dict[str, str]:
    """A clean environment: nothing from the test settings leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DJANGO", "PORTAL", "OIDC", "MFA", "SECURE", "DATABASE", "SESSION")
        )
        and k not in {"REDIS_URL", "NUM_PROXIES", "BEHIND_TLS_PROXY", "Q_SYNC"}
    }
    env["PORTAL_ENV_FILE"] = PRODUCTION_ENV
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    env.update(extra)
    return env


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        args,
        cwd=BASE_DIR,
        env=production_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# --- check --deploy -------------------------------------------------------------


def test_deploy_check_passes_with_the_production_example():
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_would_catch_a_weakened_setting():
    """The check is real: turning HSTS off makes it fail."""
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        SECURE_HSTS_SECONDS="0",
    )
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


_EMAIL_PROBE = (
    "from django.conf import settings as s; "
    "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS)"
)


def test_production_mail_goes_through_the_configured_smtp_server():
    result = run([sys.executable, "manage.py", "shell", "-v", "0", "-c", _EMAIL_PROBE])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "587",
        "True",
    ]


def test_development_without_email_url_prints_mail_to_the_console():
    result = run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", _EMAIL_PROBE],
        PORTAL_ENV_FILE="/nonexistent.env",
        DJANGO_DEBUG="true",
        DJANGO_SECRET_KEY="dev-only-" + "x" * 50,
        PORTAL_MASTER_KEYS=base64.urlsafe_b64encode(os.urandom(32)).decode(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "django.core.mail.backends.console.EmailBackend"


# --- Headers and cookies in production --------------------------------------

_PROBE = r"""
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
from governance.models import User

User.objects.create_user(username="probe", email="probe@example.com", password=%(pw)r)
out = {}
host = {"HTTP_HOST": "portal.example.com", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
plain = Client(**host)
r = plain.get("/accounts/login/")
out["plain_http"] = [r.status_code, r.get("Location")]
tls = Client(**host, HTTP_X_FORWARDED_PROTO="https")
r = tls.get("/accounts/login/")
out["login_status"] = r.status_code
out["headers"] = dict(r.headers.items())
out["cookies"] = {k: dict(v.items()) for k, v in r.cookies.items()}
r = tls.post("/accounts/login/", {"login": "probe", "password": %(pw)r})
out["signin"] = [r.status_code, r.get("Location")]
out["signin_cookies"] = {k: dict(v.items()) for k, v in r.cookies.items()}
r = tls.get("/healthz")
out["healthz_headers"] = dict(r.headers.items())
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def production_probe():
    result = run(
        [sys.executable, "-c", _PROBE % {"pw": PASSWORD}],
        DATABASE_URL="sqlite://:memory:",
        REDIS_URL="",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_redirects_plain_http_to_https(production_probe):
    status, location = production_probe["plain_http"]
    assert status == 301
    assert location == "https://portal.example.com/accounts/login/"


def test_production_security_headers(production_probe):
    assert production_probe["login_status"] == 200
    for headers in (production_probe["headers"], production_probe["healthz_headers"]):
        assert headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains; preload"
        )
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        policy = parse_csp(headers["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["default-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["form-action"] == ["'self'", "https://sso.example.com"]


def test_production_cookies_are_secure(production_probe):
    csrf = production_probe["cookies"]["csrftoken"]
    assert csrf["secure"] is True
    assert csrf["samesite"] == "Lax"
    status, location = production_probe["signin"]
    assert (status, location) == (302, "/me/"), production_probe
    session = production_probe["signin_cookies"]["sessionid"]
    assert session["secure"] is True
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert not session["max-age"]  # dies with the browser; idle timeout server-side


# --- CSP on every page in the test settings ---------------------------------


def parse_csp(header: str) -> dict[str, list[str]]:
    policy: dict[str, list[str]] = {}
    for directive in header.split(";"):
        parts = directive.split()
        if parts:
            policy[parts[0]] = parts[1:]
    return policy


class InlineFinder(HTMLParser):
    """Collects everything a strict CSP (no 'unsafe-inline') would block."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.tags = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags += 1
        attributes = dict(attrs)
        if tag == "style":
            self.problems.append("<style> element")
        if "style" in attributes:
            self.problems.append(f"style attribute on <{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{name}= handler on <{tag}>")
            if name in ("href", "src", "action") and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL on <{tag}>")
        if tag == "script":
            kind = (attributes.get("type") or "text/javascript").lower()
            executable = kind in ("text/javascript", "module", "application/javascript")
            self._in_script = executable and not attributes.get("src")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append(f"inline script: {data.strip()[:60]}")


def inline_problems(html: bytes) -> tuple[list[str], int]:
    finder = InlineFinder()
    finder.feed(html.decode())
    return finder.problems, finder.tags


def test_inline_finder_catches_what_csp_blocks():
    problems, _ = inline_problems(
        b'<p style="color:red" onclick="x()">a</p><style>p{}</style>'
        b"<script>alert(1)</script><script src='/s.js'></script>"
        b'<script type="application/json">{}</script><a href="javascript:x()">b</a>'
    )
    assert len(problems) == 5, problems


@pytest.fixture
def signed_in(client, org):
    cache.clear()
    client.post("/accounts/login/", {"login": "hr", "password": PASSWORD})
    return client


def _get(client: Client, url: str):
    response = client.get(url, follow=True)
    assert response.status_code in (200, 429, 403), (url, response.status_code)
    return response


ANONYMOUS_PAGES = [
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/accounts/inactive/",
]
SIGNED_IN_PAGES = [
    "/accounts/logout/",
    "/accounts/2fa/",
    "/accounts/reauthenticate/",
    "/accounts/2fa/totp/activate/",
    "/me/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ANONYMOUS_PAGES)
def test_anonymous_auth_pages_are_csp_clean_and_framed(client, url):
    response = _get(client, url)
    policy = parse_csp(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    problems, tags = inline_problems(response.content)
    assert tags > 10
    assert problems == [], (url, problems)
    assert b'class="topbar"' in response.content  # the portal's own frame
    assert b"auth-card" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("url", SIGNED_IN_PAGES)
def test_signed_in_pages_are_csp_clean(signed_in, url):
    response = _get(signed_in, url)
    assert "Content-Security-Policy" in response
    problems, tags = inline_problems(response.content)
    assert tags > 10
    assert problems == [], (url, problems)


@pytest.mark.django_db
def test_mfa_pages_after_activation_are_csp_clean(signed_in, org):
    from allauth.mfa.totp.internal.auth import (
        SECRET_SESSION_KEY,
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    signed_in.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    page = signed_in.get(reverse("mfa_activate_totp"))
    assert inline_problems(page.content)[0] == []
    assert b"data:image/svg+xml;base64," in page.content  # QR: img-src data:
    secret = signed_in.session[SECRET_SESSION_KEY]
    counters = list(yield_hotp_counters_from_time())
    counter = counters[len(counters) // 2]
    response = signed_in.post(
        reverse("mfa_activate_totp"),
        {"code": format_hotp_value(hotp_value(secret, counter))},
    )
    assert response.status_code == 302
    for name in [
        "mfa_view_recovery_codes",
        "mfa_generate_recovery_codes",
        "mfa_index",
        "mfa_deactivate_totp",
    ]:
        response = _get(signed_in, reverse(name))
        problems, tags = inline_problems(response.content)
        assert tags > 10 and problems == [], (name, problems)
    signed_in.post(reverse("account_logout"))
    signed_in.post("/accounts/login/", {"login": "hr", "password": PASSWORD})
    stage = _get(signed_in, reverse("mfa_authenticate"))
    assert b"Two-factor sign-in" in stage.content
    assert inline_problems(stage.content)[0] == []


@pytest.mark.django_db
def test_rate_limit_page_is_csp_clean(client):
    cache.clear()
    rate = settings.ACCOUNT_RATE_LIMITS["login"].split("/")[0]
    for _ in range(int(rate) + 1):
        response = client.post("/accounts/login/", {"login": "x", "password": "y"})
    cache.clear()
    assert response.status_code == 429
    assert inline_problems(response.content)[0] == []
    assert "Content-Security-Policy" in response


@pytest.mark.django_db
def test_csp_header_on_admin_and_error_pages(signed_in, org):
    for url in ["/admin/", "/admin/governance/person/", "/does-not-exist/"]:
        response = signed_in.get(url)
        assert "Content-Security-Policy" in response, url
        assert response["X-Frame-Options"] == "DENY"
