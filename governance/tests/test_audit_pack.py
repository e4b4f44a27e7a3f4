"""Audit packs (R.PDF, R.ASYNC): who may request and download them, what they
contain for whom, background rendering with retries, and the CLI command."""

from __future__ import annotations

import datetime
import json

import pikepdf
import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from governance.models import AuditEvent, ReportJob
from governance.reports import jobs, pdfinfo, sections
from governance.reports.testing import qpdf_problems

pytestmark = pytest.mark.django_db

PRINCIPALS = (
    "anonymous",
    "nobody",
    "employee",
    "hr",
    "compliance",
    "steward",
    "metric_owner",
    "board",
    "manager",
    "auditor",
    "admin",
)
MAY_REQUEST = {"compliance", "manager", "auditor", "admin"}


@pytest.fixture(autouse=True)
def report_root(settings, tmp_path):
    """Each test issues into its own directory (parallel workers, no leftovers)."""
    settings.REPORT_ROOT = tmp_path / "reports"
    return settings.REPORT_ROOT


def _client(client, org, who):
    if who != "anonymous":
        client.force_login(org.users[who])
    return client


def _outcome(response) -> str:
    if response.status_code == 302 and "/login/" in response.url:
        return "login"
    return {200: "ok", 403: "denied", 404: "gone", 302: "redirect"}.get(
        response.status_code, str(response.status_code)
    )


@pytest.fixture
def catalogue(org):
    from metrics import services as metric_services
    from metrics.testing import build_catalogue

    cat = build_catalogue(org)
    rows = [
        {
            "metric": cat.resolution.key,
            "team": "Team A",
            "period_start": f"{2024 + i // 12}-{i % 12 + 1:02d}-01",
            "value": str(80 + (i * 7) % 11 - 5),
        }
        for i in range(24)
    ]
    rows += [
        {
            "metric": cat.calls.key,
            "employee_id": org.people[who].employee_id,
            "period_start": "2026-03-01",
            "value": "120",
        }
        for who in ("member_a1", "member_b")
    ]
    observations = metric_services.record_observations(
        actor=org.users["hr"], rows=rows, reason="monthly import"
    )
    by_person = {o.person_id: o for o in observations if o.person_id}
    metric_services.correct_observation(
        actor=org.users["hr"],
        observation=by_person[org.people["member_a1"].pk],
        value="121",
        reason="call log re-run",
    )
    return cat


qpdf_check = qpdf_problems  # the check every report passes


def _pack(user, keys=None):
    return sections.build_audit_pack(
        viewer=user, date_from=None, date_to=None, section_keys=keys
    )


def _json(pack) -> dict:
    [data] = [d for d in pack.data if d.name == "audit-pack.json"]
    return json.loads(data.content)


# -- requesting --------------------------------------------------------------


@pytest.mark.parametrize("who", PRINCIPALS)
def test_request_matrix(client, org, who):
    c = _client(client, org, who)
    url = reverse("admin:governance_reportjob_add")
    got = _outcome(c.get(url))
    if who in ("anonymous", "nobody", "employee"):
        assert got == "login"  # not staff: the admin sends them to log in
    elif who in MAY_REQUEST:
        assert got == "ok"
    else:
        assert got == "denied"
    response = c.post(url, {"date_from": "2026-01-01", "date_to": "2026-06-30"})
    jobs_made = list(ReportJob.objects.all())
    if who in MAY_REQUEST:
        [job] = jobs_made
        assert response.status_code == 302
        assert response.url == reverse(
            "admin:governance_reportjob_change", args=[job.pk]
        )
        assert job.requested_by == org.users[who]
        assert job.date_from == datetime.date(2026, 1, 1)
        assert AuditEvent.objects.filter(
            action="report.requested", object_id=str(job.pk)
        ).exists()
        # Auditors see pseudonyms unless granted; compliance, managers, admins names.
        assert job.pseudonymised is (who == "auditor")
    else:
        assert jobs_made == []
        assert _outcome(response) in ("login", "denied")


