"""Wrapped data keys (envelope encryption)."""

from __future__ import annotations

from django.db import models


class DataKey(models.Model):
    """One data subject's AES-256 key, wrapped by a master key.

    Invariant: never history-tracked and never copied: destroying ``wrapped``
    (crypto-shredding) makes every value sealed with it unreadable for good.
    ``master_key_id`` is the fingerprint of the master key that wraps it.
    """

    subject = models.UUIDField(primary_key=True)
    master_key_id = models.CharField(max_length=16, db_index=True)
    wrapped = models.BinaryField(null=True)
    created_at = models.DateTimeField()
    rotated_at = models.DateTimeField(null=True, blank=True)
    shredded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        state = (
            "shredded" if self.wrapped is None else f"wrapped by {self.master_key_id}"
        )
        return f"data key of {self.subject} ({state})"
