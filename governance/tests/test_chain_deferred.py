"""``chain.deferred()``: appends queued and chained together at the block's end,
with the same links as immediate appends, and never a row committed without
its link."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from governance.audit import chain, events
from governance.models import AuditEvent, AuditHead, AuditLink

pytestmark = pytest.mark.django_db

EVENTS = AuditEvent._meta.db_table


def _links_of(rows: list[AuditEvent]) -> list[tuple[int, str, str, str]]:
    return list(
        AuditLink.objects.filter(table=EVENTS, row_id__in=[str(r.pk) for r in rows])
        .order_by("seq")
        .values_list("seq", "row_id", "row_hash", "link_hash")
    )


def _head_reads(queries: CaptureQueriesContext) -> int:
    return sum(
        1
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith("SELECT")
        and "governance_audithead" in q["sql"]
    )


def _head() -> tuple[int, str]:
    head = AuditHead.objects.filter(pk=1).first()
    return (head.seq, head.link_hash) if head else (0, chain.GENESIS)


def test_appends_are_chained_at_the_end_in_order_under_one_lock() -> None:
    events.record("test.before")  # the head exists
    seq, prev = _head()
    with CaptureQueriesContext(connection) as queries:
        with chain.deferred():
            rows = [events.record("test.first"), events.record("test.second")]
            assert _links_of(rows) == []  # queued, not yet linked
            rows.append(events.record("test.third"))
        links = _links_of(rows)
    # Exactly the links immediate appends define, one after the other.
    expected = []
    for row in rows:
        row_hash = chain.read_row_hashes(EVENTS, [row.pk])[str(row.pk)]
        seq += 1
        prev = chain.link_hash(prev, EVENTS, str(row.pk), row_hash)
        expected.append((seq, str(row.pk), row_hash, prev))
    assert links == expected
    assert _head() == (seq, prev)
    assert _head_reads(queries) == 1
    assert chain.verify().ok


def test_a_failure_inside_rolls_the_rows_back_with_the_queue() -> None:
    before = AuditEvent.objects.count()
    with pytest.raises(ZeroDivisionError), transaction.atomic(), chain.deferred():
        events.record("test.lost")
        1 / 0  # noqa: B018
    assert AuditEvent.objects.count() == before
    assert chain.verify().ok


def test_a_caught_failure_still_dooms_the_transaction() -> None:
    """Catching the error inside the caller's transaction cannot commit the
    block's rows without their links: the transaction is marked for rollback."""
    with transaction.atomic():
        try:
            with chain.deferred():
                events.record("test.doomed")
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        assert connection.needs_rollback
    # Leaving the block rolled it back (to its savepoint).
    assert not AuditEvent.objects.filter(action="test.doomed").exists()
    assert chain.verify().ok


def test_rows_rolled_back_to_a_savepoint_inside_are_not_chained() -> None:
    with chain.deferred():
        kept = events.record("test.kept")
        try:
            with transaction.atomic():
                events.record("test.undone")
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        also = events.record("test.also_kept")
    assert not AuditEvent.objects.filter(action="test.undone").exists()
    assert [row_id for _, row_id, _, _ in _links_of([kept, also])] == [
        str(kept.pk),
        str(also.pk),
    ]
    assert chain.verify().ok


def test_nested_blocks_join_the_outermost() -> None:
    events.record("test.before")
    with CaptureQueriesContext(connection) as queries:
        with chain.deferred():
            one = events.record("test.one")
            with chain.deferred():
                two = events.record("test.two")
            assert _links_of([one, two]) == []
        assert len(_links_of([one, two])) == 2
    assert _head_reads(queries) == 1
    assert chain.verify().ok


@pytest.mark.django_db(transaction=True)
def test_needs_a_transaction() -> None:
    with pytest.raises(transaction.TransactionManagementError), chain.deferred():
        pass  # pragma: no cover
