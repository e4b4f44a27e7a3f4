"""The only write path for the governance kernel (HackSoft services, Zulip do_*).

Every service is keyword-only, typed, runs in one transaction, calls
``full_clean()``, and writes its history rows, chain links and audit events in
that same transaction. Side effects (mail, jobs) go through ``on_commit``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from governance import bulk, permissions
from governance.audit import events
from governance.audit.history import bulk_history
from governance.crypto import store
from governance.crypto.keyring import get_keyring
from governance.models import DataKey, LegalHold, Person, User
from governance.roles import ROLES, Role


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why: governed changes need a reason."})
    return reason


def save_governed(
    instance: models.Model, *, actor: Any, reason: str, exclude: Iterable[str] = ()
) -> models.Model:
    """Validate and save one governed instance with its history row and link."""
    with transaction.atomic():
        instance.full_clean(exclude=list(exclude))
        instance._change_reason = reason  # type: ignore[attr-defined]
        instance._history_user = actor  # type: ignore[attr-defined]
        instance.save()
    return instance


def bulk_full_clean(
    model: type[models.Model], instances: Sequence[models.Model]
) -> None:
    """``full_clean()`` for a batch, with foreign keys checked in one query each.

    Every row is validated before anything is written; the first bad row stops
    the batch with its position. Uniqueness is left to the database (one
    constraint error rolls the whole batch back).
    """
    fks = [f for f in model._meta.concrete_fields if f.is_relation and f.many_to_one]
    fk_names = [f.name for f in fks]
    for position, obj in enumerate(instances, start=1):
        try:
            obj.full_clean(
                exclude=fk_names, validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            raise ValidationError(f"Row {position}: {'; '.join(exc.messages)}") from exc
    for field in fks:
        wanted = {getattr(obj, field.attname) for obj in instances} - {None}
        if not wanted:
            continue
        target = field.target_field.attname  # type: ignore[attr-defined]
        related: Any = field.related_model
        found = set(
            related._base_manager.filter(**{f"{target}__in": wanted}).values_list(
                target, flat=True
            )
        )
        for position, obj in enumerate(instances, start=1):
            value = getattr(obj, field.attname)
            if value is None and not field.null:
                raise ValidationError(
                    f"Row {position}: {field.verbose_name} is required."
                )
            if value is not None and value not in found:
                raise ValidationError(
                    f"Row {position}: {field.verbose_name} {value!r} does not exist."
                )


# -- people -------------------------------------------------------------------


@transaction.atomic
def person_create(*, actor: Any, reason: str = "created", **fields: Any) -> Person:
    person = Person(**fields)
    return save_governed(person, actor=actor, reason=reason)  # type: ignore[return-value]


@transaction.atomic
def person_update(
    *, person: Person, actor: Any, reason: str, changes: Mapping[str, Any]
) -> Person:
    reason = _require_reason(reason)
    if person.erased_at:
        raise ValidationError(
            "This person's data was erased; their record can't be edited."
        )
    for name, value in changes.items():
        setattr(person, name, value)
    save_governed(person, actor=actor, reason=reason)
    if person.status == Person.Status.LEFT and person.user is not None:
        _deactivate_user(person.user, actor=actor, reason=f"person left: {reason}")
    return person


@transaction.atomic
def people_bulk_create(
    *, actor: Any, reason: str, people: Sequence[Person]
) -> list[Person]:
    """The bulk path: validated rows, one data key each, history and chain.

    Validation runs on every row before anything is written; one bad row
    aborts the whole batch with its position in the message.
    """
    reason = _require_reason(reason)
    bulk_full_clean(Person, people)
    keys = store.ensure_keys(p.pk for p in people)
    for person in people:
        person.__dict__["_pgp_deks"] = keys
    bulk.fast_insert(Person, people)
    bulk_history(
        Person,
        people,
        history_type="+",
        reason=reason,
        user=actor,
        live_rows_match=True,
    )
    return list(people)


@transaction.atomic
def person_deactivate(*, person: Person, actor: Any, reason: str) -> Person:
    """A leaver: status 'left' and their account stops working at once."""
    reason = _require_reason(reason)
    person.status = Person.Status.LEFT
    save_governed(person, actor=actor, reason=reason)
    if person.user is not None:
        _deactivate_user(person.user, actor=actor, reason=reason)
    events.person_deactivated(actor=actor, person=person, reason=reason)
    return person


@transaction.atomic
def person_erase(*, person: Person, actor: Any, reason: str) -> Person:
    """Erasure by crypto-shredding (G.DSAR).

    Destroys the person's data key: every encrypted value of theirs, in live and
    history tables, reads as erased from now on. Nothing else is rewritten, so
    the audit chain still verifies; the erasure itself is an audit event.
    """
    reason = _require_reason(reason)
    if actor is not None and not permissions.has_model_perm(actor, Person, "erase"):
        raise PermissionDenied("Only compliance officers may erase a person's data.")
    if LegalHold.objects.filter(person=person, released_at__isnull=True).exists():
        raise ValidationError(
            "This person's records are under a legal hold (GDPR Art. 17(3)(e)): "
            "release the hold before erasing."
        )
    shredded = store.shred(person.pk)
    person.erased_at = timezone.now()
    person.status = Person.Status.LEFT
    store.forget_instance_keys(person)
    save_governed(person, actor=actor, reason=f"erasure: {reason}")
    if person.user is not None:
        user = person.user
        _deactivate_user(user, actor=actor, reason="erasure")
        user.username = f"erased-{uuid.uuid4().hex[:12]}"
        user.email = ""
        user.first_name = user.last_name = ""
        user.set_unusable_password()
        user.save()
    events.person_erased(person=person, actor=actor, reason=reason, shredded=shredded)
    return person


# -- accounts -----------------------------------------------------------------


def _deactivate_user(user: User, *, actor: Any, reason: str) -> None:
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
        events.access_changed(
            actor=actor, user=user, reason=reason, changes={"is_active": False}
        )


@transaction.atomic
def user_deactivate(*, user: User, actor: Any, reason: str) -> User:
    """Revoke access at once: the auth backend refuses inactive users per request."""
    _deactivate_user(user, actor=actor, reason=_require_reason(reason))
    return user


@transaction.atomic
def user_set_access(
    *,
    user: User,
    actor: Any,
    reason: str,
    roles: Iterable[Role] | None = None,
    clearance: int | None = None,
) -> User:
    """Change a user's roles and/or clearance, recorded in the audit trail."""
    reason = _require_reason(reason)
    changes: dict[str, Any] = {}
    if clearance is not None and clearance != user.clearance:
        changes["clearance"] = [user.clearance, int(clearance)]
        user.clearance = int(clearance)
    if roles is not None:
        wanted = {Role(r) for r in roles}
        before = set(user.groups.values_list("name", flat=True))
        groups = list(Group.objects.filter(name__in=[r.value for r in wanted]))
        user.groups.set(groups)
        after = {g.name for g in groups}
        if before != after:
            changes["roles"] = [sorted(before), sorted(after)]
        user.is_staff = any(ROLES[r].staff for r in wanted) or user.is_superuser
        for cache in (
            "_portal_roles",
            "_perm_cache",
            "_user_perm_cache",
            "_group_perm_cache",
        ):
            user.__dict__.pop(cache, None)
    user.full_clean(exclude=["password"])
    user.save()
    if changes:
        events.access_changed(actor=actor, user=user, reason=reason, changes=changes)
    return user


