"""Audit packs rendered in the background (R.ASYNC): request, render, download.

``request_audit_pack()`` validates the request, creates a :class:`ReportJob`
and enqueues :func:`render_job` on commit (identifiers only in the queue).
``render_job()`` is the django-q2 task body: it renders the pack *as the
requester* (their row scope, clearance and pseudonymisation), reports progress
per chunk into the job row, and issues the file (SHA-256 in the audit trail).
A failed attempt is re-queued until ``REPORT_JOB_ATTEMPTS``; then the job is
marked failed with the error. The renderer writes to a temporary file and
renames it into place, so a job never leaves a half-written file behind.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance import labels, permissions
from governance.audit import events
from governance.jobs import enqueue_on_commit

from . import sections
from .integrity import sha256_file
from .issue import issue_report
from .render import ReportSpec

logger = logging.getLogger(__name__)

TASK = "governance.tasks.render_report_job"
#: Render attempts per job (each a fresh render); the last failure is reported.
DEFAULT_ATTEMPTS = 3
#: Progress is written at most this often (seconds), plus the first and last chunk.
PROGRESS_INTERVAL = 0.5


def report_root() -> Path:
    return Path(
        getattr(settings, "REPORT_ROOT", Path(settings.BASE_DIR) / "var" / "reports")
    )


def max_attempts() -> int:
    return int(getattr(settings, "REPORT_JOB_ATTEMPTS", DEFAULT_ATTEMPTS))


def _job_model() -> Any:
    from governance.models import ReportJob

    return ReportJob


@transaction.atomic
def request_audit_pack(
    *,
    actor: Any,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    section_keys: list[str] | None = None,
) -> Any:
    """Queue an audit pack for ``actor``; raises PermissionDenied / ValidationError."""
    ReportJob = _job_model()
    if not sections.may_request(actor):
        raise PermissionDenied("You may not request audit packs.")
    keys = list(dict.fromkeys(section_keys or []))
    known = set(sections.keys())
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValidationError(
            {
                "sections": f"Unknown section(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
            }
        )
    allowed = {s.key for s in sections.selectable(actor)}
    refused = [k for k in keys if k not in allowed]
    if refused:
        raise PermissionDenied(f"You may not receive section(s): {', '.join(refused)}.")
    if date_from and date_to and date_from > date_to:
        raise ValidationError({"date_to": "The period ends before it starts."})
    job = ReportJob(
        requested_by=actor,
        sections=keys or sorted(allowed, key=sections.keys().index),
        date_from=date_from,
        date_to=date_to,
        pseudonymised=sections.pseudonymise_for(actor),
    )
    job.full_clean()
    job.save()
    events.record(
        "report.requested",
        actor=actor,
        target=job,
        data={
            "report_type": job.report_type,
            "sections": job.sections,
            "from": date_from.isoformat() if date_from else None,
            "to": date_to.isoformat() if date_to else None,
            "pseudonymised": job.pseudonymised,
        },
    )
    enqueue_on_commit(TASK, job.pk, task_name=f"report-job-{job.pk}")
    return job


def _claim(job_id: int) -> Any:
    """Mark the job rendering and count the attempt; None if nothing to do."""
    ReportJob = _job_model()
    with transaction.atomic():
        job = (
            ReportJob.objects.select_for_update()
            .select_related("requested_by")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.status in (
            ReportJob.Status.DONE,
            ReportJob.Status.FAILED,
        ):
            return None  # idempotent: a redelivered task finds the job finished
        if job.attempts >= max_attempts():
            # A worker died or timed out on the last attempt (django-q2 redelivers).
            _fail(
                job,
                f"gave up after {job.attempts} attempt(s): {job.error or 'worker lost'}",
            )
            return None
        job.attempts += 1
        job.status = ReportJob.Status.RENDERING
        job.chunks_done = 0
        job.started_at = timezone.now()
        job.save(update_fields=["attempts", "status", "chunks_done", "started_at"])
    return job


def _fail(job: Any, message: str) -> None:
    ReportJob = _job_model()
    job.status = ReportJob.Status.FAILED
    job.error = message[:2000]
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    events.record(
        "report.failed",
        actor=None,
        target=job,
        data={"attempts": job.attempts, "error": job.error[:500]},
    )


def render_job(job_id: int) -> str:
    """The task body. Returns the job's final (or interim) status."""
    ReportJob = _job_model()
    job = _claim(job_id)
    if job is None:
        return "skipped"
    user = job.requested_by
    last = [0.0]

    def progress(done: int, total: int | None) -> None:
        now = time.monotonic()
        if (
            total is not None
            and done < total
            and now - last[0] < PROGRESS_INTERVAL
            and done > 1
        ):
            return
        last[0] = now
        ReportJob.objects.filter(pk=job.pk).update(chunks_done=done, chunks_total=total)

    file_name = f"audit-pack-{job.pk}-{uuid.uuid4().hex[:12]}.pdf"
    try:
        if not user.is_active:
            raise PermissionDenied("the requester's account is no longer active")
        # Labels in the pack name people and accounts as the requester may
        # see them (governance.labels), as on their admin pages.
        with labels.viewing(user):
            pack = sections.build_audit_pack(
                viewer=user,
                date_from=job.date_from,
                date_to=job.date_to,
                section_keys=job.sections or None,
                pseudonymise=job.pseudonymised,
            )
        ReportJob.objects.filter(pk=job.pk).update(
            chunks_done=0, chunks_total=len(pack.chunks) + 1
        )
        spec = ReportSpec(
            report_type="audit_pack",
            title=_title(job),
            author=sections.SectionContext(
                viewer=user,
                date_from=None,
                date_to=None,
                pseudonymise=job.pseudonymised,
            ).user(user.pk, user.get_username()),
            subject="Governance audit pack",
            classification=pack.classification,
            keywords=("audit pack", *pack.sections),
        )
        issued = issue_report(
            spec,
            pack.chunks,
            data=pack.data,
            out=report_root() / file_name,
            actor=user,
            target=job,
            progress=progress,
        )
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
        message = f"{type(exc).__name__}: {exc}"
        # The log names the failure's type only: a message can quote data the
        # log's readers may not see (the requester reads it on the job).
        logger.warning(
            "report job %s attempt %s failed: %s",
            job.pk,
            job.attempts,
            type(exc).__name__,
        )
        permanent = isinstance(
            exc, (PermissionDenied, PermissionError, ValueError, KeyError)
        )
        if job.attempts >= max_attempts() or permanent:
            _fail(job, message)
            return ReportJob.Status.FAILED
        job.status = ReportJob.Status.QUEUED
        job.error = f"attempt {job.attempts} failed, retrying: {message}"[:2000]
        job.save(update_fields=["status", "error"])
        with transaction.atomic():
            enqueue_on_commit(
                TASK, job.pk, task_name=f"report-job-{job.pk}-{job.attempts + 1}"
            )
        return ReportJob.Status.QUEUED
    rendered = issued.rendered
    job.status = ReportJob.Status.DONE
    job.file_name = file_name
    job.sha256 = rendered.sha256
    job.pages = rendered.pages
    job.size = rendered.size
    job.chunks_done = job.chunks_total = rendered.chunks + 1
    job.error = ""
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "file_name",
            "sha256",
            "pages",
            "size",
            "chunks_done",
            "chunks_total",
            "error",
            "finished_at",
        ]
    )
    return ReportJob.Status.DONE


