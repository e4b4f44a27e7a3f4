"""Informed consent (M8.3): services, the capture guard and report filters.

Where a person's jurisdiction requires consent for individual-level tracking,
nothing about them is captured or processed for a purpose without an active
consent record for it. This module offers plain functions; the apps that
capture and compute data register them (``metrics`` does so in its
``AppConfig.ready()``), so the kernel never imports them:

* :func:`capture_refusal` is the capture guard: the error message for a row
  that must be refused, or ``None``.
* :func:`excluded_subjects` tells a report or selector which of the people it
  is about to aggregate must be left out *now* (withdrawn, expired or never
  given). Reports drop them and say so (see ``docs/governance-workflows.md``).

Writes: :func:`give_consent` and :func:`withdraw_consent` serve both the
employee's self-service page and the compliance officer recording consent
obtained on paper (with evidence) in the admin. Each writes the record's
history and an audit event in one transaction; withdrawal takes effect at the
moment it commits.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance import permissions
from governance.audit import events
from governance.models import ConsentPurpose, ConsentRecord, Person
from governance.services import save_governed

#: The purpose metrics fall back to when they name none (M8.3).
DEFAULT_PURPOSE = "performance_tracking"
DEFAULT_PURPOSE_NAME = "Individual performance tracking"
DEFAULT_PURPOSE_TEXT = (
    "The portal records performance measures about you as an individual "
    "(for example calls made or tickets resolved) so that your manager and HR "
    "can review your work with you. The values are encrypted, visible only to "
    "people whose role needs them, and kept for your jurisdiction's retention "
    "period. You can withdraw this consent at any time on this page: from that "
    "moment nothing more is recorded about you for this purpose and figures "
    "computed afterwards leave you out."
)

Moment = datetime.datetime | datetime.date | None

#: hook(person_id, purpose_code, withdrawn_at) — run in the withdrawing
#: transaction, e.g. to cancel queued processing of that person's data.
WithdrawalHook = Callable[[uuid.UUID, str, datetime.datetime], None]
_withdrawal_hooks: list[WithdrawalHook] = []


def register_withdrawal_hook(hook: WithdrawalHook) -> None:
    if hook not in _withdrawal_hooks:
        _withdrawal_hooks.append(hook)


# -- helpers ------------------------------------------------------------------


def _moment(at: Moment) -> datetime.datetime:
    """A datetime for ``at``: now by default; a date means the end of that
    day, so a withdrawal made during the day already counts on it."""
    if at is None:
        return timezone.now()
    if isinstance(at, datetime.datetime):
        return at
    end = datetime.datetime.combine(at, datetime.time.max)
    return timezone.make_aware(end) if timezone.is_naive(end) else end


def _purpose(purpose: ConsentPurpose | str) -> ConsentPurpose:
    if isinstance(purpose, ConsentPurpose):
        return purpose
    try:
        return ConsentPurpose.objects.get(code=purpose)
    except ConsentPurpose.DoesNotExist:
        if purpose == DEFAULT_PURPOSE:
            return ensure_default_purpose()
        raise ValidationError(f"No consent purpose “{purpose}”.") from None


def _code(purpose: ConsentPurpose | str) -> str:
    return purpose.code if isinstance(purpose, ConsentPurpose) else str(purpose)


def ensure_default_purpose() -> ConsentPurpose:
    """The default purpose, created if missing (a data migration creates it
    too; this covers databases flushed by tests)."""
    found = ConsentPurpose.objects.filter(code=DEFAULT_PURPOSE).first()
    if found is not None:
        return found
    with transaction.atomic():
        purpose = ConsentPurpose(
            code=DEFAULT_PURPOSE,
            name=DEFAULT_PURPOSE_NAME,
            description=DEFAULT_PURPOSE_TEXT,
        )
        save_governed(purpose, actor=None, reason="default consent purpose")
    return purpose


# -- purposes -------------------------------------------------------------------


@transaction.atomic
def purpose_create(
    *, actor: Any, code: str, name: str, description: str, reason: str = "defined"
) -> ConsentPurpose:
    if actor is not None and not permissions.has_model_perm(
        actor, ConsentPurpose, "add"
    ):
        raise PermissionDenied("You may not define consent purposes.")
    purpose = ConsentPurpose(code=code, name=name, description=description)
    save_governed(purpose, actor=actor, reason=reason)
    events.record(
        "consent.purpose_defined",
        actor=actor,
        target=purpose,
        reason=reason,
        data={"code": code, "text_version": purpose.text_version},
    )
    return purpose


@transaction.atomic
def purpose_update(
    *,
    actor: Any,
    purpose: ConsentPurpose,
    reason: str,
    name: str | None = None,
    description: str | None = None,
    active: bool | None = None,
    reconsent: bool = False,
) -> ConsentPurpose:
    """Change a purpose. A new consent text is a new ``text_version``;
    ``reconsent=True`` (a material change) makes every consent given on an
    older text stop counting at once, so people must agree again."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the purpose changes."})
    if actor is not None and not permissions.has_model_perm(
        actor, ConsentPurpose, "change"
    ):
        raise PermissionDenied("You may not change consent purposes.")
    current = ConsentPurpose.objects.select_for_update().get(pk=purpose.pk)
    if name is not None:
        current.name = name
    if active is not None:
        current.active = active
    text_changed = description is not None and description != current.description
    if text_changed:
        current.description = description
        current.text_version += 1
    if reconsent:
        if not text_changed:
            raise ValidationError(
                "Asking everyone again needs a new consent text: change the description."
            )
        current.min_text_version = current.text_version
    save_governed(current, actor=actor, reason=reason)
    events.record(
        "consent.purpose_changed",
        actor=actor,
        target=current,
        reason=reason,
        data={
            "code": current.code,
            "text_version": current.text_version,
            "min_text_version": current.min_text_version,
            "reconsent": reconsent,
        },
    )
    purpose.__dict__.update(
        {
            k: getattr(current, k)
            for k in (
                "name",
                "description",
                "active",
                "text_version",
                "min_text_version",
            )
        }
    )
    return current


