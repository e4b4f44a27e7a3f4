"""Input-error detection at capture, quarantine and the steward's decision (M3.4)."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.audit import chain
from governance.classification import Sensitivity
from governance.models import AuditEvent
from governance.testing import make_person
from metrics import quality, services
from metrics.models import DataQualityIssue, Metric, Observation
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

#: Twelve ordinary months (median 117.5): no slips or spikes among them.
NORMAL = [112, 121, 115, 118, 116, 120, 113, 119, 117, 122, 114, 123]


def consent_everyone(org):
    """Where the consent module is installed, everyone consents to tracking
    (member_a and member_b live where individual tracking needs consent)."""
    try:
        from governance import consent
    except ImportError:  # consent (M8.3) not installed yet
        return
    purpose = consent.ensure_default_purpose()
    for person in org.people.values():
        consent.give_consent(
            actor=None, person=person, purpose=purpose, evidence="signed form (test)"
        )


def catalogue_with_consent(org):
    cat = build_catalogue(org)
    consent_everyone(org)
    return cat


@pytest.fixture
def cat(org):
    return catalogue_with_consent(org)


def month(i: int) -> str:
    year, m = divmod(i, 12)
    return datetime.date(2024 + year, m + 1, 1).isoformat()


def calls_rows(org, values, *, person="member_a", start=0):
    return [
        {
            "metric": "sales.calls_made",
            "employee_id": org.people[person].employee_id,
            "period_start": month(start + i),
            "value": str(v),
        }
        for i, v in enumerate(values)
    ]


def record(org, rows, actor="hr"):
    return services.record_observations(actor=org.users[actor], rows=rows)


def test_ordinary_history_and_an_ordinary_new_value_stay_valid(org, cat):
    stored = record(org, calls_rows(org, NORMAL))
    new = record(org, calls_rows(org, [119], start=12))
    assert {o.status for o in stored + new} == {Observation.Status.VALID}
    assert DataQualityIssue.objects.count() == 0


def test_unit_slip_is_quarantined_with_ratio_evidence_and_no_value(org, cat):
    record(org, calls_rows(org, NORMAL))
    (obs,) = record(org, calls_rows(org, [1], start=12))  # 1/100 of ≈118
    assert obs.status == Observation.Status.QUARANTINED
    issue = DataQualityIssue.objects.get(observation=obs)
    assert issue.kind == DataQualityIssue.Kind.UNIT_SLIP
    assert issue.status == DataQualityIssue.Status.OPEN
    assert "consistent with a ÷100 slip" in issue.detail
    # Evidence of a Confidential metric never quotes a value: no history value,
    # no median, not the suspect value itself — only a ratio, a factor, a count.
    numbers = set(re.findall(r"\d+(?:\.\d+)?", issue.detail))
    assert numbers == {"13", "0.0085", "100"}
    assert Observation.objects.get(pk=obs.pk).status == Observation.Status.QUARANTINED


@pytest.mark.parametrize(
    "scale, typed, slip", [(100, "97", "×100"), (1000, "98", "×1000")]
)
def test_unit_slips_on_a_plain_metric(org, cat, scale, typed, slip):
    rows = [
        {
            "metric": "support.resolution_rate",
            "team": "Team A",
            "period_start": month(i),
            "value": str(Decimal(v) / scale),
        }
        for i, v in enumerate(NORMAL)
    ]
    record(org, rows)
    (obs,) = record(
        org,
        [
            {
                "metric": "support.resolution_rate",
                "team": "Team A",
                "period_start": month(12),
                "value": typed,
            }
        ],
    )
    assert obs.status == Observation.Status.QUARANTINED
    issue = obs.quality_issues.get()
    assert issue.kind == DataQualityIssue.Kind.UNIT_SLIP
    assert f"consistent with a {slip} slip" in issue.detail


def test_spike_by_robust_z_score(org, cat):
    record(org, calls_rows(org, NORMAL))
    (obs,) = record(org, calls_rows(org, [160], start=12))
    issue = DataQualityIssue.objects.get(observation=obs)
    assert issue.kind == DataQualityIssue.Kind.SPIKE
    assert "robust z-score +" in issue.detail and "160" not in issue.detail


def test_duplicate_of_a_period_already_recorded(org, cat):
    record(org, calls_rows(org, NORMAL))
    (obs,) = record(org, calls_rows(org, [117], start=5))  # June 2024 again
    issue = DataQualityIssue.objects.get(observation=obs)
    assert issue.kind == DataQualityIssue.Kind.DUPLICATE
    assert "different value" in issue.detail
    # The original stays valid; only the newcomer is held back.
    original = Observation.objects.get(
        metric=cat.calls, period_start=month(5), status=Observation.Status.VALID
    )
    assert original.pk != obs.pk


def test_impossible_percentage(org, cat):
    share = services.metric_create(
        actor=None,
        key="support.csat_share",
        name="Satisfied share",
        indicator="lagging",
        level="team",
        unit="%",
        calculation="satisfied / answered",
        source=cat.jira,
        owner=org.people["manager_a"],
        steward=org.people["steward_sales"],
        department=org.sales,
        team=org.team_a,
    )
    services.metric_transition(actor=None, metric=share, status="active", reason="go")
    (obs,) = record(
        org,
        [
            {
                "metric": share.key,
                "team": "Team A",
                "period_start": month(0),
                "value": "130",
            }
        ],
    )
    issue = DataQualityIssue.objects.get(observation=obs)
    assert issue.kind == DataQualityIssue.Kind.IMPOSSIBLE
    assert "above the maximum 100" in issue.detail
    assert quality.hard_range(share).maximum == 100.0
    # A percentage metric that declares its own bounds (a growth rate) keeps them.
    share.validation_rules = {"min": -100, "max": 500}
    assert quality.hard_range(share).maximum == 500.0


def test_quarantined_values_are_out_of_current_and_history_records_why(org, cat):
    record(org, calls_rows(org, NORMAL))
    (obs,) = record(org, calls_rows(org, [1], start=12))
    assert not Observation.objects.current().filter(pk=obs.pk).exists()
    reasons = list(
        Observation.history.filter(id=obs.pk)
        .order_by("history_id")
        .values_list("history_type", "history_change_reason", "status")
    )
    assert reasons[-1] == ("~", "quarantined: suspected input error", "quarantined")
    event = AuditEvent.objects.get(action="quality.quarantined")
    assert event.data["quarantined"] == 1 and event.data["kinds"] == {"unit_slip": 1}
    assert chain.verify().ok


def test_each_series_is_judged_against_its_own_history(org, cat):
    def rows(team, values, start=0):
        return [
            {
                "metric": "support.resolution_rate",
                "team": team,
                "period_start": month(start + i),
                "value": str(v),
            }
            for i, v in enumerate(values)
        ]

    record(org, rows("Team A", [Decimal(v) / 1000 for v in NORMAL]))
    record(org, rows("Team B", [Decimal(v) / 10 for v in NORMAL]))
    # 11.8 is ×100 Team A's median but ordinary for Team B, and vice versa.
    batch = record(
        org, rows("Team B", ["11.8"], start=12) + rows("Team A", ["0.118"], 12)
    )
    assert {o.status for o in batch} == {Observation.Status.VALID}


def test_history_is_read_in_one_query_per_batch(org, cat):
    people = [make_person(org.sales, org.us, teams=[org.team_a]) for _ in range(30)]

    def rows(i, persons):
        return [
            {
                "metric": "sales.calls_made",
                "employee_id": p.employee_id,
                "period_start": month(i),
                "value": str(NORMAL[i % 12]),
            }
            for p in persons
        ]

    for i in range(6):
        record(org, rows(i, people), actor="hr")

    def queries_for(persons, i):
        stored = list(
            Observation.objects.filter(period_start=month(i), person__in=persons)
        )
        for o in stored:
            o.metric = cat.calls
        with CaptureQueriesContext(connection) as ctx:
            quality.find_suspects(stored)
        return len(ctx.captured_queries)

    small, large = queries_for(people[:3], 5), queries_for(people, 5)
    assert small == large <= 2  # the history, and the data keys of sealed values


def test_detection_cost_does_not_grow_per_row_in_queries(org, cat):
    record(org, calls_rows(org, NORMAL))
    with CaptureQueriesContext(connection) as ctx:
        record(org, calls_rows(org, [1], start=12))
    history_reads = [  # the ORM's read, or PostgreSQL's aggregated one
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].lstrip().startswith("SELECT")
        and (
            '"metrics_observation"."status"' in q["sql"]
            or ('"metrics_observation" AS o' in q["sql"] and "o.status" in q["sql"])
        )
    ]
    assert len(history_reads) == 1


# -- the steward's decision ---------------------------------------------------------


@pytest.fixture
def suspect(org, cat):
    record(org, calls_rows(org, NORMAL))
    (obs,) = record(org, calls_rows(org, [1], start=12))
    return DataQualityIssue.objects.get(observation=obs)


def test_confirm_makes_the_value_valid_again(org, suspect):
    issue = quality.decide_issue(
        actor=org.users["steward"],
        issue=suspect,
        decision="confirm",
        reason="Ann was on leave all month: 1 call is right",
    )
    assert issue.status == DataQualityIssue.Status.CONFIRMED
    assert issue.decided_by_id == org.users["steward"].pk
    obs = Observation.objects.get(pk=suspect.observation_id)
    assert obs.status == Observation.Status.VALID
    event = AuditEvent.objects.get(action="quality.decided")
    assert event.data["decision"] == "confirm" and event.reason.startswith("Ann was")
    assert chain.verify().ok


def test_correct_supersedes_through_the_write_path(org, suspect):
    issue = quality.decide_issue(
        actor=org.users["steward"],
        issue=suspect,
        decision="correct",
        reason="typed 1 for 100",
        value="100",
    )
    assert issue.status == DataQualityIssue.Status.CORRECTED
    old = Observation.objects.get(pk=suspect.observation_id)
    assert old.status == Observation.Status.SUPERSEDED
    new = old.superseded_by
    assert new.status == Observation.Status.VALID and new.value == Decimal("100")
    assert new.correction_reason == "typed 1 for 100"


def test_decision_needs_a_reason_a_known_decision_and_an_open_issue(org, suspect):
    steward = org.users["steward"]
    with pytest.raises(ValidationError):
        quality.decide_issue(
            actor=steward, issue=suspect, decision="confirm", reason=" "
        )
    with pytest.raises(ValidationError):
        quality.decide_issue(
            actor=steward, issue=suspect, decision="ignore", reason="x"
        )
    with pytest.raises(ValidationError):
        quality.decide_issue(
            actor=steward, issue=suspect, decision="correct", reason="x"
        )
    quality.decide_issue(actor=steward, issue=suspect, decision="confirm", reason="ok")
    with pytest.raises(ValidationError):
        quality.decide_issue(
            actor=steward, issue=suspect, decision="confirm", reason="again"
        )


@pytest.mark.parametrize(
    "principal, allowed",
    [
        ("admin", True),  # organisation-wide, holds the permission
        ("steward", True),  # the Sales steward: the metric's and department's steward
        ("hr", False),  # no permission to decide data-quality issues
        ("compliance", False),
        ("metric_owner", False),
        ("board", False),
        ("manager", False),
        ("employee", False),
        ("auditor", False),  # read-only
        ("nobody", False),
    ],
)
def test_who_may_decide(org, suspect, principal, allowed):
    def decide():
        return quality.decide_issue(
            actor=org.users[principal],
            issue=suspect,
            decision="confirm",
            reason="checked",
        )

    if allowed:
        assert decide().status == DataQualityIssue.Status.CONFIRMED
    else:
        with pytest.raises(PermissionDenied):
            decide()
        assert DataQualityIssue.objects.get(pk=suspect.pk).status == "open"


def test_a_steward_of_another_department_may_not_decide(org, suspect):
    from governance.roles import Role
    from governance.services import save_governed
    from governance.testing import make_user

    other = make_person(org.product, org.us)
    org.product.steward = other
    save_governed(org.product, actor=None, reason="steward")
    user = make_user("steward_product", Role.STEWARD, person=other)
    with pytest.raises(PermissionDenied):
        quality.decide_issue(actor=user, issue=suspect, decision="confirm", reason="x")


def test_a_steward_below_the_values_clearance_may_not_decide(org, suspect):
    steward = org.users["steward"]
    steward.clearance = Sensitivity.INTERNAL
    steward.save()
    with pytest.raises(PermissionDenied, match="clearance"):
        quality.decide_issue(
            actor=steward, issue=suspect, decision="confirm", reason="x"
        )


def test_metric_model_has_the_fields_the_hook_needs():
    # A guard against schema drift: the hook's history query names these columns.
    names = {f.attname for f in Observation._meta.concrete_fields}
    assert {
        "metric_id",
        "person_id",
        "team_id",
        "period_start",
        "value_plain",
        "value_sealed",
    } <= names
    assert Metric.Frequency.values == ["daily", "weekly", "monthly", "quarterly"]


def approve_methodology_change(org, cat):
    """Calls made under a new methodology (v2), approved by the steward."""
    request = services.change_request_create(
        actor=org.users["hr"],
        metric=cat.calls,
        changes={"calculation": "count of connected calls only"},
        reason="count connected calls",
    )
    services.change_request_decide(
        actor=org.users["steward"], change_request=request, approve=True
    )


def test_values_after_a_methodology_change_are_judged_against_the_new_methodology(
    org, cat
):
    record(org, calls_rows(org, NORMAL))
    approve_methodology_change(org, cat)
    # About a tenth of the old level: a slip or spike against v1, but the
    # process changed; nothing under v2 to compare with yet.
    new = record(org, calls_rows(org, [12, 13, 11], start=12))
    assert {o.status for o in new} == {Observation.Status.VALID}
    # A period already recorded under v1 is still a duplicate.
    (again,) = record(org, calls_rows(org, [12], start=3))
    assert again.quality_issues.get().kind == DataQualityIssue.Kind.DUPLICATE


@pytest.mark.django_db(False)
def test_the_vectorised_screen_never_misses_what_the_reference_checks_find():
    """The screen is a first pass: every series in which the reference checks of
    metrics.analytics.anomalies find a slip or a spike must be flagged by it too
    (impossible values and duplicates never reach the screen)."""
    import random as _random

    from metrics.analytics import anomalies

    rng = _random.Random(5)
    hard = anomalies.HardRange(minimum=0, maximum=1e9)
    histories, news, expected = [], [], []
    for _ in range(3000):
        level = rng.choice([0.5, 10, 118, 5000])
        spread = level * rng.choice([0.01, 0.05, 0.2])
        past = [
            max(0.0, round(rng.gauss(level, spread), 2))
            for _ in range(rng.randint(0, 16))
        ]
        new = [
            max(0.0, round(rng.gauss(level, spread), 2))
            for _ in range(rng.randint(1, 3))
        ]
        trick = rng.random()
        if trick < 0.15:
            new[0] *= rng.choice([100, 1000, 0.01, 0.001])
        elif trick < 0.35:
            new[-1] += spread * rng.uniform(4, 9) * rng.choice([1, -1])
        histories.append(past)
        news.append(new)
        entries = [(("s", i), v) for i, v in enumerate(past + new)]
        found = [
            f
            for f in quality._exact(entries, hard)
            if f.index >= len(past) and f.kind in ("unit_slip", "spike")
        ]
        expected.append(bool(found))
    flags = quality._screen(histories, news, hard)
    missed = [
        i for i, (e, f) in enumerate(zip(expected, flags, strict=True)) if e and not f
    ]
    assert missed == []
    assert sum(expected) > 300  # the draw exercises both checks
    assert sum(flags) <= sum(expected) * 1.05  # and the screen is not a sieve


def test_the_aggregated_history_read_matches_the_plain_one(org, cat, on_postgres):
    """PostgreSQL aggregates each series' history on the server; it must find
    exactly what the row-by-row read finds: the newest values under the batch's
    methodology, nothing of the batch itself, nothing quarantined, and values
    already recorded for the batch's periods under any methodology."""
    record(org, calls_rows(org, [*NORMAL, 118, 116]))  # 14: only 12 are kept
    record(org, calls_rows(org, NORMAL[:5], person="member_b"))
    record(org, calls_rows(org, [1], person="member_b", start=5))  # quarantined
    team_rows = [
        {
            "metric": "support.resolution_rate",
            "team": "Team A",
            "period_start": month(i),
            "value": str(Decimal(v) / 10),
        }
        for i, v in enumerate(NORMAL)
    ]
    record(org, team_rows)
    approve_methodology_change(org, cat)
    record(org, calls_rows(org, [12, 13], start=14))  # under v2
    new = record(
        org,
        calls_rows(org, [12], start=16)  # v2 history: 2 values
        + calls_rows(org, [50], start=3)  # a v1 period again: a duplicate
        + calls_rows(org, [119], person="member_b", start=6),
    )
    new += record(org, [dict(team_rows[0], period_start=month(12), value="11.9")])
    grouped = quality._history(new, grouped=True)
    plain = quality._history(new, grouped=False)
    assert grouped == plain
    calls_a = (cat.calls.pk, org.people["member_a"].pk, None)
    assert [v for _, v in plain[calls_a].values] == [12.0, 13.0]
    assert list(plain[calls_a].same_period.values()) == [float(NORMAL[3])]


