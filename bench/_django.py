"""Shared set-up for benchmarks: a fresh, migrated database per run.

``--database sqlite`` uses a temporary file; ``--database postgres`` a fresh
database on the local server (``BENCH_PG_URL`` overrides the server URL,
``BENCH_DB_PREFIX`` the database name's prefix, e.g. to tell parallel runs apart).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    return parser.parse_args()


def setup(database: str) -> str:
    """Point Django at a fresh database, migrate it, return a label."""
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings_test"
    # Production behaviour: the tests' read-back check of written chain hashes off.
    os.environ["AUDIT_CHAIN_CHECK_WRITES"] = "false"
    if database == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="portal-bench-")) / "bench.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    else:
        prefix = os.environ.get("BENCH_DB_PREFIX", "portal_bench")
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = f"{PG_SERVER}/{name}"
        import atexit

        def _drop() -> None:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        atexit.register(_drop)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return database


def timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    """Best wall time of ``repeat`` runs of ``fn`` (fn returns nothing)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
