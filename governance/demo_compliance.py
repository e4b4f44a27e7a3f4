"""Demo data for consent and retention (``seed_demo`` steps, orders 80-89).

``consent`` (80)
    In the jurisdiction that requires consent (Germany), most people give
    consent to individual performance tracking (on paper, a year ago), a few
    of them withdraw it, and the rest never gave it. The German demo employee
    (``employee``) consented, so their /me/ page shows their own data; the
    metrics steps that follow capture individual data only for people whose
    consent is in force.
``retention`` (85)
    Retention policies for people who left, observations, evaluations and
    feedback, and one legal hold (a person under a pending tribunal claim).

The review board and bias assessment demo lives with the metrics steps
(``metrics.demo``, ``metrics-governance``), which own their subjects.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from governance import consent, demo, retention
from governance.classification import Sensitivity
from governance.demo import DemoContext
from governance.models import RetentionPolicy

#: Person keys (in the consent-requiring jurisdiction) that always consent.
ALWAYS_CONSENTING = ("member:ent-sales-dach:0",)


def seed_consent(ctx: DemoContext) -> None:
    purpose = consent.ensure_default_purpose()
    required = sorted(
        key
        for key, person in ctx.people.items()
        if person.jurisdiction.consent_required and not key.startswith("steward:")
    )
    given_at = timezone.now() - datetime.timedelta(days=400)
    given, withdrawn, missing = [], [], []
    for index, key in enumerate(required):
        person = ctx.people[key]
        if key not in ALWAYS_CONSENTING and ctx.rng.random() < 0.3:
            missing.append(key)
            continue
        consent.give_consent(
            actor=ctx.actor,
            person=person,
            purpose=purpose,
            obtained_via="paper",
            evidence=f"Signed consent form, HR file DE-{index + 1:03d} (demo data)",
            given_at=given_at,
        )
        given.append(key)
    # Every fourth of those who gave it withdraws it again (never the demo employee).
    for key in [k for k in given if k not in ALWAYS_CONSENTING][::4]:
        consent.withdraw_consent(
            actor=ctx.actor,
            person=ctx.people[key],
            purpose=purpose,
            reason="Employee asked HR to stop individual tracking (demo data)",
        )
        withdrawn.append(key)
    ctx.extra["consent"] = {"given": given, "withdrawn": withdrawn, "missing": missing}
    ctx.counts["consents given"] += len(given)
    ctx.counts["consents withdrawn"] += len(withdrawn)
    ctx.log(
        f"    consent in Germany: {len(given) - len(withdrawn)} in force, "
        f"{len(withdrawn)} withdrawn, {len(missing)} never given"
    )


POLICIES = (
    ("governance.person", None, 365, "One year after leaving: references and claims."),
    (
        "metrics.observation",
        None,
        3 * 365,
        "Three review cycles, for trends and appeals.",
    ),
    ("metrics.evaluation", None, 5 * 365, "Employment records duty (five years)."),
    ("metrics.peerfeedback", Sensitivity.CONFIDENTIAL, 2 * 365, "Two review cycles."),
    ("metrics.stakeholderfeedback", None, 2 * 365, "Two review cycles."),
)


def seed_retention(ctx: DemoContext) -> None:
    known = retention.record_types()
    for record_type, level, days, why in POLICIES:
        if record_type not in known:
            continue
        retention.policy_save(
            actor=ctx.actor,
            policy=RetentionPolicy(
                record_type=record_type,
                classification=level,
                retention_days=days,
                purpose=why,
            ),
            reason=ctx.reason,
        )
        ctx.counts["retention policies"] += 1
    held = ctx.people.get("member:inside-sales:1")
    if held is not None:
        retention.hold_place(
            actor=ctx.users.get("compliance"),
            person=held,
            reason="Pending employment tribunal claim ET/2026/0417 (demo data)",
        )
        ctx.counts["legal holds"] += 1


demo.register(
    "consent",
    seed_consent,
    order=80,
    description="consent given, withdrawn and missing in Germany",
)
demo.register(
    "retention",
    seed_retention,
    order=85,
    description="retention policies and a legal hold",
)