def test_request_refuses_bad_input_and_changes_nothing(client, org):
    c = _client(client, org, "auditor")
    url = reverse("admin:governance_reportjob_add")
    response = c.post(url, {"date_from": "2026-06-30", "date_to": "2026-01-01"})
    assert response.status_code == 200
    assert "ends before it starts" in response.content.decode()
    response = c.post(url, {"sections": ["no-such-section"]})
    assert response.status_code == 200
    assert "not one of the available choices" in response.content.decode()
    assert not ReportJob.objects.exists()
    with pytest.raises(Exception, match="Unknown section"):
        jobs.request_audit_pack(actor=org.users["auditor"], section_keys=["nope"])
    with pytest.raises(Exception, match="may not request"):
        jobs.request_audit_pack(actor=org.users["hr"])
    assert not ReportJob.objects.exists()


# -- rendering in the background and downloading --------------------------------


@pytest.fixture
def done_job(org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.request_audit_pack(
            actor=org.users["auditor"],
            section_keys=["classification", "board", "consent", "audit_chain"],
        )
    job.refresh_from_db()
    return job


def test_task_renders_the_job_with_progress_and_issues_it(done_job, org):
    job = done_job
    assert job.status == ReportJob.Status.DONE, job.error
    assert job.attempts == 1
    assert job.chunks_done == job.chunks_total and job.chunks_total >= 2
    assert job.percent == 100
    path = jobs.report_root() / job.file_name
    assert path.is_file()
    event = AuditEvent.objects.get(action="report.issued", object_id=str(job.pk))
    assert event.data["sha256"] == job.sha256
    with pikepdf.open(path) as pdf:
        assert pdfinfo.pdfa_identification(pdf) == ("3", "B")
        files = pdfinfo.embedded_files(pdf)
        data = json.loads(files["audit-pack.json"].content)
    assert set(data["sections"]) == {
        "classification",
        "board",
        "consent",
        "audit_chain",
    }
    assert data["pseudonymised"] is True
    assert data["requested_by"].startswith("U-")
    assert "consent-statistics.csv" in files
    # Redelivery (django-q2 retry after a lost ack) is a no-op.
    assert jobs.render_job(job.pk) == "skipped"


@pytest.mark.parametrize("who", PRINCIPALS)
def test_download_matrix(client, org, done_job, who):
    c = _client(client, org, who)
    url = reverse("admin:governance_reportjob_download", args=[done_job.pk])
    response = c.get(url)
    got = _outcome(response)
    downloads = AuditEvent.objects.filter(
        action="report.downloaded", object_id=str(done_job.pk)
    )
    if who in ("auditor", "admin"):  # the requester, or a superuser
        assert got == "ok"
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"].startswith("attachment;")
        assert "no-store" in response["Cache-Control"]
        assert b"".join(response.streaming_content).startswith(b"%PDF-")
        assert downloads.get().actor_id == org.users[who].pk
    else:
        assert got == (
            "login" if who in ("anonymous", "nobody", "employee") else "denied"
        )
        assert not downloads.exists()
    status = c.get(reverse("admin:governance_reportjob_status", args=[done_job.pk]))
    # Status (metadata only) follows the row scope: org-wide readers and the requester.
    if who in ("auditor", "admin", "compliance"):
        assert status.json()["status"] == "done"
    else:
        assert _outcome(status) in ("login", "denied")


def test_download_refuses_a_file_altered_on_disk(client, org, done_job):
    path = jobs.report_root() / done_job.file_name
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1
    path.write_bytes(bytes(raw))
    c = _client(client, org, "auditor")
    response = c.get(reverse("admin:governance_reportjob_download", args=[done_job.pk]))
    assert response.status_code == 302  # back to the job page with an error
    assert AuditEvent.objects.filter(action="report.tampered").exists()
    assert not AuditEvent.objects.filter(action="report.downloaded").exists()


def test_pages_show_progress_and_are_csp_clean(client, org, done_job):
    from governance.tests.test_security import inline_problems, parse_csp

    c = _client(client, org, "auditor")
    change = reverse("admin:governance_reportjob_change", args=[done_job.pk])
    response = c.get(change)
    html = response.content.decode()
    assert "reportjob-progress" in html and "Download PDF" in html
    assert "report_job.js" not in html  # nothing to poll once done
    ReportJob.objects.filter(pk=done_job.pk).update(
        status="rendering", chunks_done=1, chunks_total=4
    )
    running = c.get(change)
    html = running.content.decode()
    assert "portal/report_job.js" in html and 'value="25"' in html
    assert "Download PDF" not in html
    for page in (response, running, c.get(reverse("admin:governance_reportjob_add"))):
        policy = parse_csp(page["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"]
        problems, tags = inline_problems(page.content)
        assert tags > 10 and problems == []


def test_failed_render_is_retried_then_reported(
    org, django_capture_on_commit_callbacks, settings
):
    settings.REPORT_FONT_DIR = "/nonexistent-fonts"
    before = set(jobs.report_root().glob("*")) if jobs.report_root().exists() else set()
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.request_audit_pack(
            actor=org.users["compliance"], section_keys=["audit_chain"]
        )
    job.refresh_from_db()
    assert job.status == ReportJob.Status.FAILED
    assert job.attempts == jobs.max_attempts() == 3
    assert "nonexistent-fonts" in job.error
    assert not job.file_name and not job.sha256
    after = set(jobs.report_root().glob("*")) if jobs.report_root().exists() else set()
    assert after == before  # nothing half-written
    assert AuditEvent.objects.filter(
        action="report.failed", object_id=str(job.pk)
    ).exists()
    assert not AuditEvent.objects.filter(action="report.issued").exists()


# -- what a pack contains for whom -------------------------------------------------


def test_auditor_sees_people_pseudonymised_unless_granted(org, catalogue):
    auditor = org.users["auditor"]
    pack = _pack(auditor, ["methodology", "history", "data_quality"])
    text = json.dumps(_json(pack)) + "".join(pack.chunks)
    for name in ("Mara Manager", "Stew Ard", "Al Sub", "Bea Other", "hr"):
        assert name not in text.replace("hr /", "")  # no names, no usernames
    for who in ("manager_a", "member_a1"):
        assert org.people[who].employee_id not in text
    pseudonym = sections.Pseudonymiser(True).label("person", org.people["manager_a"].pk)
    methodology = _json(pack)["sections"]["methodology"]
    assert {m["owner"] for m in methodology} == {pseudonym}
    # Stable: the same label in a second pack.
    assert (
        _json(_pack(auditor, ["methodology"]))["sections"]["methodology"][0]["owner"]
        == pseudonym
    )
    history = _json(pack)["sections"]["history"]["rows"]
    assert any("call log re-run" in r["reason"] for r in history)
    assert {r["by"] for r in history if r["record"].startswith("observation")} == {
        sections.Pseudonymiser(True).label("user", org.users["hr"].pk)
    }
    auditor.user_permissions.add(Permission.objects.get(codename="view_identities"))
    auditor = type(auditor).objects.get(pk=auditor.pk)  # fresh permission caches
    named = _pack(auditor, ["methodology"])
    assert "Mara Manager" in json.dumps(_json(named))


def test_manager_pack_holds_only_their_teams(org, catalogue):
    manager = org.users["manager"]
    data = _json(_pack(manager, ["history", "data_quality", "spc"]))
    rows = data["sections"]["history"]["rows"]
    subjects = {r["subject"] for r in rows if r["record"].startswith("observation")}
    assert any("Al Sub" in s for s in subjects)  # Team A1 is below Team A
    assert not any("Bea Other" in s for s in subjects)  # Team B is not theirs
    assert data["pseudonymised"] is False
    # Sections they may not receive are refused outright.
    with pytest.raises(PermissionError):
        _pack(manager, ["consent"])
    assert "consent" not in _pack(manager).sections
    # The auditor (org-wide) sees both observations.
    auditor_rows = _json(_pack(org.users["auditor"], ["history"]))["sections"][
        "history"
    ]["rows"]
    assert len(
        {r["subject"] for r in auditor_rows if r["record"].startswith("observation")}
    ) > len(subjects)


# -- the command line ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01"], "is not a date"),
        (["--from", "2026-06-01", "--to", "2026-01-01"], "is after"),
        (["--sections", "nope"], "Unknown section"),
        (["--as", "ghost"], "No user"),
        (["--as", "hr"], "may not request"),
        (["--as", "manager", "--sections", "consent"], "may not receive"),
        (
            [],
            "--as USERNAME",
        ),  # no --as and no single superuser? there is one: see below
    ],
)
def test_audit_report_command_refuses_bad_input(org, tmp_path, args, message):
    out = tmp_path / "pack.pdf"
    if not args:
        from governance.testing import make_user

        make_user("admin2", superuser=True)
    with pytest.raises(CommandError, match=message):
        call_command("audit_report", "--output", str(out), *args)
    assert not out.exists()


