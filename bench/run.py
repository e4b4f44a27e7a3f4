"""`make bench`: every benchmark, on SQLite and (when reachable) PostgreSQL.

Each benchmark is a standalone script that prints its figures and exits
non-zero when it misses a target. Database-bound ones run once per database.
Speed targets live here, never in the test suite.

    python bench/run.py [--only NAME] [--database sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, runs per database?)
BENCHMARKS = [
    ("bench_people.py", True),
    ("bench_spc.py", False),
    ("bench_reports.py", False),
    ("bench_ingest.py", True),
    ("bench_changelist.py", True),
]


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--only", help="run only benchmarks whose file name contains this"
    )
    parser.add_argument(
        "--database", choices=["sqlite", "postgres", "both"], default="both"
    )
    args = parser.parse_args()
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    if "postgres" in databases and not postgres_reachable():
        print(
            "PostgreSQL is not reachable on 127.0.0.1:5432: skipping the PostgreSQL runs."
        )
        databases = [d for d in databases if d != "postgres"]
    failures = []
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    for script, per_database in BENCHMARKS:
        if args.only and args.only not in script:
            continue
        if not (HERE / script).exists():
            continue
        runs = [["--database", db] for db in databases] if per_database else [[]]
        for extra in runs:
            label = f"{script} {' '.join(extra)}".strip()
            print(f"\n== {label}", flush=True)
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, str(HERE / script), *extra], env=env, cwd=HERE.parent
            )
            print(f"   ({time.perf_counter() - started:.1f} s)")
            if result.returncode != 0:
                failures.append(label)
    print()
    if failures:
        print("Targets missed or errors in: " + ", ".join(failures))
        return 1
    print("All benchmark targets met.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