def test_the_history_read_is_sent_before_the_batch_is_stored(
    org, cat, on_postgres, monkeypatch
):
    """The screen's history read goes to the server before the batch's rows are
    inserted (answered while they are sealed), is read once, and judges the
    batch exactly as a read after the insert would."""
    from governance import bulk

    record(org, calls_rows(org, NORMAL))
    steps: list[str] = []
    real_prefetch, real_insert = quality.prefetch_history, bulk.insert_prepared
    real_find = quality.find_suspects

    def prefetch(observations):
        steps.append("history read sent")
        return real_prefetch(observations)

    def insert(model, *args, **kwargs):
        if model is Observation:
            steps.append("batch inserted")
        return real_insert(model, *args, **kwargs)

    judged: list[tuple[list, list]] = []
    queries = CaptureQueriesContext(connection)

    def history_reads() -> int:
        return sum("array_agg" in q["sql"] for q in queries.captured_queries)

    def find(observations, *, prefetched=None):
        assert isinstance(prefetched, quality.PrefetchedHistory)
        assert history_reads() == 1  # sent ahead
        found = real_find(observations, prefetched=prefetched)
        assert history_reads() == 1  # and not read again
        judged.append((found, real_find(observations)))  # read now, to compare
        return found

    monkeypatch.setattr(bulk, "insert_prepared", insert)
    monkeypatch.setattr(quality, "find_suspects", find)
    monkeypatch.setattr(
        services,
        "_post_capture_hooks",
        [(quality.scan_observations, prefetch)],
    )
    with queries:
        new = record(org, calls_rows(org, [1, 119], start=12))  # a ×100 slip
    assert steps == ["history read sent", "batch inserted"]
    ((found, again),) = judged
    assert [(s.observation.pk, s.kind, s.detail) for s in found] == [
        (s.observation.pk, s.kind, s.detail) for s in again
    ]
    assert [s.kind for s in found] == ["unit_slip"]
    assert [o.status for o in new] == [
        Observation.Status.QUARANTINED,
        Observation.Status.VALID,
    ]


