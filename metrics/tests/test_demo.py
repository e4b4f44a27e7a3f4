"""The metrics demo data (``metrics.demo``) as built by ``seed_demo``.

The organisation is built once for the module inside a transaction that is
rolled back afterwards; every test reads it in its own savepoint. Before the
metrics steps run, a test step gives two people in the consent-required
jurisdiction consent (as a consent seed step would), so both sides of the
consent rule are visible.
"""

from __future__ import annotations

import datetime
import statistics
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import connection, transaction

from governance import demo
from governance.audit import chain
from governance.classification import Sensitivity
from governance.models import Person, Team
from metrics import demo as metrics_demo
from metrics import smart, validation
from metrics.analytics import anomalies, gaming, spc
from metrics.models import (
    Annotation,
    DataSource,
    Evaluation,
    Metric,
    MetricConflict,
    MetricTarget,
    Observation,
    PeerFeedback,
    StakeholderFeedback,
    TransformationStep,
)

pytestmark = pytest.mark.django_db

CONSENTING = ("member:ent-sales-dach:0", "member:ent-sales-dach:1")

try:
    from governance import consent
except ImportError:  # pragma: no cover - the consent layer is not installed
    consent = None  # type: ignore[assignment]


def _give_consent(ctx: demo.DemoContext) -> None:
    for key in CONSENTING:
        if consent.active_consent(ctx.people[key], consent.DEFAULT_PURPOSE):
            continue  # the governance consent step already recorded it
        consent.give_consent(
            actor=None,
            person=ctx.people[key],
            purpose=consent.DEFAULT_PURPOSE,
            evidence="Signed paper form (test)",
        )


