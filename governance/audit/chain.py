"""Tamper-evident hash chain over the whole audit trail (G.AUD).

Every history row and every audit event gets one :class:`AuditLink`, written in
the same transaction as the row. A link stores the SHA-256 of the row *exactly
as stored* (read back with raw SQL, so ciphertext is hashed, not plaintext; a
bulk writer that knows the stored form may pass the hashes, see :func:`append`) and
``link_hash = SHA-256(previous link_hash | table | row id | row hash)``. A
single head row, locked for update, serialises appends.

Verification (``manage.py verify_audit``) walks the links in order and reports
the first break: an edited link, a missing link (gap), an edited or deleted row,
or a row that has no link (inserted behind the application's back). Comparing
the head with one recorded elsewhere catches truncation of the tail.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import hashlib
import json
import operator
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction

GENESIS = "0" * 64
_BATCH = 500

#: db_table -> primary key column, for every table the chain covers.
_CHAINED_TABLES: dict[str, str] = {}


def register_table(db_table: str, pk_column: str) -> None:
    _CHAINED_TABLES[db_table] = pk_column


def chained_tables() -> dict[str, str]:
    return dict(_CHAINED_TABLES)


def _norm(value: Any) -> Any:
    if value is None or (isinstance(value, (str, int)) and not isinstance(value, bool)):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "b:" + bytes(value).hex()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return "d:" + format(value.normalize(), "f")
    if isinstance(value, float):
        return "f:" + repr(value)
    if isinstance(value, uuid.UUID):
        return value.hex
    return str(value)


def _row_hash(columns: Sequence[str], row: Sequence[Any]) -> str:
    canonical = json.dumps(
        sorted(zip(columns, (_norm(v) for v in row), strict=True)),
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_string = json.encoder.encode_basestring  # what the encoder above does to a str


def _as_json(value: Any) -> str:
    """The canonical text of one value, for any type (see ``_row_hash``)."""
    return _encode(_norm(value))


#: The canonical text of the commonest types, by exact class, mostly without a
#: Python-level call; anything else (subclasses included) goes through
#: :func:`_as_json`.
_FAST_JSON: dict[type, Any] = {
    str: _string,
    int: int.__repr__,
    type(None): "null".format,
    bool: ("0", "1").__getitem__,
    datetime.datetime: lambda v: '"' + v.isoformat() + '"',  # nothing to escape
    datetime.date: '"{}"'.format,  # str(date) is its ISO format
    uuid.UUID: '"{0.hex}"'.format,
    decimal.Decimal: lambda v: _string("d:" + format(v.normalize(), "f")),
}


def _row_hasher(columns: Sequence[str]) -> Any:
    """``_row_hash`` for many rows with these columns, about 2.5 times as fast.

    It writes the same canonical text (pairs sorted by column name, which is
    unique) from a template built once (``[["alpha",%s],["beta",%s]]``) and each
    value rendered by its class's entry in ``_FAST_JSON``. ``test_chain_written``
    holds it to ``_row_hash`` over every type a row can hold.
    """
    order = sorted(range(len(columns)), key=columns.__getitem__)
    template = (
        "["
        + ",".join("[" + _string(columns[i]).replace("%", "%%") + ",%s]" for i in order)
        + "]"
    )
    width = len(order)
    pick = operator.itemgetter(*order) if width > 1 else None
    render = _FAST_JSON.get
    sha256 = hashlib.sha256

    def hash_row(row: Sequence[Any]) -> str:
        if len(row) != width:
            raise ValueError(f"audit chain: {len(row)} values for {width} columns")
        values = pick(row) if pick is not None else (row[order[0]],)
        rendered = tuple([render(v.__class__, _as_json)(v) for v in values])
        return sha256((template % rendered).encode()).hexdigest()

    return hash_row


#: Values of these classes compare equal in C, and equal values of one class
#: render alike (time stamps: when their UTC offsets agree too), so a constant
#: column is cheap to find. Not decimals: -0 equals 0 but renders apart.
_CHEAP_EQUALITY = frozenset(
    {str, int, type(None), bool, datetime.datetime, datetime.date}
)


def _constant(values: Sequence[Any]) -> bool:
    first = values[0]
    cls = first.__class__
    return (
        cls in _CHEAP_EQUALITY
        and values.count(first) == len(values)
        and all(v.__class__ is cls for v in values)
        and (
            cls is not datetime.datetime
            or all(v.utcoffset() == first.utcoffset() for v in values)
        )
    )


def _column_renderer(classes: set[type]) -> Any:
    """One function rendering every value of a column whose values are of
    exactly these classes, or None when the column needs per-value dispatch."""
    if len(classes) != 1:
        return None
    (cls,) = classes
    fast = _FAST_JSON.get(cls)
    if fast is not None:
        return fast
    if issubclass(cls, str):
        return _string  # a str subclass (a sealed token, a text choice) as a str
    return None


def hash_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """``_row_hash`` of each row, in order.

    Column by column: a column holding one value throughout (the batch's time
    stamp, its metric, its reason) is rendered once, a column of one class is
    rendered by one function over all its values; only mixed columns dispatch
    per value. Same canonical text as :func:`_row_hasher`.
    """
    rows = list(rows)
    if not rows:
        return []
    width = len(columns)
    if any(len(row) != width for row in rows):
        raise ValueError(f"audit chain: rows must have {width} values, one per column")
    order = sorted(range(width), key=columns.__getitem__)
    template = (
        "["
        + ",".join("[" + _string(columns[i]).replace("%", "%%") + ",%s]" for i in order)
        + "]"
    )
    count = len(rows)
    by_column = list(zip(*rows, strict=True))
    rendered: list[Sequence[str]] = []
    render = _FAST_JSON.get
    for i in order:
        values = by_column[i]
        if _constant(values):
            first = values[0]
            rendered.append([render(first.__class__, _as_json)(first)] * count)
            continue
        column_renderer = _column_renderer(set(map(type, values)))
        if column_renderer is not None:
            rendered.append(list(map(column_renderer, values)))
        else:
            rendered.append([render(v.__class__, _as_json)(v) for v in values])
    sha256 = hashlib.sha256
    return [
        sha256((template % texts).encode()).hexdigest()
        for texts in zip(*rendered, strict=True)
    ]


def link_hash(prev: str, table: str, row_id: str, row_hash: str) -> str:
    return hashlib.sha256(f"{prev}|{table}|{row_id}|{row_hash}".encode()).hexdigest()


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def read_row_hashes(table: str, ids: Sequence[Any]) -> dict[str, str]:
    """SHA-256 of each stored row, keyed by its primary key as text."""
    pk = _CHAINED_TABLES[table]
    hashes: dict[str, str] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            chunks = [list(ids)]
        else:
            chunks = [list(ids[s : s + _BATCH]) for s in range(0, len(ids), _BATCH)]
        for chunk in chunks:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"SELECT * FROM {_quote(table)} WHERE {_quote(pk)} = ANY(%s)",
                    [chunk],
                )
            else:
                placeholders = ", ".join(["%s"] * len(chunk))
                cursor.execute(
                    f"SELECT * FROM {_quote(table)} WHERE {_quote(pk)} IN ({placeholders})",
                    chunk,
                )
            columns = [col[0] for col in cursor.description]
            pk_index = columns.index(pk)
            hash_row = _row_hasher(columns)
            for row in cursor.fetchall():
                hashes[str(row[pk_index])] = hash_row(row)
    return hashes


def append(
    table: str, ids: Sequence[Any], *, hashes: Sequence[str] | None = None
) -> None:
    """Chain the given rows of ``table`` (already inserted, same transaction).

    ``hashes`` are the rows' hashes as the caller wrote them, in ``ids`` order
    (see :func:`governance.audit.history.bulk_history`); without them the rows
    are read back. With ``AUDIT_CHAIN_CHECK_WRITES`` (on in the test settings)
    the rows are read back anyway and any difference is an error, so every test
    that writes proves the written hashes equal the stored ones.

    Inside :func:`deferred` the rows are queued and chained when the block ends.
    """
    if not ids:
        return
    if not transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            append(table, ids, hashes=hashes)
        return
    if hashes is not None and len(hashes) != len(ids):
        raise ValueError("audit chain: one hash per row is needed")
    pending = _pending()
    if pending is not None:
        pending.append((table, list(ids), None if hashes is None else list(hashes)))
        return
    _chain([(table, ids, hashes)])


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Chain every :func:`append` made inside the block when the block ends,
    under one lock of the head: one head read, one insert of links and one head
    update for the lot instead of one each per append. The links are the same,
    in the same order, as immediate appends would have written.

    The block is an atomic block without a savepoint (it must run inside a
    transaction): if it fails, the whole transaction is marked for rollback, so
    rows written in it can never commit without their links. If a savepoint was
    created inside the block (one might have been rolled back, taking some of
    the queued rows with it), the queued rows are read back instead of trusting
    the writers' hashes, and rows no longer there are not chained. Nested blocks
    join the outermost one.
    """
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        raise transaction.TransactionManagementError(
            "audit chain: deferred() must run inside a transaction"
        )
    if _pending() is not None:
        yield
        return
    queued: list[tuple[str, list[Any], list[str] | None]] = []
    savepoints = conn.savepoint_state
    with transaction.atomic(savepoint=False):
        conn._audit_chain_pending = queued  # type: ignore[attr-defined]
        try:
            yield
        finally:
            conn._audit_chain_pending = None  # type: ignore[attr-defined]
        if queued:
            if conn.savepoint_state != savepoints:
                queued = _still_there(queued)
            _chain(queued)


