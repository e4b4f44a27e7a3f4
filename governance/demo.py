"""The demo organisation behind ``manage.py seed_demo``.

The builder is a registry of named seed *steps* run in order inside one
transaction. Each step receives the shared :class:`DemoContext` (a seeded
random generator, what earlier steps built, counters) and writes through the
service layer, so history rows and the audit chain are written exactly as they
are for real data.

Higher layers add their own demo data without the kernel importing them: from
their ``AppConfig.ready()`` they call::

    from governance import demo

    demo.register("metrics", seed_metrics, order=200, description="KPI catalogue")

and ``seed_metrics(ctx)`` finds the people, teams and accounts in ``ctx``.
Governance's own steps use orders below 100.

Everything is deterministic: names and emails come from the lists below and a
seeded :class:`random.Random`; nothing is downloaded. Dates are offsets from
today so the organisation always looks current.
"""

from __future__ import annotations

import datetime
import random
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from governance import services
from governance.models import Department, Jurisdiction, Membership, Person, Team, User
from governance.roles import ROLES, Role

#: The one password of every demo account (documented in docs/demo.md).
DEMO_PASSWORD = "Northwind-Demo-2025"  # noqa: S105 - published demo credential
SEED = 20250101
COMPANY_DOMAIN = "northwind.example"  # RFC 2606: never a real mailbox
REASON = "demo data (seed_demo)"


# -- the step registry -------------------------------------------------------


@dataclass
class DemoContext:
    """What the steps share. Keys are stable names later steps can rely on.

    ``people`` holds every person under a key: ``"head:<department>"``,
    ``"lead:<team>"``, ``"member:<team>:<n>"`` and ``"steward:<department>"``
    (the steward is also one of the members). ``users`` is keyed by username.
    """

    rng: random.Random
    today: datetime.date
    actor: Any = None
    reason: str = REASON
    jurisdictions: dict[str, Jurisdiction] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = lambda message: None


StepFunc = Callable[[DemoContext], None]


@dataclass(frozen=True)
class SeedStep:
    name: str
    func: StepFunc
    order: int
    description: str = ""


_STEPS: dict[str, SeedStep] = {}


def register(
    name: str, func: StepFunc, *, order: int, description: str = ""
) -> SeedStep:
    """Add (or replace, by name) a seed step. Safe to call from ``ready()``."""
    step = SeedStep(name=name, func=func, order=order, description=description)
    _STEPS[name] = step
    return step


def unregister(name: str) -> None:
    _STEPS.pop(name, None)


def steps() -> list[SeedStep]:
    return sorted(_STEPS.values(), key=lambda s: (s.order, s.name))


def is_seeded() -> bool:
    """True once the database holds any person (the demo only fills empty ones)."""
    return (
        Person.objects.exists()
        or User.objects.filter(username__in=[a.username for a in ACCOUNTS]).exists()
    )


def build(*, seed: int = SEED, log: Callable[[str], None] | None = None) -> DemoContext:
    """Run every registered step, in order, in one transaction."""
    ctx = DemoContext(rng=random.Random(seed), today=datetime.date.today())
    if log is not None:
        ctx.log = log
    with transaction.atomic():
        for step in steps():
            started = time.perf_counter()
            step.func(ctx)
            ctx.timings[step.name] = time.perf_counter() - started
            ctx.log(f"  {step.name}: {ctx.timings[step.name]:.2f}s")
    return ctx


# -- the organisation, as data -----------------------------------------------


@dataclass(frozen=True)
class JurisdictionSpec:
    code: str
    name: str
    regime: str
    consent_required: bool
    retention_days: int


JURISDICTIONS = (
    JurisdictionSpec("de", "Germany", Jurisdiction.Regime.GDPR, True, 2 * 365),
    JurisdictionSpec(
        "gb", "United Kingdom", Jurisdiction.Regime.UK_GDPR, False, 3 * 365
    ),
    JurisdictionSpec(
        "us-ca", "California, United States", Jurisdiction.Regime.CCPA, False, 4 * 365
    ),
)