# -- reads ----------------------------------------------------------------------


def active_consent(
    person: Person | uuid.UUID | str,
    purpose: ConsentPurpose | str,
    *,
    at: Moment = None,
) -> ConsentRecord | None:
    """The consent record in force for ``person`` and ``purpose`` at ``at``
    (now by default; a date means the end of that day), or ``None``."""
    person_id = getattr(person, "pk", person)
    return (
        ConsentRecord.objects.active_at(_moment(at))
        .filter(person_id=person_id, purpose__code=_code(purpose))
        .select_related("purpose")
        .order_by("-given_at")
        .first()
    )


def consenting_person_ids(
    purpose: ConsentPurpose | str,
    *,
    at: Moment = None,
    person_ids: Iterable[Any] | None = None,
) -> set[uuid.UUID]:
    """People with consent in force for ``purpose`` at ``at`` (all, or among
    ``person_ids``), in one query (chunked for long lists)."""
    qs = ConsentRecord.objects.active_at(_moment(at)).filter(
        purpose__code=_code(purpose)
    )
    if person_ids is None:
        return set(qs.values_list("person_id", flat=True))
    wanted = list({_uuid(p) for p in person_ids})
    found: set[uuid.UUID] = set()
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        found.update(qs.filter(person_id__in=chunk).values_list("person_id", flat=True))
    return found


def _uuid(value: Any) -> uuid.UUID:
    value = getattr(value, "pk", value)
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def excluded_subjects(
    purpose: ConsentPurpose | str,
    person_ids: Iterable[Any],
    *,
    at: Moment = None,
) -> set[uuid.UUID]:
    """Of ``person_ids``, those a figure computed at ``at`` (now by default)
    must leave out for ``purpose``: their jurisdiction requires consent and
    none is in force (never given, withdrawn, expired or on an outdated text).

    Reports and selectors call this right before aggregating individual-level
    data and state how many people were left out and why.
    """
    wanted = list({_uuid(p) for p in person_ids})
    if not wanted:
        return set()
    required: set[uuid.UUID] = set()
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        required.update(
            Person.objects.filter(
                pk__in=chunk, jurisdiction__consent_required=True
            ).values_list("pk", flat=True)
        )
    if not required:
        return set()
    return required - consenting_person_ids(purpose, at=at, person_ids=required)


@dataclass
class Exclusion:
    """What a figure left out, to be stated next to it."""

    purpose: str
    excluded: int
    note: str = ""
    person_ids: set[uuid.UUID] = field(default_factory=set, repr=False)


def apply_exclusions(
    purpose: ConsentPurpose | str,
    person_ids: Iterable[Any],
    *,
    at: Moment = None,
) -> tuple[set[uuid.UUID], Exclusion]:
    """(people to keep, what to say about the rest) for a report."""
    wanted = {_uuid(p) for p in person_ids}
    out = excluded_subjects(purpose, wanted, at=at)
    code = _code(purpose)
    note = (
        f"{len(out)} {'person' if len(out) == 1 else 'people'} left out: no consent "
        f"in force for “{code}” (required in their jurisdiction)."
        if out
        else ""
    )
    return wanted - out, Exclusion(code, len(out), note, out)


