"""API tokens: shown once, stored as a hash, scoped to one source, audited."""

from __future__ import annotations

import datetime
import hashlib
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.models import AuditEvent
from governance.services import save_governed
from metrics import tokens
from metrics.models import ApiToken, DataSource
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat(org):
    return build_catalogue(org)


def test_secret_is_returned_once_and_only_its_hash_is_stored(org, cat):
    issued = tokens.issue_token(
        actor=org.users["hr"], source=cat.jira, name="Jira sync", days=30
    )
    assert re.fullmatch(r"pgp_[a-z2-9]{8}_[A-Za-z0-9_-]{43}", issued.secret)
    token = ApiToken.objects.get(pk=issued.token.pk)
    assert token.prefix == issued.secret[4:12]
    assert token.secret_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert token.source == cat.jira and token.created_by_id == org.users["hr"].pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM metrics_apitoken")
        stored = " ".join(str(v) for row in cursor.fetchall() for v in row)
    assert issued.secret not in stored and issued.secret[13:] not in stored
    assert not hasattr(token, "secret")


def test_two_tokens_never_share_a_secret(org, cat):
    a = tokens.issue_token(actor=None, source=cat.jira, name="a", days=1)
    b = tokens.issue_token(actor=None, source=cat.jira, name="b", days=1)
    assert a.secret != b.secret and a.token.secret_hash != b.token.secret_hash


def test_issue_and_revoke_are_audited_without_the_secret(org, cat):
    hr = org.users["hr"]
    issued = tokens.issue_token(actor=hr, source=cat.jira, name="Jira", days=7)
    tokens.revoke_token(actor=hr, token=issued.token, reason="integration retired")
    issued_event = AuditEvent.objects.get(action="api_token.issued")
    revoked_event = AuditEvent.objects.get(action="api_token.revoked")
    for event in (issued_event, revoked_event):
        assert event.actor_id == hr.pk
        assert event.object_id == str(issued.token.pk)
        assert issued.secret not in str(event.data)
    assert issued_event.data["source"] == "jira"
    assert revoked_event.reason == "integration retired"


def test_authenticate_accepts_live_tokens_only(org, cat):
    issued = tokens.issue_token(actor=None, source=cat.jira, name="x", days=1)
    assert tokens.authenticate(issued.secret) == issued.token
    assert tokens.authenticate(issued.secret + "x") is None
    # One character changed (never to itself: the last one may already be "A").
    last = "B" if issued.secret.endswith("A") else "A"
    assert tokens.authenticate(issued.secret[:-1] + last) is None
    assert tokens.authenticate("") is None
    assert tokens.authenticate(None) is None
    assert tokens.authenticate("Token " + issued.secret) is None

    ApiToken.objects.filter(pk=issued.token.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert tokens.authenticate(issued.secret) is None

    live = tokens.issue_token(actor=None, source=cat.jira, name="y", days=1)
    tokens.revoke_token(actor=None, token=live.token, reason="leaked")
    assert tokens.authenticate(live.secret) is None


def test_last_used_is_written_at_most_once_a_minute(org, cat):
    issued = tokens.issue_token(actor=None, source=cat.jira, name="x", days=1)
    with CaptureQueriesContext(connection) as first:
        token = tokens.authenticate(issued.secret)
    assert token.last_used_at is not None
    assert any(q["sql"].startswith("UPDATE") for q in first.captured_queries)
    with CaptureQueriesContext(connection) as second:
        tokens.authenticate(issued.secret)
    assert len(second.captured_queries) == 1  # the lookup only
    stale = timezone.now() - tokens.LAST_USED_RESOLUTION - datetime.timedelta(seconds=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    assert tokens.authenticate(issued.secret).last_used_at > stale


# role -> may issue tokens?
ISSUE_MATRIX = {
    "hr": True,
    "admin": True,
    "compliance": False,
    "steward": False,
    "metric_owner": False,
    "board": False,
    "manager": False,
    "employee": False,
    "auditor": False,
    "nobody": False,
}


@pytest.mark.parametrize("role", sorted(ISSUE_MATRIX))
def test_who_may_issue_and_revoke(org, cat, role):
    user = org.users[role]
    if ISSUE_MATRIX[role]:
        issued = tokens.issue_token(actor=user, source=cat.jira, name="x", days=1)
        tokens.revoke_token(actor=user, token=issued.token, reason="test")
        assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is not None
        return
    with pytest.raises(PermissionDenied):
        tokens.issue_token(actor=user, source=cat.jira, name="x", days=1)
    other = tokens.issue_token(actor=None, source=cat.jira, name="x", days=1)
    with pytest.raises(PermissionDenied):
        tokens.revoke_token(actor=user, token=other.token, reason="test")
    assert ApiToken.objects.get(pk=other.token.pk).revoked_at is None
    assert not AuditEvent.objects.filter(action="api_token.revoked").exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": " ", "days": 1},
        {"name": "x", "days": 0},
        {"name": "x", "days": tokens.MAX_DAYS + 1},
        {"name": "x", "expires_at": timezone.now() - datetime.timedelta(days=1)},
        {"name": "x", "days": 1, "expires_at": timezone.now()},
    ],
)
def test_issue_refuses_bad_requests(org, cat, kwargs):
    with pytest.raises(ValidationError):
        tokens.issue_token(actor=None, source=cat.jira, **kwargs)
    assert not ApiToken.objects.exists()


def test_retired_sources_get_no_tokens(org, cat):
    cat.jira.lifecycle = DataSource.Lifecycle.RETIRED
    save_governed(cat.jira, actor=None, reason="tool replaced")
    with pytest.raises(ValidationError):
        tokens.issue_token(actor=None, source=cat.jira, name="x", days=1)


def test_revoking_needs_a_reason_and_happens_once(org, cat):
    issued = tokens.issue_token(actor=None, source=cat.jira, name="x", days=1)
    with pytest.raises(ValidationError):
        tokens.revoke_token(actor=None, token=issued.token, reason=" ")
    tokens.revoke_token(actor=None, token=issued.token, reason="done")
    with pytest.raises(ValidationError):
        tokens.revoke_token(actor=None, token=issued.token, reason="again")
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_issuer_is_the_acting_account_and_fails_closed(org, cat):
    hr = org.users["hr"]
    system = tokens.issue_token(actor=None, source=cat.jira, name="x", days=1)
    assert tokens.issuer_of(system.token) is None
    issued = tokens.issue_token(actor=hr, source=cat.jira, name="y", days=1)
    assert tokens.issuer_of(issued.token) == hr
    hr.is_active = False
    hr.save()
    with pytest.raises(PermissionDenied):
        tokens.issuer_of(issued.token)
    # A vanished issuer must never turn into the all-powerful system actor.
    ApiToken.objects.filter(pk=issued.token.pk).update(created_by_id=999_999)
    issued.token.refresh_from_db()
    with pytest.raises(PermissionDenied):
        tokens.issuer_of(issued.token)
