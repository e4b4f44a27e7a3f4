"""Data stewardship: disputes over metric definitions (M3.3) and metrics that
have gone stale or lost their owner (M1.5).

Disputes follow one recorded workflow::

    raise ─→ open (assigned to the department's steward) ─→ resolved
                   └─→ escalated (to organisation-wide roles) ─→ resolved

Every step is a service: keyword-only, in one transaction, with a history row
(reason required) and an audit event (``dispute.*``). Who may act:

* raise — anyone with ``add_stewardshipdispute`` who can see the metrics;
* assign — an organisation-wide role, or a steward of a department whose metric
  is disputed; the assignee must be the steward of one of those departments;
* escalate — the assigned steward, a steward of a disputed metric's department,
  or an organisation-wide role;
* resolve — the assigned steward (or an organisation-wide role) while open;
  only an organisation-wide role once escalated.

Each of them also needs ``change_stewardshipdispute``, so read-only roles
(auditors) never act.

:func:`flag_stale_and_orphaned` is the daily freshness check: a metric in use
with no valid data within its update frequency plus grace days is stale
(``stale_since``); one whose owner has left or was erased is orphaned
(``orphaned_since``). Flags are set when a condition starts and cleared when it
ends; each change is recorded, and the steward is mailed after commit.
"""

from __future__ import annotations

import datetime
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from governance import permissions
from governance.audit import events
from governance.models import Person
from governance.services import save_governed
from metrics.models import MethodologyVersion, Metric, Observation, StewardshipDispute

__all__ = [
    "assign_dispute",
    "escalate_dispute",
    "flag_stale_and_orphaned",
    "freshness",
    "raise_dispute",
    "resolve_dispute",
]


# -- disputes -----------------------------------------------------------------------


