"""Browser-test harness: Debian's chromium driven by Playwright against pytest-django's
``live_server`` (registered as a pytest plugin from the root ``conftest.py``).

Usage::

    pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

    def test_something(browser_page, org):
        browser_page.login("hr", next="/admin/")
        browser_page.goto("/admin/governance/person/")
        assert browser_page.locator("#result_list").is_visible()
        browser_page.assert_clean()  # no CSP violation, console error or JS error

``browser_page`` is a :class:`BrowserPage`: it forwards every Playwright ``Page``
method (``locator``, ``fill``, ``click``, ``content`` ...) and adds ``goto`` with
paths relative to the live server, ``login`` through the real allauth form, and
the collected ``csp_violations`` / ``console_errors`` / ``page_errors``. Use
``browser_page.page`` where Playwright wants the raw page (``expect(...)``).

Nothing is downloaded: the browser is ``/usr/bin/chromium`` (``make browser``
installs it); without it every browser test is skipped with that instruction.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = "Debian chromium not installed: run `make browser` (needs root)"
DEFAULT_TIMEOUT_MS = 15_000

# Runs in every document before the page's own scripts. Injected by the
# DevTools protocol, so the page's CSP does not apply to it.
_REPORTER = """
(() => {
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__portalReportCsp({
      directive: e.effectiveDirective || e.violatedDirective,
      blocked: e.blockedURI,
      source: e.sourceFile,
      line: e.lineNumber,
      sample: e.sample,
      page: document.location.href,
    });
  }, true);
})();
"""


@dataclass
class BrowserPage:
    """A Playwright page on the live server, plus what went wrong on it."""

    page: Any
    base_url: str
    csp_violations: list[dict[str, Any]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.page, name)

    def url_for(self, path: str) -> str:
        return path if "://" in path else f"{self.base_url}{path}"

    def goto(self, path: str, **kwargs: Any) -> Any:
        response = self.page.goto(self.url_for(path), **kwargs)
        self.settle()
        return response

    def settle(self) -> None:
        """Wait for the page to finish loading so late CSP reports arrive."""
        self.page.wait_for_load_state("load")
        # A round trip through the page flushes pending binding calls.
        self.page.evaluate("() => new Promise((r) => setTimeout(r, 50))")

    def path(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.page.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def login(self, username: str, password: str | None = None, next: str = "") -> None:
        """Sign in through the real allauth page (as a person would)."""
        from urllib.parse import urlencode

        from governance.testing import PASSWORD

        query = f"?{urlencode({'next': next})}" if next else ""
        self.goto(f"/accounts/login/{query}")
        self.page.fill("input[name=login]", username)
        self.page.fill("input[name=password]", password or PASSWORD)
        with self.page.expect_navigation():
            self.page.click("form.form-login button[type=submit]")
        self.settle()

    def problems(self) -> list[str]:
        return [
            *(
                f"CSP {v['directive']}: {v['blocked']} on {v['page']}"
                for v in self.csp_violations
            ),
            *(f"console: {m}" for m in self.console_errors),
            *(f"page error: {m}" for m in self.page_errors),
        ]

    def assert_no_csp_violations(self) -> None:
        self.settle()
        assert self.csp_violations == [], self.csp_violations

    def assert_clean(self) -> None:
        """No CSP violation, no console error and no uncaught script error."""
        self.settle()
        assert self.problems() == [], "\n".join(self.problems())


@pytest.fixture
def _playwright(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(MISSING)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - it is in requirements-dev.txt
        pytest.skip("the playwright package is not installed")
    # Playwright's sync API runs an event loop in this thread; Django would
    # otherwise refuse ORM calls from the test body ("async context").
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    manager = sync_playwright().start()
    try:
        yield manager
    finally:
        manager.stop()


@pytest.fixture
def browser_page(_playwright: Any, live_server: Any) -> Iterator[BrowserPage]:
    """A fresh headless chromium profile on the live server (one per test)."""
    profile = tempfile.mkdtemp(prefix="portal-chromium-")
    context = _playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        locale="en-GB",
        timezone_id="UTC",
    )
    try:
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        violations: list[dict[str, Any]] = []

        def report(violation: dict[str, Any]) -> None:
            violations.append(violation)

        context.expose_function("__portalReportCsp", report)
        context.add_init_script(_REPORTER)
        page = context.new_page()
        for blank in context.pages:
            if blank is not page:
                blank.close()
        wrapped = BrowserPage(
            page=page, base_url=live_server.url, csp_violations=violations
        )
        page.on(
            "console",
            lambda msg: msg.type == "error" and wrapped.console_errors.append(msg.text),
        )
        page.on("pageerror", lambda exc: wrapped.page_errors.append(str(exc)))
        yield wrapped
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)
