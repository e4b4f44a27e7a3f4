"""The naming rule (``governance.labels``): who sees what of a person or account."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from governance import labels, pseudonyms
from governance.models import Person

pytestmark = pytest.mark.django_db


def _fresh(person: Person) -> Person:
    return Person.objects.get(pk=person.pk)


def test_without_a_viewer_labels_are_the_identities(org):
    person = _fresh(org.people["member_a"])
    assert str(person) == f"{person.employee_id} · Ann Member"


@pytest.mark.parametrize(
    "viewer, expected",
    [
        ("hr", "identity"),  # organisation scope
        ("manager", "identity"),  # their team member
        ("employee", "identity"),  # their own record
        ("auditor", "pseudonym"),
        ("steward", "name"),  # another department: the work directory
    ],
)
def test_a_person_is_named_by_the_viewers_scope(org, viewer, expected):
    person = _fresh(org.people["member_a"])  # Sales, team A, the employee
    if viewer == "steward":
        person = _fresh(org.people["member_b"])  # Product, outside Sales
    with labels.viewing(org.users[viewer]):
        text = str(person)
        ref = labels.person_ref(person)
    name = "Ann Member" if person.pk == org.people["member_a"].pk else person.full_name
    if expected == "identity":
        assert text == f"{person.employee_id} · {name}"
        assert ref == person.employee_id
    elif expected == "pseudonym":
        assert text == ref == pseudonyms.pseudonym(person.pk)
    else:
        assert text == ref == name
        assert person.employee_id not in text


def test_accounts_are_pseudonyms_to_the_auditor_only(org):
    hr = org.users["hr"]  # linked to a person
    compliance = org.users["compliance"]  # no person behind it
    with labels.viewing(org.users["auditor"]):
        assert str(hr) == pseudonyms.pseudonym(org.people["hr"].pk)
        assert str(compliance) == pseudonyms.account_pseudonym(compliance.pk)
        assert str(org.users["auditor"]) == "auditor"  # their own account
    with labels.viewing(org.users["manager"]):
        assert str(hr) == "hr"


def test_the_request_viewer_is_read_when_a_label_is_needed(org):
    """The API authenticates a token inside the view, after the middleware:
    the request's user at the time of the label counts, not at its start."""
    person = _fresh(org.people["member_a"])
    request = SimpleNamespace(user=org.users["hr"])
    with labels.viewing(labels.Viewing(request=request)):
        assert str(person).startswith(person.employee_id)
        request.user = org.users["auditor"]
        assert str(person) == pseudonyms.pseudonym(person.pk)
        request.user = org.users["hr"]
        assert str(person).startswith(person.employee_id)
