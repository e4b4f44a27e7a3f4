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

import contextlib
import datetime
import decimal
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
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


class NotAsStored(Exception):
    """A written value the database may not return unchanged."""


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    raise NotAsStored


def _integer(value: Any) -> Any:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise NotAsStored


def _boolean(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    raise NotAsStored


def _uuid(value: Any) -> Any:
    if value is None or isinstance(value, uuid.UUID):
        return value
    raise NotAsStored


def _date(value: Any) -> Any:
    if value is None or type(value) is datetime.date:
        return value
    raise NotAsStored


def _datetime(value: Any) -> Any:
    # timestamptz comes back in the session's time zone, UTC (checked below).
    if value is None:
        return value
    if isinstance(value, datetime.datetime) and value.utcoffset() is not None:
        return value.astimezone(datetime.UTC)
    raise NotAsStored


def _decimal(value: Any, *, places: int) -> Any:
    # numeric(p, s) keeps a value with at most s decimals exactly (and has no -0).
    if value is None:
        return value
    if (
        isinstance(value, decimal.Decimal)
        and value.is_finite()
        and -int(value.as_tuple().exponent) <= places
    ):
        return value if value else decimal.Decimal(0)
    raise NotAsStored


_TEXT_TYPES = {"CharField", "TextField", "SlugField", "EmailField"}
_INTEGER_TYPES = _IDENTITY_TYPES - _TEXT_TYPES - {"BooleanField"}
_NONE = type(None)


@dataclass(frozen=True)
class _Form:
    """How one column's written values read back."""

    #: every value of one of these classes (or None) reads back unchanged
    keeps: Callable[[type], bool]
    #: the value as read back, or NotAsStored; for columns ``keeps`` doesn't clear
    convert: Callable[[Any], Any]


def _subclass_of(*bases: type, but: tuple[type, ...] = ()) -> Callable[[type], bool]:
    return lambda cls: (
        cls is _NONE or (issubclass(cls, bases) and not issubclass(cls, but))
    )


_TEXT = _Form(_subclass_of(str), _text)  # the sealed token of an encrypted field too
_INTEGER = _Form(_subclass_of(int, but=(bool,)), _integer)
_FORMS = {
    "BooleanField": _Form(_subclass_of(bool), _boolean),
    "UUIDField": _Form(_subclass_of(uuid.UUID), _uuid),
    "DateField": _Form(lambda cls: cls is _NONE or cls is datetime.date, _date),
    # kept only when in UTC (checked per value in as_stored)
    "DateTimeField": _Form(_subclass_of(datetime.datetime), _datetime),
}


def _stored_form(field: models.Field) -> _Form | None:
    if isinstance(field, EncryptedField):
        return _TEXT  # the sealed token
    internal = field.get_internal_type()
    if internal == "ForeignKey":
        return _stored_form(field.target_field)  # type: ignore[attr-defined]
    if internal in _TEXT_TYPES:
        return _TEXT
    if internal in _INTEGER_TYPES:
        return _INTEGER
    if internal in _FORMS:
        return _FORMS[internal]
    if internal == "DecimalField":
        places = field.decimal_places  # type: ignore[attr-defined]
        return _Form(lambda cls: False, partial(_decimal, places=places))
    return None  # JSON, floats, ...: read the row back


def as_stored(
    fields: Sequence[models.Field],
    rows: Sequence[Sequence[Any]],
    *,
    using: str = "default",
) -> Sequence[Sequence[Any]] | None:
    """``rows`` (one value per field) as the database will return them after
    :func:`insert_rows`, or ``None`` when that is not certain.

    Only PostgreSQL, in UTC: it keeps text, integers, booleans, UUIDs, dates,
    time stamps and decimals within the column's scale exactly. A value of an
    unexpected type, a naive time stamp or more decimals than the column keeps
    makes the answer ``None``; so does any field of another kind (JSON, floats)
    and any other database (SQLite hands numbers and dates back in forms of its
    own). The audit chain uses this to hash rows as written instead of reading
    them back; the test settings check every such hash against the stored row.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.timezone_name != "UTC":
        return None
    forms = [_stored_form(field) for field in fields]
    if any(form is None for form in forms):
        return None
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    changed = False
    for n, (form, values) in enumerate(zip(forms, columns, strict=True)):
        assert form is not None
        classes = set(map(type, values))
        kept = all(form.keeps(cls) for cls in classes)
        if kept and form is _FORMS["DateTimeField"]:
            kept = all(v is None or v.tzinfo is datetime.UTC for v in values)
        if kept:
            continue
        try:
            columns[n] = [form.convert(v) for v in values]
        except NotAsStored:
            return None
        changed = True
    return list(zip(*columns, strict=True)) if changed else rows


def array_literal(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal (``{1,2,3}``) of integers, UUIDs or dates, to
    send as one text parameter with a cast (``%s::bigint[]``).

    psycopg dumps a Python list element by element when it binds client-side;
    joining the elements' own text is several times faster for the thousands
    of ids a batch carries. None of these types' text needs quoting; anything
    else is refused rather than escaped.
    """
    parts = []
    for value in values:
        if isinstance(value, uuid.UUID):
            parts.append(value.hex)
        elif isinstance(value, int) and not isinstance(value, bool):
            parts.append(str(value))
        elif type(value) is datetime.date:
            parts.append(value.isoformat())
        else:
            # The type only: the value could be data the reader may not see.
            raise TypeError(
                f"array_literal takes integers, UUIDs or dates, not {type(value).__name__}"
            )
    return "{" + ",".join(parts) + "}"


def _needs_pre_save(field: models.Field) -> bool:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return True
    if type(field).pre_save in (
        models.DateField.pre_save,
        models.DateTimeField.pre_save,
    ):
        return False  # their pre_save only serves auto_now(_add)
    return type(field).pre_save is not models.Field.pre_save


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
    # Column by column: one comprehension per field instead of a Python loop
    # over every (row, field) pair.
    by_column = []
    states = [obj.__dict__ for obj in objs]
    for field, attname, pre, convert in plan:
        if pre:
            values = [field.pre_save(obj, True) for obj in objs]
        else:
            values = [state.get(attname) for state in states]
        if convert is not None:
            values = [None if v is None else convert(v) for v in values]
        by_column.append(values)
    return columns, list(zip(*by_column, strict=True))


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
    return insert_prepared(model, objs, columns, rows, using=using)


def insert_prepared(
    model: type[models.Model],
    objs: Sequence[Any],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    using: str = "default",
) -> int:
    """The second half of :func:`fast_insert`: insert what :func:`prepare` made
    of ``objs`` and mark them saved."""
    count = insert_rows(model._meta.db_table, columns, rows, using=using)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
    return count


@contextlib.contextmanager
def pipelined(*, using: str = "default") -> Iterator[None]:
    """PostgreSQL: queries made in the block are sent without waiting for
    their answers (psycopg's pipeline mode), so the server works while Python
    does; a query's results are waited for when they are read, and leaving the
    block waits for everything sent. Errors are raised as Django's database
    errors, at the latest when the block ends. COPY (:func:`insert_rows`) can't
    run in it. Elsewhere the block runs as it is.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


#: (database alias, table, column) -> the column's sequence, on PostgreSQL, for
#: the life of the process. Its name follows the table's when the table is
#: created; only a schema migration could change it, and that runs in a
#: process of its own before servers and workers start.
_sequences: dict[tuple[str, str, str], str] = {}


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
            # The sequence's name is looked up once: asked per row, it costs
            # about 7 of the 8 ms that 1,000 ids take.
            sequence = _sequences.get((connection.alias, table, column))
            if sequence is None:
                cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
                sequence = cursor.fetchone()[0]
                _sequences[(connection.alias, table, column)] = sequence
            cursor.execute(
                "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
                [sequence, count],
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