@pytest.fixture(scope="module")
def ctx(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            if consent is not None:
                demo.register("test-consent", _give_consent, order=150)
            try:
                built = demo.build()
            finally:
                demo.unregister("test-consent")
            yield built
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def _values(metric_key: str, **filters) -> list[Observation]:
    return list(
        Observation.objects.filter(metric__key=metric_key, **filters).order_by(
            "period_start", "id"
        )
    )


# -- registry --------------------------------------------------------------------


def test_steps_are_registered_after_every_governance_step():
    steps = {s.name: s for s in demo.steps()}
    ours = [
        steps[n]
        for n in (
            "metrics-catalogue",
            "metrics-observations",
            "metrics-methodology",
            "metrics-feedback",
            "metrics-incentives",
            "metrics-governance",
        )
    ]
    kernel = [s for s in steps.values() if not s.name.startswith(("metrics-", "test-"))]
    assert min(s.order for s in ours) >= 200
    assert max(s.order for s in kernel if s.order < 200) < min(s.order for s in ours)
    assert [s.name for s in ours] == sorted(
        (s.name for s in ours), key=lambda n: steps[n].order
    )


# -- catalogue -------------------------------------------------------------------


def test_sources_document_refresh_cycle_and_latency(ctx):
    sources = list(DataSource.objects.all())
    systems = {s.system for s in sources}
    assert {"jira", "workday", "zendesk", "manual", "survey"} <= systems
    for source in sources:
        assert source.refresh_cycle and source.latency_hours > 0
    assert any(not s.documented for s in sources)


def test_every_team_has_metrics_and_exactly_growth_lacks_a_leading_one(ctx):
    without_leading = []
    for team in Team.objects.all():
        indicators = set(
            team.metrics.exclude(status="retired").values_list("indicator", flat=True)
        )
        assert indicators, f"{team.name} has no metric"
        if Metric.Indicator.LEADING not in indicators:
            without_leading.append(team.name)
    assert without_leading == ["Growth Marketing"]


def test_individual_kpis_align_to_team_outcomes_aligned_to_objectives(ctx):
    individual = Metric.objects.filter(level="individual", status="active")
    assert individual.count() >= 4
    for metric in individual.select_related("aligned_to"):
        outcome = metric.aligned_to
        assert outcome is not None, metric.key
        assert outcome.level == "team" and outcome.objective_id is not None, metric.key


def test_metrics_have_owners_stewards_and_valid_rules(ctx):
    for metric in Metric.objects.select_related("department"):
        assert metric.owner_id and metric.steward_id
        assert metric.steward_id == metric.department.steward_id
        assert validation.validate_rules(metric.validation_rules) == []
    assert Metric.objects.filter(validation_rules={}).count() == 0


def test_declared_conflict_and_proposed_high_impact_metric(ctx):
    pairs = {
        frozenset((c.metric_a.key, c.metric_b.key))
        for c in MetricConflict.objects.select_related("metric_a", "metric_b")
    }
    assert (
        frozenset(("support.calls_handled", "support.first_contact_resolution"))
        in pairs
    )
    proposed = Metric.objects.filter(impact="high", status="proposed")
    assert proposed.exists()
    assert not Metric.objects.filter(impact="high", status="active").exists()
    assert not Observation.objects.filter(metric__impact="high").exists()


def test_lineage_has_documented_and_undocumented_steps(ctx):
    steps = TransformationStep.objects.all()
    assert steps.filter(documented=True).count() >= 20
    undocumented = steps.filter(documented=False)
    assert 3 <= undocumented.count() < steps.count() / 2


def test_targets_one_above_capacity_with_justification_one_failing_smart(ctx):
    targets = list(MetricTarget.objects.select_related("metric"))
    above = [t for t in targets if smart.above_capacity(t)]
    assert len(above) == 1 and above[0].justification.strip()
    failing = {t.metric.key: smart.failing(t) for t in targets if smart.failing(t)}
    assert list(failing) == ["product.feature_adoption"]
    assert {"Measurable", "Time-bound"} <= set(failing["product.feature_adoption"])
    for target in targets:
        if target.metric.key != "product.feature_adoption":
            assert target.baseline is not None and target.deadline is not None


# -- observations ---------------------------------------------------------------


def test_a_year_of_observations_per_active_metric(ctx):
    cal = ctx.extra["metrics_calendar"]
    spans = {"daily": 360, "weekly": 350, "monthly": 330, "quarterly": 270}
    for metric in Metric.objects.filter(status="active"):
        periods = Observation.objects.filter(metric=metric).values_list(
            "period_start", flat=True
        )
        first, last = min(periods), max(periods)
        assert (last - first).days >= spans[metric.update_frequency], metric.key
        assert last < ctx.today
    assert cal.weekly[-1] + datetime.timedelta(days=6) < ctx.today
    frequencies = set(
        Observation.objects.values_list("metric__update_frequency", flat=True)
    )
    assert {"weekly", "monthly"} <= frequencies
    assert Observation.objects.filter(person__isnull=False).count() >= 800
    assert Observation.objects.filter(team__isnull=False).count() >= 600


def test_observations_went_through_the_governed_path(ctx):
    total = Observation.objects.count()
    assert total == ctx.counts["observations"]
    created = Observation.history.filter(history_type="+")
    assert created.count() == total
    assert not created.filter(history_change_reason="").exists()
    report = chain.verify()
    assert report.ok, [str(b) for b in report.breaks]


def test_confidential_values_are_sealed_in_the_database(ctx):
    sealed = Observation.objects.filter(
        metric__sensitivity__gte=Sensitivity.CONFIDENTIAL
    )
    assert sealed.exists()
    assert not sealed.filter(value_sealed__isnull=True).exists()
    obs = sealed.filter(person__isnull=False).first()
    assert isinstance(obs.value, Decimal)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT value_plain, value_sealed FROM metrics_observation WHERE id = %s",
            [obs.pk],
        )
        plain, token = cursor.fetchone()
    assert plain is None and token.startswith("pgp1:") and str(obs.value) not in token


def test_methodology_changed_mid_year(ctx):
    versions = [o.methodology_version for o in _values("eng.change_failure_rate")]
    assert versions == [1] * 6 + [2] * 6


# -- planted patterns -------------------------------------------------------------


def _series_entries(metric: Metric) -> list:
    return [
        ((o.person_id, o.team_id, o.period_start), o.value)
        for o in Observation.objects.filter(metric=metric).order_by("id")
    ]


def _hard_range(metric: Metric) -> anomalies.HardRange:
    rules = metric.validation_rules
    bounds = (rules.get("min"), rules.get("max"))
    if metric.unit == "%" and bounds == (None, None):
        bounds = (0, 100)
    return anomalies.HardRange(
        minimum=None if bounds[0] is None else float(bounds[0]),
        maximum=None if bounds[1] is None else float(bounds[1]),
        integer_only=bool(rules.get("integer_only")),
    )


