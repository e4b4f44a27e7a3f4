"""Input-error detection at capture, quarantine and the steward's decision (M3.4).

:func:`scan_observations` is a post-capture hook (registered in
``MetricsConfig.ready()``): after a batch is stored, it checks every new value
against the recent *valid* history of its series (metric × subject) with
:mod:`metrics.analytics.anomalies` — unit slips (×100/×1000), impossible values,
duplicates of a period already recorded, robust-z spikes. The history of every
affected series comes in one query per batch (plus one for the data keys of
sealed values), never one per row.

A suspect value is *quarantined* (``Observation.status``): charts, SPC and
reports read :meth:`ObservationQuerySet.current`, so it is out of them until a
steward decides. It gets one :class:`DataQualityIssue` whose ``detail`` holds
evidence as ratios and z-scores — never a value, so an issue can be listed to
anyone who may see it without leaking Confidential data.

:func:`decide_issue` is the steward's decision: *confirm* (the value is right
after all: it becomes valid again) or *correct* (a superseding observation via
:func:`metrics.services.correct_observation`), always with a reason, by the
metric's steward, its department's steward or an organisation-wide role holding
the permission — and only by someone cleared to read the value decided on.
"""

from __future__ import annotations

import datetime
import warnings
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from governance import bulk, permissions
from governance.audit import events
from governance.audit.history import bulk_history
from governance.crypto import store
from governance.services import save_governed
from metrics import selectors
from metrics.analytics import anomalies
from metrics.models import DataQualityIssue, Metric, Observation
from metrics.querysets import ObservationQuerySet

__all__ = [
    "HISTORY_POINTS",
    "PrefetchedHistory",
    "Suspect",
    "decide_issue",
    "hard_range",
    "may_decide",
    "prefetch_history",
    "scan_observations",
]

#: How many of a series' most recent valid values new ones are judged against
#: (the fewest a spike needs: reading and opening them is the hook's main cost).
HISTORY_POINTS = 12
#: Quarantine is for values that look *typed wrong*: a spike must be far out
#: (robust |z| > 6.5) against at least 12 earlier values. Smaller deviations
#: are performance signals for SPC, not input errors. On Gaussian data this
#: holds back about 0.1 % of ordinary values (the generic 3.5 would hold back
#: 1.4 %), and catches a 7.5σ typo (120 → 210 at σ 12) about 64 % of the time
#: — a ×10 or ×100 slip always.
SPIKE_Z = 6.5
SPIKE_MIN_HISTORY = 12

