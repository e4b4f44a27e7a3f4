"""Informed consent (M8.3): records, the capture guard, withdrawal, self-service."""

from __future__ import annotations

import datetime

import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance import consent, services
from governance.crypto.fields import ERASED
from governance.models import AuditEvent, ConsentPurpose, ConsentRecord, Person
from metrics import services as metric_services
from metrics.models import Observation
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

PURPOSE = consent.DEFAULT_PURPOSE


@pytest.fixture
def cat(org):
    # Nobody has consented yet: the tests decide who does.
    return build_catalogue(org, consent=False)


def _row(person: Person, **over):
    row = {
        "metric": "sales.calls_made",
        "employee_id": person.employee_id,
        "period_start": "2026-03-01",
        "value": "120",
    }
    row.update(over)
    return row


def _give(org, key="member_a"):
    """member_a gives consent on their own page (as the employee account)."""
    person = org.people[key]
    user = org.users["employee"] if key == "member_a" else None
    return consent.give_consent(
        actor=user,
        person=person,
        purpose=PURPOSE,
        evidence="" if user else "signed form #1",
    )


# -- purposes ------------------------------------------------------------------------


def test_default_purpose_comes_from_the_data_migration_or_is_recreated():
    purpose = consent.ensure_default_purpose()
    assert purpose.code == PURPOSE
    assert purpose.text_version == 1
    assert "withdraw" in purpose.description
    assert ConsentPurpose.objects.filter(code=PURPOSE).count() == 1


def test_new_text_is_a_new_version_and_reconsent_retires_older_consents(org):
    record = _give(org)
    purpose = record.purpose
    actor = org.users["compliance"]
    consent.purpose_update(
        actor=actor, purpose=purpose, reason="typo", description="Clearer text."
    )
    purpose.refresh_from_db()
    assert (purpose.text_version, purpose.min_text_version) == (2, 1)
    # An editorial change: the old consent still counts, but is shown as outdated.
    assert consent.active_consent(org.people["member_a"], PURPOSE) == record
    state = next(
        s for s in consent.own_consents(org.people["member_a"]) if s.purpose == purpose
    )
    assert state.outdated

    consent.purpose_update(
        actor=actor,
        purpose=purpose,
        reason="now also used for bonuses",
        description="Used for bonuses too.",
        reconsent=True,
    )
    assert consent.active_consent(org.people["member_a"], PURPOSE) is None
    with pytest.raises(ValidationError, match="needs a new consent text"):
        consent.purpose_update(
            actor=actor, purpose=purpose, reason="again", reconsent=True
        )
    assert AuditEvent.objects.filter(action="consent.purpose_changed").count() == 2


@pytest.mark.parametrize(
    ("user_key", "allowed"),
    [
        ("compliance", True),
        ("admin", True),
        ("hr", False),
        ("employee", False),
        ("board", False),
        ("auditor", False),
    ],
)
def test_who_may_define_purposes(org, user_key, allowed):
    define = lambda: consent.purpose_create(  # noqa: E731
        actor=org.users[user_key],
        code="wellbeing_survey",
        name="Well-being survey",
        description="Answers are used to plan workload.",
    )
    if allowed:
        assert define().code == "wellbeing_survey"
    else:
        with pytest.raises(PermissionDenied):
            define()


# -- records ---------------------------------------------------------------------------


def test_employee_gives_consent_with_history_and_an_audit_event(org):
    before = timezone.now()
    record = _give(org)
    assert record.person == org.people["member_a"]
    assert record.lawful_basis == ConsentRecord.LawfulBasis.CONSENT
    assert record.obtained_via == ConsentRecord.Method.SELF_SERVICE
    assert record.text_version == record.purpose.text_version
    assert before <= record.given_at <= timezone.now()
    assert "self-service page" in ConsentRecord.objects.get(pk=record.pk).evidence
    assert consent.active_consent(org.people["member_a"], PURPOSE) == record
    history = list(record.history.all())
    assert len(history) == 1
    assert history[0].history_change_reason.startswith("consent given (self")
    event = AuditEvent.objects.get(action="consent.given")
    assert event.object_id == str(record.pk)
    assert event.data["purpose"] == PURPOSE
    assert event.actor_id == org.users["employee"].pk
    # Giving again on the same text changes nothing.
    assert _give(org) == record
    assert ConsentRecord.objects.count() == 1


