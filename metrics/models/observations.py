"""Observations, their data-quality issues and annotations."""

from __future__ import annotations

from typing import Any

from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from governance.audit.history import GovernedHistoricalRecords
from governance.classification import Sensitivity
from governance.crypto.fields import EncryptedDecimalField, EncryptedTextField
from metrics.querysets import ObservationQuerySet, ObservationScopedQuerySet


class Observation(models.Model):
    """One value of a metric for a subject (person, team or the organisation) and period.

    Invariants:
    * Confidential+ values are sealed (``value_sealed``, with the person's key, or
      the organisation key for team/organisation values); lower ones are plain
      (``value_plain``). Exactly one of them is set.
    * Corrections never overwrite: a correction is a new observation and the old
      one is marked superseded (``superseded_by``), so history shows what was
      known when.
    * Quarantined values (suspected input errors) stay out of charts and reports
      until a steward confirms or corrects them.
    * ``classification`` is inherited from the metric at capture time.
    """

    class Status(models.TextChoices):
        VALID = "valid", "Valid"
        QUARANTINED = "quarantined", "Quarantined (suspected input error)"
        SUPERSEDED = "superseded", "Superseded by a correction"

    # No single-column index on metric, person or team: the composite indexes
    # below lead with each of them and serve the same lookups (and the
    # foreign-key checks), so every insert maintains three fewer indexes.
    metric = models.ForeignKey(
        "metrics.Metric",
        on_delete=models.PROTECT,
        related_name="observations",
        db_index=False,
    )
    person = models.ForeignKey(
        "governance.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="observations",
        db_index=False,
    )
    team = models.ForeignKey(
        "governance.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="observations",
        db_index=False,
    )
    period_start = models.DateField()
    period_end = models.DateField()
    value_plain = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True
    )
    value_sealed = EncryptedDecimalField(
        subject="person", sensitivity=Sensitivity.CONFIDENTIAL
    )
    classification = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices, default=Sensitivity.INTERNAL
    )
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.VALID
    )
    source = models.ForeignKey(
        "metrics.DataSource", on_delete=models.PROTECT, related_name="observations"
    )
    methodology_version = models.PositiveIntegerField()
    entered_by_id = models.BigIntegerField(null=True, blank=True)
    entered_at = models.DateTimeField()
    supersedes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
    )
    correction_reason = models.TextField(blank=True)
    # History is read per observation (``id``) and per period (``history_date``);
    # the subject's rows (``person``) stay findable. Indexes on the other
    # references would only slow every capture down (each batch writes a
    # history row per value).
    history = GovernedHistoricalRecords(
        no_db_index=["metric", "team", "source", "supersedes"]
    )

    objects = ObservationQuerySet.as_manager()

    class Meta:
        ordering = ["-period_start", "-id"]
        indexes = [
            models.Index(fields=["metric", "period_start"], name="obs_metric_period"),
            models.Index(fields=["person", "metric"], name="obs_person_metric"),
            models.Index(fields=["team", "metric"], name="obs_team_metric"),
            # Nearly every row is valid: an index over all statuses never
            # helps to find valid rows (and the planner, with statistics
            # stale after a bulk load, ANDed it into the quality screen's
            # reads); the few quarantined and superseded rows are what a
            # status lookup looks for.
            models.Index(
                fields=["status"],
                name="obs_unsettled",
                condition=~models.Q(status="valid"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value_plain__isnull=True)
                | models.Q(value_sealed__isnull=True),
                name="obs_one_value_column",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="obs_period_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric_id}:{self.period_start} #{self.pk}"

    @property
    def value(self) -> Any:
        """The value, whichever column holds it (sealed values decrypt lazily)."""
        return self.value_sealed if self.value_plain is None else self.value_plain

    @property
    def subject_label(self) -> str:
        if self.person is not None:
            return str(self.person.employee_id)
        if self.team_id:
            return str(self.team)
        return "organisation"


class ObservationUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key guardian table for object grants on observations."""

    content_object = models.ForeignKey(Observation, on_delete=models.CASCADE)


class ObservationGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Observation, on_delete=models.CASCADE)


class DataQualityIssue(models.Model):
    """A suspected input error (M3.4): separate from performance signals.

    Invariant: while open, its observation is quarantined; a steward decides
    (confirm the value, or correct it through a superseding observation).
    """

    class Kind(models.TextChoices):
        UNIT_SLIP = "unit_slip", "Unit slip (×100/×1000)"
        IMPOSSIBLE = "impossible", "Impossible value"
        DUPLICATE = "duplicate", "Duplicate"
        SPIKE = "spike", "Spike (robust z-score)"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CONFIRMED = "confirmed", "Value confirmed"
        CORRECTED = "corrected", "Corrected"

    observation = models.ForeignKey(
        Observation, on_delete=models.PROTECT, related_name="quality_issues"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    detail = models.TextField(help_text="Evidence, never the value itself.")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.OPEN
    )
    detected_at = models.DateTimeField()
    decided_by_id = models.BigIntegerField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    history = GovernedHistoricalRecords()

    objects = ObservationScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-detected_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on observation {self.observation_id}"


class Annotation(models.Model):
    """A note on a data point by anyone with access (M4.4); shown on charts and reports."""

    class Kind(models.TextChoices):
        INPUT_ERROR = "input_error", "Input error"
        REAL_SHIFT = "real_shift", "Real shift"
        EXTERNAL_EVENT = "external_event", "External event"

    observation = models.ForeignKey(
        Observation, on_delete=models.CASCADE, related_name="annotations"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = EncryptedTextField(subject=None, sensitivity=Sensitivity.INTERNAL)
    author_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    history = GovernedHistoricalRecords()

    objects = ObservationScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on observation {self.observation_id}"
