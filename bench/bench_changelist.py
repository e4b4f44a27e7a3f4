"""Benchmark: the observations admin changelist at 1,000,000 rows.

The real ``ObservationAdmin`` (scoping, masking, decryption of sealed values,
"data as of") against a plain ``ModelAdmin`` on a separate ``AdminSite`` over an
unencrypted copy of the same rows, both through the Django test client with the
full middleware stack, signed in as HR staff (every row) and as a manager
(their team and its sub-team: about 2% of the rows).

Data: 2,000 people in 100 teams, 8 weekly individual metrics (6 Confidential,
sealed with each person's data key exactly as the encrypted field seals them)
and 2 daily team metrics, 1,000,000 rows in all, loaded with
``governance.bulk.insert_rows`` (COPY on PostgreSQL). History rows are not
written: the changelist never reads them. Both tables have the same indexes and
are ANALYZEd after loading.

The plain admin mirrors the real one's listing (columns, select_related,
filters, search, 50 rows per page, ``show_full_result_count = False``, the same
paginator class) but has no scoping, masking or encryption. For the manager its queryset is narrowed
the way a plain app would (people in the manager's teams, or the teams), so
both sides list the same rows.

Targets (issue #3): median page time ratio <= 1.5 for both users, and a query
count that does not grow from 50 to 200 rows per page.

    python bench/bench_changelist.py --database sqlite|postgres [--rows N] [--loads N]
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import os
import random
import re
import shutil
import statistics
import sys
import time
import types
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import setup

ROWS = 1_000_000
LOADS = 15
WARMUP = 3
PEOPLE = 2_000
TEAMS = 100  # besides the manager's team and its sub-team
INDIVIDUAL_METRICS = 8
CONFIDENTIAL_INDIVIDUAL = 6
TEAM_METRICS = 2
CHUNK = 50_000
RATIO_TARGET = 1.5
HOPELESS = 4 * RATIO_TARGET  # stop timing early beyond this ratio


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--rows",
        type=int,
        default=ROWS,
        help="at least 16,000 (one week per person and metric)",
    )
    parser.add_argument("--loads", type=int, default=LOADS)
    parser.add_argument(
        "--keep", action="store_true", help="keep the SQLite file for inspection"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print where one governed and one plain page spend their time",
    )
    return parser.parse_args()


def _remove_sqlite_file() -> None:
    """The SQLite run's database is ~600 MB: remove it (and its directory)."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("sqlite:///") and "portal-bench-" in url:
        shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)


