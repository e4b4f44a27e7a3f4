"""Sign-in, the admin and MFA enrolment in a real browser (chromium), with the
production CSP enforced: every page must load without a single violation."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings
from django.urls import reverse

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_harness_reports_csp_violations(browser_page):
    """The collector works: an inline script and style are blocked and reported."""
    browser_page.goto("/accounts/login/")
    browser_page.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "window.__ran = true";
            document.body.appendChild(s);
            const st = document.createElement("style");
            st.textContent = "body { color: red }";
            document.head.appendChild(st);
        }"""
    )
    browser_page.settle()
    assert browser_page.evaluate("() => window.__ran === undefined")
    directives = {v["directive"] for v in browser_page.csp_violations}
    assert {"script-src-elem", "style-src-elem"} <= directives, (
        browser_page.csp_violations
    )


def test_hr_signs_in_through_admin_login_and_browses(browser_page, org):
    person = org.people["member_a"]
    browser_page.goto("/admin/login/?next=/admin/")
    # /admin/login/ is allauth's page (Django's admin form is never shown).
    parts = urlsplit(browser_page.page.url)
    assert parts.path == "/accounts/login/"
    assert parse_qs(parts.query)["next"] == ["/admin/"]
    assert browser_page.locator("h1").inner_text() == "Sign in"
    browser_page.fill("input[name=login]", "hr")
    browser_page.fill("input[name=password]", "wrong password")
    with browser_page.expect_navigation():
        browser_page.click("form.form-login button[type=submit]")
    assert "not correct" in browser_page.locator(".alert").inner_text()

    from governance.testing import PASSWORD

    browser_page.fill("input[name=password]", PASSWORD)
    with browser_page.expect_navigation():
        browser_page.click("form.form-login button[type=submit]")
    browser_page.settle()
    assert browser_page.path() == "/admin/"
    assert "Governance workspace" in browser_page.content()

    browser_page.goto(reverse("admin:governance_person_changelist"))
    assert browser_page.locator("#result_list tbody tr").count() >= 7
    assert "Ann Member" in browser_page.locator("#result_list").inner_text()
    browser_page.goto(reverse("admin:governance_person_change", args=[person.pk]))
    assert browser_page.locator("input[name=employee_id]").input_value() == (
        person.employee_id
    )
    assert "Ann Member" in browser_page.content()
    browser_page.assert_clean()


def test_person_history_page_is_csp_clean(browser_page, org):
    person = org.people["member_a"]
    browser_page.login("hr")
    history = reverse("admin:governance_person_history", args=[person.pk])
    browser_page.goto(history)
    assert browser_page.path() == history
    assert browser_page.locator("#change-history tbody tr").count() >= 1
    browser_page.assert_clean()


@override_settings(MFA_REQUIRED_FOR_PRIVILEGED=True)
def test_privileged_user_is_sent_to_mfa_setup_and_gets_through(browser_page, org):
    from allauth.mfa.totp.internal.auth import (
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    from governance.testing import PASSWORD

    browser_page.login("auditor", next="/admin/governance/person/")
    # Straight to MFA setup; first the password again (re-authentication).
    assert browser_page.path().startswith("/accounts/reauthenticate/")
    browser_page.fill("input[name=password]", PASSWORD)
    with browser_page.expect_navigation():
        browser_page.click("form.form-reauthenticate button[type=submit]")
    browser_page.settle()
    parts = urlsplit(browser_page.page.url)
    assert parts.path == "/accounts/2fa/totp/activate/"
    assert parse_qs(parts.query)["next"] == ["/admin/governance/person/"]
    # Any other data page bounces back here too.
    browser_page.goto("/me/")
    assert browser_page.path() == "/accounts/2fa/totp/activate/?next=%2Fme%2F"

    # Each visit shows a new secret: read the one on the page being submitted.
    assert browser_page.locator("img.qr").evaluate("img => img.naturalWidth") > 0
    secret = browser_page.locator("#totp-secret").inner_text().strip()
    assert len(secret) == 32
    counters = list(yield_hotp_counters_from_time())
    code = format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))
    browser_page.fill("input[name=code]", code)
    with browser_page.expect_navigation():
        browser_page.click("form.form-activate button[type=submit]")
    browser_page.settle()
    assert browser_page.path() == "/accounts/2fa/recovery-codes/"
    assert browser_page.locator("#recovery-codes li").count() == 10
    with browser_page.expect_navigation():
        browser_page.click("#mfa-continue")
    browser_page.settle()
    assert browser_page.path() == "/me/"  # where the last redirect interrupted
    browser_page.goto("/admin/governance/person/")
    assert browser_page.path() == "/admin/governance/person/"
    assert browser_page.locator("#result_list").is_visible()
    browser_page.assert_clean()
