"""Subject rights (G.DSAR): the self-service download holds the viewer's own
data and nothing of anyone else; the PDF report is issued and recorded; the
records of processing list purposes, data, recipients, retention."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from governance import consent, retention, subject_rights
from governance.models import AuditEvent, RetentionPolicy
from governance.services import save_governed
from metrics import services as metric_services
from metrics.models import Evaluation, PeerFeedback
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

JSON_URL = reverse("selfservice:my_data_json")
PDF_URL = reverse("selfservice:my_data_pdf")


@pytest.fixture
def world(org):
    cat = build_catalogue(org)
    me, other = org.people["member_a"], org.people["member_a1"]
    metric_services.record_observations(
        actor=None,
        rows=[
            {
                "metric": cat.calls.key,
                "employee_id": person.employee_id,
                "period_start": "2026-03-01",
                "value": value,
            }
            for person, value in ((me, "111"), (other, "222"))
        ],
    )
    save_governed(
        Evaluation(
            person=me,
            evaluator=org.people["manager_a"],
            period_start=datetime.date(2026, 1, 1),
            period_end=datetime.date(2026, 6, 30),
            weights={"quantitative": 1},
            components={"quantitative": "3.25"},
            score=Decimal("3.25"),
            rationale="Consistent quality all half-year.",
        ),
        actor=None,
        reason="test",
    )
    save_governed(
        PeerFeedback(
            subject=me,
            reviewer=other,
            cycle="2026-H1",
            rating=4,
            text="Always helpful in reviews.",
            submitted_at=timezone.now(),
        ),
        actor=None,
        reason="test",
    )
    return cat


def _login(client, org, key):
    client.force_login(org.users[key])


def test_the_download_holds_my_data_and_nothing_of_anyone_else(client, org, world):
    _login(client, org, "employee")
    response = client.get(JSON_URL)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "no-store"
    data = json.loads(response.content)
    me = org.people["member_a"]
    sections = data["sections"]
    assert data["subject"]["employee_id"] == me.employee_id
    assert sections["profile"]["data"]["full_name"] == "Ann Member"
    assert sections["profile"]["data"]["gender"] == "female"
    assert [o["value"] for o in sections["observations"]["data"]] == ["111"]
    assert sections["evaluations"]["data"][0]["rationale"].startswith("Consistent")
    assert (
        sections["feedback"]["data"]["peer"][0]["text"] == "Always helpful in reviews."
    )
    assert sections["consents"]["data"][0]["purpose"] == consent.DEFAULT_PURPOSE
    text = response.content.decode()
    for key, person in org.people.items():
        if key == "member_a":
            continue
        assert person.employee_id not in text, key
        assert str(person.pk) not in text, key
        assert str(person.full_name) not in text, key
    assert "222" not in text
    event = AuditEvent.objects.get(action="subject.access")
    assert event.object_id == str(me.pk) and event.actor_id == org.users["employee"].pk


@pytest.mark.parametrize(
    ("principal", "status"),
    [
        ("anonymous", 302),
        ("nobody", 404),
        ("compliance", 404),
        ("auditor", 404),
        ("employee", 200),
        ("manager", 200),
        ("hr", 200),
        ("steward", 200),
    ],
)
def test_download_role_matrix_each_gets_only_their_own(
    client, org, world, principal, status
):
    if principal != "anonymous":
        _login(client, org, principal)
    response = client.get(JSON_URL)
    assert response.status_code == status
    if status == 302:
        assert (
            "/accounts/login/" in response["Location"]
            or "login" in response["Location"]
        )
    if status == 200:
        own = org.users[principal].person
        assert json.loads(response.content)["subject"]["person_id"] == str(own.pk)
    assert AuditEvent.objects.filter(action="subject.access").count() == (
        1 if status == 200 else 0
    )


def test_the_download_refuses_post(client, org, world):
    _login(client, org, "employee")
    assert client.post(JSON_URL).status_code == 405


def test_my_data_section_links_the_downloads(client, org, world):
    _login(client, org, "employee")
    page = client.get(reverse("selfservice:home")).content.decode()
    assert JSON_URL in page and PDF_URL in page


def test_subject_access_report_pdf_is_issued_and_recorded(client, org, world, tmp_path):
    from governance.reports import pdfinfo
    from governance.reports import testing as archival

    _login(client, org, "employee")
    response = client.get(PDF_URL)
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    archival.assert_archival(
        response.content, tmp_path, json_name="subject-access.json"
    )
    path = tmp_path / "sar.pdf"
    path.write_bytes(response.content)
    with pdfinfo.open_pdf(path) as pdf:
        embedded = json.loads(
            pdfinfo.embedded_files(pdf)["subject-access.json"].content
        )
        text = "\n".join(pdfinfo.page_texts(pdf))
    me = org.people["member_a"]
    assert embedded["subject"]["person_id"] == str(me.pk)
    assert me.employee_id in text and "RESTRICTED" in text
    assert "Consistent quality all half-year." in text
    assert org.people["member_a1"].employee_id not in text
    event = AuditEvent.objects.get(action="report.issued")
    assert event.data["report_type"] == "subject_access"
    assert event.data["classification"] == "RESTRICTED"


def test_records_of_processing_list_purposes_data_recipients_and_retention(org, world):
    retention.policy_save(
        actor=None,
        policy=RetentionPolicy(
            record_type="metrics.observation",
            retention_days=730,
            purpose="Appeals window",
        ),
        reason="set",
    )
    data = subject_rights.records_of_processing()
    by_name = {a["activity"]: a for a in data["activities"]}
    perf = by_name["Performance measurement"]
    assert perf["retention"][0]["retention_days"] == 730
    assert {
        "record": "metrics.evaluation",
        "field": "score",
        "classification": "Confidential",
    } in perf["data_categories"]
    assert "HR staff" in perf["recipients"]
    people = by_name["Employee records"]
    assert {
        "record": "governance.person",
        "field": "gender",
        "classification": "Restricted",
    } in people["data_categories"]
    assert people["retention"] == "no policy set (kept until erased)"
    assert {j["code"] for j in data["jurisdictions"]} == {"de", "us-tx"}
    rows = subject_rights.records_of_processing_rows()
    assert any("730 days" in r["retention"] for r in rows)
