"""Auditors see stable pseudonyms instead of who people are (Auditor role).

Role × outcome: an auditor sees ``P-xxxxxxxx`` for a person's name, e-mail
and employee id on every admin page built on the masking layer (changelist,
change view, history, autocomplete, related-row labels); HR, compliance and an
auditor explicitly granted ``governance.view_identities`` see the identities.
"""

from __future__ import annotations

import uuid

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.test import override_settings
from django.urls import reverse

from governance import pseudonyms, services
from governance.models import Person
from governance.roles import Role
from governance.testing import make_user

pytestmark = pytest.mark.django_db


def test_pseudonym_is_stable_keyed_and_short():
    pid = uuid.uuid4()
    alias = pseudonyms.pseudonym(pid)
    assert alias == pseudonyms.pseudonym(str(pid)) == pseudonyms.pseudonym(pid)
    assert alias.startswith("P-") and len(alias) == 10
    assert pseudonyms.pseudonym(uuid.uuid4()) != alias
    with override_settings(PSEUDONYM_SECRET="another-key"):
        assert pseudonyms.pseudonym(pid) != alias  # keyed: not recomputable


def _granted_auditor() -> object:
    user = make_user("auditor_granted", Role.AUDITOR)
    user.user_permissions.add(
        Permission.objects.get(
            codename="view_identities", content_type__app_label="governance"
        )
    )
    return user


def _viewer(org, principal):
    if principal == "auditor_granted":
        return _granted_auditor()
    return org.users[principal]


@pytest.mark.parametrize(
    "principal, pseudonymised",
    [
        ("auditor", True),
        ("auditor_granted", False),
        ("hr", False),
        ("compliance", False),
        ("admin", False),
    ],
)
def test_who_sees_pseudonyms(org, principal, pseudonymised):
    assert pseudonyms.sees_pseudonyms(_viewer(org, principal)) is pseudonymised


def test_auditor_with_another_role_sees_identities(org):
    user = make_user("auditor_hr", Role.AUDITOR)
    user.groups.add(*org.users["hr"].groups.all())
    assert pseudonyms.sees_pseudonyms(user) is False


PAGES = ["changelist", "change", "history", "autocomplete", "membership"]


def _url(page: str, person: Person) -> str:
    if page == "changelist":
        return reverse("admin:governance_person_changelist")
    if page == "change":
        return reverse("admin:governance_person_change", args=[quote(person.pk)])
    if page == "history":
        return reverse("admin:governance_person_history", args=[quote(person.pk)])
    if page == "membership":
        return reverse("admin:governance_membership_changelist")
    query = "app_label=governance&model_name=membership&field_name=person&term="
    return reverse("admin:autocomplete") + "?" + query


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    "principal, pseudonymised",
    [("auditor", True), ("auditor_granted", False), ("hr", False)],
)
def test_admin_pages_show_pseudonyms_to_auditors(
    client, org, page, principal, pseudonymised
):
    person = org.people["member_a"]
    services.person_update(
        person=Person.objects.get(pk=person.pk),
        actor=None,
        reason="rename",
        changes={"full_name": "Ann Renamed"},
    )
    client.force_login(_viewer(org, principal))
    response = client.get(_url(page, person))
    assert response.status_code == 200
    html = response.content.decode()
    alias = pseudonyms.pseudonym(person.pk)
    identities = [person.employee_id, "Ann Renamed", "Ann Member"]
    if page in ("changelist", "change", "autocomplete", "membership"):
        identities.remove("Ann Member")  # only history holds the old name
    if page == "change":
        identities.append(person.email)
    if pseudonymised:
        assert alias in html
        for value in identities:
            assert value not in html, (page, value)
    else:
        assert alias not in html
        assert identities[0] in html


def test_pseudonymised_copy_cannot_be_saved(org):
    person = Person.objects.get(pk=org.people["member_a"].pk)
    from governance import display

    display.apply_masks(person, org.users["auditor"])
    assert str(person) == pseudonyms.pseudonym(person.pk)
    assert person.employee_id == pseudonyms.pseudonym(person.pk)
    with pytest.raises(ValueError, match="pseudonymised"):
        person.save()
    assert Person.objects.get(pk=person.pk).employee_id != person.employee_id


def test_identity_permission_is_not_in_the_auditor_group(org):
    from governance.roles import ROLES

    assert pseudonyms.IDENTITY_PERMISSION not in ROLES[Role.AUDITOR].permissions
    assert not org.users["auditor"].has_perm(pseudonyms.IDENTITY_PERMISSION)


@pytest.mark.parametrize("principal", ["auditor", "hr"])
def test_auditors_search_by_pseudonym_never_by_identity(client, org, principal):
    """Searching a known employee id would link it to its pseudonym."""
    person = org.people["member_a"]
    client.force_login(org.users[principal])
    url = reverse("admin:governance_membership_changelist")

    def found(term):
        response = client.get(url, {"q": term})
        assert response.status_code == 200
        return {m.person_id for m in response.context["cl"].result_list}

    alias = pseudonyms.pseudonym(person.pk)
    if principal == "auditor":
        assert found(person.employee_id) == set()
        assert found(alias) == {person.pk}
        assert found(alias[:6]) >= {person.pk}  # a prefix of P- and 4 characters
        assert found("Team A1") == {org.people["member_a1"].pk}  # other fields work
    else:
        assert found(person.employee_id) == {person.pk}
        assert found(alias) == set()


def test_consent_records_show_pseudonyms_to_auditors(client, org):
    from governance import consent

    person = org.people["member_a"]
    consent.give_consent(
        actor=None, person=person, purpose=consent.DEFAULT_PURPOSE, evidence="form"
    )
    client.force_login(org.users["auditor"])
    html = client.get(reverse("admin:governance_consentrecord_changelist")).content
    html = html.decode()
    assert pseudonyms.pseudonym(person.pk) in html
    assert "Ann Member" not in html and person.employee_id not in html


def test_auditor_has_no_admin_action_that_writes(rf, org):
    """Read-only everywhere: no bulk action on any admin the auditor can open
    (they all need add/change/delete)."""
    from django.contrib import admin

    request = rf.get("/admin/")
    request.user = org.users["auditor"]
    offered = {}
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_or_change_permission(request):
            continue  # the changelist is a 403: no action can run
        actions = set(model_admin.get_actions(request))
        if actions:
            offered[model._meta.label_lower] = sorted(actions)
    assert offered == {}


READABLE = [
    "metrics.methodologyversion",  # methodology
    "metrics.changerequest",
    "metrics.metric",
    "governance.proposal",  # board decisions
    "governance.ballot",
    "governance.vote",
    "governance.consentrecord",  # consent
    "governance.consentpurpose",
    "governance.auditevent",  # the audit trail
]


@pytest.mark.parametrize("label", READABLE)
def test_auditor_reads_methodology_decisions_consent_and_history(client, org, label):
    """View permission and a 200 changelist; never add, change or delete."""
    from django.apps import apps
    from django.contrib import admin

    model = apps.get_model(label)
    user = org.users["auditor"]
    app, name = label.split(".")
    for action, allowed in (("view", True), ("add", False), ("change", False)):
        assert user.has_perm(f"{app}.{action}_{name}") is allowed, action
    assert not user.has_perm(f"{app}.delete_{name}")
    client.force_login(user)
    response = client.get(reverse(f"admin:{app}_{name}_changelist"))
    assert response.status_code == 200
    request = response.wsgi_request
    model_admin = admin.site._registry[model]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
