"""The analytical admin pages through their real URLs, as role × outcome matrices.

Every page checks the model permission (403), the object scope (what is listed
or charted; a metric or subject outside it is a 404) and clearance (values
above it are masked with a message, never drawn). Outcomes:

``chart``   200 with the SVG chart and its values
``masked``  200, the series withheld with a clearance message, no SVG
``empty``   200, no series the viewer may see
``ok``      200 (catalogue-wide pages; contents checked separately)
``403``     the model permission is missing
``404``     the metric or subject is outside the viewer's scope
``login``   not staff (or not logged in): sent to the admin login
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, include, path, reverse

from governance.classification import Sensitivity
from governance.models import AuditEvent
from governance.roles import Role
from governance.testing import make_person, make_user
from metrics import admin_views, services
from metrics.models import (
    Annotation,
    DataSource,
    MetricConflict,
    Observation,
    TransformationStep,
)
from metrics.tests.test_quality import NORMAL, catalogue_with_consent, month

pytestmark = pytest.mark.django_db

# Used only while MetricAdmin does not wire the pages in yet: the admin's own
# URLs with ours in front, in the admin namespace (as MetricAdmin.get_urls does).
urlpatterns = [
    path(
        "admin/",
        (
            [
                path("metrics/metric/", include(admin_views.admin_urls(admin.site))),
                *admin.site.get_urls(),
            ],
            "admin",
            admin.site.name,
        ),
    ),
]


@pytest.fixture(autouse=True)
def wired_urls(settings):
    try:
        reverse("admin:metrics_metric_exceptions")
    except NoReverseMatch:
        settings.ROOT_URLCONF = __name__


#: Thirteen values ending in a point far above the limits of the first twelve.
SIGNALLING = [*NORMAL, 160]


@pytest.fixture
def data(org):
    cat = catalogue_with_consent(org)
    # Confidential calls: member_a (Team A) signals at the end; member_b (Team B)
    # is ordinary. The last value is confirmed by the steward after quarantine.
    rows = []
    for person, values in (("member_a", SIGNALLING[:-1]), ("member_b", NORMAL)):
        rows += [
            {
                "metric": "sales.calls_made",
                "employee_id": org.people[person].employee_id,
                "period_start": month(i),
                "value": str(v),
            }
            for i, v in enumerate(values)
        ]
    # Internal team outcome for Team A.
    rows += [
        {
            "metric": "support.resolution_rate",
            "team": "Team A",
            "period_start": month(i),
            "value": str(Decimal(v) / 2),
        }
        for i, v in enumerate(NORMAL)
    ]
    services.record_observations(actor=org.users["hr"], rows=rows)
    (last,) = services.record_observations(
        actor=org.users["hr"],
        rows=[
            {
                "metric": "sales.calls_made",
                "employee_id": org.people["member_a"].employee_id,
                "period_start": month(12),
                "value": "160",
            }
        ],
    )
    from metrics import quality

    for issue in last.quality_issues.all():
        quality.decide_issue(
            actor=org.users["steward"],
            issue=issue,
            decision="confirm",
            reason="big campaign month",
        )
    Annotation.objects.create(
        observation=last,
        kind=Annotation.Kind.EXTERNAL_EVENT,
        text="Spring campaign",
        created_at=last.entered_at,
    )
    org.cat = cat
    org.last = last
    return org


def chart_url(metric, subject: str | None = None) -> str:
    url = reverse("admin:metrics_metric_control_chart", args=[metric.pk])
    return f"{url}?subject={subject}" if subject else url


def person_param(org, key: str) -> str:
    return f"person:{org.people[key].pk}"


def get(client, org, principal, url):
    if principal != "anonymous":
        client.force_login(org.users[principal])
    return client.get(url)


def outcome(response) -> str:
    if response.status_code == 302:
        return "login" if "/login/" in response["Location"] else "redirect"
    if response.status_code != 200:
        return str(response.status_code)
    html = response.content.decode()
    if 'id="masked-message"' in html:
        assert 'class="control-chart"' not in html
        return "masked"
    if 'class="control-chart"' in html:
        return "chart"
    if "no current values of this metric that you may see" in html:
        return "empty"
    return "ok"


# -- control chart of a confidential individual metric ------------------------------

CHART_MATRIX = {
    # principal: (chart of member_a, chart of member_b, default page)
    "admin": ("chart", "chart", "chart"),
    "hr": ("chart", "chart", "chart"),
    "compliance": ("chart", "chart", "chart"),
    "auditor": ("chart", "chart", "chart"),
    "steward": ("chart", "chart", "chart"),  # steward of Sales: the metric's steward
    "manager": ("chart", "404", "chart"),  # manages Team A, not Team B
    "metric_owner": ("404", "404", "empty"),  # owns no metric here
    "board": ("403", "403", "403"),  # no view permission on observations
    "employee": ("login", "login", "login"),  # not staff
    "nobody": ("login", "login", "login"),
    "anonymous": ("login", "login", "login"),
}


@pytest.mark.parametrize("principal", sorted(CHART_MATRIX))
def test_control_chart_matrix(client, data, principal):
    calls = data.cat.calls
    got = (
        outcome(
            get(
                client,
                data,
                principal,
                chart_url(calls, person_param(data, "member_a")),
            )
        ),
        outcome(
            get(
                client,
                data,
                principal,
                chart_url(calls, person_param(data, "member_b")),
            )
        ),
        outcome(get(client, data, principal, chart_url(calls))),
    )
    assert got == CHART_MATRIX[principal]


def test_chart_page_shows_limits_signals_and_annotations(client, data):
    response = get(
        client, data, "hr", chart_url(data.cat.calls, person_param(data, "member_a"))
    )
    html = response.content.decode()
    svg = re.search(r'<svg[^>]*class="control-chart".*?</svg>', html, re.S).group(0)
    ET.fromstring(svg)  # noqa: S314 - well-formed (our own output)
    assert "style=" not in svg and "<script" not in svg and "<style" not in svg
    signals = re.search(r'<table id="signals">.*?</table>', html, re.S).group(0)
    assert "2025-01 (latest)" in signals and "nelson-1" in signals
    limits = re.search(r'<table id="limits">.*?</table>', html, re.S).group(0)
    assert "13 of 13 values" in limits
    assert "Spring campaign" in html and 'class="annotated"' in svg
    chart = response.context["chart"]
    assert chart.limits.center == pytest.approx(sum(SIGNALLING) / 13)


def test_no_inline_styles_or_scripts_on_any_page(client, data):
    client.force_login(data.users["hr"])
    urls = [
        chart_url(data.cat.calls, person_param(data, "member_a")),
        *(
            reverse(f"admin:metrics_metric_{name}")
            for name in ("exceptions", "alignment", "portfolio", "lineage", "freshness")
        ),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        # Every page of the admin shares base_site; the page's own part is what
        # these templates add.
        body = html.split('id="content-main"', 1)[1]
        assert " style=" not in body and "<style" not in body, url
        assert "<script" not in body and " onclick=" not in body, url


def test_chart_is_masked_below_clearance_and_shown_to_the_subject(client, data):
    low = make_user("hr_low", Role.HR, clearance=Sensitivity.INTERNAL)
    client.force_login(low)
    url = chart_url(data.cat.calls, person_param(data, "member_a"))
    response = client.get(url)
    assert outcome(response) == "masked"
    html = response.content.decode()
    assert "above your clearance (Internal)" in html
    assert response.context["chart"] is None and response.context["svg"] is None
    assert all(p.value is None for p in response.context["series"].points)
    # The Internal team metric stays readable for the same user.
    assert outcome(client.get(chart_url(data.cat.resolution))) == "chart"


def test_restricted_series_needs_restricted_clearance_and_the_read_is_logged(
    client, data
):
    from metrics.models import Metric

    Metric.objects.filter(pk=data.cat.resolution.pk).update(
        sensitivity=Sensitivity.RESTRICTED
    )
    url = chart_url(data.cat.resolution)
    assert outcome(get(client, data, "hr", url)) == "masked"  # confidential clearance
    assert not AuditEvent.objects.filter(action="restricted.read").exists()
    assert outcome(get(client, data, "compliance", url)) == "chart"
    event = AuditEvent.objects.get(action="restricted.read")
    assert event.actor_id == data.users["compliance"].pk
    assert event.data["via"] == "control chart"


def test_quarantined_values_are_not_charted(client, data):
    (suspect,) = services.record_observations(
        actor=data.users["hr"],
        rows=[
            {
                "metric": "sales.calls_made",
                "employee_id": data.people["member_b"].employee_id,
                "period_start": month(12),
                "value": "1",
            }
        ],
    )
    assert suspect.status == Observation.Status.QUARANTINED
    response = get(
        client, data, "hr", chart_url(data.cat.calls, person_param(data, "member_b"))
    )
    assert len(response.context["chart"].values) == 12
    assert "2025-01" not in response.context["chart"].labels


def test_unknown_metric_and_foreign_subject_are_404(client, data):
    client.force_login(data.users["hr"])
    assert (
        client.get(
            reverse("admin:metrics_metric_control_chart", args=[999999])
        ).status_code
        == 404
    )
    # A team subject on an individual metric is nobody's series here.
    url = chart_url(data.cat.calls, f"team:{data.team_a.pk}")
    assert client.get(url).status_code == 404


# -- exception report ----------------------------------------------------------------

EXCEPTIONS_MATRIX = {
    # principal: (status, series listed)
    "admin": ("ok", {"T-member_a"}),
    "hr": ("ok", {"T-member_a"}),
    "compliance": ("ok", {"T-member_a"}),
    "auditor": ("ok", {"T-member_a"}),
    "steward": ("ok", {"T-member_a"}),
    "manager": ("ok", {"T-member_a"}),
    "metric_owner": ("ok", set()),
    "board": ("403", None),
    "employee": ("login", None),
    "nobody": ("login", None),
    "anonymous": ("login", None),
}


@pytest.mark.parametrize("principal", sorted(EXCEPTIONS_MATRIX))
def test_exception_report_matrix(client, data, principal):
    response = get(client, data, principal, reverse("admin:metrics_metric_exceptions"))
    status, listed = EXCEPTIONS_MATRIX[principal]
    assert outcome(response) == status
    if listed is not None:
        rows = response.context["report"].rows
        names = {f"T-{_key_of(data, r.subject.label)}" for r in rows}
        assert names == listed
        if principal == "auditor":
            assert all(r.subject.label.startswith("P-") for r in rows)
        if rows:
            assert rows[0].metric == data.cat.calls and rows[0].beyond == "above UCL"


def _key_of(org, label):
    """The person a subject label names: their employee id, or for auditors
    their pseudonym (governance.pseudonyms)."""
    from governance import pseudonyms

    return next(
        k
        for k, p in org.people.items()
        if label in (p.employee_id, pseudonyms.pseudonym(p.pk))
    )


def test_exception_report_withholds_series_above_clearance(client, data):
    low = make_user("hr_low", Role.HR, clearance=Sensitivity.INTERNAL)
    client.force_login(low)
    response = client.get(reverse("admin:metrics_metric_exceptions"))
    report = response.context["report"]
    assert report.rows == [] and report.withheld == 2  # the two calls series
    assert 'id="withheld"' in response.content.decode()


def test_manager_of_team_b_sees_no_team_a_exception(client, data):
    user = make_user("manager_b", Role.MANAGER, person=data.people["manager_b"])
    client.force_login(user)
    response = client.get(reverse("admin:metrics_metric_exceptions"))
    assert response.context["report"].rows == []
    assert response.context["report"].series_checked == 1  # member_b's calls


# -- alignment tree, portfolio, lineage, freshness -----------------------------------------

CATALOGUE_PAGES = ("alignment", "portfolio", "lineage", "freshness")
CATALOGUE_MATRIX = {
    "admin": ("ok", "ok", "ok", "ok"),
    "hr": ("ok", "ok", "ok", "ok"),
    "compliance": ("ok", "ok", "ok", "ok"),
    "auditor": ("ok", "ok", "ok", "ok"),
    "steward": ("ok", "ok", "ok", "ok"),
    "manager": ("ok", "ok", "ok", "ok"),
    "metric_owner": ("ok", "ok", "ok", "ok"),
    "board": ("ok", "ok", "403", "ok"),  # no view permission on transformation steps
    "employee": ("login",) * 4,
    "nobody": ("login",) * 4,
    "anonymous": ("login",) * 4,
}


@pytest.mark.parametrize("principal", sorted(CATALOGUE_MATRIX))
def test_catalogue_pages_matrix(client, data, principal):
    got = tuple(
        outcome(get(client, data, principal, reverse(f"admin:metrics_metric_{page}")))
        for page in CATALOGUE_PAGES
    )
    assert got == CATALOGUE_MATRIX[principal]


def test_alignment_page_flags_unaligned_kpis_and_conflicts(client, data):
    MetricConflict.objects.create(
        metric_a=data.cat.calls,
        metric_b=data.cat.resolution,
        description="A call quota pushes for short calls; resolution needs long ones.",
    )
    html = get(
        client, data, "hr", reverse("admin:metrics_metric_alignment")
    ).content.decode()
    tree = re.search(r'id="tree">.*?</div>', html, re.S).group(0)
    # cx → support.resolution_rate → sales.calls_made
    assert (
        tree.index("cx")
        < tree.index("support.resolution_rate")
        < tree.index("sales.calls_made")
    )
    assert (
        "conflicts with sales.calls_made" in tree
        and "conflicts with support.resolution_rate" in tree
    )
    unaligned = re.search(r'id="unaligned">.*?</div>', html, re.S).group(0)
    assert "sales.demo_count" in unaligned and "sales.calls_made" not in unaligned
    # The board may see the tree but not the conflicts.
    board = get(client, data, "board", reverse("admin:metrics_metric_alignment"))
    assert "You may not view metric conflicts." in board.content.decode()
    assert "conflicts with" not in board.content.decode()


def test_portfolio_page_warns_teams_without_leading_indicators(client, data):
    response = get(client, data, "hr", reverse("admin:metrics_metric_portfolio"))
    rows = {r.team.name: r for r in response.context["rows"]}
    assert (rows["Team A"].leading, rows["Team A"].lagging) == (1, 1)
    assert not rows["Team A"].no_leading and rows["Team B"].no_leading
    assert "⚠ No leading indicator" in response.content.decode()
    # A manager sees the teams they manage (A and its child A1), not B.
    response = get(client, data, "manager", reverse("admin:metrics_metric_portfolio"))
    assert {r.team.name for r in response.context["rows"]} == {"Team A", "Team A1"}


def test_lineage_page_lists_undocumented_sources_and_steps(client, data):
    legacy = DataSource.objects.create(code="crm-old", name="Old CRM", documented=False)
    TransformationStep.objects.create(
        metric=data.cat.calls,
        order=1,
        source=legacy,
        description="dedupe",
        documented=False,
    )
    TransformationStep.objects.create(
        metric=data.cat.resolution, order=1, description="ratio", documented=True
    )
    response = get(client, data, "auditor", reverse("admin:metrics_metric_lineage"))
    html = response.content.decode()
    sources = re.search(r'id="undocumented-sources">.*?</div>', html, re.S).group(0)
    assert "Old CRM" in sources and "sales.calls_made" in sources
    findings = re.search(r'id="metric-findings">.*?</div>', html, re.S).group(0)
    assert "Step 1 undocumented" in findings and "sales.demo_count" in findings
    assert "support.resolution_rate" not in findings
    assert response.context["counts"]["undocumented_steps"] == 1


def test_freshness_page_lists_flagged_metrics(client, data):
    from django.utils import timezone

    from metrics.models import Metric

    Metric.objects.filter(pk=data.cat.resolution.pk).update(stale_since=timezone.now())
    response = get(client, data, "steward", reverse("admin:metrics_metric_freshness"))
    assert [m.key for m, _ in response.context["rows"]] == ["support.resolution_rate"]


def test_a_new_person_of_team_b_adds_nothing_to_a_team_a_manager(client, data):
    # Scope is recomputed per request: a new Team B member stays out of reach.
    newcomer = make_person(data.product, data.us, teams=[data.team_b])
    client.force_login(data.users["manager"])
    url = chart_url(data.cat.calls, f"person:{newcomer.pk}")
    assert client.get(url).status_code == 404


# -- in a real browser, under the production CSP -------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_render_in_chromium_without_csp_violations(browser_page, data):
    browser_page.login("hr", next="/admin/")
    browser_page.goto(chart_url(data.cat.calls, person_param(data, "member_a")))
    chart = browser_page.locator("svg.control-chart")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 150
    assert browser_page.locator("svg.control-chart circle.signal").count() == 1
    # The series picker works without JavaScript: a plain GET form.
    browser_page.select_option("#id_rules", "western-electric")
    with browser_page.expect_navigation():
        browser_page.click("form.chart-options input[type=submit]")
    assert "rules=western-electric" in browser_page.page.url
    assert "we-1" in browser_page.locator("#signals").inner_text()
    for name in ("exceptions", "alignment", "portfolio", "lineage", "freshness"):
        browser_page.goto(reverse(f"admin:metrics_metric_{name}"))
        assert browser_page.locator("#content-main").is_visible(), name
    browser_page.assert_clean()
