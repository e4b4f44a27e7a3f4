"""The metrics admin through its real URLs: change control, change requests,
lifecycle actions, the SMART check, observation capture and correction, masking."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from governance.classification import Sensitivity
from governance.crypto.fields import Ciphertext
from governance.roles import Role
from governance.testing import make_user
from metrics import services
from metrics.models import (
    ChangeRequest,
    DataQualityIssue,
    MethodologyVersion,
    Metric,
    MetricTarget,
    Observation,
)
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat(org):
    return build_catalogue(org)


def form_data(response: Any) -> dict[str, Any]:
    """The POST data of an admin form exactly as rendered."""
    data: dict[str, Any] = {}
    form = response.context["adminform"].form
    for name, field in form.fields.items():
        value = form[name].value()
        if field.show_hidden_initial and value is not None:
            data[f"initial-{name}"] = str(value)
        if value is None or value is False:
            continue
        if value is True:
            data[name] = "on"
        elif isinstance(value, (list, tuple)):
            data[name] = [str(v) for v in value]
        else:
            data[name] = str(value)
    return data


def said(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:metrics_{name}", args=args)


def history_count(metric: Metric) -> int:
    return Metric.history.filter(id=metric.pk).count()


def product_metric(org, cat) -> Metric:
    """An active metric of the Product department (outside the Sales steward's reach)."""
    metric = services.metric_create(
        actor=None,
        key="product.releases",
        name="Releases",
        description="Releases shipped",
        indicator="lagging",
        level="team",
        unit="releases",
        calculation="count",
        source=cat.jira,
        owner=org.people["manager_b"],
        steward=org.people["member_b"],
        department=org.product,
        team=org.team_b,
        update_frequency="monthly",
    )
    return services.metric_transition(
        actor=None, metric=metric, status="active", reason="in use"
    )


# -- change control --------------------------------------------------------------


def test_governed_edit_of_an_active_metric_is_refused_with_the_way_forward(
    client, org, cat
):
    client.force_login(org.users["hr"])
    change = url("metric_change", cat.calls.pk)
    page = client.get(change)
    assert page.status_code == 200
    data = form_data(page)
    data.update(calculation="calls + emails", change_reason="emails count too")
    before = history_count(cat.calls)

    response = client.post(change, data)

    assert response.status_code == 200  # the form again, with the refusal
    errors = " ".join(response.context["adminform"].form.non_field_errors())
    assert "can't be edited directly" in errors and "change request" in errors
    assert "Request change" in response.content.decode()
    metric = Metric.objects.get(pk=cat.calls.pk)
    assert metric.calculation == "count of logged calls"
    assert metric.methodology_version == 1
    assert history_count(cat.calls) == before


def test_plain_fields_of_an_active_metric_are_edited_with_a_reason(client, org, cat):
    client.force_login(org.users["hr"])
    change = url("metric_change", cat.calls.pk)
    data = form_data(client.get(change))
    data["description"] = "Outbound calls logged in the CRM"

    missing_reason = client.post(change, data)
    assert missing_reason.status_code == 200
    assert "change_reason" in missing_reason.context["adminform"].form.errors

    data["change_reason"] = "clearer wording"
    response = client.post(change, data)
    assert response.status_code == 302
    metric = Metric.objects.get(pk=cat.calls.pk)
    assert metric.description == "Outbound calls logged in the CRM"
    assert metric.history.first().history_change_reason == "clearer wording"


def test_governed_fields_of_a_draft_metric_are_editable(client, org, cat):
    client.force_login(org.users["hr"])
    change = url("metric_change", cat.draft.pk)
    data = form_data(client.get(change))
    data.update(calculation="count of demos held", change_reason="precise")
    assert client.post(change, data).status_code == 302
    assert Metric.objects.get(pk=cat.draft.pk).calculation == "count of demos held"


def test_add_metric_goes_through_the_service(client, org, cat):
    client.force_login(org.users["hr"])
    add = url("metric_add")
    data = {
        "key": "sales.meetings_booked",
        "name": "Meetings booked",
        "description": "First meetings booked with prospects",
        "indicator": "leading",
        "level": "individual",
        "unit": "meetings",
        "direction": "higher",
        "calculation": "count of booked meetings",
        "validation_rules": '{"min": 0, "bogus": 1}',
        "sensitivity": str(Sensitivity.CONFIDENTIAL),
        "impact": "standard",
        "department": str(org.sales.pk),
        "team": str(org.team_a.pk),
        "owner": str(org.people["manager_a"].pk),
        "steward": str(org.people["steward_sales"].pk),
        "objective": str(cat.objective.pk),
        "aligned_to": str(cat.resolution.pk),
        "source": str(cat.manual.pk),
        "update_frequency": "monthly",
        "grace_days": "7",
        "refresh_cycle": "",
        "latency_hours": "24",
    }
    refused = client.post(add, data)
    assert refused.status_code == 200
    assert "Unknown rule" in str(refused.context["adminform"].form.errors)
    assert not Metric.objects.filter(key="sales.meetings_booked").exists()

    data["validation_rules"] = '{"min": 0, "integer_only": true}'
    assert client.post(add, data).status_code == 302
    metric = Metric.objects.get(key="sales.meetings_booked")
    assert metric.status == Metric.Status.DRAFT and metric.aligned_to == cat.resolution
    assert metric.history.first().history_change_reason == "created in admin"


# -- change requests ---------------------------------------------------------------


def test_request_change_view_files_a_change_request(client, org, cat):
    client.force_login(org.users["hr"])
    view = url("metric_request_change", cat.calls.pk)
    page = client.get(view)
    assert page.status_code == 200
    form = page.context["form"]
    data = {
        name: (str(form[name].value()) if form[name].value() is not None else "")
        for name in form.fields
    }
    data["validation_rules"] = '{"min": 0, "max": 2000, "integer_only": true}'
    data.update(calculation="calls + emails", reason="emails are calls too")

    response = client.post(view, data)

    assert response.status_code == 302
    request = ChangeRequest.objects.get()
    assert request.changes == {"calculation": "calls + emails"}
    assert request.status == ChangeRequest.Status.PENDING
    assert request.requested_by_id == org.users["hr"].pk
    assert Metric.objects.get(pk=cat.calls.pk).calculation == "count of logged calls"
    assert response.url == url("changerequest_change", request.pk)


@pytest.mark.parametrize(
    ("principal", "expected"),
    [("hr", 200), ("steward", 200), ("auditor", 403), ("manager", 403)],
)
def test_request_change_view_access(client, org, cat, principal, expected):
    client.force_login(org.users[principal])
    assert client.get(url("metric_request_change", cat.calls.pk)).status_code == (
        expected
    )


def test_request_change_is_offered_only_for_active_metrics(client, org, cat):
    client.force_login(org.users["hr"])
    assert client.get(url("metric_request_change", cat.draft.pk)).status_code == 403


def _pending(org, metric, by="hr", changes=None) -> ChangeRequest:
    return services.change_request_create(
        actor=org.users[by],
        metric=metric,
        changes=changes or {"calculation": "calls + emails"},
        reason="emails count too",
    )


def _decide(client, action: str, *requests: ChangeRequest, **extra: str) -> Any:
    return client.post(
        url("changerequest_changelist"),
        {
            "action": action,
            "_selected_action": [str(r.pk) for r in requests],
            "confirm": "yes",
            **extra,
        },
    )


def test_steward_approves_through_the_changelist(client, org, cat):
    request = _pending(org, cat.calls)
    client.force_login(org.users["steward"])
    # First the confirmation page; nothing decided yet.
    page = client.post(
        url("changerequest_changelist"),
        {"action": "approve_selected", "_selected_action": [str(request.pk)]},
    )
    assert page.status_code == 200 and b"Approve" in page.content
    assert ChangeRequest.objects.get(pk=request.pk).status == "pending"

    response = _decide(client, "approve_selected", request, note="agreed")

    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.APPLIED
    assert request.decided_by_id == org.users["steward"].pk
    assert request.decision_note == "agreed"
    metric = Metric.objects.get(pk=cat.calls.pk)
    assert metric.calculation == "calls + emails" and metric.methodology_version == 2
    assert MethodologyVersion.objects.filter(metric=metric, version=2).exists()


def test_steward_rejects_through_the_changelist(client, org, cat):
    request = _pending(org, cat.calls)
    client.force_login(org.users["steward"])
    response = _decide(client, "reject_selected", request, note="not comparable")
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.REJECTED
    assert request.decision_note == "not comparable"
    assert Metric.objects.get(pk=cat.calls.pk).methodology_version == 1


@pytest.mark.parametrize("principal", ["hr", "auditor", "manager", "metric_owner"])
def test_only_stewards_may_decide(client, org, cat, principal):
    request = _pending(org, cat.calls)
    client.force_login(org.users[principal])
    page = client.get(url("changerequest_changelist"))
    if page.status_code == 200:
        action_form = page.context["action_form"]  # None: no action at all
        actions = dict(action_form.fields["action"].choices) if action_form else {}
        assert "approve_selected" not in actions
    _decide(client, "approve_selected", request)
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.PENDING
    assert Metric.objects.get(pk=cat.calls.pk).methodology_version == 1


def test_steward_of_another_department_is_refused_by_the_service(client, org, cat):
    request = _pending(org, product_metric(org, cat), changes={"unit": "deploys"})
    client.force_login(org.users["steward"])
    response = _decide(client, "approve_selected", request)
    assert response.status_code == 302
    assert any("Only the metric's data steward" in m for m in said(response))
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.PENDING


def test_no_one_approves_their_own_request(client, org, cat):
    request = _pending(org, cat.calls, by="steward")
    client.force_login(org.users["steward"])
    response = _decide(client, "approve_selected", request)
    assert any("person who filed it" in m for m in said(response))
    assert ChangeRequest.objects.get(pk=request.pk).status == "pending"


def test_change_request_page_is_read_only(client, org, cat):
    request = _pending(org, cat.calls)
    client.force_login(org.users["steward"])
    page = client.get(url("changerequest_change", request.pk))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert "calls + emails" in page.content.decode()


def test_change_request_add_form_uses_the_service(client, org, cat):
    client.force_login(org.users["hr"])
    add = url("changerequest_add")
    refused = client.post(
        add,
        {
            "metric": str(cat.calls.pk),
            "changes": '{"name": "Calls"}',
            "reason": "shorter",
        },
    )
    assert refused.status_code == 200
    assert "Not governed fields" in str(refused.context["adminform"].form.errors)
    assert not ChangeRequest.objects.exists()
    response = client.post(
        add,
        {
            "metric": str(cat.calls.pk),
            "changes": '{"unit": "dials"}',
            "reason": "CRM says dials",
        },
    )
    assert response.status_code == 302
    assert ChangeRequest.objects.get().changes == {"unit": "dials"}


# -- lifecycle ------------------------------------------------------------------


def _act(client, action: str, metric: Metric, **extra: str) -> Any:
    return client.post(
        url("metric_changelist"),
        {"action": action, "_selected_action": [str(metric.pk)], **extra},
    )


def test_lifecycle_actions_need_a_reason(client, org, cat):
    client.force_login(org.users["hr"])
    page = _act(client, "propose", cat.draft)
    assert page.status_code == 200 and b'name="reason"' in page.content
    assert Metric.objects.get(pk=cat.draft.pk).status == "draft"

    response = _act(client, "propose", cat.draft, confirm="yes", reason="ready")
    assert response.status_code == 302
    metric = Metric.objects.get(pk=cat.draft.pk)
    assert metric.status == Metric.Status.PROPOSED
    assert metric.history.first().history_change_reason == "ready"

    _act(client, "activate", metric, confirm="yes", reason="approved")
    assert Metric.objects.get(pk=cat.draft.pk).status == Metric.Status.ACTIVE
    _act(client, "start_sunset_review", metric, confirm="yes", reason="6-month review")
    assert Metric.objects.get(pk=cat.draft.pk).status == Metric.Status.SUNSET_REVIEW
    _act(client, "retire", metric, confirm="yes", reason="replaced")
    assert Metric.objects.get(pk=cat.draft.pk).status == Metric.Status.RETIRED


def test_impossible_transition_is_reported_not_applied(client, org, cat):
    client.force_login(org.users["hr"])
    response = _act(client, "propose", cat.calls, confirm="yes", reason="again")
    assert any("can't become" in m for m in said(response))
    assert Metric.objects.get(pk=cat.calls.pk).status == Metric.Status.ACTIVE


@pytest.mark.parametrize("principal", ["auditor", "manager"])
def test_read_only_roles_have_no_lifecycle_actions(client, org, cat, principal):
    client.force_login(org.users[principal])
    _act(client, "retire", cat.calls, confirm="yes", reason="no")
    assert Metric.objects.get(pk=cat.calls.pk).status == Metric.Status.ACTIVE


def test_steward_may_not_move_another_departments_metric(client, org, cat):
    metric = product_metric(org, cat)
    client.force_login(org.users["steward"])
    _act(client, "retire", metric, confirm="yes", reason="no")
    assert Metric.objects.get(pk=metric.pk).status == Metric.Status.ACTIVE


# -- targets and the SMART check ---------------------------------------------------


def test_smart_check_is_shown_on_the_target(client, org, cat):
    target = MetricTarget.objects.create(
        metric=cat.calls, target=Decimal("150"), capacity=Decimal("200")
    )
    client.force_login(org.users["hr"])
    page = client.get(url("metrictarget_change", target.pk)).content.decode()
    assert 'class="smart-check"' in page
    assert (
        '<li class="smart-pass"><img src="/static/admin/img/icon-yes.svg" alt="passes"> <strong>Specific</strong>'
        in page
    )
    assert (
        '<li class="smart-fail"><img src="/static/admin/img/icon-no.svg" alt="fails"> <strong>Measurable</strong>'
        in page
    )
    assert "<strong>Achievable</strong>: Target is within capacity." in page
    assert "<strong>Time-bound</strong>: Set a deadline." in page
    listing = client.get(url("metrictarget_changelist")).content.decode()
    assert "Fails: Measurable, Time-bound" in listing


def test_target_above_capacity_needs_a_justification(client, org, cat):
    client.force_login(org.users["hr"])
    data = {
        "metric": str(cat.calls.pk),
        "baseline": "100",
        "capacity": "160",
        "capacity_basis": "4 agents x 40",
        "target": "200",
        "deadline": "2026-12-31",
        "justification": "",
    }
    refused = client.post(url("metrictarget_add"), data)
    assert refused.status_code == 200
    assert "exceeds capacity" in str(refused.context["adminform"].form.errors)
    assert not MetricTarget.objects.exists()

    data["justification"] = "Two new hires start in May"
    assert client.post(url("metrictarget_add"), data).status_code == 302
    target = MetricTarget.objects.get()
    page = client.get(url("metrictarget_change", target.pk)).content.decode()
    assert "Target exceeds capacity; justification recorded." in page


# -- observations ----------------------------------------------------------------


def _record(org, value: str = "1717", who: str = "member_a1", **row: Any):
    return services.record_observations(
        actor=None,
        rows=[
            {
                "metric": "sales.calls_made",
                "employee_id": org.people[who].employee_id,
                "period_start": "2026-03-01",
                "value": value,
                **row,
            }
        ],
    )[0]


def test_changelist_masks_values_above_the_readers_clearance(client, org, cat):
    obs = _record(org)
    low = make_user("hr_internal", Role.HR, clearance=Sensitivity.INTERNAL)
    client.force_login(org.users["hr"])
    page = client.get(url("observation_changelist")).content.decode()
    assert "1717 calls" in page
    assert "within the 24 h latency window" in page

    client.force_login(low)
    page = client.get(url("observation_changelist")).content.decode()
    assert "1717" not in page
    assert "•••••• (Confidential) calls" in page
    detail = client.get(url("observation_change", obs.pk)).content.decode()
    assert "1717" not in detail and "•••••• (Confidential)" in detail


def test_data_as_of_flags_a_metric_beyond_its_latency_window(client, org, cat):
    obs = _record(org)
    Observation.objects.filter(pk=obs.pk).update(
        entered_at=timezone.now() - datetime.timedelta(days=3)
    )
    client.force_login(org.users["hr"])
    page = client.get(url("observation_changelist")).content.decode()
    assert "3 days old; beyond the 24 h latency window" in page


def test_rows_without_sealed_values_fetch_no_keys_and_writes_still_seal(
    org, cat, django_assert_num_queries
):
    """A page of plain (Internal) values opens nothing, so it fetches no data
    keys; a row read that way and later given a sealed value fetches its key
    when it seals it."""
    team = services.record_observations(
        actor=None,
        rows=[
            {
                "metric": "support.resolution_rate",
                "team": "Team A",
                "period_start": "2026-03-01",
                "value": "50",
            }
        ],
    )[0]
    sealed = _record(org)
    with django_assert_num_queries(1):  # the rows; nothing sealed, no keys
        rows = list(Observation.objects.filter(pk=team.pk))
        assert rows[0].value == Decimal("50")
    with django_assert_num_queries(2):  # the rows, then the sealed row's key
        rows = list(Observation.objects.filter(pk__in=[team.pk, sealed.pk]))
        assert sorted(r.value for r in rows) == [Decimal("50"), Decimal("1717")]
    row = Observation.objects.get(pk=team.pk)
    row.value_plain, row.value_sealed = None, Decimal("51")
    row._change_reason = "reclassified in a test"
    row.save(update_fields=["value_plain", "value_sealed"])
    stored = Observation.objects.get(pk=team.pk)
    assert isinstance(stored.__dict__["value_sealed"], Ciphertext)
    assert stored.value == Decimal("51")


def test_manager_sees_only_their_teams_observations(client, org, cat):
    mine = _record(org, who="member_a1")
    other = services.record_observations(
        actor=None,
        rows=[
            {
                "metric": "support.resolution_rate",
                "team": "Team B",
                "period_start": "2026-03-01",
                "value": "50",
            }
        ],
    )[0]
    client.force_login(org.users["manager"])
    shown = {
        o.pk
        for o in client.get(url("observation_changelist")).context["cl"].result_list
    }
    assert mine.pk in shown and other.pk not in shown


def test_add_observation_goes_through_the_validation_path(client, org, cat):
    client.force_login(org.users["hr"])
    data = {
        "metric": str(cat.calls.pk),
        "person": str(org.people["member_a1"].pk),
        "period_start": "2026-03-01",
        "value": "12.5",
        "change_reason": "entered from the call log",
    }
    refused = client.post(url("observation_add"), data)
    assert refused.status_code == 200
    assert "Only whole numbers are allowed." in str(
        refused.context["adminform"].form.errors["value"]
    )
    misaligned = client.post(
        url("observation_add"), {**data, "value": "12", "period_start": "2026-03-15"}
    )
    assert "first day of the month" in str(misaligned.context["adminform"].form.errors)
    assert not Observation.objects.exists()

    data["value"] = "12"
    assert client.post(url("observation_add"), data).status_code == 302
    obs = Observation.objects.get()
    assert obs.value == Decimal("12") and obs.value_plain is None  # sealed
    assert obs.period_end == datetime.date(2026, 3, 31)
    assert obs.entered_by_id == org.users["hr"].pk
    assert obs.history.first().history_change_reason == "entered from the call log"


def test_add_observation_refuses_a_metric_outside_the_users_scope(client, org, cat):
    metric = product_metric(org, cat)
    client.force_login(org.users["steward"])
    response = client.post(
        url("observation_add"),
        {
            "metric": str(metric.pk),
            "team": str(org.team_a.pk),  # a team they see, a metric they don't feed
            "period_start": "2026-03-01",
            "value": "3",
        },
    )
    assert response.status_code == 200
    assert "You may not record data" in str(response.context["adminform"].form.errors)
    assert not Observation.objects.exists()


def test_correction_supersedes_never_overwrites(client, org, cat):
    obs = _record(org, value="120")
    token = Observation.objects.values_list("value_sealed", flat=True).get(pk=obs.pk)
    client.force_login(org.users["hr"])
    change = url("observation_change", obs.pk)
    assert client.get(change).status_code == 200

    no_reason = client.post(change, {"value": "121"})
    assert no_reason.status_code == 200
    assert "change_reason" in no_reason.context["adminform"].form.errors
    out_of_range = client.post(change, {"value": "99999", "change_reason": "typo"})
    assert "above the maximum" in str(out_of_range.context["adminform"].form.errors)
    assert Observation.objects.count() == 1

    response = client.post(change, {"value": "121", "change_reason": "typo in CRM"})

    new = Observation.objects.get(supersedes=obs)
    assert response.status_code == 302
    assert response.url == url("observation_change", new.pk)
    old = Observation.objects.get(pk=obs.pk)
    assert old.status == Observation.Status.SUPERSEDED
    stored = Observation.objects.values_list("value_sealed", flat=True).get(pk=obs.pk)
    assert old.value == Decimal("120") and stored == token
    assert new.value == Decimal("121") and new.correction_reason == "typo in CRM"
    # The superseded one is read-only now.
    page = client.get(change)
    assert page.context["has_change_permission"] is False


@pytest.mark.parametrize("principal", ["auditor", "manager"])
def test_read_only_roles_cannot_correct(client, org, cat, principal):
    obs = _record(org, value="120")
    client.force_login(org.users[principal])
    response = client.post(
        url("observation_change", obs.pk), {"value": "1", "change_reason": "no"}
    )
    assert response.status_code == 403
    assert Observation.objects.count() == 1


def test_observations_are_never_deleted(client, org, cat):
    obs = _record(org)
    client.force_login(org.users["admin"])
    assert client.get(url("observation_delete", obs.pk)).status_code == 403
    assert client.get(url("metric_delete", cat.calls.pk)).status_code == 403


def test_quality_issues_are_listed_read_only(client, org, cat):
    obs = _record(org)
    issue = DataQualityIssue.objects.create(
        observation=obs, kind="spike", detail="z = 9", detected_at=timezone.now()
    )
    client.force_login(org.users["steward"])
    assert client.get(url("dataqualityissue_changelist")).status_code == 200
    page = client.get(url("dataqualityissue_change", issue.pk))
    assert page.status_code == 200 and page.context["has_change_permission"] is False


# -- links to the analytical pages ----------------------------------------------


def test_metric_page_links_the_analytical_pages(client, org, cat, monkeypatch):
    """Pages from metrics.admin_views are served under the metric admin and
    linked: per-metric ones from the metric's page, the others from the list."""
    import sys
    import types

    from django.contrib import admin
    from django.http import HttpResponse
    from django.test import override_settings
    from django.urls import path

    from metrics import admin_views

    def chart(request, object_id):
        return HttpResponse(f"chart of {object_id}")

    def exceptions(request):
        return HttpResponse("exceptions")

    monkeypatch.setattr(
        admin_views,
        "admin_urls",
        lambda site: [
            path(
                "<path:object_id>/control-chart/",
                site.admin_view(chart),
                name="metrics_metric_control_chart",
            ),
            path(
                "exceptions/",
                site.admin_view(exceptions),
                name="metrics_metric_exceptions",
            ),
        ],
    )
    urlconf = types.ModuleType("metrics_admin_links_urls")
    urlconf.urlpatterns = [path("admin/", admin.site.urls)]
    monkeypatch.setitem(sys.modules, urlconf.__name__, urlconf)
    with override_settings(ROOT_URLCONF=urlconf.__name__):
        client.force_login(org.users["hr"])
        page = client.get(url("metric_change", cat.calls.pk)).content.decode()
        chart_url = reverse("admin:metrics_metric_control_chart", args=[cat.calls.pk])
        assert f'<a href="{chart_url}">Control chart</a>' in page
        request_url = url("metric_request_change", cat.calls.pk)
        assert f'<a href="{request_url}">Request change</a>' in page
        listing = client.get(url("metric_changelist")).content.decode()
        exceptions_url = reverse("admin:metrics_metric_exceptions")
        assert f'<a href="{exceptions_url}">Exceptions</a>' in listing
        assert chart_url not in listing
        assert client.get(chart_url).content == f"chart of {cat.calls.pk}".encode()


# -- data-quality decisions ------------------------------------------------------


def _suspect(org) -> DataQualityIssue:
    obs = _record(org, value="1200")
    Observation.objects.filter(pk=obs.pk).update(status=Observation.Status.QUARANTINED)
    return DataQualityIssue.objects.create(
        observation=obs,
        kind=DataQualityIssue.Kind.UNIT_SLIP,
        detail="about 100 times the series median",
        detected_at=timezone.now(),
    )


def test_steward_confirms_a_suspect_value(client, org, cat):
    issue = _suspect(org)
    client.force_login(org.users["steward"])
    page = client.get(url("dataqualityissue_change", issue.pk)).content.decode()
    decide = url("dataqualityissue_decide", issue.pk)
    assert f'<a href="{decide}">Decide</a>' in page
    shown = client.get(decide)
    assert shown.status_code == 200 and "1200 calls" in shown.content.decode()

    refused = client.post(decide, {"decision": "confirm", "reason": ""})
    assert "reason" in refused.context["form"].errors

    response = client.post(decide, {"decision": "confirm", "reason": "big month"})
    assert response.status_code == 302
    issue.refresh_from_db()
    assert issue.status == DataQualityIssue.Status.CONFIRMED
    assert issue.decided_by_id == org.users["steward"].pk
    assert Observation.objects.get(pk=issue.observation_id).status == "valid"


def test_steward_corrects_a_suspect_value(client, org, cat):
    issue = _suspect(org)
    client.force_login(org.users["steward"])
    decide = url("dataqualityissue_decide", issue.pk)
    no_value = client.post(decide, {"decision": "correct", "reason": "unit slip"})
    assert "correction needs the right value" in str(no_value.context["form"].errors)
    response = client.post(
        decide, {"decision": "correct", "value": "12", "reason": "unit slip"}
    )
    assert response.status_code == 302
    new = Observation.objects.get(supersedes_id=issue.observation_id)
    assert new.value == Decimal("12")
    assert DataQualityIssue.objects.get(pk=issue.pk).status == "corrected"


@pytest.mark.parametrize(
    ("principal", "expected"), [("manager", 403), ("auditor", 403)]
)
def test_quality_decisions_are_for_stewards(client, org, cat, principal, expected):
    issue = _suspect(org)
    client.force_login(org.users[principal])
    decide = url("dataqualityissue_decide", issue.pk)
    assert client.get(decide).status_code == expected
    client.post(decide, {"decision": "confirm", "reason": "no"})
    assert DataQualityIssue.objects.get(pk=issue.pk).status == "open"


def test_confirm_action_through_the_changelist(client, org, cat):
    issue = _suspect(org)
    client.force_login(org.users["steward"])
    response = client.post(
        url("dataqualityissue_changelist"),
        {
            "action": "confirm_selected",
            "_selected_action": [str(issue.pk)],
            "confirm": "yes",
            "reason": "checked with the team",
        },
    )
    assert response.status_code == 302
    assert DataQualityIssue.objects.get(pk=issue.pk).status == "confirmed"


# -- API tokens --------------------------------------------------------------------


def test_token_secret_is_shown_once_and_only_its_hash_stored(client, org, cat):
    pytest.importorskip("metrics.tokens")
    import hashlib

    from metrics.models import ApiToken

    client.force_login(org.users["hr"])
    assert client.get(url("apitoken_add")).status_code == 200
    response = client.post(
        url("apitoken_add"), {"name": "Jira sync", "source": str(cat.jira.pk)}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    assert secret.startswith("pgp_") and secret in response.content.decode()
    token = ApiToken.objects.get()
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.created_by_id == org.users["hr"].pk
    # Never again: not on the token's page, not in the list, not in a message.
    for page in (
        client.get(url("apitoken_change", token.pk)),
        client.get(url("apitoken_changelist")),
    ):
        text = page.content.decode()
        assert secret not in text and token.secret_hash not in text
    assert said(response) == []


def test_token_issue_refusals_are_form_errors(client, org, cat):
    pytest.importorskip("metrics.tokens")
    from metrics.models import ApiToken

    client.force_login(org.users["hr"])
    response = client.post(
        url("apitoken_add"),
        {
            "name": "Jira sync",
            "source": str(cat.jira.pk),
            "expires_at_0": "2030-01-01",
            "expires_at_1": "00:00:00",
        },
    )
    assert response.status_code == 200
    assert "expire within" in str(response.context["adminform"].form.errors)
    assert not ApiToken.objects.exists()
    client.force_login(org.users["auditor"])
    assert client.get(url("apitoken_add")).status_code == 403


def test_revoke_token_through_the_changelist(client, org, cat):
    tokens = pytest.importorskip("metrics.tokens")
    issued = tokens.issue_token(actor=None, source=cat.jira, name="Jira sync")
    client.force_login(org.users["hr"])
    changelist = url("apitoken_changelist")
    selected = {"action": "revoke_selected", "_selected_action": [str(issued.token.pk)]}
    page = client.post(changelist, selected)
    assert page.status_code == 200 and b'name="reason"' in page.content
    response = client.post(changelist, {**selected, "confirm": "yes", "reason": "leak"})
    assert response.status_code == 302
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is not None


@pytest.mark.parametrize("principal", ["hr", "auditor", "naming_clerk"])
def test_app_index_links_the_catalogue_wide_analysis(client, org, cat, principal):
    from django.contrib.auth.models import Permission

    if principal == "naming_clerk":  # staff seeing the naming registry only
        user = make_user("naming_clerk")
        user.is_staff = True
        user.save()
        user.user_permissions.add(Permission.objects.get(codename="view_fieldname"))
    else:
        user = org.users[principal]
    shown = principal != "naming_clerk"
    client.force_login(user)
    page = client.get(reverse("admin:app_list", args=["metrics"]))
    assert page.status_code == 200
    text = page.content.decode()
    for name in ("exceptions", "alignment", "portfolio", "lineage", "freshness"):
        assert (reverse(f"admin:metrics_metric_{name}") in text) == shown
    if not shown:
        return
    # The same pages are linked from the list of metrics, the chart from each metric.
    listing = client.get(url("metric_changelist")).content.decode()
    assert reverse("admin:metrics_metric_exceptions") in listing
    change = client.get(url("metric_change", cat.calls.pk)).content.decode()
    chart = reverse("admin:metrics_metric_control_chart", args=[cat.calls.pk])
    assert f'<a href="{chart}">Control chart</a>' in change


# -- performance: no query per row -------------------------------------------------


def _many_observations(org, months: range) -> None:
    people = [org.people[k] for k in ("member_a1", "manager_a", "manager_b")]
    rows = [
        {
            "metric": "sales.calls_made",
            "employee_id": person.employee_id,
            "period_start": datetime.date(2020 + m // 12, m % 12 + 1, 1).isoformat(),
            "value": str(100 + m % 7),
        }
        for m in months
        for person in people
    ]
    rows += [
        {
            "metric": "support.resolution_rate",
            "team": team,
            "period_start": datetime.date(2020 + m // 12, m % 12 + 1, 1).isoformat(),
            "value": str(80 + m % 5),
        }
        for m in months
        for team in ("Team A", "Team B")
    ]
    services.record_observations(actor=None, rows=rows)


@pytest.mark.parametrize(
    "page", ["observation_changelist", "metric_changelist", "metrictarget_changelist"]
)
def test_changelists_cost_the_same_queries_for_few_and_many_rows(
    client, org, cat, page
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(org.users["hr"])
    counts = []
    for months in (range(2), range(2, 20)):  # 10 rows, then 100: two pages
        _many_observations(org, months)
        for n in months:
            MetricTarget.objects.create(metric=cat.calls, target=Decimal(100 + n))
        client.get(url(page))  # warm per-request caches alike
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url(page)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


# -- evaluations: status only through services -----------------------------------


def test_evaluation_status_is_not_editable_and_released_ones_are_read_only(client, org):
    """Releasing needs a bias assessment (release_evaluations) and holds come
    from appeals: neither can be done by editing the status in the admin."""
    import datetime as _dt
    from decimal import Decimal as _D

    from django.urls import reverse as _reverse

    from governance.services import save_governed
    from metrics.models import Evaluation

    evaluation = Evaluation(
        person=org.people["member_a1"],
        evaluator=org.people["manager_a"],
        period_start=_dt.date(2026, 1, 1),
        period_end=_dt.date(2026, 6, 30),
        weights={"quantitative": 1},
        components={"quantitative": 3},
        score=_D("3"),
        rationale="on target",
    )
    save_governed(evaluation, actor=None, reason="test")
    client.force_login(org.users["hr"])
    url = _reverse("admin:metrics_evaluation_change", args=[evaluation.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()  # shown, not editable
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status=Evaluation.Status.RELEASED
    )
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="score"' not in page.content.decode()
    response = client.post(url, {"score": "5", "change_reason": "bump"})
    assert response.status_code == 403
    evaluation.refresh_from_db()
    assert evaluation.score == _D("3")


@pytest.mark.parametrize("principal, pseudonymised", [("auditor", True), ("hr", False)])
def test_accounts_on_record_pages_are_named_as_the_viewer_may_see_them(
    client, org, cat, principal, pseudonymised
):
    """Who filed a change request and who entered a value: the username, or
    for an auditor the pseudonym of the person behind the account."""
    from governance import pseudonyms

    request = _pending(org, cat.calls, by="hr")
    (obs,) = services.record_observations(
        actor=org.users["hr"],
        rows=[
            {
                "metric": "support.resolution_rate",
                "team": "Team A",
                "period_start": "2024-01-01",
                "value": "0.9",
            }
        ],
    )
    hr_alias = pseudonyms.pseudonym(org.people["hr"].pk)
    client.force_login(org.users[principal])
    for page in (
        url("changerequest_change", request.pk),
        url("observation_change", obs.pk),
    ):
        html = client.get(page).content.decode()
        shown = 'readonly">hr<' in html
        assert shown is not pseudonymised, page
        assert (hr_alias in html) is pseudonymised, page