def _require(text: str, field: str, message: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({field: message})
    return text


def _department_stewards(dispute: StewardshipDispute) -> set[Any]:
    return set(
        dispute.metrics.exclude(department__steward__isnull=True).values_list(
            "department__steward_id", flat=True
        )
    )


def _may_change(actor: Any) -> bool:
    return actor is None or permissions.has_model_perm(
        actor, StewardshipDispute, "change"
    )


def _is_org(actor: Any) -> bool:
    return actor is None or permissions.has_org_scope(actor)


def _person_id(actor: Any) -> Any:
    person = permissions.person_of(actor)
    return None if person is None else person.pk


def _locked(dispute: StewardshipDispute) -> StewardshipDispute:
    return StewardshipDispute.objects.select_for_update().get(pk=dispute.pk)


def _record(action: str, dispute: StewardshipDispute, actor: Any, reason: str) -> None:
    events.record(
        f"dispute.{action}",
        actor=actor,
        target=dispute,
        reason=reason,
        data={
            "status": dispute.status,
            "assigned_steward": str(dispute.assigned_steward_id or ""),
            "metrics": sorted(dispute.metrics.values_list("key", flat=True)),
        },
    )


@transaction.atomic
def raise_dispute(
    *,
    actor: Any,
    title: str,
    description: str,
    metrics: Sequence[Metric],
) -> StewardshipDispute:
    """Raise a dispute over conflicting definitions; it goes to the steward of
    the (first) disputed metric's department."""
    if actor is not None and not permissions.has_model_perm(
        actor, StewardshipDispute, "add"
    ):
        raise PermissionDenied("You may not raise stewardship disputes.")
    title = _require(title, "title", "Give the dispute a title.")
    description = _require(
        description, "description", "Describe the conflicting definitions."
    )
    metric_ids = {m.pk for m in metrics}
    if not metric_ids:
        raise ValidationError({"metrics": "Name the metric(s) in dispute."})
    visible = (
        Metric.objects.all()
        if actor is None
        else Metric.objects.visible_to(actor, "view")
    )
    found = list(
        visible.filter(pk__in=metric_ids).select_related("department").order_by("key")
    )
    if len(found) != len(metric_ids):
        raise PermissionDenied("You may not see every metric named in this dispute.")
    steward_id = next(
        (m.department.steward_id for m in found if m.department.steward_id), None
    )
    dispute = StewardshipDispute(
        title=title,
        description=description,
        raised_by_id=getattr(actor, "pk", None),
        assigned_steward_id=steward_id,
        status=StewardshipDispute.Status.OPEN,
    )
    save_governed(dispute, actor=actor, reason=f"dispute raised: {title}")
    dispute.metrics.set(found)
    _record("raised", dispute, actor, description)
    return dispute


@transaction.atomic
def assign_dispute(
    *,
    actor: Any,
    dispute: StewardshipDispute,
    steward: Person | None = None,
    reason: str = "assigned to the department steward",
) -> StewardshipDispute:
    """(Re)assign to a steward of a disputed metric's department (default: the first)."""
    current = _locked(dispute)
    if current.status == StewardshipDispute.Status.RESOLVED:
        raise ValidationError("This dispute is resolved.")
    stewards = _department_stewards(current)
    if not _may_change(actor) or not (_is_org(actor) or _person_id(actor) in stewards):
        raise PermissionDenied("You may not assign this dispute.")
    if steward is None:
        first = (
            current.metrics.exclude(department__steward__isnull=True)
            .order_by("key")
            .values_list("department__steward_id", flat=True)
            .first()
        )
        if first is None:
            raise ValidationError(
                "No department of the disputed metrics has a data steward: appoint one first."
            )
        steward_id = first
    else:
        if steward.pk not in stewards:
            raise ValidationError(
                {
                    "steward": "Assign the dispute to the steward of a department "
                    "whose metric is disputed."
                }
            )
        steward_id = steward.pk
    current.assigned_steward_id = steward_id
    reason = _require(reason, "reason", "Say why the dispute is (re)assigned.")
    save_governed(current, actor=actor, reason=reason)
    _record("assigned", current, actor, reason)
    return current


@transaction.atomic
def escalate_dispute(
    *, actor: Any, dispute: StewardshipDispute, reason: str
) -> StewardshipDispute:
    """Escalate an open dispute to organisation-wide roles."""
    reason = _require(reason, "reason", "Say why the dispute is escalated.")
    current = _locked(dispute)
    if current.status != StewardshipDispute.Status.OPEN:
        raise ValidationError(
            f"Only an open dispute can be escalated; this one is {current.get_status_display().lower()}."
        )
    who = _person_id(actor)
    allowed = _is_org(actor) or (
        who is not None
        and (who == current.assigned_steward_id or who in _department_stewards(current))
    )
    if not _may_change(actor) or not allowed:
        raise PermissionDenied("You may not escalate this dispute.")
    current.status = StewardshipDispute.Status.ESCALATED
    save_governed(current, actor=actor, reason=f"escalated: {reason}")
    _record("escalated", current, actor, reason)
    return current


@transaction.atomic
def resolve_dispute(
    *, actor: Any, dispute: StewardshipDispute, resolution: str
) -> StewardshipDispute:
    """Record the resolution. Open: the assigned steward decides; escalated:
    an organisation-wide role does."""
    resolution = _require(resolution, "resolution", "Record the resolution.")
    current = _locked(dispute)
    if current.status == StewardshipDispute.Status.RESOLVED:
        raise ValidationError("This dispute is already resolved.")
    if current.status == StewardshipDispute.Status.ESCALATED:
        allowed = _is_org(actor)
    else:
        who = _person_id(actor)
        allowed = _is_org(actor) or (
            who is not None and who == current.assigned_steward_id
        )
    if not _may_change(actor) or not allowed:
        raise PermissionDenied("You may not resolve this dispute.")
    current.status = StewardshipDispute.Status.RESOLVED
    current.resolution = resolution
    current.resolved_at = timezone.now()
    save_governed(current, actor=actor, reason=f"resolved: {resolution}")
    _record("resolved", current, actor, resolution)
    return current


# -- stale and orphaned metrics (M1.5) --------------------------------------------------

#: Days one period of each update frequency lasts (a monthly value is due one
#: month after its period ends, plus the metric's grace days).
PERIOD_DAYS = {"daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92}

IN_USE = (Metric.Status.ACTIVE, Metric.Status.SUNSET_REVIEW)


def freshness(
    metrics: Iterable[Metric], *, today: datetime.date
) -> dict[int, dict[str, Any]]:
    """Per metric: last valid period end, when new data was due, stale? orphaned?

    Three queries whatever the number of metrics.
    """
    metrics = list(metrics)
    ids = [m.pk for m in metrics]
    last = dict(
        Observation.objects.current()
        .filter(metric_id__in=ids)
        .values("metric_id")
        .annotate(last=Max("period_end"))
        .values_list("metric_id", "last")
    )
    activated = dict(
        MethodologyVersion.objects.filter(metric_id__in=ids)
        .values("metric_id")
        .annotate(first=Min("approved_at"))
        .values_list("metric_id", "first")
    )
    owners = {
        pk: (status, erased)
        for pk, status, erased in Person.objects.filter(
            pk__in={m.owner_id for m in metrics}
        ).values_list("pk", "status", "erased_at")
    }
    result = {}
    for metric in metrics:
        in_use = metric.status in IN_USE
        allowance = datetime.timedelta(
            days=PERIOD_DAYS.get(metric.update_frequency, 31) + metric.grace_days
        )
        last_end = last.get(metric.pk)
        if last_end is not None:
            due = last_end + allowance
        elif metric.pk in activated:
            due = timezone.localdate(activated[metric.pk]) + allowance
        else:
            due = None
        owner_status, owner_erased = owners.get(metric.owner_id, (None, None))
        result[metric.pk] = {
            "last_period_end": last_end,
            "due": due,
            "stale": in_use and due is not None and today > due,
            "orphaned": in_use
            and (owner_status == Person.Status.LEFT or owner_erased is not None),
        }
    return result


def _recipient(person: Person | None) -> str | None:
    if person is None or person.status == Person.Status.LEFT or person.erased_at:
        return None
    user = getattr(person, "user", None)
    if user is not None and user.is_active and user.email:
        return str(user.email)
    email = person.email
    return str(email) if isinstance(email, str) and email else None


@transaction.atomic
def flag_stale_and_orphaned(
    *, actor: Any = None, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """Set or clear ``stale_since`` / ``orphaned_since``; record and notify.

    Idempotent: a second run the same day changes nothing and mails no one.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    candidates = list(
        Metric.objects.filter(
            Q(status__in=IN_USE)
            | Q(stale_since__isnull=False)
            | Q(orphaned_since__isnull=False)
        )
        .select_related("steward__user", "department__steward__user")
        .select_for_update(of=("self",))
        .order_by("key")
    )
    state = freshness(candidates, today=today)
    changes: dict[str, list[str]] = defaultdict(list)
    notify: dict[str, list[str]] = defaultdict(list)
    for metric in candidates:
        found = state[metric.pk]
        reasons = []
        if found["stale"] and metric.stale_since is None:
            metric.stale_since = now
            changes["newly_stale"].append(metric.key)
            reasons.append(
                f"stale: no valid data since {found['last_period_end'] or 'activation'}"
                f" (due by {found['due']})"
            )
        elif not found["stale"] and metric.stale_since is not None:
            metric.stale_since = None
            changes["stale_cleared"].append(metric.key)
            reasons.append("no longer stale")
        if found["orphaned"] and metric.orphaned_since is None:
            metric.orphaned_since = now
            changes["newly_orphaned"].append(metric.key)
            reasons.append("orphaned: the owner has left")
        elif not found["orphaned"] and metric.orphaned_since is not None:
            metric.orphaned_since = None
            changes["orphaned_cleared"].append(metric.key)
            reasons.append("no longer orphaned")
        if not reasons:
            continue
        save_governed(
            metric, actor=actor, reason="freshness check: " + "; ".join(reasons)
        )
        flagged = [r for r in reasons if r.startswith(("stale:", "orphaned:"))]
        if flagged:
            for person in (metric.steward, metric.department.steward):
                address = _recipient(person)
                if address:
                    notify[address].append(f"{metric.key} — {'; '.join(flagged)}")
    summary = {
        "checked": len(candidates),
        "stale": sum(1 for m in candidates if m.stale_since is not None),
        "orphaned": sum(1 for m in candidates if m.orphaned_since is not None),
        **{k: sorted(v) for k, v in changes.items()},
        "notified": len(notify),
    }
    events.record(
        "metrics.freshness_checked",
        actor=actor,
        object_type="metrics.metric",
        reason="daily stale/orphaned check (M1.5)",
        data=summary,
    )
    for address, lines in notify.items():
        transaction.on_commit(functools.partial(_mail, address, sorted(set(lines))))
    return summary


def _mail(address: str, lines: list[str]) -> None:
    send_mail(
        subject=f"{len(lines)} metric(s) need attention: stale or orphaned",
        message=(
            "The daily freshness check flagged metrics you steward:\n\n"
            + "\n".join(f"  • {line}" for line in lines)
            + "\n\nRecord the missing data, or reassign the owner, in the portal."
        ),
        from_email=getattr(settings, "DEFAULT_FROM_EMAIL", None),
        recipient_list=[address],
        fail_silently=False,
    )
