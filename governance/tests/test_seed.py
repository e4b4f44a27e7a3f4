"""``manage.py seed_demo`` and the demo builder (governance.demo)."""

from __future__ import annotations

import datetime
import random
from io import StringIO

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection

from governance import demo
from governance.audit import chain
from governance.models import (
    AuditEvent,
    Department,
    Jurisdiction,
    Membership,
    Person,
    Team,
    User,
)
from governance.roles import ROLES, Role

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        "people": Person.objects.count(),
        "teams": Team.objects.count(),
        "departments": Department.objects.count(),
        "jurisdictions": Jurisdiction.objects.count(),
        "memberships": Membership.objects.count(),
        "users": User.objects.count(),
        "history": Person.history.count(),
    }


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


@pytest.fixture
def seeded(debug):
    return _seed()


# -- refusing ------------------------------------------------------------------


@pytest.mark.parametrize("args", [(), ("--if-empty",)])
def test_refuses_with_debug_off_and_writes_nothing(settings, args):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        _seed(*args)
    assert _counts()["people"] == 0
    assert _counts()["users"] == 0


def test_refusal_exits_non_zero_from_the_command_line(settings, capsys):
    settings.DEBUG = False
    with pytest.raises(SystemExit) as exc:
        ManagementUtility(["manage.py", "seed_demo"]).execute()
    assert exc.value.code != 0
    assert "DEBUG" in capsys.readouterr().err


def test_second_run_fails_cleanly_without_duplicates(seeded):
    before = _counts()
    with pytest.raises(CommandError, match="already holds"):
        _seed()
    assert _counts() == before


def test_if_empty_skips_a_seeded_database(seeded):
    before = _counts()
    _seed("--if-empty")
    assert _counts() == before


def test_if_empty_skips_a_database_with_other_people(debug, org):
    before = _counts()
    _seed("--if-empty")
    assert _counts() == before
    assert not User.objects.filter(username="employee_us").exists()


def test_if_empty_seeds_an_empty_database(debug):
    _seed("--if-empty")
    assert Person.objects.count() >= 60


def test_a_failing_step_leaves_nothing_behind(debug):
    def explode(ctx):
        raise RuntimeError("boom")

    demo.register("explode", explode, order=999)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            _seed()
    finally:
        demo.unregister("explode")
    assert _counts() == dict.fromkeys(_counts(), 0)


# -- the organisation ----------------------------------------------------------


def test_builds_a_believable_organisation(seeded):
    assert Department.objects.count() >= 3
    teams = list(Team.objects.select_related("manager", "department"))
    assert len(teams) >= 6
    assert any(t.parent_id for t in teams)
    assert len({t.function for t in teams}) >= 4
    assert len({t.interdependence for t in teams}) >= 2
    for team in teams:
        assert team.manager is not None
        assert team.memberships.filter(person=team.manager).exists()

    people = list(Person.objects.select_related("jurisdiction", "department"))
    assert len(people) >= 60
    assert len({p.full_name for p in people}) == len(people)
    emails = [p.email for p in people]
    assert len(set(emails)) == len(emails)
    assert all(e.endswith("@" + demo.COMPANY_DOMAIN) and e.isascii() for e in emails)
    assert sum(p.manager_id is not None for p in people) >= len(people) - 5

    by_consent: dict[bool, int] = {True: 0, False: 0}
    for person in people:
        by_consent[person.jurisdiction.consent_required] += 1
    assert by_consent[True] >= 10 and by_consent[False] >= 10

    for department in Department.objects.select_related("steward"):
        assert department.steward is not None
        assert department.steward.department_id == department.pk


def test_demographics_are_filled_for_most_people(seeded):
    people = list(Person.objects.all())
    for name in ("gender", "date_of_birth", "disability"):
        filled = sum(getattr(p, name) is not None for p in people)
        assert filled >= 0.85 * len(people), name
    assert sum(p.ethnicity is not None for p in people) >= 0.5 * len(people)
    ages = {
        (datetime.date.today() - p.date_of_birth).days // 365
        for p in people
        if p.date_of_birth
    }
    assert min(ages) >= 20 and max(ages) <= 67 and len(ages) >= 15