def test_audit_report_command_writes_a_verifiable_pack(
    org, catalogue, tmp_path, capsys
):
    out = tmp_path / "pack.pdf"
    call_command(
        "audit_report",
        "--output",
        str(out),
        "--as",
        "auditor",
        "--from",
        "2024-01-01",
        "--to",
        "2030-12-31",
        "--sections",
        "methodology",
        "history",
    )
    assert "SHA-256" in capsys.readouterr().out
    assert qpdf_check(out) == []
    call_command("verify_report", str(out))
    with pikepdf.open(out) as pdf:
        data = json.loads(pdfinfo.embedded_files(pdf)["audit-pack.json"].content)
        text = "\n".join(pdfinfo.page_texts(pdf))
    assert set(data["sections"]) == {"methodology", "history"}
    assert "Mara Manager" not in text and "call log re-run" in text


def test_changelist_offers_the_download_only_to_the_requester(client, org, done_job):
    listing = reverse("admin:governance_reportjob_changelist")
    download = reverse("admin:governance_reportjob_download", args=[done_job.pk])
    assert download in _client(client, org, "auditor").get(listing).content.decode()
    client.logout()
    html = _client(client, org, "compliance").get(listing).content.decode()
    assert f">{done_job.pk}<" in html or str(done_job.pk) in html  # listed
    assert download not in html


