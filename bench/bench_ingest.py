"""Benchmark: API ingestion against a plain bulk_create (issue #3, M2.1).

100,000 observations of a Confidential, individual-level, daily metric sent to
``POST /api/v1/observations/batch`` in batches of 1,000 through the whole stack
(Django's middleware, DRF with token authentication and throttling, alias
mapping, the service layer's validation with every registered capture guard,
change-control state, sealing each value with its person's data key, history
rows and the audit chain, the idempotency record and the batch's audit event),
against a plain ``bulk_create`` of the same rows into an unencrypted copy table
without history. Bodies are JSON-encoded before timing (that is the client's
work); each side commits once per batch. Batches alternate between the two
sides so machine noise hits both alike.

Targets: ratio <= 2 on PostgreSQL, <= 4 on SQLite.

    python bench/bench_ingest.py --database sqlite|postgres [--rows N] [--profile FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import setup

ROWS = 100_000
BATCH = 1_000
PEOPLE = 500
TARGETS = {"postgresql": 2.0, "sqlite": 4.0}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument(
        "--profile", help="write a cProfile of the API side to this file"
    )
    return parser.parse_args()


def main() -> int:
    args = parse()
    setup(args.database)

    import cProfile

    from django.conf import settings
    from django.db import connection, models, transaction
    from django.test.utils import override_settings
    from rest_framework.test import APIClient

    from governance import services as people_services
    from governance.audit import chain
    from governance.classification import Sensitivity
    from governance.models import Department, Jurisdiction, Person
    from governance.roles import Role
    from governance.testing import make_user
    from metrics import services, tokens
    from metrics.models import DataSource, Metric, Observation

    class PlainObservation(models.Model):
        """Observation's columns, value unencrypted, no history, no chain."""

        metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="+")
        person = models.ForeignKey(
            Person, null=True, on_delete=models.PROTECT, related_name="+"
        )
        team_id = models.BigIntegerField(null=True)
        period_start = models.DateField()
        period_end = models.DateField()
        value = models.DecimalField(max_digits=18, decimal_places=4)
        classification = models.PositiveSmallIntegerField()
        status = models.CharField(max_length=12)
        source = models.ForeignKey(
            DataSource, on_delete=models.PROTECT, related_name="+"
        )
        methodology_version = models.PositiveIntegerField()
        entered_by_id = models.BigIntegerField(null=True)
        entered_at = models.DateTimeField()
        supersedes_id = models.BigIntegerField(null=True)
        correction_reason = models.TextField(blank=True)

        class Meta:
            app_label = "metrics"
            db_table = "bench_plainobservation"

    with connection.schema_editor() as editor:
        editor.create_model(PlainObservation)

    # -- the organisation, the metric and the token (not timed) ----------------------
    jurisdiction = Jurisdiction.objects.create(
        code="us-tx", name="Texas", privacy_regime="other"
    )
    department = Department.objects.create(code="sales", name="Sales")
    owner = people_services.person_create(
        actor=None,
        employee_id="OWNER",
        full_name="Metric Owner",
        email="owner@example.com",
        department=department,
        jurisdiction=jurisdiction,
        hire_date=datetime.date(2020, 1, 1),
    )
    people = [
        Person(
            employee_id=f"E{i:05d}",
            full_name=f"Person {i}",
            email=f"p{i}@example.com",
            department=department,
            jurisdiction=jurisdiction,
            hire_date=datetime.date(2020, 1, 1),
        )
        for i in range(PEOPLE)
    ]
    people_services.people_bulk_create(actor=None, reason="bench", people=people)
    source = DataSource.objects.create(code="crm", name="CRM", system="salesforce")
    metric = services.metric_create(
        actor=None,
        key="sales.calls_made",
        name="Calls made",
        indicator="leading",
        level="individual",
        unit="calls",
        sensitivity=Sensitivity.CONFIDENTIAL,
        calculation="count of logged calls",
        source=source,
        owner=owner,
        steward=owner,
        department=department,
        update_frequency="daily",
        validation_rules={"min": 0, "max": 2000, "integer_only": True},
    )
    services.metric_transition(
        actor=None, metric=metric, status="active", reason="benchmark"
    )
    hr = make_user("bench_hr", Role.HR)
    issued = tokens.issue_token(actor=hr, source=source, name="CRM sync", days=1)

    # -- the rows -------------------------------------------------------------------
    rng = random.Random(11)
    start = datetime.date(2020, 1, 1)
    days = -(-args.rows // PEOPLE)
    all_rows = [
        {
            "metric": "sales.calls_made",
            "employee_id": p.employee_id,
            "period_start": (start + datetime.timedelta(days=d)).isoformat(),
            "value": rng.randint(0, 2000),
        }
        for d in range(days)
        for p in people
    ][: args.rows]
    batches = [all_rows[i : i + BATCH] for i in range(0, len(all_rows), BATCH)]
    bodies = [json.dumps({"rows": batch}) for batch in batches]
    person_ids = {p.employee_id: p.pk for p in people}

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    rates = {"api_token": "1000000/min", "api_user": "1000000/min"}
    profiler = cProfile.Profile() if args.profile else None

    def send(n: int, body: str) -> None:
        response = client.post(
            "/api/v1/observations/batch",
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"batch-{n}",
        )
        assert response.status_code == 201, response.content[:500]

    def plain(batch: list[dict]) -> None:
        now = datetime.datetime.now(datetime.UTC)
        with transaction.atomic():
            PlainObservation.objects.bulk_create(
                [
                    PlainObservation(
                        metric_id=metric.pk,
                        person_id=person_ids[row["employee_id"]],
                        period_start=datetime.date.fromisoformat(row["period_start"]),
                        period_end=datetime.date.fromisoformat(row["period_start"]),
                        value=row["value"],
                        classification=metric.sensitivity,
                        status="valid",
                        source_id=source.pk,
                        methodology_version=1,
                        entered_by_id=hr.pk,
                        entered_at=now,
                    )
                    for row in batch
                ],
                batch_size=BATCH,
            )

    api_time = plain_time = api_cpu = plain_cpu = 0.0
    with override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates},
        ALLOWED_HOSTS=["testserver"],
    ):
        send(-1, json.dumps({"rows": [dict(all_rows[0], period_start="2019-12-31")]}))
        for n, (batch, body) in enumerate(zip(batches, bodies, strict=True)):
            c0, t0 = time.process_time(), time.perf_counter()
            plain(batch)
            c1, t1 = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            send(n, body)
            if profiler:
                profiler.disable()
            c2, t2 = time.process_time(), time.perf_counter()
            plain_time += t1 - t0
            api_time += t2 - t1
            plain_cpu += c1 - c0
            api_cpu += c2 - c1

    if profiler:
        profiler.dump_stats(args.profile)
    n = len(all_rows)
    assert Observation.objects.count() == n + 1
    assert PlainObservation.objects.count() == n
    sample = Observation.objects.filter(person__employee_id="E00042").order_by("id")[0]
    assert sample.value == all_rows[42]["value"] and sample.value_plain is None
    assert chain.verify().ok, "audit chain must verify after the benchmark"

    vendor = connection.vendor
    target = TARGETS[vendor]
    ratio = api_time / plain_time
    guards = [g.__qualname__ for g in services._capture_guards]
    hooks = [h.__qualname__ for h, _ in services._post_capture_hooks]
    print(
        f"ingest [{args.database}]: {n:,} observations in batches of {BATCH:,} "
        f"(capture guards: {', '.join(guards) or 'none'}; "
        f"post-capture hooks: {', '.join(hooks) or 'none'})"
    )
    print(
        f"  api    {n / api_time:9,.0f} rows/s ({api_time:6.2f} s, "
        f"{api_time * 1e6 / n:5.1f} µs/row; CPU {api_cpu:6.2f} s in this process)"
    )
    print(
        f"  plain  {n / plain_time:9,.0f} rows/s ({plain_time:6.2f} s, "
        f"{plain_time * 1e6 / n:5.1f} µs/row; CPU {plain_cpu:6.2f} s) "
        "bulk_create, unencrypted, no history"
    )
    ok = ratio <= target
    print(f"  ratio {ratio:4.2f} (target <= {target:g}) {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