def main() -> int:
    args = parse_args()
    setup(args.database)
    if args.database == "sqlite" and not args.keep:
        atexit.register(_remove_sqlite_file)

    from django.conf import settings
    from django.contrib import admin
    from django.db import connection, models, transaction
    from django.db.models import Q
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import clear_url_caches, path

    import portal.urls
    from governance import bulk, services
    from governance.classification import Sensitivity
    from governance.crypto import keyring, store
    from governance.models import Membership, Person, Team
    from governance.testing import build_org
    from metrics import services as metric_services
    from metrics.models import DataSource, Metric, Observation

    # -- the plain copy --------------------------------------------------------

    class PlainObservation(models.Model):
        """Observation's columns, unencrypted, with the same indexes; no history."""

        metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="+")
        person = models.ForeignKey(
            Person, null=True, on_delete=models.PROTECT, related_name="+"
        )
        team = models.ForeignKey(
            Team, null=True, on_delete=models.PROTECT, related_name="+"
        )
        period_start = models.DateField()
        period_end = models.DateField()
        value = models.DecimalField(max_digits=18, decimal_places=4)
        classification = models.PositiveSmallIntegerField(choices=Sensitivity.choices)
        status = models.CharField(max_length=12, choices=Observation.Status.choices)
        source = models.ForeignKey(
            DataSource, on_delete=models.PROTECT, related_name="+"
        )
        methodology_version = models.PositiveIntegerField()
        entered_by_id = models.BigIntegerField(null=True)
        entered_at = models.DateTimeField()
        correction_reason = models.TextField(blank=True)

        class Meta:
            app_label = "metrics"
            db_table = "bench_plainobservation"
            ordering = ["-period_start", "-id"]
            # Whatever indexes Observation declares, so an index added there
            # speeds both sides up and the ratio keeps measuring governance.
            indexes = [
                models.Index(
                    fields=index.fields, name=f"bench_po_{n}", condition=index.condition
                )
                for n, index in enumerate(Observation._meta.indexes)
            ]

        def __str__(self) -> str:
            return f"{self.metric_id}:{self.period_start} #{self.pk}"

    if Observation not in admin.site._registry:
        print(
            "changelist: no ObservationAdmin registered (metrics/admin.py): nothing to measure"
        )
        return 1
    with connection.schema_editor() as editor:
        editor.create_model(PlainObservation)

    # -- organisation, people, metrics -------------------------------------------

    started = time.perf_counter()
    org = build_org()
    hr, manager = org.users["hr"], org.users["manager"]
    rng = random.Random(20250301)
    Team.objects.bulk_create(
        Team(name=f"Bench team {i:03d}", department=org.product, function="engineering")
        for i in range(TEAMS)
    )
    other_teams = list(Team.objects.filter(name__startswith="Bench team"))
    # 20 people per team; the manager's team and sub-team get the first 40.
    team_of = [org.team_a] * 20 + [org.team_a1] * 20
    team_of += [other_teams[i % TEAMS] for i in range(PEOPLE - len(team_of))]
    people = [
        Person(
            employee_id=f"B{i:06d}",
            full_name=f"Bench Person {i}",
            email=f"bench{i}@example.com",
            department=team.department,
            jurisdiction=org.us,
            manager=org.people["manager_a"]
            if team in (org.team_a, org.team_a1)
            else None,
            hire_date=datetime.date(2020, 1 + i % 12, 1 + i % 28),
            gender=rng.choice(["female", "male", "non-binary"]),
        )
        for i, team in enumerate(team_of)
    ]
    services.people_bulk_create(actor=None, reason="benchmark load", people=people)
    Membership.objects.bulk_create(
        Membership(person=p, team=t) for p, t in zip(people, team_of, strict=True)
    )

    manual = DataSource.objects.create(
        code="manual", name="Manual entry", documented=True
    )
    jira = DataSource.objects.create(
        code="jira", name="Jira", system="jira", documented=True
    )
    metrics = []
    for i in range(INDIVIDUAL_METRICS + TEAM_METRICS):
        individual = i < INDIVIDUAL_METRICS
        metric = metric_services.metric_create(
            actor=None,
            key=f"bench.{'person' if individual else 'team'}_measure_{i}",
            name=f"Bench measure {i}",
            description="Benchmark metric",
            indicator="leading" if i % 2 else "lagging",
            level="individual" if individual else "team",
            unit="points",
            sensitivity=(
                Sensitivity.CONFIDENTIAL
                if i < CONFIDENTIAL_INDIVIDUAL
                else Sensitivity.INTERNAL
            ),
            calculation="count",
            source=manual if individual else jira,
            owner=org.people["manager_b"],
            steward=org.people["steward_sales"],
            department=org.sales,
            team=None if individual else org.team_a,
            update_frequency="weekly" if individual else "daily",
        )
        metric_services.metric_transition(
            actor=None, metric=metric, status="active", reason="benchmark"
        )
        metrics.append(metric)
    org_seconds = time.perf_counter() - started

    # -- 1,000,000 observations, sealed like the field seals them -----------------

    started = time.perf_counter()
    field = Observation._meta.get_field("value_sealed")
    keys = store.keys_for([p.pk for p in people])
    team_ids = [org.team_a.pk, org.team_a1.pk, *(t.pk for t in other_teams)]
    individual_rows = PEOPLE * INDIVIDUAL_METRICS
    weeks = max(1, round(args.rows * 0.96 / individual_rows))
    days = max(
        1, (args.rows - individual_rows * weeks) // (len(team_ids) * TEAM_METRICS) + 1
    )
    first_monday = datetime.date(2024, 1, 1)
    today = first_monday + datetime.timedelta(weeks=weeks)

    gov_fields = list(Observation._meta.concrete_fields)
    plain_fields = list(PlainObservation._meta.concrete_fields)
    gov_conv = {f.attname: bulk._converter(f, connection) for f in gov_fields}
    plain_conv = {f.attname: bulk._converter(f, connection) for f in plain_fields}
    cache: dict[tuple[str, object], object] = {}

    def db(conv: dict, attname: str, value: object) -> object:
        convert = conv.get(attname)
        if convert is None or value is None:
            return value
        hit = cache.get((attname, value))
        if hit is None:
            hit = cache[(attname, value)] = convert(value)
        return hit

    defaults = {f.attname: f.get_default() for f in gov_fields}

    def rows():  # (governed row, plain row) pairs
        pk = 0
        for person in people:
            for metric in metrics[:INDIVIDUAL_METRICS]:
                sealed = metric.sensitivity >= Sensitivity.CONFIDENTIAL
                dek = keys[person.pk]
                aad = field._aad(person.pk)
                for w in range(weeks):
                    start = first_monday + datetime.timedelta(weeks=w)
                    value = Decimal(rng.randint(20, 180))
                    yield _pair(
                        pk := pk + 1, metric, person.pk, None, start,
                        start + datetime.timedelta(days=6), value,
                        keyring.seal(dek, field.encode_plain(value), aad) if sealed else None,
                    )  # fmt: skip
        for metric in metrics[INDIVIDUAL_METRICS:]:
            for team_id in team_ids:
                for d in range(days):
                    if pk >= args.rows:
                        return
                    start = today - datetime.timedelta(days=days - d)
                    value = Decimal(rng.randint(0, 400)) / 4
                    yield _pair(
                        pk := pk + 1, metric, None, team_id, start, start, value, None
                    )

    def _pair(pk, metric, person_id, team_id, start, end, value, token):  # type: ignore[no-untyped-def]
        status = "quarantined" if pk % 211 == 0 else "valid"
        entered = datetime.datetime.combine(
            end + datetime.timedelta(days=1), datetime.time(2), datetime.UTC
        )
        common = {
            "id": pk,
            "metric_id": metric.pk,
            "person_id": person_id,
            "team_id": team_id,
            "period_start": start,
            "period_end": end,
            "classification": metric.sensitivity,
            "status": status,
            "source_id": metric.source_id,
            "methodology_version": 1,
            "entered_by_id": None,
            "entered_at": entered,
            "correction_reason": "",
        }
        gov = {
            **defaults,
            **common,
            "value_plain": None if token else value,
            "value_sealed": token,
            "supersedes_id": None,
        }
        plain = {**common, "value": value}
        return (
            tuple(db(gov_conv, f.attname, gov.get(f.attname)) for f in gov_fields),
            tuple(db(plain_conv, f.attname, plain[f.attname]) for f in plain_fields),
        )

    gov_columns = [f.column for f in gov_fields]
    plain_columns = [f.column for f in plain_fields]
    loaded = sealed_count = 0
    with transaction.atomic():
        gov_chunk: list[tuple] = []
        plain_chunk: list[tuple] = []
        sealed_at = gov_columns.index("value_sealed")
        for gov_row, plain_row in rows():
            gov_chunk.append(gov_row)
            plain_chunk.append(plain_row)
            sealed_count += gov_row[sealed_at] is not None
            if len(gov_chunk) >= CHUNK:
                loaded += bulk.insert_rows(
                    Observation._meta.db_table, gov_columns, gov_chunk
                )
                bulk.insert_rows(
                    PlainObservation._meta.db_table, plain_columns, plain_chunk
                )
                gov_chunk, plain_chunk = [], []
        loaded += bulk.insert_rows(Observation._meta.db_table, gov_columns, gov_chunk)
        bulk.insert_rows(PlainObservation._meta.db_table, plain_columns, plain_chunk)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                [Observation._meta.db_table, loaded],
            )
            cursor.execute("ANALYZE")
        else:
            cursor.execute("ANALYZE")
    load_seconds = time.perf_counter() - started

    # -- the two admins ---------------------------------------------------------------

    real_admin = admin.site._registry[Observation]
    manager_teams = [org.team_a.pk, org.team_a1.pk]

    plain_site = admin.AdminSite(name="plainadmin")

    class PlainObservationAdmin(admin.ModelAdmin):
        list_display = [
            "id",
            "metric",
            "subject",
            "period_start",
            "value",
            "status",
            "source",
            "methodology_version",
        ]
        list_display_links = ["id"]
        list_select_related = ["metric", "person", "team", "source"]
        list_filter = ["status", "metric", "source", "classification", "period_start"]
        search_fields = ["metric__key", "person__employee_id", "team__name"]
        show_full_result_count = False
        list_per_page = 50
        paginator = real_admin.paginator  # the same counting strategy
        ordering = real_admin.ordering  # and the same paging order

        @admin.display(description="Subject")
        def subject(self, obj):  # type: ignore[no-untyped-def]
            if obj.person_id:
                return obj.person.employee_id
            return str(obj.team) if obj.team_id else "organisation"

        def get_queryset(self, request):  # type: ignore[no-untyped-def]
            qs = super().get_queryset(request)
            if request.user.pk == manager.pk:  # what a plain app would write
                members = Membership.objects.filter(team_id__in=manager_teams)
                qs = qs.filter(
                    Q(person_id__in=members.values("person_id"))
                    | Q(team_id__in=manager_teams)
                )
            return qs

        def has_module_permission(self, request):  # type: ignore[no-untyped-def]
            return request.user.is_active and request.user.is_staff

        def has_view_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
            return request.user.is_active and request.user.is_staff

        def has_add_permission(self, request):  # type: ignore[no-untyped-def]
            return False

        def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
            return False

        def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
            return False

    plain_site.register(PlainObservation, PlainObservationAdmin)
    plain_admin = plain_site._registry[PlainObservation]
    urls = types.ModuleType("bench_changelist_urls")
    urls.urlpatterns = [path("plain-admin/", plain_site.urls), *portal.urls.urlpatterns]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    settings.ROOT_URLCONF = urls.__name__
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    clear_url_caches()

    gov_url = "/admin/metrics/observation/"
    plain_url = "/plain-admin/metrics/plainobservation/"
    row_marker = re.compile(rb'<th class="field-id"><a href="[^"]*">(\d+)</a>')

    def client_for(user):  # type: ignore[no-untyped-def]
        client = Client()
        client.force_login(user)
        return client

    def get(client, url):  # type: ignore[no-untyped-def]
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        return response

    def ids_on(response) -> list[int]:  # type: ignore[no-untyped-def]
        return [int(i) for i in row_marker.findall(response.content)]

    def rows_on(response) -> int:  # type: ignore[no-untyped-def]
        return len(ids_on(response))

    def set_page_size(size: int) -> None:
        real_admin.list_per_page = size
        plain_admin.list_per_page = size

    def queries(client, url) -> tuple[int, int]:  # type: ignore[no-untyped-def]
        with CaptureQueriesContext(connection) as captured:
            response = get(client, url)
        return len(captured), rows_on(response)

    def slowest(client, url, n: int = 4) -> list[tuple[float, str]]:  # type: ignore[no-untyped-def]
        timings: list[tuple[float, str]] = []

        def timer(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                timings.append((time.perf_counter() - start, sql))

        with connection.execute_wrapper(timer):
            get(client, url)
        return sorted(timings, reverse=True)[:n]

    # -- measurements -------------------------------------------------------------------

    results = []
    ok = True
    for label, user in (("HR staff", hr), ("manager", manager)):
        client = client_for(user)
        set_page_size(50)
        # Both sides must list the same rows, in the same order.
        gov_ids = ids_on(get(client, gov_url))
        plain_ids = ids_on(get(client, plain_url))
        assert len(gov_ids) == 50 and gov_ids == plain_ids, (
            f"{label}: governed {gov_ids[:5]}… ({len(gov_ids)}), "
            f"plain {plain_ids[:5]}… ({len(plain_ids)})"
        )
        counts = {}
        for size in (50, 200):
            set_page_size(size)
            counts[size] = (queries(client, gov_url), queries(client, plain_url))
        set_page_size(50)
        for _ in range(WARMUP):
            get(client, gov_url)
            get(client, plain_url)
        gov_times, plain_times = [], []
        for n in range(args.loads):  # interleaved, so machine noise hits both
            start = time.perf_counter()
            get(client, gov_url)
            gov_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            get(client, plain_url)
            plain_times.append(time.perf_counter() - start)
            far_off = statistics.median(gov_times) > HOPELESS * statistics.median(
                plain_times
            )
            if n + 1 >= 5 and far_off:
                break  # the verdict can't change; spare the shared machine
        visible = Observation.objects.visible_to(user, "view").count()
        results.append((label, visible, counts, gov_times, plain_times, client))

    print(
        f"changelist [{args.database}]: {loaded:,} observations ({sealed_count:,} sealed), "
        f"{PEOPLE:,} people; org {org_seconds:.1f} s, load {load_seconds:.1f} s; "
        f"median page time of up to {args.loads} loads"
    )
    for label, visible, counts, gov_times, plain_times, client in results:
        g, p = statistics.median(gov_times), statistics.median(plain_times)
        ratio = g / p
        ratio_ok = ratio <= RATIO_TARGET
        (q50, r50), (pq50, _) = counts[50]
        (q200, r200), (pq200, _) = counts[200]
        count_ok = q200 <= q50 and r50 == 50 and r200 == 200
        ok = ok and ratio_ok and count_ok
        print(
            f"  {label:<9} ({visible:,} rows visible, {visible / loaded:.1%}, "
            f"{len(gov_times)} loads)  "
            f"governed {g * 1000:7.1f} ms   plain {p * 1000:7.1f} ms   "
            f"ratio {ratio:4.2f} (target <= {RATIO_TARGET:g}) {'PASS' if ratio_ok else 'FAIL'}"
        )
        print(
            f"  {'':<9} queries per page: governed {q50} (50 rows) / {q200} (200 rows), "
            f"plain {pq50} / {pq200}   {'PASS' if count_ok else 'FAIL'} (must not grow)"
        )
        if not (ratio_ok and count_ok):
            print(f"  {'':<9} slowest queries of one governed page:")
            for seconds, sql in slowest(client, gov_url):
                print(f"  {'':<11}{seconds * 1000:7.1f} ms  {sql[:150]}")
            print(f"  {'':<9} slowest queries of one plain page:")
            for seconds, sql in slowest(client, plain_url):
                print(f"  {'':<11}{seconds * 1000:7.1f} ms  {sql[:150]}")
        if args.profile:
            for side, url in (("governed", gov_url), ("plain", plain_url)):
                print(f"  {'':<9} profile of one {side} page (own time):")
                for line in profile(client, url):
                    print(f"  {'':<11}{line}")
    return 0 if ok else 1


def profile(client, url: str, n: int = 8) -> list[str]:  # type: ignore[no-untyped-def]
    """Where one page load spends its time: the functions with the most own
    time, then the project's own functions (governance/, metrics/) by
    cumulative time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    client.get(url)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in stats.values())
    root = str(Path(__file__).resolve().parent.parent)

    def line(key, row) -> str:  # type: ignore[no-untyped-def]
        (filename, lineno, name), (_, calls, own, cumulative, _) = key, row
        where = "/".join(Path(filename).parts[-2:]) if filename != "~" else ""
        return (
            f"{own * 1000:7.1f} ms own {cumulative * 1000:7.1f} ms cum {calls:6d}x "
            f"{name} ({where}:{lineno})"
        )

    by_own = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:n]
    ours = [
        item
        for item in stats.items()
        if item[0][0].startswith(root)
        and not any(part in item[0][0] for part in ("/bench/", "/.venv/", "-packages/"))
    ]
    by_cumulative = sorted(ours, key=lambda item: item[1][3], reverse=True)[:n]
    return [
        f"total {total * 1000:7.1f} ms (profiled); most own time:",
        *(line(*item) for item in by_own),
        "project code by cumulative time:",
        *(line(*item) for item in by_cumulative),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
