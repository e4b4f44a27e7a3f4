"""PDFs under a threaded server (issue #11): WeasyPrint renders through Pango,
whose font map is not thread-safe, so two PDFs laid out at once in one process
corrupt the heap, crash or deadlock it. Every render goes to the render
processes of :mod:`governance.reports.render`; the web process never lays out
a page itself.

The first test hammers a real threaded WSGI server on loopback (pytest-django's
``live_server``: Django's ``ThreadedWSGIServer``) with concurrent downloads of
``/me/data.pdf`` and of a methodology sheet, round after round, then checks
the server still answers. Before the fix it crashed the test process (SIGSEGV
or heap corruption) or left a request hanging in Pango within a few rounds.
The other tests are cheap guards that the render path never builds a
WeasyPrint engine in the calling process.
"""

from __future__ import annotations

import http.client
import io
import os
import signal
import socketserver
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

import pikepdf
import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from governance.reports import engine
from governance.reports import render as render_module
from governance.reports.data import json_data
from governance.reports.render import ReportRenderError, ReportSpec, render_report

#: Concurrent downloads of /me/data.pdf per round, plus SHEETS methodology sheets.
CONCURRENCY = 8
SHEETS = 2
ROUNDS = 8
#: Seconds one request may take before the server counts as hung.
REQUEST_TIMEOUT = 60
#: Bound on the whole hammering, whatever happens.
DEADLINE = 120


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _get(port: int, path: str, cookie: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(
            "GET", path, headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _fire(
    barrier: threading.Barrier, port: int, path: str, cookie: str
) -> tuple[int, bytes]:
    barrier.wait(timeout=REQUEST_TIMEOUT)  # all at once
    return _get(port, path, cookie)


def _assert_pdf(status: int, body: bytes, what: str) -> None:
    assert status == 200, (what, status, body[:300])
    assert body.startswith(b"%PDF-"), (what, body[:40])
    with pikepdf.open(io.BytesIO(body)) as pdf:
        assert len(pdf.pages) >= 1, what


def _render_pid() -> int:
    """The process id a render runs in (asked of the shared render pool)."""
    return int(render_module._POOL.run(os.getpid))


@pytest.fixture
def server(live_server, monkeypatch):
    """The live server; on in-memory SQLite, its requests take turns at the database.

    Django shares the test's one in-memory SQLite connection with every server
    thread, and concurrent transactions on one connection fail ("database table
    is locked", lost savepoints) for reasons that have nothing to do with PDFs.
    There, requests hold a lock except while a report renders, so the renders
    still overlap exactly as they do on PostgreSQL, where nothing is changed.
    """
    from django.db import connection

    from governance.reports import issue

    httpd = live_server.thread.httpd
    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        yield httpd
        return
    turn = threading.Lock()
    app = httpd.get_app()

    def one_at_a_time(environ, start_response):
        with turn:
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                if hasattr(result, "close"):
                    result.close()  # request_finished touches the connection

    render = issue.render_report

    def render_without_the_turn(*args, **kwargs):
        turn.release()
        try:
            return render(*args, **kwargs)
        finally:
            turn.acquire()

    monkeypatch.setattr(issue, "render_report", render_without_the_turn)
    httpd.set_app(one_at_a_time)
    try:
        yield httpd
    finally:
        httpd.set_app(app)


@pytest.mark.django_db(transaction=True)
def test_concurrent_pdf_downloads_on_a_threaded_server(server, org):
    from metrics.testing import build_catalogue

    assert isinstance(server, socketserver.ThreadingMixIn), type(server)
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"

    metric = build_catalogue(org).calls
    employee = _session_cookie(org.users["employee"])
    auditor = _session_cookie(org.users["auditor"])
    data_pdf = reverse("selfservice:my_data_pdf")
    sheet_pdf = reverse("admin:metrics_metric_methodology_sheet", args=[metric.pk])
    requests = [(data_pdf, employee)] * CONCURRENCY + [(sheet_pdf, auditor)] * SHEETS

    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=len(requests))
    try:
        for round_no in range(ROUNDS):
            barrier = threading.Barrier(len(requests))

            futures = {
                pool.submit(_fire, barrier, port, path, cookie): path
                for path, cookie in requests
            }
            remaining = DEADLINE - (time.monotonic() - started)
            done, hung = wait(futures, timeout=max(remaining, 1))
            assert not hung, f"round {round_no}: {len(hung)} requests hung"
            for future in done:
                status, body = future.result()
                _assert_pdf(status, body, f"round {round_no} {futures[future]}")
        # The server still answers, PDFs included.
        status, body = _get(port, data_pdf, employee)
        _assert_pdf(status, body, "after the rounds")
        status, _ = _get(port, reverse("selfservice:my_data_json"), employee)
        assert status == 200
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# --- the web process never lays out a page ------------------------------------------


def _spec() -> ReportSpec:
    return ReportSpec(
        report_type="test_pack", title="Guard", author="Tester", subject="Guard"
    )


def test_render_processes_are_not_this_process():
    assert _render_pid() != os.getpid()


def test_single_and_chunked_renders_build_no_engine_in_this_process(tmp_path):
    before = engine.engines_built_here()
    single = render_report(
        _spec(), ["<p>one</p>"], data=[json_data("d", {})], out=tmp_path / "1.pdf"
    )
    chunked = render_report(
        _spec(),
        ["<p>one</p>", "<p>two</p>"],
        data=[json_data("d", {})],
        out=tmp_path / "2.pdf",
    )
    assert single.pages == 1 and chunked.pages == 2
    assert engine.engines_built_here() == before


def test_views_build_no_engine_in_this_process(client, org):
    before = engine.engines_built_here()
    client.force_login(org.users["employee"])
    response = client.get(reverse("selfservice:my_data_pdf"))
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    assert engine.engines_built_here() == before


# --- a render process that dies or hangs -----------------------------------------------


def test_a_killed_render_process_is_replaced(tmp_path):
    victim = _render_pid()
    os.kill(victim, signal.SIGKILL)
    result = render_report(
        _spec(), ["<p>after</p>"], data=[json_data("d", {})], out=tmp_path / "r.pdf"
    )
    assert result.pages == 1
    assert _render_pid() not in (victim, os.getpid())


def test_a_render_over_the_timeout_is_an_error_not_a_hang(settings, tmp_path):
    rows = "".join(f"<tr><td>{i}</td><td>row {i}</td></tr>" for i in range(3000))
    settings.REPORT_RENDER_TIMEOUT = 0.3
    started = time.monotonic()
    with pytest.raises(ReportRenderError, match=r"longer than|no render process"):
        render_report(
            _spec(),
            [f"<table>{rows}</table>"],
            data=[json_data("d", {})],
            out=tmp_path / "slow.pdf",
        )
    assert time.monotonic() - started < 10
    assert not (tmp_path / "slow.pdf").exists()
    del settings.REPORT_RENDER_TIMEOUT
    result = render_report(
        _spec(), ["<p>after</p>"], data=[json_data("d", {})], out=tmp_path / "r.pdf"
    )
    assert result.pages == 1
