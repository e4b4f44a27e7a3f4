"""Subject access in a real browser (chromium, production CSP): an employee
gives and then withdraws consent on /me/, then downloads everything held
about them; the file is their own data and nothing of anyone else's."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from governance import consent
from governance.services import save_governed
from metrics import services as metric_services
from metrics.models import Evaluation, PeerFeedback
from metrics.testing import build_catalogue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PURPOSE = consent.DEFAULT_PURPOSE


def test_employee_consents_withdraws_and_downloads_only_their_own_data(
    browser_page, org, tmp_path
):
    me, colleague = org.people["member_a"], org.people["member_a1"]
    cat = build_catalogue(org, consent=False)
    metric_services.record_observations(
        actor=None,
        rows=[
            {
                "metric": cat.calls.key,
                "employee_id": colleague.employee_id,
                "period_start": "2026-03-01",
                "value": "987",
            }
        ],
    )
    save_governed(
        Evaluation(
            person=me,
            evaluator=org.people["manager_a"],
            period_start=datetime.date(2026, 1, 1),
            period_end=datetime.date(2026, 6, 30),
            weights={"quantitative": 1},
            components={},
            score=Decimal("3.75"),
            rationale="Steady half-year.",
        ),
        actor=None,
        reason="test",
    )
    save_governed(
        PeerFeedback(
            subject=me,
            reviewer=colleague,
            cycle="2026-H1",
            rating=5,
            text="Great pairing partner.",
            submitted_at=timezone.now(),
        ),
        actor=None,
        reason="test",
    )

    browser_page.login("employee", next="/me/")
    section = browser_page.locator(f"#consent-{PURPOSE}")
    status = section.locator("[data-field=consent-status]")
    assert "Not given" in status.inner_text()
    browser_page.check(f"#agree-{PURPOSE}")
    with browser_page.expect_navigation():
        section.locator("form.consent-give button[type=submit]").click()
    browser_page.settle()
    assert "Given" in status.inner_text()
    with browser_page.expect_navigation():
        section.locator("form.consent-withdraw button[type=submit]").click()
    browser_page.settle()
    assert "Not given" in status.inner_text()
    assert consent.active_consent(me, PURPOSE) is None

    link = browser_page.locator("#download-my-data-json")
    assert link.is_visible()
    with browser_page.expect_download() as download_info:
        link.click()
    download = download_info.value
    target = Path(tmp_path) / download.suggested_filename
    download.save_as(target)
    assert target.name == f"my-data-{me.employee_id}.json"
    data = json.loads(target.read_text(encoding="utf-8"))

    sections = data["sections"]
    assert data["subject"]["person_id"] == str(me.pk)
    assert sections["profile"]["data"]["full_name"] == "Ann Member"
    (purpose,) = [c for c in sections["consents"]["data"] if c["purpose"] == PURPOSE]
    assert purpose["in_force"] is False
    (record,) = purpose["records"]
    assert record["given_at"] and record["withdrawn_at"]
    assert sections["evaluations"]["data"][0]["score"] == "3.75"
    assert sections["feedback"]["data"]["peer"][0]["text"] == "Great pairing partner."
    assert sections["observations"]["data"] == []
    text = target.read_text(encoding="utf-8")
    for key, person in org.people.items():
        if key != "member_a":
            assert person.employee_id not in text, key
            assert str(person.pk) not in text, key
            assert str(person.full_name) not in text, key
    assert "987" not in text
    browser_page.assert_clean()