def _pending() -> list[tuple[str, list[Any], list[str] | None]] | None:
    return getattr(transaction.get_connection(), "_audit_chain_pending", None)


def _still_there(
    queued: Sequence[tuple[str, Sequence[Any], Sequence[str] | None]],
) -> list[tuple[str, list[Any], list[str] | None]]:
    """The queued rows that still exist, each with its hash as stored.

    A row rolled back to a savepoint may have left its id to a later row (SQLite
    reuses the highest id): an id queued twice is chained once, where it was
    queued last, since the row there now is the later one.
    """
    last = {
        (table, str(row_id)): n
        for n, (table, ids, _) in enumerate(queued)
        for row_id in ids
    }
    kept: list[tuple[str, list[Any], list[str] | None]] = []
    for n, (table, ids, _) in enumerate(queued):
        stored = read_row_hashes(table, ids)
        present = [
            row_id
            for row_id in ids
            if str(row_id) in stored and last[(table, str(row_id))] == n
        ]
        if present:
            kept.append((table, present, [stored[str(r)] for r in present]))
    return kept


def _chain(
    entries: Sequence[tuple[str, Sequence[Any], Sequence[str] | None]],
) -> None:
    """Link the rows of every entry, in order, under one lock of the head."""
    AuditHead = apps.get_model("governance", "AuditHead")
    AuditLink = apps.get_model("governance", "AuditLink")
    check = getattr(settings, "AUDIT_CHAIN_CHECK_WRITES", False)
    resolved: list[tuple[str, Sequence[Any], list[str]]] = []
    for table, ids, hashes in entries:
        if hashes is None:
            stored = read_row_hashes(table, ids)
            try:
                row_hashes = [stored[str(row_id)] for row_id in ids]
            except KeyError as missing:
                raise RuntimeError(
                    f"audit chain: row {table}#{missing.args[0]} vanished before chaining"
                ) from None
        else:
            row_hashes = list(hashes)
            if check:
                _check_written(table, ids, row_hashes)
        resolved.append((table, ids, row_hashes))
    head, _ = AuditHead.objects.select_for_update().get_or_create(
        pk=1, defaults={"seq": 0, "link_hash": GENESIS}
    )
    prev, seq = head.link_hash, head.seq
    links = []
    for table, ids, row_hashes in resolved:
        for row_id, row_hash in zip(ids, row_hashes, strict=True):
            key = str(row_id)
            seq += 1
            prev = link_hash(prev, table, key, row_hash)
            links.append((seq, table, key, row_hash, prev))
    from governance import bulk

    bulk.insert_rows(
        AuditLink._meta.db_table,
        ["seq", "table", "row_id", "row_hash", "link_hash"],
        links,
    )
    head.seq, head.link_hash = seq, prev
    head.save(update_fields=["seq", "link_hash"])


