"""CSV/XLSX import (all-or-nothing through the service) and export (scoped,
masked, spreadsheet-safe) through the real admin URLs."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
import tablib
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from governance.classification import Sensitivity
from governance.models import Team
from governance.roles import Role
from governance.testing import make_person, make_user
from metrics import exports, resources, services
from metrics.models import Metric, Observation
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

IMPORT = reverse("admin:metrics_observation_import")
EXPORT = reverse("admin:metrics_observation_export")
CHANGELIST = reverse("admin:metrics_observation_changelist")
CSV_FORMAT, XLSX_FORMAT = "0", "1"  # positions in ObservationAdmin.export_formats


@pytest.fixture
def cat(org):
    return build_catalogue(org)


def _csv(lines: list[list[Any]], name: str = "march.csv") -> SimpleUploadedFile:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    return SimpleUploadedFile(name, buffer.getvalue().encode(), "text/csv")


def _xlsx(lines: list[list[Any]], name: str = "march.xlsx") -> SimpleUploadedFile:
    book = openpyxl.Workbook()
    sheet = book.active
    for line in lines:
        sheet.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue(), "application/octet-stream")


def _lines(org, bad: bool = False) -> list[list[Any]]:
    """A header and three rows; with ``bad`` the third data row (spreadsheet
    row 4) breaks the metric's integer-only rule."""
    a1 = org.people["member_a1"].employee_id
    manager = org.people["manager_a"].employee_id
    return [
        ["metric", "employee_id", "team", "period_start", "value"],
        ["sales.calls_made", a1, "", "2026-03-01", "120"],
        ["support.resolution_rate", "", "Team A", "2026-03-01", "87.5"],
        ["sales.calls_made", manager, "", "2026-03-01", "95.5" if bad else "95"],
    ]


def _post(client, upload, **extra) -> Any:
    return client.post(IMPORT, {"file": upload, "reason": "March figures", **extra})


# -- import ------------------------------------------------------------------------


def test_one_bad_row_stores_nothing_and_shows_the_row(client, org, cat):
    client.force_login(org.users["hr"])
    response = _post(client, _csv(_lines(org, bad=True)))

    assert response.status_code == 200
    assert not Observation.objects.exists()
    assert [(e.row, e.field) for e in response.context["errors"]] == [(4, "value")]
    page = response.content.decode()
    assert "Nothing was stored: 1 row of the file has a problem." in page
    assert (
        '<tr class="import-error"><td>4</td><td>value</td>'
        "<td>Only whole numbers are allowed.</td></tr>"
    ) in page


def test_every_bad_row_is_listed_with_its_spreadsheet_row(client, org, cat):
    lines = _lines(org, bad=True)
    lines[1][1] = "NOBODY"  # row 2
    lines[2][3] = "2026-03-15"  # row 3: not the first of the month
    client.force_login(org.users["hr"])
    response = _post(client, _csv(lines))
    assert [e.row for e in response.context["errors"]] == [2, 3, 4]
    assert "No person with employee id “NOBODY”." in response.content.decode()
    assert not Observation.objects.exists()


def test_fixed_file_imports_whole(client, org, cat):
    client.force_login(org.users["hr"])
    response = _post(client, _csv(_lines(org)))

    assert response.status_code == 302 and response.url == CHANGELIST
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Imported 3 observation(s) from march.csv."
    ]
    values = {
        (o.metric.key, o.person_id and o.person.employee_id, o.value)
        for o in Observation.objects.select_related("metric", "person")
    }
    assert values == {
        ("sales.calls_made", org.people["member_a1"].employee_id, Decimal("120")),
        ("sales.calls_made", org.people["manager_a"].employee_id, Decimal("95")),
        ("support.resolution_rate", None, Decimal("87.5")),
    }
    obs = Observation.objects.filter(metric=cat.calls).first()
    assert obs.entered_by_id == org.users["hr"].pk
    assert obs.history.first().history_change_reason == "March figures"


