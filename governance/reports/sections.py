"""Audit-pack sections: an extension point (R.PDF).

The audit pack is assembled from *sections*. Each app contributes its own
sections by registering a provider from its ``AppConfig.ready()``; the
governance kernel never imports the apps above it::

    from governance.reports import sections

    sections.register(sections.Section(
        key="appeals", title="Appeals", order=70, provider=appeal_section,
        description="Appeals filed and decided in the period",
    ))

A provider is called with a :class:`SectionContext` (viewer, period,
pseudonymiser) and returns a :class:`SectionOutput`: HTML chunks for the
chunked renderer (an iterable; long tables as :func:`render.table_chunks`),
JSON-able data and optional CSV tables. Providers must apply the viewer's
access exactly as the admin does: ``Model.objects.visible_to(viewer)`` for
rows, clearance/masking for values (``queryset.masked_for(viewer)``), and
:meth:`SectionContext.person` / :meth:`SectionContext.user` for every person
or account named, which pseudonymise when the pack is pseudonymised.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from governance import permissions
from governance.classification import Sensitivity

#: The permission that lets an auditor see people's identities in an audit
#: pack (the same grant as in the admin: :mod:`governance.pseudonyms`).
IDENTIFY_PERMISSION = "governance.view_identities"


@dataclass
class CsvTable:
    name: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    description: str = ""


@dataclass
class SectionOutput:
    """What a provider returns: HTML chunks, the JSON data, CSV tables."""

    chunks: Iterable[str]
    data: Any
    tables: list[CsvTable] = field(default_factory=list)
    #: Number of chunks when ``chunks`` is a generator (for progress).
    chunk_count: int | None = None
    #: Highest classification of what the section shows.
    classification: int = Sensitivity.INTERNAL


class Pseudonymiser:
    """Stable keyed pseudonyms, the very ones the admin shows an auditor
    (:mod:`governance.pseudonyms`): the same person gets the same label on
    every page and in every pack, so an auditor can follow someone across
    sections and reports without learning who they are."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def label(self, kind: str, ident: Any) -> str:
        from governance import pseudonyms

        if kind == "person":
            return pseudonyms.pseudonym(ident)
        from governance.models import Person

        person_id = (
            Person.objects.filter(user_id=ident).values_list("pk", flat=True).first()
        )
        if person_id is not None:
            return pseudonyms.pseudonym(person_id)
        return pseudonyms.account_pseudonym(ident)


@dataclass
class SectionContext:
    viewer: Any
    date_from: datetime.date | None
    date_to: datetime.date | None
    pseudonymise: bool
    _pseudonyms: Pseudonymiser | None = None
    _people: dict[str, str] = field(default_factory=dict)
    _users: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._pseudonyms = Pseudonymiser(self.pseudonymise)

    # -- the period --------------------------------------------------------

    def datetime_range(
        self,
    ) -> tuple[datetime.datetime | None, datetime.datetime | None]:
        tz = timezone.get_current_timezone()
        start = (
            datetime.datetime.combine(self.date_from, datetime.time.min, tzinfo=tz)
            if self.date_from
            else None
        )
        end = (
            datetime.datetime.combine(
                self.date_to + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz
            )
            if self.date_to
            else None
        )
        return start, end

    def period_q(self, field_name: str) -> Q:
        """Rows whose datetime ``field_name`` falls in the period."""
        start, end = self.datetime_range()
        q = Q()
        if start:
            q &= Q(**{f"{field_name}__gte": start})
        if end:
            q &= Q(**{f"{field_name}__lt": end})
        return q

    def date_q(self, field_name: str) -> Q:
        """Rows whose date ``field_name`` falls in the period."""
        q = Q()
        if self.date_from:
            q &= Q(**{f"{field_name}__gte": self.date_from})
        if self.date_to:
            q &= Q(**{f"{field_name}__lte": self.date_to})
        return q

    # -- naming people -------------------------------------------------------

    def person(self, person_id: Any) -> str:
        """How a person is named: a pseudonym, or their name as the viewer
        would see it in the admin (masked above clearance; a pseudonym for
        anyone outside the viewer's row scope)."""
        if person_id is None:
            return ""
        key = str(person_id)
        if key not in self._people:
            assert self._pseudonyms is not None
            label = self._pseudonyms.label("person", key)
            if not self.pseudonymise:
                from governance.models import Person

                person = (
                    Person.objects.visible_to(self.viewer)
                    .masked_for(self.viewer)
                    .filter(pk=person_id)
                    .first()
                )
                if person is not None:
                    label = f"{person.full_name} ({person.employee_id})"
            self._people[key] = label
        return self._people[key]

    def user(self, user_id: Any, username: str = "") -> str:
        """How an account (an actor) is named: a pseudonym or its username."""
        if user_id is None:
            return "system"
        ident = int(user_id)
        if ident not in self._users:
            assert self._pseudonyms is not None
            if self.pseudonymise:
                self._users[ident] = self._pseudonyms.label("user", ident)
            else:
                if not username:
                    from django.contrib.auth import get_user_model

                    username = (
                        get_user_model()
                        .objects.filter(pk=ident)
                        .values_list("username", flat=True)
                        .first()
                        or f"user #{ident}"
                    )
                self._users[ident] = username
        return self._users[ident]