def _check_written(table: str, ids: Sequence[Any], hashes: Sequence[str]) -> None:
    stored = read_row_hashes(table, ids)
    for row_id, row_hash in zip(ids, hashes, strict=True):
        if stored.get(str(row_id)) != row_hash:
            raise RuntimeError(
                f"audit chain: {table}#{row_id} as written does not hash like the "
                "stored row; the written form of one of its values is not what the "
                "database keeps"
            )


@dataclass(frozen=True)
class Break:
    """One place where the trail no longer matches its chain."""

    kind: str  # link-edited | link-missing | row-edited | row-deleted | row-inserted | head
    table: str
    row_id: str
    seq: int | None
    detail: str

    def __str__(self) -> str:
        where = f"{self.table}#{self.row_id}" if self.table else "chain head"
        at = f" (link {self.seq})" if self.seq is not None else ""
        return f"{self.kind}: {where}{at}: {self.detail}"


@dataclass
class Report:
    links: int
    head: str
    breaks: list[Break]

    @property
    def ok(self) -> bool:
        return not self.breaks


def _iter_links() -> Iterator[Any]:
    AuditLink = apps.get_model("governance", "AuditLink")
    last = 0
    while True:
        batch = list(
            AuditLink.objects.filter(seq__gt=last)
            .order_by("seq")
            .values_list("seq", "table", "row_id", "row_hash", "link_hash")[:5000]
        )
        if not batch:
            return
        yield from batch
        last = batch[-1][0]


