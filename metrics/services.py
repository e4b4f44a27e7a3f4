"""The only write path for metrics (HackSoft services).

Capture (admin, import, API, connectors) goes through :func:`validate_rows` and
:func:`record_observations`: one validation path, all-or-nothing batches with
every row's errors, capture guards (consent, review board …) registered by
other modules, encryption, history and the audit chain in one transaction.

Metric definitions change through :func:`metric_update`, which refuses direct
edits of governed fields on active metrics: those go through a change request
approved by the steward, producing a new methodology version (M3.6).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models.base import ModelState
from django.utils import timezone

from governance import bulk, gcpause, permissions
from governance.audit import chain, events
from governance.audit.history import bulk_history
from governance.classification import Sensitivity
from governance.crypto import store
from governance.crypto.fields import Ciphertext
from governance.models import Jurisdiction, Person, Team
from governance.services import save_governed
from metrics import methodology, validation
from metrics.models import (
    ChangeRequest,
    DataSource,
    Evaluation,
    Metric,
    Observation,
)

# -- errors ---------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based position in the batch (or file line)
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


class BatchRejected(ValidationError):
    """A batch had invalid rows: nothing was stored. ``errors`` lists them all."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__([f"Row {e.row} ({e.field}): {e.message}" for e in errors])


class ChangeControlRequired(ValidationError):
    """A governed field of an active metric was edited directly."""


# -- extension points -------------------------------------------------------------

#: guard(metric, person, team, period_start) -> error message or None.
#: Registered by e.g. consent (M8.3) and the review board (M8.4).
CaptureGuard = Callable[[Metric, Person | None, Team | None, datetime.date], str | None]
_capture_guards: list[CaptureGuard] = []
#: guard(metric, actor) -> error message or None, before a metric becomes active.
ActivationGuard = Callable[[Metric, Any], str | None]
_activation_guards: list[ActivationGuard] = []
#: guard(period_start, period_end, actor) -> error message or None, before an
#: evaluation period is released (e.g. the bias assessment gate, M8.5).
ReleaseGuard = Callable[[datetime.date, datetime.date, Any], str | None]
_release_guards: list[ReleaseGuard] = []
#: hook(observations, actor) after a batch is stored (same transaction): data-quality
#: scan … A hook may come with prefetch(observations), called before the batch is
#: stored (its queries go to the server while the rows are sealed); whatever it
#: returns reaches the hook as ``prefetched`` (None: nothing was prefetched).
PostCaptureHook = Callable[..., Any]
CapturePrefetch = Callable[[list[Observation]], Any]
_post_capture_hooks: list[tuple[PostCaptureHook, CapturePrefetch | None]] = []
#: hook(metric, changed_fields, actor) after a governed edit (e.g. revoke board approval).
_metric_changed_hooks: list[Callable[[Metric, list[str], Any], None]] = []


def register_capture_guard(guard: CaptureGuard) -> None:
    if guard not in _capture_guards:
        _capture_guards.append(guard)


def register_activation_guard(guard: ActivationGuard) -> None:
    if guard not in _activation_guards:
        _activation_guards.append(guard)


def register_release_guard(guard: ReleaseGuard) -> None:
    if guard not in _release_guards:
        _release_guards.append(guard)


def register_post_capture_hook(
    hook: PostCaptureHook, *, prefetch: CapturePrefetch | None = None
) -> None:
    if all(registered is not hook for registered, _ in _post_capture_hooks):
        _post_capture_hooks.append((hook, prefetch))


def register_metric_changed_hook(
    hook: Callable[[Metric, list[str], Any], None],
) -> None:
    if hook not in _metric_changed_hooks:
        _metric_changed_hooks.append(hook)


# -- capture --------------------------------------------------------------------

#: Canonical ingestion fields (M2.5). Tool aliases map onto these.
CANONICAL_FIELDS = (
    "metric",
    "employee_id",
    "team",
    "period_start",
    "period_end",
    "value",
)


_CANONICAL_SET = frozenset(CANONICAL_FIELDS)
_MEMO_MISS = object()


def _memo(func: Callable[..., Any]) -> Callable[..., Any]:
    """Per-call cache of a pure function; errors are cached and raised again,
    unhashable arguments go straight through."""
    results: dict[tuple[Any, ...], tuple[bool, Any]] = {}

    def call(*args: Any) -> Any:
        try:
            hit = results.get(args, _MEMO_MISS)
        except TypeError:
            return func(*args)
        if hit is _MEMO_MISS:
            try:
                hit = (True, func(*args))
            except ValueError as exc:
                hit = (False, str(exc))
            results[args] = hit
        ok, value = hit
        if not ok:
            raise ValueError(value)
        return value

    return call


@dataclass
class PreparedRow:
    row: int
    metric: Metric
    person: Person | None
    team: Team | None
    period_start: datetime.date
    period_end: datetime.date
    value: Decimal


@dataclass
class _Lookups:
    metrics: dict[str, Metric] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)


_PERSON_COLUMNS = (
    "id",
    "employee_id",
    "status",
    "erased_at",
    "jurisdiction_id",
    "department_id",
)