Provider = Callable[[SectionContext], SectionOutput]


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    provider: Provider
    #: Position in the pack (ascending); ties by key.
    order: int = 100
    description: str = ""
    #: Whether the viewer may receive this section at all (default: always;
    #: the provider still scopes rows). E.g. a model permission check.
    available: Callable[[Any], bool] = lambda viewer: True


_REGISTRY: dict[str, Section] = {}


def register(section: Section) -> None:
    """Add (or replace, by key) a section; call from ``AppConfig.ready()``."""
    if not section.key.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"section key {section.key!r} must be a slug")
    _REGISTRY[section.key] = section


def registered() -> list[Section]:
    return sorted(_REGISTRY.values(), key=lambda s: (s.order, s.key))


def keys() -> list[str]:
    return [s.key for s in registered()]


def get(key: str) -> Section:
    try:
        return _REGISTRY[key]
    except KeyError:
        raise KeyError(
            f"unknown audit-pack section {key!r}; known: {', '.join(keys())}"
        ) from None


def may_request(user: Any) -> bool:
    """Who may request an audit pack at all (model permission)."""
    return permissions.has_model_perm(user, _report_job_model(), "add")


def pseudonymise_for(user: Any) -> bool:
    """People are pseudonymised for exactly the viewers the admin pseudonymises
    (auditors without the explicit ``governance.view_identities`` grant)."""
    from governance import pseudonyms

    return pseudonyms.sees_pseudonyms(user)


def _report_job_model() -> Any:
    from governance.models import ReportJob

    return ReportJob


# -- the kernel's own sections ------------------------------------------------


def _section_html(title: str, intro: str, body: str = "") -> str:
    from django.template.loader import render_to_string

    return render_to_string(
        "reports/audit/section.html", {"title": title, "intro": intro, "body": body}
    )


def _table_html(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], caption: str = ""
) -> str:
    from django.template.loader import render_to_string

    return render_to_string(
        "reports/audit/table.html",
        {"columns": columns, "rows": list(rows), "caption": caption},
    )


def classification_register(ctx: SectionContext) -> SectionOutput:
    """Every governed model, its record-level classification and its
    classified (encrypted) fields with their sensitivity floor."""
    from django.apps import apps

    from governance import display

    rows: list[list[Any]] = []
    for model in sorted(apps.get_models(), key=lambda m: m._meta.label_lower):
        if model._meta.app_label not in ("governance", "metrics", "appeals"):
            continue
        if model.__name__.startswith("Historical"):
            continue
        classified = display.encrypted_fields(model)
        record_level = None
        try:
            level_field = model._meta.get_field("classification")
            record_level = Sensitivity(level_field.default).label  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - models without a classification column
            record_level = None
        if not classified and record_level is None:
            continue
        for f in classified:
            rows.append(
                [
                    model._meta.label,
                    f.name,
                    Sensitivity(int(f.sensitivity)).label,
                    record_level or "-",
                ]
            )
        if not classified:
            rows.append([model._meta.label, "(record)", "-", record_level])
    columns = ["Model", "Field", "Sensitivity", "Record default"]
    html = _section_html(
        "Classification register",
        "Models holding classified data, each classified field with its "
        "sensitivity floor, and the default record-level classification. "
        "Values above a reader's clearance are masked; Confidential and "
        "Restricted values are encrypted at rest.",
        _table_html(columns, rows),
    )
    data = [
        dict(zip(["model", "field", "sensitivity", "record_default"], r, strict=True))
        for r in rows
    ]
    return SectionOutput(
        chunks=[html],
        data=data,
        tables=[CsvTable("classification-register", columns, rows)],
        classification=Sensitivity.INTERNAL,
    )


