"""Builders for appeals tests and benchmarks: the kernel's test organisation,
the metrics catalogue, and one evaluation and one observation of the employee
(``member_a``, user ``employee``) to appeal."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from governance.services import save_governed
from governance.testing import Org, build_org
from metrics import services as metric_services
from metrics.models import Evaluation, Observation
from metrics.testing import Catalogue, build_catalogue

#: A minimal, well-formed PDF (header and end-of-file marker).
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16 + b"IEND\xaeB`\x82"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16 + b"\xff\xd9"
HTML = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64
MZ = b"MZ\x90\x00\x03" + b"\x00" * 64


@dataclass
class World:
    org: Org
    cat: Catalogue
    evaluation: Evaluation  # of member_a, evaluated by steward_sales
    observation: Observation  # member_a's calls for March 2026

    def user(self, key: str) -> Any:
        return self.org.users[key]


def build_world() -> World:
    org = build_org()
    cat = build_catalogue(org)
    person = org.people["member_a"]
    observation = metric_services.record_observations(
        actor=None,
        rows=[
            {
                "metric": cat.calls.key,
                "employee_id": person.employee_id,
                "period_start": "2026-03-01",
                "value": "120",
            }
        ],
    )[0]
    evaluation = Evaluation(
        person=person,
        evaluator=org.people["steward_sales"],
        period_start=datetime.date(2026, 1, 1),
        period_end=datetime.date(2026, 6, 30),
        weights={"quantitative": 1},
        components={"quantitative": 2.5},
        score=Decimal("2.5"),
        rationale="below target",
        status=Evaluation.Status.RELEASED,
    )
    save_governed(evaluation, actor=None, reason="test")
    return World(org=org, cat=cat, evaluation=evaluation, observation=observation)


def fresh(user: Any) -> Any:
    """The user re-read (no roles or person cached by an earlier test)."""
    from governance.models import User

    return User.objects.get(pk=user.pk)


def file_and_assign(
    world: World,
    *,
    target: str = "evaluation",
    reviewer: str = "board",
    start: bool = True,
    files: Any = None,
) -> Any:
    """An appeal by the employee, triaged, assigned and (by default) under review."""
    from appeals import services

    kwargs = {target: getattr(world, target)}
    appeal = services.file_appeal(
        actor=fresh(world.user("employee")),
        grounds="The value ignores my leave.",
        requested_remedy="Recompute it.",
        files=files if files is not None else [("proof.pdf", PDF)],
        **kwargs,
    )
    hr = fresh(world.user("hr"))
    services.triage(actor=hr, appeal=appeal)
    services.assign_reviewer(
        actor=hr, appeal=appeal, reviewer=fresh(world.user(reviewer))
    )
    if start:
        services.start_review(actor=hr, appeal=appeal)
    appeal.refresh_from_db()
    return appeal