def _people_for_validation(employees: set[str]) -> list[Person]:
    """People by employee id with just what validation and the capture guards
    read, as ``.only(*_PERSON_COLUMNS)`` would load them (the rest deferred),
    but without ``Model.__init__`` per person: a batch names hundreds."""
    rows = Person._base_manager.filter(employee_id__in_array=employees).values_list(
        *_PERSON_COLUMNS
    )
    people = []
    new = Person.__new__
    db = rows.db
    for values in rows:
        person = new(Person)
        person.__dict__.update(zip(_PERSON_COLUMNS, values, strict=True))
        state = ModelState()
        state.adding, state.db = False, db
        person.__dict__["_state"] = state
        people.append(person)
    return people


def _load_lookups(rows: Sequence[Mapping[str, Any]]) -> _Lookups:
    keys = {str(r.get("metric") or "").strip() for r in rows} - {""}
    employees = {str(r.get("employee_id") or "").strip() for r in rows} - {""}
    teams = {str(r.get("team") or "").strip() for r in rows} - {""}
    lookups = _Lookups()
    lookups.metrics = {
        m.key: m
        for m in Metric.objects.filter(key__in=keys).select_related("department")
    }
    # The base manager: validation reads no encrypted field, so the governed
    # queryset's per-page data-key fetch (and unwrap) would be wasted here;
    # store_prepared fetches the keys it needs once.
    # Jurisdictions are few: fetched once and shared, not joined per person.
    people = _people_for_validation(employees)
    jurisdictions = Jurisdiction._base_manager.in_bulk(
        {p.jurisdiction_id for p in people}
    )
    for person in people:
        person._state.fields_cache["jurisdiction"] = jurisdictions[
            person.jurisdiction_id
        ]
    lookups.people = {p.employee_id: p for p in people}
    by_name = {t.name: t for t in Team.objects.filter(name__in=teams)}
    by_id = {
        str(t.pk): t
        for t in Team.objects.filter(pk__in=[t for t in teams if t.isdigit()])
    }
    lookups.teams = {**by_name, **by_id}
    return lookups


def writable_metric_ids(actor: Any) -> set[int] | None:
    """Metrics the actor may feed (None = all, for organisation-wide roles)."""
    if actor is None or permissions.has_org_scope(actor):
        return None
    return set(Metric.objects.visible_to(actor, "change").values_list("pk", flat=True))


def validate_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    source: DataSource | None,
    actor: Any,
    first_row: int = 1,
) -> tuple[list[PreparedRow], list[RowError]]:
    """Check every row; return what would be stored and every error found.

    ``source`` restricts the batch to that data source's metrics (API tokens
    are scoped to one source); ``actor`` must be allowed to add observations
    and to feed each metric.
    """
    errors: list[RowError] = []
    prepared: list[PreparedRow] = []
    if actor is not None and not permissions.has_model_perm(actor, Observation, "add"):
        raise PermissionDenied("You may not record observations.")
    writable = writable_metric_ids(actor)
    lookups = _load_lookups(rows)
    seen: set[tuple[Any, ...]] = set()
    # A batch repeats few distinct dates and periods: parse and check each once.
    parse_date = _memo(validation.parse_date)
    check_period = _memo(validation.check_period)
    period_for = _memo(validation.period_for)
    for offset, raw in enumerate(rows):
        n = first_row + offset
        row_errors: list[RowError] = []

        def bad(
            field_name: str,
            message: str,
            n: int = n,
            row_errors: list[RowError] = row_errors,
        ) -> None:
            row_errors.append(RowError(n, field_name, message))

        unknown = sorted(raw.keys() - _CANONICAL_SET)
        for name in unknown:
            bad(
                name,
                f"Unknown field “{name}”. Known fields: {', '.join(CANONICAL_FIELDS)}.",
            )
        key = str(raw.get("metric") or "").strip()
        metric = lookups.metrics.get(key)
        if not key:
            bad("metric", "A metric key is required.")
        elif metric is None:
            bad("metric", f"No metric “{key}”.")
        elif source is not None and metric.source_id != source.pk:
            bad("metric", f"Metric “{key}” is not fed by data source “{source.code}”.")
        elif writable is not None and metric.pk not in writable:
            bad("metric", f"You may not record data for metric “{key}”.")
        elif metric.status != Metric.Status.ACTIVE:
            bad(
                "metric",
                f"Metric “{key}” is {metric.get_status_display().lower()} and takes no data.",
            )
        try:
            value = validation.parse_value(raw.get("value"))
        except ValueError as exc:
            bad("value", str(exc))
            value = None
        try:
            start = parse_date(raw.get("period_start"), "period_start")
        except ValueError as exc:
            bad("period_start", str(exc))
            start = None
        end = None
        if raw.get("period_end") not in (None, ""):
            try:
                end = parse_date(raw.get("period_end"), "period_end")
            except ValueError as exc:
                bad("period_end", str(exc))
        employee = str(raw.get("employee_id") or "").strip()
        person = lookups.people.get(employee) if employee else None
        team_ref = str(raw.get("team") or "").strip()
        team = lookups.teams.get(team_ref) if team_ref else None
        if employee and person is None:
            bad("employee_id", f"No person with employee id “{employee}”.")
        if team_ref and team is None:
            bad("team", f"No team “{team_ref}”.")
        if metric is not None and not row_errors:
            rules = metric.validation_rules or {}
            for required in rules.get("required", []):
                if raw.get(required) in (None, ""):
                    bad(required, f"{required} is required for this metric.")
            if (
                metric.level == Metric.Level.INDIVIDUAL
                and person is None
                and not employee
            ):
                bad("employee_id", "An individual-level metric needs an employee id.")
            if metric.level == Metric.Level.TEAM and team is None and not team_ref:
                bad("team", "A team-level metric needs a team.")
            if metric.level != Metric.Level.INDIVIDUAL and person is not None:
                bad("employee_id", "Only individual-level metrics take an employee id.")
            if person is not None and (
                person.erased_at or person.status == Person.Status.LEFT
            ):
                bad(
                    "employee_id",
                    f"{person.employee_id} has left or was erased; no new data is recorded for them.",
                )
            if value is not None:
                for message in validation.check_value(rules, value):
                    bad("value", message)
            if start is not None:
                for message in check_period(metric.update_frequency, start, end):
                    bad("period_start", message)
            if not row_errors and start is not None:
                for guard in _capture_guards:
                    message = guard(metric, person, team, start)
                    if message:
                        bad("employee_id" if person is not None else "metric", message)
            dedupe = (
                metric.pk,
                getattr(person, "pk", None),
                getattr(team, "pk", None),
                start,
            )
            if not row_errors and dedupe in seen:
                bad(
                    "period_start",
                    "The same metric, subject and period appear twice in this batch.",
                )
            seen.add(dedupe)
        if row_errors:
            errors.extend(row_errors)
        elif metric is not None and value is not None and start is not None:
            prepared.append(
                PreparedRow(
                    n,
                    metric,
                    person,
                    team,
                    start,
                    end or period_for(metric.update_frequency, start),
                    value,
                )
            )
    return prepared, errors


