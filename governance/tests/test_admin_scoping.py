"""Object-level scoping in the admin, door by door (G.RBAC).

The matrix in ``test_admin_matrix`` says who may open which URL; these tests
walk the other ways in: a manager of Team A trying every URL, search,
autocomplete, inline and filter to reach Team B; writes by real POSTs (change
forms, inlines, changelist actions) against rows outside the writer's scope;
the account access view; and non-staff users, who get no admin at all.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.urls import reverse

from governance.models import (
    AuditEvent,
    DataKey,
    Department,
    Membership,
    Person,
    Team,
    User,
)
from governance.tests.test_admin_matrix import PRINCIPALS, form_data, login, outcome

pytestmark = pytest.mark.django_db


def _url(obj_or_model: Any, view: str, *args: Any) -> str:
    opts = obj_or_model._meta
    if not args and not isinstance(obj_or_model, type):
        args = (obj_or_model.pk,)
    return reverse(
        f"admin:{opts.app_label}_{opts.model_name}_{view}",
        args=[quote(a) for a in args],
    )


def _autocomplete(model: str, field: str, term: str) -> str:
    query = {
        "app_label": "governance",
        "model_name": model,
        "field_name": field,
        "term": term,
    }
    return f"{reverse('admin:autocomplete')}?{urlencode(query)}"


@pytest.fixture
def crossed(org):
    """member_a (Team A) also joins Team B: her Team B membership is Team B's."""
    org.crossed = Membership.objects.create(
        person=org.people["member_a"], team=org.team_b, role="guest"
    )
    return org


def _team_b_objects(org: Any) -> list[Any]:
    return [
        org.people["member_b"],
        org.people["manager_b"],
        org.team_b,
        org.product,
        *Membership.objects.filter(team=org.team_b),
    ]


# -- a manager of Team A gets nothing of Team B ---------------------------------


def test_manager_of_team_a_opens_no_url_of_team_b(client, crossed):
    login(client, crossed, "manager")
    for obj in _team_b_objects(crossed):
        for view in ("change", "history"):
            response = client.get(_url(obj, view))
            assert outcome(response) == "gone", (obj, view)
            assert str(obj) not in response.content.decode()
        # No delete permission at all: refused before the row is even looked up.
        assert outcome(client.get(_url(obj, "delete"))) == "denied"
        version = obj.history.first()
        response = client.get(_url(obj, "simple_history", obj.pk, version.pk))
        assert response.status_code == 404


def test_manager_lists_search_and_autocomplete_nothing_of_team_b(client, crossed):
    login(client, crossed, "manager")
    hidden = {(type(o), str(o.pk)) for o in _team_b_objects(crossed)}
    for model in (Person, Team, Department, Membership):
        response = client.get(_url(model, "changelist"))
        shown = {(model, str(o.pk)) for o in response.context["cl"].result_list}
        assert shown and not shown & hidden, model
    member_b = crossed.people["member_b"]
    for model, term in ((Person, member_b.employee_id), (Team, "Team B")):
        response = client.get(_url(model, "changelist"), {"q": term})
        assert list(response.context["cl"].result_list) == [], (model, term)
    response = client.get(_url(Person, "changelist"), {"q": "T"})
    found = {str(o.pk) for o in response.context["cl"].result_list}
    assert found == {
        str(crossed.people[k].pk) for k in ("manager_a", "member_a", "member_a1")
    }
    for source, field, target, term in (
        ("team", "manager", Person, member_b.employee_id),
        ("person", "manager", Person, ""),
        ("membership", "team", Team, "Team"),
        ("team", "department", Department, ""),
    ):
        results = client.get(_autocomplete(source, field, term)).json()["results"]
        found = {(target, r["id"]) for r in results}
        assert found or term, (source, field)  # not vacuous: Team A rows come back
        assert not found & hidden, (source, field)
    html = client.get(_url(Person, "changelist")).content.decode()
    assert f"department__id__exact={crossed.product.pk}" not in html


def test_inline_rows_outside_scope_are_not_shown(client, crossed):
    member_a = crossed.people["member_a"]
    login(client, crossed, "manager")
    response = client.get(_url(member_a, "change"))
    (inline,) = response.context["inline_admin_formsets"]
    teams = {form.instance.team for form in inline.formset.forms}
    assert teams == {crossed.team_a}
    assert "Team B" not in response.content.decode()
    login(client, crossed, "hr")
    response = client.get(_url(member_a, "change"))
    (inline,) = response.context["inline_admin_formsets"]
    assert {form.instance.team for form in inline.formset.forms} == {
        crossed.team_a,
        crossed.team_b,
    }


# -- writes by real POSTs ------------------------------------------------------


