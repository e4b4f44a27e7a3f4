"""Builders for tests and benchmarks: a small organisation with every role.

Lives in the package (not under tests/) so every app's tests and the benchmark
scripts can share it.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Group

from governance import services
from governance.models import Department, Jurisdiction, Membership, Person, Team, User
from governance.roles import ROLES, Role

PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - test accounts only
_counter = itertools.count(1)


def make_user(
    username: str,
    *roles: Role,
    clearance: int | None = None,
    person: Person | None = None,
    superuser: bool = False,
) -> User:
    user = User.objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD
    )
    if superuser:
        user.is_superuser = True
        user.is_staff = True
    user.groups.set(Group.objects.filter(name__in=[r.value for r in roles]))
    user.is_staff = user.is_staff or any(ROLES[r].staff for r in roles)
    if clearance is None:
        clearance = max((ROLES[r].clearance for r in roles), default=0)
    user.clearance = clearance
    user.save()
    if person is not None:
        person.user = user
        services.save_governed(person, actor=None, reason="link account")
    return user


def make_person(
    department: Department,
    jurisdiction: Jurisdiction,
    *,
    name: str | None = None,
    teams: list[Team] = (),  # type: ignore[assignment]
    manager: Person | None = None,
    **extra: Any,
) -> Person:
    n = next(_counter)
    person = services.person_create(
        actor=None,
        employee_id=extra.pop("employee_id", f"T{n:05d}"),
        full_name=name or f"Test Person {n}",
        email=extra.pop("email", f"person{n}@example.com"),
        department=department,
        jurisdiction=jurisdiction,
        manager=manager,
        hire_date=extra.pop("hire_date", datetime.date(2021, 3, 1)),
        **extra,
    )
    for team in teams:
        Membership.objects.create(person=person, team=team)
    return person


@dataclass
class Org:
    """Two departments, team A (with child A1) and team B, one user per role."""

    eu: Jurisdiction
    us: Jurisdiction
    sales: Department
    product: Department
    team_a: Team
    team_a1: Team
    team_b: Team
    people: dict[str, Person] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    def user(self, key: str) -> User:
        return self.users[key]


def build_org() -> Org:
    eu = Jurisdiction.objects.create(
        code="de",
        name="Germany",
        privacy_regime=Jurisdiction.Regime.GDPR,
        consent_required=True,
    )
    us = Jurisdiction.objects.create(
        code="us-tx", name="Texas", privacy_regime=Jurisdiction.Regime.OTHER
    )
    sales = Department.objects.create(code="sales", name="Sales")
    product = Department.objects.create(code="product", name="Product")
    team_a = Team.objects.create(
        name="Team A", department=sales, function=Team.Function.SALES
    )
    team_a1 = Team.objects.create(
        name="Team A1", department=sales, function=Team.Function.SALES, parent=team_a
    )
    team_b = Team.objects.create(
        name="Team B", department=product, function=Team.Function.PRODUCT
    )
    org = Org(
        eu=eu,
        us=us,
        sales=sales,
        product=product,
        team_a=team_a,
        team_a1=team_a1,
        team_b=team_b,
    )

    p = org.people
    p["manager_a"] = make_person(sales, us, name="Mara Manager", teams=[team_a])
    p["member_a"] = make_person(
        sales,
        eu,
        name="Ann Member",
        teams=[team_a],
        manager=p["manager_a"],
        gender="female",
        ethnicity="group-x",
        date_of_birth=datetime.date(1990, 1, 2),
    )
    p["member_a1"] = make_person(
        sales, us, name="Al Sub", teams=[team_a1], manager=p["manager_a"]
    )
    p["manager_b"] = make_person(product, us, name="Ben Boss", teams=[team_b])
    p["member_b"] = make_person(
        product,
        eu,
        name="Bea Other",
        teams=[team_b],
        manager=p["manager_b"],
        gender="male",
        ethnicity="group-y",
    )
    p["steward_sales"] = make_person(sales, us, name="Stew Ard")
    p["hr"] = make_person(product, us, name="Hal HR")
    team_a.manager = p["manager_a"]
    services.save_governed(team_a, actor=None, reason="assign manager")
    team_b.manager = p["manager_b"]
    services.save_governed(team_b, actor=None, reason="assign manager")
    sales.steward = p["steward_sales"]
    services.save_governed(sales, actor=None, reason="assign steward")

    u = org.users
    u["hr"] = make_user("hr", Role.HR, person=p["hr"])
    u["compliance"] = make_user("compliance", Role.COMPLIANCE)
    u["steward"] = make_user("steward", Role.STEWARD, person=p["steward_sales"])
    u["metric_owner"] = make_user("metric_owner", Role.METRIC_OWNER)
    u["board"] = make_user("board", Role.BOARD)
    u["manager"] = make_user("manager", Role.MANAGER, person=p["manager_a"])
    u["employee"] = make_user("employee", Role.EMPLOYEE, person=p["member_a"])
    u["auditor"] = make_user("auditor", Role.AUDITOR)
    u["nobody"] = make_user("nobody")  # authenticated, no role
    u["admin"] = make_user("admin", superuser=True, clearance=3)
    return org


def completed_bias_assessment(
    *, target_type: str, target_id: Any, version: int | None = None
) -> Any:
    """A completed bias assessment row for ``target_id`` (for tests of the
    gates it opens; the assessment's own figures are tested in test_bias)."""
    from django.utils import timezone

    from governance.models import BiasAssessment

    now = timezone.now()
    assessment = BiasAssessment(
        target_type=target_type,
        target_id=str(target_id),
        target_label=f"test target {target_id}",
        target_version=version,
        attribute=BiasAssessment.Attribute.GENDER,
        threshold=0,
        run_at=now,
        dataset_hash="0" * 64,
        verdict=BiasAssessment.Verdict.NO_ADVERSE,
        status=BiasAssessment.Status.COMPLETED,
        completed_at=now,
        completion_note="test",
    )
    return services.save_governed(assessment, actor=None, reason="test assessment")
