"""Masking below clearance in the admin (G.CLS).

A value above the reader's clearance is shown as "••••••" wherever the admin
would render it: change pages, read-only fields, list columns, labels of
related rows (dropdowns, autocomplete, list columns), the history view's rows
and diffs. The plaintext never reaches the HTML, saving a form leaves the
masked values' ciphertext as it was, list pages never show Restricted
plaintext at all, and a cleared reader's view of Restricted plaintext is
logged as ``restricted.read``.
"""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from governance import pseudonyms, services
from governance.classification import Sensitivity
from governance.models import AuditEvent, Person
from governance.roles import Role
from governance.testing import make_user
from governance.tests.test_admin_matrix import form_data

pytestmark = pytest.mark.django_db

MASK = "••••••"
RESTRICTED_SECRETS = {
    "gender": "Secret-Gender-A",
    "ethnicity": "Secret-Ethnicity-A",
    "disability": "Secret-Disability-A",
}
DOB = datetime.date(1990, 1, 2)
DOB_RENDERINGS = ["1990-01-02", "Jan. 2, 1990", "02/01/1990", "01/02/1990"]
ENCRYPTED = ["full_name", "email", "date_of_birth", "gender", "ethnicity", "disability"]


@pytest.fixture
def secrets(org):
    """member_a has Restricted demographics; member_b is a Confidential record
    that was renamed (so both names are in its history); hr_low is HR staff
    cleared for Internal only."""
    services.person_update(
        person=org.people["member_a"],
        actor=None,
        reason="demographics survey",
        changes=RESTRICTED_SECRETS,
    )
    _classify(org.people["member_b"], Sensitivity.CONFIDENTIAL)
    services.person_update(
        person=Person.objects.get(pk=org.people["member_b"].pk),
        actor=None,
        reason="name change",
        changes={"full_name": "Bea Renamed"},
    )
    org.users["hr_low"] = make_user("hr_low", Role.HR, clearance=Sensitivity.INTERNAL)
    return org


def _classify(person: Person, level: int) -> None:
    person = Person.objects.get(pk=person.pk)
    person.classification = level
    services.save_governed(person, actor=None, reason="reclassified")


def _get(client: Any, user: Any, url: str, **params: Any) -> Any:
    client.force_login(user)
    response = client.get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response


def _change_url(obj: Any) -> str:
    opts = obj._meta
    return reverse(
        f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)]
    )


def _history_url(obj: Any) -> str:
    opts = obj._meta
    return reverse(
        f"admin:{opts.app_label}_{opts.model_name}_history", args=[quote(obj.pk)]
    )


def _raw(person: Person) -> dict[str, Any]:
    """The stored tokens of a person's encrypted columns."""
    return dict(Person.objects.filter(pk=person.pk).values(*ENCRYPTED).get())


def _restricted_reads(user: Any, person: Person) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action="restricted.read", actor_id=user.pk, object_id=str(person.pk)
        )
    )


def assert_hidden(html: str, *secrets: str) -> None:
    leaked = [s for s in secrets if s in html]
    assert not leaked, f"plaintext above clearance in the page: {leaked}"


# -- change pages -----------------------------------------------------------


def test_restricted_demographics_are_masked_on_the_change_page(client, secrets):
    member_a = secrets.people["member_a"]
    for key in ("hr_low", "hr", "auditor", "manager"):
        html = _get(client, secrets.users[key], _change_url(member_a)).content.decode()
        assert_hidden(html, *RESTRICTED_SECRETS.values(), *DOB_RENDERINGS)
        assert f"{MASK} (Restricted)" in html, key
        if key == "auditor":  # auditors see a pseudonym (governance.pseudonyms)
            assert "Ann Member" not in html
            assert pseudonyms.pseudonym(member_a.pk) in html
        else:
            assert "Ann Member" in html, key  # Internal: within every staff clearance