def test_xlsx_import_with_native_cells(client, org, cat):
    import datetime

    lines = _lines(org)
    for line in lines[1:]:
        line[3] = datetime.datetime(2026, 3, 1)  # Excel dates
        line[4] = float(line[4])  # Excel numbers
    lines.append([None] * 5)  # spreadsheets keep trailing blank rows
    client.force_login(org.users["hr"])
    response = _post(client, _xlsx(lines))
    assert response.status_code == 302
    assert Observation.objects.count() == 3

    lines[2][4] = 187.5  # row 3: above the 100 % maximum
    Observation.objects.all().delete()
    response = _post(client, _xlsx(lines, name="again.xlsx"))
    assert [(e.row, e.field) for e in response.context["errors"]] == [(3, "value")]


def test_check_only_validates_and_stores_nothing(client, org, cat):
    client.force_login(org.users["hr"])
    response = _post(client, _csv(_lines(org)), check_only="on")
    assert response.status_code == 200 and response.context["checked"] == 3
    assert "All 3 rows of the file are valid." in response.content.decode()
    assert not Observation.objects.exists()
    bad = _post(client, _csv(_lines(org, bad=True)), check_only="on")
    assert [e.row for e in bad.context["errors"]] == [4]


def test_unknown_columns_are_refused(client, org, cat):
    lines = _lines(org)
    lines[0][4] = "amount"
    client.force_login(org.users["hr"])
    response = _post(client, _csv(lines))
    assert {e.field for e in response.context["errors"]} >= {"amount"}
    assert not Observation.objects.exists()


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("x.pdf", b"%PDF-1.7", "application/pdf"), "Upload a CSV"),
        (SimpleUploadedFile("x.xlsx", b"not a zip", "text/plain"), "not an XLSX"),
        (SimpleUploadedFile("x.csv", b"\xff\xfe\x00bad", "text/csv"), "UTF-8"),
        (SimpleUploadedFile("x.csv", b"metric,value\n", "text/csv"), "no data rows"),
        (
            SimpleUploadedFile("x.csv", b"a" * (resources.MAX_IMPORT_BYTES + 1)),
            "larger than",
        ),
    ],
)
def test_unreadable_files_are_refused(client, org, cat, upload, message):
    client.force_login(org.users["hr"])
    response = _post(client, upload)
    assert response.status_code == 200
    assert message in str(response.context["form"].errors["file"])


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ("hr", 200),
        ("steward", 200),
        ("auditor", 403),  # view-only staff
        ("manager", 403),
        ("compliance", 403),
        ("board", 403),
        ("nobody", 302),
        ("anonymous", 302),
    ],
)
def test_import_needs_change_and_add_permission(client, org, cat, principal, expected):
    if principal != "anonymous":
        client.force_login(org.users[principal])
    assert client.get(IMPORT).status_code == expected
    response = _post(client, _csv(_lines(org)))
    allowed = principal in {"hr", "steward"}
    assert response.status_code == (302 if allowed else expected)
    assert Observation.objects.exists() == allowed
    listing = client.get(CHANGELIST)
    if listing.status_code == 200:
        assert (IMPORT in listing.content.decode()) == (expected == 200)


def test_rows_of_metrics_outside_the_users_scope_are_refused(client, org, cat):
    services.metric_transition(
        actor=None,
        metric=services.metric_create(
            actor=None,
            key="product.releases",
            name="Releases",
            indicator="lagging",
            level="team",
            unit="releases",
            calculation="count",
            source=cat.jira,
            owner=org.people["manager_b"],
            steward=org.people["member_b"],
            department=org.product,
            update_frequency="monthly",
        ),
        status="active",
        reason="in use",
    )
    lines = _lines(org)
    lines.append(["product.releases", "", "Team B", "2026-03-01", "4"])  # row 5
    client.force_login(org.users["steward"])  # Sales steward
    response = _post(client, _csv(lines))
    assert [(e.row, e.field) for e in response.context["errors"]] == [(5, "metric")]
    assert "You may not record data for metric “product.releases”." in (
        response.content.decode()
    )
    assert not Observation.objects.exists()