#: key -> (name, jurisdiction of the department head)
DEPARTMENTS = {
    "sales": ("Sales", "us-ca"),
    "product-eng": ("Product & Engineering", "de"),
    "support": ("Customer Support", "gb"),
    "people": ("People", "gb"),
}


@dataclass(frozen=True)
class TeamSpec:
    key: str
    name: str
    department: str
    function: str
    interdependence: str
    members: int  # besides the team lead
    where: dict[str, float]  # jurisdiction code -> weight
    parent: str | None = None


Fn, Ix = Team.Function, Team.Interdependence
TEAMS = (
    TeamSpec("ent-sales", "Enterprise Sales", "sales", Fn.SALES, Ix.MEDIUM, 5, {"gb": 0.6, "us-ca": 0.4}),
    TeamSpec("ent-sales-dach", "Enterprise Sales DACH", "sales", Fn.SALES, Ix.MEDIUM, 5, {"de": 1.0}, parent="ent-sales"),
    TeamSpec("inside-sales", "Inside Sales", "sales", Fn.SALES, Ix.LOW, 6, {"us-ca": 0.8, "gb": 0.2}),
    TeamSpec("growth", "Growth Marketing", "sales", Fn.MARKETING, Ix.MEDIUM, 4, {"us-ca": 0.5, "gb": 0.5}),
    TeamSpec("product-mgmt", "Product Management", "product-eng", Fn.PRODUCT, Ix.HIGH, 4, {"us-ca": 0.5, "de": 0.5}),
    TeamSpec("platform", "Platform Engineering", "product-eng", Fn.ENGINEERING, Ix.HIGH, 7, {"de": 0.6, "us-ca": 0.4}),
    TeamSpec("sre", "Site Reliability", "product-eng", Fn.OPERATIONS, Ix.HIGH, 4, {"de": 0.5, "gb": 0.5}, parent="platform"),
    TeamSpec("data", "Data & Research", "product-eng", Fn.RESEARCH, Ix.MEDIUM, 4, {"gb": 0.5, "us-ca": 0.5}),
    TeamSpec("support-desk", "Support Desk", "support", Fn.SUPPORT, Ix.MEDIUM, 8, {"de": 0.3, "gb": 0.4, "us-ca": 0.3}),
    TeamSpec("incident", "Incident Response", "support", Fn.CRISIS, Ix.HIGH, 4, {"gb": 0.5, "us-ca": 0.5}, parent="support-desk"),
    TeamSpec("people-ops", "People Operations", "people", Fn.PEOPLE, Ix.LOW, 3, {"gb": 0.5, "de": 0.5}),
    TeamSpec("privacy", "Privacy & Compliance", "people", Fn.LEGAL, Ix.LOW, 2, {"de": 1.0}),
    TeamSpec("audit", "Internal Audit", "people", Fn.FINANCE, Ix.LOW, 1, {"gb": 1.0}),
)  # fmt: skip

#: department -> the person key of its data steward (a senior member).
STEWARDS = {
    "sales": "member:inside-sales:1",
    "product-eng": "member:data:0",
    "support": "member:support-desk:1",
    "people": "member:people-ops:0",
}


@dataclass(frozen=True)
class AccountSpec:
    username: str
    role: Role | None  # None: the superuser
    person: str | None  # person key, or None for an account without a record
    try_this: str = ""


