"""Background report jobs (R.ASYNC): an audit pack requested in the admin,
rendered by django-q2, downloaded by its requester."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from governance.querysets import GovernedQuerySet


class ReportJobQuerySet(GovernedQuerySet):
    """Organisation-wide roles with the view permission see every job (its
    metadata, never its content); everyone else sees their own."""

    def scope_q(self, user: Any, action: str) -> Q:
        return Q(requested_by_id=user.pk)


class ReportJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    report_type = models.CharField(max_length=40, default="audit_pack", editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="report_jobs",
        editable=False,
    )
    sections = models.JSONField(default=list, blank=True, editable=False)
    date_from = models.DateField(null=True, blank=True, editable=False)
    date_to = models.DateField(null=True, blank=True, editable=False)
    pseudonymised = models.BooleanField(default=True, editable=False)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, editable=False
    )
    chunks_done = models.PositiveIntegerField(default=0, editable=False)
    chunks_total = models.PositiveIntegerField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    error = models.TextField(blank=True, editable=False)
    file_name = models.CharField(
        max_length=200,
        blank=True,
        editable=False,
        help_text="File name under settings.REPORT_ROOT (never served directly).",
    )
    sha256 = models.CharField(max_length=64, blank=True, editable=False)
    pages = models.PositiveIntegerField(null=True, blank=True, editable=False)
    size = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ReportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "report job"
        constraints = [
            models.CheckConstraint(
                condition=Q(date_from__isnull=True)
                | Q(date_to__isnull=True)
                | Q(date_from__lte=models.F("date_to")),
                name="reportjob_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_report_type_display()} #{self.pk}"

    def get_report_type_display(self) -> str:
        return self.report_type.replace("_", " ").capitalize()

    @property
    def running(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RENDERING)

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.chunks_total:
            return 0
        return min(99, int(100 * self.chunks_done / self.chunks_total))
