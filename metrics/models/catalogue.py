"""The metric catalogue: objectives, sources, metrics, targets, lineage, change control."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from governance.audit.history import GovernedHistoricalRecords
from governance.classification import Sensitivity
from metrics.querysets import (
    ChangeRequestQuerySet,
    MetricQuerySet,
    MetricScopedQuerySet,
    ReferenceQuerySet,
)

#: M2.5 naming convention for metric keys: <domain>.<measure>[_<qualifier>...],
#: lower snake case, e.g. ``support.first_response_hours``.
METRIC_KEY_RE = re.compile(
    r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*\.[a-z][a-z0-9]*(?:_[a-z0-9]+)*$"
)


def validate_metric_key(value: str) -> None:
    if not METRIC_KEY_RE.match(value or ""):
        raise ValidationError(
            "Metric keys follow the naming standard <domain>.<measure>, lower snake case "
            "(e.g. “support.first_response_hours”).",
            code="metric_key",
        )


class StrategicObjective(models.Model):
    """A strategic objective that team outcomes (and through them individual KPIs) serve."""

    code = models.SlugField(max_length=32, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        "governance.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    history = GovernedHistoricalRecords()

    objects = ReferenceQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code}: {self.title}"


class DataSource(models.Model):
    """A connected tool or manual process that supplies observations (M2.2, M3.5).

    Invariant: each source documents its refresh cycle and latency window, so
    every view can say "data as of" and breaches can be flagged.
    """

    class System(models.TextChoices):
        MANUAL = "manual", "Manual entry"
        JIRA = "jira", "Jira"
        WORKDAY = "workday", "Workday"
        SALESFORCE = "salesforce", "Salesforce"
        ZENDESK = "zendesk", "Zendesk"
        GITHUB = "github", "GitHub"
        SURVEY = "survey", "Survey tool"
        OTHER = "other", "Other"

    class Lifecycle(models.TextChoices):
        ACTIVE = "active", "Active"
        SUNSETTING = "sunsetting", "Sunsetting"
        RETIRED = "retired", "Retired"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    system = models.CharField(
        max_length=16, choices=System.choices, default=System.MANUAL
    )
    system_of_record = models.BooleanField(
        default=False, help_text="Authoritative for the data it supplies."
    )
    refresh_cycle = models.CharField(
        max_length=60, default="daily", help_text="e.g. hourly, nightly at 02:00"
    )
    latency_hours = models.PositiveIntegerField(
        default=24, help_text="Latency window: data may lag this much."
    )
    classification = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices, default=Sensitivity.INTERNAL
    )
    owner = models.ForeignKey(
        "governance.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    lifecycle = models.CharField(
        max_length=12, choices=Lifecycle.choices, default=Lifecycle.ACTIVE
    )
    documented = models.BooleanField(
        default=False, help_text="Lineage documentation exists for this source."
    )
    history = GovernedHistoricalRecords()

    objects = ReferenceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Metric(models.Model):
    """A KPI definition (M1).

    Invariants: the key follows the naming standard; governed fields
    (:attr:`GOVERNED_FIELDS`) of an *active* metric change only through an
    approved change request, which bumps ``methodology_version``; an active
    metric has an owner and a steward.
    """

    class Indicator(models.TextChoices):
        LEADING = "leading", "Leading"
        LAGGING = "lagging", "Lagging"

    class Level(models.TextChoices):
        INDIVIDUAL = "individual", "Individual"
        TEAM = "team", "Team"
        ORGANISATION = "organisation", "Organisation"

    class Direction(models.TextChoices):
        HIGHER = "higher", "Higher is better"
        LOWER = "lower", "Lower is better"
        RANGE = "range", "Within a range"

    class Impact(models.TextChoices):
        STANDARD = "standard", "Standard"
        HIGH = "high", "High (promotion, pay or termination)"

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"
        QUARTERLY = "quarterly", "Quarterly"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PROPOSED = "proposed", "Proposed"
        ACTIVE = "active", "Active"
        SUNSET_REVIEW = "sunset_review", "Under sunset review"
        RETIRED = "retired", "Retired"

    #: Fields whose change alters what the metric means (M3.6 change control).
    GOVERNED_FIELDS = (
        "key",
        "calculation",
        "source",
        "unit",
        "direction",
        "level",
        "sensitivity",
        "impact",
        "validation_rules",
    )

    key = models.CharField(max_length=80, unique=True, validators=[validate_metric_key])
    name = models.CharField(max_length=160)
    description = models.TextField(blank=True)
    indicator = models.CharField(max_length=8, choices=Indicator.choices)
    level = models.CharField(max_length=12, choices=Level.choices)
    unit = models.CharField(max_length=40)
    direction = models.CharField(
        max_length=8, choices=Direction.choices, default=Direction.HIGHER
    )
    sensitivity = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices, default=Sensitivity.INTERNAL
    )
    impact = models.CharField(
        max_length=8, choices=Impact.choices, default=Impact.STANDARD
    )
    calculation = models.TextField(
        help_text="Calculation logic / formula, in words or notation."
    )
    source = models.ForeignKey(
        DataSource, on_delete=models.PROTECT, related_name="metrics"
    )
    owner = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="owned_metrics"
    )
    steward = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="stewarded_metrics"
    )
    department = models.ForeignKey(
        "governance.Department", on_delete=models.PROTECT, related_name="metrics"
    )
    team = models.ForeignKey(
        "governance.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="metrics",
        help_text="The team measured (empty for organisation-level metrics).",
    )
    objective = models.ForeignKey(
        StrategicObjective,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="metrics",
    )
    aligned_to = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="aligned_metrics",
        help_text="For an individual KPI: the team outcome it serves.",
    )
    update_frequency = models.CharField(
        max_length=10, choices=Frequency.choices, default=Frequency.MONTHLY
    )
    grace_days = models.PositiveIntegerField(default=7)
    refresh_cycle = models.CharField(max_length=60, blank=True)
    latency_hours = models.PositiveIntegerField(default=24)
    status = models.CharField(
        max_length=14, choices=Status.choices, default=Status.DRAFT
    )
    methodology_version = models.PositiveIntegerField(default=1, editable=False)
    validation_rules = models.JSONField(
        default=dict,
        blank=True,
        help_text='e.g. {"min": 0, "max": 100, "integer_only": true, "allowed": [1,2,3], "required": ["period_start"]}',
    )
    non_punitive = models.BooleanField(
        default=False, help_text="May appear on a public team scoreboard (M5.6)."
    )
    consent_purpose = models.ForeignKey(
        "governance.ConsentPurpose",
        to_field="code",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="metrics",
        help_text="What people consent to for individual-level tracking (M8.3); "
        "empty means “performance_tracking”.",
    )
    stale_since = models.DateTimeField(null=True, blank=True, editable=False)
    orphaned_since = models.DateTimeField(null=True, blank=True, editable=False)
    history = GovernedHistoricalRecords()

    objects = MetricQuerySet.as_manager()

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(aligned_to=models.F("id")),
                name="metric_not_aligned_to_itself",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    @property
    def encrypted_values(self) -> bool:
        return self.sensitivity >= Sensitivity.CONFIDENTIAL


class MetricTarget(models.Model):
    """A SMART target grounded in capacity (M1.2).

    Invariant: a target above capacity carries a recorded justification.
    """

    metric = models.ForeignKey(Metric, on_delete=models.CASCADE, related_name="targets")
    team = models.ForeignKey(
        "governance.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    baseline = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True
    )
    capacity = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True
    )
    capacity_basis = models.CharField(
        max_length=200, blank=True, help_text="e.g. 6 agents × 40 tickets/week"
    )
    target = models.DecimalField(max_digits=18, decimal_places=4)
    deadline = models.DateField(null=True, blank=True)
    objective = models.ForeignKey(
        StrategicObjective,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    justification = models.TextField(
        blank=True, help_text="Required when the target exceeds capacity."
    )
    history = GovernedHistoricalRecords()

    objects = MetricScopedQuerySet.as_manager()

    class Meta:
        ordering = ["metric__key", "deadline"]

    def __str__(self) -> str:
        return f"{self.metric.key} → {self.target}"

    def clean(self) -> None:
        from metrics.smart import above_capacity

        if above_capacity(self) and not (self.justification or "").strip():
            raise ValidationError(
                {
                    "justification": "This target exceeds capacity: record why it is achievable anyway."
                }
            )


class MetricConflict(models.Model):
    """A declared conflict between two metrics (M1.3), e.g. call quota vs resolution."""

    metric_a = models.ForeignKey(Metric, on_delete=models.CASCADE, related_name="+")
    metric_b = models.ForeignKey(Metric, on_delete=models.CASCADE, related_name="+")
    description = models.TextField()
    resolved = models.BooleanField(default=False)
    history = GovernedHistoricalRecords()

    objects = ReferenceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(metric_a=models.F("metric_b")),
                name="conflict_two_metrics",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric_a.key} ⟷ {self.metric_b.key}"


class TransformationStep(models.Model):
    """One documented step from a source to a metric (M3.2 lineage)."""

    metric = models.ForeignKey(
        Metric, on_delete=models.CASCADE, related_name="transformations"
    )
    order = models.PositiveIntegerField(default=1)
    source = models.ForeignKey(
        DataSource, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    description = models.TextField(blank=True)
    documented = models.BooleanField(default=False)
    history = GovernedHistoricalRecords()

    objects = MetricScopedQuerySet.as_manager()

    class Meta:
        ordering = ["metric__key", "order"]

    def __str__(self) -> str:
        return f"{self.metric.key} step {self.order}"


class MethodologyVersion(models.Model):
    """One version of a metric's methodology document (M3.6, M8.2).

    Invariants: ``version`` is the metric's ``methodology_version`` the
    document describes (the number every observation records); at most one
    *draft* per metric, which the metric's steward or owner may edit; a draft
    becomes approved only when the change request that produces its version is
    approved or the metric is activated (see :mod:`metrics.methodology`), and
    an approved version is immutable: a change is a new draft, hence a new
    version. ``definition`` snapshots the governed fields at approval.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"

    metric = models.ForeignKey(
        Metric, on_delete=models.CASCADE, related_name="methodology_versions"
    )
    version = models.PositiveIntegerField()
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.APPROVED, editable=False
    )
    description = models.TextField(
        "definition",
        blank=True,
        help_text="What the metric measures and why, in plain words.",
    )
    formula = models.TextField(
        blank=True, help_text="How the value is calculated (notation or steps)."
    )
    sources = models.TextField(
        blank=True, help_text="Where the data comes from and how it is collected."
    )
    transformations = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="Lineage steps from the sources to the metric (snapshot).",
    )
    owner = models.ForeignKey(
        "governance.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who is accountable for this methodology.",
    )
    definition = models.JSONField(
        default=dict,
        editable=False,
        help_text="Snapshot of the governed fields at this version.",
    )
    prepared_by_id = models.BigIntegerField(null=True, blank=True, editable=False)
    approved_by_id = models.BigIntegerField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    change_request = models.ForeignKey(
        "metrics.ChangeRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    proposal = models.ForeignKey(
        "governance.Proposal",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The review board's approval this version was activated under.",
    )
    history = GovernedHistoricalRecords()

    objects = MetricScopedQuerySet.as_manager()

    class Meta:
        ordering = ["metric__key", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "version"], name="methodology_unique_version"
            ),
            models.UniqueConstraint(
                fields=["metric"],
                condition=models.Q(status="draft"),
                name="methodology_one_draft_per_metric",
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft")
                | models.Q(approved_at__isnull=False),
                name="methodology_approved_has_date",
            ),
        ]

    def __str__(self) -> str:
        suffix = " (draft)" if self.status == self.Status.DRAFT else ""
        return f"{self.metric.key} v{self.version}{suffix}"