ACCOUNTS = (
    AccountSpec("hr", Role.HR, "lead:people-ops", "Edit people and teams in the admin; all departments."),
    AccountSpec("compliance", Role.COMPLIANCE, "lead:privacy", "Reads Restricted demographics (each read is audited); erasure; audit events."),
    AccountSpec("steward", Role.STEWARD, STEWARDS["sales"], "Data steward of Sales: sees only the Sales department's people."),
    AccountSpec("owner", Role.METRIC_OWNER, "member:product-mgmt:0", "Metric owner: sees teams and departments, no people."),
    AccountSpec("board", Role.BOARD, "head:support", "Review board member: teams and departments only."),
    AccountSpec("manager", Role.MANAGER, "lead:ent-sales", "Manages Enterprise Sales and, below it, Enterprise Sales DACH."),
    AccountSpec("employee", Role.EMPLOYEE, "member:ent-sales-dach:0", "Employee in Germany (consent required): open /me/."),
    AccountSpec("employee_us", Role.EMPLOYEE, "member:inside-sales:0", "Employee in California (no consent needed): open /me/."),
    AccountSpec("auditor", Role.AUDITOR, "lead:audit", "Read-only auditor: people (masked above Confidential) and audit events."),
    AccountSpec("admin", None, None, "Superuser, not linked to a person: /me/ says so."),
)  # fmt: skip


# -- names (deterministic, in code) -------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FEMALE = {
    "de": _words(
        "Anna Lena Julia Katharina Sophie Laura Lea Hannah Miriam Johanna Clara Marie Franziska Nina Elif Ayşe Zeynep Sabine"
    ),
    "gb": _words(
        "Olivia Amelia Emily Charlotte Grace Priya Aisha Chloe Eleanor Fatima Niamh Zara Isla Freya Imogen Amara"
    ),
    "us-ca": _words(
        "Maria Jessica Ashley Sofia Mei Jasmine Aaliyah Camila Rachel Keisha Ana Olivia Lucia Naomi Yuki Gabriela"
    ),
}
_MALE = {
    "de": _words(
        "Lukas Jonas Felix Maximilian Paul Tobias Jan Niklas Florian Matthias Stefan Mehmet Can David Simon Moritz"
    ),
    "gb": _words(
        "Oliver George Harry Jack James Thomas Arjun Mohammed Daniel Samuel Callum Rhys Kwame Ethan Owen Rory"
    ),
    "us-ca": _words(
        "Carlos Michael David Daniel José Kevin Brandon Wei Andre Luis Ryan Marcus Jamal Hiroshi Nathan Diego"
    ),
}
_NEUTRAL = _words("Alex Sam Robin Jordan Kai Charlie Noa Quinn")
_SURNAMES = {
    "de": _words(
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Neumann Schwarz Zimmermann Braun Krüger Hartmann Yılmaz Kaya Nowak Kowalski Lange Vogel"
    ),
    "gb": _words(
        "Smith Jones Taylor Brown Williams Wilson Evans Roberts Patel Khan Ahmed Campbell Murphy O'Brien Hughes Okafor Clarke Walsh Begum Mensah Fraser Lloyd"
    ),
    "us-ca": _words(
        "Garcia Rodriguez Martinez Nguyen Kim Chen Johnson Lee Hernandez Lopez Patel Washington Jackson Tanaka Brooks Rivera Park Cohen Miller Ramirez Singh Okoye"
    ),
}

_TITLES = {
    Fn.SALES: ("Account Executive", "Senior Account Executive", "Sales Development Representative", "Solutions Consultant"),
    Fn.MARKETING: ("Marketing Manager", "Content Strategist", "Growth Analyst", "Demand Generation Specialist"),
    Fn.PRODUCT: ("Product Manager", "Senior Product Manager", "Product Designer", "UX Researcher"),
    Fn.ENGINEERING: ("Software Engineer", "Senior Software Engineer", "Staff Engineer", "QA Engineer"),
    Fn.OPERATIONS: ("Site Reliability Engineer", "Senior SRE", "Infrastructure Engineer"),
    Fn.RESEARCH: ("Data Scientist", "Data Analyst", "Research Scientist", "Analytics Engineer"),
    Fn.SUPPORT: ("Support Specialist", "Senior Support Specialist", "Technical Support Engineer", "Customer Success Associate"),
    Fn.CRISIS: ("Incident Commander", "Incident Responder", "Escalation Engineer"),
    Fn.PEOPLE: ("HR Business Partner", "People Operations Specialist", "Talent Partner"),
    Fn.LEGAL: ("Privacy Counsel", "Compliance Analyst"),
    Fn.FINANCE: ("Internal Auditor", "Risk Analyst"),
}  # fmt: skip

