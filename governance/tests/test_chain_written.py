"""The audit chain's fast paths: one hasher for many rows, and hashing bulk
history rows as written (PostgreSQL) instead of reading them back."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
import zoneinfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import override_settings

from governance import bulk
from governance import services as people_services
from governance.audit import chain
from governance.audit.history import bulk_history
from governance.crypto.fields import Ciphertext
from governance.models import Person

UTC = datetime.UTC
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


class Colour(enum.IntEnum):
    RED = 3


class Kind(enum.StrEnum):
    A = "a-kind"


VALUES = [
    None,
    "",
    "plain",
    'quotes " and \\ backslash\nnew line\ttab',
    "non-ASCII: é ü 中文 \u2028",
    Ciphertext("pgp1:abc"),
    Kind.A,
    0,
    -7,
    2**62,
    Colour.RED,
    True,
    False,
    0.1,
    -2.5e-300,
    decimal.Decimal("120"),
    decimal.Decimal("120.5000"),
    decimal.Decimal("-0.0000"),
    decimal.Decimal("1E+3"),
    datetime.date(2026, 3, 1),
    datetime.datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
    datetime.datetime(2026, 3, 1, 12, 30, 0, 5, tzinfo=PARIS),
    datetime.datetime(2026, 3, 1, 12, 30),
    datetime.time(7, 45),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"\x00\xffbytes",
    memoryview(b"view"),
    bytearray(b"ba"),
    pytest,  # anything else: its str()
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_the_fast_hasher_writes_the_canonical_text_for_every_type(value):
    columns = ["zeta", "alpha", "value", "id"]
    row = (1, "a", value, 99)
    assert chain.hash_rows(columns, [row]) == [chain._row_hash(columns, row)]


def test_the_fast_hasher_sorts_columns_and_handles_one_column():
    assert chain.hash_rows(["only"], [(5,)]) == [chain._row_hash(["only"], (5,))]
    rows = [tuple(VALUES[i : i + 3]) for i in range(0, len(VALUES) - 3)]
    columns = ["c", "a", "b"]
    assert chain.hash_rows(columns, rows) == [
        chain._row_hash(columns, row) for row in rows
    ]


def test_stored_forms_accept_only_values_the_database_keeps():
    places4 = bulk.partial(bulk._decimal, places=4)
    assert places4(decimal.Decimal("1.2345")) == decimal.Decimal("1.2345")
    assert (
        places4(decimal.Decimal("-0.00")) == 0
        and str(places4(decimal.Decimal("-0"))) == "0"
    )
    for bad in (decimal.Decimal("1.23456"), decimal.Decimal("NaN"), 1.5, "1.5"):
        with pytest.raises(bulk.NotAsStored):
            places4(bad)
    paris = datetime.datetime(2026, 3, 1, 13, 0, tzinfo=PARIS)
    assert bulk._datetime(paris).isoformat() == "2026-03-01T12:00:00+00:00"
    with pytest.raises(bulk.NotAsStored):
        bulk._datetime(datetime.datetime(2026, 3, 1, 13, 0))  # naive
    with pytest.raises(bulk.NotAsStored):
        bulk._date(datetime.datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(bulk.NotAsStored):
        bulk._date("2026-03-01")
    with pytest.raises(bulk.NotAsStored):
        bulk._text(5)
    with pytest.raises(bulk.NotAsStored):
        bulk._integer(True)
    with pytest.raises(bulk.NotAsStored):
        bulk._integer("5")
    with pytest.raises(bulk.NotAsStored):
        bulk._uuid(str(uuid.uuid4()))


def _new_people(org, n: int, **over) -> list[Person]:
    someone = next(iter(org.people.values()))
    people = [
        Person(
            employee_id=f"W{i:04d}",
            full_name=f"Written {i}",
            email=f"w{i}@example.com",
            department=someone.department,
            jurisdiction=someone.jurisdiction,
            hire_date=datetime.date(2021, 1, 1),
            **over,
        )
        for i in range(n)
    ]
    return people


@pytest.mark.django_db
def test_rows_as_stored_are_known_on_postgresql_only():
    fields = [Person._meta.get_field(n) for n in ("employee_id", "hire_date")]
    rows = [("E1", datetime.date(2021, 1, 1)), ("E2", None)]
    expected = rows if connection.vendor == "postgresql" else None
    assert bulk.as_stored(fields, rows) == expected  # SQLite: rows are read back


@pytest.mark.django_db
def test_rows_as_stored_convert_or_give_up_column_by_column(on_postgres):
    from governance.models import AuditEvent

    stamp = AuditEvent._meta.get_field("occurred_at")
    text = Person._meta.get_field("employee_id")
    paris = datetime.datetime(2026, 3, 1, 13, 0, tzinfo=PARIS)
    utc = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert bulk.as_stored([stamp, text], [(paris, "a")]) == [(utc, "a")]
    assert bulk.as_stored([stamp], [(datetime.datetime(2026, 3, 1),)]) is None
    assert bulk.as_stored([text], [(5,)]) is None
    assert bulk.as_stored([AuditEvent._meta.get_field("data")], [("{}",)]) is None


@pytest.fixture
def reads(monkeypatch):
    """Tables whose rows the chain reads back, in order."""
    tables: list[str] = []
    real = chain.read_row_hashes
    monkeypatch.setattr(
        chain,
        "read_row_hashes",
        lambda table, ids: tables.append(table) or real(table, ids),
    )
    return tables


def assert_chain_intact():
    report = chain.verify()  # reads every row back, whatever was chained how
    assert report.ok, report.breaks[:3]


@pytest.mark.django_db
def test_bulk_history_on_postgresql_is_chained_without_reading_rows_back(
    org, on_postgres, reads
):
    history_table = Person.history.model._meta.db_table
    with override_settings(AUDIT_CHAIN_CHECK_WRITES=False):
        people_services.people_bulk_create(
            actor=None, reason="written", people=_new_people(org, 30)
        )
    assert history_table not in reads
    assert_chain_intact()


@pytest.mark.django_db
def test_a_value_whose_stored_form_is_uncertain_is_read_back(org, reads):
    person = Person.objects.order_by("pk").first()
    person.hire_date = "2021-01-01"  # text for a date column: the database parses it
    with override_settings(AUDIT_CHAIN_CHECK_WRITES=False):
        bulk_history(Person, [person], history_type="~", reason="mixed", user=None)
    assert Person.history.model._meta.db_table in reads
    assert_chain_intact()


@pytest.mark.django_db
def test_the_write_check_refuses_hashes_that_differ_from_the_stored_rows(org):
    history = Person.history.model
    ids = list(
        history.objects.order_by("history_id").values_list("history_id", flat=True)[:2]
    )
    stored = chain.read_row_hashes(history._meta.db_table, ids)
    good = [stored[str(i)] for i in ids]
    with override_settings(AUDIT_CHAIN_CHECK_WRITES=True):
        with pytest.raises(RuntimeError, match="does not hash like the stored row"):
            chain.append(history._meta.db_table, ids, hashes=[good[0], "0" * 64])
        with pytest.raises(ValueError, match="one hash per row"):
            chain.append(history._meta.db_table, ids, hashes=good[:1])


def test_the_fast_hasher_takes_any_column_name_and_checks_the_width():
    columns = ["100%", 'say "hi"', "%s"]
    row = ("a", None, 3)
    assert chain.hash_rows(columns, [row]) == [chain._row_hash(columns, row)]
    with pytest.raises(ValueError, match="must have 3 values"):
        chain.hash_rows(columns, [("a", None)])


@pytest.mark.django_db
def test_new_rows_history_is_copied_by_the_server_on_postgresql(
    org, on_postgres, monkeypatch
):
    sent: list[str] = []
    real = bulk.insert_rows
    monkeypatch.setattr(
        bulk,
        "insert_rows",
        lambda table, *a, **k: sent.append(table) or real(table, *a, **k),
    )
    people = _new_people(org, 5)
    people_services.people_bulk_create(actor=None, reason="copied", people=people)
    history = Person.history.model
    assert history._meta.db_table not in sent  # not sent a second time
    assert Person._meta.db_table in sent
    copied = history.objects.filter(id__in=[p.pk for p in people], history_type="+")
    assert sorted(copied.values_list("employee_id", flat=True)) == [
        p.employee_id for p in people
    ]
    assert {h.history_change_reason for h in copied} == {"copied"}
    assert_chain_intact()


@pytest.mark.django_db
def test_copying_history_of_rows_that_are_not_there_fails(org, on_postgres):
    ghost = _new_people(org, 1)[0]  # never inserted
    with pytest.raises(RuntimeError, match="0 of 1 live rows"):
        bulk_history(
            Person,
            [ghost],
            history_type="+",
            reason="ghost",
            user=None,
            live_rows_match=True,
        )


def _rows_each_hashed_alone(columns, rows):
    return [chain._row_hash(columns, row) for row in rows]


@pytest.mark.parametrize(
    "column",
    [
        [5, 5, 5],  # constant
        [1, True, 1],  # equal, but a bool renders apart
        [
            datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
            datetime.datetime(2026, 3, 1, 13, 0, tzinfo=PARIS),  # the same instant
            datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        ],
        [decimal.Decimal("0"), decimal.Decimal("-0"), decimal.Decimal("0.00")],
        [Ciphertext("pgp1:a"), Ciphertext("pgp1:b"), Ciphertext("pgp1:a")],
        [Kind.A, "a-kind", Kind.A],  # a text choice and its value
        [None, None, None],
        [None, "x", 3],  # mixed
        [uuid.UUID(int=1), uuid.UUID(int=1), uuid.UUID(int=2)],
        [datetime.date(2026, 1, 1)] * 3,
        [0.1, 0.1, 0.2],
    ],
    ids=lambda c: "-".join(type(v).__name__ for v in c),
)
def test_hashing_column_by_column_matches_row_by_row(column):
    columns = ["b", "a", "c"]
    rows = [(i, value, "same") for i, value in enumerate(column)]
    assert chain.hash_rows(columns, rows) == _rows_each_hashed_alone(columns, rows)


@pytest.mark.django_db
def test_a_copy_the_server_refuses_fails_the_write(org, on_postgres, monkeypatch):
    """The server copies history rows while Python hashes them (pipeline mode):
    an error it reports then is raised as Django's, and nothing is chained."""
    people = _new_people(org, 2)
    people_services.people_bulk_create(actor=None, reason="first", people=people)
    history = Person.history.model
    taken = history.objects.order_by("history_id").values_list("history_id", flat=True)[
        0
    ]
    real = bulk.allocate_ids
    monkeypatch.setattr(
        bulk,
        "allocate_ids",
        lambda model, count, **k: (
            [taken] * count if model is history else real(model, count, **k)
        ),
    )
    links = chain.head()
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_history(
            Person,
            people[:1],
            history_type="~",
            reason="again",
            user=None,
            live_rows_match=True,
        )
    assert chain.head() == links
    assert history.objects.filter(history_change_reason="again").count() == 0
    assert_chain_intact()
