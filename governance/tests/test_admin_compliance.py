"""The compliance admin pages, role × outcome: running, completing and
reporting bias assessments, remediation transitions, legal holds, and the
records of processing export."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from governance import bias, retention
from governance.classification import Sensitivity
from governance.models import (
    AuditEvent,
    BiasAssessment,
    LegalHold,
    RemediationItem,
)
from governance.roles import Role
from governance.testing import make_user
from governance.tests.test_bias import RELEASE, _evaluations

pytestmark = pytest.mark.django_db

ADD = reverse("admin:governance_biasassessment_add")
ROPA = reverse("admin:governance_records_of_processing")


def _assessment(org):
    _evaluations(org)
    return bias.run_assessment(
        actor=org.users["compliance"],
        target_type=bias.EVALUATION_RELEASE,
        target_id=RELEASE,
        attribute="gender",
        threshold=Decimal("3"),
    )


def _as(client, org, principal):
    if principal != "anonymous":
        client.force_login(org.users[principal])


RUN = {
    "target": f"{bias.EVALUATION_RELEASE}|{RELEASE}",
    "attribute": "gender",
    "threshold": "3",
    "min_group_size": "5",
    "reason": "year-end release",
}


@pytest.mark.parametrize(
    ("principal", "status"),
    [
        ("compliance", 302),
        ("admin", 302),
        ("auditor", 403),
        ("hr", 403),
        ("board", 403),
        ("employee", 302),  # to the admin login
        ("anonymous", 302),
    ],
)
def test_run_assessment_from_the_admin(client, org, principal, status):
    _evaluations(org)
    _as(client, org, principal)
    response = client.post(ADD, RUN)
    assert response.status_code == status
    created = BiasAssessment.objects.first()
    if principal in ("compliance", "admin"):
        assert response.url == reverse(
            "admin:governance_biasassessment_change", args=[created.pk]
        )
        page = client.get(response.url).content.decode()
        assert "suppressed (small group)" in page
        assert "3/8" in page  # the women's selection rate, exact
    else:
        assert created is None


def test_run_form_shows_service_errors_and_stores_nothing(client, org):
    _evaluations(org)
    _as(client, org, "compliance")
    response = client.post(ADD, {**RUN, "target": "metrics.evaluation_release|x..y"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not BiasAssessment.objects.exists()


@pytest.mark.parametrize(
    ("principal", "status"),
    [("compliance", 200), ("admin", 200), ("auditor", 403), ("hr", 403)],
)
def test_complete_page_role_matrix(client, org, principal, status):
    assessment = _assessment(org)
    _as(client, org, principal)
    url = reverse("admin:governance_biasassessment_complete", args=[assessment.pk])
    assert client.get(url).status_code == status
    response = client.post(url, {"note": "fine"})
    if status == 200:
        # Adverse and no remediation yet: refused on the page, nothing changed.
        assert "record the remediation" in response.content.decode()
    else:
        assert response.status_code == 403
    assessment.refresh_from_db()
    assert assessment.status == BiasAssessment.Status.OPEN


def test_remediation_moves_forward_on_its_change_form_and_completes(client, org):
    assessment = _assessment(org)
    item = bias.remediation_create(
        actor=org.users["compliance"],
        assessment=assessment,
        description="Recalibrate",
        owner=org.people["hr"],
        due_date=datetime.date(2026, 9, 1),
    )
    _as(client, org, "compliance")
    url = reverse("admin:governance_remediationitem_change", args=[item.pk])
    response = client.post(
        url, {"transition": "closed", "note": "", "change_reason": "x"}
    )
    assert response.status_code == 200
    assert "Closing needs a note" in response.content.decode()
    item.refresh_from_db()
    assert item.status == RemediationItem.Status.OPEN
    response = client.post(
        url, {"transition": "closed", "note": "Recalibrated.", "change_reason": "done"}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == RemediationItem.Status.CLOSED
    assert client.get(url).context["has_change_permission"] is False
    complete = reverse("admin:governance_biasassessment_complete", args=[assessment.pk])
    assert client.post(complete, {"note": "Remediated."}).status_code == 302
    assessment.refresh_from_db()
    assert assessment.status == BiasAssessment.Status.COMPLETED


@pytest.mark.parametrize(
    ("principal", "status"),
    [("compliance", 200), ("auditor", 200), ("low_auditor", 403), ("hr", 403)],
)
def test_report_download_role_and_clearance(client, org, principal, status, tmp_path):
    assessment = _assessment(org)
    if principal == "low_auditor":
        user = make_user("low_auditor", Role.AUDITOR, clearance=Sensitivity.INTERNAL)
        client.force_login(user)
    else:
        _as(client, org, principal)
    url = reverse("admin:governance_biasassessment_report", args=[assessment.pk])
    response = client.get(url)
    assert response.status_code == status
    issued = AuditEvent.objects.filter(action="report.issued")
    if status == 200:
        assert response.content.startswith(b"%PDF")
        assert issued.get().data["report_type"] == "bias_assessment"
        _check_report_contents(response.content, assessment, tmp_path)
    else:
        assert not issued.exists()


def _check_report_contents(body, assessment, tmp_path):
    """The figures travel with the report (JSON and CSV), small groups without
    figures; the pages carry the table and the marking."""
    from governance.reports import pdfinfo
    from governance.reports import testing as archival

    archival.assert_archival(body, tmp_path, json_name="bias-assessment.json")
    path = tmp_path / "bias.pdf"
    path.write_bytes(body)
    with pdfinfo.open_pdf(path) as pdf:
        files = pdfinfo.embedded_files(pdf)
        text = "\n".join(pdfinfo.page_texts(pdf))
    data = json.loads(files["bias-assessment.json"].content)
    assert data["dataset_hash"] == assessment.dataset_hash
    groups = {g["group"]: g for g in data["groups"]}
    assert groups["female"]["rate"] == "3/8" and groups["female"]["adverse"] is True
    assert groups["nonbinary"]["n"] is None and groups["nonbinary"]["suppressed"]
    assert files["groups.csv"].content.decode().startswith("group,suppressed")
    assert "Figures per group" in text and "CONFIDENTIAL" in text


@pytest.mark.parametrize(
    ("principal", "status"),
    [
        ("compliance", 200),
        ("auditor", 200),
        ("hr", 200),
        ("board", 403),
        ("manager", 403),
        ("employee", 302),
    ],
)
def test_records_of_processing_page_and_exports(client, org, principal, status):
    _as(client, org, principal)
    for query in ("", "?format=csv", "?format=json"):
        response = client.get(ROPA + query)
        assert response.status_code == status, query
    if status == 200:
        assert "Performance measurement" in client.get(ROPA).content.decode()
        data = json.loads(client.get(ROPA + "?format=json").content)
        assert data["activities"]
        csv_text = client.get(ROPA + "?format=csv").content.decode()
        assert csv_text.startswith("activity,purpose,lawful_basis")
        assert client.get(ROPA + "?format=xml").status_code == 400


@pytest.mark.parametrize(
    ("principal", "released"), [("compliance", True), ("auditor", False)]
)
def test_release_hold_action(client, org, principal, released):
    hold = retention.hold_place(
        actor=org.users["compliance"], person=org.people["member_a"], reason="claim"
    )
    _as(client, org, principal)
    url = reverse("admin:governance_legalhold_changelist")
    client.post(
        url,
        {
            "action": "release_selected",
            ACTION_CHECKBOX_NAME: [hold.pk],
            "confirm": "yes",
            "reason": "settled",
        },
    )
    hold.refresh_from_db()
    assert (hold.released_at is not None) == released


def test_place_hold_in_the_admin(client, org):
    _as(client, org, "compliance")
    url = reverse("admin:governance_legalhold_add")
    person = org.people["member_a"]
    bad = client.post(
        url,
        {
            "person": person.pk,
            "record_type": "metrics.observation",
            "record_id": "1",
            "reason": "r",
        },
    )
    assert bad.status_code == 200 and "not both" in bad.content.decode()
    assert not LegalHold.objects.exists()
    good = client.post(
        url,
        {"person": person.pk, "record_type": "", "record_id": "", "reason": "claim"},
    )
    assert good.status_code == 302
    hold = LegalHold.objects.get()
    assert hold.person == person and hold.placed_by == org.users["compliance"]


def test_retention_policies_link_the_records_of_processing(client, org):
    _as(client, org, "auditor")
    page = client.get(reverse("admin:governance_retentionpolicy_changelist"))
    assert ROPA in page.content.decode()