# Self-described demographics (Restricted; used only by bias assessments).
GENDERS = ("Female", "Male", "Non-binary", "Prefer not to say")
ETHNICITIES = (
    "White",
    "Asian",
    "Black",
    "Hispanic or Latino",
    "Middle Eastern or North African",
    "Mixed or multiple",
    "Prefer not to say",
)
_ETHNICITY_WEIGHTS = {
    "gb": (62, 16, 9, 1, 3, 5, 4),
    "us-ca": (34, 18, 8, 28, 3, 5, 4),
}
DISABILITY = ("No", "Yes", "Prefer not to say")
_DISABILITY_WEIGHTS = (84, 9, 7)


def _ascii(text: str) -> str:
    for src, dst in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("ı", "i")):
        text = text.replace(src, dst).replace(src.upper(), dst.capitalize())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in text.lower() if c.isalnum())


# -- planning (pure: no database) ----------------------------------------------


@dataclass
class PlannedPerson:
    key: str
    id: uuid.UUID
    employee_id: str
    full_name: str
    email: str
    department: str
    jurisdiction: str
    manager: str | None
    wave: int  # people are written manager-first: a manager must exist to be named
    hire_date: datetime.date
    date_of_birth: datetime.date | None
    gender: str | None
    ethnicity: str | None
    disability: str | None
    status: str = Person.Status.ACTIVE
    team: str | None = None
    title: str = ""
    left_on: datetime.date | None = None


_MEMBER_WAVE = 99  # after every team lead, however deep the team tree


def plan_people(rng: random.Random, today: datetime.date) -> list[PlannedPerson]:
    """Every demo person, decided from ``rng`` alone (same seed, same people)."""
    used_names: set[str] = set()
    used_emails: set[str] = set()
    planned: list[PlannedPerson] = []

    def person(
        key: str,
        *,
        department: str,
        where: str,
        manager: str | None,
        wave: int,
        senior: bool,
    ) -> PlannedPerson:
        while True:
            kind = rng.choices("fmx", weights=(47, 47, 3))[0]
            first_names = {"f": _FEMALE[where], "m": _MALE[where], "x": _NEUTRAL}[kind]
            name = f"{rng.choice(first_names)} {rng.choice(_SURNAMES[where])}"
            if name not in used_names:
                break
        used_names.add(name)
        first, _, last = name.partition(" ")
        local = f"{_ascii(first)}.{_ascii(last)}"
        email, n = f"{local}@{COMPANY_DOMAIN}", 2
        while email in used_emails:
            email, n = f"{local}{n}@{COMPANY_DOMAIN}", n + 1
        used_emails.add(email)

        gender: str | None = {"f": "Female", "m": "Male", "x": "Non-binary"}[kind]
        roll = rng.random()
        if roll < 0.04:
            gender = "Prefer not to say"
        elif roll < 0.08:
            gender = None  # not provided
        age = rng.randint(38, 58) if senior else rng.randint(22, 56)
        dob: datetime.date | None = today - datetime.timedelta(
            days=age * 365 + rng.randint(0, 364)
        )
        if rng.random() < 0.03:
            dob = None
        # German employers generally don't record ethnicity (special-category
        # data under GDPR Art. 9); elsewhere it is self-described.
        ethnicity = (
            None
            if where == "de" or rng.random() < 0.05
            else rng.choices(ETHNICITIES, weights=_ETHNICITY_WEIGHTS[where])[0]
        )
        disability = (
            None
            if rng.random() < 0.05
            else rng.choices(DISABILITY, weights=_DISABILITY_WEIGHTS)[0]
        )
        # Tenure never starts before the age of 21.
        most = min(12 * 365 if senior else 7 * 365, (age - 21) * 365)
        tenure_days = rng.randint(min(5 * 365, most) if senior else 60, most)
        planned_person = PlannedPerson(
            key=key,
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            employee_id=f"NW-{len(planned) + 1:04d}",
            full_name=name,
            email=email,
            department=department,
            jurisdiction=where,
            manager=manager,
            wave=wave,
            hire_date=today - datetime.timedelta(days=tenure_days),
            date_of_birth=dob,
            gender=gender,
            ethnicity=ethnicity,
            disability=disability,
        )
        planned.append(planned_person)
        return planned_person

    for dept, (_, where) in DEPARTMENTS.items():
        person(
            f"head:{dept}",
            department=dept,
            where=where,
            manager=None,
            wave=0,
            senior=True,
        )
    by_key = {t.key: t for t in TEAMS}

    def pick_where(team: TeamSpec) -> str:
        codes = list(team.where)
        return rng.choices(codes, weights=[team.where[c] for c in codes])[0]

    for team in TEAMS:
        boss = f"lead:{team.parent}" if team.parent else f"head:{team.department}"
        depth = 1
        parent = team.parent
        while parent:
            depth += 1
            parent = by_key[parent].parent
        lead = person(
            f"lead:{team.key}",
            department=team.department,
            where=pick_where(team),
            manager=boss,
            wave=depth,
            senior=True,
        )
        lead.team, lead.title = team.key, "Team lead"
        for n in range(team.members):
            member = person(
                f"member:{team.key}:{n}",
                department=team.department,
                where=pick_where(team),
                manager=lead.key,
                wave=_MEMBER_WAVE,
                senior=False,
            )
            member.team = team.key
            member.title = rng.choice(_TITLES[team.function])

    # A few people away or gone, never one who holds a demo account or a stewardship.
    reserved = {a.person for a in ACCOUNTS} | set(STEWARDS.values())
    candidates = [
        p for p in planned if p.key.startswith("member:") and p.key not in reserved
    ]
    *on_leave, left = rng.sample(candidates, 3)
    for p in on_leave:
        p.status = Person.Status.ON_LEAVE
    left.status = Person.Status.LEFT
    left.left_on = today - datetime.timedelta(days=rng.randint(20, 120))
    if left.hire_date >= left.left_on:
        left.hire_date = left.left_on - datetime.timedelta(days=400)
    return planned