def test_consent_text_changed_while_reading_is_refused(org):
    purpose = consent.ensure_default_purpose()
    with pytest.raises(ValidationError, match="changed while you were reading"):
        consent.give_consent(
            actor=org.users["employee"],
            person=org.people["member_a"],
            purpose=purpose,
            text_version=purpose.text_version + 1,
        )
    assert not ConsentRecord.objects.exists()


@pytest.mark.parametrize("user_key", ["employee", "hr", "manager", "board", "auditor"])
def test_nobody_else_gives_or_withdraws_for_a_person(org, user_key):
    other = org.people["member_b"]  # not linked to any of these accounts
    with pytest.raises(PermissionDenied):
        consent.give_consent(
            actor=org.users[user_key], person=other, purpose=PURPOSE, evidence="x"
        )
    consent.give_consent(actor=None, person=other, purpose=PURPOSE, evidence="form")
    with pytest.raises(PermissionDenied):
        consent.withdraw_consent(
            actor=org.users[user_key], person=other, purpose=PURPOSE, reason="x"
        )
    assert consent.active_consent(other, PURPOSE) is not None


def test_compliance_records_consent_only_with_evidence(org):
    person, actor = org.people["member_b"], org.users["compliance"]
    with pytest.raises(ValidationError, match="how consent was obtained"):
        consent.give_consent(actor=actor, person=person, purpose=PURPOSE)
    given = timezone.now() - datetime.timedelta(days=3)
    record = consent.give_consent(
        actor=actor,
        person=person,
        purpose=PURPOSE,
        obtained_via=ConsentRecord.Method.PAPER,
        evidence="Signed form, HR file 2026/114",
        given_at=given,
    )
    assert record.obtained_via == "paper"
    assert record.given_at == given
    assert record.recorded_by_id == actor.pk
    with pytest.raises(ValidationError, match="future"):
        consent.give_consent(
            actor=actor,
            person=org.people["member_a"],
            purpose=PURPOSE,
            evidence="x",
            given_at=timezone.now() + datetime.timedelta(days=1),
        )


def test_withdrawal_takes_effect_at_once_and_keeps_the_record(org):
    record = _give(org)
    person = org.people["member_a"]
    withdrawn = consent.withdraw_consent(
        actor=org.users["employee"], person=person, purpose=PURPOSE
    )
    assert withdrawn.pk == record.pk
    assert withdrawn.withdrawn_at is not None
    assert consent.active_consent(person, PURPOSE) is None
    # ... but it was in force before the withdrawal (the record stays).
    assert consent.active_consent(person, PURPOSE, at=record.given_at) == record
    assert AuditEvent.objects.filter(action="consent.withdrawn").count() == 1
    with pytest.raises(ValidationError, match="no consent"):
        consent.withdraw_consent(
            actor=org.users["employee"], person=person, purpose=PURPOSE
        )
    # Giving it again opens a new record; the old one stays withdrawn.
    again = _give(org)
    assert again.pk != record.pk
    assert ConsentRecord.objects.get(pk=record.pk).withdrawn_at is not None


def test_expired_consent_no_longer_counts_and_renewal_links_records(org):
    person, actor = org.people["member_b"], org.users["compliance"]
    given = timezone.now() - datetime.timedelta(days=400)
    old = consent.give_consent(
        actor=actor,
        person=person,
        purpose=PURPOSE,
        evidence="form",
        given_at=given,
        expires_at=given + datetime.timedelta(days=365),
    )
    assert consent.active_consent(person, PURPOSE) is None
    assert consent.active_consent(person, PURPOSE, at=given.date()) == old
    new = consent.give_consent(
        actor=actor, person=person, purpose=PURPOSE, evidence="renewal form"
    )
    old.refresh_from_db()
    assert old.superseded_by == new
    assert consent.active_consent(person, PURPOSE) == new


def test_one_open_record_per_person_and_purpose_is_a_database_rule(org):
    record = _give(org)
    duplicate = ConsentRecord(
        person=record.person,
        purpose=record.purpose,
        text_version=1,
        given_at=timezone.now(),
        evidence="x",
    )
    duplicate._change_reason = "test"
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_erasure_shreds_the_evidence_but_keeps_the_dates(org):
    person = org.people["member_b"]
    record = consent.give_consent(
        actor=None, person=person, purpose=PURPOSE, evidence="Signed by Bea Other"
    )
    services.person_erase(person=person, actor=org.users["compliance"], reason="DSAR")
    reread = ConsentRecord.objects.get(pk=record.pk)
    assert reread.evidence is ERASED
    assert reread.given_at == record.given_at
    with connection.cursor() as cursor:
        cursor.execute("SELECT evidence FROM governance_consentrecord")
        assert "Bea Other" not in cursor.fetchone()[0]


