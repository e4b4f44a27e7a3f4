"""Issue 3 end to end in a real browser (Debian chromium), production CSP enforced:
HR staff define a metric with a target and its alignment, see the SMART check,
activate it, import a file with one bad row (nothing stored, the row's error
shown), import it fixed, and open the metric's control chart to see its signals."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse

from metrics.models import Metric, MetricTarget, Observation
from metrics.testing import build_catalogue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY = "sales.meetings_booked"


def _autocomplete(url: str, *, searching: bool) -> bool:
    return "/admin/autocomplete/" in url and ("term=" in url) == searching


def pick(page, field: str, term: str, text: str) -> None:
    """Choose the option starting with ``text`` in the admin's autocomplete
    (select2) widget of ``field``, searching for ``term``."""
    # One request at a time: the first page of choices, then the search.
    with page.expect_response(lambda r: _autocomplete(r.url, searching=False)):
        page.click(f".field-{field} .select2-selection")
    with page.expect_response(lambda r: _autocomplete(r.url, searching=True)):
        page.fill(".select2-search__field", term)
    option = page.locator(
        ".select2-results__option[role=option]",
        has_text=re.compile(rf"^{re.escape(text)}( |$)"),
    )
    option.first.click()
    assert text in page.locator(f".field-{field} .select2-selection").inner_text()


def submit(page, selector: str = "input[type=submit].default") -> None:
    with page.expect_navigation():
        page.click(selector)
    page.settle()


def success(page) -> str:
    return page.locator("ul.messagelist li.success").inner_text()


#: Twenty stable months (the chart's baseline), then a sustained jump.
STABLE = [
    10,
    11,
    11,
    12,
    10,
    10,
    11,
    12,
    12,
    11,
    10,
    11,
    11,
    10,
    12,
    11,
    11,
    10,
    11,
    12,
]
SHIFTED = [17, 18, 17, 19, 18, 17, 18, 19]


def _months(count: int, start: datetime.date = datetime.date(2024, 5, 1)):
    for i in range(count):
        month = start.month - 1 + i
        yield datetime.date(start.year + month // 12, month % 12 + 1, 1)


def _csv(org, bad: bool) -> bytes:
    """member_a1's meetings, May 2024 to August 2026; with ``bad`` the third
    data row (spreadsheet row 4) breaks the integer-only rule."""
    a1 = org.people["member_a1"].employee_id
    lines = ["metric,employee_id,period_start,value"]
    values = STABLE + SHIFTED
    for n, (month, value) in enumerate(zip(_months(len(values)), values, strict=True)):
        shown = f"{value}.5" if bad and n == 2 else str(value)
        lines.append(f"{KEY},{a1},{month.isoformat()},{shown}")
    return ("\n".join(lines) + "\n").encode()


def test_hr_defines_imports_and_charts_a_metric(browser_page, org):
    cat = build_catalogue(org)
    page = browser_page
    page.login("hr", next=reverse("admin:metrics_metric_add"))
    assert page.path() == reverse("admin:metrics_metric_add")

    # -- define the metric: aligned to the team outcome, serving the objective
    page.fill("#id_key", KEY)
    page.fill("#id_name", "Meetings booked")
    page.fill("#id_description", "First meetings booked with prospects")
    page.select_option("#id_indicator", "leading")
    page.select_option("#id_level", "individual")
    page.fill("#id_unit", "meetings")
    page.select_option("#id_direction", "higher")
    page.fill("#id_calculation", "count of first meetings booked in the CRM")
    page.fill("#id_validation_rules", '{"min": 0, "max": 200, "integer_only": true}')
    page.select_option("#id_sensitivity", label="Confidential")
    page.select_option("#id_department", label="Sales")
    pick(page, "team", "Team A", "Team A")
    manager = org.people["manager_a"].employee_id
    steward = org.people["steward_sales"].employee_id
    pick(page, "owner", manager, manager)
    pick(page, "steward", steward, steward)
    page.select_option("#id_objective", label=str(cat.objective))
    pick(page, "aligned_to", "resolution", "Resolution rate")
    page.select_option("#id_source", label="Manual entry")
    page.select_option("#id_update_frequency", "monthly")
    submit(page, "input[name=_save]")
    assert "was added successfully" in success(page)
    metric = Metric.objects.get(key=KEY)
    assert metric.aligned_to == cat.resolution and metric.objective == cat.objective
    assert metric.status == Metric.Status.DRAFT

    # -- a target: above capacity without a justification is refused
    page.goto(reverse("admin:metrics_metrictarget_add"))
    pick(page, "metric", KEY, "Meetings booked")
    page.fill("#id_capacity", "40")
    page.fill("#id_capacity_basis", "4 reps x 10 meetings")
    page.fill("#id_target", "48")
    page.fill("#id_deadline", "2026-12-31")
    submit(page, "input[name=_continue]")
    assert (
        "exceeds capacity"
        in page.locator(".field-justification .errorlist").inner_text()
    )
    assert not MetricTarget.objects.exists()
    page.fill("#id_justification", "Two reps join in May")
    submit(page, "input[name=_continue]")
    assert "was added successfully" in success(page)

    # -- the SMART check on the target: which criteria pass, which fail
    check = page.locator("ul.smart-check")
    criteria = {
        item.locator("strong").inner_text(): item.locator("img").get_attribute("alt")
        for item in check.locator("li").all()
    }
    assert criteria == {
        "Specific": "passes",
        "Measurable": "fails",  # no baseline recorded
        "Achievable": "passes",  # above capacity, justified
        "Relevant": "passes",  # the metric serves the objective
        "Time-bound": "passes",
    }
    assert "No baseline" in check.inner_text()

    # -- activate it (a lifecycle action with a reason)
    page.goto(reverse("admin:metrics_metric_changelist"))
    page.check(f"#result_list input[name=_selected_action][value='{metric.pk}']")
    page.select_option("select[name=action]", "activate")
    submit(page, "button[name=index]")
    page.fill("#id_reason", "agreed in the sales planning meeting")
    submit(page)
    assert "Activated 1 metric(s)." in success(page)
    assert Metric.objects.get(pk=metric.pk).status == Metric.Status.ACTIVE

    # -- import a file with one bad row: nothing stored, the row's error shown
    page.goto(reverse("admin:metrics_observation_changelist"))
    with page.expect_navigation():
        page.click("a.import_link")
    page.set_input_files(
        "#id_file",
        files=[
            {"name": "history.csv", "mimeType": "text/csv", "buffer": _csv(org, True)}
        ],
    )
    submit(page)
    assert (
        "Nothing was stored" in page.locator("#import-errors .errornote").inner_text()
    )
    errors = page.locator("#import-error-list tr.import-error")
    assert errors.count() == 1
    assert errors.first.locator("td").all_inner_texts() == [
        "4",
        "value",
        "Only whole numbers are allowed.",
    ]
    assert not Observation.objects.exists()

    # -- the fixed file imports whole (a real shift, not an input error: the
    # values stay valid rather than quarantined)
    page.set_input_files(
        "#id_file",
        files=[
            {"name": "history.csv", "mimeType": "text/csv", "buffer": _csv(org, False)}
        ],
    )
    submit(page)
    assert page.path() == reverse("admin:metrics_observation_changelist")
    rows = len(STABLE) + len(SHIFTED)
    assert f"Imported {rows} observation(s) from history.csv." in success(page)
    assert Observation.objects.filter(metric=metric).count() == rows
    listing = page.locator("#result_list").inner_text()
    assert "19 meetings" in listing and "within the 24 h latency window" in listing

    # -- the control chart, linked from the metric's page, shows the signals
    page.goto(reverse("admin:metrics_metric_change", args=[metric.pk]))
    chart = reverse("admin:metrics_metric_control_chart", args=[metric.pk])
    with page.expect_navigation():
        page.click(f".object-tools a[href='{chart}']")
    page.settle()
    assert page.path() == chart
    assert page.locator("figure.control-chart-figure svg").count() == 1
    signals = page.locator("#signals tbody tr")
    assert signals.count() == len(SHIFTED)  # every month after the jump
    assert "(latest)" in signals.last.inner_text()
    page.assert_clean()
