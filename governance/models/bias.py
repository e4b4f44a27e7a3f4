"""Bias assessment records (SPEC M8.5) and their remediation items.

An assessment names what it is about generically, like a board proposal
(``target_type`` as ``app_label.model`` or a named kind, ``target_id``), so
the kernel never imports the app that owns the target. Two kinds exist today,
both registered by metrics (:mod:`metrics.governance_links`):

* ``metrics.metric``: a metric before go-live, bound to its methodology
  version (``target_version``);
* ``metrics.evaluation_release``: the release of one evaluation period, id
  ``YYYY-MM-DD..YYYY-MM-DD``.

The figures come from :mod:`governance.analytics.fairness`; one
:class:`BiasGroupResult` row per group, figures withheld for small groups.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance.audit.history import GovernedHistoricalRecords
from governance.querysets import GovernedQuerySet


class BiasAssessment(models.Model):
    """One run of the bias assessment over one target's outcomes.

    Invariants: the figures are computed by ``governance.bias.run_assessment``
    from live data and never edited; ``dataset_hash`` is the SHA-256 of the
    exact rows used (pseudonymous: person ids, group, outcome), so a re-run on
    the same data reproduces it. The assessment is *completed* when the
    verdict is "no adverse impact", or when compliance signs it off with a
    note after every remediation item is closed. Only a completed assessment
    lets a high-impact metric go live or an evaluation period be released.
    """

    class Attribute(models.TextChoices):
        GENDER = "gender", "Gender"
        ETHNICITY = "ethnicity", "Ethnicity"
        DISABILITY = "disability", "Disability"
        AGE_BAND = "age_band", "Age band"

    class Verdict(models.TextChoices):
        NO_ADVERSE = "no_adverse", "No adverse impact found"
        ADVERSE = "adverse", "Adverse impact (four-fifths rule)"
        INSUFFICIENT = "insufficient", "Insufficient data (fewer than two groups shown)"

    class Status(models.TextChoices):
        OPEN = "open", "Open (needs remediation or sign-off)"
        COMPLETED = "completed", "Completed"

    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=200, blank=True)
    target_version = models.PositiveIntegerField(null=True, blank=True)
    attribute = models.CharField(max_length=12, choices=Attribute.choices)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    threshold = models.DecimalField(
        max_digits=18,
        decimal_places=4,
        help_text="An outcome counts as selected when its score is at least this.",
    )
    min_group_size = models.PositiveIntegerField(default=5)
    run_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bias_assessments",
        editable=False,
    )
    run_at = models.DateTimeField(editable=False)
    dataset_hash = models.CharField(max_length=64, editable=False)
    dataset_size = models.PositiveIntegerField(default=0, editable=False)
    excluded_count = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Outcomes left out: attribute not recorded, or data erased.",
    )
    reference_group = models.CharField(max_length=80, blank=True, editable=False)
    verdict = models.CharField(max_length=12, choices=Verdict.choices, editable=False)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.OPEN, editable=False
    )
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    completed_by_id = models.BigIntegerField(null=True, blank=True, editable=False)
    completion_note = models.TextField(blank=True, editable=False)
    history = GovernedHistoricalRecords()

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["-run_at", "-id"]
        indexes = [
            models.Index(
                fields=["target_type", "target_id", "status"],
                name="bias_target_status",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open") | Q(completed_at__isnull=False),
                name="bias_completed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Bias assessment #{self.pk} of {self.target_label or self.target_id} ({self.get_attribute_display()})"


class BiasGroupResult(models.Model):
    """The figures for one group. For a suppressed (small) group every figure,
    its size included, is withheld: only the label and the flag are stored."""

    assessment = models.ForeignKey(
        BiasAssessment, on_delete=models.CASCADE, related_name="groups"
    )
    group = models.CharField(max_length=80)
    suppressed = models.BooleanField(default=False)
    is_reference = models.BooleanField(default=False)
    n = models.PositiveIntegerField(null=True, blank=True)
    selected = models.PositiveIntegerField(null=True, blank=True)
    rate = models.CharField(max_length=40, blank=True, help_text="Exact fraction.")
    impact_ratio = models.CharField(
        max_length=40, blank=True, help_text="Exact fraction."
    )
    adverse = models.BooleanField(null=True, blank=True)
    parity_difference = models.CharField(
        max_length=40, blank=True, help_text="Exact fraction."
    )
    fisher_p = models.FloatField(null=True, blank=True)
    chi2_p = models.FloatField(null=True, blank=True)
    mean = models.FloatField(null=True, blank=True)
    mean_difference = models.FloatField(null=True, blank=True)
    cohens_d = models.FloatField(null=True, blank=True)
    history = GovernedHistoricalRecords()

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["assessment", "group"]
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "group"], name="bias_group_once"
            ),
            models.CheckConstraint(
                condition=Q(suppressed=False) | Q(n__isnull=True, rate=""),
                name="bias_suppressed_withheld",
            ),
        ]

    def __str__(self) -> str:
        return self.group


class RemediationItem(models.Model):
    """Follow-up work on an assessment, tracked to closure.

    Invariants: status moves open → in progress → closed (or open → closed),
    never back; closing needs a note saying what was done.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        CLOSED = "closed", "Closed"

    assessment = models.ForeignKey(
        BiasAssessment, on_delete=models.PROTECT, related_name="remediation_items"
    )
    description = models.TextField()
    owner = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="remediation_items"
    )
    due_date = models.DateField()
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.OPEN, editable=False
    )
    closing_note = models.TextField(blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_by_id = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(editable=False)
    history = GovernedHistoricalRecords()

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["status", "due_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="closed")
                | (Q(closed_at__isnull=False) & ~Q(closing_note="")),
                name="remediation_closed_has_note",
            ),
        ]

    def __str__(self) -> str:
        return f"Remediation #{self.pk} ({self.get_status_display()})"