# -- keys ---------------------------------------------------------------------


def rotate_keys(*, actor: Any = None, batch_size: int = 500) -> int:
    """Re-wrap every data key under the active master key, batch by batch.

    Each batch is its own short transaction with the rows locked, so the portal
    keeps serving (readers unwrap with whichever configured key wraps a row) and
    a concurrent erasure is never undone.
    """
    keyring = get_keyring()
    active = keyring.active.key_id
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                DataKey.objects.select_for_update()
                .exclude(master_key_id=active)
                .exclude(wrapped__isnull=True)
                .order_by("subject")[:batch_size]
            )
            if not rows:
                break
            now = timezone.now()
            for row in rows:
                dek = keyring.unwrap_raw(
                    row.master_key_id, bytes(row.wrapped or b""), row.subject
                )
                row.master_key_id, row.wrapped = keyring.wrap(dek, row.subject)
                row.rotated_at = now
            DataKey.objects.bulk_update(
                rows, ["master_key_id", "wrapped", "rotated_at"]
            )
            total += len(rows)
    # Shredded keys carry no material; move their label so old keys can go.
    DataKey.objects.filter(wrapped__isnull=True).exclude(master_key_id=active).update(
        master_key_id=active
    )
    events.keys_rotated(actor=actor, rewrapped=total, active_key=active)
    return total