def board_decisions(ctx: SectionContext) -> SectionOutput:
    """Review-board proposals decided in the period with their ballot tallies."""
    from governance.models import Ballot, Proposal

    proposals = (
        Proposal.objects.visible_to(ctx.viewer)
        .filter(ctx.period_q("created_at") | ctx.period_q("decided_at"))
        .order_by("created_at", "pk")
    )
    ballots = {
        b.proposal_id: b
        for b in Ballot.objects.visible_to(ctx.viewer).filter(
            proposal__in=[p.pk for p in proposals]
        )
    }
    columns = [
        "Proposal",
        "Subject",
        "Kind",
        "Author",
        "Status",
        "Outcome",
        "Approve",
        "Reject",
        "Abstain",
        "Eligible",
        "Quorum",
        "Decided",
    ]
    rows = []
    for p in proposals:
        b = ballots.get(p.pk)
        rows.append(
            [
                f"#{p.pk} {p.title}",
                f"{p.subject_type} {p.subject_label or p.subject_id}",
                p.get_kind_display(),
                ctx.user(p.author_id),
                p.get_status_display(),
                b.get_outcome_display() if b and b.outcome else "-",
                b.approve_count if b else 0,
                b.reject_count if b else 0,
                b.abstain_count if b else 0,
                b.eligible_count if b else 0,
                b.quorum if b else 0,
                p.decided_at.date().isoformat() if p.decided_at else "-",
            ]
        )
    html = _section_html(
        "Review board decisions",
        "Proposals raised or decided in the period that you may see, with the "
        "ballot tally (votes are counted, individual votes are not listed).",
        _table_html(columns, rows) if rows else "<p>No proposals in the period.</p>",
    )
    keys_ = [c.lower() for c in columns]
    return SectionOutput(
        chunks=[html],
        data=[dict(zip(keys_, r, strict=True)) for r in rows],
        tables=[CsvTable("board-decisions", columns, rows)],
        classification=Sensitivity.INTERNAL,
    )


def consent_statistics(ctx: SectionContext) -> SectionOutput:
    """Per purpose: records in force at the end of the period, given and
    withdrawn within it. Counts only; who consented is not listed."""
    from governance.models import ConsentPurpose, ConsentRecord

    _start, end = ctx.datetime_range()
    moment = end or timezone.now()
    records = ConsentRecord.objects.visible_to(ctx.viewer)
    given = ctx.period_q("given_at")
    withdrawn = ctx.period_q("withdrawn_at") & Q(withdrawn_at__isnull=False)
    active = records.active_at(moment)  # type: ignore[attr-defined]
    stats = {
        row["purpose_id"]: row
        for row in records.values("purpose_id").annotate(
            given=Count("pk", filter=given),
            withdrawn=Count("pk", filter=withdrawn),
        )
    }
    in_force = dict(
        active.values("purpose_id")
        .annotate(n=Count("pk"))
        .values_list("purpose_id", "n")
    )
    columns = [
        "Purpose",
        "Code",
        "Text version",
        "In force at end",
        "Given",
        "Withdrawn",
    ]
    rows = []
    for purpose in ConsentPurpose.objects.visible_to(ctx.viewer).order_by("code"):
        s = stats.get(purpose.pk, {})
        rows.append(
            [
                purpose.name,
                purpose.code,
                purpose.text_version,
                in_force.get(purpose.pk, 0),
                s.get("given", 0),
                s.get("withdrawn", 0),
            ]
        )
    html = _section_html(
        "Consent statistics",
        "Consent records you may see, per purpose: in force at the end of the "
        "period, given and withdrawn within it. Counts only.",
        _table_html(columns, rows) if rows else "<p>No consent purposes visible.</p>",
    )
    keys_ = ["purpose", "code", "text_version", "in_force", "given", "withdrawn"]
    return SectionOutput(
        chunks=[html],
        data={
            "as_of": moment.isoformat(),
            "purposes": [dict(zip(keys_, r, strict=True)) for r in rows],
        },
        tables=[CsvTable("consent-statistics", columns, rows)],
        classification=Sensitivity.INTERNAL,
    )


