"""The fast bulk write path: COPY on PostgreSQL, ``executemany`` on SQLite.

``QuerySet.bulk_create`` spends most of its time compiling SQL value by value.
Governed bulk writes (people, observations, their history rows and chain links)
go through here instead: values are prepared once per field with the field's own
``pre_save``/``get_db_prep_save`` where it matters (encryption, dates on SQLite,
JSON), and handed to the driver in one COPY stream or one ``executemany``.

Callers are services that have already validated every row; this module only
writes. Primary keys must be set (UUIDs) or allocated with :func:`allocate_ids`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models

from governance.crypto.fields import EncryptedField

_BATCH = 2000
_IDENTITY_TYPES = {
    "CharField",
    "TextField",
    "SlugField",
    "EmailField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "PositiveBigIntegerField",
    "BooleanField",
    "AutoField",
    "BigAutoField",
}
# Types psycopg adapts natively for COPY; SQLite needs Django's conversion.
_PG_NATIVE = _IDENTITY_TYPES | {
    "UUIDField",
    "DateField",
    "DateTimeField",
    "DecimalField",
    "BinaryField",
    "FloatField",
}


def _converter(field: models.Field, connection: Any) -> Callable[[Any], Any] | None:
    """How to turn an attribute value into a driver value (None = as is)."""
    if isinstance(field, EncryptedField):
        return None  # pre_save has produced the sealed token (a str)
    internal = field.get_internal_type()
    if internal == "ForeignKey":
        target = field.target_field  # type: ignore[attr-defined]
        return _converter(target, connection)
    if internal == "JSONField":
        return lambda v: None if v is None else json.dumps(v, cls=DjangoJSONEncoder)
    native = _PG_NATIVE if connection.vendor == "postgresql" else _IDENTITY_TYPES
    if internal in native:
        return None
    return lambda v: field.get_db_prep_save(v, connection)


def _needs_pre_save(field: models.Field) -> bool:
    return (
        type(field).pre_save is not models.Field.pre_save
        or getattr(field, "auto_now", False)
        or getattr(field, "auto_now_add", False)
    )


def insert_rows(
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    using: str = "default",
) -> int:
    """Insert prepared row tuples; returns the number of rows."""
    connection = connections[using]
    rows = list(rows)
    if not rows:
        return 0
    quote = connection.ops.quote_name
    column_sql = ", ".join(quote(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            with raw.copy(f"COPY {quote(table)} ({column_sql}) FROM STDIN") as copy:  # type: ignore[arg-type]
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {quote(table)} ({column_sql}) VALUES ({placeholders})"  # noqa: S608
            for start in range(0, len(rows), _BATCH):
                cursor.executemany(sql, rows[start : start + _BATCH])
    return len(rows)


def prepare(
    model: type[models.Model], objs: Sequence[Any], *, using: str = "default"
) -> tuple[list[str], list[tuple]]:
    """Columns and driver-ready value tuples of ``objs`` (pk must be set)."""
    connection = connections[using]
    fields = list(model._meta.concrete_fields)
    columns = [str(f.column) for f in fields]
    plan = [
        (f, f.attname, _needs_pre_save(f), _converter(f, connection)) for f in fields
    ]
    rows = []
    for obj in objs:
        values = []
        for field, attname, pre, convert in plan:
            value = field.pre_save(obj, True) if pre else obj.__dict__.get(attname)
            if convert is not None and value is not None:
                value = convert(value)
            values.append(value)
        rows.append(tuple(values))
    return columns, rows


def fast_insert(
    model: type[models.Model], objs: Sequence[Any], *, using: str = "default"
) -> int:
    """Insert model instances whose primary keys are already set."""
    if not objs:
        return 0
    pk = model._meta.pk.attname
    if any(obj.__dict__.get(pk) is None for obj in objs):
        raise ValueError(
            f"fast_insert needs primary keys for {model._meta.label}; allocate them first."
        )
    columns, rows = prepare(model, objs, using=using)
    count = insert_rows(model._meta.db_table, columns, rows, using=using)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
    return count


def allocate_ids(
    model: type[models.Model], count: int, *, using: str = "default"
) -> list[int]:
    """Reserve ``count`` integer primary keys for rows about to be inserted.

    PostgreSQL draws them from the column's sequence. SQLite takes the next
    ones above the current maximum; that is safe because SQLite transactions
    here are IMMEDIATE (the writer holds the database lock until commit).
    """
    if count <= 0:
        return []
    connection = connections[using]
    table, column = model._meta.db_table, str(model._meta.pk.column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, column, count],
            )
            return [row[0] for row in cursor.fetchall()]
        quote = connection.ops.quote_name
        cursor.execute(f"SELECT COALESCE(MAX({quote(column)}), 0) FROM {quote(table)}")  # noqa: S608
        top = cursor.fetchone()
        start = int(top[0] if top else 0) + 1
        # AUTOINCREMENT never reuses an id, even of a deleted top row: honour that.
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        if row is not None:
            start = max(start, int(row[0]) + 1)
        return list(range(start, start + count))
