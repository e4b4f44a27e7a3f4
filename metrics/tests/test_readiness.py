"""Audit-readiness checklist (M8.2): each item at its pass/fail boundary, the
registry, the admin page / JSON (scoped, role × outcome), and the metric
methodology sheet PDF (PDF/A-3b, JSON attachment, verify_report, pseudonyms)."""

from __future__ import annotations

import io
import json

import pikepdf
import pytest
from django.urls import reverse
from django.utils import timezone

from governance import pseudonyms
from governance.models import ConsentPurpose, Proposal
from metrics import governance_links, methodology, readiness
from metrics.models import DataSource, MethodologyVersion, Metric, TransformationStep
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat(org):
    return build_catalogue(org)


def _item(metric, key):
    metric = Metric.objects.get(pk=metric.pk)
    return readiness.checklist([metric])[0].item(key)


def _state(item):
    return "n/a" if not item.applies else "pass" if item.passed else "fail"


# -- documented ---------------------------------------------------------------------


def test_documented_needs_an_approved_version_for_the_current_number(cat):
    assert _state(_item(cat.draft, "documented")) == "fail"  # never approved
    assert _state(_item(cat.calls, "documented")) == "pass"  # approved at activation
    # A version bump without an approved document fails again.
    Metric.objects.filter(pk=cat.calls.pk).update(methodology_version=2)
    assert "version 2" in _item(cat.calls, "documented").detail
    assert _state(_item(cat.calls, "documented")) == "fail"


def test_documented_needs_definition_formula_and_sources(cat):
    version = methodology.current_version(cat.calls)
    MethodologyVersion.objects.filter(pk=version.pk).update(formula="")
    item = _item(cat.calls, "documented")
    assert _state(item) == "fail" and "formula" in item.detail


# -- approved -----------------------------------------------------------------------


def test_approved_standard_metric_means_live(cat):
    assert _state(_item(cat.calls, "approved")) == "pass"
    assert _state(_item(cat.draft, "approved")) == "fail"


def _board_approval(org, metric):
    return Proposal.objects.create(
        title="approve",
        summary="s",
        subject_type=governance_links.SUBJECT_TYPE,
        subject_id=str(metric.pk),
        bound_version=metric.methodology_version,
        bound_digest=governance_links.governed_digest(metric),
        author=org.users["compliance"],
        status=Proposal.Status.APPROVED,
        created_at=timezone.now(),
        decided_at=timezone.now(),
    )


def test_approved_high_impact_needs_the_board_for_the_current_version(org, cat):
    Metric.objects.filter(pk=cat.draft.pk).update(impact=Metric.Impact.HIGH)
    metric = Metric.objects.get(pk=cat.draft.pk)
    assert _state(_item(metric, "approved")) == "fail"
    proposal = _board_approval(org, metric)
    assert _state(_item(metric, "approved")) == "pass"
    # Bound to another version (digest): fails again.
    Metric.objects.filter(pk=metric.pk).update(calculation="changed")
    assert _state(_item(metric, "approved")) == "fail"
    Metric.objects.filter(pk=metric.pk).update(calculation=metric.calculation)
    Proposal.objects.filter(pk=proposal.pk).update(revoked_at=timezone.now())
    assert _state(_item(metric, "approved")) == "fail"


# -- lineage ------------------------------------------------------------------------


def test_lineage_complete_boundary(cat):
    item = _item(cat.calls, "lineage_complete")
    assert _state(item) == "fail" and "No transformation step" in item.detail
    step = TransformationStep.objects.create(
        metric=cat.calls, order=1, source=cat.manual, documented=False
    )
    assert "undocumented step" in _item(cat.calls, "lineage_complete").detail
    TransformationStep.objects.filter(pk=step.pk).update(documented=True)
    assert _state(_item(cat.calls, "lineage_complete")) == "pass"
    DataSource.objects.filter(pk=cat.manual.pk).update(documented=False)
    item = _item(cat.calls, "lineage_complete")
    assert _state(item) == "fail" and "manual" in item.detail