def audit_chain_head(ctx: SectionContext) -> SectionOutput:
    """The head of the tamper-evident audit chain when the pack was made, and
    the number of audit events in the period (by action)."""
    from governance.audit import chain
    from governance.models import AuditEvent

    head = chain.head()
    seq, _, link = head.partition(":")
    events_q = AuditEvent.objects.filter(ctx.period_q("occurred_at"))
    visible = permissions.has_model_perm(ctx.viewer, AuditEvent, "view")
    by_action = (
        list(
            events_q.values("action")
            .annotate(n=Count("pk"))
            .order_by("action")
            .values_list("action", "n")
        )
        if visible
        else []
    )
    body = (
        f"<p>Chain head: sequence <b>{int(seq)}</b>, link hash "
        f'<span class="mono">{link}</span>.</p>'
        '<p>Check it later with <span class="mono">manage.py verify_audit</span>: '
        "a head that is no longer on the chain means the trail was rewritten.</p>"
    )
    if by_action:
        body += _table_html(
            ["Action", "Events"], by_action, "Audit events in the period"
        )
    html = _section_html("Audit chain", "", body)
    return SectionOutput(
        chunks=[html],
        data={
            "head": head,
            "seq": int(seq),
            "link_hash": link,
            "events_by_action": dict(by_action),
        },
        classification=Sensitivity.INTERNAL,
    )


def period_dates(ctx: SectionContext) -> tuple[datetime.date, datetime.date]:
    """The pack's period as dates (an open end is the beginning / today)."""
    return (
        ctx.date_from or datetime.date(1970, 1, 1),
        ctx.date_to or timezone.localdate(),
    )


