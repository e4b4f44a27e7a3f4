"""Composed reads: series for SPC, exception report, alignment, portfolio, flags."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from governance.classification import Sensitivity
from governance.roles import Role
from governance.testing import make_person, make_user
from metrics import selectors, services
from metrics.analytics import spc
from metrics.models import Metric, MetricConflict, Observation
from metrics.tests.test_quality import NORMAL, catalogue_with_consent, month

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat(org):
    return catalogue_with_consent(org)


def record_calls(org, person, values, start=0):
    return services.record_observations(
        actor=None,
        rows=[
            {
                "metric": "sales.calls_made",
                "employee_id": person.employee_id,
                "period_start": month(start + i),
                "value": str(v),
            }
            for i, v in enumerate(values)
        ],
    )


def subject(person):
    return selectors.Subject("person", person.pk, person.employee_id)


# -- series ------------------------------------------------------------------------


def test_series_is_current_values_in_period_order(org, cat):
    ann = org.people["member_a"]
    record_calls(org, ann, NORMAL)
    (suspect,) = record_calls(org, ann, [1], start=12)
    assert suspect.status == Observation.Status.QUARANTINED
    data = selectors.series(cat.calls, viewer=org.users["hr"], subject=subject(ann))
    assert [p.value for p in data.points] == [float(v) for v in NORMAL]
    assert [p.period_start.isoformat() for p in data.points] == [
        month(i) for i in range(12)
    ]
    assert not data.masked and data.data_as_of.isoformat() == "2024-12-31"


def test_subjects_follow_scope(org, cat):
    record_calls(org, org.people["member_a"], NORMAL[:3])
    record_calls(org, org.people["member_b"], NORMAL[:3])
    everyone = {s.label for s in selectors.subjects_of(cat.calls, org.users["hr"])}
    assert everyone == {
        org.people["member_a"].employee_id,
        org.people["member_b"].employee_id,
    }
    mine = {s.label for s in selectors.subjects_of(cat.calls, org.users["manager"])}
    assert mine == {org.people["member_a"].employee_id}
    assert selectors.subjects_of(cat.calls, org.users["board"]) == []  # no permission


def test_series_above_clearance_is_masked_but_the_subject_reads_their_own(org, cat):
    ann = org.people["member_a"]
    record_calls(org, ann, NORMAL)
    low = make_user("hr_low", Role.HR, clearance=Sensitivity.INTERNAL)
    data = selectors.series(cat.calls, viewer=low, subject=subject(ann))
    assert data.masked and "above your clearance" in data.message
    assert len(data.points) == 12 and all(p.value is None for p in data.points)
    assert selectors.control_chart(data) is None
    # The employee (Internal clearance) is the data subject: she sees her values.
    own = selectors.series(
        cat.calls, viewer=org.users["employee"], subject=subject(ann)
    )
    assert not own.masked and own.values == [float(v) for v in NORMAL]


def test_only_the_latest_methodology_is_charted(org, cat):
    ann = org.people["member_a"]
    record_calls(org, ann, NORMAL)
    request = services.change_request_create(
        actor=org.users["hr"],
        metric=cat.calls,
        changes={"calculation": "count of connected calls"},
        reason="connected calls only",
    )
    services.change_request_decide(
        actor=org.users["steward"], change_request=request, approve=True
    )
    record_calls(org, ann, [80, 82, 79], start=12)
    data = selectors.series(cat.calls, viewer=org.users["hr"], subject=subject(ann))
    assert data.methodology_version == 2 and data.earlier_points == 12
    assert data.values == [80.0, 82.0, 79.0]


def test_control_chart_limits_come_from_the_baseline(org, cat):
    ann = org.people["member_a"]
    values = [*NORMAL, *NORMAL[:10], 135, 136, 134]  # a late shift, after the baseline
    record_calls(org, ann, values[:22])
    record_calls(org, ann, values[22:], start=22)
    data = selectors.series(cat.calls, viewer=org.users["hr"], subject=subject(ann))
    chart = selectors.control_chart(data)
    expected = spc.xmr_limits([float(v) for v in values[:20]])
    assert chart.limits.baseline == 20 and not chart.provisional
    assert chart.limits.center == pytest.approx(expected.center)
    assert chart.limits.ucl == pytest.approx(expected.ucl)
    assert set(chart.signals) >= {22, 23, 24}
    assert all("nelson-1" in chart.signals[i] for i in (22, 23, 24))
    rows = chart.signal_rows()
    assert rows[-1]["latest"] and rows[-1]["period"] == "2026-01"


# -- exception report ----------------------------------------------------------------


def test_exception_report_lists_only_series_whose_latest_value_signals(org, cat):
    people = {
        name: make_person(org.sales, org.us, teams=[org.team_a])
        for name in ("stable", "jump", "run", "old_jump", "short")
    }
    record_calls(org, people["stable"], [*NORMAL, 118])
    # Beyond the UCL at the end (robust z ≈ 5: a real shift, not quarantined).
    record_calls(org, people["jump"], [*NORMAL, 140])
    # Nine in a row above the centre at the end: Nelson 2, within the limits.
    record_calls(
        org, people["run"], [*NORMAL, 120, 121, 121, 119, 122, 122, 120, 119, 121]
    )
    record_calls(
        org, people["old_jump"], [*NORMAL[:6], 140, *NORMAL[6:]]
    )  # signal in the past
    record_calls(org, people["short"], [100, 101, 150])
    report = selectors.exception_report(org.users["hr"])
    by_person = {r.subject.label: r for r in report.rows}
    assert set(by_person) == {people["jump"].employee_id, people["run"].employee_id}
    jump = by_person[people["jump"].employee_id]
    assert (
        jump.beyond == "above UCL"
        and ("nelson-1", spc.RULE_DESCRIPTIONS["nelson-1"]) in jump.rules
    )
    run = by_person[people["run"].employee_id]
    assert run.beyond == "run rule" and [r for r, _ in run.rules] == ["nelson-2"]
    assert report.too_short == 1 and report.series_checked == 5
    western = selectors.exception_report(org.users["hr"], rules="western-electric")
    run_we = {r.subject.label: r for r in western.rows}[people["run"].employee_id]
    assert [r for r, _ in run_we.rules] == ["we-4"]


def test_exception_report_agrees_with_the_full_chart_of_every_series(org, cat):
    """The report opens only the baseline and the last 15 values of each series
    and evaluates series in batches: it must agree with the whole chart."""
    rng = random.Random(11)
    people = [make_person(org.sales, org.us, teams=[org.team_a]) for _ in range(24)]
    for person in people:
        n = rng.randint(8, 40)
        level, drift = rng.uniform(80, 200), rng.choice([0, 0, 0.8, -0.8])
        values = [max(0, round(level + drift * i + rng.gauss(0, 6))) for i in range(n)]
        if rng.random() < 0.3:
            values[-1] = round(values[-1] * 1.4)
        record_calls(org, person, values)
    report = selectors.exception_report(org.users["hr"])
    listed = {r.subject.label: {name for name, _ in r.rules} for r in report.rows}
    expected = {}
    for person in people:
        data = selectors.series(
            cat.calls, viewer=org.users["hr"], subject=subject(person)
        )
        if len(data.values) < selectors.EXCEPTION_MIN_POINTS:
            continue
        chart = selectors.control_chart(data)
        last = chart.signals.get(len(chart.values) - 1)
        if last:
            expected[person.employee_id] = set(last)
    assert listed == expected
    assert expected  # the draw above makes some series signal


def test_exception_report_respects_scope_and_clearance(org, cat):
    record_calls(org, org.people["member_a"], [*NORMAL, 140])
    record_calls(org, org.people["member_b"], [*NORMAL, 140])
    everyone = selectors.exception_report(org.users["auditor"])
    assert len(everyone.rows) == 2
    team_a = selectors.exception_report(org.users["manager"])
    assert [r.subject.label for r in team_a.rows] == [
        org.people["member_a"].employee_id
    ]
    low = make_user("auditor_low", Role.AUDITOR, clearance=Sensitivity.INTERNAL)
    withheld = selectors.exception_report(low)
    assert withheld.rows == [] and withheld.withheld == 2
    assert selectors.exception_report(org.users["board"]).rows == []


def test_a_quarantined_last_value_is_not_the_latest(org, cat):
    ann = org.people["member_a"]
    record_calls(org, ann, NORMAL)
    (suspect,) = record_calls(org, ann, [1], start=12)  # a ÷100 slip: quarantined
    assert suspect.status == Observation.Status.QUARANTINED
    assert selectors.exception_report(org.users["hr"]).rows == []


# -- alignment, portfolio, flags -----------------------------------------------------------


def test_alignment_tree(org, cat):
    loose = services.metric_create(
        actor=None,
        key="sales.emails_sent",
        name="Emails",
        indicator="leading",
        level="individual",
        unit="emails",
        calculation="count",
        source=cat.manual,
        owner=org.people["manager_a"],
        steward=org.people["steward_sales"],
        department=org.sales,
        aligned_to=cat.calls,  # an individual KPI is not a team outcome
    )
    unlinked = services.metric_create(
        actor=None,
        key="support.backlog",
        name="Backlog",
        indicator="leading",
        level="team",
        unit="tickets",
        calculation="open tickets",
        source=cat.jira,
        owner=org.people["manager_a"],
        steward=org.people["steward_sales"],
        department=org.sales,
        team=org.team_a,
    )
    MetricConflict.objects.create(
        metric_a=cat.calls, metric_b=cat.resolution, description="x"
    )
    MetricConflict.objects.create(
        metric_a=cat.calls, metric_b=unlinked, description="settled", resolved=True
    )
    tree = selectors.alignment_tree(org.users["hr"])
    (objective,) = tree.objectives
    (outcome,) = objective.outcomes
    assert outcome.metric == cat.resolution and outcome.conflicts == [
        "sales.calls_made"
    ]
    assert [k.metric for k in outcome.kpis] == [cat.calls]
    assert outcome.kpis[0].conflicts == ["support.resolution_rate"]
    assert [n.metric for n in tree.unlinked_outcomes] == [unlinked]
    assert {k.metric.key for k in tree.unaligned_kpis} == {loose.key, cat.draft.key}
    assert len(tree.conflicts) == 1  # the resolved one is not flagged
    board = selectors.alignment_tree(org.users["board"])
    assert not board.conflicts_visible and board.conflicts == []
    assert board.objectives[0].outcomes[0].conflicts == []


def test_team_portfolio_counts_in_use_and_planned(org, cat):
    services.metric_update(
        actor=None, metric=cat.draft, changes={"team": org.team_b}, reason="Team B's"
    )
    services.metric_transition(
        actor=None, metric=cat.resolution, status="retired", reason="x"
    )
    rows = {r.team.name: r for r in selectors.team_portfolio(org.users["hr"])}
    a, b = rows["Team A"], rows["Team B"]
    assert (a.leading, a.lagging, a.planned_leading, a.planned_lagging) == (1, 0, 0, 0)
    assert (b.leading, b.planned_leading) == (0, 1) and b.no_leading
    assert not a.no_leading and rows["Team A1"].no_leading


def test_stale_and_orphaned_lists_flagged_metrics(org, cat):
    Metric.objects.filter(pk=cat.calls.pk).update(orphaned_since=timezone.now())
    assert [m.key for m in selectors.stale_and_orphaned(org.users["auditor"])] == [
        "sales.calls_made"
    ]
    assert selectors.stale_and_orphaned(org.users["nobody"]) == []


def test_opening_a_series_at_once_matches_opening_token_by_token(org, cat):
    from governance.crypto import store
    from governance.crypto.keyring import CiphertextInvalid

    person = org.people["member_a"]
    record_calls(org, person, NORMAL[:6])
    tokens = list(
        Observation.objects.filter(person=person)
        .order_by("period_start")
        .values_list("value_sealed", flat=True)
    )
    keys = store.keys_for([person.pk])
    one_by_one = selectors.series_opener(keys, person.pk)
    with_gaps = [tokens[0], None, *tokens[1:]]
    assert selectors.open_series(keys, person.pk, with_gaps) == [
        None if t is None else one_by_one(t) for t in with_gaps
    ]
    assert selectors.open_series(keys, person.pk, tokens) == [
        float(v) for v in NORMAL[:6]
    ]
    tampered = [
        *tokens[:2],
        tokens[2][:-4] + ("AAAA" if tokens[2][-4:] != "AAAA" else "BBBB"),
    ]
    with pytest.raises(CiphertextInvalid):
        selectors.open_series(keys, person.pk, tampered)
    with pytest.raises(CiphertextInvalid):
        selectors.open_series(keys, person.pk, ["not a token"])
    other = org.people["member_b"]  # another subject's key: refused
    with pytest.raises(CiphertextInvalid):
        selectors.open_series(
            store.keys_for([other.pk])
            | {person.pk: store.keys_for([other.pk])[other.pk]},
            person.pk,
            tokens[:1],
        )
    assert selectors.open_series({}, person.pk, tokens[:2]) == [None, None]  # no key
