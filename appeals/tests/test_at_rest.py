"""Appeals at rest: raw SQL over every encrypted column of the appeals tables
(live and history) and the sealed evidence finds no plaintext."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

from appeals import services
from appeals.testing import PDF, file_and_assign, fresh

pytestmark = pytest.mark.django_db

GROUNDS = "The value ignores my leave."
RATIONALE = "Leave days were counted as working days."


def test_raw_sql_finds_no_plaintext_in_appeals_tables(world):
    appeal = file_and_assign(world)
    services.decide(
        actor=fresh(world.user("board")),
        appeal=appeal,
        outcome="rejected",
        rationale=RATIONALE,
    )
    tables = {
        model._meta.db_table: [f.column for f in model._meta.encrypted_fields]
        for model in apps.get_app_config("appeals").get_models()
        if getattr(model._meta, "encrypted_fields", ())
    }
    assert "appeals_appeal" in tables and "appeals_historicalappeal" in tables
    seen = 0
    with connection.cursor() as cursor:
        for table, columns in tables.items():
            cursor.execute(f"SELECT {', '.join(columns)} FROM {table}")
            for row in cursor.fetchall():
                for value in row:
                    if value in (None, ""):
                        continue
                    seen += 1
                    assert value.startswith("pgp1:"), (table, value)
                    for secret in (GROUNDS, RATIONALE, "Recompute it.", "proof.pdf"):
                        assert secret not in value
        cursor.execute("SELECT sealed FROM appeals_evidence")
        blobs = [bytes(row[0]) for row in cursor.fetchall()]
    assert seen >= 4
    assert blobs
    for blob in blobs:
        assert b"%PDF" not in blob and PDF[:64] not in blob