class ChangeRequest(models.Model):
    """A proposed change to governed fields of an active metric (M3.6).

    Invariant: applied only once approved by the metric's steward (or the
    department steward); applying produces a new methodology version.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        APPLIED = "applied", "Applied"

    metric = models.ForeignKey(
        Metric, on_delete=models.PROTECT, related_name="change_requests"
    )
    changes = models.JSONField(help_text="Governed field → proposed value.")
    reason = models.TextField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    requested_by_id = models.BigIntegerField(null=True, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by_id = models.BigIntegerField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    history = GovernedHistoricalRecords()

    objects = ChangeRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"Change request #{self.pk} for {self.metric.key} ({self.get_status_display()})"


class StewardshipDispute(models.Model):
    """Conflicting metric definitions raised for a steward's resolution (M3.3)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ESCALATED = "escalated", "Escalated"
        RESOLVED = "resolved", "Resolved"

    title = models.CharField(max_length=200)
    metrics = models.ManyToManyField(Metric, related_name="disputes")
    description = models.TextField()
    raised_by_id = models.BigIntegerField(null=True, blank=True)
    assigned_steward = models.ForeignKey(
        "governance.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.OPEN
    )
    resolution = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    history = GovernedHistoricalRecords()

    objects = ReferenceQuerySet.as_manager()

    def __str__(self) -> str:
        return self.title


class FieldName(models.Model):
    """Canonical field name of the naming standard (M2.5)."""

    name = models.CharField(
        max_length=60,
        unique=True,
        validators=[
            RegexValidator(
                r"^[a-z][a-z0-9_]*$", "Canonical names are lower snake case."
            )
        ],
    )
    definition = models.TextField()
    data_type = models.CharField(max_length=20, default="text")
    history = GovernedHistoricalRecords()

    objects = ReferenceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FieldAlias(models.Model):
    """A tool's own name for a canonical field (e.g. Jira's ``assignee_id`` → ``person``)."""

    field = models.ForeignKey(
        FieldName, on_delete=models.CASCADE, related_name="aliases"
    )
    system = models.CharField(max_length=16, choices=DataSource.System.choices)
    alias = models.CharField(max_length=80)
    history = GovernedHistoricalRecords()

    objects = ReferenceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["system", "alias"], name="alias_unique_per_system"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system}:{self.alias} → {self.field.name}"
