"""django-q2 task wrappers for appeals. Idempotent; identifiers only."""

from __future__ import annotations

import datetime
from typing import Any

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