def bias_assessments(ctx: SectionContext) -> SectionOutput:
    """Bias assessments run in the period (M8.5): verdict, status, dataset
    hash, per-group figures (groups under the minimum size suppressed) and
    remediation items with their state. Owners named as the viewer may see
    them (pseudonyms for auditors)."""
    from governance import selectors
    from governance.models import Person

    date_from, date_to = period_dates(ctx)
    summary = selectors.bias_assessment_summary(
        viewer=ctx.viewer, date_from=date_from, date_to=date_to
    )
    owners = {
        item["owner"] for a in summary["assessments"] for item in a["remediation"]
    }
    owner_ids = dict(
        Person.objects.filter(employee_id__in=owners).values_list("employee_id", "pk")
    )
    for a in summary["assessments"]:
        a["run_by"] = ctx.user(a.pop("run_by_id"))
        for item in a["remediation"]:
            item["owner"] = ctx.person(owner_ids.get(item["owner"]))
    for item in summary["remediation"]["overdue"]:
        if item["owner"] in owner_ids:
            item["owner"] = ctx.person(owner_ids[item["owner"]])

    columns = [
        "Assessment",
        "Target",
        "Attribute",
        "Run",
        "Reference group",
        "Verdict",
        "Status",
        "Remediation (closed/total)",
    ]
    rows = [
        [
            f"#{a['id']}",
            a["target_label"]
            + (f" v{a['target_version']}" if a["target_version"] else ""),
            a["attribute"],
            a["run_at"][:10],
            a["reference_group"] or "-",
            a["verdict"],
            a["status"],
            f"{sum(i['status'] == 'closed' for i in a['remediation'])}"
            f"/{len(a['remediation'])}",
        ]
        for a in summary["assessments"]
    ]
    group_columns = [
        "Assessment",
        "Group",
        "n",
        "Selected",
        "Rate",
        "Impact ratio",
        "Adverse",
        "Fisher p",
        "Chi² p",
    ]
    group_rows = []
    for a in summary["assessments"]:
        for g in a["groups"]:
            if g["suppressed"]:
                group_rows.append(
                    [f"#{a['id']}", g["group"], "suppressed", "", "", "", "", "", ""]
                )
                continue
            group_rows.append(
                [
                    f"#{a['id']}",
                    g["group"],
                    g["n"],
                    g["selected"],
                    _fmt(g["rate"]),
                    _fmt(g["impact_ratio"]),
                    "yes" if g["adverse"] else "no",
                    _fmt(g["fisher_p"]),
                    _fmt(g["chi2_p"]),
                ]
            )
    body = (
        _table_html(columns, rows) + _table_html(group_columns, group_rows, "Groups")
        if rows
        else "<p>No bias assessments in the period.</p>"
    )
    overdue = len(summary["remediation"]["overdue"])
    html = _section_html(
        "Bias assessments",
        f"{summary['count']} assessment(s) in the period, {summary['completed']} "
        f"completed; remediation items: {summary['remediation']['closed']} of "
        f"{summary['remediation']['total']} closed, {overdue} overdue. Impact "
        "ratios are exact fractions (four-fifths rule: below 4/5 is adverse); "
        "recompute a group table with manage.py bias_check.",
        body,
    )
    return SectionOutput(
        chunks=[html],
        data=summary,
        tables=[
            CsvTable("bias-assessments", columns, rows),
            CsvTable("bias-groups", group_columns, group_rows),
        ],
        classification=Sensitivity.CONFIDENTIAL,
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def _register_kernel_sections() -> None:
    from governance.models import Ballot, BiasAssessment, ConsentRecord, Proposal

    register(
        Section(
            "classification",
            "Classification register",
            classification_register,
            order=10,
            description="Models and fields with their sensitivity",
        )
    )
    register(
        Section(
            "board",
            "Review board decisions",
            board_decisions,
            order=40,
            description="Decisions with ballot tallies",
            available=lambda u: (
                permissions.has_model_perm(u, Proposal, "view")
                or permissions.has_model_perm(u, Ballot, "view")
            ),
        )
    )
    register(
        Section(
            "consent",
            "Consent statistics",
            consent_statistics,
            order=50,
            description="Consent in force, given and withdrawn per purpose",
            available=lambda u: permissions.has_model_perm(u, ConsentRecord, "view"),
        )
    )
    register(
        Section(
            "bias",
            "Bias assessments",
            bias_assessments,
            order=60,
            description="Assessments with group figures and remediation",
            available=lambda u: permissions.has_model_perm(u, BiasAssessment, "view"),
        )
    )
    register(
        Section(
            "audit_chain",
            "Audit chain head",
            audit_chain_head,
            order=90,
            description="Head of the tamper-evident audit chain",
        )
    )


# -- assembling a pack -----------------------------------------------------------


@dataclass
class Pack:
    chunks: list[str]
    data: list[Any]  # DataFile
    classification: int
    sections: list[str]


def build_audit_pack(
    *,
    viewer: Any,
    date_from: datetime.date | None,
    date_to: datetime.date | None,
    section_keys: Sequence[str] | None = None,
    pseudonymise: bool | None = None,
) -> Pack:
    """Run the selected (default: all available) sections for ``viewer``.

    Chunks are materialised so the renderer knows the total for progress.
    """
    from django.template.loader import render_to_string

    from .data import csv_data, json_data

    if date_from and date_to and date_from > date_to:
        raise ValueError("the period starts after it ends")
    chosen = [get(k) for k in section_keys] if section_keys else registered()
    chosen = sorted(chosen, key=lambda s: (s.order, s.key))
    unavailable = [s.key for s in chosen if not s.available(viewer)]
    if section_keys and unavailable:
        raise PermissionError(
            f"you may not receive section(s): {', '.join(unavailable)}"
        )
    chosen = [s for s in chosen if s.available(viewer)]
    if pseudonymise is None:
        pseudonymise = pseudonymise_for(viewer)
    ctx = SectionContext(
        viewer=viewer, date_from=date_from, date_to=date_to, pseudonymise=pseudonymise
    )
    chunks: list[str] = []
    payload: dict[str, Any] = {}
    tables: list[Any] = []
    level: int = Sensitivity.INTERNAL
    for section in chosen:
        output = section.provider(ctx)
        chunks.extend(output.chunks)
        payload[section.key] = output.data
        level = max(level, int(output.classification))
        for table in output.tables:
            tables.append(
                csv_data(
                    table.name,
                    list(table.header),
                    table.rows,
                    description=table.description or f"{section.title}: {table.name}",
                )
            )
    cover = render_to_string(
        "reports/audit/cover.html",
        {
            "viewer": ctx.user(viewer.pk, viewer.get_username()),
            "date_from": date_from,
            "date_to": date_to,
            "sections": chosen,
            "pseudonymised": pseudonymise,
            "generated": timezone.now(),
        },
    )
    document = {
        "report_type": "audit_pack",
        "period": {
            "from": date_from.isoformat() if date_from else None,
            "to": date_to.isoformat() if date_to else None,
        },
        "pseudonymised": pseudonymise,
        "requested_by": ctx.user(viewer.pk, viewer.get_username()),
        "sections": payload,
    }
    data = [json_data("audit-pack", document, description="Audit pack data"), *tables]
    return Pack(
        chunks=[cover, *chunks],
        data=data,
        classification=level,
        sections=[s.key for s in chosen],
    )


def selectable(viewer: Any) -> list[Section]:
    return [s for s in registered() if s.available(viewer)]


def describe() -> Mapping[str, str]:
    return {s.key: s.title for s in registered()}
