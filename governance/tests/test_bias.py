"""Bias assessment records (M8.5): figures from live data, suppression,
remediation to closure, and the two gates (go-live, evaluation release)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from governance import bias
from governance.analytics.fairness import assess_selection
from governance.audit import chain
from governance.models import (
    AuditEvent,
    BiasAssessment,
    BiasGroupResult,
    Proposal,
    RemediationItem,
)
from governance.services import save_governed
from governance.testing import completed_bias_assessment, make_person
from metrics import governance_links
from metrics import services as metric_services
from metrics.models import Evaluation, Metric
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

START, END = datetime.date(2026, 1, 1), datetime.date(2026, 6, 30)
RELEASE = bias.release_id(START, END)

# group -> scores; selected means score >= 3. Women 3/8 selected, men 6/8,
# two people of a third group (suppressed under the default minimum of 5).
SCORES = {
    "female": ["4.0", "3.5", "3.0", "2.0", "2.5", "1.5", "2.0", "2.8"],
    "male": ["4.5", "3.1", "3.0", "3.9", "4.2", "3.3", "2.1", "2.9"],
    "nonbinary": ["4.0", "1.0"],
}


def _evaluations(org, scores=SCORES, status=Evaluation.Status.DRAFT):
    evaluator = org.people["manager_a"]
    people = {}
    for group, values in scores.items():
        for value in values:
            person = make_person(org.sales, org.us, gender=group)
            save_governed(
                Evaluation(
                    person=person,
                    evaluator=evaluator,
                    period_start=START,
                    period_end=END,
                    weights={"quantitative": 1},
                    components={},
                    score=Decimal(value),
                    rationale="r",
                    status=status,
                ),
                actor=None,
                reason="test",
            )
            people[person.pk] = group
    # Someone without a recorded gender is left out, and counted as excluded.
    nobody = make_person(org.sales, org.us)
    save_governed(
        Evaluation(
            person=nobody,
            evaluator=evaluator,
            period_start=START,
            period_end=END,
            weights={"quantitative": 1},
            components={},
            score=Decimal("5"),
            rationale="r",
        ),
        actor=None,
        reason="test",
    )
    return people


def _run(org, **kwargs):
    params = {
        "actor": org.users["compliance"],
        "target_type": bias.EVALUATION_RELEASE,
        "target_id": RELEASE,
        "attribute": "gender",
        "threshold": Decimal("3"),
    }
    params.update(kwargs)
    return bias.run_assessment(**params)


def test_release_assessment_records_the_figures_of_the_live_data(org):
    _evaluations(org)
    assessment = _run(org)
    expected = assess_selection({"female": (8, 3), "male": (8, 6), "nonbinary": (2, 1)})
    rows = {g.group: g for g in assessment.groups.all()}
    assert assessment.dataset_size == 18 and assessment.excluded_count == 1
    assert assessment.reference_group == "male" == expected.reference_group
    female = next(g for g in expected.groups if g.group == "female")
    assert rows["female"].rate == "3/8"
    assert (
        Fraction(rows["female"].impact_ratio) == Fraction(1, 2) == female.impact_ratio
    )
    assert rows["female"].parity_difference == "-3/8"
    assert rows["female"].adverse is True
    assert rows["female"].fisher_p == pytest.approx(female.fisher_p)
    assert rows["female"].chi2_p == pytest.approx(female.chi2_p)
    assert rows["female"].mean_difference == pytest.approx(2.6625 - 3.375)
    assert rows["female"].cohens_d is not None and rows["female"].cohens_d < 0
    assert rows["male"].is_reference and rows["male"].adverse is False
    # The small group is withheld entirely: not even its size is stored.
    small = rows["nonbinary"]
    assert small.suppressed and small.n is None and small.rate == ""
    assert small.fisher_p is None and small.mean is None
    assert assessment.verdict == BiasAssessment.Verdict.ADVERSE
    assert assessment.status == BiasAssessment.Status.OPEN
    # Reproducible: the same data gives the same dataset hash.
    assert _run(org).dataset_hash == assessment.dataset_hash
    event = AuditEvent.objects.filter(action="bias.assessed").first()
    assert event.data["dataset_hash"] == assessment.dataset_hash
    assert "female" not in str(event.data) and "3.5" not in str(event.data)
    assert chain.verify().ok


def test_no_adverse_impact_completes_at_once(org):
    _evaluations(
        org, {"female": ["4", "4", "4", "1", "1"], "male": ["4", "4", "4", "1", "1"]}
    )
    assessment = _run(org)
    assert assessment.verdict == BiasAssessment.Verdict.NO_ADVERSE
    assert assessment.status == BiasAssessment.Status.COMPLETED


def test_too_few_groups_is_insufficient(org):
    _evaluations(org, {"female": ["4"] * 6, "male": ["4", "1"]})
    assessment = _run(org)
    assert assessment.verdict == BiasAssessment.Verdict.INSUFFICIENT
    assert assessment.status == BiasAssessment.Status.OPEN


def test_age_band_comes_from_the_date_of_birth():
    assert (
        bias.age_band(datetime.date(1996, 7, 1), datetime.date(2026, 6, 30))
        == "under 30"
    )
    assert (
        bias.age_band(datetime.date(1996, 6, 30), datetime.date(2026, 6, 30)) == "30-39"
    )
    assert (
        bias.age_band(datetime.date(1970, 1, 1), datetime.date(2026, 6, 30))
        == "50 and over"
    )


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        ("compliance", True),
        ("admin", True),
        ("hr", False),
        ("auditor", False),
        ("board", False),
        ("manager", False),
        ("employee", False),
        ("nobody", False),
    ],
)
def test_only_compliance_runs_assessments(org, principal, allowed):
    _evaluations(org, {"female": ["4"] * 5, "male": ["4"] * 5})
    if allowed:
        assert _run(org, actor=org.users[principal]).pk
    else:
        with pytest.raises(PermissionDenied):
            _run(org, actor=org.users[principal])
        assert not BiasAssessment.objects.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attribute": "religion"}, "Unknown attribute"),
        ({"threshold": "abc"}, "must be a number"),
        ({"min_group_size": 0}, "at least 1"),
        ({"target_id": "2026-13-01..2026-12-31"}, "No evaluation release"),
        ({"target_type": "metrics.nothing"}, "Unknown assessment target"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(org, change, message):
    _evaluations(org, {"female": ["4"] * 5, "male": ["4"] * 5})
    with pytest.raises(ValidationError, match=message):
        _run(org, **change)
    assert not BiasAssessment.objects.exists()
    assert not BiasGroupResult.objects.exists()


def test_release_needs_a_completed_assessment_and_remediation_to_closure(org):
    _evaluations(org)
    hr = org.users["hr"]
    with pytest.raises(ValidationError, match="completed bias assessment"):
        metric_services.release_evaluations(
            actor=hr, period_start=START, period_end=END, reason="year end"
        )
    assessment = _run(org)
    with pytest.raises(ValidationError, match="completed bias assessment"):
        metric_services.release_evaluations(
            actor=hr, period_start=START, period_end=END, reason="year end"
        )
    compliance = org.users["compliance"]
    with pytest.raises(ValidationError, match="record the remediation"):
        bias.complete_assessment(actor=compliance, assessment=assessment, note="ok")
    item = bias.remediation_create(
        actor=compliance,
        assessment=assessment,
        description="Review the rating calibration of the women's cohort.",
        owner=org.people["hr"],
        due_date=datetime.date(2026, 8, 1),
    )
    with pytest.raises(ValidationError, match="not closed"):
        bias.complete_assessment(actor=compliance, assessment=assessment, note="ok")
    bias.remediation_transition(actor=compliance, item=item, status="in_progress")
    with pytest.raises(ValidationError, match="needs a note"):
        bias.remediation_transition(actor=compliance, item=item, status="closed")
    bias.remediation_transition(
        actor=compliance, item=item, status="closed", note="Calibration redone."
    )
    with pytest.raises(ValidationError, match="can't become"):
        bias.remediation_transition(actor=compliance, item=item, status="open")
    item.refresh_from_db()
    assert item.status == RemediationItem.Status.CLOSED and item.closed_at
    with pytest.raises(PermissionDenied):
        bias.complete_assessment(actor=hr, assessment=assessment, note="ok")
    bias.complete_assessment(
        actor=compliance, assessment=assessment, note="Remediated; release approved."
    )
    assert (
        metric_services.release_evaluations(
            actor=hr, period_start=START, period_end=END, reason="year end"
        )
        == 19
    )
    assert not Evaluation.objects.filter(status=Evaluation.Status.DRAFT).exists()
    assert AuditEvent.objects.filter(action="evaluations.released").count() == 1
    assert chain.verify().ok


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [("hr", True), ("compliance", False), ("manager", False), ("employee", False)],
)
def test_release_role_matrix(org, principal, allowed):
    _evaluations(org, {"female": ["4"] * 5, "male": ["4"] * 5})
    completed_bias_assessment(target_type=bias.EVALUATION_RELEASE, target_id=RELEASE)
    kwargs = {"period_start": START, "period_end": END, "reason": "go"}
    if allowed:
        assert metric_services.release_evaluations(actor=org.users[principal], **kwargs)
    else:
        with pytest.raises(PermissionDenied):
            metric_services.release_evaluations(actor=org.users[principal], **kwargs)
        assert not Evaluation.objects.filter(status="released").exists()


def test_high_impact_metric_goes_live_only_with_an_assessment_of_its_version(org):
    cat = build_catalogue(org)
    metric = metric_services.metric_create(
        actor=None,
        key="sales.quota_attainment",
        name="Quota attainment",
        indicator="lagging",
        level="individual",
        unit="%",
        impact=Metric.Impact.HIGH,
        calculation="booked / quota",
        source=cat.manual,
        owner=org.people["manager_a"],
        steward=org.people["steward_sales"],
        department=org.sales,
        update_frequency="monthly",
    )
    # The board approved this exact version (row only: the board is tested elsewhere).
    save_governed(
        Proposal(
            title="Quota attainment",
            summary="s",
            subject_type=governance_links.SUBJECT_TYPE,
            subject_id=str(metric.pk),
            author=org.users["compliance"],
            status=Proposal.Status.APPROVED,
            bound_version=metric.methodology_version,
            bound_digest=governance_links.governed_digest(metric),
            created_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        ),
        actor=None,
        reason="test",
    )
    with pytest.raises(ValidationError, match="completed bias assessment"):
        metric_services.metric_transition(
            actor=None, metric=metric, status="active", reason="go"
        )
    completed_bias_assessment(
        target_type=bias.METRIC,
        target_id=metric.pk,
        version=metric.methodology_version + 1,
    )
    with pytest.raises(ValidationError, match="completed bias assessment"):
        metric_services.metric_transition(
            actor=None, metric=metric, status="active", reason="go"
        )
    completed_bias_assessment(
        target_type=bias.METRIC, target_id=metric.pk, version=metric.methodology_version
    )
    metric_services.metric_transition(
        actor=None, metric=metric, status="active", reason="go"
    )
    metric.refresh_from_db()
    assert metric.status == Metric.Status.ACTIVE


def test_metric_outcomes_are_each_persons_latest_valid_value(org):
    cat = build_catalogue(org)
    a1 = org.people["member_a1"]
    metric_services.record_observations(
        actor=None,
        rows=[
            {
                "metric": cat.calls.key,
                "employee_id": a1.employee_id,
                "period_start": "2026-02-01",
                "value": "80",
            },
            {
                "metric": cat.calls.key,
                "employee_id": a1.employee_id,
                "period_start": "2026-03-01",
                "value": "120",
            },
        ],
    )
    assert governance_links.metric_outcomes(str(cat.calls.pk)) == [
        (a1.pk, Decimal("120"))
    ]


@pytest.mark.parametrize(
    ("principal", "count"),
    [("compliance", 1), ("auditor", 1), ("hr", 0), ("board", 0), ("employee", 0)],
)
def test_audit_pack_summary_is_scoped_and_json_ready(org, principal, count):
    import json

    from django.utils import timezone

    from governance import selectors

    _evaluations(org)
    assessment = _run(org)
    bias.remediation_create(
        actor=org.users["compliance"],
        assessment=assessment,
        description="Recalibrate",
        owner=org.people["hr"],
        due_date=datetime.date(2020, 1, 1),
    )
    today = timezone.localdate()
    summary = selectors.bias_assessment_summary(
        viewer=org.users[principal], date_from=today, date_to=today
    )
    json.dumps(summary)
    assert summary["count"] == count
    if count:
        (data,) = summary["assessments"]
        assert data["verdict"] == "adverse" and summary["by_verdict"]["adverse"] == 1
        small = next(g for g in data["groups"] if g["group"] == "nonbinary")
        assert small["n"] is None and small["rate"] == ""
        assert len(summary["remediation"]["overdue"]) == 1
    earlier = selectors.bias_assessment_summary(
        viewer=org.users[principal],
        date_from=datetime.date(2020, 1, 1),
        date_to=datetime.date(2020, 12, 31),
    )
    assert earlier["count"] == 0
