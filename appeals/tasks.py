"""django-q2 task wrappers for appeals. Idempotent; identifiers only."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from appeals import services
from appeals.models import Appeal
from appeals.workflow import REMIND_DAYS_BEFORE, SLA_DAYS, State

#: Stages the SLA job watches (every stage with a deadline).
WATCHED = [s.value for s in SLA_DAYS]


def sla_sweep(now: datetime.datetime | None = None) -> dict[str, Any]:
    """Remind before a stage's deadline; at the deadline escalate (before a
    decision) or flag the appeal as overdue. Each appeal is handled once per
    stage for each of the two (``reminded_at`` / ``overdue_at``)."""
    now = now or timezone.now()
    reminded = escalated = flagged = 0
    watched = Appeal.objects.filter(status__in=WATCHED)
    for appeal in watched.filter(stage_deadline__lte=now, overdue_at__isnull=True):
        before = appeal.status
        appeal = services.sla_breached(appeal=appeal, now=now)
        if appeal.status == State.ESCALATED and before != State.ESCALATED:
            escalated += 1
        else:
            flagged += 1
    soon = now + datetime.timedelta(days=REMIND_DAYS_BEFORE)
    for appeal in watched.filter(
        stage_deadline__gt=now, stage_deadline__lte=soon, reminded_at__isnull=True
    ):
        services.remind(appeal=appeal, now=now)
        reminded += 1
    return {"reminded": reminded, "escalated": escalated, "flagged": flagged}


def _managers() -> list[Any]:
    from governance.models import User
    from governance.roles import Role

    return list(
        User.objects.filter(is_active=True)
        .filter(
            Q(groups__name__in=[Role.HR.value, Role.COMPLIANCE.value])
            | Q(is_superuser=True)
        )
        .distinct()
    )


def notify(appeal_id: Any, kind: str) -> int:
    """Task: mail whoever owns the appeal's next step ("reminder", "overdue",
    "escalated") or the appellant ("decided"). Mails carry the reference, the
    stage, the deadline and a link, never grounds, rationale or names."""
    appeal = (
        Appeal.objects.select_related("reviewer", "appellant__user")
        .filter(pk=appeal_id)
        .first()
    )
    if appeal is None:
        return 0
    base = getattr(settings, "PORTAL_BASE_URL", "").rstrip("/")
    due = f"{timezone.localtime(appeal.stage_deadline):%Y-%m-%d %H:%M}"
    if kind == "decided":
        user = getattr(appeal.appellant, "user", None)
        recipients = [user] if user is not None else []
        subject = f"Appeal {appeal.reference}: a decision was made"
        link = base + reverse("appeals:detail", args=[appeal.pk])
        body = (
            f"Your appeal {appeal.reference} was decided. Read the decision:\n{link}\n"
        )
    else:
        stage = appeal.get_status_display().lower()
        owner_is_reviewer = (
            appeal.status == State.UNDER_REVIEW and appeal.reviewer is not None
        )
        recipients = [appeal.reviewer] if owner_is_reviewer else _managers()
        if kind == "overdue" and owner_is_reviewer:
            recipients += _managers()
        what = {
            "reminder": f"is due by {due}",
            "overdue": f"missed its deadline ({due})",
            "escalated": f"went to the review board (due by {due})",
        }.get(kind, f"needs attention (due by {due})")
        subject = f"Appeal {appeal.reference} ({stage}) {what}"
        link = base + reverse("admin:appeals_appeal_change", args=[appeal.pk])
        body = f"The next step of appeal {appeal.reference} ({stage}) {what}.\n{link}\n"
    sent = 0
    for user in {u.pk: u for u in recipients if u is not None}.values():
        if user.email and user.is_active:
            sent += send_mail(subject, body, None, [user.email], fail_silently=False)
    return sent
