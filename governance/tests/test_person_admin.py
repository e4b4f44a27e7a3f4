"""The person admin writes through ``services.person_update`` (one write path).

Its rules hold in the admin as in every other caller: an erased person's
record can't be edited (the page is read-only, a forged POST is refused and
changes nothing), and a leaver's account stops working with an audit event.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from governance import services
from governance.models import AuditEvent, Person
from governance.tests.test_admin_matrix import form_data

pytestmark = pytest.mark.django_db


def _url(person: Person) -> str:
    return reverse("admin:governance_person_change", args=[quote(person.pk)])


def test_an_erased_person_cant_be_edited_in_the_admin(client, org):
    person = org.people["member_b"]
    services.person_update(
        person=person, actor=None, reason="left", changes={"status": "left"}
    )
    services.person_erase(
        person=Person.objects.get(pk=person.pk), actor=None, reason="erasure"
    )
    client.force_login(org.users["hr"])
    page = client.get(_url(person))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # read-only
    before = Person.history.filter(id=person.pk).count()
    response = client.post(
        _url(person),
        {"employee_id": "FORGED-1", "status": "active", "change_reason": "undo"},
    )
    assert response.status_code == 403
    stored = Person.objects.get(pk=person.pk)
    assert stored.employee_id == person.employee_id
    assert stored.status == Person.Status.LEFT
    assert Person.history.filter(id=person.pk).count() == before


def test_an_edit_goes_through_person_update(client, org, monkeypatch):
    person = org.people["member_a"]  # the employee's record, with an account
    calls = []
    real = services.person_update

    def recording(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(services, "person_update", recording)
    client.force_login(org.users["hr"])
    data = form_data(client.get(_url(person)))
    data.update(status="left", change_reason="resigned")
    response = client.post(_url(person), data)
    assert response.status_code == 302, response.content[:400]
    assert len(calls) == 1
    assert calls[0]["changes"] == {"status": "left"}
    assert calls[0]["reason"] == "resigned"
    # The service's leaver rule: the account stops working, on the record.
    account = org.users["employee"]
    account.refresh_from_db()
    assert account.is_active is False
    assert AuditEvent.objects.filter(
        action="user.access_changed", object_id=str(account.pk)
    ).exists()
