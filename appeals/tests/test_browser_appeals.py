"""An appeal end to end in a real browser (chromium) under the production CSP:
the employee files it with a PDF, the assigned reviewer decides it in the
admin, the employee reads the decision and downloads the letter."""

from __future__ import annotations

import datetime
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from appeals import services
from appeals.models import Appeal
from appeals.testing import PDF
from governance.models import AuditEvent
from governance.services import save_governed
from metrics.models import Evaluation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_employee_files_reviewer_decides_employee_reads_the_letter(
    browser_page, org, tmp_path
):
    evaluation = save_governed(
        Evaluation(
            person=org.people["member_a"],
            evaluator=org.people["steward_sales"],
            period_start=datetime.date(2026, 1, 1),
            period_end=datetime.date(2026, 6, 30),
            weights={"quantitative": 1},
            components={},
            score=Decimal("2.5"),
            rationale="below target",
            status="released",
        ),
        actor=None,
        reason="test",
    )
    evidence = tmp_path / "leave-confirmation.pdf"
    evidence.write_bytes(PDF)

    # 1. The employee files the appeal from /me/.
    browser_page.login("employee", next="/me/")
    with browser_page.expect_navigation():
        browser_page.click("#file-appeal")
    browser_page.settle()
    browser_page.select_option("select[name=target]", f"evaluation:{evaluation.pk}")
    browser_page.fill(
        "textarea[name=grounds]", "Two months of leave were counted as zero."
    )
    browser_page.fill(
        "textarea[name=requested_remedy]", "Score the months I worked: 3.4."
    )
    browser_page.set_input_files("input[name=evidence]", str(evidence))
    with browser_page.expect_navigation():
        browser_page.click("#appeal-form button[type=submit]")
    browser_page.settle()
    appeal = Appeal.objects.get()
    assert browser_page.path() == reverse("appeals:detail", args=[appeal.pk])
    assert "Submitted" in browser_page.locator("[data-field=status]").inner_text()
    assert "On hold" in browser_page.locator("#appeal-status").inner_text()
    assert appeal.evidence.get().content_type == "application/pdf"
    browser_page.assert_clean()

    # 2. HR triages and assigns the board member (services), who starts the review.
    services.triage(actor=org.users["hr"], appeal=appeal)
    services.assign_reviewer(
        actor=org.users["hr"], appeal=appeal, reviewer=org.users["board"]
    )
    services.start_review(actor=org.users["hr"], appeal=appeal)

    # 3. The reviewer decides in the admin.
    browser_page.context.clear_cookies()
    decide = reverse("admin:appeals_appeal_decide", args=[appeal.pk])
    browser_page.login("board", next=decide)
    assert browser_page.path() == decide
    assert "leave" in browser_page.locator("[data-field=grounds]").inner_text()
    browser_page.check("#decide-form input[value=upheld]")
    browser_page.fill(
        "#decide-form textarea[name=rationale]", "Leave months excluded per policy."
    )
    browser_page.fill("#decide-form input[name=corrected_value]", "3.4")
    with browser_page.expect_navigation():
        browser_page.click("#decide-form input[type=submit]")
    browser_page.settle()
    assert "is decided" in browser_page.locator(".messagelist").inner_text()
    appeal.refresh_from_db()
    assert (appeal.status, appeal.outcome) == ("decided", "upheld")
    browser_page.assert_clean()

    # 4. The employee sees the decision and downloads the letter.
    browser_page.context.clear_cookies()
    browser_page.login("employee", next=reverse("appeals:detail", args=[appeal.pk]))
    assert "Upheld" in browser_page.locator("[data-field=outcome]").inner_text()
    with browser_page.expect_navigation():
        browser_page.click("#decision-link")
    browser_page.settle()
    assert (
        "Leave months excluded"
        in browser_page.locator("[data-field=rationale]").inner_text()
    )
    assert "3.4" in browser_page.locator("[data-field=corrected]").inner_text()
    with browser_page.expect_download() as download:
        browser_page.click("#letter-link")
    path = Path(download.value.path())
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    issued = AuditEvent.objects.get(action="report.issued", object_id=str(appeal.pk))
    assert hashlib.sha256(data).hexdigest() == issued.data["sha256"]
    assert Evaluation.objects.get(pk=evaluation.pk).score == Decimal("3.4")
    browser_page.assert_clean()
