"""Masking for viewers below a value's classification (G.CLS).

``apply_masks(obj, user)`` pins a :class:`Masked` marker on every encrypted
value the user may not read, so admin pages, the API and exports render
"•••••• (Restricted)" instead of the value — never the plaintext, never a
silent blank. For auditors it also puts pseudonyms in place of the values
that identify a person (:mod:`governance.pseudonyms`). The stored ciphertext is untouched, so a masked object can still
be saved (its unreadable fields are left as they were). Reads of Restricted
plaintext are written to the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models

from governance import permissions, pseudonyms
from governance.audit import events
from governance.classification import Sensitivity
from governance.crypto import store
from governance.crypto.fields import Masked

_MASKS = "_pgp_masks"
MASKS_ATTR = _MASKS  # where an object's masks live: {attname: Masked}


def encrypted_fields(model: type[models.Model]) -> tuple[Any, ...]:
    return tuple(getattr(model._meta, "encrypted_fields", ()))


def level_of(obj: models.Model, field: Any, floor: int = 0) -> int:
    """A value's classification: the field's floor raised by the record's level
    (and by ``floor``: an old version is as sensitive as the record is now)."""
    return max(
        int(field.sensitivity), int(getattr(obj, "classification", 0) or 0), floor
    )


def readable_fields(obj: models.Model, user: Any) -> tuple[list[str], list[str]]:
    """(readable, masked) encrypted field names of ``obj`` for ``user``."""
    readable, masked = [], []
    for field in encrypted_fields(type(obj)):
        subject = store.subject_of(obj, field.subject_attname)
        if permissions.can_read_level(user, level_of(obj, field), subject_id=subject):
            readable.append(field.name)
        else:
            masked.append(field.name)
    return readable, masked


def apply_masks(
    obj: models.Model,
    user: Any,
    *,
    log_restricted: bool = True,
    via: str = "admin",
    floor: int = 0,
) -> list[str]:
    """Mask what ``user`` may not read; log Restricted plaintext they may read."""
    masks: dict[str, Masked] = {}
    restricted_read: list[str] = []
    for field in encrypted_fields(type(obj)):
        level = level_of(obj, field, floor)
        subject = store.subject_of(obj, field.subject_attname)
        if not permissions.can_read_level(user, level, subject_id=subject):
            masks[field.attname] = Masked(level)
        elif (
            level >= Sensitivity.RESTRICTED
            and obj.__dict__.get(field.attname) is not None
        ):
            restricted_read.append(field.name)
    # Auditors see stable pseudonyms instead of identities (governance.pseudonyms).
    pseudonyms.apply(obj, user, masks)
    obj.__dict__[_MASKS] = masks
    if log_restricted and restricted_read:
        events.restricted_read(actor=user, target=obj, fields=restricted_read, via=via)
    return list(masks)


def apply_masks_many(objs: Iterable[models.Model], user: Any) -> None:
    """Mask a page of rows. List pages never show Restricted plaintext at all
    (open the record to read it, which is logged), so nothing here is logged."""
    for obj in objs:
        apply_masks(obj, user, log_restricted=False)
        masks = obj.__dict__[_MASKS]
        for field in encrypted_fields(type(obj)):
            level = level_of(obj, field)
            if level >= Sensitivity.RESTRICTED:
                masks.setdefault(field.attname, Masked(level))


def mask_cached_relations(objs: list[models.Model], user: Any) -> None:
    """Mask the related rows already loaded on ``objs`` (``select_related``),
    so labels built from them (``str()`` of an inline row) are masked too."""
    if not objs:
        return
    field: Any
    for field in type(objs[0])._meta.concrete_fields:
        if not (field.is_relation and (field.many_to_one or field.one_to_one)):
            continue
        if not encrypted_fields(field.related_model):
            continue
        related = [
            field.get_cached_value(obj)
            for obj in objs
            if field.is_cached(obj) and field.get_cached_value(obj) is not None
        ]
        apply_masks_many(related, user)


def clear_masks(obj: models.Model) -> None:
    obj.__dict__.pop(_MASKS, None)