#: Length of one period of each update frequency, for the history window.
_PERIOD_DAYS = {"daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92}

_PERCENT_UNITS = {"%", "percent", "pct", "percentage"}

#: When one value trips several checks, the issue is filed under the first.
_SEVERITY = ("impossible", "duplicate", "unit_slip", "spike")


@dataclass(frozen=True)
class Suspect:
    """One new observation found suspect, with the evidence (no values)."""

    observation: Observation
    kind: str
    detail: str


# -- detection --------------------------------------------------------------------


def hard_range(metric: Metric) -> anomalies.HardRange:
    """What the metric's values can possibly be.

    The metric's own validation rules (``min``, ``max``, ``integer_only``,
    ``allow_negative``) declare it. A metric in percent with no declared bounds
    is taken to be a share (0 to 100); a percentage that may leave that range (a
    growth rate) declares its own ``min``/``max``.
    """
    rules = metric.validation_rules or {}
    minimum = float(rules["min"]) if "min" in rules else None
    maximum = float(rules["max"]) if "max" in rules else None
    if (
        (metric.unit or "").strip().lower() in _PERCENT_UNITS
        and minimum is None
        and maximum is None
    ):
        minimum, maximum = 0.0, 100.0
    return anomalies.HardRange(
        minimum=minimum,
        maximum=maximum,
        allow_negative=bool(rules.get("allow_negative", True)),
        integer_only=bool(rules.get("integer_only", False)),
    )


SeriesKey = tuple[int, Any, Any]  # (metric id, person id, team id)


def _series_key(obs: Observation) -> SeriesKey:
    return (obs.metric_id, obs.person_id, obs.team_id)


@dataclass
class _SeriesHistory:
    #: the last valid values under the batch's methodology version, oldest first
    values: list[tuple[datetime.date, float | None]]
    #: valid values (any methodology version) recorded for the batch's periods
    same_period: dict[datetime.date, float | None]


@dataclass
class _Query:
    """What the history read of a batch asks for (see :func:`_history`)."""

    new_ids: set[int]
    series: set[SeriesKey]
    periods: dict[SeriesKey, set[datetime.date]]
    versions: dict[int, set[int]]
    since: datetime.date

    @classmethod
    def of(cls, new: Sequence[Observation]) -> _Query:
        periods: dict[SeriesKey, set[datetime.date]] = defaultdict(set)
        versions: dict[int, set[int]] = defaultdict(set)
        for obs in new:
            periods[_series_key(obs)].add(obs.period_start)
            versions[obs.metric_id].add(obs.methodology_version)
        span = max(_PERIOD_DAYS.get(obs.metric.update_frequency, 92) for obs in new)
        since = min(obs.period_start for obs in new) - datetime.timedelta(
            days=span * (HISTORY_POINTS + 1)
        )
        return cls({obs.pk for obs in new}, set(periods), periods, versions, since)

    @property
    def wanted(self) -> set[datetime.date]:
        return {day for days in self.periods.values() for day in days}


class PrefetchedHistory:
    """A batch's history read, sent to the server ahead of time (see
    :func:`prefetch_history`); its rows are read when first asked for."""

    def __init__(self, query: _Query, cursor: Any) -> None:
        self.query = query
        self.new_ids = frozenset(query.new_ids)
        self._cursor: Any = cursor
        self._rows: list[tuple[Any, ...]] | None = None

    def rows(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            try:
                self._rows = self._cursor.fetchall()
            finally:
                self._cursor.close()
        return self._rows

    def discard(self) -> None:
        """Not used (made for other rows): release its cursor."""
        if self._rows is None:
            self._cursor.close()


def prefetch_history(observations: Sequence[Observation]) -> PrefetchedHistory | None:
    """Send the batch's history read now, before the batch is stored, so the
    server answers it while the capture seals and prepares the rows (the
    capture opens a pipeline around both). PostgreSQL only; None elsewhere or
    when there is nothing to screen.

    The read leaves the batch's own rows out, so reading before they are
    stored finds exactly what reading after would.
    """
    if connection.vendor != "postgresql":
        return None
    new = [o for o in observations if o.status == Observation.Status.VALID]
    if not new:
        return None
    query = _Query.of(new)
    cursor = connection.cursor()
    try:
        cursor.execute(*_recent_grouped_sql(query))
    except BaseException:
        cursor.close()
        raise
    return PrefetchedHistory(query, cursor)


def _history(
    new: Sequence[Observation],
    *,
    grouped: bool | None = None,
    prefetched: PrefetchedHistory | None = None,
) -> dict[SeriesKey, _SeriesHistory]:
    """The recent valid history of every affected series: one query per batch.

    Statistics compare a new value only with values under the same methodology
    version — a documented process change may move the level, and values after
    it are not suspect for that. Duplicates are looked for under every version.
    Rows of the batch itself are left out (they are judged, not the yardstick);
    so are quarantined and superseded values.

    Rows are read straight from the cursor (no model instances, no per-value
    converters; on PostgreSQL one aggregated row per series, see
    :func:`_recent_grouped`); sealed values are opened with the data keys the batch already
    holds (only missing keys are fetched, one more query at most), and only the
    last :data:`HISTORY_POINTS` values of each series are opened. ``grouped``
    chooses the aggregated read (PostgreSQL only; default there) or the plain
    one, for tests that hold the two to the same answer. ``prefetched`` is the
    same aggregated read sent earlier by :func:`prefetch_history` (used when it
    was made for exactly these rows).
    """
    if grouped is None:
        grouped = connection.vendor == "postgresql"
    if prefetched is not None and (
        not grouped or prefetched.new_ids != {obs.pk for obs in new}
    ):
        prefetched.discard()
        prefetched = None
    # The prefetched read was asked for these very rows: its query stands.
    query = prefetched.query if prefetched is not None else _Query.of(new)
    new_ids, series, periods = query.new_ids, query.series, query.periods
    versions, since = query.versions, query.since
    # Series by the driver's own values (a person id is a UUID, or its hex on
    # SQLite; dates may be ISO text), so the loop hashes no UUIDs or dates.
    index: dict[tuple[Any, Any, Any], int] = {}
    order = list(series)
    for n, (metric_id, person, team_id) in enumerate(order):
        if grouped or not person:  # PostgreSQL returns UUIDs and dates
            index[(metric_id, person, team_id)] = n
            continue
        for raw in (person, person.hex, str(person)):
            index[(metric_id, raw, team_id)] = n
    wanted_periods: list[set[Any]] = [set() for _ in order]
    for n, key in enumerate(order):
        for day in periods[key]:
            wanted_periods[n].add(day)
            if not grouped:
                wanted_periods[n].add(day.isoformat())
    current_versions = {m: frozenset(v) for m, v in versions.items()}
    same: list[list[tuple[Any, Any, Any, Any]]] = [[] for _ in order]
    clash: list[list[tuple[Any, Any, Any]]] = [[] for _ in order]
    sealed_in = [False] * len(order)
    if grouped:
        rows = _recent_grouped(query) if prefetched is None else prefetched.rows()
        for (
            metric_id,
            person_id,
            team_id,
            starts,
            ids,
            plains,
            sealeds,
            clash_starts,
            clash_plains,
            clash_sealeds,
        ) in rows:
            n = index.get((metric_id, person_id, team_id))
            if n is None:
                continue
            if starts:
                same[n] = list(zip(starts, ids, plains, sealeds, strict=True))
            for start, plain, sealed in zip(
                clash_starts or (), clash_plains or (), clash_sealeds or (), strict=True
            ):
                if start in wanted_periods[n]:
                    clash[n].append((start, plain, sealed))
            sealed_in[n] = any(s is not None for s in sealeds or ()) or any(
                s is not None for s in clash_sealeds or ()
            )
    else:
        for (
            pk,
            metric_id,
            person_id,
            team_id,
            start,
            version,
            plain,
            sealed,
        ) in selectors.raw_rows(_recent_query(series, versions, since)):
            n = index.get((metric_id, person_id, team_id))
            if n is None or pk in new_ids:
                continue
            if sealed is not None:
                sealed_in[n] = True
            if version in current_versions[metric_id]:
                same[n].append((start, pk, plain, sealed))
            if start in wanted_periods[n]:
                clash[n].append((_as_date(start), plain, sealed))
    keys: dict[Any, Any] = {}
    seen_key_maps: set[int] = set()
    for obs in new:  # the batch's observations share one key map: merge it once
        held = obs.__dict__.get("_pgp_deks")
        if held and id(held) not in seen_key_maps:
            seen_key_maps.add(id(held))
            keys.update(held)
    wanted = {
        order[n][1] or store.ORGANISATION_SUBJECT
        for n in range(len(order))
        if sealed_in[n]
    }
    missing = wanted - set(keys)
    if missing:
        keys.update(store.keys_for(missing))
    result: dict[SeriesKey, _SeriesHistory] = {}
    for n, key in enumerate(order):
        if not same[n] and not clash[n]:
            continue
        recent = sorted(same[n])[-HISTORY_POINTS:]
        if sealed_in[n]:
            subject = key[1] or store.ORGANISATION_SUBJECT
            opened = selectors.open_series(keys, subject, [s for *_, s in recent])
            values = [
                (p, value if s is not None else _float(v))
                for (p, _, v, s), value in zip(recent, opened, strict=True)
            ]
            same_period = {}
            if clash[n]:
                open_value = selectors.series_opener(keys, subject)
                same_period = {
                    p: open_value(s) if s is not None else _float(v)
                    for p, v, s in clash[n]
                }
        else:
            values = [(p, _float(v)) for p, _, v, _ in recent]
            same_period = {p: _float(v) for p, v, _ in clash[n]}
        result[key] = _SeriesHistory(values=values, same_period=same_period)
    return result


def _recent_query(
    series: set[SeriesKey], versions: dict[int, set[int]], since: datetime.date
) -> Any:
    """The affected series' valid rows since ``since``, one row per value."""
    subjects = Q(pk__in=[])
    people = {p for _, p, _ in series if p is not None}
    teams = {t for _, p, t in series if p is None and t is not None}
    if people:
        subjects |= Q(person_id__in=people)
    if teams:
        subjects |= Q(team_id__in=teams, person__isnull=True)
    if any(p is None and t is None for _, p, t in series):
        subjects |= Q(person__isnull=True, team__isnull=True)
    return (
        Observation.objects.current()
        .filter(subjects, metric_id__in=list(versions), period_start__gte=since)
        .order_by()  # sorted per series below: cheaper than sorting in SQL
        .values_list(
            "id",
            "metric_id",
            "person_id",
            "team_id",
            "period_start",
            "methodology_version",
            "value_plain",
            "value_sealed",
        )
    )


def _recent_grouped(query: _Query) -> list[tuple[Any, ...]]:
    """PostgreSQL: per series, its valid values since ``since`` under the
    batch's methodology versions and its valid values in the batch's periods,
    aggregated by the server: one row per series instead of one per value (the
    fetch was the screen's largest cost).

    Rows: ``(metric_id, person_id, team_id, starts, ids, plains, sealeds,
    clash_starts, clash_plains, clash_sealeds)``; arrays may be None. The
    arrays of one row are aligned (one aggregation pass) but in no particular
    order: the caller sorts and keeps the newest :data:`HISTORY_POINTS` (the
    window holds little more than that). Ordered aggregates would sort every
    series once per array: that was a third of the query's time.
    """
    with connection.cursor() as cursor:
        cursor.execute(*_recent_grouped_sql(query))
        return cursor.fetchall()


def _recent_grouped_sql(query: _Query) -> tuple[str, dict[str, Any]]:
    series, versions, new_ids = query.series, query.versions, query.new_ids
    table = connection.ops.quote_name(Observation._meta.db_table)
    people = sorted({p for _, p, _ in series if p is not None}, key=str)
    teams = sorted({t for _, p, t in series if p is None and t is not None})
    organisation = any(p is None and t is None for _, p, t in series)
    pairs = [(m, v) for m, vs in versions.items() for v in vs]
    same = "FILTER (WHERE cv.metric_id IS NOT NULL)"
    clash = "FILTER (WHERE o.period_start = ANY(%(wanted)s::date[]))"
    sql = f"""
        SELECT o.metric_id, o.person_id, o.team_id,
            array_agg(o.period_start) {same},
            array_agg(o.id) {same},
            array_agg(o.value_plain) {same},
            array_agg(o.value_sealed) {same},
            array_agg(o.period_start) {clash},
            array_agg(o.value_plain) {clash},
            array_agg(o.value_sealed) {clash}
        FROM {table} AS o
        LEFT JOIN unnest(%(cv_metric)s::bigint[], %(cv_version)s::integer[])
            AS cv(metric_id, version)
            ON cv.metric_id = o.metric_id AND cv.version = o.methodology_version
        WHERE o.status = %(valid)s
            AND o.metric_id = ANY(%(metrics)s::bigint[])
            AND o.period_start >= %(since)s
            AND (
                o.person_id = ANY(%(people)s::uuid[])
                OR (o.person_id IS NULL AND o.team_id = ANY(%(teams)s::bigint[]))
                OR (o.person_id IS NULL AND o.team_id IS NULL AND %(organisation)s)
            )
            AND (o.id < %(first_new)s OR NOT (o.id = ANY(%(new)s::bigint[])))
        GROUP BY o.metric_id, o.person_id, o.team_id
    """  # noqa: S608
    array = bulk.array_literal
    params = {
        "wanted": array(sorted(query.wanted)),
        "cv_metric": array([m for m, _ in pairs]),
        "cv_version": array([v for _, v in pairs]),
        "valid": ObservationQuerySet.CURRENT_STATUS,  # as .current() reads
        "metrics": array(sorted(versions)),
        "since": query.since,
        "people": array(people),
        "teams": array(teams),
        "organisation": organisation,
        "first_new": min(new_ids),
        "new": array(sorted(new_ids)),
    }
    return sql, params


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _as_date(value: Any) -> datetime.date:
    if isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value)[:10])