def _build(
    row: PreparedRow,
    *,
    source: DataSource,
    actor: Any,
    now: datetime.datetime,
    keys: dict,
) -> Observation:
    metric = row.metric
    obs = Observation(
        metric=metric,
        person=row.person,
        team=row.team,
        period_start=row.period_start,
        period_end=row.period_end,
        classification=metric.sensitivity,
        status=Observation.Status.VALID,
        source=source,
        methodology_version=metric.methodology_version,
        entered_by_id=getattr(actor, "pk", None),
        entered_at=now,
    )
    obs.__dict__["_pgp_deks"] = keys
    if metric.sensitivity >= Sensitivity.CONFIDENTIAL:
        obs.value_sealed = row.value
    else:
        obs.value_plain = row.value
    return obs


def _build_many(
    prepared: Sequence[PreparedRow],
    *,
    source: DataSource | None,
    actor: Any,
    now: datetime.datetime,
    keys: dict,
) -> list[Observation]:
    """The batch's observations, exactly as :func:`_build` makes them (same field
    values, same related-object cache), but copied from one prototype per metric
    and source instead of running ``Model.__init__`` for every row: that was the
    largest cost of capture after the database itself. The copies send no
    ``pre_init``/``post_init`` signals; nothing listens to those for observations.
    """
    prototypes: dict[tuple[int, int], tuple[dict[str, Any], str, dict[str, Any]]] = {}
    observations = []
    new = Observation.__new__
    for row in prepared:
        metric = row.metric
        row_source = source or metric.source
        proto = prototypes.get((id(metric), id(row_source)))
        if proto is None:
            template = _build(row, source=row_source, actor=actor, now=now, keys=keys)
            data = template.__dict__.copy()
            cache = dict(data.pop("_state").fields_cache)
            column = (
                "value_sealed"
                if metric.sensitivity >= Sensitivity.CONFIDENTIAL
                else "value_plain"
            )
            proto = prototypes[(id(metric), id(row_source))] = (data, column, cache)
        data, column, cache = proto
        obs = new(Observation)
        attrs = obs.__dict__
        attrs.update(data)
        state = ModelState()
        person, team = row.person, row.team
        state.fields_cache = {**cache, "person": person, "team": team}
        attrs["_state"] = state
        attrs["person_id"] = None if person is None else person.pk
        attrs["team_id"] = None if team is None else team.pk
        attrs["period_start"] = row.period_start
        attrs["period_end"] = row.period_end
        attrs[column] = row.value
        observations.append(obs)
    return observations


@transaction.atomic
def record_observations(
    *,
    actor: Any,
    rows: Sequence[Mapping[str, Any]],
    source: DataSource | None = None,
    reason: str = "captured",
    scope_to_source: bool = True,
) -> list[Observation]:
    """Validate and store a batch, all or nothing.

    Raises :class:`BatchRejected` listing every bad row (nothing stored).
    ``source`` is the data source the rows come from (an API token's source);
    manual entry uses each metric's own source.
    """
    with gcpause.relaxed():  # thousands of live rows: nothing for the collector
        prepared, errors = validate_rows(
            rows, source=source if scope_to_source else None, actor=actor
        )
        if errors:
            raise BatchRejected(errors)
        # The batch's history rows, the quality screen's quarantine and issues
        # and its event are chained together: one lock of the chain's head.
        with chain.deferred():
            return store_prepared(prepared, actor=actor, source=source, reason=reason)