# -- the kernel's steps ------------------------------------------------------


def seed_jurisdictions(ctx: DemoContext) -> None:
    for spec in JURISDICTIONS:
        obj = Jurisdiction(
            code=spec.code,
            name=spec.name,
            privacy_regime=spec.regime,
            consent_required=spec.consent_required,
            default_retention_days=spec.retention_days,
        )
        services.save_governed(obj, actor=ctx.actor, reason=ctx.reason)
        ctx.jurisdictions[spec.code] = obj
    ctx.counts["jurisdictions"] += len(JURISDICTIONS)


def seed_departments(ctx: DemoContext) -> None:
    for key, (name, _) in DEPARTMENTS.items():
        obj = Department(code=key, name=name)
        services.save_governed(obj, actor=ctx.actor, reason=ctx.reason)
        ctx.departments[key] = obj
    ctx.counts["departments"] += len(DEPARTMENTS)


def seed_teams(ctx: DemoContext) -> None:
    for spec in TEAMS:  # parents are listed before their children
        obj = Team(
            name=spec.name,
            department=ctx.departments[spec.department],
            function=spec.function,
            interdependence=spec.interdependence,
            parent=ctx.teams[spec.parent] if spec.parent else None,
        )
        services.save_governed(obj, actor=ctx.actor, reason=ctx.reason)
        ctx.teams[spec.key] = obj
    ctx.counts["teams"] += len(TEAMS)


