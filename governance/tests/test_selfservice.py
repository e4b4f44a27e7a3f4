"""The self-service area at /me/: an employee's own data, and nobody else's."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils.html import escape

from governance import demo, services, views
from governance.classification import Sensitivity
from governance.models import AuditEvent, Person, User
from governance.testing import PASSWORD

pytestmark = pytest.mark.django_db

URL = "/me/"
NOT_LINKED = "No employee record is linked to your account"


def _appears(text: str, html: str) -> bool:
    return text in html or escape(text) in html


def _page(client, user) -> str:
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


# -- who sees what: role x outcome ---------------------------------------------

# user key -> person key of their own record (None: account not linked)
LINKS = {
    "hr": "hr",
    "compliance": None,
    "steward": "steward_sales",
    "metric_owner": None,
    "board": None,
    "manager": "manager_a",
    "employee": "member_a",
    "auditor": None,
    "nobody": None,
    "admin": None,
}


@pytest.mark.parametrize("user_key", sorted(LINKS))
def test_each_account_sees_only_its_own_record(client, org, user_key):
    html = _page(client, org.user(user_key))
    own_key = LINKS[user_key]
    own = org.people[own_key] if own_key else None
    if own is None:
        assert NOT_LINKED in html
        assert 'id="profile"' not in html
    else:
        assert NOT_LINKED not in html
        assert _appears(own.full_name, html)
        assert _appears(own.email, html)
        assert own.employee_id in html
    manager = own.manager if own is not None else None
    for key, person in org.people.items():
        if key == own_key or (manager is not None and person.pk == manager.pk):
            continue
        assert not _appears(person.full_name, html), (user_key, person.full_name)
        assert not _appears(person.email, html), (user_key, person.email)


def test_employee_sees_their_record_teams_manager_and_jurisdiction(client, org):
    html = _page(client, org.user("employee"))
    me = org.people["member_a"]
    assert f'data-field="full_name">{me.full_name}<' in html
    assert 'data-field="manager">Mara Manager<' in html
    assert "Sales" in html and "Team A" in html
    assert "Germany" in html
    assert 'data-field="consent_required"><span class="badge ok">Required' in html


def test_employee_reads_their_own_restricted_values(client, org):
    html = _page(client, org.user("employee"))
    assert 'data-field="gender">female<' in html
    assert 'data-field="ethnicity">group-x<' in html
    assert 'data-field="date_of_birth">2 January 1990<' in html
    assert "••••••" not in html
    event = AuditEvent.objects.get(action="restricted.read")
    assert event.object_id == str(org.people["member_a"].pk)
    assert event.actor_id == org.user("employee").pk
    assert event.data["via"] == "self-service"


def test_consent_not_required_outside_consent_jurisdictions(client, org):
    html = _page(client, org.user("manager"))  # Mara Manager works in Texas
    assert "Texas" in html
    assert 'data-field="consent_required"><span class="badge off">Not required' in html


def test_manager_name_is_masked_above_the_viewers_clearance(client, org):
    boss = org.people["manager_a"]
    boss.classification = Sensitivity.CONFIDENTIAL
    services.save_governed(boss, actor=None, reason="test: raise classification")
    html = _page(client, org.user("employee"))  # clearance Internal
    assert not _appears(boss.full_name, html)
    assert 'data-field="manager">•••••• (Confidential)<' in html


# -- who gets in ---------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/me/")


def test_sign_in_through_allauth_lands_on_own_page(client, org):
    response = client.post(
        "/accounts/login/", {"login": "employee", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == URL
    html = client.get(URL).content.decode()
    assert _appears(org.people["member_a"].full_name, html)


def test_deactivated_user_is_refused_mid_session(client, org):
    user = org.user("employee")
    client.force_login(user)
    assert client.get(URL).status_code == 200
    services.user_deactivate(user=user, actor=None, reason="test: left")
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_deactivated_user_cannot_sign_in(client, org):
    user = org.user("employee")
    services.user_deactivate(user=user, actor=None, reason="test: left")
    client.post("/accounts/login/", {"login": "employee", "password": PASSWORD})
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_erased_person_account_is_refused(client, org):
    user = org.user("employee")
    client.force_login(user)
    services.person_erase(
        person=org.people["member_a"], actor=org.user("compliance"), reason="DSAR"
    )
    response = client.get(URL)
    assert response.status_code == 302


# -- sections: the extension point -----------------------------------------------


def test_registered_sections_render_and_can_hide(client, org):
    views.register_section(
        views.Section(
            "test-shown",
            "Shown section",
            "governance/selfservice/sections/teams.html",
            order=90,
            context=lambda request, profile: {"x": 1},
        )
    )
    views.register_section(
        views.Section(
            "test-hidden",
            "Hidden section",
            "governance/selfservice/sections/teams.html",
            order=91,
            context=lambda request, profile: None,
        )
    )
    try:
        html = _page(client, org.user("employee"))
    finally:
        views.unregister_section("test-shown")
        views.unregister_section("test-hidden")
    assert 'id="test-shown"' in html and "Shown section" in html
    assert 'id="test-hidden"' not in html and "Hidden section" not in html
    assert html.index('id="profile"') < html.index('id="test-shown"')


def test_unlinked_account_sees_no_sections(client, org):
    called = []
    views.register_section(
        views.Section(
            "test-probe",
            "Probe",
            "governance/selfservice/sections/teams.html",
            context=lambda request, profile: called.append(profile) or {},
        )
    )
    try:
        html = _page(client, org.user("auditor"))
    finally:
        views.unregister_section("test-probe")
    assert NOT_LINKED in html
    assert called == []


# -- on the demo organisation ----------------------------------------------------


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())


@pytest.mark.parametrize(
    ("username", "consent"), [("employee", "Required"), ("employee_us", "Not required")]
)
def test_demo_employee_sees_only_themselves(client, seeded, username, consent):
    user = User.objects.get(username=username)
    me = Person.objects.select_related("manager").get(user=user)
    html = _page(client, user)
    assert _appears(me.full_name, html)
    assert 'data-field="consent_required"><span class="badge ' in html
    assert f">{consent}</span>" in html
    assert _appears(me.manager.full_name, html)
    others = Person.objects.exclude(pk__in=[me.pk, me.manager_id])
    assert others.count() >= 60
    for person in others:
        assert not _appears(person.full_name, html), person.full_name
        assert not _appears(person.email, html), person.email


def test_demo_admin_is_told_the_account_is_not_linked(client, seeded):
    html = _page(client, User.objects.get(username="admin"))
    assert NOT_LINKED in html
    assert demo.COMPANY_DOMAIN not in html.replace("admin@" + demo.COMPANY_DOMAIN, "")