def capture_refusal(
    *,
    purpose: str,
    person_id: Any,
    employee_id: str,
    consent_required: bool,
    at: Moment = None,
    cache: dict[Any, set[uuid.UUID]] | None = None,
) -> str | None:
    """The capture guard: why an individual-level value about this person may
    not be recorded now for ``purpose``, or ``None`` if it may.

    ``cache`` (any dict the caller keeps for one batch) holds the consenting
    people per purpose, so a batch costs one query per purpose, not per row.
    """
    if not consent_required:
        return None
    code = purpose or DEFAULT_PURPOSE
    moment = _moment(at)
    if cache is not None:
        key = ("consenting", code)
        if key not in cache:
            cache[key] = consenting_person_ids(code, at=moment)
        ok = _uuid(person_id) in cache[key]
    else:
        ok = active_consent(person_id, code, at=moment) is not None
    if ok:
        return None
    return (
        f"{employee_id} has no active consent for the purpose “{code}”, which their "
        "jurisdiction requires for individual-level tracking; nothing is recorded "
        "for them until they give it (self-service page) or compliance records it."
    )


# -- writes ---------------------------------------------------------------------


def _acting_for(actor: Any, person: Person, *, action: str) -> str:
    """'self' when the person acts on their own record, 'compliance' when an
    organisation-wide role with the permission acts for them; else refuse."""
    if actor is None:
        return "system"
    if permissions.is_subject(actor, person.pk):
        return "self"
    if permissions.has_model_perm(
        actor, ConsentRecord, action
    ) and permissions.has_org_scope(actor):
        return "compliance"
    raise PermissionDenied("You may only give or withdraw your own consent.")


def _lock_person(person: Person) -> Person:
    locked = (
        Person.objects.select_for_update()
        .select_related("jurisdiction")
        .only("id", "employee_id", "status", "erased_at", "jurisdiction")
        .get(pk=person.pk)
    )
    if locked.erased_at:
        raise ValidationError("This person's data was erased.")
    return locked


@transaction.atomic
def give_consent(
    *,
    actor: Any,
    person: Person,
    purpose: ConsentPurpose | str,
    text_version: int | None = None,
    lawful_basis: str = ConsentRecord.LawfulBasis.CONSENT,
    obtained_via: str | None = None,
    evidence: str = "",
    expires_at: datetime.datetime | None = None,
    given_at: datetime.datetime | None = None,
) -> ConsentRecord:
    """Record consent: by the person on their self-service page, or by
    compliance with evidence of how it was obtained.

    ``text_version`` is the version of the text the person read; if the text
    changed since, nothing is recorded and they must read it again. Giving
    consent that is already in force on the current text changes nothing.
    """
    role = _acting_for(actor, person, action="add")
    locked = _lock_person(person)
    purpose = ConsentPurpose.objects.select_for_update().get(pk=_purpose(purpose).pk)
    if not purpose.active and role == "self":
        raise ValidationError(f"“{purpose.name}” is not offered any more.")
    if text_version is not None and int(text_version) != purpose.text_version:
        raise ValidationError(
            "The consent text changed while you were reading it: read the new "
            "version and agree again."
        )
    now = timezone.now()
    given_at = given_at or now
    evidence = (evidence or "").strip()
    if role == "self":
        obtained_via = ConsentRecord.Method.SELF_SERVICE
        lawful_basis = ConsentRecord.LawfulBasis.CONSENT
        given_at = now
        evidence = evidence or (
            "Given on the self-service page by the person's own account "
            f"after reading text version {purpose.text_version}."
        )
    else:
        obtained_via = obtained_via or ConsentRecord.Method.OTHER
        if not evidence:
            raise ValidationError(
                {"evidence": "Say how consent was obtained (form, email, reference)."}
            )
        if given_at > now:
            raise ValidationError({"given_at": "Consent can't be given in the future."})
    if expires_at is not None and expires_at <= given_at:
        raise ValidationError({"expires_at": "The expiry must be after it was given."})
    current = (
        ConsentRecord.objects.select_for_update()
        .filter(person=locked, purpose=purpose, withdrawn_at__isnull=True)
        .first()
    )
    if (
        current is not None
        and current.text_version == purpose.text_version
        and current.lawful_basis == lawful_basis
        and current.in_force(now)
        and current.expires_at == expires_at
    ):
        return current
    record = ConsentRecord(
        person=locked,
        purpose=purpose,
        lawful_basis=lawful_basis,
        text_version=purpose.text_version,
        given_at=given_at,
        expires_at=expires_at,
        obtained_via=obtained_via,
        evidence=evidence,
        recorded_by_id=getattr(actor, "pk", None),
    )
    reason = f"consent given ({role}, text v{purpose.text_version})"
    if current is not None:
        # Renewal (new text, expiry, basis): the old record ends as the new
        # one starts, so there is no instant without a record in force.
        current.withdrawn_at = max(current.given_at, min(given_at, now))
        current.withdrawn_by_id = getattr(actor, "pk", None)
        save_governed(current, actor=actor, reason="renewed")
    save_governed(record, actor=actor, reason=reason)
    if current is not None:
        current.superseded_by = record
        save_governed(current, actor=actor, reason=f"renewed by #{record.pk}")
    events.record(
        "consent.given",
        actor=actor,
        target=record,
        reason=reason,
        data={
            "purpose": purpose.code,
            "text_version": purpose.text_version,
            "lawful_basis": lawful_basis,
            "obtained_via": obtained_via,
            "renews": getattr(current, "pk", None),
        },
    )
    return record