# -- the capture guard -------------------------------------------------------------------


def test_capture_without_consent_is_refused_naming_person_and_purpose(org, cat):
    person = org.people["member_a"]  # Germany: consent required
    with pytest.raises(metric_services.BatchRejected) as caught:
        metric_services.record_observations(actor=org.users["hr"], rows=[_row(person)])
    (error,) = caught.value.errors
    assert error.field == "employee_id"
    assert person.employee_id in error.message
    assert f"“{PURPOSE}”" in error.message
    assert not Observation.objects.exists()


def test_capture_with_consent_is_stored_and_stops_at_withdrawal(org, cat):
    person = org.people["member_a"]
    _give(org)
    stored = metric_services.record_observations(
        actor=org.users["hr"], rows=[_row(person)]
    )
    assert len(stored) == 1
    consent.withdraw_consent(
        actor=org.users["employee"], person=person, purpose=PURPOSE
    )
    with pytest.raises(metric_services.BatchRejected, match=person.employee_id):
        metric_services.record_observations(
            actor=org.users["hr"], rows=[_row(person, period_start="2026-04-01")]
        )
    assert Observation.objects.count() == 1


def test_one_refused_person_rejects_the_whole_batch(org, cat):
    a, a1 = org.people["member_a"], org.people["member_a1"]  # a1: Texas, not required
    with pytest.raises(metric_services.BatchRejected) as caught:
        metric_services.record_observations(
            actor=org.users["hr"], rows=[_row(a1), _row(a)]
        )
    assert [e.row for e in caught.value.errors] == [2]
    assert not Observation.objects.exists()
    # Without consent required, nothing is asked.
    assert metric_services.record_observations(actor=org.users["hr"], rows=[_row(a1)])


def test_team_level_data_needs_no_personal_consent(org, cat):
    stored = metric_services.record_observations(
        actor=org.users["hr"],
        rows=[
            {
                "metric": "support.resolution_rate",
                "team": "Team A",
                "period_start": "2026-03-01",
                "value": "80",
            }
        ],
    )
    assert len(stored) == 1


def test_metric_naming_another_purpose_needs_consent_for_that_purpose(org, cat):
    purpose = consent.purpose_create(
        actor=None,
        code="sales_coaching",
        name="Sales coaching",
        description="Coaching.",
    )
    metric_services.metric_update(
        actor=None,
        metric=cat.calls,
        changes={"consent_purpose": purpose},
        reason="coaching data",
    )
    _give(org)  # performance_tracking only
    person = org.people["member_a"]
    with pytest.raises(metric_services.BatchRejected, match="sales_coaching"):
        metric_services.record_observations(actor=org.users["hr"], rows=[_row(person)])
    consent.give_consent(
        actor=org.users["employee"], person=person, purpose="sales_coaching"
    )
    assert metric_services.record_observations(
        actor=org.users["hr"], rows=[_row(person)]
    )


def test_single_observation_path_is_guarded_too(org, cat):
    """record_observation: the admin form's and connectors' one-row path."""
    with pytest.raises(metric_services.BatchRejected, match="no active consent"):
        metric_services.record_observation(
            actor=org.users["hr"], **_row(org.people["member_a"])
        )


def test_source_scoped_batches_are_guarded_too(org, cat):
    """The API and connectors pass their data source; the guard still runs."""
    prepared, errors = metric_services.validate_rows(
        [_row(org.people["member_a"])], source=cat.manual, actor=None
    )
    assert prepared == []
    assert "no active consent" in errors[0].message


def test_guard_costs_the_same_queries_for_five_or_fifty_rows(org, cat):
    people = [
        org.people["member_a"],
        org.people["member_b"],
    ]
    for person in people:
        consent.give_consent(actor=None, person=person, purpose=PURPOSE, evidence="f")

    def count(n: int) -> int:
        rows = [
            _row(people[i % 2], period_start=f"{2000 + i // 2}-01-01") for i in range(n)
        ]
        with CaptureQueriesContext(connection) as ctx:
            prepared, errors = metric_services.validate_rows(
                rows, source=None, actor=None
            )
        assert errors == [] and len(prepared) == n
        return len(ctx.captured_queries)

    assert count(5) == count(50)


# -- figures computed after withdrawal -----------------------------------------------------