def _describe(finding: anomalies.Finding, n_points: int) -> str:
    """Evidence for the issue: which check, ratios and scores, never a value."""
    if finding.kind == "unit_slip":
        ratio = finding.score or 0.0
        size = ratio if ratio >= 1 else 1 / ratio
        factor = min(anomalies.UNIT_SLIP_FACTORS, key=lambda f: abs(f - size))
        slip = f"×{factor:g}" if ratio >= 1 else f"÷{factor:g}"
        return (
            f"Unit slip: ratio to the median of this series ({n_points} values "
            f"checked) ≈ {ratio:.2g}, consistent with a {slip} slip."
        )
    if finding.kind == "spike":
        return (
            f"Spike: robust z-score {finding.score:+.2f} within this series "
            f"({n_points} values checked; threshold ±{SPIKE_Z:g})."
        )
    if finding.kind == "duplicate":
        same = "repeats" in finding.detail
        return (
            "Duplicate: a valid value for this subject and period is already "
            "recorded" + (" (the same value)." if same else " (a different value).")
        )
    return f"Impossible value: {finding.detail}."


def _exact(
    entries: Sequence[tuple[Hashable, Any]], rng: anomalies.HardRange
) -> list[anomalies.Finding]:
    """The reference checks of :mod:`metrics.analytics.anomalies` on one series,
    composed as ``detect_anomalies`` does, with the quarantine thresholds
    (duplicates are judged separately, against every methodology version)."""
    impossible = anomalies.detect_impossible(entries, rng)
    excluded = {f.index for f in impossible}
    slips = anomalies.detect_unit_slips(entries, skip=excluded)
    slipped = {f.index for f in slips}
    spikes = [
        f
        for f in anomalies.detect_spikes(
            entries,
            threshold=SPIKE_Z,
            min_points=SPIKE_MIN_HISTORY + 1,
            skip=excluded,
        )
        if f.index not in slipped
    ]
    return [*impossible, *slips, *spikes]


