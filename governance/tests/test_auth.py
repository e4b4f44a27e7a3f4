"""Authentication (G.AUTH): admin login through allauth, throttling, MFA for
privileged roles, encrypted TOTP secrets, idle timeout, deactivation, SSO.

Every test drives the real pages with Django's test client: the allauth views,
the admin and the self-service area, with the portal's middleware in place.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    SECRET_SESSION_KEY,
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from governance import services
from governance.testing import PASSWORD

pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)
LOGIN = "/accounts/login/"
ACTIVATE = "/accounts/2fa/totp/activate/"
PRIVILEGED = ["hr", "compliance", "steward", "board", "auditor", "admin"]
NOT_PRIVILEGED = ["metric_owner", "manager", "employee", "nobody"]
STAFF = ["hr", "compliance", "steward", "metric_owner", "board", "manager", "auditor"]
NOT_STAFF = ["employee", "nobody"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the cache: every test starts from zero."""
    cache.clear()
    yield
    cache.clear()


def sign_in(client: Client, username: str, password: str = PASSWORD, next_url=None):
    data = {"login": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(LOGIN, data)


def current_code(secret: str) -> str:
    """The TOTP code an authenticator app would show now (allauth's own maths)."""
    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


def person_urls(org) -> dict[str, str]:
    pk = org.people["member_a"].pk
    return {
        "admin index": reverse("admin:index"),
        "person changelist": reverse("admin:governance_person_changelist"),
        "person change": reverse("admin:governance_person_change", args=[pk]),
        "self-service": reverse("selfservice:home"),
    }


# --- 1. /admin/login/ is allauth's --------------------------------------------


def test_admin_login_get_redirects_to_allauth_with_next(client):
    response = client.get("/admin/login/?next=/admin/governance/person/")
    assert response.status_code == 302
    parts = urlsplit(response["Location"])
    assert parts.path == LOGIN
    assert parse_qs(parts.query)["next"] == ["/admin/governance/person/"]

    # The admin index sends anonymous users the same way, keeping where they were.
    response = client.get("/admin/", follow=True)
    final, _status = response.redirect_chain[-1]
    assert urlsplit(final).path == LOGIN
    assert parse_qs(urlsplit(final).query)["next"] == ["/admin/"]
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_admin_login_post_is_not_django_admins_form(client, org):
    """Django's own admin login form would log in on POST; it is never reached."""
    response = client.post(
        "/admin/login/", {"username": "hr", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == LOGIN
    assert "_auth_user_id" not in client.session


def test_signing_in_on_allauth_lands_in_the_admin(client, org):
    response = sign_in(client, "hr", next_url="/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200
    assert b"Governance workspace" in page.content
    assert page.context["user"].username == "hr"


@pytest.mark.parametrize("username", STAFF)
def test_staff_roles_reach_the_admin(client, org, username):
    sign_in(client, username)
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("username", NOT_STAFF)
def test_non_staff_get_no_admin(client, org, username):
    response = sign_in(client, username, next_url="/admin/")
    assert response.status_code == 302  # signed in...
    assert client.get("/me/").status_code == 200
    admin = client.get("/admin/", follow=True)  # ...but the admin refuses them
    assert admin.status_code == 403
    assert client.get("/admin/login/").status_code == 403
    changelist = client.get(reverse("admin:governance_person_changelist"), follow=True)
    assert changelist.status_code == 403


def test_wrong_password_and_inactive_account_do_not_sign_in(client, org):
    response = sign_in(client, "hr", password="not-the-password")
    assert response.status_code == 200
    assert b"not correct" in response.content
    assert "_auth_user_id" not in client.session

    services.user_deactivate(user=org.user("manager"), actor=None, reason="left")
    response = sign_in(client, "manager")
    assert "_auth_user_id" not in client.session
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert response["Location"] == reverse("account_inactive")


# --- 2. Throttling ------------------------------------------------------------


def _per_key_limit() -> int:
    rates = settings.ACCOUNT_RATE_LIMITS["login_failed"].split(",")
    (per_key,) = [r for r in rates if r.endswith("/key")]
    return int(per_key.split("/")[0])


def _per_ip_limit(action: str) -> int:
    rates = settings.ACCOUNT_RATE_LIMITS[action].split(",")
    (per_ip,) = [r for r in rates if r.endswith("/ip")]
    return int(per_ip.split("/")[0])


THROTTLED = b"Too many failed login attempts"


def test_wrong_passwords_are_throttled_per_account(client, org):
    limit = _per_key_limit()
    assert limit == 5  # the configured default (LOGIN_FAILED_RATE_LIMIT)
    for attempt in range(limit):
        response = sign_in(client, "hr", password=f"wrong-{attempt}")
        assert response.status_code == 200
        assert THROTTLED not in response.content, attempt
        assert b"not correct" in response.content
    response = sign_in(client, "hr", password="wrong-again")
    assert THROTTLED in response.content
    # While throttled, even the correct password is refused...
    response = sign_in(client, "hr")
    assert response.status_code == 200
    assert THROTTLED in response.content
    assert "_auth_user_id" not in client.session
    # ...from another address too (the limit is on the account)...
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert THROTTLED in sign_in(other, "hr").content
    # ...while other accounts still sign in normally.
    assert sign_in(Client(), "auditor").status_code == 302


def test_failed_logins_are_throttled_per_address(client, org):
    limit = _per_ip_limit("login_failed")
    users = [f"ghost{n}" for n in range(limit)]
    for username in users:  # one failure per account: below the per-account limit
        response = sign_in(client, username, password="wrong")
        assert THROTTLED not in response.content
    response = sign_in(client, "compliance")
    assert THROTTLED in response.content
    assert "_auth_user_id" not in client.session
    assert sign_in(Client(REMOTE_ADDR="10.1.2.3"), "compliance").status_code == 302


def test_login_posts_beyond_the_rate_answer_429(client, org):
    limit = _per_ip_limit("login")
    statuses = [sign_in(client, f"nobody{n}", "x").status_code for n in range(limit)]
    assert 429 not in statuses
    response = sign_in(client, "hr")
    assert response.status_code == 429
    assert b"Too many requests" in response.content
    assert "_auth_user_id" not in client.session


@override_settings(ALLAUTH_TRUSTED_PROXY_COUNT=1)
def test_throttling_behind_the_proxy_keys_on_the_client_address(org):
    """With NUM_PROXIES set, X-Forwarded-For's last hop is the client address."""
    limit = _per_ip_limit("login_failed")
    attacker = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    for n in range(limit):
        sign_in(attacker, f"ghost{n}", password="wrong")
    assert THROTTLED in sign_in(attacker, "hr").content
    colleague = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.4")
    assert sign_in(colleague, "hr").status_code == 302


# --- 3. MFA required for privileged roles ------------------------------------


@override_settings(MFA_REQUIRED_FOR_PRIVILEGED=True)
@pytest.mark.parametrize("username", PRIVILEGED)
def test_privileged_without_totp_are_sent_to_mfa_setup(client, org, username):
    assert sign_in(client, username).status_code == 302
    for name, url in person_urls(org).items():
        response = client.get(url)
        assert response.status_code == 302, name
        parts = urlsplit(response["Location"])
        assert parts.path == ACTIVATE, name
        assert parse_qs(parts.query)["next"] == [url], name
    # Adding a second factor asks for the password again (a stolen session
    # cookie alone cannot enrol an attacker's authenticator).
    page = open_activation(client, ACTIVATE + "?next=/admin/")
    assert b"two-factor authentication is required" in page.content
    assert client.get("/api/people/").status_code == 403


@override_settings(MFA_REQUIRED_FOR_PRIVILEGED=True)
@pytest.mark.parametrize("username", NOT_PRIVILEGED)
def test_non_privileged_are_not_forced(client, org, username):
    sign_in(client, username)
    for name, url in person_urls(org).items():
        response = client.get(url)
        if response.status_code == 302:
            assert urlsplit(response["Location"]).path != ACTIVATE, name
    assert client.get("/me/").status_code == 200


@override_settings(MFA_REQUIRED_FOR_PRIVILEGED=False)
def test_switch_off_lets_privileged_through(client, org):
    sign_in(client, "hr")
    assert client.get("/admin/").status_code == 200


def open_activation(client: Client, url: str = ACTIVATE, *, reauth: bool = True):
    response = client.get(url)
    if not reauth:
        assert response.status_code == 200
        return response
    assert response.status_code == 302
    parts = urlsplit(response["Location"])
    assert parts.path == reverse("account_reauthenticate")
    assert parse_qs(parts.query)["next"] == [url]
    confirm = client.post(response["Location"], {"password": PASSWORD})
    assert confirm.status_code == 302
    assert confirm["Location"] == url
    page = client.get(url)
    assert page.status_code == 200
    return page


def activate_totp(client: Client, *, reauth: bool = True) -> str:
    page = open_activation(client, reauth=reauth)
    shown = re.search(rb'id="totp-secret"[^>]*>([A-Z2-7]+)<', page.content)
    assert shown, "the activation page shows the secret"
    secret = shown.group(1).decode()
    assert client.session[SECRET_SESSION_KEY] == secret
    response = client.post(ACTIVATE, {"code": current_code(secret)})
    assert response.status_code == 302, response.content[:2000]
    assert response["Location"] == reverse("mfa_view_recovery_codes")
    return secret


@override_settings(MFA_REQUIRED_FOR_PRIVILEGED=True)
def test_privileged_user_gets_through_after_activating_totp(client, org):
    sign_in(client, "hr")
    assert client.get("/admin/governance/person/").status_code == 302
    open_activation(client)
    wrong = client.post(ACTIVATE, {"code": "000000"})
    assert wrong.status_code == 200
    assert b"Incorrect code" in wrong.content
    assert not Authenticator.objects.filter(user=org.user("hr")).exists()

    secret = activate_totp(client, reauth=False)
    assert SECRET_SESSION_KEY not in client.session  # cleared once stored
    kinds = set(
        Authenticator.objects.filter(user=org.user("hr")).values_list("type", flat=True)
    )
    assert kinds == {Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES}

    codes_page = client.get(reverse("mfa_view_recovery_codes"))
    codes = re.findall(rb"<li><code>([0-9a-z]+)</code></li>", codes_page.content)
    assert len(codes) == 10
    # "Continue" goes back to where the redirect interrupted.
    assert b'id="mfa-continue" href="/admin/governance/person/"' in codes_page.content

    for name, url in person_urls(org).items():
        assert client.get(url).status_code == 200, name

    # Next sign-in asks for the second factor; a recovery code works once.
    client.post(reverse("account_logout"))
    response = sign_in(client, "hr", next_url="/admin/")
    assert response["Location"] == reverse("mfa_authenticate")
    assert client.get("/admin/").status_code == 302  # not signed in yet
    response = client.post(reverse("mfa_authenticate"), {"code": codes[0].decode()})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200

    client.post(reverse("account_logout"))
    sign_in(client, "hr")
    reused = client.post(reverse("mfa_authenticate"), {"code": codes[0].decode()})
    assert reused.status_code == 200  # a used recovery code is refused
    # The current TOTP code (from the stored, sealed secret) signs in.
    stored = Authenticator.objects.get(
        user=org.user("hr"), type=Authenticator.Type.TOTP
    )
    assert get_mfa_adapter().decrypt(stored.data["secret"]) == secret
    response = client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@override_settings(MFA_REQUIRED_FOR_PRIVILEGED=True)
@pytest.mark.parametrize(
    ("username", "may_delete"),
    [("hr", False), ("auditor", False), ("admin", False), ("manager", True)],
)
def test_last_totp_deletion_matrix(client, org, username, may_delete):
    sign_in(client, username)
    activate_totp(client)
    deactivate = reverse("mfa_deactivate_totp")
    page = client.get(deactivate)
    assert page.status_code == 200
    response = client.post(deactivate)
    remaining = Authenticator.objects.filter(
        user=org.user(username), type=Authenticator.Type.TOTP
    ).exists()
    if may_delete:
        assert response.status_code == 302
        assert not remaining
    else:
        assert response.status_code == 200
        assert b"cannot be removed" in response.content
        assert remaining
        assert client.get("/admin/").status_code == 200


# --- 4. TOTP secrets are encrypted at rest ------------------------------------


def test_raw_sql_finds_no_totp_secret(client, org):
    sign_in(client, "hr")
    secret = activate_totp(client)
    user_id = org.user("hr").pk
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT type, data FROM mfa_authenticator WHERE user_id = %s", [user_id]
        )
        rows = cursor.fetchall()
    assert {row[0] for row in rows} == {"totp", "recovery_codes"}
    adapter = get_mfa_adapter()
    for kind, raw in rows:
        text = raw if isinstance(raw, str) else json.dumps(raw)
        assert secret not in text
        assert secret.lower() not in text.lower()
        assert not re.search(r"[A-Z2-7]{32}", text), text  # no base32 secret at all
        data = json.loads(text)
        sealed = data["secret"] if kind == "totp" else data["seed"]
        plain = adapter.decrypt(sealed)  # and the adapter can still open it
        assert plain not in text
        if kind == "totp":
            assert plain == secret
    # The activation secret kept in the session is gone once activation succeeded.
    for session in Session.objects.all():
        assert secret not in str(session.get_decoded())


# --- 5. Idle timeout ------------------------------------------------------------


def test_session_expires_after_inactivity(client, org):
    sign_in(client, "employee")
    assert client.get("/me/").status_code == 200
    key = client.session.session_key
    session = Session.objects.get(pk=key)
    idle = datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert settings.SESSION_SAVE_EVERY_REQUEST
    assert abs(session.expire_date - (timezone.now() + idle)) < datetime.timedelta(
        seconds=30
    )

    # Activity pushes the expiry forward: a session about to lapse is renewed.
    Session.objects.filter(pk=key).update(
        expire_date=timezone.now() + datetime.timedelta(seconds=60)
    )
    assert client.get("/me/").status_code == 200
    renewed = Session.objects.get(pk=key).expire_date
    assert renewed - timezone.now() > idle - datetime.timedelta(seconds=30)

    # No activity for the idle period: the session is dead.
    Session.objects.filter(pk=key).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )
    response = client.get("/me/")
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == LOGIN
    assert client.get("/admin/").status_code == 302


def test_no_remember_me_the_cookie_dies_with_the_browser(client, org):
    response = sign_in(client, "hr")
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert not cookie["max-age"] and not cookie["expires"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


# --- 6. Deactivation ends sessions at once -------------------------------------


def test_user_deactivate_ends_the_session(client, org):
    sign_in(client, "hr")
    assert client.get("/admin/").status_code == 200
    services.user_deactivate(
        user=org.user("hr"), actor=org.user("admin"), reason="left"
    )
    response = client.get("/admin/")
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path in ("/admin/login/", LOGIN)
    response = client.get("/me/")
    assert urlsplit(response["Location"]).path == LOGIN
    fresh = Client()
    sign_in(fresh, "hr")  # and the account cannot sign in again
    assert "_auth_user_id" not in fresh.session


def test_person_deactivate_ends_the_linked_session(client, org):
    sign_in(client, "employee")
    assert client.get("/me/").status_code == 200
    other = Client()
    sign_in(other, "manager")
    services.person_deactivate(
        person=org.people["member_a"], actor=org.user("hr"), reason="left"
    )
    response = client.get("/me/")
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == LOGIN
    assert other.get("/me/").status_code == 200  # nobody else is affected


# --- 7. OIDC single sign-on from the environment ------------------------------

OIDC_ENV = {
    "OIDC_CLIENT_ID": "portal-test",
    "OIDC_CLIENT_SECRET": "s3cret",
    "OIDC_SERVER_URL": "https://sso.example.test/realms/corp",
    "OIDC_PROVIDER_ID": "corp-sso",
    "OIDC_PROVIDER_NAME": "Corp Login",
}


def _clean_env(**extra: str) -> dict[str, str]:
    """The subprocess sees only what we give it (not pytest's test settings)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO", "PORTAL", "OIDC", "MFA", "SECURE", "DATABASE"))
        and k not in {"REDIS_URL", "NUM_PROXIES", "BEHIND_TLS_PROXY"}
    }
    env.update(extra)
    return env


def settings_from_env(module: str, **extra: str) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        "print(json.dumps({'providers': settings.SOCIALACCOUNT_PROVIDERS,"
        " 'csp': settings.CONTENT_SECURITY_POLICY}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=_clean_env(DJANGO_SETTINGS_MODULE=module, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def oidc_settings():
    return settings_from_env(
        "portal.settings_test",
        PORTAL_ENV_FILE="/nonexistent",
        DJANGO_SECRET_KEY="x" * 60,
        PORTAL_MASTER_KEYS=os.environ["PORTAL_MASTER_KEYS"],
        **OIDC_ENV,
    )


def test_oidc_provider_is_built_from_the_environment(oidc_settings):
    (app,) = oidc_settings["providers"]["openid_connect"]["APPS"]
    assert app["provider_id"] == "corp-sso"
    assert app["name"] == "Corp Login"
    assert app["client_id"] == "portal-test"
    assert app["secret"] == "s3cret"
    assert app["settings"]["server_url"] == OIDC_ENV["OIDC_SERVER_URL"]
    assert oidc_settings["providers"]["openid_connect"]["OAUTH_PKCE_ENABLED"]
    # The browser may follow the SSO form's redirect to the identity provider.
    assert (
        "https://sso.example.test"
        in (oidc_settings["csp"]["DIRECTIVES"]["form-action"])
    )


def test_without_oidc_env_there_is_no_provider():
    plain = settings_from_env(
        "portal.settings_test",
        PORTAL_ENV_FILE="/nonexistent",
        DJANGO_SECRET_KEY="x" * 60,
        PORTAL_MASTER_KEYS=os.environ["PORTAL_MASTER_KEYS"],
    )
    assert plain["providers"] == {}
    assert plain["csp"]["DIRECTIVES"]["form-action"] == ["'self'"]


def test_login_page_offers_the_configured_sso(client, oidc_settings):
    assert b"Corp Login" not in client.get(LOGIN).content
    with override_settings(SOCIALACCOUNT_PROVIDERS=oidc_settings["providers"]):
        page = client.get(LOGIN)
        assert page.status_code == 200
        link = re.search(
            rb'class="[^"]*btn-provider[^"]*"[^>]* href="([^"]+)"', page.content
        )
        assert link, page.content.decode()[:3000]
        assert b"Sign in with Corp Login" in page.content
        href = link.group(1).decode().replace("&amp;", "&")
        assert urlsplit(href).path == "/accounts/oidc/corp-sso/login/"
        # The provider's own login page answers (it posts on to the IdP).
        confirm = client.get(href)
        assert confirm.status_code == 200
        assert b"Corp Login" in confirm.content


class _FakeAddress:
    def __init__(self, email: str, verified: bool) -> None:
        self.email, self.verified = email, verified


class _FakeSocialLogin:
    is_existing = False

    def __init__(self, email: str, verified: bool = True) -> None:
        from governance.models import User

        self.user = User(email=email)
        self.email_addresses = [_FakeAddress(email, verified)]
        self.connected_to = None

    def connect(self, request, user) -> None:
        self.connected_to = user


@pytest.mark.parametrize(
    ("email", "verified", "expected"),
    [
        ("HR@example.com", True, "hr"),  # known account, any case
        ("hr@example.com", False, None),  # IdP does not vouch for the address
        ("stranger@example.com", True, None),  # no account: no sign-up
        ("manager@example.com", True, None),  # deactivated account
    ],
)
def test_sso_signs_in_existing_active_accounts_only(rf, org, email, verified, expected):
    from allauth.core.exceptions import ImmediateHttpResponse
    from django.contrib.messages.storage.fallback import FallbackStorage

    from governance.auth.adapters import SocialAccountAdapter

    services.user_deactivate(user=org.user("manager"), actor=None, reason="left")
    request = rf.get("/accounts/oidc/corp-sso/login/callback/")
    request.session = {}
    request._messages = FallbackStorage(request)
    login = _FakeSocialLogin(email, verified)
    adapter = SocialAccountAdapter(request)
    assert adapter.is_open_for_signup(request, login) is False
    if expected:
        adapter.pre_social_login(request, login)
        assert login.connected_to == org.user(expected)
    else:
        with pytest.raises(ImmediateHttpResponse) as refused:
            adapter.pre_social_login(request, login)
        assert refused.value.response["Location"] == LOGIN
        assert login.connected_to is None


def test_no_self_signup(client):
    response = client.get(reverse("account_signup"))
    assert response.status_code == 200
    assert b"No self sign-up" in response.content
    assert b'name="password1"' not in response.content