# -- bias assessed (high impact only) ------------------------------------------------


def test_bias_item_applies_to_high_impact_only_and_needs_this_versions_assessment(cat):
    from governance import bias
    from governance.testing import completed_bias_assessment

    assert _state(_item(cat.calls, "bias_assessed")) == "n/a"
    Metric.objects.filter(pk=cat.calls.pk).update(impact=Metric.Impact.HIGH)
    item = _item(cat.calls, "bias_assessed")
    assert _state(item) == "fail" and "Not assessed" in item.detail
    version = Metric.objects.get(pk=cat.calls.pk).methodology_version
    # an assessment of another version does not count
    completed_bias_assessment(
        target_type=bias.METRIC, target_id=cat.calls.pk, version=version + 1
    )
    assert _state(_item(cat.calls, "bias_assessed")) == "fail"
    assessment = completed_bias_assessment(
        target_type=bias.METRIC, target_id=cat.calls.pk, version=version
    )
    item = _item(cat.calls, "bias_assessed")
    assert _state(item) == "pass" and f"#{assessment.pk}" in item.detail


def test_a_registered_check_replaces_the_placeholder(cat, monkeypatch):
    monkeypatch.setattr(readiness, "_CHECKS", dict(readiness._CHECKS))
    with pytest.raises(ValueError):
        readiness.register_check("bias_assessed", "x", lambda m, b: None)
    readiness.register_check(
        "bias_assessed",
        "Bias assessed",
        lambda metric, batch: readiness.Finding(True, "assessed 2025-01-01"),
        replace=True,
    )
    assert _state(_item(cat.calls, "bias_assessed")) == "pass"


# -- consent basis ------------------------------------------------------------------


def test_consent_basis_boundary(cat):
    assert _state(_item(cat.resolution, "consent_basis")) == "n/a"  # team level
    assert _state(_item(cat.calls, "consent_basis")) == "fail"  # nothing recorded
    purpose = ConsentPurpose.objects.create(
        code="calls_tracking", name="Call tracking", description="We count calls."
    )
    Metric.objects.filter(pk=cat.calls.pk).update(consent_purpose=purpose)
    assert _state(_item(cat.calls, "consent_basis")) == "pass"
    ConsentPurpose.objects.filter(pk=purpose.pk).update(active=False)
    assert _state(_item(cat.calls, "consent_basis")) == "fail"


def test_ready_only_when_every_applicable_item_passes(cat):
    result = readiness.checklist([Metric.objects.get(pk=cat.resolution.pk)])[0]
    assert not result.ready  # no lineage yet
    TransformationStep.objects.create(
        metric=cat.resolution, order=1, source=cat.jira, documented=True
    )
    result = readiness.checklist([Metric.objects.get(pk=cat.resolution.pk)])[0]
    assert result.ready, [(i.key, i.detail) for i in result.items]


def test_checklist_query_count_does_not_grow_with_metrics(
    cat, django_assert_max_num_queries
):
    metrics = list(Metric.objects.all())
    with django_assert_max_num_queries(8):
        readiness.checklist(metrics)


# -- admin page, JSON and the metric page -----------------------------------------------