def _screen(
    history: list[list[float | None]],
    news: list[list[float]],
    rng: anomalies.HardRange,
) -> list[bool]:
    """Vectorised first pass: which series *might* hold a slip or a spike.

    Row ``i`` is one series: its valid history ``history[i]`` and its new values
    ``news[i]``. The statistics are those of :mod:`metrics.analytics.anomalies`
    over history and new values together (median; MAD with the mean absolute
    deviation as fallback; ratios to the median; values outside the hard range
    left out), with a small margin so the screen never misses what the exact
    check finds. Every flagged series is then judged by :func:`_exact`.
    """
    if not news:
        return []
    h = max((len(x) for x in history), default=0)
    k = max(len(x) for x in news)
    grid = np.full((len(news), h + k), np.nan)
    fresh = np.zeros(grid.shape, dtype=bool)
    for row, (past, new) in enumerate(zip(history, news, strict=True)):
        if past:
            grid[row, : len(past)] = [np.nan if v is None else v for v in past]
        grid[row, h : h + len(new)] = new
        fresh[row, h : h + len(new)] = True
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        outside = np.zeros(grid.shape, dtype=bool)
        if rng.minimum is not None:
            outside |= grid < rng.minimum
        if rng.maximum is not None:
            outside |= grid > rng.maximum
        if not rng.allow_negative:
            outside |= grid < 0
        if rng.integer_only:
            outside |= grid != np.floor(grid)
        grid[outside] = np.nan
        count = np.sum(~np.isnan(grid), axis=1)
        median = np.nanmedian(grid, axis=1)[:, None]
        deviation = np.abs(grid - median)
        scale = anomalies.MAD_SCALE * np.nanmedian(deviation, axis=1)
        fallback = anomalies.MEAN_AD_SCALE * np.nanmean(deviation, axis=1)
        scale = np.where(scale == 0, fallback, scale)[:, None]
        z = deviation / scale
        ratio = grid / median
        spike = (
            (count >= SPIKE_MIN_HISTORY + 1)[:, None]
            & (scale > 0)
            & (z > SPIKE_Z * 0.999)
        )
        ok = (
            (count >= anomalies.UNIT_SLIP_MIN_POINTS)[:, None]
            & (median != 0)
            & (ratio > 0)
        )
        tol = anomalies.UNIT_SLIP_TOLERANCE * 1.001
        slip = np.zeros(grid.shape, dtype=bool)
        for factor in anomalies.UNIT_SLIP_FACTORS:
            low, high = factor / (1 + tol), factor * (1 + tol)
            slip |= ok & (
                ((ratio >= low) & (ratio <= high))
                | ((1 / ratio >= low) & (1 / ratio <= high))
            )
    return (fresh & (spike | slip)).any(axis=1).tolist()