def test_excluded_subjects_follow_consent_at_the_time_of_computing(org):
    a, b, a1 = org.people["member_a"], org.people["member_b"], org.people["member_a1"]
    everyone = [a.pk, b.pk, a1.pk]
    assert consent.excluded_subjects(PURPOSE, everyone) == {a.pk, b.pk}
    record = _give(org)
    assert consent.excluded_subjects(PURPOSE, everyone) == {b.pk}
    consent.withdraw_consent(actor=org.users["employee"], person=a, purpose=PURPOSE)
    assert consent.excluded_subjects(PURPOSE, everyone) == {a.pk, b.pk}
    # A figure as of when consent was in force would have included them.
    assert consent.excluded_subjects(PURPOSE, everyone, at=record.given_at) == {b.pk}
    keep, exclusion = consent.apply_exclusions(PURPOSE, [str(p) for p in everyone])
    assert keep == {a1.pk}
    assert exclusion.excluded == 2
    assert "2 people left out" in exclusion.note
    assert consent.excluded_subjects(PURPOSE, []) == set()


def test_statistics_count_records_without_personal_data(org):
    _give(org)
    consent.give_consent(
        actor=None, person=org.people["member_b"], purpose=PURPOSE, evidence="f"
    )
    consent.withdraw_consent(
        actor=org.users["employee"], person=org.people["member_a"], purpose=PURPOSE
    )
    (row,) = [r for r in consent.statistics() if r["purpose"] == PURPOSE]
    assert row == {
        "purpose": PURPOSE,
        "text_version": 1,
        "in_force": 1,
        "withdrawn": 1,
        "records": 2,
    }


# -- self-service ------------------------------------------------------------------------

ME = "/me/"
ACTION = "/me/consent/"


def test_section_shows_text_state_and_a_form_with_csrf(client, org):
    client.force_login(org.users["employee"])
    html = client.get(ME).content.decode()
    assert 'id="consent"' in html
    assert 'data-purpose="performance_tracking"' in html
    assert "Not given" in html
    assert "csrfmiddlewaretoken" in html
    assert f'action="{ACTION}"' in html
    assert "<script" not in html.split('id="consent"')[1].split("</section>")[0]


