"""Appeals against evaluations and observations (M8.6), their evidence,
their SLA stages, and reviewers' declared conflicts."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from appeals.querysets import (
    AppealQuerySet,
    AppealScopedQuerySet,
    ConflictQuerySet,
)
from appeals.workflow import OPEN_STATES, State
from governance.audit.history import GovernedHistoricalRecords
from governance.classification import Sensitivity
from governance.crypto.fields import EncryptedCharField, EncryptedTextField
from governance.permissions import register_object_permission_models


class Appeal(models.Model):
    """An employee's challenge of one of their evaluations or observations.

    Invariants:
    * exactly one target (``evaluation`` or ``observation``), about the appellant;
    * at most one open appeal per target;
    * the reviewer is never the evaluator, the appellant, anyone in the
      appellant's manager chain or anyone with a declared conflict
      (:func:`appeals.permissions.reviewer_conflicts`);
    * a decision carries a rationale; an upheld correction is a superseding
      value written through ``metrics.services``, never an overwrite;
    * grounds, remedy and rationale are sealed with the appellant's key.
    """

    class Outcome(models.TextChoices):
        UPHELD = "upheld", "Upheld"
        PARTLY_UPHELD = "partly_upheld", "Partly upheld"
        REJECTED = "rejected", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=20, unique=True, editable=False)
    appellant = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="appeals"
    )
    evaluation = models.ForeignKey(
        "metrics.Evaluation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    observation = models.ForeignKey(
        "metrics.Observation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    evaluator = models.ForeignKey(
        "governance.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who produced the disputed value (never the reviewer).",
    )
    grounds = EncryptedTextField(
        subject="appellant", sensitivity=Sensitivity.CONFIDENTIAL
    )
    requested_remedy = EncryptedTextField(
        subject="appellant", sensitivity=Sensitivity.CONFIDENTIAL
    )
    status = models.CharField(
        max_length=14,
        choices=[(s.value, s.value.replace("_", " ").capitalize()) for s in State],
        default=State.SUBMITTED,
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appeals_to_review",
    )
    filed_at = models.DateTimeField()
    stage_started_at = models.DateTimeField()
    stage_deadline = models.DateTimeField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(
        null=True, blank=True, help_text="When the SLA job found the stage overdue."
    )
    outcome = models.CharField(
        max_length=14, choices=Outcome.choices, blank=True, default=""
    )
    rationale = EncryptedTextField(
        subject="appellant", sensitivity=Sensitivity.CONFIDENTIAL
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    corrected_value = EncryptedCharField(
        subject="appellant",
        sensitivity=Sensitivity.CONFIDENTIAL,
        max_length=40,
        help_text="The value an upheld appeal put in place (superseding).",
    )
    correction_observation = models.ForeignKey(
        "metrics.Observation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    held_status = models.CharField(
        max_length=10,
        blank=True,
        default="",
        help_text="The evaluation's status before the hold, restored afterwards.",
    )
    letter_sealed = models.BinaryField(null=True, blank=True, editable=False)
    letter_sha256 = models.CharField(max_length=64, blank=True, default="")
    classification = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices, default=Sensitivity.CONFIDENTIAL
    )
    history = GovernedHistoricalRecords(excluded_fields=["letter_sealed"])

    objects = AppealQuerySet.as_manager()

    class Meta:
        ordering = ["-filed_at"]
        permissions = [
            ("decide_appeal", "Can decide an appeal assigned to them"),
            ("manage_appeal", "Can triage, assign and close appeals"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(evaluation__isnull=False, observation__isnull=True)
                    | models.Q(evaluation__isnull=True, observation__isnull=False)
                ),
                name="appeal_one_target",
            ),
            models.UniqueConstraint(
                fields=["evaluation"],
                condition=models.Q(status__in=sorted(s.value for s in OPEN_STATES)),
                name="appeal_one_open_per_evaluation",
            ),
            models.UniqueConstraint(
                fields=["observation"],
                condition=models.Q(status__in=sorted(s.value for s in OPEN_STATES)),
                name="appeal_one_open_per_observation",
            ),
            models.CheckConstraint(
                condition=models.Q(outcome="") | models.Q(decided_at__isnull=False),
                name="appeal_outcome_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "stage_deadline"], name="appeal_sla"),
        ]

    def __str__(self) -> str:
        return f"Appeal {self.reference}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def target_label(self) -> str:
        if self.evaluation is not None:
            ev = self.evaluation
            return f"Evaluation {ev.period_start:%Y-%m-%d} to {ev.period_end:%Y-%m-%d}"
        if self.observation is not None:
            obs = self.observation
            return f"Observation of {obs.metric.name} for {obs.period_start:%Y-%m-%d}"
        return "—"


class AppealUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key guardian table: the assigned reviewer's grant."""

    content_object = models.ForeignKey(Appeal, on_delete=models.CASCADE)


class AppealGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Appeal, on_delete=models.CASCADE)


register_object_permission_models(
    Appeal, AppealUserObjectPermission, AppealGroupObjectPermission
)


class Evidence(models.Model):
    """A file supporting an appeal, sealed with the appellant's data key.

    Invariants: its type was recognised from its *content* (allow-list), its
    size is within the limit, and only ciphertext is stored (AES-GCM bound to
    this row and the appellant); erasing the appellant makes it unreadable.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    appeal = models.ForeignKey(
        Appeal, on_delete=models.PROTECT, related_name="evidence"
    )
    appellant = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="+"
    )
    filename = EncryptedCharField(
        subject="appellant", sensitivity=Sensitivity.CONFIDENTIAL, max_length=200
    )
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, help_text="Of the plaintext.")
    sealed = models.BinaryField(editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    uploaded_at = models.DateTimeField()
    classification = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices, default=Sensitivity.CONFIDENTIAL
    )
    history = GovernedHistoricalRecords(excluded_fields=["sealed"])

    objects = AppealScopedQuerySet.as_manager()

    class Meta:
        ordering = ["uploaded_at"]
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return f"Evidence {str(self.pk)[:8]} ({self.content_type})"


class StageRecord(models.Model):
    """One stay of an appeal in one stage, with its SLA deadline and whether it
    was met (``left_at <= deadline``). Feeds SLA statistics."""

    appeal = models.ForeignKey(Appeal, on_delete=models.CASCADE, related_name="stages")
    stage = models.CharField(max_length=14)
    entered_at = models.DateTimeField()
    deadline = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)

    objects = AppealScopedQuerySet.as_manager()

    class Meta:
        ordering = ["entered_at", "id"]

    def __str__(self) -> str:
        return f"{self.appeal_id} {self.stage}"

    @property
    def met(self) -> bool | None:
        if self.deadline is None or self.left_at is None:
            return None
        return self.left_at <= self.deadline


class ConflictDeclaration(models.Model):
    """A user's declared conflict of interest with a person: they are never
    assigned to review that person's appeals."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conflicts"
    )
    person = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=200)
    declared_at = models.DateTimeField()
    history = GovernedHistoricalRecords()

    objects = ConflictQuerySet.as_manager()

    class Meta:
        ordering = ["-declared_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "person"], name="conflict_once_per_pair"
            ),
        ]

    def __str__(self) -> str:
        return f"Conflict of {self.user} with {self.person.employee_id}"