def fail_stale_jobs(*, now: datetime.datetime | None = None) -> int:
    """Report jobs whose worker died on the last delivery (django-q2 stops
    redelivering after ``max_attempts``) would stay "rendering" or "queued"
    forever: mark those older than every possible retry as failed."""
    ReportJob = _job_model()
    q = settings.Q_CLUSTER
    horizon = (now or timezone.now()) - datetime.timedelta(
        seconds=int(q.get("retry", 360)) * (int(q.get("max_attempts", 3)) + 1)
        + int(q.get("timeout", 300))
    )
    stale = ReportJob.objects.filter(
        status__in=[ReportJob.Status.QUEUED, ReportJob.Status.RENDERING],
        created_at__lt=horizon,
    ).filter(Q(started_at__isnull=True) | Q(started_at__lt=horizon))
    count = 0
    for job_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            job = ReportJob.objects.select_for_update().get(pk=job_id)
            if not job.running:
                continue
            _fail(
                job,
                f"no worker finished the job after {job.attempts} attempt(s)"
                + (f"; last error: {job.error}" if job.error else ""),
            )
            count += 1
    return count


def _title(job: Any) -> str:
    start = job.date_from.isoformat() if job.date_from else "beginning"
    end = job.date_to.isoformat() if job.date_to else job.created_at.date().isoformat()
    return f"Audit pack {start} to {end}"


def can_download(user: Any, job: Any) -> bool:
    """The requester (the pack is cut to their access) or a superuser."""
    if not permissions._active(user):
        return False
    if not _job_model().objects.visible_to(user).filter(pk=job.pk).exists():
        return False
    return bool(user.is_superuser or job.requested_by_id == user.pk)


def open_for_download(*, actor: Any, job: Any) -> Path:
    """Check access and integrity, log the download, return the file's path."""
    ReportJob = _job_model()
    if not can_download(actor, job):
        raise PermissionDenied("You may not download this report.")
    if job.status != ReportJob.Status.DONE or not job.file_name:
        raise ValidationError("The report is not ready.")
    path = report_root() / job.file_name
    if not path.is_file():
        raise ValidationError("The report file is missing.")
    if sha256_file(path) != job.sha256:
        events.record(
            "report.tampered", actor=actor, target=job, data={"sha256": job.sha256}
        )
        raise ValidationError("The report file does not match its recorded SHA-256.")
    with transaction.atomic():
        events.record(
            "report.downloaded",
            actor=actor,
            target=job,
            data={"sha256": job.sha256, "report_type": job.report_type},
        )
    return path
