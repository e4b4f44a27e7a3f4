"""Data keys in the database: lookup, creation, attachment to model instances.

Reads always fetch the *wrapped* key from the database (one query per batch of
rows), so a key destroyed by another process is never used again here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.apps import apps
from django.utils import timezone

from .keyring import ORGANISATION_SUBJECT, KeyringError, get_keyring

#: Marker for a subject whose key was shredded.
ERASED_KEY = object()

_DEK_ATTR = "_pgp_deks"
_DEFERRED = object()
_CHUNK = 900  # stays below SQLite's variable limit on old builds


def _datakey_model() -> Any:  # late import: the model lives in governance.models
    return apps.get_model("governance", "DataKey")


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def keys_for(subjects: Iterable[Any], *, source: Any = None) -> dict[uuid.UUID, Any]:
    """Unwrapped keys (AESGCM) or ERASED_KEY for the given subjects.

    ``source`` is an optional queryset of subject ids that yields (at least) the
    same subjects: large pages fetch their keys through it as a subquery, one
    query with no parameter list. Subjects without a key row are absent.
    """
    # Keyed by the callers' own UUID objects: the ones the query creates are
    # dropped at once instead of living as long as the rows (fewer objects
    # for the garbage collector to track per row read).
    wanted = {u: u for u in (_as_uuid(s) for s in subjects if s is not None)}
    if not wanted:
        return {}
    keyring = get_keyring()
    found: dict[uuid.UUID, Any] = {}
    DataKey = _datakey_model()
    if source is not None and len(wanted) > _CHUNK:
        batches: Iterable[Any] = [DataKey.objects.filter(subject__in=source)]
    else:
        ordered = list(wanted)
        batches = (
            DataKey.objects.filter(subject__in_array=ordered[start : start + _CHUNK])
            for start in range(0, len(ordered), _CHUNK)
        )
    for queryset in batches:
        for subject, key_id, wrapped in queryset.values_list(
            "subject", "master_key_id", "wrapped"
        ):
            own = wanted.get(subject)
            if own is None:
                continue
            if wrapped is None:
                found[own] = ERASED_KEY
            else:
                found[own] = keyring.unwrap(key_id, bytes(wrapped), own)
    return found


def ensure_keys(subjects: Iterable[Any]) -> dict[uuid.UUID, Any]:
    """Keys for the subjects, creating (in bulk) those that don't exist yet."""
    wanted = {_as_uuid(s) for s in subjects}
    found = keys_for(wanted)
    missing = [s for s in wanted if s not in found]
    if missing:
        keyring = get_keyring()
        DataKey = _datakey_model()
        now = timezone.now()
        rows = []
        for subject in missing:
            key_id, wrapped, aead = keyring.new_data_key(subject)
            rows.append(
                DataKey(
                    subject=subject,
                    master_key_id=key_id,
                    wrapped=wrapped,
                    created_at=now,
                )
            )
            found[subject] = aead
        from governance.bulk import fast_insert

        fast_insert(DataKey, rows)
    return found


def key_for(subject: Any, *, create: bool) -> Any:
    subject = _as_uuid(subject if subject is not None else ORGANISATION_SUBJECT)
    keys = ensure_keys([subject]) if create else keys_for([subject])
    if subject not in keys:
        raise KeyringError(f"No data key exists for subject {subject}.")
    return keys[subject]


def attach_keys(
    instances: Sequence[Any], *, create: bool = False, source: Any = None
) -> None:
    """Fetch the data keys of every row in one query and pin them on the rows.

    ``source``: the queryset the rows came from, used as a subquery for big pages.
    """
    if not instances:
        return
    fields = getattr(type(instances[0])._meta, "encrypted_fields", None)
    if not fields:
        return
    attnames = {field.subject_attname for field in fields}
    subjects: set[uuid.UUID] = set()
    if create:
        for obj in instances:
            for attname in attnames:
                subjects.add(subject_of(obj, attname))
        keys = ensure_keys(subjects)
    else:
        # Only rows with something sealed to open need a key (a deferred
        # value counts: it may be loaded later). A row without one that is
        # written later fetches (or creates) its key then, as any unpinned
        # instance does (``dek_for_instance``).
        values = [field.attname for field in fields]
        for obj in instances:
            data = obj.__dict__
            if any(data.get(name, _DEFERRED) is not None for name in values):
                for attname in attnames:
                    subjects.add(subject_of(obj, attname))
        subquery = None
        if (
            source is not None
            and len(attnames) == 1
            and len(subjects) > _CHUNK
            and not source.query.is_sliced
        ):
            (attname,) = attnames
            if attname is not None:
                subquery = source.order_by().values(attname)
        keys = keys_for(subjects, source=subquery)
    (only,) = attnames if len(attnames) == 1 else (None,)
    for obj in instances:
        data = obj.__dict__
        data[_DEK_ATTR] = keys
        if len(attnames) == 1:
            subject = data.get(only) if only else ORGANISATION_SUBJECT
            dek = keys.get(subject) if subject is not None else None
            if dek is not None and dek is not ERASED_KEY:
                # One row, one subject: pinned so reads compare by identity,
                # not hash (flat entries, not a tuple per row: see fields.py).
                data["_pgp_one"] = subject
                data["_pgp_one_key"] = dek
                data["_pgp_one_aad"] = subject.bytes


def subject_of(obj: Any, attname: str | None) -> uuid.UUID:
    if attname is None:
        return ORGANISATION_SUBJECT
    value = (
        obj.__dict__.get(attname) if attname in obj.__dict__ else getattr(obj, attname)
    )
    return ORGANISATION_SUBJECT if value is None else _as_uuid(value)


def dek_for_instance(obj: Any, subject: uuid.UUID, *, create: bool) -> AESGCM | object:
    pinned = obj.__dict__.get(_DEK_ATTR)
    if pinned is not None and subject in pinned:
        return pinned[subject]
    dek = key_for(subject, create=create)
    obj.__dict__.setdefault(_DEK_ATTR, {})[subject] = dek
    return dek


def forget_instance_keys(obj: Any) -> None:
    """Drop every key and plaintext an in-memory instance holds (after erasure)."""
    for name in (
        _DEK_ATTR,
        "_pgp_one",
        "_pgp_one_key",
        "_pgp_one_aad",
        "_pgp_plain",
        "_pgp_src",
        "_pgp_sb",
    ):
        obj.__dict__.pop(name, None)


def shred(subject: uuid.UUID) -> bool:
    """Destroy a subject's data key. Returns False if it was already gone."""
    DataKey = _datakey_model()
    row = DataKey.objects.select_for_update().filter(subject=subject).first()
    if row is None or row.wrapped is None:
        return False
    get_keyring().forget(row.master_key_id, bytes(row.wrapped))
    row.wrapped = None
    row.shredded_at = timezone.now()
    row.save(update_fields=["wrapped", "shredded_at"])
    return True
