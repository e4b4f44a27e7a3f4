"""The REST API: token ingestion (all or nothing, idempotent, throttled, scoped to
one data source), staff reads (scoped, masked, exports neutralised), change
control through PATCH, and the OpenAPI schema."""

from __future__ import annotations

import csv
import io
import json
import uuid
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from governance import pseudonyms
from governance.audit import chain
from governance.classification import Sensitivity
from governance.models import AuditEvent, Membership, Team
from governance.roles import Role
from governance.testing import make_person, make_user
from metrics import naming, services, tokens
from metrics.api import views
from metrics.models import ApiToken, IdempotencyRecord, Metric, Observation
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

BATCH = "/api/v1/observations/batch"
OBSERVATIONS = "/api/v1/observations/"
METRICS = "/api/v1/metrics/"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()  # throttle counters live in the cache
    yield
    cache.clear()


@pytest.fixture
def cat(org):
    return build_catalogue(org)


@pytest.fixture
def manual_token(org, cat):
    return tokens.issue_token(
        actor=org.users["hr"], source=cat.manual, name="CRM export", days=30
    )


@pytest.fixture
def jira_token(org, cat):
    return tokens.issue_token(
        actor=org.users["hr"], source=cat.jira, name="Jira sync", days=30
    )


def bearer(issued) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    return client


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def calls_row(org, who="member_a", **over):
    row = {
        "metric": "sales.calls_made",
        "employee_id": org.people[who].employee_id,
        "period_start": "2026-03-01",
        "value": 120,
    }
    row.update(over)
    return row