def test_give_and_withdraw_on_the_page_post_redirect_get(client, org):
    person = org.people["member_a"]
    client.force_login(org.users["employee"])
    # Not ticking the box records nothing.
    response = client.post(
        ACTION, {"action": "give", "purpose": PURPOSE, "text_version": "1"}
    )
    assert response.status_code == 302
    assert consent.active_consent(person, PURPOSE) is None
    assert "Tick the box" in client.get(ME).content.decode()

    response = client.post(
        ACTION,
        {"action": "give", "purpose": PURPOSE, "text_version": "1", "agree": "on"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/me/#consent"
    assert consent.active_consent(person, PURPOSE) is not None
    html = client.get(ME).content.decode()
    assert "is recorded" in html
    assert "Withdraw consent" in html

    response = client.post(ACTION, {"action": "withdraw", "purpose": PURPOSE})
    assert response.status_code == 302
    assert consent.active_consent(person, PURPOSE) is None
    html = client.get(ME).content.decode()
    assert "is withdrawn" in html
    assert "You withdrew it on" in html
    assert "My consent history (1)" in html


def test_the_action_needs_post_login_a_linked_record_and_csrf(client, org):
    assert client.get(ACTION).status_code in (302, 405)
    response = client.post(ACTION, {"action": "withdraw", "purpose": PURPOSE})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    client.force_login(org.users["compliance"])  # no employee record
    assert (
        client.post(ACTION, {"action": "withdraw", "purpose": PURPOSE}).status_code
        == 403
    )
    client.force_login(org.users["employee"])
    assert client.get(ACTION).status_code == 405

    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(org.users["employee"])
    response = strict.post(
        ACTION,
        {"action": "give", "purpose": PURPOSE, "text_version": "1", "agree": "on"},
    )
    assert response.status_code == 403
    assert not ConsentRecord.objects.exists()


# -- admin -------------------------------------------------------------------------------


def test_compliance_records_consent_in_the_admin_with_evidence(client, org):
    client.force_login(org.users["compliance"])
    url = reverse("admin:governance_consentrecord_add")
    purpose = consent.ensure_default_purpose()
    data = {
        "person": str(org.people["member_b"].pk),
        "purpose": str(purpose.pk),
        "lawful_basis": "consent",
        "obtained_via": "paper",
        "given_at_0": timezone.localtime().strftime("%Y-%m-%d"),
        "given_at_1": "00:00:00",
        "evidence": "",
    }
    response = client.post(url, data)
    assert response.status_code == 200  # evidence is required
    assert not ConsentRecord.objects.exists()
    data["evidence"] = "Signed form, HR file 2026/115"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    record = ConsentRecord.objects.get()
    assert record.obtained_via == "paper"
    assert record.recorded_by_id == org.users["compliance"].pk
    assert AuditEvent.objects.filter(action="consent.given").count() == 1


def test_admin_withdraw_action_asks_for_a_reason_then_withdraws(client, org):
    record = _give(org)
    client.force_login(org.users["compliance"])
    url = reverse("admin:governance_consentrecord_changelist")
    base = {"action": "withdraw_selected", "_selected_action": [str(record.pk)]}
    response = client.post(url, base)
    assert response.status_code == 200
    assert "Withdraw consent" in response.content.decode()
    assert consent.active_consent(record.person, PURPOSE) is not None
    response = client.post(url, {**base, "confirm": "yes", "reason": "email of 3 May"})
    assert response.status_code == 302
    assert consent.active_consent(record.person, PURPOSE) is None
    assert AuditEvent.objects.get(action="consent.withdrawn").reason == "email of 3 May"


def test_consent_records_are_never_edited_in_the_admin(client, org):
    record = _give(org)
    model_admin = admin.site._registry[ConsentRecord]
    client.force_login(org.users["compliance"])
    response = client.get(
        reverse("admin:governance_consentrecord_change", args=[record.pk])
    )
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    request = response.wsgi_request
    assert not model_admin.has_delete_permission(request, record)


# -- who reads consent records ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_key", "sees"),
    [
        ("compliance", {"member_a", "member_b"}),
        ("auditor", {"member_a", "member_b"}),
        ("admin", {"member_a", "member_b"}),
        ("employee", {"member_a"}),  # their own, nobody else's
        ("manager", set()),  # line managers never learn who withdrew
        ("steward", set()),
        ("hr", set()),
        ("board", set()),
        ("metric_owner", set()),
        ("nobody", set()),
    ],
)
def test_consent_records_are_scoped(org, user_key, sees):
    for key in ("member_a", "member_b"):
        consent.give_consent(
            actor=None, person=org.people[key], purpose=PURPOSE, evidence="form"
        )
    visible = ConsentRecord.objects.visible_to(org.users[user_key], "view")
    assert {r.person_id for r in visible} == {org.people[k].pk for k in sees}
    assert not ConsentRecord.objects.visible_to(
        org.users["employee"], "change"
    ).exists()


# -- every capture path refuses without consent (same validate_rows underneath) -----------


def test_api_batch_without_consent_is_refused(org, cat):
    from rest_framework.test import APIClient

    from metrics import tokens

    issued = tokens.issue_token(
        actor=org.users["hr"], source=cat.manual, name="CRM export", days=30
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    person = org.people["member_a"]
    row = {**_row(person), "value": 120}
    response = api.post("/api/v1/observations/batch", {"rows": [row]}, format="json")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert person.employee_id in error["message"] and PURPOSE in error["message"]
    assert not Observation.objects.exists()
    _give(org)
    response = api.post("/api/v1/observations/batch", {"rows": [row]}, format="json")
    assert response.status_code == 201
    assert Observation.objects.count() == 1


def test_admin_add_observation_without_consent_is_refused(client, org, cat):
    person = org.people["member_a"]
    client.force_login(org.users["hr"])
    url = reverse("admin:metrics_observation_add")
    data = {
        "metric": str(cat.calls.pk),
        "person": str(person.pk),
        "period_start": "2026-03-01",
        "value": "12",
        "change_reason": "from the call log",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors)
    assert person.employee_id in errors and PURPOSE in errors
    assert not Observation.objects.exists()
    _give(org)
    assert client.post(url, data).status_code == 302
    assert Observation.objects.count() == 1


def test_admin_import_without_consent_stores_nothing(client, org, cat):
    from django.core.files.uploadedfile import SimpleUploadedFile

    a, a1 = org.people["member_a"], org.people["member_a1"]
    content = (
        "metric,employee_id,period_start,value\n"
        f"sales.calls_made,{a1.employee_id},2026-03-01,95\n"
        f"sales.calls_made,{a.employee_id},2026-03-01,120\n"
    ).encode()
    client.force_login(org.users["hr"])
    url = reverse("admin:metrics_observation_import")
    response = client.post(
        url,
        {
            "file": SimpleUploadedFile("march.csv", content, "text/csv"),
            "reason": "March",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert a.employee_id in html and "no active consent" in html
    assert not Observation.objects.exists()