@transaction.atomic
def withdraw_consent(
    *,
    actor: Any,
    person: Person,
    purpose: ConsentPurpose | str,
    reason: str = "",
) -> ConsentRecord:
    """Withdraw consent now. From the moment this commits, capture for the
    purpose refuses the person and figures computed afterwards exclude them."""
    role = _acting_for(actor, person, action="change")
    locked = _lock_person(person)
    purpose = _purpose(purpose)
    current = (
        ConsentRecord.objects.select_for_update()
        .filter(person=locked, purpose=purpose, withdrawn_at__isnull=True)
        .first()
    )
    if current is None:
        raise ValidationError(f"There is no consent for “{purpose.name}” to withdraw.")
    reason = (reason or "").strip() or (
        "withdrawn on the self-service page" if role == "self" else ""
    )
    if not reason:
        raise ValidationError({"reason": "Say why (e.g. the person's request, dated)."})
    now = timezone.now()
    current.withdrawn_at = max(now, current.given_at)
    current.withdrawn_by_id = getattr(actor, "pk", None)
    save_governed(current, actor=actor, reason=f"consent withdrawn ({role}): {reason}")
    events.record(
        "consent.withdrawn",
        actor=actor,
        target=current,
        reason=reason,
        data={"purpose": purpose.code, "by": role},
    )
    for hook in _withdrawal_hooks:
        hook(locked.pk, purpose.code, current.withdrawn_at)
    return current


# -- self-service ---------------------------------------------------------------


@dataclass
class PurposeState:
    """One purpose as the employee sees it on their page."""

    purpose: ConsentPurpose
    active: ConsentRecord | None
    records: list[ConsentRecord]

    @property
    def outdated(self) -> bool:
        """Consent is in force, but on an older text than the current one."""
        return (
            self.active is not None
            and self.active.text_version < self.purpose.text_version
        )


def own_consents(person: Person) -> list[PurposeState]:
    """Every offered purpose (and any other the person has a record for),
    with the record in force and the person's whole consent history."""
    ensure_default_purpose()
    now = timezone.now()
    records = list(
        ConsentRecord.objects.filter(person_id=person.pk)
        .select_related("purpose")
        .order_by("-given_at", "-id")
    )
    purposes = {
        p.pk: p
        for p in ConsentPurpose.objects.filter(
            Q(active=True) | Q(pk__in={r.purpose_id for r in records})
        )
    }
    states = []
    for purpose in sorted(purposes.values(), key=lambda p: p.name):
        mine = [r for r in records if r.purpose_id == purpose.pk]
        for r in mine:
            r.purpose = purpose
        active = next((r for r in mine if r.in_force(now)), None)
        states.append(PurposeState(purpose, active, mine))
    return states


def statistics(*, at: Moment = None) -> list[dict[str, Any]]:
    """Consent counts per purpose for the audit pack (no personal data)."""
    moment = _moment(at)
    rows = []
    for purpose in ConsentPurpose.objects.order_by("code"):
        records = ConsentRecord.objects.filter(purpose=purpose)
        rows.append(
            {
                "purpose": purpose.code,
                "text_version": purpose.text_version,
                "in_force": records.active_at(moment).count(),
                "withdrawn": records.filter(
                    withdrawn_at__lte=moment, superseded_by__isnull=True
                ).count(),
                "records": records.count(),
            }
        )
    return rows
