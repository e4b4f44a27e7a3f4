"""``__in_array``: the same rows as ``__in``, the list sent as one parameter on
PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.models import Person

pytestmark = pytest.mark.django_db


def _ids(queryset):
    return sorted(queryset.values_list("pk", flat=True), key=str)


def test_in_array_finds_what_in_finds(org):
    people = list(Person.objects.order_by("employee_id")[:3])
    employee_ids = [p.employee_id for p in people] + ["NOBODY", None]
    assert _ids(Person.objects.filter(employee_id__in_array=employee_ids)) == _ids(
        Person.objects.filter(employee_id__in=employee_ids)
    )
    pks = [p.pk for p in people] + [uuid.uuid4()]
    expected = sorted((p.pk for p in people), key=str)
    assert _ids(Person.objects.filter(pk__in_array=pks)) == expected
    as_text = [str(p.pk) for p in people]  # as a form or a URL would give them
    assert _ids(Person.objects.filter(pk__in_array=as_text)) == expected


def test_in_array_of_nothing_matches_nothing(org):
    assert not Person.objects.filter(employee_id__in_array=[]).exists()
    assert not Person.objects.filter(employee_id__in_array=[None]).exists()


def test_in_array_takes_a_subquery_like_in(org):
    some = Person.objects.order_by("employee_id").values("pk")[:2]
    assert _ids(Person.objects.filter(pk__in_array=some)) == _ids(
        Person.objects.filter(pk__in=some)
    )


def test_in_array_sends_one_parameter_on_postgresql(org, on_postgres):
    ids = [f"E{n}" for n in range(300)]
    with CaptureQueriesContext(connection) as ctx:
        list(Person.objects.filter(employee_id__in_array=ids))
    (query,) = ctx.captured_queries
    assert "= ANY(" in query["sql"] and "E0," in query["sql"] and "E299" in query["sql"]
    assert " IN (" not in query["sql"]


def test_array_literals_take_only_types_that_need_no_quoting():
    import datetime

    from governance import bulk

    key = uuid.UUID(int=5)
    assert bulk.array_literal([3, key, datetime.date(2026, 1, 2)]) == (
        "{3," + key.hex + ",2026-01-02}"
    )
    assert bulk.array_literal([]) == "{}"
    for bad in ("a,b", True, 1.5, datetime.datetime(2026, 1, 1)):
        with pytest.raises(TypeError):
            bulk.array_literal([bad])
