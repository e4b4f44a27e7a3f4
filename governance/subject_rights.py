"""Subject rights (G.DSAR): access (a download of everything held about the
person), and the records of processing (GDPR Art. 30).

Access. Everything held about a person is collected by *contributors*, one
per kind of data, registered by the app that holds it (metrics adds
observations, evaluations and feedback from ``metrics.governance_links``)
so the kernel never imports them. A contributor receives the person and
returns JSON-able data about that person only: values about anyone else
(a reviewer, an evaluator, a manager) are left out. Erasure is
``governance.services.person_erase`` (crypto-shredding, compliance only,
with a recorded reason).

Records of processing. :func:`records_of_processing` lists each processing
activity: purpose, categories of data subjects and of data (from the
classification of encrypted fields), recipients (the roles that may read it),
retention (from :class:`~governance.models.RetentionPolicy`) and the
jurisdictions people are employed under.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from governance import consent, permissions
from governance.audit import events
from governance.classification import Sensitivity
from governance.crypto.fields import ERASED
from governance.models import Jurisdiction, Membership, Person, RetentionPolicy

Contributor = Callable[[Person], Any]


@dataclass(frozen=True)
class DataContributor:
    key: str
    title: str
    collect: Contributor
    order: int = 100


_CONTRIBUTORS: dict[str, DataContributor] = {}


def register_contributor(contributor: DataContributor) -> None:
    _CONTRIBUTORS[contributor.key] = contributor


def contributors() -> list[DataContributor]:
    return sorted(_CONTRIBUTORS.values(), key=lambda c: (c.order, c.key))


def plain(value: Any) -> Any:
    """A value as JSON: erased values say so, dates and decimals as text."""
    if value is ERASED:
        return "[erased]"
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    return value


def subject_access_data(*, viewer: Any) -> dict[str, Any] | None:
    """Everything held about the signed-in person, as JSON-able data, or
    ``None`` when the account is not linked to a person. Records a
    ``subject.access`` audit event (which sections, no values)."""
    linked = permissions.person_of(viewer)
    if linked is None:
        return None
    person = Person.objects.select_related("department", "jurisdiction").get(
        pk=linked.pk
    )
    sections: dict[str, Any] = {}
    for contributor in contributors():
        sections[contributor.key] = {
            "title": contributor.title,
            "data": contributor.collect(person),
        }
    with transaction.atomic():
        events.record(
            "subject.access",
            actor=viewer,
            target=person,
            data={"sections": sorted(sections)},
        )
    return {
        "subject": {"employee_id": person.employee_id, "person_id": str(person.pk)},
        "generated_at": timezone.now().isoformat(),
        "controller_note": (
            "This is every record the Performance Governance Portal holds about "
            "you. Values about other people (reviewers, evaluators, managers) are "
            "left out. Ask compliance for corrections or erasure."
        ),
        "sections": sections,
    }


# -- the kernel's own contributions ----------------------------------------------


def _profile(person: Person) -> dict[str, Any]:
    return {
        "employee_id": person.employee_id,
        "full_name": plain(person.full_name),
        "email": plain(person.email),
        "department": person.department.name,
        "jurisdiction": person.jurisdiction.name,
        "hire_date": plain(person.hire_date),
        "status": person.status,
        "date_of_birth": plain(person.date_of_birth),
        "gender": plain(person.gender),
        "ethnicity": plain(person.ethnicity),
        "disability": plain(person.disability),
        "classification": Sensitivity(person.classification).label,
    }


def _memberships(person: Person) -> list[dict[str, Any]]:
    return [
        {
            "team": m.team.name,
            "role": m.role,
            "start_date": plain(m.start_date),
            "end_date": plain(m.end_date),
        }
        for m in Membership.objects.filter(person=person)
        .select_related("team")
        .order_by("team__name")
    ]


def _consents(person: Person) -> list[dict[str, Any]]:
    return [
        {
            "purpose": state.purpose.code,
            "purpose_name": state.purpose.name,
            "in_force": state.active is not None,
            "records": [
                {
                    "lawful_basis": r.lawful_basis,
                    "text_version": r.text_version,
                    "given_at": plain(r.given_at),
                    "withdrawn_at": plain(r.withdrawn_at),
                    "expires_at": plain(r.expires_at),
                    "obtained_via": r.obtained_via,
                }
                for r in state.records
            ],
        }
        for state in consent.own_consents(person)
    ]


register_contributor(DataContributor("profile", "My record", _profile, order=10))
register_contributor(DataContributor("teams", "My teams", _memberships, order=20))
register_contributor(DataContributor("consents", "Consent", _consents, order=30))


# -- records of processing (GDPR Art. 30) ------------------------------------------


@dataclass(frozen=True)
class Activity:
    """One processing activity as declared by the app that performs it."""

    name: str
    purpose: str
    models: tuple[str, ...]
    subjects: str = "Employees"
    lawful_basis: str = ""


_ACTIVITIES: dict[str, Activity] = {}


def register_activity(activity: Activity) -> None:
    _ACTIVITIES[activity.name] = activity


register_activity(
    Activity(
        name="Employee records",
        purpose="Know who is measured, their teams, managers and jurisdiction.",
        models=("governance.person", "governance.membership"),
        lawful_basis="Employment contract (Art. 6(1)(b))",
    )
)
register_activity(
    Activity(
        name="Consent management",
        purpose="Record consent to individual-level tracking where it is required.",
        models=("governance.consentrecord",),
        lawful_basis="Legal obligation (Art. 6(1)(c)); consent (Art. 7)",
    )
)
register_activity(
    Activity(
        name="Bias assessment",
        purpose="Check metrics and evaluation releases for adverse impact on "
        "protected groups before use (demographics used only here).",
        models=("governance.person", "governance.biasassessment"),
        lawful_basis="Legal obligation; substantial public interest (Art. 9(2)(g))",
    )
)


def _categories(model: Any) -> list[dict[str, str]]:
    rows = []
    for f in model._meta.concrete_fields:
        level = getattr(f, "sensitivity", None)
        if level is None:
            continue
        rows.append({"field": f.name, "classification": Sensitivity(level).label})
    return rows


def _recipients(model: Any) -> list[str]:
    from governance.roles import ROLES

    codename = f"{model._meta.app_label}.view_{model._meta.model_name}"
    return sorted(
        str(role.value) for role, spec in ROLES.items() if codename in spec.permissions
    )


def records_of_processing() -> dict[str, Any]:
    """The Art. 30 register as JSON-able data."""
    policies = list(RetentionPolicy.objects.filter(active=True))
    jurisdictions = [
        {
            "code": j.code,
            "name": j.name,
            "regime": j.get_privacy_regime_display(),
            "consent_required": j.consent_required,
            "default_retention_days": j.default_retention_days,
        }
        for j in Jurisdiction.objects.order_by("code")
    ]
    activities = []
    for activity in sorted(_ACTIVITIES.values(), key=lambda a: a.name):
        models_ = [apps.get_model(label) for label in activity.models]
        retention = [
            {
                "record_type": p.record_type,
                "classification": (
                    "any"
                    if p.classification is None
                    else Sensitivity(p.classification).label
                ),
                "retention_days": p.retention_days,
                "purpose": p.purpose,
            }
            for p in policies
            if p.record_type in activity.models
        ]
        activities.append(
            {
                "activity": activity.name,
                "purpose": activity.purpose,
                "lawful_basis": activity.lawful_basis,
                "data_subjects": activity.subjects,
                "records": list(activity.models),
                "data_categories": [
                    {"record": m._meta.label_lower, **row}
                    for m in models_
                    for row in _categories(m)
                ],
                "recipients": sorted({r for m in models_ for r in _recipients(m)}),
                "retention": retention or "no policy set (kept until erased)",
                "jurisdictions": [j["code"] for j in jurisdictions],
            }
        )
    return {
        "generated_at": timezone.now().isoformat(),
        "controller": "Performance Governance Portal",
        "activities": activities,
        "jurisdictions": jurisdictions,
    }


def records_of_processing_rows() -> list[dict[str, str]]:
    """One flat row per activity, for CSV."""
    data = records_of_processing()
    rows = []
    for a in data["activities"]:
        retention = a["retention"]
        rows.append(
            {
                "activity": a["activity"],
                "purpose": a["purpose"],
                "lawful_basis": a["lawful_basis"],
                "data_subjects": a["data_subjects"],
                "data_categories": "; ".join(
                    f"{c['record']}.{c['field']} ({c['classification']})"
                    for c in a["data_categories"]
                ),
                "recipients": "; ".join(a["recipients"]),
                "retention": retention
                if isinstance(retention, str)
                else "; ".join(
                    f"{r['record_type']} {r['classification']}: {r['retention_days']} days"
                    for r in retention
                ),
                "jurisdictions": "; ".join(a["jurisdictions"]),
            }
        )
    return rows
