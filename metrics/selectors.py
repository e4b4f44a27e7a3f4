"""Composed reads for the analytical pages, reports and jobs.

Every selector takes the ``viewer`` and applies the three access rules in one
place: the model permission and the row scope (``visible_to``), then clearance
— a series whose values are above the viewer's clearance comes back *masked*
(no values at all, with a message), never silently dropped and never drawn.
Charts, SPC and reports read only *current* values
(:meth:`~metrics.querysets.ObservationQuerySet.current`): quarantined and
superseded values are out.

* :func:`series` and :func:`control_chart` — one metric × subject as an XmR
  chart (M7.1); limits come from the first :data:`BASELINE_POINTS` values of
  the current methodology version and are recomputed only when the methodology
  changes (a documented process change, M3.6).
* :func:`exception_report` — only the series whose latest value signals (M1.6).
* :func:`alignment_tree` (M1.3), :func:`team_portfolio` (M1.1),
  :func:`stale_and_orphaned` (M1.5).
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Count, Q, QuerySet

from governance import permissions, pseudonyms
from governance.audit import events
from governance.classification import Sensitivity
from governance.crypto import store
from governance.crypto.keyring import open_sealed, open_sealed_many
from governance.models import Person, Team
from metrics.analytics import spc
from metrics.models import (
    Annotation,
    Metric,
    MetricConflict,
    Observation,
    StrategicObjective,
)

__all__ = [
    "BASELINE_POINTS",
    "EXCEPTION_MIN_POINTS",
    "ChartData",
    "ExceptionRow",
    "Point",
    "Series",
    "alignment_tree",
    "control_chart",
    "exception_report",
    "parse_subject",
    "sealed_opener",
    "series",
    "series_opener",
    "stale_and_orphaned",
    "subjects_of",
    "team_portfolio",
]

#: Limits come from the first 20 values of the current methodology (or all of
#: them while there are fewer: such limits are provisional).
BASELINE_POINTS = 20
#: The exception report judges series with at least this many values.
EXCEPTION_MIN_POINTS = 8
#: Longest window of any run rule (Nelson 7: fifteen points in a row).
_RULE_WINDOW = 15

IN_USE = (Metric.Status.ACTIVE, Metric.Status.SUNSET_REVIEW)


# -- low-level reads ----------------------------------------------------------------


def series_opener(keys: dict[Any, Any], subject: uuid.UUID) -> Any:
    """``open(token) -> float | None`` for the sealed values of one subject.

    The field's own decryption (same associated data, same key) without model
    instances: pages and hooks open thousands of values at once. An erased
    subject's values read as None.
    """
    dek = keys.get(subject)
    if dek is None or dek is store.ERASED_KEY:
        return lambda token: None
    sealed_field = Observation._meta.get_field("value_sealed")
    aad = sealed_field._aad(subject)

    def open_value(token: str) -> float | None:
        raw = open_sealed(dek, token, aad)
        try:
            return float(raw)  # the plaintext is the decimal's text
        except ValueError:
            return float(sealed_field.decode_plain(raw))

    return open_value


def open_series(
    keys: dict[Any, Any], subject: uuid.UUID, tokens: Sequence[str | None]
) -> list[float | None]:
    """``series_opener(keys, subject)`` over many tokens at once (None stays
    None): one loop of C calls for the decryption and one for the numbers, the
    same errors."""
    dek = keys.get(subject)
    if dek is None or dek is store.ERASED_KEY:
        return [None] * len(tokens)
    sealed_field = Observation._meta.get_field("value_sealed")
    present = [t for t in tokens if t is not None]
    raws = open_sealed_many(dek, present, sealed_field._aad(subject))
    try:
        numbers = [float(raw) for raw in raws]  # the plaintext is the decimal's text
    except ValueError:
        numbers = [float(sealed_field.decode_plain(raw)) for raw in raws]
    if len(present) == len(tokens):
        return numbers  # type: ignore[return-value]
    found = iter(numbers)
    return [None if token is None else next(found) for token in tokens]


def sealed_opener(keys: dict[Any, Any]) -> Any:
    """``open(subject, token) -> float | None`` for sealed observation values."""
    openers: dict[uuid.UUID, Any] = {}

    def open_value(subject: uuid.UUID, token: str) -> float | None:
        opener = openers.get(subject)
        if opener is None:
            opener = openers[subject] = series_opener(keys, subject)
        return opener(token)  # type: ignore[no-any-return]

    return open_value


def raw_rows(queryset: QuerySet) -> list[tuple[Any, ...]]:
    """Rows of a ``values_list`` queryset as the driver returns them (no
    per-value converters): ids of people may be UUIDs or their hex."""
    try:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:  # e.g. a scope that resolved to no ids at all
        return []
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class _Normalise:
    """Driver values back to Python: person ids to UUID, dates to date."""

    def __init__(self) -> None:
        self._people: dict[Any, uuid.UUID] = {}

    def person(self, value: Any) -> uuid.UUID | None:
        if value is None:
            return None
        found = self._people.get(value)
        if found is None:
            found = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
            self._people[value] = found
        return found

    @staticmethod
    def date(value: Any) -> datetime.date:
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        return datetime.date.fromisoformat(str(value)[:10])


# -- subjects -----------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """Whom a series is about: a person, a team, or the organisation."""

    kind: str  # "person" | "team" | "organisation"
    pk: Any = None
    label: str = "Organisation"

    @property
    def param(self) -> str:
        return (
            "organisation" if self.kind == "organisation" else f"{self.kind}:{self.pk}"
        )


def subjects_of(metric: Metric, viewer: Any) -> list[Subject]:
    """Subjects with current values of ``metric`` that the viewer may see."""
    rows = (
        Observation.objects.current()
        .visible_to(viewer, "view")
        .filter(metric=metric)
        .values_list("person_id", "person__employee_id", "team_id", "team__name")
        .distinct()
    )
    found = set()
    for person_id, employee_id, team_id, team_name in rows:
        if person_id is not None:
            label = pseudonyms.identity_for(viewer, person_id, employee_id)
            found.add(Subject("person", person_id, str(label)))
        elif team_id is not None:
            found.add(Subject("team", team_id, str(team_name)))
        else:
            found.add(Subject("organisation"))
    order = {"organisation": 0, "team": 1, "person": 2}
    return sorted(found, key=lambda s: (order[s.kind], s.label))


def parse_subject(raw: str | None, subjects: Sequence[Subject]) -> Subject | None:
    """The subject named by ``?subject=`` among those the viewer may see."""
    if not raw:
        return None
    for subject in subjects:
        if subject.param == raw:
            return subject
    return None


# -- one series ------------------------------------------------------------------------


@dataclass
class Point:
    observation_id: int
    period_start: datetime.date
    period_end: datetime.date
    methodology_version: int
    value: float | None = None
    annotations: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Series:
    metric: Metric
    subject: Subject | None
    points: list[Point] = field(default_factory=list)
    #: Values withheld: above the viewer's clearance.
    masked: bool = False
    level: int = Sensitivity.PUBLIC
    message: str = ""
    #: Values under earlier methodology versions, not charted with these limits.
    earlier_points: int = 0
    methodology_version: int | None = None

    @property
    def values(self) -> list[float]:
        return [p.value for p in self.points if p.value is not None]

    @property
    def data_as_of(self) -> datetime.date | None:
        return self.points[-1].period_end if self.points else None


def _subject_filter(subject: Subject | None) -> Q:
    if subject is None or subject.kind == "organisation":
        return Q(person__isnull=True, team__isnull=True)
    if subject.kind == "person":
        return Q(person_id=subject.pk)
    return Q(team_id=subject.pk, person__isnull=True)


def series(metric: Metric, *, viewer: Any, subject: Subject | None = None) -> Series:
    """The current values of ``metric`` for ``subject`` that ``viewer`` may see.

    Scoped by ``Observation.objects.visible_to(viewer)``; above the viewer's
    clearance the series is masked (no values, a message), and Restricted
    plaintext read here is logged. Only the latest methodology version present
    is charted; earlier values are counted in ``earlier_points``.
    """
    result = Series(metric=metric, subject=subject)
    observations = list(
        Observation.objects.current()
        .visible_to(viewer, "view")
        .filter(_subject_filter(subject), metric=metric)
        .order_by("period_start", "id")
        .only(
            "id",
            "metric_id",
            "person_id",
            "team_id",
            "period_start",
            "period_end",
            "classification",
            "methodology_version",
            "value_plain",
            "value_sealed",
        )
    )
    if not observations:
        result.message = "No current values of this metric that you may see."
        return result
    latest = max(o.methodology_version for o in observations)
    result.methodology_version = latest
    result.earlier_points = sum(
        1 for o in observations if o.methodology_version != latest
    )
    observations = [o for o in observations if o.methodology_version == latest]
    level = max(
        [int(metric.sensitivity), *(int(o.classification) for o in observations)]
    )
    result.level = level
    subject_id = observations[0].person_id
    if not permissions.can_read_level(viewer, level, subject_id=subject_id):
        result.masked = True
        result.message = (
            f"The values of this series are {Sensitivity.label_of(level)}, above your "
            f"clearance ({Sensitivity.label_of(max(permissions.clearance_of(viewer), 0))}): "
            "the chart and its values are withheld."
        )
        result.points = [
            Point(o.pk, o.period_start, o.period_end, o.methodology_version)
            for o in observations
        ]
        return result
    result.points = [
        Point(
            o.pk,
            o.period_start,
            o.period_end,
            o.methodology_version,
            _number(o.value),
        )
        for o in observations
    ]
    if level >= Sensitivity.RESTRICTED:
        events.restricted_read(
            actor=viewer, target=metric, fields=["value"], via="control chart"
        )
    if permissions.has_model_perm(viewer, Annotation, "view"):
        by_obs = {p.observation_id: p for p in result.points}
        for note in (
            Annotation.objects.visible_to(viewer, "view")
            .masked_for(viewer)
            .filter(observation_id__in=list(by_obs))
            .order_by("created_at", "id")
        ):
            by_obs[note.observation_id].annotations.append(
                (note.get_kind_display(), str(note.text))
            )
    return result


def _number(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None  # erased or masked


@dataclass
class ChartData:
    """An evaluated XmR chart of one series, ready to draw and to list."""

    series: Series
    labels: list[str]
    values: list[float]
    chart: spc.XmRChart
    #: index -> rule names signalling there
    signals: dict[int, list[str]]
    #: index -> annotation kinds
    annotated: dict[int, list[str]]

    @property
    def limits(self) -> spc.XmRLimits:
        return self.chart.limits

    @property
    def provisional(self) -> bool:
        return self.chart.limits.baseline < BASELINE_POINTS

    def annotation_rows(self) -> list[tuple[str, str, str]]:
        """(period, kind, text) of every annotation on a charted point."""
        points = [p for p in self.series.points if p.value is not None]
        return [
            (self.labels[i], kind, text)
            for i, point in enumerate(points)
            for kind, text in point.annotations
        ]

    def signal_rows(self) -> list[dict[str, Any]]:
        rows = []
        for index, rules in sorted(self.signals.items()):
            rows.append(
                {
                    "index": index,
                    "period": self.labels[index],
                    "value": self.values[index],
                    "rules": [(r, spc.RULE_DESCRIPTIONS[r]) for r in rules],
                    "latest": index == len(self.values) - 1,
                }
            )
        return rows


def control_chart(
    data: Series, *, rules: str = "nelson", baseline: int | None = None
) -> ChartData | None:
    """XmR limits from the baseline and the run-rule signals (None: no chart)."""
    if data.masked:
        return None
    points = [p for p in data.points if p.value is not None]
    if len(points) < 2:
        return None
    values = [float(p.value) for p in points if p.value is not None]
    base = min(len(values), baseline or BASELINE_POINTS)
    chart = spc.xmr_chart(values, baseline=max(base, 2), rules=rules)
    signals: dict[int, list[str]] = defaultdict(list)
    for signal in chart.signals:
        signals[signal.index].append(signal.rule)
    annotated = {
        i: [kind for kind, _ in p.annotations]
        for i, p in enumerate(points)
        if p.annotations
    }
    return ChartData(
        series=data,
        labels=[_period_label(p.period_start, data.metric) for p in points],
        values=values,  # type: ignore[arg-type]
        chart=chart,
        signals=dict(signals),
        annotated=annotated,
    )


def _period_label(start: datetime.date, metric: Metric) -> str:
    if metric.update_frequency == Metric.Frequency.MONTHLY:
        return start.strftime("%Y-%m")
    if metric.update_frequency == Metric.Frequency.QUARTERLY:
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return start.isoformat()


# -- exception report (M1.6) ------------------------------------------------------------


@dataclass
class ExceptionRow:
    metric: Metric
    subject: Subject
    period: datetime.date
    value: float
    center: float
    ucl: float
    lcl: float
    rules: list[tuple[str, str]]
    points: int
    provisional: bool

    @property
    def beyond(self) -> str:
        if self.value > self.ucl:
            return "above UCL"
        if self.value < self.lcl:
            return "below LCL"
        return "run rule"


@dataclass
class ExceptionReport:
    rows: list[ExceptionRow]
    series_checked: int
    withheld: int  # series above the viewer's clearance, not evaluated
    too_short: int  # series with fewer than EXCEPTION_MIN_POINTS values
    rules: str


def exception_report(
    viewer: Any, *, rules: str = "nelson", metrics: Iterable[Metric] | None = None
) -> ExceptionReport:
    """Only the series whose latest value signals: beyond the control limits or
    a run rule on the last point.

    One query for the values the viewer may see (plus one for data keys); per
    series only the baseline and the last :data:`_RULE_WINDOW` values are
    opened, and every series of the same shape is evaluated in one numpy pass.
    Series above the viewer's clearance are not evaluated (only counted).
    """
    names = spc.resolve_rules(rules)
    if metrics is None:
        metrics = Metric.objects.visible_to(viewer, "view").filter(status__in=IN_USE)
    by_id = {m.pk: m for m in metrics}
    report = ExceptionReport(
        rows=[], series_checked=0, withheld=0, too_short=0, rules=rules
    )
    if not by_id or not permissions.has_model_perm(viewer, Observation, "view"):
        return report
    query = (
        Observation.objects.current()
        .visible_to(viewer, "view")
        .filter(metric_id__in=list(by_id))
        .order_by("metric_id", "person_id", "team_id", "period_start", "id")
        .values_list(
            "metric_id",
            "person_id",
            "team_id",
            "period_start",
            "classification",
            "methodology_version",
            "value_plain",
            "value_sealed",
        )
    )
    norm = _Normalise()
    grouped: dict[tuple[int, Any, Any], list[tuple[Any, ...]]] = defaultdict(list)
    for metric_id, person_id, team_id, start, level, version, plain, sealed in raw_rows(
        query
    ):
        grouped[(metric_id, norm.person(person_id), team_id)].append(
            (start, level, version, plain, sealed)
        )
    # Per series: the latest methodology only, readable by the viewer, long enough.
    judged: list[tuple[tuple[int, Any, Any], list[tuple[Any, ...]]]] = []
    sealed_subjects: set[uuid.UUID] = set()
    for key, rows in grouped.items():
        report.series_checked += 1
        latest = max(r[2] for r in rows)
        rows = [r for r in rows if r[2] == latest]
        metric = by_id[key[0]]
        level = max([int(metric.sensitivity), *(int(r[1]) for r in rows)])
        if not permissions.can_read_level(viewer, level, subject_id=key[1]):
            report.withheld += 1
            continue
        if len(rows) < EXCEPTION_MIN_POINTS:
            report.too_short += 1
            continue
        judged.append((key, rows))
        if any(r[4] is not None for r in rows):
            sealed_subjects.add(key[1] or store.ORGANISATION_SUBJECT)
    open_value = sealed_opener(
        store.keys_for(sealed_subjects) if sealed_subjects else {}
    )
    shapes: dict[tuple[int, int], list[tuple[Any, list[float], list[Any]]]] = (
        defaultdict(list)
    )
    for key, rows in judged:
        n = len(rows)
        base = min(n, BASELINE_POINTS)
        tail = min(n, _RULE_WINDOW)
        wanted = sorted(set(range(base)) | set(range(n - tail, n)))
        subject = key[1] or store.ORGANISATION_SUBJECT
        values: dict[int, float] = {}
        for i in wanted:
            _, _, _, plain, sealed = rows[i]
            number = (
                open_value(subject, sealed) if sealed is not None else _number(plain)
            )
            if number is None:
                break  # an erased subject: nothing to judge
            values[i] = number
        else:
            shapes[(base, tail)].append(
                (
                    key,
                    [values[i] for i in range(base)]
                    + [values[i] for i in range(n - tail, n)],
                    rows,
                )
            )
    restricted: list[Metric] = []
    for (base, _tail), members in shapes.items():
        grid = np.asarray([m[1] for m in members], dtype=np.float64)
        limits = spc.xmr_limits_batch(grid[:, :base], baseline=base)
        recent = grid[:, base:]
        masks = spc.rule_masks(
            recent, limits["center"][:, None], limits["sigma"][:, None], names
        )
        for row, (key, _, rows) in enumerate(members):
            fired = [name for name in names if masks[name][row, -1]]
            if not fired:
                continue
            metric = by_id[key[0]]
            if (
                max(int(metric.sensitivity), *(int(r[1]) for r in rows))
                >= Sensitivity.RESTRICTED
            ):
                restricted.append(metric)
            report.rows.append(
                ExceptionRow(
                    metric=metric,
                    subject=_subject_for(key),
                    period=_Normalise.date(rows[-1][0]),
                    value=float(recent[row, -1]),
                    center=float(limits["center"][row]),
                    ucl=float(limits["ucl"][row]),
                    lcl=float(limits["lcl"][row]),
                    rules=[(r, spc.RULE_DESCRIPTIONS[r]) for r in fired],
                    points=len(rows),
                    provisional=base < BASELINE_POINTS,
                )
            )
    _label_subjects(report.rows, viewer)
    for metric in {m.pk: m for m in restricted}.values():
        events.restricted_read(
            actor=viewer, target=metric, fields=["value"], via="exception report"
        )
    report.rows.sort(key=lambda r: (r.metric.key, r.subject.kind, r.subject.label))
    return report


def _subject_for(key: tuple[int, Any, Any]) -> Subject:
    if key[1] is not None:
        return Subject("person", key[1], "")
    if key[2] is not None:
        return Subject("team", key[2], "")
    return Subject("organisation")


def _label_subjects(rows: list[ExceptionRow], viewer: Any) -> None:
    people = {r.subject.pk for r in rows if r.subject.kind == "person"}
    teams = {r.subject.pk for r in rows if r.subject.kind == "team"}
    employee_ids = dict(
        Person.objects.filter(pk__in=people).values_list("pk", "employee_id")
    )
    team_names = dict(Team.objects.filter(pk__in=teams).values_list("pk", "name"))
    for r in rows:
        if r.subject.kind == "person":
            plain = employee_ids.get(r.subject.pk, "?")
            label = pseudonyms.identity_for(viewer, r.subject.pk, plain)
            r.subject = Subject("person", r.subject.pk, str(label))
        elif r.subject.kind == "team":
            r.subject = Subject(
                "team", r.subject.pk, str(team_names.get(r.subject.pk, "?"))
            )


# -- alignment tree (M1.3) ---------------------------------------------------------------


@dataclass
class KpiNode:
    metric: Metric
    #: keys of the metrics this one is declared to conflict with (unresolved)
    conflicts: list[str] = field(default_factory=list)


@dataclass
class OutcomeNode:
    metric: Metric
    kpis: list[KpiNode] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


@dataclass
class ObjectiveNode:
    objective: StrategicObjective
    outcomes: list[OutcomeNode] = field(default_factory=list)


@dataclass
class AlignmentTree:
    objectives: list[ObjectiveNode]
    #: Team or organisation outcomes serving no strategic objective.
    unlinked_outcomes: list[OutcomeNode]
    #: Individual KPIs mapped to no team outcome (or to something that isn't one).
    unaligned_kpis: list[KpiNode]
    conflicts: list[MetricConflict]
    conflicts_visible: bool


def alignment_tree(viewer: Any) -> AlignmentTree:
    """Objectives → team outcome metrics → individual KPIs (metrics not retired).

    Unaligned individual KPIs and declared (unresolved) conflicts are flagged;
    conflicts only for viewers who may see them.
    """
    metrics = list(
        Metric.objects.visible_to(viewer, "view")
        .exclude(status=Metric.Status.RETIRED)
        .select_related("objective", "team", "aligned_to")
        .order_by("key")
    )
    objectives = list(
        StrategicObjective.objects.visible_to(viewer, "view").order_by("code")
    )
    conflicts_visible = permissions.has_model_perm(viewer, MetricConflict, "view")
    conflicts: list[MetricConflict] = []
    conflicting: dict[int, list[str]] = defaultdict(list)
    if conflicts_visible:
        conflicts = list(
            MetricConflict.objects.visible_to(viewer, "view")
            .filter(resolved=False)
            .select_related("metric_a", "metric_b")
            .order_by("metric_a__key", "metric_b__key")
        )
        for c in conflicts:
            conflicting[c.metric_a_id].append(c.metric_b.key)
            conflicting[c.metric_b_id].append(c.metric_a.key)
    outcome_levels = {Metric.Level.TEAM, Metric.Level.ORGANISATION}
    outcomes = {
        m.pk: OutcomeNode(m, conflicts=sorted(conflicting.get(m.pk, [])))
        for m in metrics
        if m.level in outcome_levels
    }
    unaligned = []
    for m in metrics:
        if m.level != Metric.Level.INDIVIDUAL:
            continue
        kpi = KpiNode(m, sorted(conflicting.get(m.pk, [])))
        node = outcomes.get(m.aligned_to_id) if m.aligned_to_id else None
        if node is None:
            unaligned.append(kpi)
        else:
            node.kpis.append(kpi)
    by_objective: dict[int, list[OutcomeNode]] = defaultdict(list)
    unlinked = []
    visible_objectives = {o.pk for o in objectives}
    for node in outcomes.values():
        objective_id = node.metric.objective_id
        if objective_id is not None and objective_id in visible_objectives:
            by_objective[objective_id].append(node)
        else:  # no objective, or one the viewer can't see
            unlinked.append(node)
    return AlignmentTree(
        objectives=[
            ObjectiveNode(
                o, sorted(by_objective.get(o.pk, []), key=lambda n: n.metric.key)
            )
            for o in objectives
        ],
        unlinked_outcomes=sorted(unlinked, key=lambda n: n.metric.key),
        unaligned_kpis=unaligned,
        conflicts=conflicts,
        conflicts_visible=conflicts_visible,
    )


# -- team portfolio (M1.1) -----------------------------------------------------------------


@dataclass
class PortfolioRow:
    team: Team
    leading: int
    lagging: int
    planned_leading: int
    planned_lagging: int

    @property
    def no_leading(self) -> bool:
        """No leading indicator in use: the team learns only after the fact."""
        return self.leading == 0


def team_portfolio(viewer: Any) -> list[PortfolioRow]:
    """Per team the viewer may see: leading vs lagging metrics in use (active or
    under sunset review) and planned (draft or proposed)."""
    teams = list(
        Team.objects.visible_to(viewer, "view")
        .select_related("department")
        .order_by("department__name", "name")
    )
    counts: dict[tuple[int, str, bool], int] = {}
    for team_id, indicator, status, n in (
        Metric.objects.visible_to(viewer, "view")
        .filter(team_id__in=[t.pk for t in teams])
        .exclude(status=Metric.Status.RETIRED)
        .values_list("team_id", "indicator", "status")
        .annotate(n=Count("id"))
    ):
        in_use = status in IN_USE
        key = (team_id, indicator, in_use)
        counts[key] = counts.get(key, 0) + n
    lead, lag = Metric.Indicator.LEADING, Metric.Indicator.LAGGING
    return [
        PortfolioRow(
            team=t,
            leading=counts.get((t.pk, lead, True), 0),
            lagging=counts.get((t.pk, lag, True), 0),
            planned_leading=counts.get((t.pk, lead, False), 0),
            planned_lagging=counts.get((t.pk, lag, False), 0),
        )
        for t in teams
    ]


# -- stale and orphaned (M1.5) ---------------------------------------------------------------


def stale_and_orphaned(viewer: Any) -> list[Metric]:
    """Metrics the daily check flagged stale or orphaned, as the viewer may see them."""
    return list(
        Metric.objects.visible_to(viewer, "view")
        .filter(Q(stale_since__isnull=False) | Q(orphaned_since__isnull=False))
        .select_related("owner", "steward", "department")
        .order_by("key")
    )
