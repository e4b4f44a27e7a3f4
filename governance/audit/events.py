"""One helper per audit event type keeps payloads uniform (saleor's events.py).

Events are written and chained inside the caller's transaction. Payloads hold
identifiers and counts, never personal plaintext.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils import timezone

from . import chain

EVENT_TABLE = "governance_auditevent"
chain.register_table(EVENT_TABLE, "id")


def record(
    action: str,
    *,
    actor: Any = None,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> Any:
    from governance.models import AuditEvent

    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = object_id or str(target.pk)
    # The event and its link commit together; inside a caller's transaction
    # no savepoint is needed for that (a failure here fails the caller's too).
    with transaction.atomic(savepoint=False):
        event = AuditEvent.objects.create(
            occurred_at=timezone.now(),
            actor_id=getattr(actor, "pk", None),
            actor_label=getattr(actor, "username", "")
            or ("system" if actor is None else ""),
            action=action,
            object_type=object_type,
            object_id=object_id,
            reason=reason,
            data=data or {},
        )
        chain.append(EVENT_TABLE, [event.pk])
    return event


def person_erased(*, person: Any, actor: Any, reason: str, shredded: bool) -> Any:
    return record(
        "person.erased",
        actor=actor,
        target=person,
        reason=reason,
        data={"key_shredded": shredded},
    )


def restricted_read(
    *, actor: Any, target: models.Model, fields: list[str], via: str
) -> Any:
    return record(
        "restricted.read",
        actor=actor,
        target=target,
        data={"fields": sorted(fields), "via": via},
    )


def keys_rotated(*, actor: Any, rewrapped: int, active_key: str) -> Any:
    return record(
        "keys.rotated",
        actor=actor,
        object_type="governance.datakey",
        data={"rewrapped": rewrapped, "active_master_key": active_key},
    )


def access_changed(
    *, actor: Any, user: Any, reason: str, changes: dict[str, Any]
) -> Any:
    return record(
        "user.access_changed", actor=actor, target=user, reason=reason, data=changes
    )


def person_deactivated(*, actor: Any, person: Any, reason: str) -> Any:
    return record("person.deactivated", actor=actor, target=person, reason=reason)
