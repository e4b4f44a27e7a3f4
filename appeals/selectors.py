"""Composed reads for views, reports and the audit pack."""

from __future__ import annotations

import datetime
import statistics
from collections import Counter
from typing import Any

from django.db.models import Q, QuerySet

from appeals import permissions as appeal_permissions
from appeals.models import Appeal, Evidence, StageRecord
from appeals.workflow import OPEN_STATES
from metrics.models import Evaluation, Observation


def evaluations_on_hold() -> QuerySet[Evaluation]:
    """Evaluations that must not be used downstream: an appeal against them
    (or against one of the person's values in their period) is open."""
    open_appeals = Appeal.objects.filter(status__in=[s.value for s in OPEN_STATES])
    direct = open_appeals.filter(evaluation__isnull=False).values("evaluation_id")
    q = Q(pk__in=direct)
    for person_id, start, end in open_appeals.filter(
        observation__isnull=False
    ).values_list(
        "appellant_id", "observation__period_start", "observation__period_end"
    ):
        q |= Q(person_id=person_id, period_start__lte=end, period_end__gte=start)
    return Evaluation.objects.filter(q)


def is_on_hold(evaluation: Evaluation) -> bool:
    return evaluations_on_hold().filter(pk=evaluation.pk).exists()


def own_appeals(*, person: Any) -> list[Appeal]:
    return list(
        Appeal.objects.filter(appellant_id=person.pk)
        .select_related("evaluation", "observation__metric", "appellant")
        .order_by("-filed_at")
    )


def appealable(*, person: Any) -> dict[str, list[Any]]:
    """The person's own evaluations and current values they may appeal."""
    busy = Appeal.objects.filter(status__in=[s.value for s in OPEN_STATES])
    evaluations = list(
        Evaluation.objects.filter(person_id=person.pk)
        .exclude(pk__in=busy.filter(evaluation__isnull=False).values("evaluation_id"))
        .order_by("-period_start")[:50]
    )
    observations = list(
        Observation.objects.filter(person_id=person.pk)
        .exclude(status=Observation.Status.SUPERSEDED)
        .exclude(pk__in=busy.filter(observation__isnull=False).values("observation_id"))
        .select_related("metric")
        .order_by("-period_start", "-id")[:100]
    )
    return {"evaluations": evaluations, "observations": observations}


def appeal_for(*, viewer: Any, pk: Any) -> Appeal | None:
    """One appeal the viewer may see (appellant, reviewer, managers), or None."""
    return (
        Appeal.objects.visible_to(viewer, "view")
        .select_related("appellant", "evaluation", "observation__metric", "reviewer")
        .filter(pk=pk)
        .first()
    )


def evidence_for(*, viewer: Any, pk: Any) -> Evidence | None:
    """A file the viewer may download: only for parties to its appeal."""
    item = Evidence.objects.select_related("appeal").filter(pk=pk).first()
    if item is None or not appeal_permissions.is_party(viewer, item.appeal):
        return None
    return item


def appeal_outcomes(
    *, viewer: Any, date_from: datetime.date, date_to: datetime.date
) -> dict[str, Any]:
    """Aggregates for the audit pack: appeals filed in [date_from, date_to]
    that the viewer may see. Plain JSON-able data, no personal values."""
    appeals = Appeal.objects.visible_to(viewer, "view").filter(
        filed_at__date__gte=date_from, filed_at__date__lte=date_to
    )
    rows = list(appeals.values("pk", "status", "outcome", "filed_at", "decided_at"))
    outcomes = Counter(r["outcome"] or "pending" for r in rows)
    statuses = Counter(r["status"] for r in rows)
    days = sorted(
        (r["decided_at"] - r["filed_at"]).total_seconds() / 86400
        for r in rows
        if r["decided_at"] is not None
    )
    sla: dict[str, dict[str, int]] = {}
    for stage, deadline, left in StageRecord.objects.filter(
        appeal_id__in=[r["pk"] for r in rows], deadline__isnull=False
    ).values_list("stage", "deadline", "left_at"):
        bucket = sla.setdefault(stage, {"met": 0, "missed": 0, "open": 0})
        if left is None or deadline is None:
            bucket["open"] += 1
        elif left <= deadline:
            bucket["met"] += 1
        else:
            bucket["missed"] += 1
    return {
        "period": {"from": date_from.isoformat(), "to": date_to.isoformat()},
        "total": len(rows),
        "by_outcome": {
            k: outcomes.get(k, 0) for k in (*Appeal.Outcome.values, "pending")
        },
        "by_status": dict(sorted(statuses.items())),
        "sla_by_stage": dict(sorted(sla.items())),
        "median_days_to_decision": round(statistics.median(days), 2) if days else None,
        "decided": len(days),
    }