def test_a_history_read_prefetched_for_other_rows_is_not_used(org, cat, on_postgres):
    stored = record(org, calls_rows(org, NORMAL))
    other = quality.prefetch_history(stored[:3])
    new = record(org, calls_rows(org, [119], start=12))
    assert other is not None
    assert quality._history(new, prefetched=other) == quality._history(new)
    assert other._rows is None  # never read: it was made for other rows
    assert other._cursor.closed  # and its cursor released


def test_a_capture_chains_its_rows_under_one_lock_without_reading_them_back(
    org, cat, on_postgres
):
    """Production settings (no read-back check): a batch with a quarantined
    value takes the chain's head once and reads none of its history rows back
    (their hashes are known as written); the trail verifies."""
    from django.test import override_settings

    record(org, calls_rows(org, NORMAL))
    history = Observation.history.model._meta.db_table
    with (
        override_settings(AUDIT_CHAIN_CHECK_WRITES=False),
        CaptureQueriesContext(connection) as queries,
    ):
        new = record(org, calls_rows(org, [1, 119], start=12))
    assert new[0].status == Observation.Status.QUARANTINED
    sqls = [q["sql"] for q in queries.captured_queries]
    head_reads = [
        s for s in sqls if s.startswith("SELECT") and "governance_audithead" in s
    ]
    assert len(head_reads) == 1
    assert not [s for s in sqls if s.startswith("SELECT") and f'FROM "{history}"' in s]
    assert chain.verify().ok
