"""The naming standard: tool aliases map onto canonical ingestion fields."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from metrics import naming

pytestmark = pytest.mark.django_db


@pytest.fixture
def standard(db):
    fields = {
        name: naming.field_define(
            actor=None, name=name, definition=name, reason="naming standard"
        )
        for name in ("employee_id", "metric", "value", "person_uuid")
    }
    naming.alias_add(
        actor=None,
        field=fields["employee_id"],
        system="workday",
        alias="Employee_ID",
        reason="Workday export",
    )
    naming.alias_add(
        actor=None,
        field=fields["employee_id"],
        system="jira",
        alias="assignee_id",
        reason="Jira export",
    )
    naming.alias_add(
        actor=None, field=fields["value"], system="jira", alias="count", reason="Jira"
    )
    naming.alias_add(
        actor=None,
        field=fields["person_uuid"],
        system="jira",
        alias="assignee_uuid",
        reason="Jira",
    )
    return fields


def test_canonical_rows_pass_unchanged(standard):
    row = {"metric": "a.b", "employee_id": "E1", "period_start": "2026-01-01"}
    mapped, errors = naming.field_map("jira").map_row(row, 1)
    assert mapped == row and errors == []


def test_aliases_map_per_system(standard):
    jira = naming.field_map("jira")
    mapped, errors = jira.map_row({"assignee_id": "E1", "count": 3}, 4)
    assert mapped == {"employee_id": "E1", "value": 3} and errors == []
    # Workday's name means nothing to Jira's map, and the other way round.
    _, errors = jira.map_row({"Employee_ID": "E1"}, 4)
    assert [(e.row, e.field) for e in errors] == [(4, "Employee_ID")]
    mapped, errors = naming.field_map("workday").map_row({"Employee_ID": "E1"}, 1)
    assert mapped == {"employee_id": "E1"} and errors == []
    _, errors = naming.field_map("workday").map_row({"assignee_id": "E1"}, 1)
    assert errors[0].field == "assignee_id"


def test_unknown_field_message_names_it_and_the_known_ones(standard):
    _, (error,) = naming.field_map("jira").map_row({"colour": "blue"}, 2)
    assert error.row == 2 and error.field == "colour"
    assert error.message.startswith("Unknown field “colour”. Known fields: employee_id")
    assert "jira aliases: assignee_id → employee_id, count → value" in error.message
    # An alias of a canonical field that batches don't take says so.
    _, (error,) = naming.field_map("jira").map_row({"assignee_uuid": "x"}, 1)
    assert "the jira name of “person_uuid”, which batches don't take" in error.message


def test_the_same_field_twice_is_refused(standard):
    _, errors = naming.field_map("jira").map_row(
        {"employee_id": "E1", "assignee_id": "E2"}, 1
    )
    assert len(errors) == 1
    assert (
        errors[0].message
        == "“assignee_id” and “employee_id” both give employee_id; send one."
    )


def test_map_rows_numbers_rows_and_uses_one_query(standard):
    with CaptureQueriesContext(connection) as queries:
        fmap = naming.field_map("jira")
        mapped, errors = fmap.map_rows(
            [{"count": 1}, {"nope": 1}, {"count": 2}], first_row=10
        )
    assert len(queries.captured_queries) == 1
    assert mapped == [{"value": 1}, {}, {"value": 2}]
    assert [(e.row, e.field) for e in errors] == [(11, "nope")]


def test_aliases_cannot_shadow_canonical_names(standard):
    with pytest.raises(ValidationError):
        naming.alias_add(
            actor=None,
            field=standard["value"],
            system="zendesk",
            alias="team",
            reason="x",
        )
    with pytest.raises(ValidationError):
        naming.alias_add(
            actor=None,
            field=standard["value"],
            system="zendesk",
            alias="metric",
            reason="x",
        )
    # One meaning per alias and system.
    with pytest.raises(ValidationError):
        naming.alias_add(
            actor=None,
            field=standard["value"],
            system="jira",
            alias="assignee_id",
            reason="x",
        )


def test_canonical_names_follow_the_convention(db):
    with pytest.raises(ValidationError):
        naming.field_define(actor=None, name="EmployeeId", definition="x", reason="x")
    field = naming.field_define(
        actor=None, name="employee_id", definition="x", reason="x"
    )
    assert field.history.get().history_change_reason == "x"
