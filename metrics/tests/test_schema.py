"""The observation table's indexes, as the database has them (both backends).

Observations are the largest table and every capture writes a thousand rows at
a time, so it carries no index that another one already covers; these tests
keep the lookups served all the same.
"""

from __future__ import annotations

import pytest
from django.db import connection

from metrics.models import Observation

pytestmark = pytest.mark.django_db


def _indexes() -> dict[str, dict]:
    """Indexes (unique ones and the primary key included), not constraints."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(
            cursor, Observation._meta.db_table
        )
    return {
        name: c
        for name, c in found.items()
        if c["columns"] and (c["index"] or c["unique"] or c["primary_key"])
    }


def test_every_foreign_key_leads_an_index() -> None:
    """A reference check (PROTECT on delete, the database's own foreign-key
    check) and a per-subject lookup find the rows through some index whose
    first column is the foreign key."""
    leading = {c["columns"][0] for c in _indexes().values()}
    foreign_keys = [
        f.column for f in Observation._meta.concrete_fields if f.is_relation
    ]
    assert foreign_keys, "observations have foreign keys"
    missing = [column for column in foreign_keys if column not in leading]
    assert not missing, f"foreign keys without an index of their own: {missing}"


def test_no_single_column_index_duplicates_a_composite_one() -> None:
    indexes = _indexes()
    composite_heads = {
        c["columns"][0] for c in indexes.values() if len(c["columns"]) > 1
    }
    redundant = [
        name
        for name, c in indexes.items()
        if len(c["columns"]) == 1
        and c["columns"][0] in composite_heads
        and not c["unique"]
    ]
    assert not redundant, f"covered by a composite index already: {redundant}"


def test_status_index_holds_only_unsettled_rows() -> None:
    """Valid rows (nearly all) are not in the status index; quarantined and
    superseded ones, which a status lookup looks for, are."""
    index = next(i for i in Observation._meta.indexes if i.name == "obs_unsettled")
    assert index.fields == ["status"]
    assert index.condition is not None
    assert "obs_unsettled" in _indexes()
    assert not any(
        c["columns"] == ["status"] and name != "obs_unsettled"
        for name, c in _indexes().items()
    )


def test_history_is_indexed_for_its_reads_only() -> None:
    """History is read per observation, per period and per subject; each batch
    writes a history row per value, so other references carry no index."""
    table = Observation.history.model._meta.db_table  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    indexed = {
        tuple(c["columns"])
        for c in found.values()
        if c["columns"] and (c["index"] or c["unique"] or c["primary_key"])
    }
    assert indexed == {("history_id",), ("id",), ("history_date",), ("person_id",)}
