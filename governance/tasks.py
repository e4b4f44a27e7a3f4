"""django-q2 task wrappers for the governance kernel.

Tasks take identifiers, never plaintext, and are idempotent.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from governance.audit import chain, events


def verify_audit_chain() -> dict[str, Any]:
    """Nightly: verify the audit chain and record the outcome (with the head)."""
    report = chain.verify()
    result = {
        "ok": report.ok,
        "links": report.links,
        "head": report.head,
        "first_break": str(report.breaks[0]) if report.breaks else None,
    }
    with transaction.atomic():
        events.record("audit.verified", object_type="governance.auditlink", data=result)
    return result


def clear_expired_sessions() -> None:
    """Daily: delete expired sessions (they are already refused; this removes the rows)."""
    from django.core.management import call_command

    call_command("clearsessions")


def purge_expired() -> dict[str, Any]:
    """Daily: purge records past their retention period (never held ones)."""
    from governance import retention

    report = retention.purge_expired(actor=None)
    return {"removed": report.removed, "at": report.at.isoformat()}


def render_report_job(job_id: int) -> str:
    """Render a queued report job (an audit pack) and record its progress."""
    from governance.reports.jobs import render_job

    return str(render_job(job_id))


def fail_stale_report_jobs() -> int:
    """Hourly: report jobs no worker will finish any more are marked failed."""
    from governance.reports.jobs import fail_stale_jobs

    return fail_stale_jobs()
