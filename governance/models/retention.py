"""Retention (G.RET): how long each kind of record is kept, and legal holds.

A :class:`RetentionPolicy` names a record type (``app_label.model``, one that
an app registered as purgeable with :func:`governance.retention.register_record_type`)
and optionally a classification; the most specific policy wins. A
:class:`LegalHold` on a person or on one record stops the purge job from
touching it until the hold is released.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance import labels
from governance.audit.history import GovernedHistoricalRecords
from governance.classification import Sensitivity
from governance.querysets import GovernedQuerySet


class RetentionPolicy(models.Model):
    """Keep records of ``record_type`` (of ``classification``, or of any
    classification when blank) for ``retention_days`` after their reference
    date (declared with the record type: e.g. the end of an observation's
    period, the day a person left), then purge them."""

    record_type = models.CharField(
        max_length=100,
        help_text="app_label.model of the records, e.g. metrics.observation.",
    )
    classification = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices,
        null=True,
        blank=True,
        help_text="Only records of this classification; blank for any.",
    )
    retention_days = models.PositiveIntegerField()
    purpose = models.CharField(
        max_length=200, help_text="Why the records are kept this long (legal basis)."
    )
    active = models.BooleanField(default=True)
    history = GovernedHistoricalRecords()

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["record_type", "classification"]
        verbose_name_plural = "retention policies"
        constraints = [
            models.UniqueConstraint(
                fields=["record_type", "classification"],
                name="retention_one_per_type_and_class",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=Q(retention_days__gte=1), name="retention_at_least_a_day"
            ),
        ]

    def __str__(self) -> str:
        level = (
            "any classification"
            if self.classification is None
            else Sensitivity(self.classification).label
        )
        return f"{self.record_type} ({level}): {self.retention_days} days"


class LegalHoldQuerySet(GovernedQuerySet):
    def active(self) -> LegalHoldQuerySet:
        return self.filter(released_at__isnull=True)


class LegalHold(models.Model):
    """A hold on a person's records or on one record: nothing under it is
    purged or shredded by the retention job until it is released.

    Invariants: it names a person, or a record (``record_type`` and
    ``record_id``), not both; placing and releasing both need a reason.
    """

    person = models.ForeignKey(
        "governance.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="legal_holds",
    )
    record_type = models.CharField(max_length=100, blank=True)
    record_id = models.CharField(max_length=64, blank=True)
    reason = models.TextField()
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="legal_holds_placed",
        editable=False,
    )
    placed_at = models.DateTimeField(editable=False)
    released_at = models.DateTimeField(null=True, blank=True, editable=False)
    released_by_id = models.BigIntegerField(null=True, blank=True, editable=False)
    release_reason = models.TextField(blank=True, editable=False)
    history = GovernedHistoricalRecords()

    objects = LegalHoldQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(person__isnull=False, record_type="", record_id="")
                    | (Q(person__isnull=True) & ~Q(record_type="") & ~Q(record_id=""))
                ),
                name="legalhold_person_or_record",
            ),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True) | ~Q(release_reason=""),
                name="legalhold_release_has_reason",
            ),
        ]

    def __str__(self) -> str:
        what: Any = (
            f"person {labels.person_ref(self.person)}"
            if self.person_id and self.person
            else f"{self.record_type}#{self.record_id}"
        )
        state = "released" if self.released_at else "active"
        return f"Legal hold on {what} ({state})"


def _declare_roles() -> None:
    """Who may see and manage bias assessments, retention and legal holds
    (applied by ``sync_roles``, like the board's and consent's)."""
    from governance import roles
    from governance.roles import Role

    def perms(actions: str, *models_: str) -> set[str]:
        return {
            f"governance.{action}_{model}"
            for action in actions.split()
            for model in models_
        }

    bias = ("biasassessment", "biasgroupresult", "remediationitem")
    retention = ("retentionpolicy", "legalhold")
    roles.extend(Role.COMPLIANCE, perms("view add change", *bias, *retention))
    roles.extend(Role.AUDITOR, perms("view", *bias, *retention))
    roles.extend(Role.HR, perms("view", "retentionpolicy"))


_declare_roles()
