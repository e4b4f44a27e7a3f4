"""Qualitative inputs and performance evaluations (M1.4)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from governance import labels
from governance.audit.history import GovernedHistoricalRecords
from governance.classification import Sensitivity
from governance.crypto.fields import (
    EncryptedDecimalField,
    EncryptedJSONField,
    EncryptedTextField,
)
from metrics.querysets import PersonScopedQuerySet, SubjectScopedQuerySet

_RATING = [MinValueValidator(1), MaxValueValidator(5)]


class PeerFeedback(models.Model):
    """Peer feedback on a person: a 1–5 rating and encrypted free text."""

    subject = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="feedback_received"
    )
    reviewer = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="feedback_given"
    )
    cycle = models.CharField(max_length=20, help_text="Review cycle, e.g. 2026-H1.")
    rating = models.PositiveSmallIntegerField(validators=_RATING)
    text = EncryptedTextField(subject="subject", sensitivity=Sensitivity.CONFIDENTIAL)
    submitted_at = models.DateTimeField()
    classification = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices, default=Sensitivity.CONFIDENTIAL
    )
    history = GovernedHistoricalRecords()

    objects = SubjectScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(subject=models.F("reviewer")),
                name="feedback_not_self",
            ),
            models.UniqueConstraint(
                fields=["subject", "reviewer", "cycle"], name="feedback_once_per_cycle"
            ),
        ]

    def __str__(self) -> str:
        return f"Peer feedback {self.cycle} on {labels.person_ref(self.subject)}"


class StakeholderFeedback(models.Model):
    """Stakeholder satisfaction with a person or team: rating and encrypted comment."""

    person = models.ForeignKey(
        "governance.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    team = models.ForeignKey(
        "governance.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    stakeholder = models.CharField(
        max_length=120, help_text="Who gave it (role or organisation)."
    )
    period_start = models.DateField()
    rating = models.PositiveSmallIntegerField(validators=_RATING)
    text = EncryptedTextField(subject="person", sensitivity=Sensitivity.CONFIDENTIAL)
    classification = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices, default=Sensitivity.CONFIDENTIAL
    )
    history = GovernedHistoricalRecords()

    objects = PersonScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(person__isnull=False) | models.Q(team__isnull=False),
                name="stakeholder_has_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"Stakeholder feedback from {self.stakeholder}"


class Evaluation(models.Model):
    """A person's evaluation for a period: metric results and qualitative inputs
    combined by documented weights, with the evaluator recorded.

    Invariant: ``weights`` sum to 1; while an appeal is open the evaluation is on
    hold and may not be used downstream.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RELEASED = "released", "Released"
        ON_HOLD = "on_hold", "On hold (under appeal)"

    person = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="evaluations"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    evaluator = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="evaluations_given"
    )
    weights = models.JSONField(
        default=dict,
        help_text='Documented weights, e.g. {"quantitative": 0.6, "peer": 0.25, "stakeholder": 0.15}',
    )
    components = EncryptedJSONField(
        subject="person", sensitivity=Sensitivity.CONFIDENTIAL
    )
    score = EncryptedDecimalField(
        subject="person",
        sensitivity=Sensitivity.CONFIDENTIAL,
        max_digits=8,
        decimal_places=4,
    )
    rationale = EncryptedTextField(
        subject="person", sensitivity=Sensitivity.CONFIDENTIAL
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    classification = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices, default=Sensitivity.CONFIDENTIAL
    )
    history = GovernedHistoricalRecords()

    objects = PersonScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(person=models.F("evaluator")),
                name="evaluation_not_self",
            ),
            models.UniqueConstraint(
                fields=["person", "period_start", "period_end"],
                name="evaluation_once_per_period",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"Evaluation of {labels.person_ref(self.person)} {self.period_start:%Y-%m}"
        )
