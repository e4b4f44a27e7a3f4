"""Ingestion API tokens and idempotency records (M2.1, M2.3)."""

from __future__ import annotations

from django.db import models

from metrics.querysets import ReferenceQuerySet


class ApiToken(models.Model):
    """A bearer token scoped to one data source.

    Invariant: only the SHA-256 of the secret is stored; a token reaches only
    its own source's metrics, and stops working when expired or revoked.
    """

    name = models.CharField(max_length=120)
    source = models.ForeignKey(
        "metrics.DataSource", on_delete=models.PROTECT, related_name="tokens"
    )
    prefix = models.CharField(
        max_length=12,
        db_index=True,
        help_text="First characters, to recognise a token.",
    )
    secret_hash = models.CharField(max_length=64, unique=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ReferenceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IdempotencyRecord(models.Model):
    """The stored outcome of a batch, so a retried request stores nothing twice."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["token", "key"], name="idempotency_unique_key_per_token"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"