@pytest.mark.parametrize(
    "principal, status",
    [
        ("auditor", 200),
        ("hr", 200),
        ("steward", 200),
        ("compliance", 200),
        ("board", 403),  # no lineage permissions
        ("employee", 302),  # not staff
        ("nobody", 302),
        ("anonymous", 302),
    ],
)
@pytest.mark.parametrize("page", ["readiness", "readiness_json"])
def test_readiness_pages_role_matrix(client, org, cat, principal, status, page):
    if principal != "anonymous":
        client.force_login(org.users[principal])
    response = client.get(reverse(f"admin:metrics_metric_{page}"))
    assert response.status_code == status
    if status == 200 and page == "readiness_json":
        data = json.loads(response.content)
        keys = {m["metric"] for m in data["metrics"]}
        assert keys == {
            "sales.calls_made",
            "support.resolution_rate",
            "sales.demo_count",
        }
        calls = next(m for m in data["metrics"] if m["metric"] == "sales.calls_made")
        assert set(calls["items"]) == {
            "documented",
            "approved",
            "lineage_complete",
            "bias_assessed",
            "consent_basis",
        }
        assert calls["items"]["bias_assessed"]["passed"] is None  # n/a
        assert calls["items"]["documented"]["passed"] is True
    if status == 200 and page == "readiness":
        assert 'data-metric="sales.calls_made"' in response.content.decode()


def test_metric_change_page_shows_the_checklist(client, org, cat):
    client.force_login(org.users["auditor"])
    html = client.get(
        reverse("admin:metrics_metric_change", args=[cat.calls.pk])
    ).content.decode()
    assert 'id="audit-readiness"' in html
    assert 'class="readiness-documented" data-result="pass"' in html
    assert 'class="readiness-lineage_complete" data-result="fail"' in html
    assert (
        reverse("admin:metrics_metric_methodology_sheet", args=[cat.calls.pk]) in html
    )


# -- the methodology sheet PDF -------------------------------------------------------


def _sheet(client, user, metric):
    client.force_login(user)
    return client.get(
        reverse("admin:metrics_metric_methodology_sheet", args=[metric.pk])
    )


@pytest.mark.parametrize(
    "principal, status",
    [("auditor", 200), ("hr", 200), ("board", 200), ("employee", 302), ("nobody", 302)],
)
def test_sheet_role_matrix(client, org, cat, principal, status):
    response = _sheet(client, org.users[principal], cat.calls)
    assert response.status_code == status


def test_sheet_is_pdfa_with_json_verified_and_pseudonymised(client, org, cat, tmp_path):
    from governance.reports import testing as archival

    owner = org.people["manager_a"]
    response = _sheet(client, org.users["auditor"], cat.calls)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    content = b"".join(response.streaming_content)
    data = archival.assert_archival(
        content, tmp_path, json_name="methodology-sheet.json"
    )
    assert data["metric"]["key"] == "sales.calls_made"
    assert data["current"]["version"] == 1
    assert data["metric"]["owner"] == pseudonyms.pseudonym(owner.pk)
    assert "Mara Manager" not in json.dumps(data, ensure_ascii=False)
    assert owner.employee_id not in json.dumps(data)
    # HR sees the names.
    response = _sheet(client, org.users["hr"], cat.calls)
    hr_path = tmp_path / "hr.pdf"
    hr_path.write_bytes(b"".join(response.streaming_content))
    with pikepdf.open(hr_path) as pdf:
        data = json.loads(
            pdf.attachments["methodology-sheet.json"].get_file().read_bytes()
        )
    assert "Mara Manager" in data["metric"]["owner"]


def test_sheet_of_a_metric_outside_scope_or_missing_is_404(client, org, cat):
    client.force_login(org.users["auditor"])
    response = client.get(
        reverse("admin:metrics_metric_methodology_sheet", args=[999999])
    )
    assert response.status_code == 404


def test_sheet_names_people_for_an_auditor_granted_identities(client, org, cat):
    from django.contrib.auth.models import Permission

    from governance.roles import Role
    from governance.testing import make_user

    user = make_user("auditor_granted", Role.AUDITOR)
    user.user_permissions.add(
        Permission.objects.get(
            codename="view_identities", content_type__app_label="governance"
        )
    )
    response = _sheet(client, user, cat.calls)
    with pikepdf.open(io.BytesIO(b"".join(response.streaming_content))) as pdf:
        data = json.loads(
            pdf.attachments["methodology-sheet.json"].get_file().read_bytes()
        )
    assert "Mara Manager" in data["metric"]["owner"]
