"""Governed history: simple-history with reasons, immutability and the chain.

``GovernedHistoricalRecords`` is what every governed model declares instead of
plain ``HistoricalRecords``. It

* refuses an update without a change reason (``instance._change_reason``),
* copies encrypted values as their sealed tokens (history holds ciphertext and
  nothing is encrypted twice),
* records the acting user by id (no foreign key that a user deletion could
  rewrite),
* makes history rows immutable through the ORM, and
* appends every history row to the audit hash chain in the same transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models, router, transaction
from django.utils import timezone
from simple_history.manager import HistoricalQuerySet
from simple_history.models import HistoricalRecords
from simple_history.utils import get_change_reason_from_object

from . import chain


class ChangeReasonRequired(Exception):
    """A governed record was changed without saying why."""


class HistoryIsImmutable(Exception):
    """History rows are append-only."""


class ImmutableHistory(models.Model):
    """Abstract base of every historical model: rows can be added, never changed."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise HistoryIsImmutable("History rows can't be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise HistoryIsImmutable("History rows can't be deleted.")


class ImmutableHistoricalQuerySet(HistoricalQuerySet):
    def update(self, **kwargs: Any) -> int:
        raise HistoryIsImmutable("History rows can't be changed.")

    def delete(self) -> Any:
        raise HistoryIsImmutable("History rows can't be deleted.")

    def _fetch_all(self) -> None:
        from governance.crypto.store import attach_keys

        fresh = self._result_cache is None
        super()._fetch_all()
        if (
            fresh
            and self._result_cache
            and isinstance(self._result_cache[0], models.Model)
        ):
            attach_keys(self._result_cache, source=self)


def _get_history_user(self: Any) -> Any:
    if self.history_user_id is None:
        return None
    return get_user_model()._default_manager.filter(pk=self.history_user_id).first()


def _set_history_user(self: Any, user: Any) -> None:
    self.history_user_id = getattr(user, "pk", None)


def _encrypted_attnames(model: type[models.Model]) -> set[str]:
    return {field.attname for field in getattr(model._meta, "encrypted_fields", ())}


class GovernedHistoricalRecords(HistoricalRecords):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("bases", [ImmutableHistory])
        kwargs.setdefault("historical_queryset", ImmutableHistoricalQuerySet)
        kwargs.setdefault(
            "history_user_id_field", models.BigIntegerField(null=True, blank=True)
        )
        kwargs.setdefault("history_user_getter", _get_history_user)
        kwargs.setdefault("history_user_setter", _set_history_user)
        kwargs.setdefault("cascade_delete_history", False)
        super().__init__(*args, **kwargs)

    def finalize(self, sender: Any, **kwargs: Any) -> None:
        super().finalize(sender, **kwargs)
        if (
            getattr(sender._meta, "simple_history_manager_attribute", None)
            == self.manager_name
            and sender is self.cls
        ):
            history_model = getattr(sender, self.manager_name).model
            chain.register_table(
                history_model._meta.db_table, history_model._meta.pk.column
            )

    def create_historical_record(
        self, instance: Any, history_type: str, using: Any = None
    ) -> None:
        reason = get_change_reason_from_object(instance)
        if history_type == "~" and not reason:
            raise ChangeReasonRequired(
                f"A reason is required to change {instance._meta.verbose_name} {instance.pk}."
            )
        manager = getattr(instance, self.manager_name)
        history_model = manager.model
        row = build_history_row(
            history_model,
            instance,
            history_type=history_type,
            reason=reason or {"+": "created", "-": "deleted"}.get(history_type, ""),
            user=self.get_history_user(instance),
            date=getattr(instance, "_history_date", None) or timezone.now(),
            fields=self.fields_included(instance),
        )
        db = using if self.use_base_model_db else router.db_for_write(history_model)
        with transaction.atomic(using=db):
            row.save(using=using)
            chain.append(history_model._meta.db_table, [row.pk])


def build_history_row(
    history_model: type[models.Model],
    instance: Any,
    *,
    history_type: str,
    reason: str,
    user: Any,
    date: Any,
    fields: Sequence[models.Field] | None = None,
) -> Any:
    encrypted = _encrypted_attnames(type(instance))
    if fields is None:
        fields = history_model.tracked_fields  # type: ignore[attr-defined]
    attrs: dict[str, Any] = {}
    data = instance.__dict__
    for field in fields:
        attname = field.attname
        # Sealed token as stored: the history row holds ciphertext, not plaintext.
        attrs[attname] = (
            data.get(attname) if attname in encrypted else getattr(instance, attname)
        )
    row = history_model(
        history_date=date,
        history_type=history_type,
        history_change_reason=reason,
        history_user_id=getattr(user, "pk", None),
        **attrs,
    )
    if "_pgp_deks" in data:
        row.__dict__["_pgp_deks"] = data["_pgp_deks"]
    return row