def verify(*, expect_head: str | None = None, stop_at_first: bool = False) -> Report:
    """Recompute the chain and compare it with the stored rows."""
    AuditHead = apps.get_model("governance", "AuditHead")
    breaks: list[Break] = []
    prev, expected_seq = GENESIS, 0
    linked: dict[str, set[str]] = {table: set() for table in _CHAINED_TABLES}
    pending: dict[str, list[tuple[int, str, str]]] = {}
    count = 0

    def flush(table: str) -> None:
        items = pending.pop(table, [])
        if not items:
            return
        actual = (
            read_row_hashes(table, [row_id for _, row_id, _ in items])
            if table in _CHAINED_TABLES
            else {}
        )
        for seq, row_id, row_hash in items:
            if row_id not in actual:
                breaks.append(
                    Break("row-deleted", table, row_id, seq, "row is missing")
                )
            elif actual[row_id] != row_hash:
                breaks.append(
                    Break("row-edited", table, row_id, seq, "row content changed")
                )

    for seq, table, row_id, row_hash, stored in _iter_links():
        count += 1
        expected_seq += 1
        if seq != expected_seq:
            breaks.append(
                Break(
                    "link-missing",
                    table,
                    row_id,
                    seq,
                    f"links {expected_seq}..{seq - 1} are missing",
                )
            )
            expected_seq = seq
        prev = link_hash(prev, table, row_id, row_hash)
        if prev != stored:
            breaks.append(
                Break("link-edited", table, row_id, seq, "link hash does not match")
            )
            prev = stored  # resynchronise so later links are judged on their own
        linked.setdefault(table, set()).add(row_id)
        pending.setdefault(table, []).append((seq, row_id, row_hash))
        if len(pending[table]) >= _BATCH:
            flush(table)
        if stop_at_first and breaks:
            break
    for table in list(pending):
        flush(table)

    # Rows nobody chained: inserted behind the application's back.
    with connection.cursor() as cursor:
        for table, pk in _CHAINED_TABLES.items():
            cursor.execute(
                f"SELECT {_quote(pk)} FROM {_quote(table)} ORDER BY {_quote(pk)}"
            )
            for (row_id,) in cursor.fetchall():
                if str(row_id) not in linked.get(table, ()):
                    breaks.append(
                        Break(
                            "row-inserted", table, str(row_id), None, "row has no link"
                        )
                    )

    head_row = AuditHead.objects.filter(pk=1).first()
    head_hash = head_row.link_hash if head_row else GENESIS
    head_seq = head_row.seq if head_row else 0
    if head_seq != expected_seq or head_hash != prev:
        breaks.append(
            Break(
                "head",
                "",
                "",
                head_seq,
                f"head says link {head_seq}, chain ends at link {expected_seq}",
            )
        )
    expected_hash = expect_head.rpartition(":")[2] if expect_head else None
    if expected_hash and expected_hash != prev:
        breaks.append(
            Break(
                "head",
                "",
                "",
                expected_seq,
                "chain head differs from the head recorded elsewhere "
                "(trail truncated or rewritten)",
            )
        )
    breaks.sort(key=lambda b: (b.seq is None, b.seq or 0))
    return Report(links=count, head=f"{expected_seq}:{prev}", breaks=breaks)


def head() -> str:
    AuditHead = apps.get_model("governance", "AuditHead")
    row = AuditHead.objects.filter(pk=1).first()
    return f"{row.seq}:{row.link_hash}" if row else f"0:{GENESIS}"


def chain_ids(rows: Iterable[Any]) -> list[Any]:
    return [row.pk for row in rows]