def store_prepared(
    prepared: Sequence[PreparedRow],
    *,
    actor: Any,
    source: DataSource | None,
    reason: str,
) -> list[Observation]:
    if not prepared:
        return []
    now = timezone.now()
    sealed_subjects = {
        r.person.pk
        for r in prepared
        if r.person is not None and r.metric.encrypted_values
    }
    if any(r.person is None and r.metric.encrypted_values for r in prepared):
        sealed_subjects.add(store.ORGANISATION_SUBJECT)
    keys = store.ensure_keys(sealed_subjects) if sealed_subjects else {}
    observations = _build_many(prepared, source=source, actor=actor, now=now, keys=keys)
    ids = bulk.allocate_ids(Observation, len(observations))
    for obs, pk in zip(observations, ids, strict=True):
        obs.pk = pk
    # The hooks' reads go to the server first and are answered while the rows
    # are sealed and prepared here (one pipeline on PostgreSQL).
    with bulk.pipelined():
        prefetched = [
            None if prefetch is None else prefetch(observations)
            for _, prefetch in _post_capture_hooks
        ]
        columns, rows = bulk.prepare(Observation, observations)
    bulk.insert_prepared(Observation, observations, columns, rows)
    bulk_history(
        Observation,
        observations,
        history_type="+",
        reason=reason,
        user=actor,
        live_rows_match=True,
    )
    for (hook, prefetch), ahead in zip(_post_capture_hooks, prefetched, strict=True):
        if prefetch is None:
            hook(observations, actor)
        else:
            hook(observations, actor, prefetched=ahead)
    return observations


def record_observation(
    *, actor: Any, reason: str = "captured", **row: Any
) -> Observation:
    """One observation through the same path (admin form, connectors)."""
    source = row.pop("source", None)
    return record_observations(
        actor=actor,
        rows=[row],
        source=source,
        reason=reason,
        scope_to_source=source is not None,
    )[0]


