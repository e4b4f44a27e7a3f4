"""The appeals section of the audit pack: counts scoped like the admin, no
appellant or grounds in it."""

from __future__ import annotations

import json

import pytest

from appeals import services
from appeals.testing import file_and_assign, fresh
from governance.reports import sections

pytestmark = pytest.mark.django_db


def _section(user):
    pack = sections.build_audit_pack(
        viewer=user, date_from=None, date_to=None, section_keys=["appeals"]
    )
    [data] = [d for d in pack.data if d.name == "audit-pack.json"]
    return json.loads(data.content)["sections"]["appeals"], "".join(pack.chunks)


def test_outcomes_and_sla_are_counted_without_personal_details(world):
    appeal = file_and_assign(world)
    services.decide(
        actor=fresh(world.user("board")),
        appeal=appeal,
        outcome="rejected",
        rationale="The leave was already excluded.",
    )
    data, html = _section(fresh(world.user("auditor")))
    assert data["total"] == 1
    assert data["by_outcome"]["rejected"] == 1
    assert data["decided"] == 1
    assert data["sla_by_stage"]  # every stage passed through has a deadline
    assert sum(c["met"] for c in data["sla_by_stage"].values()) >= 1
    appellant = world.org.people["member_a"]
    for secret in ("ignores my leave", appellant.employee_id, "Recompute it."):
        assert secret not in html and secret not in json.dumps(data)


def test_the_section_is_scoped_like_the_admin(world):
    file_and_assign(world)
    compliance, _ = _section(fresh(world.user("compliance")))
    assert compliance["total"] == 1
    # A manager of another team sees no appeal of member_a's (Team A is theirs
    # only when they manage it): the section counts what visible_to gives.
    from appeals.models import Appeal

    manager = fresh(world.user("manager"))
    data, _ = _section(manager)
    assert data["total"] == Appeal.objects.visible_to(manager, "view").count()


def test_offered_only_to_readers_of_appeals(world):
    offered = {s.key for s in sections.selectable(fresh(world.user("auditor")))}
    assert "appeals" in offered
    hr_offered = {s.key for s in sections.selectable(fresh(world.user("steward")))}
    assert "appeals" not in hr_offered