def post_batch(client, rows, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(BATCH, {"rows": rows}, format="json", **headers)


# -- ingestion -------------------------------------------------------------------


def test_batch_is_stored_through_the_service_with_issuer_as_history_user(
    org, cat, manual_token
):
    rows = [
        calls_row(org),
        calls_row(org, "member_a1", value="95"),
        calls_row(org, "member_b", value=7),
    ]
    response = post_batch(bearer(manual_token), rows)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["count"] == 3 and body["source"] == "manual"
    stored = Observation.objects.filter(pk__in=body["ids"])
    assert stored.count() == 3
    obs = stored.get(person=org.people["member_a"])
    assert obs.value == Decimal("120") and obs.value_plain is None  # sealed
    assert obs.source == cat.manual
    assert obs.entered_by_id == org.users["hr"].pk
    history = Observation.history.filter(id=obs.pk).get()
    assert history.history_user_id == org.users["hr"].pk
    assert manual_token.token.prefix in history.history_change_reason
    event = AuditEvent.objects.get(action="api.batch_ingested")
    assert event.data["count"] == 3 and event.object_id == str(manual_token.token.pk)
    assert chain.verify().ok


def test_one_bad_row_stores_nothing_and_every_row_error_is_returned(
    org, cat, manual_token
):
    rows = [
        calls_row(org),
        calls_row(org, "member_a1", value="12.5"),  # integer only
        calls_row(org, employee_id="NOPE"),
        calls_row(org, "member_b", period_start="2026-03-15"),  # not aligned
        "not an object",
        calls_row(org, period_start="2026-04-01", colour="blue"),  # unknown field
    ]
    response = post_batch(bearer(manual_token), rows)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "5 rows have errors; nothing was stored."
    by_row = {(e["row"], e["field"]) for e in body["errors"]}
    assert by_row == {
        (2, "value"),
        (3, "employee_id"),
        (4, "period_start"),
        (5, "row"),
        (6, "colour"),
    }
    assert Observation.objects.count() == 0
    assert Observation.history.count() == 0
    assert not AuditEvent.objects.filter(action="api.batch_ingested").exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([{"metric": "x"}], "Send a JSON object"),
        ({"rows": []}, "empty"),
        ({"rows": [{}], "extra": 1}, "Unknown top-level field(s): extra"),
        ({"rows": [{}] * 1001}, "at most 1000 rows"),
    ],
)
def test_malformed_batches_are_refused(org, cat, manual_token, body, message):
    response = bearer(manual_token).post(BATCH, body, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert Observation.objects.count() == 0


def test_oversized_body_is_refused_before_parsing(org, cat, manual_token):
    padding = "x" * (views.MAX_BODY_BYTES + 1)
    response = bearer(manual_token).post(
        BATCH, {"rows": [calls_row(org, metric=padding)]}, format="json"
    )
    assert response.status_code == 413


def test_retry_with_same_idempotency_key_stores_nothing_twice(org, cat, manual_token):
    client = bearer(manual_token)
    rows = [calls_row(org), calls_row(org, "member_a1", value=3)]
    key = str(uuid.uuid4())
    first = post_batch(client, rows, key)
    assert first.status_code == 201
    history_rows = Observation.history.count()
    again = post_batch(client, rows, key)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Observation.objects.count() == 2
    assert Observation.history.count() == history_rows
    assert IdempotencyRecord.objects.filter(key=key).count() == 1

    changed = post_batch(client, [calls_row(org, value=121)], key)
    assert changed.status_code == 422
    assert "already used for a different batch" in changed.json()["detail"]
    assert Observation.objects.count() == 2


def test_idempotency_keys_belong_to_their_token(org, cat, manual_token):
    other = tokens.issue_token(actor=None, source=cat.manual, name="Other", days=1)
    key = "batch-2026-03"
    assert post_batch(bearer(manual_token), [calls_row(org)], key).status_code == 201
    # The same key from another token is a different batch (here a duplicate period
    # in the data is still fine: only the batch itself must not repeat).
    response = post_batch(bearer(other), [calls_row(org, "member_a1")], key)
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


def test_rejected_batches_leave_no_idempotency_record(org, cat, manual_token):
    client = bearer(manual_token)
    key = "fix-and-retry"
    assert post_batch(client, [calls_row(org, value=-1)], key).status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert post_batch(client, [calls_row(org, value=1)], key).status_code == 201


def test_concurrent_duplicate_key_rolls_back_and_replays_the_winner(
    org, cat, manual_token, monkeypatch
):
    """The retry passed the lookup before the first request committed: the
    unique key makes its insert fail, its batch rolls back, it answers as the
    first one did."""
    client = bearer(manual_token)
    rows = [calls_row(org)]
    first = post_batch(client, rows, "race")
    assert first.status_code == 201
    monkeypatch.setattr(views, "stored_outcome", lambda token, key: None)
    second = post_batch(client, rows, "race")
    assert second.status_code == 201 and second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert Observation.objects.count() == 1
    assert chain.verify().ok


@pytest.mark.parametrize("key", ["", "x" * 101, "naïve"])
def test_bad_idempotency_keys_are_refused(org, cat, manual_token, key):
    response = bearer(manual_token).post(
        BATCH, {"rows": [calls_row(org)]}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400
    assert Observation.objects.count() == 0


def test_throttle_is_per_token_with_retry_after(org, cat, manual_token, jira_token):
    rates = {"api_token": "2/min", "api_user": "100/min"}
    with override_settings(
        REST_FRAMEWORK={
            **__import__("django.conf").conf.settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": rates,
        }
    ):
        client = bearer(manual_token)
        assert client.get(METRICS).status_code == 200
        assert client.get(METRICS).status_code == 200
        throttled = client.get(METRICS, REMOTE_ADDR="10.9.9.9")
        assert throttled.status_code == 429
        assert int(throttled.headers["Retry-After"]) > 0
        # The batch endpoint shares the token's budget.
        assert post_batch(client, [calls_row(org)]).status_code == 429
        assert Observation.objects.count() == 0
        # Another token from the same address is not affected.
        assert bearer(jira_token).get(METRICS).status_code == 200


def test_capture_guards_apply_to_api_batches(org, cat, manual_token):
    def guard(metric, person, team, start):
        return "No consent on record." if person else None

    services.register_capture_guard(guard)
    try:
        response = post_batch(bearer(manual_token), [calls_row(org)])
    finally:
        services._capture_guards.remove(guard)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "No consent on record."
    assert Observation.objects.count() == 0


# -- tokens: scope and validity ---------------------------------------------------------


def test_token_reaches_only_its_own_data_source(org, cat, jira_token):
    client = bearer(jira_token)
    listed = client.get(METRICS).json()
    assert [m["key"] for m in listed] == ["support.resolution_rate"]
    assert client.get(f"{METRICS}sales.calls_made/").status_code == 404
    assert client.get(f"{METRICS}support.resolution_rate/").status_code == 200
    response = post_batch(client, [calls_row(org)])
    assert response.status_code == 400
    assert "not fed by data source “jira”" in response.json()["errors"][0]["message"]
    assert Observation.objects.count() == 0
    team_row = {
        "metric": "support.resolution_rate",
        "team": "Team A",
        "period_start": "2026-03-01",
        "value": "87.5",
    }
    assert post_batch(client, [team_row]).status_code == 201


def test_tokens_never_reach_staff_endpoints(org, cat, manual_token):
    client = bearer(manual_token)
    services.record_observations(actor=None, rows=[calls_row(org)])
    response = client.get(OBSERVATIONS, {"metric": "sales.calls_made"})
    assert response.status_code in (401, 403)
    response = client.patch(
        f"{METRICS}sales.calls_made/", {"name": "x", "reason": "y"}, format="json"
    )
    assert response.status_code == 403
    assert Metric.objects.get(key="sales.calls_made").name == "Calls made"


@pytest.mark.parametrize(
    "state", ["expired", "revoked", "unknown", "malformed", "none"]
)
def test_invalid_tokens_get_401(org, cat, manual_token, state):
    client = APIClient()
    secret = manual_token.secret
    if state == "expired":
        ApiToken.objects.filter(pk=manual_token.token.pk).update(
            expires_at=timezone.now() - timezone.timedelta(seconds=1)
        )
    elif state == "revoked":
        tokens.revoke_token(actor=None, token=manual_token.token, reason="leaked")
    elif state == "unknown":
        secret = secret[:-4] + "abcd"
    if state == "malformed":
        client.credentials(HTTP_AUTHORIZATION="Bearer two words")
    elif state != "none":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = post_batch(client, [calls_row(org)])
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert Observation.objects.count() == 0


def test_token_of_a_deactivated_issuer_writes_nothing(org, cat, manual_token):
    hr = org.users["hr"]
    hr.is_active = False
    hr.save()
    response = post_batch(bearer(manual_token), [calls_row(org)])
    assert response.status_code == 403
    assert "no longer active" in response.json()["detail"]
    assert Observation.objects.count() == 0


def test_issuer_permissions_still_bound_the_token(org, cat):
    """A steward's token feeds only the steward's metrics, even within the source."""
    issued = tokens.issue_token(actor=None, source=cat.manual, name="Steward's", days=1)
    ApiToken.objects.filter(pk=issued.token.pk).update(
        created_by_id=org.users["manager"].pk  # managers may not record observations
    )
    response = post_batch(bearer(issued), [calls_row(org)])
    assert response.status_code == 403
    assert Observation.objects.count() == 0


# -- naming standard -----------------------------------------------------------------


def test_aliases_of_the_tokens_system_are_mapped(org, cat, jira_token):
    metric = naming.field_define(
        actor=None, name="metric", definition="Metric key", reason="standard"
    )
    team = naming.field_define(
        actor=None, name="team", definition="Team", reason="standard"
    )
    naming.alias_add(
        actor=None, field=metric, system="jira", alias="kpi", reason="jira"
    )
    naming.alias_add(
        actor=None, field=team, system="jira", alias="squad", reason="jira"
    )
    row = {"kpi": "support.resolution_rate", "squad": "Team A"}
    row |= {"period_start": "2026-03-01", "value": 90}
    response = post_batch(bearer(jira_token), [row])
    assert response.status_code == 201, response.json()
    assert Observation.objects.get().team.name == "Team A"


def test_unknown_and_foreign_aliases_are_rejected_by_name(org, cat, manual_token):
    team = naming.field_define(
        actor=None, name="team", definition="Team", reason="standard"
    )
    naming.alias_add(
        actor=None, field=team, system="jira", alias="squad", reason="jira"
    )
    # "squad" is Jira's name; this token's source is manual entry.
    row = calls_row(org) | {"squad": "Team A", "assignee": "x"}
    response = post_batch(bearer(manual_token), [row])
    assert response.status_code == 400
    messages = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert set(messages) == {"squad", "assignee"}
    assert messages["assignee"].startswith("Unknown field “assignee”. Known fields:")


# -- staff reads: scoped and masked -------------------------------------------------------


@pytest.fixture
def observed(org, cat):
    rows = [
        calls_row(org, "member_a", value=10),
        calls_row(org, "member_a1", value=20),
        calls_row(org, "member_b", value=30),
    ]
    return services.record_observations(actor=None, rows=rows)


# role -> (status, employee ids seen, masked?)
READ_MATRIX = {
    "hr": (200, {"member_a", "member_a1", "member_b"}, False),
    "compliance": (200, {"member_a", "member_a1", "member_b"}, False),
    "auditor": (200, {"member_a", "member_a1", "member_b"}, False),
    "steward": (200, {"member_a", "member_a1", "member_b"}, False),
    "manager": (200, {"member_a", "member_a1"}, False),
    "metric_owner": (200, set(), False),
    "board": (200, set(), False),  # sees the metric, no observation rows
    "employee": (403, None, None),  # not staff: self-service is /me/
    "nobody": (403, None, None),
}


@pytest.mark.parametrize("role", sorted(READ_MATRIX))
def test_observation_reads_are_scoped_by_role(org, cat, observed, role):
    expected_status, expected_people, masked = READ_MATRIX[role]
    response = session(org.users[role]).get(
        OBSERVATIONS, {"metric": "sales.calls_made"}
    )
    assert response.status_code == expected_status
    if expected_status != 200:
        return
    results = response.json()["results"]
    if role == "auditor":  # auditors see pseudonyms (governance.pseudonyms)
        by_person = {pseudonyms.pseudonym(p.pk): key for key, p in org.people.items()}
    else:
        by_person = {p.employee_id: key for key, p in org.people.items()}
    assert {by_person[r["employee_id"]] for r in results} == expected_people
    for r in results:
        assert (r["masked"] is not None) is masked
        assert r["value"] is not None


def test_values_above_clearance_are_masked_never_plaintext(org, cat, observed):
    # A manager of team A whose clearance is below Confidential.
    person = make_person(org.sales, org.us, name="Low Clearance")
    low = make_user(
        "low_manager2", Role.MANAGER, clearance=Sensitivity.INTERNAL, person=person
    )
    team_a = Team.objects.get(pk=org.team_a.pk)
    team_a.manager = person
    from governance.services import save_governed

    save_governed(team_a, actor=None, reason="new manager")
    response = session(low).get(OBSERVATIONS, {"metric": "sales.calls_made"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 2
    assert all(r["value"] is None and r["masked"] == "Confidential" for r in results)
    assert "10" not in json.dumps([r["value"] for r in results])


def test_restricted_values_are_masked_in_lists_even_with_clearance(org, cat):
    services.metric_update(
        actor=None,
        metric=cat.draft,
        changes={"sensitivity": Sensitivity.RESTRICTED},
        reason="health data",
    )
    services.metric_transition(
        actor=None, metric=cat.draft, status="active", reason="approved"
    )
    services.record_observations(
        actor=None,
        rows=[
            {
                "metric": "sales.demo_count",
                "employee_id": org.people["member_a"].employee_id,
                "period_start": "2026-03-01",
                "value": 4,
            }
        ],
    )
    for role in ("compliance", "hr"):
        (row,) = (
            session(org.users[role])
            .get(OBSERVATIONS, {"metric": "sales.demo_count"})
            .json()["results"]
        )
        assert row["value"] is None and row["masked"] == "Restricted"


def test_observation_list_pages_with_a_cursor(org, cat):
    rows = [
        calls_row(org, period_start=f"2025-{m:02d}-01", value=m) for m in range(1, 8)
    ]
    services.record_observations(actor=None, rows=rows)
    client = session(org.users["hr"])
    page = client.get(OBSERVATIONS, {"metric": "sales.calls_made", "page_size": 3})
    seen = [r["id"] for r in page.json()["results"]]
    while page.json()["next"]:
        page = client.get(page.json()["next"])
        seen += [r["id"] for r in page.json()["results"]]
    assert sorted(seen, reverse=True) == seen and len(set(seen)) == 7


def test_observation_list_needs_a_known_metric(org, cat):
    client = session(org.users["hr"])
    assert client.get(OBSERVATIONS).status_code == 400
    assert client.get(OBSERVATIONS, {"metric": "no.such"}).status_code == 404
    bad = client.get(OBSERVATIONS, {"metric": "sales.calls_made", "status": "x"})
    assert bad.status_code == 400


# -- exports ---------------------------------------------------------------------------


@pytest.fixture
def hostile_team(org, cat):
    team = Team.objects.create(
        name='=HYPERLINK("http://evil","x")', department=org.sales
    )
    Membership.objects.create(person=org.people["member_a"], team=team)
    services.record_observations(
        actor=None,
        rows=[
            {
                "metric": "support.resolution_rate",
                "team": str(team.pk),
                "period_start": "2026-03-01",
                "value": "55",
            }
        ],
    )
    return team


def test_csv_export_neutralises_formulas_and_is_audited(org, cat, hostile_team):
    response = session(org.users["hr"]).get(
        OBSERVATIONS, {"metric": "support.resolution_rate", "format": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = response.content.decode("utf-8-sig")
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["team"] == "'" + hostile_team.name
    assert row["value"] == "55.0000"
    event = AuditEvent.objects.get(action="observations.exported")
    assert event.data == {"rows": 1, "format": "csv"}


def test_xlsx_export_neutralises_formulas(org, cat, hostile_team):
    from openpyxl import load_workbook

    response = session(org.users["hr"]).get(
        OBSERVATIONS, {"metric": "support.resolution_rate", "format": "xlsx"}
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("team") + 1)
    assert cell.value == "'" + hostile_team.name and cell.data_type == "s"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Team A", "Team A"),
        (Decimal("-12.5"), Decimal("-12.5")),  # numbers stay numbers
        (None, ""),
    ],
)
def test_every_formula_trigger_is_neutralised(cell, expected):
    from metrics.api import exports

    assert exports.neutralise(cell) == expected
    (row,) = list(
        csv.reader(io.StringIO(exports.csv_bytes(["c"], [[cell]]).decode("utf-8-sig")))
    )[1:]
    assert row == [str(expected)]


def test_exports_are_masked_like_the_list(org, cat, observed):
    person = make_person(org.sales, org.us, name="Low Clearance")
    low = make_user("low", Role.MANAGER, clearance=Sensitivity.INTERNAL, person=person)
    team_a = Team.objects.get(pk=org.team_a.pk)
    team_a.manager = person
    from governance.services import save_governed

    save_governed(team_a, actor=None, reason="new manager")
    response = session(low).get(
        OBSERVATIONS, {"metric": "sales.calls_made", "format": "csv"}
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 2
    assert all(r["value"] == "" and r["masked"] == "Confidential" for r in rows)


# -- metric definitions: change control --------------------------------------------------

# role -> status of a non-governed edit of sales.calls_made
EDIT_MATRIX = {
    "hr": 200,
    "steward": 200,  # steward of the metric
    "compliance": 403,
    "auditor": 403,
    "manager": 403,
    "metric_owner": 403,  # owns no metric (no person record)
    "board": 403,
    "employee": 403,
    "nobody": 403,
}


@pytest.mark.parametrize("role", sorted(EDIT_MATRIX))
def test_metric_edit_matrix(org, cat, role):
    response = session(org.users[role]).patch(
        f"{METRICS}sales.calls_made/",
        {"description": "Outbound calls logged in the CRM", "reason": "clarify"},
        format="json",
    )
    assert response.status_code == EDIT_MATRIX[role], response.content
    metric = Metric.objects.get(key="sales.calls_made")
    changed = metric.description == "Outbound calls logged in the CRM"
    assert changed is (EDIT_MATRIX[role] == 200)
    if changed:
        latest = metric.history.order_by("-history_id").first()
        assert latest.history_change_reason == "clarify"
        assert latest.history_user_id == org.users[role].pk


def test_governed_field_of_active_metric_is_refused_with_409(org, cat):
    client = session(org.users["steward"])
    response = client.patch(
        f"{METRICS}sales.calls_made/",
        {"unit": "contacts", "reason": "rename unit"},
        format="json",
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "change_control_required"
    assert "change request" in body["detail"]
    assert Metric.objects.get(key="sales.calls_made").unit == "calls"
    # A draft metric is edited directly.
    response = client.patch(
        f"{METRICS}sales.demo_count/",
        {"unit": "meetings", "reason": "x"},
        format="json",
    )
    assert response.status_code == 200 and response.json()["unit"] == "meetings"


def test_metric_edit_needs_a_reason_and_valid_values(org, cat):
    client = session(org.users["hr"])
    url = f"{METRICS}sales.demo_count/"
    assert client.patch(url, {"unit": "x"}, format="json").status_code == 400
    bad_rules = client.patch(
        url, {"validation_rules": {"colour": 1}, "reason": "x"}, format="json"
    )
    assert bad_rules.status_code == 400
    status = client.patch(url, {"status": "active", "reason": "x"}, format="json")
    assert status.status_code == 400  # status is not editable here


def test_session_csrf_is_enforced_for_edits(org, cat):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(org.users["hr"])
    response = client.patch(
        f"{METRICS}sales.demo_count/", {"unit": "x", "reason": "y"}, format="json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# -- schema ---------------------------------------------------------------------------


def test_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/v1/observations/batch" in target.read_text()


def test_schema_documents_error_responses(org, manual_token):
    response = bearer(manual_token).get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    batch = schema["paths"]["/api/v1/observations/batch"]["post"]
    assert {"201", "400", "401", "403", "413", "422", "429"} <= set(batch["responses"])
    patch = schema["paths"]["/api/v1/metrics/{key}/"]["patch"]
    assert {"200", "400", "403", "404", "409", "429"} <= set(patch["responses"])
    assert schema["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
    assert APIClient().get("/api/v1/schema/").status_code in (401, 403)


def test_a_retired_source_takes_no_more_batches(org, cat, manual_token):
    from governance.services import save_governed

    cat.manual.lifecycle = "retired"
    save_governed(cat.manual, actor=None, reason="CRM replaced")
    response = post_batch(bearer(manual_token), [calls_row(org)])
    assert response.status_code == 403
    assert "retired" in response.json()["detail"]
    assert Observation.objects.count() == 0


# -- the service's batch builder (optimised for the API path) -------------------------


def test_batch_builder_makes_what_the_single_builder_makes(org, cat):
    rows = [
        calls_row(org, value=5),
        {
            "metric": "support.resolution_rate",
            "team": "Team A",
            "period_start": "2026-03-01",
            "value": "87.5",
        },
        calls_row(org, "member_a1", value=6),
    ]
    prepared, errors = services.validate_rows(rows, source=None, actor=None)
    assert errors == []
    now = timezone.now()
    keys = {"marker": object()}
    fast = services._build_many(prepared, source=None, actor=None, now=now, keys=keys)
    for row, obs in zip(prepared, fast, strict=True):
        slow = services._build(
            row, source=row.metric.source, actor=None, now=now, keys=keys
        )
        fast_attrs = {k: v for k, v in obs.__dict__.items() if k != "_state"}
        slow_attrs = {k: v for k, v in slow.__dict__.items() if k != "_state"}
        assert fast_attrs == slow_attrs
        assert obs._state.fields_cache == slow._state.fields_cache
        assert obs._state.adding and obs._state.db is None
        assert obs.__dict__["_pgp_deks"] is keys
    assert fast[0]._state is not fast[2]._state


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_store_one_batch(on_postgres, monkeypatch):
    """Both pass the lookup before either commits; the unique key decides."""
    import threading

    from django.db import connections

    from governance.testing import build_org

    org = build_org()
    cat = build_catalogue(org)
    issued = tokens.issue_token(
        actor=org.users["hr"], source=cat.manual, name="CRM", days=1
    )
    barrier = threading.Barrier(2, timeout=30)
    real_lookup = views.stored_outcome

    def lookup_then_wait(token, key):
        found = real_lookup(token, key)
        barrier.wait()
        return found

    monkeypatch.setattr(views, "stored_outcome", lookup_then_wait)
    rows = [calls_row(org)]
    answers = []

    def send():
        try:
            response = post_batch(bearer(issued), rows, "same-key")
            answers.append((response.status_code, response.json(), response.headers))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [a[0] for a in answers] == [201, 201]
    assert answers[0][1] == answers[1][1]
    assert sum("Idempotent-Replayed" in a[2] for a in answers) == 1
    assert Observation.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert chain.verify().ok