def find_suspects(
    observations: Sequence[Observation],
    *,
    prefetched: PrefetchedHistory | None = None,
) -> list[Suspect]:
    """Suspect values among ``observations`` (just stored, status valid).

    Per metric: impossible values and duplicates are checked directly; slips and
    spikes are screened for the whole batch at once (numpy) and the candidates
    confirmed by the reference checks of :mod:`metrics.analytics.anomalies`.
    """
    new = [o for o in observations if o.status == Observation.Status.VALID]
    if not new:
        return []
    metrics = {o.metric_id: o.metric for o in new}
    history = _history(new, prefetched=prefetched)
    empty = _SeriesHistory([], {})
    per_series: dict[SeriesKey, list[Observation]] = defaultdict(list)
    for obs in new:
        per_series[_series_key(obs)].append(obs)
    by_metric: dict[int, list[SeriesKey]] = defaultdict(list)
    for key in per_series:
        by_metric[key[0]].append(key)
    suspects: list[Suspect] = []
    for metric_id, keys in by_metric.items():
        rng = hard_range(metrics[metric_id])
        judge: list[SeriesKey] = []
        screen: list[SeriesKey] = []
        news: list[list[float]] = []
        for key in keys:
            batch = per_series[key]
            values = [quality_number(o.value) for o in batch]
            if (
                history.get(key, empty).same_period
                or any(v is None for v in values)
                or anomalies.detect_impossible([(None, v) for v in values], rng)
                or len({o.period_start for o in batch}) < len(batch)
            ):
                judge.append(key)  # a duplicate or an impossible value
            else:
                screen.append(key)
                news.append(values)  # type: ignore[arg-type]
        flags = _screen(
            [[v for _, v in history.get(k, empty).values] for k in screen], news, rng
        )
        judge.extend(k for k, flagged in zip(screen, flags, strict=True) if flagged)
        for key in judge:
            suspects.extend(_judge(key, history.get(key, empty), per_series[key], rng))
    return suspects