def bulk_history(
    model: type[models.Model],
    instances: Sequence[Any],
    *,
    history_type: str,
    reason: str,
    user: Any,
    using: str = "default",
    live_rows_match: bool = False,
) -> list[int]:
    """History rows for a bulk write, inserted fast and chained in the caller's
    transaction. Returns the new history ids.

    ``live_rows_match`` says the live table holds exactly these instances'
    values (they were just inserted with :func:`governance.bulk.fast_insert` in
    this transaction): on PostgreSQL the server then copies the rows into the
    history table itself instead of receiving them a second time.
    """
    from django.db import connections

    from governance import bulk

    if history_type == "~" and not reason:
        raise ChangeReasonRequired(
            f"A reason is required to change {model._meta.verbose_name_plural}."
        )
    if not instances:
        return []
    history_model = model.history.model  # type: ignore[attr-defined]
    connection = connections[using]
    live_fields = {f.attname: f for f in model._meta.concrete_fields}
    tracked = list(history_model.tracked_fields)  # type: ignore[attr-defined]
    ids = bulk.allocate_ids(history_model, len(instances), using=using)
    date_field = history_model._meta.get_field("history_date")
    now = date_field.get_db_prep_save(timezone.now(), connection)
    user_id = getattr(user, "pk", None)
    columns = [history_model._meta.get_field(f.attname).column for f in tracked] + [
        "history_id",
        "history_date",
        "history_change_reason",
        "history_type",
        "history_user_id",
    ]
    extras = (now, reason, history_type, user_id)
    copy = (
        _copy_live_rows(
            model, history_model, tracked, ids, instances, extras, using=using
        )
        if live_rows_match
        else None
    )
    if copy is None:
        rows = _history_rows(tracked, live_fields, ids, instances, extras, connection)
        bulk.insert_rows(history_model._meta.db_table, columns, rows, using=using)
        hashes = _written_hashes(history_model, columns, rows, using=using)
    else:
        # The server copies the rows while they are rendered and hashed here.
        with copy:
            rows = _history_rows(
                tracked, live_fields, ids, instances, extras, connection
            )
            hashes = _written_hashes(history_model, columns, rows, using=using)
    chain.append(history_model._meta.db_table, ids, hashes=hashes)
    return ids


def _history_rows(
    tracked: Sequence[models.Field],
    live_fields: dict[str, models.Field],
    ids: Sequence[int],
    instances: Sequence[Any],
    extras: Sequence[Any],
    connection: Any,
) -> list[tuple[Any, ...]]:
    """The history rows as written: the live instances' values, converted with
    the live fields' rules (encrypted values are already sealed tokens; the
    same token is valid here), then the history columns."""
    from governance import bulk

    plan = [
        (f.attname, bulk._converter(live_fields.get(f.attname, f), connection))
        for f in tracked
    ]
    rows = []
    for history_id, obj in zip(ids, instances, strict=True):
        data = obj.__dict__
        values = []
        for attname, convert in plan:
            value = data.get(attname)
            if convert is not None and value is not None:
                value = convert(value)
            values.append(value)
        values.append(history_id)
        values.extend(extras)
        rows.append(tuple(values))
    return rows


def _copy_live_rows(
    model: type[models.Model],
    history_model: type[models.Model],
    tracked: Sequence[models.Field],
    history_ids: Sequence[int],
    instances: Sequence[Any],
    extras: Sequence[Any],
    *,
    using: str,
) -> contextlib.AbstractContextManager[None] | None:
    """Have the server insert the history rows as copies of the live rows
    (PostgreSQL only; None: the caller sends the rows itself).

    The statement is sent in psycopg's pipeline mode and not waited for: the
    returned context manager ends the pipeline, and leaving it waits for the
    copy and checks that every row was copied (errors surface there). Code in
    the block may query too: a query's results wait for the copy first.
    """
    from django.db import connections

    from governance import bulk

    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    live_columns = {f.attname: str(f.column) for f in model._meta.concrete_fields}
    if any(f.attname not in live_columns for f in tracked):
        return None
    pk = model._meta.pk
    assert pk is not None
    quote = connection.ops.quote_name
    history_fields = {
        f.attname: str(f.column) for f in history_model._meta.concrete_fields
    }
    if any(f.attname not in history_fields for f in tracked):
        return None
    targets = [history_fields[f.attname] for f in tracked]
    sql = (
        f"INSERT INTO {quote(history_model._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(c) for c in targets)}, history_date, "
        "history_change_reason, history_type, history_user_id, history_id) "
        f"SELECT {', '.join('live.' + quote(live_columns[f.attname]) for f in tracked)}, "
        "%s, %s, %s, %s, pairs.history_id "
        f"FROM unnest(%s::{pk.rel_db_type(connection)}[], %s::bigint[]) "
        "AS pairs(live_id, history_id) "
        f"JOIN {quote(model._meta.db_table)} AS live "
        f"ON live.{quote(str(pk.column))} = pairs.live_id "
        # The same ids again, as a condition on the live table: its primary key
        # index finds them whatever the statistics say (with statistics from
        # before a bulk load the planner hashed the whole table per batch).
        f"WHERE live.{quote(str(pk.column))} = ANY(%s::{pk.rel_db_type(connection)}[])"
    )
    live_ids = bulk.array_literal(obj.pk for obj in instances)
    params = [*extras, live_ids, bulk.array_literal(history_ids), live_ids]
    expected = len(instances)

    @contextlib.contextmanager
    def copying() -> Iterator[None]:
        with connection.cursor() as cursor:
            with bulk.pipelined(using=using):
                cursor.execute(sql, params)
                yield
            if cursor.rowcount != expected:
                raise RuntimeError(
                    f"history of {model._meta.label}: {cursor.rowcount} of "
                    f"{expected} live rows found to copy"
                )

    return copying()


def _written_hashes(
    history_model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    using: str,
) -> list[str] | None:
    """The chain hashes of history rows as written, when the database is known
    to keep every value unchanged (see :func:`governance.bulk.as_stored`);
    ``None`` has the chain read the rows back."""
    from governance import bulk

    by_column = {f.column: f for f in history_model._meta.concrete_fields}
    if set(by_column) != set(columns):
        return None  # a column left to its default: only the database knows it
    stored = bulk.as_stored([by_column[c] for c in columns], rows, using=using)
    return None if stored is None else chain.hash_rows(columns, stored)