# -- export ------------------------------------------------------------------------


def _seed(org, cat) -> None:
    """A Confidential individual value (Team A1), and an Internal team value
    that may be negative (Team B)."""
    backlog = services.metric_create(
        actor=None,
        key="support.backlog_change",
        name="Backlog change",
        indicator="leading",
        level="team",
        unit="tickets",
        direction="lower",
        calculation="open tickets at month end minus at month start",
        source=cat.jira,
        owner=org.people["manager_b"],
        steward=org.people["member_b"],
        department=org.product,
        update_frequency="monthly",
    )
    services.metric_transition(
        actor=None, metric=backlog, status="active", reason="in use"
    )
    services.record_observations(
        actor=None,
        rows=[
            {
                "metric": "sales.calls_made",
                "employee_id": org.people["member_a1"].employee_id,
                "period_start": "2026-03-01",
                "value": "1717",
            },
            {
                "metric": "support.backlog_change",
                "team": "Team B",
                "period_start": "2026-03-01",
                "value": "-42.5",
            },
        ],
    )


def _export(client, fmt: str = CSV_FORMAT, query: str = "") -> tablib.Dataset:
    response = client.post(EXPORT + query, {"format": fmt, "resource": "0"})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Disposition"].startswith(
        'attachment; filename="observations-'
    )
    if fmt == XLSX_FORMAT:
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        rows = list(book.active.iter_rows(values_only=True))
        data = tablib.Dataset(headers=list(rows[0]))
        for row in rows[1:]:
            data.append(list(row))
        return data
    return tablib.Dataset().load(response.content.decode(), format="csv")


def _by_metric(data: tablib.Dataset) -> dict[str, dict[str, Any]]:
    return {row["metric"]: row for row in data.dict}


def test_export_page_renders(client, org, cat):
    client.force_login(org.users["auditor"])
    page = client.get(EXPORT)
    assert page.status_code == 200
    assert b'<select name="format"' in page.content


def test_export_shows_what_the_reader_may_read(client, org, cat):
    _seed(org, cat)
    client.force_login(org.users["hr"])  # Confidential clearance
    rows = _by_metric(_export(client))
    assert rows["sales.calls_made"]["value"] == "1717"
    assert (
        rows["sales.calls_made"]["employee_id"] == org.people["member_a1"].employee_id
    )
    assert rows["sales.calls_made"]["classification"] == "Confidential"
    assert rows["support.backlog_change"]["value"] == "-42.5"  # a number, kept


@pytest.mark.parametrize("fmt", [CSV_FORMAT, XLSX_FORMAT])
def test_export_masks_values_above_clearance(client, org, cat, fmt):
    _seed(org, cat)
    low = make_user("hr_internal", Role.HR, clearance=Sensitivity.INTERNAL)
    client.force_login(low)
    if fmt == CSV_FORMAT:
        response = client.post(EXPORT, {"format": fmt, "resource": "0"})
        assert b"1717" not in response.content
    rows = _by_metric(_export(client, fmt))
    assert rows["sales.calls_made"]["value"] == "•••••• (Confidential)"
    assert Decimal(str(rows["support.backlog_change"]["value"])) == Decimal("-42.5")


def test_bulk_export_never_carries_restricted_plaintext(client, org, cat):
    _seed(org, cat)
    Metric.objects.filter(pk=cat.calls.pk).update(sensitivity=Sensitivity.RESTRICTED)
    Observation.objects.filter(metric=cat.calls).update(
        classification=Sensitivity.RESTRICTED
    )
    client.force_login(org.users["compliance"])  # Restricted clearance
    rows = _by_metric(_export(client))
    assert rows["sales.calls_made"]["value"] == "•••••• (Restricted)"


def test_export_is_scoped_to_visible_rows(client, org, cat):
    _seed(org, cat)
    client.force_login(org.users["manager"])  # Team A and A1 only
    data = _export(client)
    assert [row["metric"] for row in data.dict] == ["sales.calls_made"]
    client.force_login(org.users["hr"])
    filtered = _export(client, query=f"?metric__id__exact={cat.calls.pk}")
    assert [row["metric"] for row in filtered.dict] == ["sales.calls_made"]
    assert len(_export(client).dict) == 2


