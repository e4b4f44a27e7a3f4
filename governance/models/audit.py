"""The audit trail's own tables: events and the hash chain."""

from __future__ import annotations

from typing import Any

from django.db import models

from governance.audit.history import HistoryIsImmutable


class AuditEvent(models.Model):
    """Something that happened that is not a row change: an erasure, a key
    rotation, a read of Restricted plaintext, a role grant, a report issued.

    Invariant: append-only and chained. Payloads carry identifiers, never
    personal plaintext. The actor is stored by id and label, so deactivating or
    renaming an account never rewrites the trail.
    """

    occurred_at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}#{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise HistoryIsImmutable("Audit events can't be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise HistoryIsImmutable("Audit events can't be deleted.")


class AuditLink(models.Model):
    """One link of the hash chain, covering one history row or audit event."""

    seq = models.BigIntegerField(primary_key=True)
    table = models.CharField(max_length=100)
    row_id = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64)
    link_hash = models.CharField(max_length=64)

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["table", "row_id"], name="auditlink_table_row")]

    def __str__(self) -> str:
        return f"link {self.seq}: {self.table}#{self.row_id}"


class AuditHead(models.Model):
    """The single row holding the chain's latest link; locked to append."""

    seq = models.BigIntegerField()
    link_hash = models.CharField(max_length=64)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"head at link {self.seq}"