@transaction.atomic
def correct_observation(
    *,
    actor: Any,
    observation: Observation,
    value: Any,
    reason: str,
    authorised_by: str = "",
) -> Observation:
    """Corrections never overwrite: a new observation supersedes the old one.

    ``authorised_by`` names a decision that authorises the correction in place
    of the actor's own permission on the observation (e.g. an upheld appeal,
    decided by its independent reviewer); the caller has checked it.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "A correction needs a reason."})
    if (
        actor is not None
        and not authorised_by
        and not permissions.can(actor, "change", observation)
    ):
        raise PermissionDenied("You may not correct this observation.")
    old = Observation.objects.select_for_update().get(pk=observation.pk)
    if old.status == Observation.Status.SUPERSEDED:
        raise ValidationError(
            "This observation was already corrected; correct the newest one."
        )
    metric = old.metric
    parsed = validation.parse_value(value)
    problems = validation.check_value(metric.validation_rules or {}, parsed)
    if problems:
        raise ValidationError({"value": problems})
    keys = (
        store.ensure_keys({old.person_id or store.ORGANISATION_SUBJECT})
        if metric.encrypted_values
        else {}
    )
    new = _build(
        PreparedRow(
            0, metric, old.person, old.team, old.period_start, old.period_end, parsed
        ),
        source=old.source,
        actor=actor,
        now=timezone.now(),
        keys=keys,
    )
    new.supersedes = old
    new.correction_reason = reason
    new.methodology_version = metric.methodology_version
    save_governed(new, actor=actor, reason=f"correction: {reason}")
    old.status = Observation.Status.SUPERSEDED
    save_governed(old, actor=actor, reason=f"superseded by #{new.pk}: {reason}")
    return new


# -- evaluations ----------------------------------------------------------------------


@transaction.atomic
def evaluation_set_hold(
    *, actor: Any, evaluation: Evaluation, hold: bool, restore_to: str, reason: str
) -> Evaluation:
    """Put an evaluation on hold (an appeal is open) or release it.

    While on hold (``status = on_hold``) it must not be used downstream.
    Releasing restores ``restore_to`` (its status before the hold). Called by
    higher layers (appeals) that own the reason for the hold.
    """
    current = Evaluation.objects.select_for_update().get(pk=evaluation.pk)
    if hold:
        current.status = Evaluation.Status.ON_HOLD
    else:
        if restore_to not in Evaluation.Status.values or restore_to == "on_hold":
            restore_to = Evaluation.Status.RELEASED
        current.status = restore_to
    save_governed(current, actor=actor, reason=_require(reason))
    evaluation.status = current.status
    return current


@transaction.atomic
def correct_evaluation(
    *, actor: Any, evaluation: Evaluation, score: Any, reason: str
) -> Evaluation:
    """A corrected score through change control: the change is a governed
    edit with its reason, and the evaluation's history keeps the original
    score readable (sealed like the live value). The caller authorises it."""
    reason = _require(reason)
    try:
        parsed = Decimal(str(score).strip())
    except (ArithmeticError, ValueError) as exc:
        raise ValidationError({"score": "Enter a number."}) from exc
    if not parsed.is_finite() or not Decimal(0) <= parsed <= Decimal(5):
        raise ValidationError({"score": "A score lies between 0 and 5."})
    current = Evaluation.objects.select_for_update().get(pk=evaluation.pk)
    current.score = parsed
    save_governed(current, actor=actor, reason=f"correction: {reason}")
    return current


def _require(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why."})
    return reason


# -- metric definitions and change control -----------------------------------------


def _can_steward(actor: Any, metric: Metric) -> bool:
    if actor is None or (
        permissions.has_org_scope(actor)
        and permissions.has_model_perm(actor, ChangeRequest, "change")
    ):
        return True
    person = permissions.person_of(actor)
    if person is None or not permissions.has_model_perm(actor, ChangeRequest, "change"):
        return False
    return person.pk in {metric.steward_id, metric.department.steward_id}


@transaction.atomic
def metric_create(*, actor: Any, reason: str = "defined", **fields: Any) -> Metric:
    metric = Metric(**fields)
    errors = validation.validate_rules(metric.validation_rules or {})
    if errors:
        raise ValidationError({"validation_rules": errors})
    if metric.status not in (Metric.Status.DRAFT, Metric.Status.PROPOSED):
        raise ValidationError(
            {
                "status": "New metrics start as draft or proposed; activate them afterwards."
            }
        )
    save_governed(metric, actor=actor, reason=reason)
    return metric


@transaction.atomic
def metric_update(
    *, actor: Any, metric: Metric, changes: Mapping[str, Any], reason: str
) -> Metric:
    """Edit a metric. Governed fields of an active metric are refused here."""
    current = Metric.objects.select_for_update().get(pk=metric.pk)
    governed = [
        name
        for name in changes
        if name in Metric.GOVERNED_FIELDS and _differs(current, name, changes[name])
    ]
    if "status" in changes and changes["status"] != current.status:
        raise ValidationError(
            {
                "status": "Use the lifecycle actions (activate, sunset review, retire) to change status."
            }
        )
    if "methodology_version" in changes:
        raise ValidationError(
            "The methodology version changes only through an approved change request."
        )
    if governed and current.status in (
        Metric.Status.ACTIVE,
        Metric.Status.SUNSET_REVIEW,
    ):
        raise ChangeControlRequired(
            f"{', '.join(governed)} of the active metric “{current.key}” can't be edited directly. "
            "File a change request (Metrics › Change requests, or the “Request change” button); once the "
            "metric's steward approves it, the change applies as a new methodology version."
        )
    for name, value in changes.items():
        setattr(metric, name, value)
    errors = validation.validate_rules(metric.validation_rules or {})
    if errors:
        raise ValidationError({"validation_rules": errors})
    save_governed(metric, actor=actor, reason=reason)
    if governed:
        for hook in _metric_changed_hooks:
            hook(metric, governed, actor)
    return metric


def _differs(metric: Metric, name: str, value: Any) -> bool:
    if name == "source":
        value = getattr(value, "pk", value)
        return value != metric.source_id
    current = getattr(metric, name)
    if isinstance(current, Decimal) or isinstance(value, Decimal):
        return Decimal(str(current)) != Decimal(str(value))
    return current != value


@transaction.atomic
def change_request_create(
    *, actor: Any, metric: Metric, changes: Mapping[str, Any], reason: str
) -> ChangeRequest:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the methodology should change."})
    unknown = [name for name in changes if name not in Metric.GOVERNED_FIELDS]
    if unknown:
        raise ValidationError(
            {
                "changes": f"Not governed fields: {', '.join(unknown)}. Edit those directly."
            }
        )
    if not changes:
        raise ValidationError({"changes": "Propose at least one change."})
    # Check the proposal would make a valid metric, without saving it.
    trial = Metric.objects.get(pk=metric.pk)
    for name, value in changes.items():
        if name == "source":
            trial.source_id = getattr(value, "pk", value)
        else:
            setattr(trial, name, value)
    trial.full_clean(validate_unique=False)
    payload = {k: (getattr(v, "pk", v)) for k, v in changes.items()}
    request = ChangeRequest(
        metric=metric,
        changes=payload,
        reason=reason,
        requested_by_id=getattr(actor, "pk", None),
    )
    save_governed(request, actor=actor, reason=reason)
    return request


@transaction.atomic
def change_request_decide(
    *, actor: Any, change_request: ChangeRequest, approve: bool, note: str = ""
) -> ChangeRequest:
    """The steward approves (the change applies as a new methodology version) or rejects."""
    request = (
        ChangeRequest.objects.select_for_update()
        .select_related("metric__department")
        .get(pk=change_request.pk)
    )
    if request.status != ChangeRequest.Status.PENDING:
        raise ValidationError(
            f"This change request is already {request.get_status_display().lower()}."
        )
    metric = (
        Metric.objects.select_for_update()
        .select_related("department")
        .get(pk=request.metric_id)
    )
    if not _can_steward(actor, metric):
        raise PermissionDenied(
            "Only the metric's data steward may decide this change request."
        )
    if (
        getattr(actor, "pk", None) is not None
        and actor.pk == request.requested_by_id
        and not getattr(actor, "is_superuser", False)
    ):
        raise PermissionDenied(
            "A change request can't be approved by the person who filed it."
        )
    request.decided_by_id = getattr(actor, "pk", None)
    request.decided_at = timezone.now()
    request.decision_note = note
    if not approve:
        request.status = ChangeRequest.Status.REJECTED
        save_governed(request, actor=actor, reason=f"rejected: {note or 'no note'}")
        return request
    for name, value in request.changes.items():
        if name == "source":
            metric.source_id = value
        else:
            setattr(metric, name, value)
    metric.methodology_version += 1
    save_governed(
        metric,
        actor=actor,
        reason=f"change request #{request.pk} approved: {request.reason}",
    )
    methodology.approve_version(
        metric=metric, actor=actor, at=request.decided_at, change_request=request
    )
    request.status = ChangeRequest.Status.APPLIED
    save_governed(request, actor=actor, reason="approved and applied")
    for hook in _metric_changed_hooks:
        hook(metric, list(request.changes), actor)
    events.record(
        "metric.methodology_changed",
        actor=actor,
        target=metric,
        data={
            "version": metric.methodology_version,
            "change_request": request.pk,
            "fields": sorted(request.changes),
        },
    )
    return request


# -- metric definitions from a file ----------------------------------------------------

#: Columns of a metric-definition file; ``key`` identifies the metric (new key:
#: a new metric, known key: an edit). ``status`` and ``methodology_version``
#: may be present (an exported catalogue round-trips) but are only compared:
#: lifecycle moves and new versions have their own paths.
METRIC_IMPORT_COLUMNS = (
    "key",
    "name",
    "description",
    "indicator",
    "level",
    "unit",
    "direction",
    "sensitivity",
    "impact",
    "calculation",
    "source",
    "owner",
    "steward",
    "department",
    "team",
    "objective",
    "aligned_to",
    "update_frequency",
    "grace_days",
    "refresh_cycle",
    "latency_hours",
    "validation_rules",
    "non_punitive",
    "consent_purpose",
    "status",
    "methodology_version",
)
_METRIC_REQUIRED = ("key", "name", "indicator", "level", "unit", "calculation")
_METRIC_REQUIRED_NEW = (*_METRIC_REQUIRED, "source", "owner", "steward", "department")
_TRUE = {"1", "true", "yes", "y", "x"}
_FALSE = {"0", "false", "no", "n", ""}


class _CheckOnly(Exception):
    """Rolls a checked-only import back."""


def _visible(model: Any, actor: Any) -> Any:
    manager = model._default_manager
    if actor is not None and hasattr(manager, "visible_to"):
        return manager.visible_to(actor, "view")
    return manager.all()


def _metric_row_fields(
    raw: Mapping[str, Any], actor: Any, bad: Callable[[str, str], None]
) -> dict[str, Any]:
    """The model field values a file row names (columns present only);
    references are resolved among the rows the actor may see."""
    from governance.models import ConsentPurpose, Department
    from metrics.models import StrategicObjective

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()

    refs: dict[str, tuple[Any, str, str]] = {
        "source": (DataSource, "code", "data source"),
        "owner": (Person, "employee_id", "person with employee id"),
        "steward": (Person, "employee_id", "person with employee id"),
        "department": (Department, "code", "department"),
        "objective": (StrategicObjective, "code", "objective"),
        "aligned_to": (Metric, "key", "metric"),
        "consent_purpose": (ConsentPurpose, "code", "consent purpose"),
    }
    fields: dict[str, Any] = {}
    for name, value in raw.items():
        if name in ("status", "methodology_version"):
            continue
        value = text(value)
        if name in refs:
            model, attr, label = refs[name]
            if not value:
                fields[name] = None
                continue
            found = _visible(model, actor).filter(**{attr: value}).first()
            if found is None:
                bad(name, f"No {label} “{value}”.")
            else:
                fields[name] = found
        elif name == "team":
            if not value:
                fields[name] = None
                continue
            teams = _visible(Team, actor)
            found = teams.filter(name=value).first() or (
                teams.filter(pk=int(value)).first() if value.isdigit() else None
            )
            if found is None:
                bad(name, f"No team “{value}”.")
            else:
                fields[name] = found
        elif name == "sensitivity":
            by_label = {str(label).lower(): v for v, label in Sensitivity.choices}
            if value.isdigit() and int(value) in Sensitivity.values:
                fields[name] = int(value)
            elif value.lower() in by_label:
                fields[name] = by_label[value.lower()]
            else:
                bad(name, f"Unknown classification “{value}”.")
        elif name in ("grace_days", "latency_hours"):
            if not value.isdigit():
                bad(name, "Enter a whole number of 0 or more.")
            else:
                fields[name] = int(value)
        elif name == "validation_rules":
            import json

            try:
                rules = json.loads(value) if value else {}
            except json.JSONDecodeError:
                bad(name, 'Enter the rules as JSON, e.g. {"min": 0, "max": 100}.')
                continue
            if not isinstance(rules, dict):
                bad(name, 'Enter the rules as a JSON object, e.g. {"min": 0}.')
                continue
            fields[name] = rules
        elif name == "non_punitive":
            if value.lower() in _TRUE:
                fields[name] = True
            elif value.lower() in _FALSE:
                fields[name] = False
            else:
                bad(name, "Enter yes or no.")
        else:
            fields[name] = value
    return fields


def _cell_errors(exc: ValidationError, n: int) -> list[RowError]:
    if hasattr(exc, "error_dict"):
        return [
            RowError(n, "row" if name == "__all__" else name, message)
            for name, errors in exc.error_dict.items()
            for error in errors
            for message in error.messages
        ]
    return [RowError(n, "row", message) for message in exc.messages]


@transaction.atomic
def import_metric_definitions(
    *,
    actor: Any,
    rows: Sequence[Mapping[str, Any]],
    reason: str,
    first_row: int = 1,
    check_only: bool = False,
) -> dict[str, list[Metric]]:
    """Create or edit metric definitions from file rows, all or nothing.

    A new key is created through :func:`metric_create` (needs add permission),
    a known key edited through :func:`metric_update` (needs change permission
    on that metric): a governed field of an active metric is refused there, and
    the row error says to file a change request. Any bad row: nothing is
    stored and :class:`BatchRejected` lists every row's errors. With
    ``check_only`` everything is checked and rolled back.
    """
    reason = (reason or "").strip() or "imported from file"
    if actor is not None and not permissions.has_model_perm(actor, Metric, "change"):
        raise PermissionDenied("You may not import metric definitions.")
    may_add = actor is None or permissions.has_model_perm(actor, Metric, "add")
    editable = (
        None
        if actor is None
        else set(
            Metric.objects.visible_to(actor, "change").values_list("pk", flat=True)
        )
    )
    errors: list[RowError] = []
    done: dict[str, list[Metric]] = {"created": [], "updated": [], "unchanged": []}
    seen: dict[str, int] = {}
    try:
        with transaction.atomic():
            for offset, raw in enumerate(rows):
                n = first_row + offset
                row_errors: list[RowError] = []

                def bad(
                    name: str,
                    message: str,
                    n: int = n,
                    row_errors: list[RowError] = row_errors,
                ) -> None:
                    row_errors.append(RowError(n, name, message))

                for column in raw:
                    if column not in METRIC_IMPORT_COLUMNS:
                        bad(column, "Unknown column.")
                key = str(raw.get("key") or "").strip()
                if not key:
                    bad("key", "Every row needs the metric's key.")
                elif key in seen:
                    bad("key", f"“{key}” is already defined in row {seen[key]}.")
                else:
                    seen[key] = n
                if row_errors:
                    errors.extend(row_errors)
                    continue
                fields = _metric_row_fields(
                    {k: v for k, v in raw.items() if k in METRIC_IMPORT_COLUMNS},
                    actor,
                    bad,
                )
                current = Metric.objects.filter(key=key).first()
                required = _METRIC_REQUIRED if current else _METRIC_REQUIRED_NEW
                for name in required:
                    if name in raw and fields.get(name) in (None, ""):
                        if not any(e.field == name for e in row_errors):
                            bad(name, "This column can't be empty.")
                    elif current is None and name not in raw:
                        bad(name, "A new metric needs this column.")
                if row_errors:
                    errors.extend(row_errors)
                    continue
                try:
                    with transaction.atomic():
                        _import_one(
                            actor=actor,
                            current=current,
                            fields=fields,
                            raw=raw,
                            reason=reason,
                            may_add=may_add,
                            editable=editable,
                            done=done,
                        )
                except ChangeControlRequired as exc:
                    assert current is not None
                    governed = [
                        name
                        for name in Metric.GOVERNED_FIELDS
                        if name in fields and _differs(current, name, fields[name])
                    ]
                    errors.append(RowError(n, ", ".join(governed), exc.messages[0]))
                except PermissionDenied as exc:
                    errors.append(RowError(n, "key", str(exc)))
                except ValidationError as exc:
                    errors.extend(_cell_errors(exc, n))
            if errors:
                raise BatchRejected(errors)
            if check_only:
                raise _CheckOnly
    except _CheckOnly:
        pass
    if not check_only:
        events.record(
            "metric.definitions_imported",
            actor=actor,
            data={
                "created": sorted(m.key for m in done["created"]),
                "updated": sorted(m.key for m in done["updated"]),
                "rows": len(rows),
            },
            reason=reason,
        )
    return done


def _import_one(
    *,
    actor: Any,
    current: Metric | None,
    fields: dict[str, Any],
    raw: Mapping[str, Any],
    reason: str,
    may_add: bool,
    editable: set[int] | None,
    done: dict[str, list[Metric]],
) -> Metric:
    status = str(raw.get("status") or "").strip().lower()
    if current is None:
        if not may_add:
            raise PermissionDenied(
                f"You may not define new metrics (“{fields['key']}” doesn't exist)."
            )
        if status:
            fields["status"] = status
        metric = metric_create(actor=actor, reason=reason, **fields)
        done["created"].append(metric)
        return metric
    if editable is not None and current.pk not in editable:
        raise PermissionDenied(f"You may not edit the metric “{current.key}”.")
    if status and status != current.status:
        raise ValidationError(
            {
                "status": "Use the lifecycle actions (activate, sunset review, retire) "
                "to change status."
            }
        )
    version = str(raw.get("methodology_version") or "").strip()
    if version and version.split(".")[0] != str(current.methodology_version):
        raise ValidationError(
            {
                "methodology_version": "The methodology version changes only through "
                "an approved change request."
            }
        )
    changes = {
        name: value
        for name, value in fields.items()
        if name != "key" and _field_differs(current, name, value)
    }
    if not changes:
        done["unchanged"].append(current)
        return current
    metric = metric_update(actor=actor, metric=current, changes=changes, reason=reason)
    done["updated"].append(metric)
    return metric


def _field_differs(metric: Metric, name: str, value: Any) -> bool:
    field = Metric._meta.get_field(name)
    if field.is_relation:
        return getattr(value, "pk", value) != getattr(metric, field.attname)
    if name == "validation_rules":
        return (value or {}) != (metric.validation_rules or {})
    return _differs(metric, name, value)


_TRANSITIONS = {
    Metric.Status.DRAFT: {
        Metric.Status.PROPOSED,
        Metric.Status.ACTIVE,
        Metric.Status.RETIRED,
    },
    Metric.Status.PROPOSED: {
        Metric.Status.DRAFT,
        Metric.Status.ACTIVE,
        Metric.Status.RETIRED,
    },
    Metric.Status.ACTIVE: {Metric.Status.SUNSET_REVIEW, Metric.Status.RETIRED},
    Metric.Status.SUNSET_REVIEW: {Metric.Status.ACTIVE, Metric.Status.RETIRED},
    Metric.Status.RETIRED: set(),
}


@transaction.atomic
def metric_transition(
    *, actor: Any, metric: Metric, status: str, reason: str
) -> Metric:
    """Move a metric through its lifecycle (draft → proposed → active → sunset review → retired)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the metric's status changes."})
    current = (
        Metric.objects.select_for_update()
        .select_related("department")
        .get(pk=metric.pk)
    )
    target = Metric.Status(status)
    if target not in _TRANSITIONS[Metric.Status(current.status)]:
        raise ValidationError(
            f"A {current.get_status_display().lower()} metric can't become {target.label.lower()}."
        )
    if actor is not None and not permissions.can(actor, "change", current):
        raise PermissionDenied("You may not change this metric's status.")
    if target == Metric.Status.ACTIVE:
        for guard in _activation_guards:
            message = guard(current, actor)
            if message:
                raise ValidationError(message)
    current.status = target
    save_governed(current, actor=actor, reason=reason)
    if target == Metric.Status.ACTIVE and methodology.current_version(current) is None:
        methodology.approve_version(metric=current, actor=actor)
    metric.status = current.status
    return current


