"""Incentive safeguards (SPEC M5): incentive plans, gaming findings, peer-review cycles."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from governance.audit.history import GovernedHistoricalRecords
from metrics.querysets import (
    GamingFindingQuerySet,
    IncentivePlanQuerySet,
    PeerReviewAssignmentQuerySet,
    PeerReviewCycleQuerySet,
)


class IncentivePlan(models.Model):
    """A team's incentive plan for a period (M5.1, M5.2).

    Invariants: a plan is activated only through
    :func:`metrics.incentives.plan_activate`, which requires component weights
    summing to exactly 100 % and, for a team with high interdependence, at
    least the configured minimum share of weight on team-level metrics. An
    active plan is frozen (a new plan replaces it). One plan per team and
    period start.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"

    team = models.ForeignKey(
        "governance.Team", on_delete=models.PROTECT, related_name="incentive_plans"
    )
    name = models.CharField(max_length=120)
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    activated_by_id = models.BigIntegerField(null=True, blank=True, editable=False)
    history = GovernedHistoricalRecords()

    objects = IncentivePlanQuerySet.as_manager()

    class Meta:
        ordering = ["-period_start", "team__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "period_start"], name="incentive_plan_once_per_period"
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="incentive_plan_period_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.team}, {self.period_start:%Y-%m-%d})"


class IncentiveComponent(models.Model):
    """One weighted metric of an incentive plan.

    Invariant: the component's level matches its metric (an individual-level
    metric is an individual component; team and organisation metrics are
    team components), so the collaboration check can't be fooled by a label.
    """

    class Level(models.TextChoices):
        INDIVIDUAL = "individual", "Individual"
        TEAM = "team", "Team"

    plan = models.ForeignKey(
        IncentivePlan, on_delete=models.CASCADE, related_name="components"
    )
    metric = models.ForeignKey(
        "metrics.Metric", on_delete=models.PROTECT, related_name="+"
    )
    level = models.CharField(max_length=10, choices=Level.choices)
    weight = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(100)],
        help_text="Percent of the plan's incentive weight.",
    )
    history = GovernedHistoricalRecords()

    objects = IncentivePlanQuerySet.as_manager()

    class Meta:
        ordering = ["plan", "-weight"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "metric"], name="incentive_component_metric_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric_id}: {self.weight} % ({self.level})"

    def clean(self) -> None:
        if self.metric_id is None or not self.level:
            return
        expected = (
            self.Level.INDIVIDUAL
            if self.metric.level == "individual"
            else self.Level.TEAM
        )
        if self.level != expected:
            raise ValidationError(
                {
                    "level": f"{self.metric.key} is a {self.metric.level}-level metric: "
                    f"its component level is “{expected}”."
                }
            )


class GamingFinding(models.Model):
    """A pattern in a metric worth a non-punitive review (M5.3).

    Invariants: a finding is about a metric (and the team or organisation it
    was measured for), never about a person: it has no relation to a person
    and its text holds numbers only. It is reviewed, never sanctioned; the
    outcomes are about the process (no action, a process fix, a coaching
    conversation). ``fingerprint`` makes detection idempotent.
    """

    class Kind(models.TextChoices):
        COUNTER_METRIC = "counter_metric", "Counter-metric pair"
        END_OF_PERIOD_SPIKE = "end_of_period_spike", "End-of-period spike"
        THRESHOLD_BUNCHING = "threshold_bunching", "Bunching just past a threshold"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        REVIEWED = "reviewed", "Reviewed"

    class Outcome(models.TextChoices):
        NO_ACTION = "no_action", "No action"
        PROCESS_FIX = "process_fix", "Process fix"
        COACHING = "coaching", "Coaching conversation"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    metric = models.ForeignKey(
        "metrics.Metric", on_delete=models.PROTECT, related_name="gaming_findings"
    )
    counter_metric = models.ForeignKey(
        "metrics.Metric",
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
        help_text="The team measured (empty: the organisation).",
    )
    fingerprint = models.CharField(max_length=64, unique=True, editable=False)
    evidence = models.JSONField(default=dict)
    summary = models.TextField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    outcome = models.CharField(
        max_length=12, choices=Outcome.choices, blank=True, default=""
    )
    review_note = models.TextField(blank=True)
    reviewed_by_id = models.BigIntegerField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    history = GovernedHistoricalRecords()

    objects = GamingFindingQuerySet.as_manager()

    class Meta:
        ordering = ["status", "-detected_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="open", outcome="")
                | (models.Q(status="reviewed") & ~models.Q(outcome="")),
                name="gaming_finding_outcome_when_reviewed",
            ),
        ]

    def __str__(self) -> str:
        where = self.team.name if self.team_id and self.team else "organisation"
        return f"{self.get_kind_display()}: {self.metric.key} ({where})"


class PeerReviewCycle(models.Model):
    """A rotating peer-review cycle for a department's people (M5.5).

    Invariant: assignments are generated by
    :func:`metrics.peer_reviews.generate_assignments` (no self, no direct
    manager, no repeat pair within the last N cycles, balanced load) and
    frozen once generated.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ASSIGNED = "assigned", "Assigned"

    name = models.CharField(
        max_length=40, help_text="Review cycle, e.g. 2026-H1 (as in peer feedback)."
    )
    department = models.ForeignKey(
        "governance.Department", on_delete=models.PROTECT, related_name="+"
    )
    reviewers_per_person = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    starts_on = models.DateField()
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    no_repeat_cycles = models.PositiveSmallIntegerField(
        null=True, editable=False, help_text="N used when assignments were generated."
    )
    generated_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = GovernedHistoricalRecords()

    objects = PeerReviewCycleQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_on", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "name"], name="peer_cycle_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.department})"


class PeerReviewAssignment(models.Model):
    """One reviewer → reviewee pair of a cycle (written only by the generator)."""

    cycle = models.ForeignKey(
        PeerReviewCycle, on_delete=models.CASCADE, related_name="assignments"
    )
    reviewer = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="+"
    )
    reviewee = models.ForeignKey(
        "governance.Person", on_delete=models.PROTECT, related_name="+"
    )
    history = GovernedHistoricalRecords()

    objects = PeerReviewAssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["cycle", "reviewee__employee_id", "reviewer__employee_id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(reviewer=models.F("reviewee")),
                name="peer_assignment_not_self",
            ),
            models.UniqueConstraint(
                fields=["cycle", "reviewer", "reviewee"], name="peer_assignment_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cycle.name}: {self.reviewer} → {self.reviewee}"
