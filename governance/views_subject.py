"""Self-service subject access (G.DSAR): "My data" on /me/ and its downloads.

``/me/data.json`` is everything the portal holds about the signed-in
employee (collected by :mod:`governance.subject_rights` contributors);
``/me/data.pdf`` is the same as a subject access report (PDF/A with the JSON
embedded, its SHA-256 in the audit trail). Both only ever describe the
viewer's own record; an account without one gets 404.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from governance import subject_rights
from governance import views as selfservice
from governance.selectors import OwnProfile


def _data(request: HttpRequest) -> dict[str, Any]:
    data = subject_rights.subject_access_data(viewer=request.user)
    if data is None:
        raise Http404("No employee record is linked to your account.")
    return data


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def my_data_json(request: HttpRequest) -> HttpResponse:
    data = _data(request)
    body = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    name = f"my-data-{data['subject']['employee_id']}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return _no_store(response)


@login_required
@require_GET
def my_data_pdf(request: HttpRequest) -> HttpResponse:
    from governance.reports.subject import issue_subject_access_report

    data = _data(request)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "subject-access.pdf"
        issue_subject_access_report(data, out=out, actor=request.user)
        body = out.read_bytes()
    response = HttpResponse(body, content_type="application/pdf")
    name = f"subject-access-{data['subject']['employee_id']}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return _no_store(response)


def _section_context(request: HttpRequest, profile: OwnProfile) -> dict[str, Any]:
    return {"sections": [c.title for c in subject_rights.contributors()]}


selfservice.register_section(
    selfservice.Section(
        key="my-data",
        title="My data",
        template="governance/selfservice/sections/my_data.html",
        order=90,
        context=_section_context,
    )
)
