"""System checks: the master keys configured must open the data keys stored.

Runs with ``manage.py check --database default``, ``migrate`` and at web/worker
start-up (``portal.wsgi``/``asgi`` call :func:`verify_keyring`).
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError


def verify_keyring() -> None:
    """Fail with a clear message when stored data keys can't be opened."""
    from governance.crypto.keyring import get_keyring
    from governance.models import DataKey

    keyring = get_keyring()
    try:
        used = set(DataKey.objects.values_list("master_key_id", flat=True).distinct())
        sample = (
            DataKey.objects.exclude(wrapped__isnull=True).order_by("created_at").first()
        )
    except DatabaseError:
        return  # not migrated yet: nothing is encrypted
    unknown = sorted(used - set(keyring.by_id))
    if unknown:
        raise ImproperlyConfigured(
            "PORTAL_MASTER_KEYS does not hold the master key(s) "
            f"{', '.join(unknown)} that wrap stored data keys (configured: "
            f"{', '.join(keyring.by_id)}). The wrong key is configured, or an old "
            "key was removed before `manage.py rotate_keys` finished. Refusing to "
            "start rather than read garbage."
        )
    if sample is not None:
        keyring.unwrap_raw(sample.master_key_id, bytes(sample.wrapped), sample.subject)


@checks.register(checks.Tags.database)
def keyring_check(
    app_configs: Any, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    if not databases:
        return []
    try:
        verify_keyring()
    except (ImproperlyConfigured, Exception) as exc:  # noqa: BLE001 - report, don't crash check
        return [checks.Error(str(exc), id="governance.E100")]
    return []
