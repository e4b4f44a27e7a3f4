"""Consent on /me/ and a board vote in the admin, in a real browser (chromium)
under the production CSP: no violation, console error or script error."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from governance import board, consent
from governance.models import Vote
from metrics import governance_links
from metrics import services as metric_services
from metrics.models import Metric
from metrics.testing import build_catalogue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PURPOSE = consent.DEFAULT_PURPOSE


def test_employee_gives_then_withdraws_consent(browser_page, org):
    person = org.people["member_a"]
    browser_page.login("employee", next="/me/")
    assert browser_page.path() == "/me/"
    section = browser_page.locator(f"#consent-{PURPOSE}")
    status = section.locator("[data-field=consent-status]")
    assert "Not given" in status.inner_text()
    assert "withdraw this consent at any time" in section.inner_text()

    browser_page.check(f"#agree-{PURPOSE}")
    with browser_page.expect_navigation():
        section.locator("form.consent-give button[type=submit]").click()
    browser_page.settle()
    assert browser_page.path() == "/me/"
    assert "is recorded" in browser_page.locator(".messages").inner_text()
    assert "Given" in status.inner_text()
    assert consent.active_consent(person, PURPOSE) is not None

    with browser_page.expect_navigation():
        section.locator("form.consent-withdraw button[type=submit]").click()
    browser_page.settle()
    assert "is withdrawn" in browser_page.locator(".messages").inner_text()
    assert "Not given" in status.inner_text()
    assert "You withdrew it on" in status.inner_text()
    assert consent.active_consent(person, PURPOSE) is None
    section.locator("details.consent-history summary").click()
    assert section.locator("details.consent-history tbody tr").count() == 1
    browser_page.assert_clean()


def test_board_member_votes_on_an_open_ballot_in_the_admin(browser_page, org):
    cat = build_catalogue(org)
    metric = metric_services.metric_create(
        actor=None,
        key="sales.revenue_per_rep",
        name="Revenue per rep",
        indicator="lagging",
        level="individual",
        unit="EUR",
        impact=Metric.Impact.HIGH,
        calculation="sum of closed-won deal value",
        source=cat.manual,
        owner=org.people["manager_a"],
        steward=org.people["steward_sales"],
        department=org.sales,
        update_frequency="monthly",
    )
    proposal = board.proposal_create(
        actor=org.users["compliance"],
        title="Revenue per rep for bonuses",
        summary="Use revenue per rep in the annual bonus.",
        subject_type=governance_links.SUBJECT_TYPE,
        subject_id=metric.pk,
        assessment={
            name: f"Assessed: {name.replace('_', ' ')}"
            for name in board.ImpactAssessment.REQUIRED
        },
    )
    ballot = board.ballot_open(
        actor=org.users["compliance"],
        proposal=proposal,
        deadline=timezone.now() + datetime.timedelta(days=2),
    )

    browser_page.login("board", next=reverse("admin:governance_ballot_changelist"))
    assert browser_page.path() == reverse("admin:governance_ballot_changelist")
    with browser_page.expect_navigation():
        browser_page.locator("#result_list a", has_text="Vote").click()
    browser_page.settle()
    assert browser_page.path() == reverse(
        "admin:governance_ballot_vote", args=[ballot.pk]
    )
    assert (
        "Assessed: gaming vectors"
        in browser_page.locator("#impact-assessment").inner_text()
    )
    assert "not voted yet" in browser_page.locator("[data-field=my-vote]").inner_text()

    browser_page.check("#vote-form input[value=approve]")
    browser_page.fill(
        "#vote-form textarea[name=rationale]", "Counter-metrics are in place."
    )
    with browser_page.expect_navigation():
        browser_page.click("#vote-form input[type=submit]")
    browser_page.settle()
    assert "Your vote is recorded" in browser_page.locator(".messagelist").inner_text()
    assert (
        "You voted Approve" in browser_page.locator("[data-field=my-vote]").inner_text()
    )
    vote = Vote.objects.get(ballot=ballot)
    assert (vote.voter, vote.choice) == (org.users["board"], "approve")

    # Changing the vote keeps one vote.
    browser_page.check("#vote-form input[value=abstain]")
    browser_page.fill("#vote-form textarea[name=rationale]", "On reflection, unsure.")
    with browser_page.expect_navigation():
        browser_page.click("#vote-form input[type=submit]")
    browser_page.settle()
    assert (
        "You voted Abstain" in browser_page.locator("[data-field=my-vote]").inner_text()
    )
    assert Vote.objects.filter(ballot=ballot).count() == 1
    browser_page.assert_clean()