def test_masked_fields_are_read_only_and_not_in_the_form(client, secrets):
    response = _get(
        client, secrets.users["hr"], _change_url(secrets.people["member_a"])
    )
    form = response.context["adminform"].form
    assert response.context["has_change_permission"]
    assert {"full_name", "email", "status"} <= set(form.fields)
    assert not {"gender", "ethnicity", "disability", "date_of_birth"} & set(form.fields)


def test_confidential_record_is_masked_below_clearance(client, secrets):
    member_b = secrets.people["member_b"]
    low = _get(client, secrets.users["hr_low"], _change_url(member_b)).content.decode()
    assert_hidden(low, "Bea Renamed", "Bea Other", member_b.email)
    assert f"{MASK} (Confidential)" in low
    high = _get(client, secrets.users["hr"], _change_url(member_b)).content.decode()
    assert "Bea Renamed" in high and member_b.email in high


def test_restricted_clearance_reads_plaintext_and_the_read_is_logged(client, secrets):
    member_a, compliance = secrets.people["member_a"], secrets.users["compliance"]
    assert not _restricted_reads(compliance, member_a)
    html = _get(client, compliance, _change_url(member_a)).content.decode()
    for secret in RESTRICTED_SECRETS.values():
        assert secret in html
    assert MASK not in html
    reads = _restricted_reads(compliance, member_a)
    assert len(reads) == 1
    assert reads[0].data["via"] == "admin"
    assert set(reads[0].data["fields"]) == {
        "date_of_birth",
        "gender",
        "ethnicity",
        "disability",
    }
    # Below Restricted nothing is read, so nothing is logged.
    _get(client, secrets.users["hr"], _change_url(member_a))
    assert not _restricted_reads(secrets.users["hr"], member_a)


def test_readonly_relations_show_masked_labels(client, secrets):
    """The auditor reads member_a's page; her manager's record is Restricted."""
    _classify(secrets.people["manager_a"], Sensitivity.RESTRICTED)
    html = _get(
        client, secrets.users["auditor"], _change_url(secrets.people["member_a"])
    ).content.decode()
    assert_hidden(html, "Mara Manager", secrets.people["manager_a"].employee_id)
    # The auditor's label for the manager is their pseudonym.
    assert pseudonyms.pseudonym(secrets.people["manager_a"].pk) in html


# -- saving a form with masked values ----------------------------------------------


