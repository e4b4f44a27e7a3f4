"""R.ASYNC end to end in a real browser (Debian chromium, production CSP): an
auditor requests an audit pack in the admin, watches its progress update by
itself while the job renders, and downloads it. The file is an archival
PDF/A-3b with its data attached, and ``verify_report`` accepts it and rejects
a copy with one byte changed.

The queue is real (django-q2's ORM broker, not the test settings' inline
mode); the test plays the worker by calling the task function itself.
"""

from __future__ import annotations

import json

import pikepdf
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from governance.models import AuditEvent, ReportJob
from governance.reports import pdfinfo
from governance.tasks import render_report_job
from governance.tests.test_audit_pack import qpdf_check

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_auditor_requests_watches_and_downloads_an_audit_pack(
    browser_page, org, monkeypatch, tmp_path, settings
):
    settings.REPORT_ROOT = tmp_path / "reports"
    from django_q.conf import Conf
    from django_q.models import OrmQ

    monkeypatch.setattr(Conf, "SYNC", False)  # queue for real; we play the worker
    page = browser_page
    page.login("auditor", next=reverse("admin:governance_reportjob_add"))
    assert page.path().startswith(reverse("admin:governance_reportjob_add")), (
        page.path()
    )
    page.fill("input[name=date_from]", "2020-01-01")
    page.check("input[name=sections][value=classification]")
    page.check("input[name=sections][value=board]")
    page.check("input[name=sections][value=audit_chain]")
    with page.expect_navigation():
        page.click("input[type=submit][name=_request]")
    page.settle()
    job = ReportJob.objects.get()
    assert page.path() == reverse("admin:governance_reportjob_change", args=[job.pk])
    assert "requested" in page.locator("ul.messagelist li.success").inner_text()
    assert page.locator(".reportjob-status").inner_text() == "Queued"
    assert page.locator("#reportjob-download").count() == 0
    assert OrmQ.objects.count() == 1  # enqueued on commit, identifiers only

    # The worker runs the task; the page notices by itself and shows the link.
    assert render_report_job(job.pk) == "done"
    page.locator("#reportjob-download").wait_for(timeout=20_000)
    assert page.locator(".reportjob-status").inner_text() == "Done"
    assert page.locator(".reportjob-percent").inner_text() == "100%"

    with page.expect_download() as info:
        page.click("#reportjob-download")
    path = tmp_path / "downloaded.pdf"
    info.value.save_as(path)
    page.assert_clean()  # no CSP violation (the poller is a file, not inline)

    assert AuditEvent.objects.filter(
        action="report.downloaded",
        object_id=str(job.pk),
        actor_id=org.users["auditor"].pk,
    ).exists()
    assert qpdf_check(path) == []
    with pikepdf.open(path) as pdf:
        assert pdfinfo.pdfa_identification(pdf) == ("3", "B")
        files = pdfinfo.embedded_files(pdf)
        data = json.loads(files["audit-pack.json"].content)
        assert files["audit-pack.json"].in_catalog_af
    assert set(data["sections"]) == {"classification", "board", "audit_chain"}
    assert data["pseudonymised"] is True

    call_command("verify_report", str(path))
    altered = tmp_path / "altered.pdf"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    altered.write_bytes(bytes(raw))
    with pytest.raises(CommandError) as refused:
        call_command("verify_report", str(altered))
    assert refused.value.returncode == 1