def test_input_errors_are_the_only_findings(ctx):
    found = defaultdict(list)
    for metric in Metric.objects.filter(status="active"):
        if metric.key == "ops.mttr_minutes":
            continue  # the annotated outage is a real (external) event
        for finding in anomalies.detect_anomalies(
            _series_entries(metric), hard_range=_hard_range(metric)
        ):
            found[metric.key].append(finding.kind)
    assert dict(found) == {
        "sales.pipeline_generated": ["unit_slip"],
        "people.onboarding_completion": ["impossible"],
        "support.quality_score": ["duplicate"],
    }


def test_quarantine_holds_exactly_the_planted_errors(ctx):
    quarantined = Observation.objects.filter(status="quarantined").select_related(
        "metric"
    )
    keys = sorted(o.metric.key for o in quarantined)
    if not keys:
        pytest.skip("no data-quality hook registered")
    assert keys == [
        "people.onboarding_completion",
        "sales.pipeline_generated",
        "support.quality_score",
    ]
    assert sorted(quarantined.values_list("quality_issues__kind", flat=True)) == [
        "duplicate",
        "impossible",
        "unit_slip",
    ]


def test_resolution_time_shift_is_real_and_annotated(ctx):
    team = Team.objects.get(name="Support Desk")
    obs = _values("support.resolution_hours", team=team)
    values = [float(o.value) for o in obs]
    shift = metrics_demo.SHIFT_WEEK
    assert statistics.fmean(values[shift:]) < statistics.fmean(values[:shift]) - 8
    chart = spc.xmr_chart(values, baseline=20)
    after = [s.index for s in chart.signals if s.index >= shift]
    assert after and min(after) <= shift + 8
    annotation = Annotation.objects.get(kind="real_shift")
    assert annotation.observation_id == obs[shift].pk
    assert "process change" in annotation.text.lower()
    reopen = [float(o.value) for o in _values("support.reopen_rate")]
    assert abs(statistics.fmean(reopen[shift:]) - statistics.fmean(reopen[:shift])) < 1


def test_outbound_calls_bunch_just_past_the_quota(ctx):
    calls = [o.value for o in _values("sales.outbound_calls")]
    finding = gaming.threshold_bunching(
        "Inside Sales", calls, threshold=metrics_demo.QUOTA_CALLS, epsilon=3
    )
    assert finding is not None
    support = [o.value for o in _values("support.calls_handled")]
    assert (
        gaming.threshold_bunching("Support Desk", support, threshold=120, epsilon=3)
        is None
    )


# -- consent ----------------------------------------------------------------------


@pytest.mark.skipif(consent is None, reason="governance.consent is not installed")
def test_individual_data_only_with_consent_where_required(ctx):
    required = Person.objects.filter(jurisdiction__consent_required=True)
    with_data = set(
        Observation.objects.filter(person__in=required).values_list(
            "person_id", flat=True
        )
    )
    consented = {
        p.pk
        for p in required
        if consent.active_consent(p, consent.DEFAULT_PURPOSE) is not None
    }
    assert {ctx.people[k].pk for k in CONSENTING} <= consented
    assert with_data
    # Nobody without consent in force has individual data (withdrawn or never given).
    assert not with_data - consented
    assert required.count() > len(consented)
    elsewhere = set(
        Observation.objects.filter(
            person__jurisdiction__consent_required=False
        ).values_list("person_id", flat=True)
    )
    assert len(elsewhere) >= 15


@pytest.mark.skipif(consent is None, reason="governance.consent is not installed")
def test_demo_consent_board_bias_and_retention(ctx):
    from governance.models import (
        Ballot,
        BiasAssessment,
        ConsentRecord,
        LegalHold,
        RetentionPolicy,
    )

    german = Person.objects.filter(jurisdiction__consent_required=True)
    records = ConsentRecord.objects.filter(person__in=german)
    assert records.filter(withdrawn_at__isnull=True).exists()
    assert records.filter(withdrawn_at__isnull=False).exists()
    assert german.exclude(consents__isnull=False).exists()  # never gave it
    employee = ctx.users["employee"].person
    assert consent.active_consent(employee, consent.DEFAULT_PURPOSE) is not None
    assert Observation.objects.filter(person=employee).exists()
    assert Ballot.objects.filter(status="open").count() == 1
    assert Ballot.objects.filter(status="closed", outcome="rejected").count() == 1
    assessment = BiasAssessment.objects.get()
    assert assessment.target_type == "metrics.evaluation_release"
    assert assessment.dataset_size >= 10
    assert assessment.groups.count() >= 2
    if assessment.status == "open":
        assert assessment.remediation_items.exists()
    assert RetentionPolicy.objects.count() == 5
    assert LegalHold.objects.filter(released_at__isnull=True).count() == 1
    assert chain.verify().ok


