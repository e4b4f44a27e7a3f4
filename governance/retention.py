"""Retention (G.RET): purging records past their retention period.

Apps declare which of their models may be purged, and how, with
:func:`register_record_type` (the kernel registers people; metrics registers
observations, evaluations and feedback from ``metrics.governance_links``).
Compliance sets a :class:`~governance.models.RetentionPolicy` per record type
(and optionally per classification); :func:`purge_expired` (the daily job
``governance.retention.purge_expired``, and ``manage.py purge_expired``) then
removes every record past its period, except those under an active
:class:`~governance.models.LegalHold` (on the record or on its person).

How the audit chain stays intact: history rows are never deleted (they are
immutable and hash-chained). A purged record is deleted from its live table,
which appends a "deleted" history row to the chain; the personal values its
older history rows hold are encrypted with the person's data key and become
unreadable when that person is erased (crypto-shredded) — which is what the
purge does to a person whose own retention period has passed. Each run leaves
one ``retention.purged`` audit event with counts and ids, never plaintext.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from governance import permissions
from governance.audit import events
from governance.models import LegalHold, Person, RetentionPolicy
from governance.services import save_governed


@dataclass(frozen=True)
class RecordType:
    """A purgeable kind of record.

    ``date_field``: the reference date the retention period runs from.
    ``person_field``: the field naming the person the record is about (for
    legal holds on people), or ``""``. ``due(cutoff)`` overrides which rows
    have passed the cutoff; ``purge(obj)`` how one row is removed (default:
    deleted, which records a "deleted" history row).
    """

    label: str
    date_field: str
    person_field: str = ""
    description: str = ""
    data_categories: str = ""
    due: Callable[[datetime.datetime], models.QuerySet] | None = None
    purge: Callable[[Any], None] | None = None

    @property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.label)


_TYPES: dict[str, RecordType] = {}


def register_record_type(record_type: RecordType) -> None:
    _TYPES[record_type.label] = record_type


def record_types() -> dict[str, RecordType]:
    return dict(_TYPES)


# -- policies and holds ----------------------------------------------------------


def _need(actor: Any, model: Any, action: str, message: str) -> None:
    if actor is not None and not permissions.has_model_perm(actor, model, action):
        raise PermissionDenied(message)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why: governed changes need a reason."})
    return reason


@transaction.atomic
def policy_save(*, actor: Any, policy: RetentionPolicy, reason: str) -> RetentionPolicy:
    """Create or change a retention policy (only for a registered record type)."""
    _need(
        actor,
        RetentionPolicy,
        "change" if policy.pk else "add",
        "Only compliance officers set retention policies.",
    )
    if policy.record_type not in _TYPES:
        raise ValidationError(
            {
                "record_type": f"{policy.record_type!r} is not a purgeable record type "
                f"(known: {', '.join(sorted(_TYPES)) or 'none'})."
            }
        )
    save_governed(policy, actor=actor, reason=_reason(reason))
    return policy


@transaction.atomic
def hold_place(
    *,
    actor: Any,
    reason: str,
    person: Person | None = None,
    record_type: str = "",
    record_id: Any = "",
) -> LegalHold:
    """Place a legal hold on a person or on one record."""
    _need(actor, LegalHold, "add", "Only compliance officers place legal holds.")
    reason = _reason(reason)
    record_id = str(record_id or "")
    if person is None:
        if record_type not in _TYPES:
            raise ValidationError(
                {"record_type": "Name a person, or a purgeable record type and id."}
            )
        if not _TYPES[record_type].model._base_manager.filter(pk=record_id).exists():
            raise ValidationError({"record_id": f"No {record_type} #{record_id}."})
    elif record_type or record_id:
        raise ValidationError("A hold names a person or a record, not both.")
    hold = LegalHold(
        person=person,
        record_type=record_type if person is None else "",
        record_id=record_id if person is None else "",
        reason=reason,
        placed_by=actor,
        placed_at=timezone.now(),
    )
    save_governed(hold, actor=actor, reason=reason)
    events.record("legalhold.placed", actor=actor, target=hold, reason=reason)
    return hold


@transaction.atomic
def hold_release(*, actor: Any, hold: LegalHold, reason: str) -> LegalHold:
    _need(actor, LegalHold, "change", "Only compliance officers release legal holds.")
    reason = _reason(reason)
    locked = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if locked.released_at:
        raise ValidationError("This hold is already released.")
    locked.released_at = timezone.now()
    locked.released_by_id = getattr(actor, "pk", None)
    locked.release_reason = reason
    save_governed(locked, actor=actor, reason=f"released: {reason}")
    events.record("legalhold.released", actor=actor, target=locked, reason=reason)
    return locked


# -- the purge ---------------------------------------------------------------------


@dataclass
class TypeResult:
    removed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    blocked: list[str] = field(
        default_factory=list
    )  # still referenced by other records


@dataclass
class PurgeReport:
    dry_run: bool
    at: datetime.datetime
    types: dict[str, TypeResult] = field(default_factory=dict)

    @property
    def removed(self) -> int:
        return sum(len(r.removed) for r in self.types.values())

    def as_data(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "at": self.at.isoformat(),
            "removed": self.removed,
            "types": {
                label: {
                    "removed": len(r.removed),
                    "removed_ids": r.removed,
                    "held": len(r.held),
                    "held_ids": r.held,
                    "blocked": len(r.blocked),
                    "blocked_ids": r.blocked,
                }
                for label, r in sorted(self.types.items())
            },
        }


def _cutoff_filter(
    model: type[models.Model], name: str, cutoff: datetime.datetime
) -> dict[str, Any]:
    field_ = model._meta.get_field(name)
    if isinstance(field_, models.DateTimeField):
        return {f"{name}__lt": cutoff}
    return {f"{name}__lt": cutoff.date()}


def _has_classification(model: type[models.Model]) -> bool:
    return any(f.name == "classification" for f in model._meta.concrete_fields)


def expired(record_type: RecordType, *, now: datetime.datetime) -> models.QuerySet:
    """Rows of the type past the retention period of their policy."""
    model = record_type.model
    policies = list(
        RetentionPolicy.objects.filter(record_type=record_type.label, active=True)
    )
    result = model._base_manager.none()
    if not policies:
        return result
    specific = {p.classification for p in policies if p.classification is not None}
    classified = _has_classification(model)
    for policy in policies:
        cutoff = now - datetime.timedelta(days=policy.retention_days)
        if record_type.due is not None:
            rows = record_type.due(cutoff)
        else:
            rows = model._base_manager.filter(
                **_cutoff_filter(model, record_type.date_field, cutoff)
            )
        if classified:
            if policy.classification is not None:
                rows = rows.filter(classification=policy.classification)
            elif specific:
                rows = rows.exclude(classification__in=specific)
        elif policy.classification is not None:
            continue
        result = result | rows
    return result


def _held(now: datetime.datetime) -> tuple[set[str], set[tuple[str, str]]]:
    people, records = set(), set()
    for person_id, record_type, record_id in LegalHold.objects.filter(
        released_at__isnull=True
    ).values_list("person_id", "record_type", "record_id"):
        if person_id:
            people.add(str(person_id))
        else:
            records.add((record_type, record_id))
    return people, records


def _delete(obj: Any) -> None:
    obj._change_reason = "retention period elapsed"
    obj._history_user = None
    obj.delete()


def purge_expired(
    *,
    actor: Any = None,
    dry_run: bool = False,
    now: datetime.datetime | None = None,
    only: Iterable[str] | None = None,
) -> PurgeReport:
    """Purge every record past retention, except held ones; record what went.

    Each record is removed in its own savepoint: one that other records still
    protect (e.g. an observation a data-quality issue points to) is counted as
    ``blocked`` and left, never half-removed.
    """
    _need(actor, RetentionPolicy, "change", "Only compliance officers run the purge.")
    now = now or timezone.now()
    report = PurgeReport(dry_run=dry_run, at=now)
    held_people, held_records = _held(now)
    wanted = set(only) if only is not None else None
    with transaction.atomic():
        for label, record_type in sorted(_TYPES.items()):
            if wanted is not None and label not in wanted:
                continue
            result = report.types.setdefault(label, TypeResult())
            person_field: Any = (
                record_type.model._meta.get_field(record_type.person_field)
                if record_type.person_field
                else None
            )
            person_attr = person_field.attname if person_field is not None else ""
            for obj in (
                expired(record_type, now=now).order_by("pk").iterator(chunk_size=500)
            ):
                key = str(obj.pk)
                person_id = str(getattr(obj, person_attr) or "") if person_attr else ""
                if (label, key) in held_records or (
                    person_id and person_id in held_people
                ):
                    result.held.append(key)
                    continue
                if dry_run:
                    result.removed.append(key)
                    continue
                try:
                    with transaction.atomic():
                        (record_type.purge or _delete)(obj)
                except (ProtectedError, RestrictedError):
                    result.blocked.append(key)
                    continue
                result.removed.append(key)
        if not dry_run:
            events.record(
                "retention.purged",
                actor=actor,
                object_type="governance.retentionpolicy",
                data=report.as_data(),
            )
    return report


# -- the kernel's own record types -------------------------------------------------


def _people_who_left_before(cutoff: datetime.datetime) -> models.QuerySet:
    left_before = Person.history.filter(
        status=Person.Status.LEFT, history_date__lt=cutoff
    ).values("id")
    return Person.objects.filter(
        status=Person.Status.LEFT, erased_at__isnull=True, pk__in=left_before
    )


def _erase_person(person: Person) -> None:
    from governance import services

    services.person_erase(
        person=person, actor=None, reason="retention period after leaving elapsed"
    )


register_record_type(
    RecordType(
        label="governance.person",
        date_field="hire_date",
        person_field="id",
        description="Employee records of people who left: crypto-shredded "
        "(every personal value, history included, becomes unreadable).",
        data_categories="identity and contact details, employment, demographics",
        due=_people_who_left_before,
        purge=_erase_person,
    )
)