def seed_people(ctx: DemoContext) -> None:
    """People through the bulk path, in waves so every manager exists first."""
    planned = plan_people(ctx.rng, ctx.today)
    ctx.extra["planned_people"] = planned
    for wave in sorted({p.wave for p in planned}):
        batch = []
        for p in planned:
            if p.wave != wave:
                continue
            person = Person(
                id=p.id,
                employee_id=p.employee_id,
                full_name=p.full_name,
                email=p.email,
                department=ctx.departments[p.department],
                jurisdiction=ctx.jurisdictions[p.jurisdiction],
                manager=ctx.people[p.manager] if p.manager else None,
                hire_date=p.hire_date,
                status=p.status,
                date_of_birth=p.date_of_birth,
                gender=p.gender,
                ethnicity=p.ethnicity,
                disability=p.disability,
            )
            ctx.people[p.key] = person
            batch.append(person)
        services.people_bulk_create(actor=ctx.actor, reason=ctx.reason, people=batch)
    for dept, key in STEWARDS.items():
        ctx.people[f"steward:{dept}"] = ctx.people[key]
    ctx.counts["people"] += len(planned)


def seed_memberships(ctx: DemoContext) -> None:
    for p in ctx.extra["planned_people"]:
        if not p.team:
            continue
        membership = Membership(
            person=ctx.people[p.key],
            team=ctx.teams[p.team],
            role=p.title,
            start_date=p.hire_date,
            end_date=p.left_on,
        )
        services.save_governed(membership, actor=ctx.actor, reason=ctx.reason)
        ctx.counts["memberships"] += 1


def seed_leadership(ctx: DemoContext) -> None:
    """Team leads manage their teams; each department gets its data steward."""
    for spec in TEAMS:
        team = ctx.teams[spec.key]
        team.manager = ctx.people[f"lead:{spec.key}"]
        services.save_governed(team, actor=ctx.actor, reason="demo: assign team lead")
    for key, department in ctx.departments.items():
        department.steward = ctx.people[f"steward:{key}"]
        services.save_governed(
            department, actor=ctx.actor, reason="demo: appoint data steward"
        )


def seed_accounts(ctx: DemoContext) -> None:
    """One account per role (plus a superuser), all with :data:`DEMO_PASSWORD`."""
    hashed = make_password(DEMO_PASSWORD)  # hashed once: PBKDF2 is slow by design
    for spec in ACCOUNTS:
        person = ctx.people[spec.person] if spec.person else None
        email = (
            person.email if person is not None else f"{spec.username}@{COMPANY_DOMAIN}"
        )
        user = User(username=spec.username, email=email, password=hashed)
        validate_password(DEMO_PASSWORD, user)
        if spec.role is None:
            user.is_superuser = user.is_staff = True
            user.full_clean(exclude=["password"])
            user.save()
            services.user_set_access(
                user=user,
                actor=ctx.actor,
                reason=ctx.reason,
                roles=[],
                clearance=max(ROLES[r].clearance for r in Role),
            )
        else:
            user.full_clean(exclude=["password"])
            user.save()
            services.user_set_access(
                user=user,
                actor=ctx.actor,
                reason=ctx.reason,
                roles=[spec.role],
                clearance=ROLES[spec.role].clearance,
            )
        if person is not None:
            person.user = user
            services.save_governed(
                person, actor=ctx.actor, reason="demo: link sign-in account"
            )
        ctx.users[spec.username] = user
    ctx.counts["accounts"] += len(ACCOUNTS)


_PEOPLE_COUNT = len(DEPARTMENTS) + sum(1 + t.members for t in TEAMS)

for _name, _func, _order, _what in (
    (
        "jurisdictions",
        seed_jurisdictions,
        10,
        "Germany (consent required), UK, California",
    ),
    (
        "departments",
        seed_departments,
        20,
        ", ".join(n for n, _ in DEPARTMENTS.values()),
    ),
    (
        "teams",
        seed_teams,
        30,
        f"{len(TEAMS)} teams with functions, interdependence, sub-teams",
    ),
    (
        "people",
        seed_people,
        40,
        f"{_PEOPLE_COUNT} people with managers and demographics (bulk path)",
    ),
    ("memberships", seed_memberships, 50, "team memberships with job titles"),
    ("leadership", seed_leadership, 60, "team leads and data stewards"),
    ("accounts", seed_accounts, 70, "one sign-in per role plus a superuser"),
):
    register(_name, _func, order=_order, description=_what)