def test_jobs_no_worker_will_finish_are_reported_failed(org):
    import datetime as dt

    from django.utils import timezone

    from governance.tasks import fail_stale_report_jobs

    old = timezone.now() - dt.timedelta(hours=3)
    lost = ReportJob.objects.create(
        requested_by=org.users["auditor"],
        status="rendering",
        attempts=3,
        created_at=old,
        started_at=old,
        error="attempt 2 failed, retrying: boom",
    )
    fresh = ReportJob.objects.create(requested_by=org.users["auditor"], status="queued")
    assert fail_stale_report_jobs() == 1
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert (
        lost.status == "failed"
        and "after 3 attempt(s)" in lost.error
        and "boom" in lost.error
    )
    assert fresh.status == "queued"
    assert AuditEvent.objects.filter(
        action="report.failed", object_id=str(lost.pk)
    ).exists()
    assert fail_stale_report_jobs() == 0  # idempotent


# -- bias assessments section ---------------------------------------------------


def _bias_world(org):
    import datetime as _dt

    from django.utils import timezone as _tz

    from governance import bias
    from governance.models import RemediationItem
    from governance.services import save_governed
    from governance.testing import completed_bias_assessment

    assessment = completed_bias_assessment(
        target_type=bias.METRIC, target_id=1, version=1
    )
    save_governed(
        RemediationItem(
            assessment=assessment,
            description="Recalibrate ratings",
            owner=org.people["manager_a"],
            due_date=_dt.date(2020, 1, 1),
            created_at=_tz.now(),
        ),
        actor=None,
        reason="test",
    )
    return assessment


def test_bias_section_lists_assessments_with_owners_pseudonymised(org):
    from governance import pseudonyms

    assessment = _bias_world(org)
    owner = org.people["manager_a"]
    pack = _pack(org.users["auditor"], ["bias"])
    data = _json(pack)["sections"]["bias"]
    [row] = data["assessments"]
    assert row["id"] == assessment.pk and row["status"] == "completed"
    assert row["remediation"][0]["owner"] == pseudonyms.pseudonym(owner.pk)
    assert data["remediation"]["total"] == 1
    assert len(data["remediation"]["overdue"]) == 1
    text = json.dumps(data) + "".join(pack.chunks)
    assert owner.employee_id not in text and "Mara Manager" not in text
    named = _json(_pack(org.users["compliance"], ["bias"]))["sections"]["bias"]
    assert owner.employee_id in named["assessments"][0]["remediation"][0]["owner"]


@pytest.mark.parametrize(
    ("who", "offered"),
    [("compliance", True), ("auditor", True), ("manager", False)],
)
def test_bias_section_is_offered_to_readers_of_assessments(org, who, offered):
    assert ("bias" in {s.key for s in sections.selectable(org.users[who])}) is offered