def _judge(
    key: SeriesKey,
    history: _SeriesHistory,
    batch: list[Observation],
    rng: anomalies.HardRange,
) -> list[Suspect]:
    entries: list[tuple[Hashable, Any]] = [((*key, p), v) for p, v in history.values]
    offset = len(entries)
    new_entries = [((*key, o.period_start), quality_number(o.value)) for o in batch]
    entries += new_entries
    per_obs: dict[int, list[anomalies.Finding]] = defaultdict(list)
    for finding in _exact(entries, rng):
        if finding.index >= offset:
            per_obs[finding.index - offset].append(finding)
    # Duplicates: a period already recorded (under any methodology), or twice
    # in this batch.
    for position, (entry_key, number) in enumerate(new_entries):
        period = batch[position].period_start
        if period in history.same_period:
            same = history.same_period[period] == number
            per_obs[position].append(
                anomalies.Finding(
                    "duplicate",
                    position,
                    entry_key,
                    number,
                    "repeats the value" if same else "conflicts with the value",
                )
            )
    for finding in anomalies.detect_duplicates(new_entries):
        per_obs[finding.index].append(finding)
    suspects = []
    for position, found in sorted(per_obs.items()):
        found.sort(key=lambda f: _SEVERITY.index(f.kind))
        detail = " ".join(_describe(f, len(entries)) for f in found)
        suspects.append(Suspect(batch[position], found[0].kind, detail))
    return suspects


def quality_number(value: Any) -> float | None:
    """A stored value as a float (None for erased, masked or missing values)."""
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return float(value)
    return None


def scan_observations(
    observations: list[Observation],
    actor: Any,
    prefetched: PrefetchedHistory | None = None,
) -> list[Suspect]:
    """Post-capture hook: quarantine suspect values and file their issues.

    Runs inside the capture's transaction, so a batch and its quarantine commit
    (or roll back) together. ``prefetched``: the history read
    :func:`prefetch_history` sent before the batch was stored.
    """
    suspects = find_suspects(observations, prefetched=prefetched)
    if not suspects:
        return []
    now = timezone.now()
    quarantined = [s.observation for s in suspects]
    for obs in quarantined:
        obs.status = Observation.Status.QUARANTINED
    Observation.objects.filter(pk__in=[o.pk for o in quarantined]).update(
        status=Observation.Status.QUARANTINED
    )
    bulk_history(
        Observation,
        quarantined,
        history_type="~",
        reason="quarantined: suspected input error",
        user=actor,
    )
    issues = [
        DataQualityIssue(
            observation=s.observation,
            kind=s.kind,
            detail=s.detail,
            status=DataQualityIssue.Status.OPEN,
            detected_at=now,
        )
        for s in suspects
    ]
    for issue, pk in zip(
        issues, bulk.allocate_ids(DataQualityIssue, len(issues)), strict=True
    ):
        issue.pk = pk
    bulk.fast_insert(DataQualityIssue, issues)
    bulk_history(
        DataQualityIssue,
        issues,
        history_type="+",
        reason="detected at capture",
        user=actor,
    )
    kinds = Counter(s.kind for s in suspects)
    events.record(
        "quality.quarantined",
        actor=actor,
        object_type="metrics.observation",
        reason="suspected input errors at capture",
        data={
            "quarantined": len(suspects),
            "kinds": dict(sorted(kinds.items())),
            "metrics": sorted({s.observation.metric.key for s in suspects}),
            "issues": [i.pk for i in issues],
        },
    )
    return suspects