# -- feedback and evaluations -----------------------------------------------------


def test_peer_feedback_within_teams_never_self(ctx):
    feedback = list(PeerFeedback.objects.select_related("subject", "reviewer"))
    assert len(feedback) >= 30
    for item in feedback:
        assert item.subject_id != item.reviewer_id
        assert item.text and 1 <= item.rating <= 5
        assert item.reviewer.manager_id == item.subject.manager_id


def test_stakeholder_feedback_for_teams_and_people(ctx):
    feedback = StakeholderFeedback.objects.all()
    assert feedback.filter(person__isnull=True).count() >= 3
    assert feedback.filter(person__isnull=False).exists()


def test_evaluations_have_documented_weights_and_an_independent_evaluator(ctx):
    evaluations = list(Evaluation.objects.select_related("person", "evaluator"))
    assert len(evaluations) >= 15
    measured = set(
        Observation.objects.filter(person__isnull=False).values_list(
            "person_id", flat=True
        )
    )
    for evaluation in evaluations:
        assert evaluation.evaluator_id != evaluation.person_id
        assert evaluation.evaluator_id == evaluation.person.manager_id
        assert abs(sum(evaluation.weights.values()) - 1) < 1e-9
        assert evaluation.person_id in measured
        components = evaluation.components
        expected = sum(w * components[k] for k, w in evaluation.weights.items())
        assert abs(float(evaluation.score) - expected) < 0.02


# -- incentive safeguards (M5) ----------------------------------------------------------


def test_incentive_plans_one_active_one_flagged(ctx):
    from metrics import incentives
    from metrics.models import IncentivePlan

    plans = {p.team.name: p for p in IncentivePlan.objects.select_related("team")}
    platform = plans["Platform Engineering"]
    assert platform.status == "active" and platform.team.interdependence == "high"
    check = incentives.plan_check(platform)
    assert check.ok and check.team_percent == 60.0
    support = plans["Support Desk"]
    assert support.status == "draft"
    assert incentives.plan_check(support).verdict.silo_risk


def test_gaming_detection_finds_the_planted_bunching(ctx):
    from metrics import gaming_review
    from metrics.models import GamingFinding

    bunching = GamingFinding.objects.filter(
        kind="threshold_bunching", metric__key="sales.outbound_calls"
    )
    assert bunching.count() == 1
    assert bunching.get().team == ctx.teams["inside-sales"]
    assert all(f.status == "open" for f in GamingFinding.objects.all())
    before = GamingFinding.objects.count()
    assert gaming_review.detect_gaming(actor=None)["created"] == 0
    assert GamingFinding.objects.count() == before


def test_peer_review_cycle_assigned_by_rotation(ctx):
    from metrics.models import PeerReviewAssignment, PeerReviewCycle

    cycle = PeerReviewCycle.objects.get()
    assert cycle.status == "assigned"
    pairs = list(
        PeerReviewAssignment.objects.filter(cycle=cycle).values_list(
            "reviewer_id", "reviewee_id", "reviewee__manager_id"
        )
    )
    people = Person.objects.filter(department=cycle.department, status="active")
    assert len(pairs) == 2 * people.count()
    assert all(r != e and r != m for r, e, m in pairs)


# -- methodology (M8.2) -------------------------------------------------------------


def test_every_live_metric_has_its_approved_methodology_and_one_draft_waits(ctx):
    from metrics import methodology
    from metrics.models import MethodologyVersion

    for metric in Metric.objects.filter(status__in=["active", "sunset_review"]):
        version = methodology.current_version(metric)
        assert version is not None, metric.key
        assert version.description and version.formula and version.sources
    changed = MethodologyVersion.objects.filter(
        status="approved", change_request__isnull=False
    )
    assert changed.exists()  # the mid-year methodology change
    (draft,) = MethodologyVersion.objects.filter(status="draft")
    assert draft.metric.key == "support.first_contact_resolution"
    assert draft.version == draft.metric.methodology_version + 1
