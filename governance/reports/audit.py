"""The ``report.issued`` audit event: one helper writes it, one finds it.

The payload holds the file's SHA-256 and what the report is (type, pages,
classification, size), never its title or content: titles can name people.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from governance.audit import events

ACTION = "report.issued"


def report_issued(
    *,
    actor: Any,
    report_type: str,
    sha256: str,
    pages: int,
    classification: str,
    size: int,
    target: models.Model | None = None,
    reason: str = "",
) -> Any:
    """Record that a report file with this SHA-256 was issued."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a lower-case hex SHA-256: {sha256!r}")
    return events.record(
        ACTION,
        actor=actor,
        target=target,
        object_type="" if target is not None else "report",
        object_id="" if target is not None else sha256[:16],
        reason=reason,
        data={
            "sha256": sha256,
            "report_type": report_type,
            "pages": pages,
            "classification": classification,
            "bytes": size,
        },
    )


def issued_events(sha256: str) -> models.QuerySet[Any]:
    """Every ``report.issued`` event for this hash, oldest first."""
    from governance.models import AuditEvent

    return AuditEvent.objects.filter(
        action=ACTION, data__sha256=sha256.lower()
    ).order_by("occurred_at", "id")