@pytest.mark.parametrize(
    ("principal", "expected"),
    [("nobody", 302), ("employee", 302), ("board", 403), ("auditor", 200)],
)
def test_export_needs_view_permission(client, org, cat, principal, expected):
    _seed(org, cat)
    client.force_login(org.users[principal])
    response = client.post(EXPORT, {"format": CSV_FORMAT, "resource": "0"})
    assert response.status_code == expected
    if expected == 302:  # not staff: to the login page
        assert "/login/" in response.url
    assert (b"sales.calls_made" in response.content) == (expected == 200)


@pytest.mark.parametrize("fmt", [CSV_FORMAT, XLSX_FORMAT])
def test_export_neutralises_spreadsheet_formulas(client, org, cat, fmt):
    team = Team.objects.create(
        name='=HYPERLINK("http://evil.example","open")', department=org.sales
    )
    person = make_person(org.sales, org.us, employee_id="@SUM(1+1)", teams=[org.team_a])
    services.record_observations(
        actor=None,
        rows=[
            {
                "metric": "support.resolution_rate",
                "team": str(team.pk),
                "period_start": "2026-03-01",
                "value": "50",
            },
            {
                "metric": "sales.calls_made",
                "employee_id": person.employee_id,
                "period_start": "2026-03-01",
                "value": "10",
            },
        ],
    )
    client.force_login(org.users["hr"])
    rows = _by_metric(_export(client, fmt))
    assert rows["support.resolution_rate"]["team"] == (
        '\'=HYPERLINK("http://evil.example","open")'
    )
    assert rows["sales.calls_made"]["employee_id"] == "'@SUM(1+1)"


# -- the neutraliser itself -----------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+1+2", "'+1+2"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-12.5", "-12.5"),  # a negative number is not a formula
        ("-1e5", "-1e5"),
        ("Team A", "Team A"),
        ("", ""),
        ("a=b", "a=b"),
        (None, None),
        (Decimal("-3"), Decimal("-3")),
        (-3, -3),
    ],
)
def test_neutralise(cell, expected):
    assert exports.neutralise(cell) == expected


def test_neutralise_dataset_covers_headers_and_every_cell():
    data = tablib.Dataset(headers=["=h", "ok"])
    data.append(["=1", "fine"])
    data.append(["x", "@y"])
    safe = exports.neutralise_dataset(data)
    assert safe.headers == ["'=h", "ok"]
    assert [list(r) for r in safe] == [["'=1", "fine"], ["x", "'@y"]]
    assert list(data[0]) == ["=1", "fine"]  # the original is left alone


def test_cells_lose_characters_a_workbook_cannot_hold():
    assert exports.safe_cell("\x01=cmd\x1f") == "'=cmd"
    assert exports.safe_cell("line\tkept") == "line\tkept"


def test_plain_values_are_masked_below_their_classification_too(client, org, cat):
    _seed(org, cat)
    public = make_user("hr_public", Role.HR, clearance=Sensitivity.PUBLIC)
    client.force_login(public)
    rows = _by_metric(_export(client))
    assert rows["support.backlog_change"]["value"] == "•••••• (Internal)"
    assert rows["sales.calls_made"]["value"] == "•••••• (Confidential)"
    page = client.get(CHANGELIST).content.decode()
    assert "-42.5" not in page and "•••••• (Internal) tickets" in page


@pytest.mark.parametrize("principal", ["auditor", "hr"])
def test_export_pseudonymises_employee_ids_for_auditors(client, org, cat, principal):
    from governance import pseudonyms

    _seed(org, cat)
    client.force_login(org.users[principal])
    row = _by_metric(_export(client))["sales.calls_made"]
    person = org.people["member_a1"]
    expected = (
        pseudonyms.pseudonym(person.pk)
        if principal == "auditor"
        else person.employee_id
    )
    assert row["employee_id"] == expected
