"""Informed consent (M8.3): purposes people consent to, and their records."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from governance.audit.history import GovernedHistoricalRecords
from governance.classification import Sensitivity
from governance.crypto.fields import EncryptedTextField
from governance.querysets import GovernedQuerySet, ReferenceQuerySet


class ConsentPurpose(models.Model):
    """Something personal data is processed for, with the text people agree to.

    Invariant: ``text_version`` goes up whenever the consent text changes
    (``governance.consent.purpose_update``); a consent counts only if it was
    given on a version at or above ``min_text_version`` (raised when a change
    is material enough to ask everyone again).
    """

    code = models.SlugField(max_length=48, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(
        help_text="The consent text people read before agreeing."
    )
    text_version = models.PositiveIntegerField(default=1, editable=False)
    min_text_version = models.PositiveIntegerField(
        default=1,
        editable=False,
        help_text="Consents given on an older text no longer count.",
    )
    active = models.BooleanField(
        default=True, help_text="Offered to employees on their self-service page."
    )
    history = GovernedHistoricalRecords()

    objects = ReferenceQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_text_version__lte=models.F("text_version")),
                name="consentpurpose_min_version_le_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ConsentRecordQuerySet(GovernedQuerySet):
    """Organisation-wide roles with the permission see every record; an
    employee sees their own. Managers and stewards see none: who withdrew
    consent is nobody's business in the line."""

    def scope_q(self, user: Any, action: str) -> Q:
        from governance import permissions

        person = permissions.person_of(user)
        if (
            person is None
            or action != "view"
            or not permissions.has_scope(user, "self")
        ):
            return Q(pk__in=[])
        return Q(person_id=person.pk)

    def active_at(self, moment: Any) -> ConsentRecordQuerySet:
        """Records in force at ``moment`` (a datetime): given, not withdrawn,
        not expired, on a text version that still counts."""
        return self.filter(
            Q(given_at__lte=moment),
            Q(withdrawn_at__isnull=True) | Q(withdrawn_at__gt=moment),
            Q(expires_at__isnull=True) | Q(expires_at__gt=moment),
            text_version__gte=models.F("purpose__min_text_version"),
        )


class ConsentRecord(models.Model):
    """One person's consent for one purpose.

    Invariants: at most one open (not withdrawn) record per person and purpose;
    records are never deleted or rewritten: withdrawal stamps ``withdrawn_at``
    and giving consent again opens a new record (a renewal also stamps the old
    one and links it through ``superseded_by``), so history shows exactly when
    processing was allowed. Evidence is sealed with the person's key, so
    erasure shreds it while the dates stay for the audit trail.
    """

    class LawfulBasis(models.TextChoices):
        CONSENT = "consent", "Consent (GDPR art. 6(1)(a))"
        CONTRACT = "contract", "Contract (art. 6(1)(b))"
        LEGAL_OBLIGATION = "legal_obligation", "Legal obligation (art. 6(1)(c))"
        LEGITIMATE_INTERESTS = (
            "legitimate_interests",
            "Legitimate interests (art. 6(1)(f))",
        )

    class Method(models.TextChoices):
        SELF_SERVICE = "self_service", "Self-service page"
        PAPER = "paper", "Signed paper form"
        EMAIL = "email", "Email"
        OTHER = "other", "Other (see evidence)"

    person = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="consents"
    )
    purpose = models.ForeignKey(
        ConsentPurpose, on_delete=models.PROTECT, related_name="records"
    )
    lawful_basis = models.CharField(
        max_length=24, choices=LawfulBasis.choices, default=LawfulBasis.CONSENT
    )
    text_version = models.PositiveIntegerField(
        help_text="Version of the purpose's consent text the person agreed to."
    )
    given_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    obtained_via = models.CharField(
        max_length=16, choices=Method.choices, default=Method.SELF_SERVICE
    )
    evidence = EncryptedTextField(
        subject="person",
        sensitivity=Sensitivity.CONFIDENTIAL,
        help_text="How consent was obtained: form reference, email id, witness …",
    )
    superseded_by = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supersedes",
        editable=False,
        help_text="Set when the consent was renewed (new text version or expiry) "
        "rather than withdrawn.",
    )
    recorded_by_id = models.BigIntegerField(null=True, blank=True, editable=False)
    withdrawn_by_id = models.BigIntegerField(null=True, blank=True, editable=False)
    history = GovernedHistoricalRecords()

    objects = ConsentRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-given_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "purpose"],
                condition=Q(withdrawn_at__isnull=True),
                name="consent_one_open_per_person_purpose",
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True)
                | Q(withdrawn_at__gte=models.F("given_at")),
                name="consent_withdrawn_after_given",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True)
                | Q(expires_at__gt=models.F("given_at")),
                name="consent_expires_after_given",
            ),
        ]
        indexes = [
            models.Index(fields=["purpose", "person"], name="consent_purpose_person"),
        ]

    def __str__(self) -> str:
        state = (
            "renewed"
            if self.superseded_by_id
            else ("withdrawn" if self.withdrawn_at else "given")
        )
        return f"{self.purpose.code} · {state} {self.given_at:%Y-%m-%d}"

    def in_force(self, moment: Any) -> bool:
        return (
            self.given_at <= moment
            and (self.withdrawn_at is None or self.withdrawn_at > moment)
            and (self.expires_at is None or self.expires_at > moment)
            and self.text_version >= self.purpose.min_text_version
        )