def test_personal_values_are_ciphertext_in_the_database(seeded):
    person = Person.objects.order_by("employee_id").first()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT full_name, email, gender FROM governance_person WHERE id = %s",
            [person.pk.hex if connection.vendor == "sqlite" else person.pk],
        )
        stored = cursor.fetchone()
    assert stored is not None
    plain = (person.full_name, person.email, person.gender)
    assert plain[0] and plain[1] and plain[2]
    for value, clear in zip(stored, plain, strict=True):
        assert value and clear not in value


def test_every_person_has_a_creation_history_row(seeded):
    people = Person.objects.count()
    assert Person.history.filter(history_type="+").count() == people


def test_audit_chain_verifies_after_seeding(seeded):
    report = chain.verify()
    assert report.ok, [str(b) for b in report.breaks]
    assert report.links >= Person.objects.count()


# -- accounts ------------------------------------------------------------------


def test_one_account_per_role_linked_to_a_person(seeded):
    roles_covered = set()
    for spec in demo.ACCOUNTS:
        user = User.objects.get(username=spec.username)
        assert user.is_active
        assert user.check_password(demo.DEMO_PASSWORD)
        groups = set(user.groups.values_list("name", flat=True))
        if spec.role is None:
            assert user.is_superuser and user.is_staff
            assert groups == set()
            assert not Person.objects.filter(user=user).exists()
            continue
        assert groups == {spec.role.value}
        assert user.clearance == ROLES[spec.role].clearance
        assert user.is_staff == ROLES[spec.role].staff
        assert Person.objects.filter(user=user).exists(), spec.username
        roles_covered.add(spec.role)
    assert roles_covered == set(Role)
    assert User.objects.filter(is_superuser=True).count() == 1


def test_demo_password_passes_the_validators(seeded):
    for user in User.objects.all():
        validate_password(demo.DEMO_PASSWORD, user)


def test_account_changes_are_audit_events(seeded):
    for user in User.objects.all():
        assert AuditEvent.objects.filter(
            action="user.access_changed", object_id=str(user.pk)
        ).exists(), user.username


def test_employee_accounts_cover_both_consent_regimes(seeded):
    de = Person.objects.get(user__username="employee")
    us = Person.objects.get(user__username="employee_us")
    assert de.jurisdiction.consent_required is True
    assert us.jurisdiction.consent_required is False


def test_demo_manager_and_steward_scopes_reach_the_right_people(seeded):
    manager = User.objects.get(username="manager")
    steward = User.objects.get(username="steward")
    employee = Person.objects.get(user__username="employee")
    visible = Person.objects.visible_to(manager)
    assert visible.filter(pk=employee.pk).exists()
    assert visible.count() < Person.objects.count()

    stewarded = Person.objects.visible_to(steward)
    sales = Department.objects.get(code="sales")
    assert set(stewarded.values_list("department_id", flat=True)) == {sales.pk}
    assert stewarded.count() == sales.people.count()


# -- determinism, extension, speed ---------------------------------------------


def test_plan_is_deterministic():
    today = datetime.date(2026, 1, 15)

    def fingerprint(seed):
        return [
            (p.key, p.id, p.full_name, p.email, p.gender, p.date_of_birth, p.status)
            for p in demo.plan_people(random.Random(seed), today)
        ]

    assert fingerprint(demo.SEED) == fingerprint(demo.SEED)
    assert fingerprint(demo.SEED) != fingerprint(demo.SEED + 1)


def test_a_registered_step_runs_after_the_kernel_steps(debug):
    seen = {}

    def extra_step(ctx):
        seen["people"] = Person.objects.count()
        seen["employee"] = ctx.users["employee"].username
        seen["team"] = ctx.teams["ent-sales"].name

    demo.register("test-extra", extra_step, order=500)
    try:
        _seed()
    finally:
        demo.unregister("test-extra")
    assert seen == {
        "people": Person.objects.count(),
        "employee": "employee",
        "team": "Enterprise Sales",
    }
    assert "test-extra" not in {s.name for s in demo.steps()}