def plaintext_value(observation: Observation) -> Any:
    """The stored value as read (sealed or plain) — for internal computation only."""
    value = observation.value
    return None if isinstance(value, Ciphertext) else value


# -- evaluation releases ------------------------------------------------------------


@transaction.atomic
def release_evaluations(
    *,
    actor: Any,
    period_start: datetime.date,
    period_end: datetime.date,
    reason: str,
) -> int:
    """Release one evaluation period: every draft evaluation of exactly this
    period becomes *released* (usable downstream), all at once.

    An *evaluation release* is this set: the evaluations of one period. The
    release guards run first (the bias assessment gate refuses a period
    without a completed bias assessment); a release needs the change
    permission on every draft of the period, and a reason.
    """
    from metrics.models import Evaluation

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the evaluations are released."})
    if actor is not None and not permissions.has_model_perm(
        actor, Evaluation, "change"
    ):
        raise PermissionDenied("You may not release evaluations.")
    drafts = list(
        Evaluation.objects.select_for_update()
        .filter(
            period_start=period_start,
            period_end=period_end,
            status=Evaluation.Status.DRAFT,
        )
        .order_by("pk")
    )
    if not drafts:
        raise ValidationError(
            f"No draft evaluations for {period_start:%Y-%m-%d} – {period_end:%Y-%m-%d}."
        )
    if actor is not None:
        allowed = set(
            Evaluation.objects.visible_to(actor, "change")
            .filter(pk__in=[e.pk for e in drafts])
            .values_list("pk", flat=True)
        )
        if len(allowed) != len(drafts):
            raise PermissionDenied(
                "A release covers the whole period: you may not change every "
                "evaluation in it."
            )
    for guard in _release_guards:
        message = guard(period_start, period_end, actor)
        if message:
            raise ValidationError(message)
    for evaluation in drafts:
        evaluation.status = Evaluation.Status.RELEASED
        save_governed(evaluation, actor=actor, reason=f"released: {reason}")
    events.record(
        "evaluations.released",
        actor=actor,
        object_type="metrics.evaluation",
        reason=reason,
        data={
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "released": len(drafts),
        },
    )
    return len(drafts)
