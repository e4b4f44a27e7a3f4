"""Field encryption: ciphertext at rest, keys, rotation, erasure (G.ENC)."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from governance import services
from governance.checks import verify_keyring
from governance.crypto.fields import ERASED, Ciphertext
from governance.crypto.keyring import (
    CiphertextInvalid,
    generate_master_key,
    parse_master_keys,
)
from governance.models import DataKey, Person
from governance.testing import make_person

pytestmark = pytest.mark.django_db

SECRETS = ["Ann Member", "group-x", "1990-01-02", "Bea Other", "person"]


def _encrypted_columns():
    """Every encrypted column of every live and history table."""
    from django.apps import apps

    for model in apps.get_models():
        fields = getattr(model._meta, "encrypted_fields", ())
        if fields:
            yield model._meta.db_table, [f.column for f in fields]


def test_raw_sql_finds_no_plaintext_in_live_or_history_tables(org):
    services.person_update(
        person=org.people["member_a"],
        actor=None,
        reason="rename",
        changes={"full_name": "Ann Renamed"},
    )
    tables = dict(_encrypted_columns())
    assert "governance_person" in tables and "governance_historicalperson" in tables
    seen = 0
    with connection.cursor() as cursor:
        for table, columns in tables.items():
            cursor.execute(f"SELECT {', '.join(columns)} FROM {table}")
            for row in cursor.fetchall():
                for value in row:
                    if value is None:
                        continue
                    seen += 1
                    assert value.startswith("pgp1:"), (table, value)
                    for secret in [*SECRETS, "Ann Renamed"]:
                        assert secret not in value
    assert seen > 20


def test_values_round_trip_with_types(org):
    person = Person.objects.get(pk=org.people["member_a"].pk)
    assert person.full_name == "Ann Member"
    assert person.date_of_birth == datetime.date(1990, 1, 2)
    assert isinstance(person.__dict__["full_name"], Ciphertext)


def test_plaintext_never_reaches_the_database_boundary(org):
    with (
        pytest.raises(TypeError, match="plaintext never reaches the database"),
        transaction.atomic(),
    ):
        Person.objects.filter(pk=org.people["member_a"].pk).update(full_name="Sneaky")
    with pytest.raises(TypeError), transaction.atomic():
        list(Person.objects.filter(full_name="Ann Member"))
    person = Person.objects.get(pk=org.people["member_a"].pk)
    person.full_name = "Bulk Sneaky"
    with pytest.raises(TypeError), transaction.atomic():
        Person.objects.bulk_update([person], ["full_name"])
    assert Person.objects.get(pk=person.pk).full_name == "Ann Member"


def test_ciphertext_is_bound_to_subject_and_field(org):
    a, b = org.people["member_a"], org.people["member_b"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT gender FROM governance_person WHERE id = %s",
            [a.pk.hex if connection.vendor == "sqlite" else a.pk],
        )
        token_a = cursor.fetchone()[0]
        # Move A's ciphertext onto B, and onto another field of A.
        cursor.execute(
            "UPDATE governance_person SET gender = %s WHERE id = %s",
            [token_a, b.pk.hex if connection.vendor == "sqlite" else b.pk],
        )
        cursor.execute(
            "UPDATE governance_person SET ethnicity = %s WHERE id = %s",
            [token_a, a.pk.hex if connection.vendor == "sqlite" else a.pk],
        )
    with pytest.raises(CiphertextInvalid):
        _ = Person.objects.get(pk=b.pk).gender
    with pytest.raises(CiphertextInvalid):
        _ = Person.objects.get(pk=a.pk).ethnicity


def test_one_data_key_per_person_and_page_reads_fetch_keys_once(
    org, django_assert_num_queries
):
    assert DataKey.objects.filter(
        subject__in=[p.pk for p in org.people.values()]
    ).count() == len(org.people)
    with django_assert_num_queries(2):  # the rows, then all their keys
        names = [p.full_name for p in Person.objects.all()]
    assert "Ann Member" in names


def test_rotation_keeps_every_value_readable_after_old_key_is_removed(org, settings):
    old = settings.PORTAL_MASTER_KEYS[0]
    new = generate_master_key()
    history_before = {h.history_id: h.full_name for h in Person.history.all()}
    settings.PORTAL_MASTER_KEYS = [new, old]
    rewrapped = services.rotate_keys()
    assert rewrapped >= len(org.people)
    new_id = parse_master_keys([new])[0].key_id
    assert set(DataKey.objects.values_list("master_key_id", flat=True)) == {new_id}
    settings.PORTAL_MASTER_KEYS = [new]  # the old key is gone
    verify_keyring()
    assert Person.objects.get(pk=org.people["member_a"].pk).ethnicity == "group-x"
    assert Person.objects.get(pk=org.people["member_a"].pk).full_name == "Ann Member"
    assert {h.history_id: h.full_name for h in Person.history.all()} == history_before


def test_wrong_master_key_is_a_clear_startup_error(org, settings):
    settings.PORTAL_MASTER_KEYS = [generate_master_key()]
    with pytest.raises(ImproperlyConfigured, match="does not hold the master key"):
        verify_keyring()


@pytest.mark.parametrize("value", ["", "not-base64!!", "c2hvcnQ"])
def test_missing_or_malformed_master_key_is_a_clear_error(value):
    with pytest.raises(ImproperlyConfigured, match="PORTAL_MASTER_KEYS"):
        parse_master_keys([value] if value else [])


def test_erasure_shreds_exactly_one_person_including_history(org):
    target, other = org.people["member_a"], org.people["member_b"]
    services.person_update(
        person=Person.objects.get(pk=target.pk),
        actor=None,
        reason="r",
        changes={"full_name": "Ann Two"},
    )
    services.person_erase(
        person=Person.objects.get(pk=target.pk),
        actor=org.users["compliance"],
        reason="DSAR-42",
    )
    erased = Person.objects.get(pk=target.pk)
    assert (
        erased.full_name is ERASED
        and erased.gender is ERASED
        and erased.date_of_birth is ERASED
    )
    assert all(h.full_name is ERASED for h in erased.history.all())
    assert erased.history.count() >= 3
    kept = Person.objects.get(pk=other.pk)
    assert kept.full_name == "Bea Other" and kept.gender == "male"
    assert all(h.full_name == "Bea Other" for h in kept.history.all())
    assert DataKey.objects.get(subject=target.pk).wrapped is None


def test_erased_person_cannot_receive_new_personal_values(org):
    target = org.people["member_a"]
    services.person_erase(
        person=Person.objects.get(pk=target.pk), actor=None, reason="DSAR"
    )
    person = Person.objects.get(pk=target.pk)
    with pytest.raises(Exception, match="erased"):
        services.person_update(
            person=person, actor=None, reason="r", changes={"full_name": "Back"}
        )


def test_erasure_requires_permission(org):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.person_erase(
            person=org.people["member_a"], actor=org.users["hr"], reason="no"
        )
    assert DataKey.objects.get(subject=org.people["member_a"].pk).wrapped is not None


def test_new_person_values_encrypted_with_new_key(db):
    from governance.testing import build_org

    org = build_org()
    p = make_person(org.sales, org.us, name="Fresh")
    assert DataKey.objects.filter(subject=p.pk).exists()
