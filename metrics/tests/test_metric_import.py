"""Importing metric definitions from CSV/XLSX (issue #3): all-or-nothing
through ``metrics.services`` (new keys via ``metric_create``, known keys via
``metric_update``), so change control holds in the import as in the admin
and the API. Driven through the real admin URLs."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from governance.classification import Sensitivity
from governance.models import AuditEvent
from metrics import services
from metrics.models import Metric
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

IMPORT = reverse("admin:metrics_metric_import")
CHANGELIST = reverse("admin:metrics_metric_changelist")
NEW_HEADER = [
    "key",
    "name",
    "indicator",
    "level",
    "unit",
    "calculation",
    "source",
    "owner",
    "steward",
    "department",
    "sensitivity",
    "validation_rules",
]


@pytest.fixture
def cat(org):
    return build_catalogue(org)


def _csv(lines: list[list[Any]], name: str = "catalogue.csv") -> SimpleUploadedFile:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    return SimpleUploadedFile(name, buffer.getvalue().encode(), "text/csv")


def _xlsx(lines: list[list[Any]]) -> SimpleUploadedFile:
    book = openpyxl.Workbook()
    for line in lines:
        book.active.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile("catalogue.xlsx", buffer.getvalue())


def _post(client, upload, **extra) -> Any:
    return client.post(IMPORT, {"file": upload, "reason": "Q3 catalogue", **extra})


def _new_row(org, key: str = "sales.meetings_held", **over: Any) -> list[Any]:
    row = {
        "key": key,
        "name": "Meetings held",
        "indicator": "leading",
        "level": "individual",
        "unit": "meetings",
        "calculation": "count of calendar meetings",
        "source": "manual",
        "owner": org.people["manager_a"].employee_id,
        "steward": org.people["steward_sales"].employee_id,
        "department": "sales",
        "sensitivity": "Confidential",
        "validation_rules": '{"min": 0}',
        **over,
    }
    return [row[column] for column in NEW_HEADER]


def _snapshot() -> dict[str, tuple[Any, ...]]:
    return {
        m.key: (m.name, m.unit, m.calculation, m.methodology_version, m.status)
        for m in Metric.objects.all()
    }


# -- change control -------------------------------------------------------------------


def test_governed_change_of_an_active_metric_is_refused_and_nothing_changes(
    client, org, cat
):
    before = _snapshot()
    history = cat.calls.history.count()
    lines = [
        ["key", "name", "unit"],
        ["sales.demo_count", "Demos given", "demos"],  # draft: would be fine
        ["sales.calls_made", "Calls made", "phone calls"],  # active: unit is governed
    ]
    client.force_login(org.users["hr"])
    response = _post(client, _csv(lines))

    assert response.status_code == 200
    errors = response.context["errors"]
    assert [(e.row, e.field) for e in errors] == [(3, "unit")]
    assert "can't be edited directly" in errors[0].message
    assert "File a change request" in errors[0].message
    page = response.content.decode()
    assert "Nothing was stored: 1 row of the file has a problem." in page
    assert "File a change request" in page
    assert _snapshot() == before  # the draft row was rolled back too
    assert cat.calls.history.count() == history
    assert not AuditEvent.objects.filter(action="metric.definitions_imported").exists()


def test_the_same_file_goes_through_once_the_change_request_is_approved(
    client, org, cat
):
    request = services.change_request_create(
        actor=org.users["hr"],
        metric=cat.calls,
        changes={"unit": "phone calls"},
        reason="calls include video calls now",
    )
    services.change_request_decide(
        actor=org.users["steward"], change_request=request, approve=True
    )
    client.force_login(org.users["hr"])
    lines = [["key", "unit"], ["sales.calls_made", "phone calls"]]
    response = _post(client, _csv(lines))
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Imported catalogue.csv: 0 metric(s) defined, 0 updated, 1 unchanged."
    ]
    assert Metric.objects.get(key="sales.calls_made").methodology_version == 2


def test_non_governed_fields_of_an_active_metric_are_updated(client, org, cat):
    lines = [
        ["key", "name", "description", "grace_days", "non_punitive", "unit"],
        ["sales.calls_made", "Calls placed", "Outbound calls", "10", "yes", "calls"],
    ]
    client.force_login(org.users["hr"])
    response = _post(client, _csv(lines))

    assert response.status_code == 302 and response.url == CHANGELIST
    metric = Metric.objects.get(key="sales.calls_made")
    assert (
        metric.name,
        metric.description,
        metric.grace_days,
        metric.non_punitive,
    ) == (
        "Calls placed",
        "Outbound calls",
        10,
        True,
    )
    assert metric.status == "active" and metric.methodology_version == 1
    assert metric.history.first().history_change_reason == "Q3 catalogue"
    event = AuditEvent.objects.get(action="metric.definitions_imported")
    assert event.data["updated"] == ["sales.calls_made"]


def test_draft_metrics_are_editable_including_governed_fields(client, org, cat):
    lines = [
        ["key", "unit", "calculation", "validation_rules", "sensitivity"],
        [
            "sales.demo_count",
            "demos",
            "count of demos given",
            '{"max": 50}',
            "Internal",
        ],
    ]
    client.force_login(org.users["hr"])
    response = _post(client, _csv(lines))
    assert response.status_code == 302
    draft = Metric.objects.get(key="sales.demo_count")
    assert draft.calculation == "count of demos given"
    assert draft.validation_rules == {"max": 50}
    assert draft.sensitivity == Sensitivity.INTERNAL
    assert draft.status == "draft" and draft.methodology_version == 1


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("status", "retired", "lifecycle actions"),
        ("methodology_version", "3", "approved change request"),
    ],
)
def test_status_and_version_change_only_through_their_own_paths(
    client, org, cat, column, value, message
):
    before = _snapshot()
    client.force_login(org.users["hr"])
    response = _post(client, _csv([["key", column], ["sales.calls_made", value]]))
    errors = response.context["errors"]
    assert [(e.row, e.field) for e in errors] == [(2, column)]
    assert message in errors[0].message
    assert _snapshot() == before


# -- new definitions ------------------------------------------------------------------


def test_new_metrics_are_defined_as_drafts_through_the_service(client, org, cat):
    lines = [NEW_HEADER, _new_row(org)]
    client.force_login(org.users["hr"])
    response = _post(client, _xlsx(lines))
    assert response.status_code == 302
    metric = Metric.objects.get(key="sales.meetings_held")
    assert metric.status == "draft"
    assert metric.sensitivity == Sensitivity.CONFIDENTIAL
    assert metric.owner == org.people["manager_a"]
    assert metric.source == cat.manual
    assert metric.history.first().history_change_reason == "Q3 catalogue"


def test_every_bad_row_is_listed_and_nothing_is_stored(client, org, cat):
    lines = [
        NEW_HEADER,
        _new_row(org),  # row 2: fine
        _new_row(org, "sales.visits", owner="NOBODY"),  # row 3
        _new_row(org, "Bad Key!"),  # row 4: naming standard
        _new_row(org, "sales.meetings_held"),  # row 5: twice in the file
        _new_row(org, "sales.rules", validation_rules="{min: 0"),  # row 6
        _new_row(org, "sales.active", **{"sensitivity": "Top secret"}),  # row 7
    ]
    client.force_login(org.users["hr"])
    before = _snapshot()
    response = _post(client, _csv(lines))
    got = {(e.row, e.field) for e in response.context["errors"]}
    assert got == {
        (3, "owner"),
        (4, "key"),
        (5, "key"),
        (6, "validation_rules"),
        (7, "sensitivity"),
    }
    assert _snapshot() == before


def test_check_only_stores_nothing(client, org, cat):
    client.force_login(org.users["hr"])
    response = _post(client, _csv([NEW_HEADER, _new_row(org)]), check_only="on")
    assert response.status_code == 200 and response.context["checked"] == 1
    assert not Metric.objects.filter(key="sales.meetings_held").exists()


def test_unknown_columns_are_refused(client, org, cat):
    client.force_login(org.users["hr"])
    response = _post(client, _csv([["key", "colour"], ["sales.calls_made", "red"]]))
    assert [(e.row, e.field) for e in response.context["errors"]] == [(2, "colour")]


def test_a_new_metric_needs_its_required_columns(client, org, cat):
    client.force_login(org.users["hr"])
    response = _post(client, _csv([["key", "name"], ["sales.other", "Other"]]))
    fields = {e.field for e in response.context["errors"]}
    assert {"indicator", "owner", "source", "department"} <= fields
    assert not Metric.objects.filter(key="sales.other").exists()


# -- who may import -------------------------------------------------------------------


def _product_metric(org, cat) -> Metric:
    return services.metric_create(
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
    )


@pytest.mark.parametrize(
    ("principal", "page", "stored"),
    [
        ("hr", 200, True),
        ("steward", 200, True),  # a Sales metric: in their department
        ("admin", 200, True),
        ("metric_owner", 200, False),  # may import, but owns no metric to edit
        ("auditor", 403, False),  # view-only staff
        ("compliance", 403, False),  # view-only on metrics
        ("manager", 403, False),
        ("board", 403, False),
        ("employee", 302, False),  # not staff: the login page
        ("nobody", 302, False),
        ("anonymous", 302, False),
    ],
)
def test_import_needs_change_permission(client, org, cat, principal, page, stored):
    if principal != "anonymous":
        client.force_login(org.users[principal])
    assert client.get(IMPORT).status_code == page
    lines = [["key", "name"], ["sales.demo_count", "Demos given"]]
    response = _post(client, _csv(lines))
    assert response.status_code == (302 if stored else page)
    name = Metric.objects.get(key="sales.demo_count").name
    assert (name == "Demos given") == stored
    listing = client.get(CHANGELIST)
    if listing.status_code == 200:
        assert (IMPORT in listing.content.decode()) == (page == 200)


@pytest.mark.parametrize(
    ("principal", "outcome"),
    [("hr", "stored"), ("admin", "stored"), ("steward", "refused")],
)
def test_rows_outside_the_importers_scope_are_refused(
    client, org, cat, principal, outcome
):
    product = _product_metric(org, cat)
    client.force_login(org.users[principal])
    lines = [
        ["key", "name"],
        ["sales.demo_count", "Demos given"],  # Sales: the steward's department
        ["product.releases", "Product releases"],  # row 3: Product
    ]
    response = _post(client, _csv(lines))
    product.refresh_from_db()
    if outcome == "stored":
        assert response.status_code == 302
        assert product.name == "Product releases"
    else:
        errors = response.context["errors"]
        assert [(e.row, e.field) for e in errors] == [(3, "key")]
        assert "You may not edit the metric “product.releases”." in errors[0].message
        assert product.name == "Releases"
        assert Metric.objects.get(key="sales.demo_count").name == "Demos"


def test_metric_owner_can_neither_edit_others_metrics_nor_name_hidden_people(
    client, org, cat
):
    """The metric-owner account owns no metric and sees no people: editing an
    existing definition is outside its scope, and references resolve only
    among what it may see (as the admin form's choices do)."""
    client.force_login(org.users["metric_owner"])
    assert client.get(IMPORT).status_code == 200
    response = _post(client, _csv([["key", "name"], ["sales.demo_count", "Demos!"]]))
    assert [(e.row, e.field) for e in response.context["errors"]] == [(2, "key")]
    assert Metric.objects.get(key="sales.demo_count").name == "Demos"
    response = _post(client, _csv([NEW_HEADER, _new_row(org)]))
    errors = response.context["errors"]
    assert {e.field for e in errors} == {"owner", "steward", "department"}
    assert not Metric.objects.filter(key="sales.meetings_held").exists()
