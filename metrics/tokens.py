"""API tokens for ingestion (M2.1): issue, revoke, authenticate.

A token is a bearer secret scoped to ONE data source. Its format is
``pgp_<prefix>_<random>``: the prefix (8 characters) is stored in clear so people
can recognise a token in lists and logs; the secret as a whole is shown once, at
issue, and only its SHA-256 is stored. A secret has 256 bits of entropy, so a
plain (fast) hash is enough: nobody can search that space, and a keyed or slow
hash would only cost every request time.

Authentication looks the token up by the hash of what was presented (a unique
index), so the comparison never walks the secret character by character;
the stored hash is compared again with :func:`hmac.compare_digest`. Expired and
revoked tokens are refused.

Who acts: a batch sent with a token is recorded with the token's *issuer* as the
actor (history user and ``entered_by``), and the change reason names the token.
The issuer's permissions still apply: if their account is deactivated or loses
the right to record observations, their tokens stop writing (fail closed).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from governance import permissions
from governance.audit import events
from metrics.models import ApiToken, DataSource

TOKEN_PREFIX = "pgp_"  # noqa: S105 - a public marker, not a secret
PREFIX_LENGTH = 8
DEFAULT_DAYS = 90
MAX_DAYS = 366
#: last_used_at is written at most this often per token (one UPDATE, not one per call).
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)
_PREFIX_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: readable


@dataclass(frozen=True)
class IssuedToken:
    """The new token and its secret; the secret is never retrievable again."""

    token: ApiToken
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return prefix, f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


@transaction.atomic
def issue_token(
    *,
    actor: Any,
    source: DataSource,
    name: str,
    expires_at: datetime.datetime | None = None,
    days: int | None = None,
) -> IssuedToken:
    """Create a token for ``source``; returns the secret once."""
    if actor is not None and not permissions.has_model_perm(actor, ApiToken, "add"):
        raise PermissionDenied("You may not issue API tokens.")
    name = (name or "").strip()
    if not name:
        raise ValidationError(
            {"name": "Name the token after the integration using it."}
        )
    if source.lifecycle == DataSource.Lifecycle.RETIRED:
        raise ValidationError(
            {"source": f"Data source “{source.code}” is retired and takes no data."}
        )
    now = timezone.now()
    if expires_at is not None and days is not None:
        raise ValidationError("Give either an expiry date or a number of days.")
    if expires_at is None:
        expires_at = now + datetime.timedelta(
            days=DEFAULT_DAYS if days is None else days
        )
    if expires_at <= now:
        raise ValidationError({"expires_at": "A token must expire in the future."})
    if expires_at > now + datetime.timedelta(days=MAX_DAYS):
        raise ValidationError(
            {
                "expires_at": f"Tokens expire within {MAX_DAYS} days; issue a new one then."
            }
        )
    prefix, secret = _new_secret()
    token = ApiToken.objects.create(
        name=name,
        source=source,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        created_by_id=getattr(actor, "pk", None),
        created_at=now,
        expires_at=expires_at,
    )
    events.record(
        "api_token.issued",
        actor=actor,
        target=token,
        data={
            "prefix": prefix,
            "source": source.code,
            "expires_at": expires_at.isoformat(),
        },
    )
    return IssuedToken(token, secret)


@transaction.atomic
def revoke_token(*, actor: Any, token: ApiToken, reason: str) -> ApiToken:
    """Stop a token working, at once and for good."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the token is revoked."})
    if actor is not None and not permissions.has_model_perm(actor, ApiToken, "change"):
        raise PermissionDenied("You may not revoke API tokens.")
    current = ApiToken.objects.select_for_update().get(pk=token.pk)
    if current.revoked_at is not None:
        raise ValidationError("This token is already revoked.")
    current.revoked_at = timezone.now()
    current.save(update_fields=["revoked_at"])
    events.record(
        "api_token.revoked",
        actor=actor,
        target=current,
        reason=reason,
        data={"prefix": current.prefix, "source": current.source.code},
    )
    token.revoked_at = current.revoked_at
    return current


def authenticate(secret: str | None) -> ApiToken | None:
    """The live token for a presented secret, or None (unknown, expired, revoked)."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    token = ApiToken.objects.select_related("source").filter(secret_hash=digest).first()
    if token is None or not hmac.compare_digest(token.secret_hash, digest):
        return None
    now = timezone.now()
    if token.revoked_at is not None or token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # A plain UPDATE of one column: tokens carry no history, and this is
        # bookkeeping, not a governed change.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def issuer_of(token: ApiToken) -> Any:
    """The account a token acts for (None for tokens issued by the system).

    Fails closed: a token whose issuer's account is gone or deactivated acts
    for nobody (it must never fall back to the all-powerful system actor).
    """
    if token.created_by_id is None:
        return None
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.filter(pk=token.created_by_id).first()
    if user is None or not user.is_active:
        raise PermissionDenied(
            f"The account that issued token {token.prefix}… is no longer active; "
            "ask for a new token."
        )
    return user