def test_saving_the_form_leaves_masked_ciphertext_unchanged(client, secrets):
    member_a, member_b = secrets.people["member_a"], secrets.people["member_b"]
    hr_low = secrets.users["hr_low"]
    for person, masked in (
        (member_a, ["gender", "ethnicity", "disability", "date_of_birth"]),
        (member_b, ENCRYPTED),
    ):
        before = _raw(person)
        response = _get(client, hr_low, _change_url(person))
        data = form_data(response)
        data.update(hire_date="2022-05-05", change_reason="corrected hire date")
        # A crafted POST can't write a masked value either.
        data.update({name: "Injected" for name in masked if name != "date_of_birth"})
        data["date_of_birth"] = "2000-12-31"
        response = client.post(_change_url(person), data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        after = _raw(person)
        for name in masked:
            assert after[name] == before[name], name
        fresh = Person.objects.get(pk=person.pk)
        assert fresh.hire_date == datetime.date(2022, 5, 5)
        assert fresh.history.first().history_change_reason == "corrected hire date"
    assert Person.objects.get(pk=member_a.pk).gender == "Secret-Gender-A"
    assert Person.objects.get(pk=member_b.pk).full_name == "Bea Renamed"


# -- lists, labels and autocomplete ---------------------------------------------


def test_changelists_never_show_restricted_plaintext(client, secrets):
    _classify(secrets.people["hr"], Sensitivity.RESTRICTED)
    compliance = secrets.users["compliance"]
    url = reverse("admin:governance_person_changelist")
    html = _get(client, compliance, url).content.decode()
    assert_hidden(html, "Hal HR", *RESTRICTED_SECRETS.values())
    assert f"{MASK} (Restricted)" in html
    assert "Ann Member" in html  # Internal, unmasked
    assert not AuditEvent.objects.filter(action="restricted.read").exists()
    low = _get(client, secrets.users["hr_low"], url).content.decode()
    assert_hidden(low, "Hal HR", "Bea Renamed")


def test_related_columns_of_changelists_are_masked(client, secrets):
    for key in ("manager_b", "steward_sales"):
        _classify(secrets.people[key], Sensitivity.CONFIDENTIAL)
    hr_low = secrets.users["hr_low"]
    for model in ("team", "department", "membership"):
        html = _get(
            client, hr_low, reverse(f"admin:governance_{model}_changelist")
        ).content.decode()
        assert_hidden(html, "Ben Boss", "Stew Ard", "Bea Renamed")
    teams = _get(client, hr_low, reverse("admin:governance_team_changelist"))
    assert f"{MASK} (Confidential)" in teams.content.decode()
    assert "Mara Manager" in teams.content.decode()  # Internal manager of Team A


def test_autocomplete_labels_are_masked(client, secrets):
    query = urlencode(
        {"app_label": "governance", "model_name": "team", "field_name": "manager"}
    )
    url = f"{reverse('admin:autocomplete')}?{query}"
    client.force_login(secrets.users["hr_low"])
    results = {r["id"]: r["text"] for r in client.get(url).json()["results"]}
    member_b = secrets.people["member_b"]
    assert (
        results[str(member_b.pk)] == f"{member_b.employee_id} · {MASK} (Confidential)"
    )
    assert results[str(secrets.people["member_a"].pk)].endswith("Ann Member")
    client.force_login(secrets.users["hr"])
    results = {r["id"]: r["text"] for r in client.get(url).json()["results"]}
    assert results[str(member_b.pk)].endswith("Bea Renamed")


def test_dropdown_labels_are_masked(client, secrets):
    """The selected manager's label is rendered into the change form."""
    _classify(secrets.people["manager_b"], Sensitivity.CONFIDENTIAL)
    hr_low = secrets.users["hr_low"]
    for obj in (secrets.team_b, secrets.people["member_b"]):
        html = _get(client, hr_low, _change_url(obj)).content.decode()
        assert_hidden(html, "Ben Boss")
        assert secrets.people["manager_b"].employee_id in html
    html = _get(
        client, secrets.users["hr"], _change_url(secrets.team_b)
    ).content.decode()
    assert "Ben Boss" in html


# -- history -------------------------------------------------------------------------


def test_history_rows_and_diffs_are_masked(client, secrets):
    member_a, member_b = secrets.people["member_a"], secrets.people["member_b"]
    hr_low = secrets.users["hr_low"]
    html = _get(client, hr_low, _history_url(member_b)).content.decode()
    assert_hidden(html, "Bea Renamed", "Bea Other", member_b.email)
    assert "name change" in html  # the version is listed...
    assert f"Full name:</strong>\n                    {MASK} (Confidential)" in html
    html = _get(client, hr_low, _history_url(member_a)).content.decode()
    assert_hidden(html, *RESTRICTED_SECRETS.values(), "female", "group-x")
    assert f"Gender:</strong>\n                    {MASK} (Restricted)" in html
    assert not AuditEvent.objects.filter(action="restricted.read").exists()


def test_cleared_history_shows_plaintext_diffs_and_logs_the_read(client, secrets):
    member_a, compliance = secrets.people["member_a"], secrets.users["compliance"]
    html = _get(client, compliance, _history_url(member_a)).content.decode()
    assert "Secret-Gender-A" in html and "female" in html
    reads = _restricted_reads(compliance, member_a)
    assert reads and {e.data["via"] for e in reads} == {"admin-history"}