def test_steward_changes_only_their_own_department(client, org):
    login(client, org, "steward")
    sales_form = form_data(client.get(_url(org.sales, "change")))
    data = {**sales_form, "name": "Renamed", "change_reason": "rebrand"}
    response = client.post(_url(org.product, "change"), data)
    assert outcome(response) == "gone"
    assert Department.objects.get(pk=org.product.pk).name == "Product"
    # Their own department, but pointing its steward at someone out of scope.
    response = client.post(
        _url(org.sales, "change"),
        {**data, "steward": str(org.people["member_b"].pk)},
    )
    assert response.status_code == 200
    assert "steward" in response.context["adminform"].form.errors
    assert Department.objects.get(pk=org.sales.pk).name == "Sales"
    response = client.post(_url(org.sales, "change"), data)
    assert response.status_code == 302
    sales = Department.objects.get(pk=org.sales.pk)
    assert sales.name == "Renamed"
    assert sales.history.first().history_change_reason == "rebrand"


def test_inline_edits_are_saved_with_the_reason(client, org):
    member_a = org.people["member_a"]
    login(client, org, "hr")
    data = form_data(client.get(_url(member_a, "change")))
    (role_key,) = [k for k in data if k.endswith("-0-role")]
    data.update({role_key: "lead", "change_reason": "promoted to lead"})
    response = client.post(_url(member_a, "change"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    membership = Membership.objects.get(person=member_a, team=org.team_a)
    assert membership.role == "lead"
    assert membership.history.first().history_change_reason == "promoted to lead"
    assert membership.history.first().history_user_id == org.users["hr"].pk


def test_delete_action_never_reaches_rows_outside_scope(client, crossed):
    """A manager granted delete on memberships still deletes only their teams'."""
    manager = crossed.users["manager"]
    manager.user_permissions.add(Permission.objects.get(codename="delete_membership"))
    own = Membership.objects.get(person=crossed.people["member_a1"])
    theirs = Membership.objects.get(person=crossed.people["member_b"])
    login(client, crossed, "manager")
    assert outcome(client.get(_url(theirs, "delete"))) == "gone"
    response = client.post(_url(theirs, "delete"), {"post": "yes"})
    assert outcome(response) == "gone"
    response = client.post(
        _url(Membership, "changelist"),
        {
            "action": "delete_selected",
            ACTION_CHECKBOX_NAME: [own.pk, theirs.pk, crossed.crossed.pk],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=own.pk).exists()
    assert (
        Membership.objects.filter(pk__in=[theirs.pk, crossed.crossed.pk]).count() == 2
    )


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_only_compliance_may_erase_a_person(client, org, principal):
    """The changelist action end to end: offered, confirmed, run (or not)."""
    may_erase = principal in {
        "compliance",
        "admin",
    }  # the superuser holds every permission
    target = org.people["member_b"]
    login(client, org, principal)
    url = _url(Person, "changelist")
    listing = client.get(url)
    if listing.status_code == 200:
        assert ('value="erase_selected"' in listing.content.decode()) == may_erase
    first = client.post(
        url, {"action": "erase_selected", ACTION_CHECKBOX_NAME: [target.pk]}
    )
    if may_erase:
        assert first.status_code == 200
        assert list(first.context["people"]) == [target]
    client.post(
        url,
        {
            "action": "erase_selected",
            ACTION_CHECKBOX_NAME: [target.pk],
            "confirm": "yes",
            "reason": "DSAR-42",
        },
    )
    target = Person.objects.get(pk=target.pk)
    assert (target.erased_at is not None) == may_erase
    assert (DataKey.objects.get(subject=target.pk).wrapped is None) == may_erase
    assert (
        AuditEvent.objects.filter(
            action="person.erased", object_id=str(target.pk)
        ).exists()
        == may_erase
    )


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_only_superusers_open_the_account_access_view(client, org, principal):
    target = org.users["manager"]
    login(client, org, principal)
    url = reverse("admin:governance_user_access", args=[target.pk])
    expected = {
        "anonymous": "login",
        "nobody": "login",
        "employee": "login",
        "admin": "ok",
    }
    assert outcome(client.get(url)) == expected.get(principal, "denied")
    response = client.post(url, {"roles": ["HR staff"], "clearance": 3, "reason": "x"})
    target = User.objects.get(pk=target.pk)
    changed = set(target.groups.values_list("name", flat=True)) == {"HR staff"}
    assert changed == (principal == "admin"), outcome(response)


@pytest.mark.parametrize("principal", ["anonymous", "nobody", "employee"])
def test_non_staff_get_no_admin_at_all(client, org, principal):
    login(client, org, principal)
    urls = [
        reverse("admin:index"),
        reverse("admin:app_list", args=["governance"]),
        _autocomplete("team", "manager", ""),
        _url(org.people["member_a"], "change"),  # even their own record
    ]
    for url in urls:
        assert outcome(client.get(url)) == "login", url
    # The login page doesn't leak the app list either.
    page = client.get(reverse("admin:login"), follow=True).content.decode()
    assert "Ann Member" not in page and "governance/person" not in page