# -- the steward's decision ---------------------------------------------------------


def may_decide(user: Any, metric: Metric) -> bool:
    """The metric's steward, its department's steward, or an organisation-wide
    role — each holding the permission to change data-quality issues."""
    if user is None:
        return True  # the system itself (jobs, tests)
    if not permissions.has_model_perm(user, DataQualityIssue, "change"):
        return False
    if permissions.has_org_scope(user):
        return True
    person = permissions.person_of(user)
    return person is not None and person.pk in {
        metric.steward_id,
        metric.department.steward_id,
    }


DECISIONS = ("confirm", "correct")


@transaction.atomic
def decide_issue(
    *,
    actor: Any,
    issue: DataQualityIssue,
    decision: str,
    reason: str,
    value: Any = None,
) -> DataQualityIssue:
    """Confirm the quarantined value, or correct it, with a reason.

    ``confirm`` makes the value valid again; ``correct`` stores ``value`` as a new
    observation that supersedes the suspect one (never an overwrite). Other open
    issues of the same observation are closed with it.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": "Say why: a data-quality decision needs a reason."}
        )
    if decision not in DECISIONS:
        raise ValidationError({"decision": "Decide “confirm” or “correct”."})
    current = (
        DataQualityIssue.objects.select_for_update()
        .select_related("observation__metric__department")
        .get(pk=issue.pk)
    )
    if current.status != DataQualityIssue.Status.OPEN:
        raise ValidationError(
            f"This issue was already decided ({current.get_status_display().lower()})."
        )
    observation = current.observation
    metric = observation.metric
    if not may_decide(actor, metric):
        raise PermissionDenied(
            "Only the metric's data steward, its department's steward or an "
            "organisation-wide role may decide data-quality issues."
        )
    if actor is not None and not permissions.can_read_level(
        actor, observation.classification, subject_id=observation.person_id
    ):
        raise PermissionDenied(
            "Your clearance is below this value's classification: you can't decide on it."
        )
    now = timezone.now()
    correction = None
    if decision == "correct":
        if value in (None, ""):
            raise ValidationError({"value": "A correction needs the right value."})
        correction = _correct(
            actor=actor, observation=observation, value=value, reason=reason
        )
        status = DataQualityIssue.Status.CORRECTED
    else:
        status = DataQualityIssue.Status.CONFIRMED
    siblings = list(
        DataQualityIssue.objects.select_for_update().filter(
            observation=observation, status=DataQualityIssue.Status.OPEN
        )
    )
    for open_issue in siblings:
        open_issue.status = status
        open_issue.decided_by_id = getattr(actor, "pk", None)
        open_issue.decided_at = now
        open_issue.decision_note = reason
        save_governed(open_issue, actor=actor, reason=f"{decision}: {reason}")
    if decision == "confirm":
        fresh = Observation.objects.select_for_update().get(pk=observation.pk)
        if fresh.status == Observation.Status.QUARANTINED:
            fresh.status = Observation.Status.VALID
            save_governed(fresh, actor=actor, reason=f"value confirmed: {reason}")
    events.record(
        "quality.decided",
        actor=actor,
        target=current,
        reason=reason,
        data={
            "decision": decision,
            "kind": current.kind,
            "observation": observation.pk,
            "correction": getattr(correction, "pk", None),
            "issues": sorted(i.pk for i in siblings),
        },
    )
    current.refresh_from_db()
    return current


def _correct(
    *, actor: Any, observation: Observation, value: Any, reason: str
) -> Observation:
    from metrics import services

    return services.correct_observation(
        actor=actor, observation=observation, value=value, reason=reason
    )


def open_issues(user: Any) -> Iterable[DataQualityIssue]:
    """Open issues the user may see, newest first (the steward's queue)."""
    return (
        DataQualityIssue.objects.visible_to(user, "view")
        .filter(status=DataQualityIssue.Status.OPEN)
        .select_related(
            "observation__metric", "observation__person", "observation__team"
        )
    )
