"""API views: thin, over :mod:`metrics.services` (writes) and ``visible_to`` (reads).

* Integrations authenticate with a data source's token and may only feed (and
  list) that source's metrics.
* Staff sign in (session) to read observations, scoped by ``visible_to`` and
  masked by clearance, and to edit metric definitions through the service, which
  refuses governed edits of active metrics (change control).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import display, permissions, pseudonyms
from governance.audit import events
from governance.classification import Sensitivity
from governance.crypto.fields import ERASED, Masked
from metrics import naming, services, tokens
from metrics.api.authentication import ApiTokenAuthentication
from metrics.api.permissions import IsApiToken, IsApiTokenOrStaffSession, IsStaffSession
from metrics.api.renderers import CSVRenderer, XLSXRenderer
from metrics.api.serializers import (
    MAX_BATCH_ROWS,
    BatchErrorSerializer,
    BatchRequestSerializer,
    BatchResultSerializer,
    ChangeControlErrorSerializer,
    ErrorSerializer,
    MetricSerializer,
    MetricUpdateSerializer,
    ObservationSerializer,
)
from metrics.api.throttling import SessionUserThrottle, TokenRateThrottle
from metrics.models import ApiToken, DataSource, IdempotencyRecord, Metric, Observation
from metrics.services import BatchRejected, ChangeControlRequired, RowError

#: A full batch of 1,000 rows is about 150 kB; refuse bodies far above that
#: before parsing them (Django's upload limit does not cover streamed bodies).
MAX_BODY_BYTES = 2 * 1024 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 100
EXPORT_MAX_ROWS = 100_000

_ERRORS = {
    401: OpenApiResponse(
        ErrorSerializer, description="Missing, invalid, expired or revoked token."
    ),
    403: OpenApiResponse(
        ErrorSerializer, description="Authenticated, but not allowed to do this."
    ),
    429: OpenApiResponse(
        ErrorSerializer,
        description="Too many requests for this token or account; see Retry-After.",
    ),
}


# -- ingestion ---------------------------------------------------------------------


class _KeyTaken(Exception):
    """A concurrent request with the same idempotency key committed first."""


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if (
        not key
        or len(key) > MAX_KEY_LENGTH
        or not key.isascii()
        or not key.isprintable()
    ):
        raise exceptions.ParseError(
            f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII "
            "characters (a UUID is a good choice)."
        )
    return key


def _request_hash(body: Any) -> str:
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _rows_of(body: Any) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
        raise exceptions.ParseError(
            'Send a JSON object {"rows": [...]} with 1 to '
            f"{MAX_BATCH_ROWS} observations."
        )
    extra = sorted(set(body) - {"rows"})
    if extra:
        raise exceptions.ParseError(
            f"Unknown top-level field(s): {', '.join(extra)}. Only “rows” is accepted."
        )
    rows = body["rows"]
    if not rows:
        raise exceptions.ParseError("The batch is empty.")
    if len(rows) > MAX_BATCH_ROWS:
        raise exceptions.ParseError(
            f"A batch holds at most {MAX_BATCH_ROWS} rows ({len(rows)} sent); "
            "split it into several batches."
        )
    return rows


def _replay(record: IdempotencyRecord, digest: str, key: str) -> Response:
    if record.request_hash != digest:
        return Response(
            {
                "detail": f"{IDEMPOTENCY_HEADER} “{key}” was already used for a "
                "different batch. Send a new key with a new batch; resend the same "
                "batch unchanged to get its original answer."
            },
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return Response(
        record.response,
        status=record.status_code,
        headers={"Idempotent-Replayed": "true"},
    )


def stored_outcome(token: ApiToken, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(token=token, key=key).first()


def _batch_reason(token: ApiToken) -> str:
    return f"API batch via token {token.prefix}… ({token.name})"


def ingest(token: ApiToken, rows: list[Any], *, key: str | None) -> dict[str, Any]:
    """Map tool field names, validate and store a batch (all or nothing).

    Raises :class:`BatchRejected` with every row's errors. The actor is the
    token's issuer (history user and ``entered_by``); the change reason names
    the token.
    """
    source = token.source
    if source.lifecycle == DataSource.Lifecycle.RETIRED:
        raise PermissionDenied(f"Data source “{source.code}” is retired.")
    actor = tokens.issuer_of(token)
    structural: list[RowError] = []
    not_objects: set[int] = set()
    if not all(type(row) is dict for row in rows):
        cleaned = []
        for n, row in enumerate(rows, start=1):
            if isinstance(row, dict):
                cleaned.append(row)
            else:
                structural.append(RowError(n, "row", "Each row must be a JSON object."))
                not_objects.add(n)
                cleaned.append({})
        rows = cleaned
    mapped, name_errors = naming.field_map(source.system).map_rows(rows)
    if structural or name_errors:
        # Report every problem at once: the service checks the rest.
        _, errors = services.validate_rows(mapped, source=source, actor=actor)
        errors = [e for e in errors if e.row not in not_objects]
        raise BatchRejected(
            sorted(structural + name_errors + errors, key=lambda e: e.row)
        )
    stored = services.record_observations(
        actor=actor, rows=mapped, source=source, reason=_batch_reason(token)
    )
    events.record(
        "api.batch_ingested",
        actor=actor,
        target=token,
        data={"count": len(stored), "source": source.code, "idempotency_key": key},
    )
    return {"count": len(stored), "ids": [o.pk for o in stored], "source": source.code}


class ObservationBatchView(APIView):
    """``POST /api/v1/observations/batch``: up to 1,000 observations, all or nothing."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [IsApiToken]
    throttle_classes = [TokenRateThrottle]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="observations_batch_create",
        summary="Record a batch of observations (all or nothing)",
        description=(
            f"Up to {MAX_BATCH_ROWS} rows. Every row is validated (metric of this "
            "token's data source, subject, aligned period, the metric's rules, "
            "consent and other capture guards); one bad row rejects the batch and "
            "the answer lists every row's errors. Field names may be the canonical "
            "ones or the aliases registered for the token's system. Send an "
            f"`{IDEMPOTENCY_HEADER}` to make retries safe: the same key with the same "
            "body returns the first answer and stores nothing again."
        ),
        request=BatchRequestSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="A unique key per batch (e.g. a UUID), up to 100 characters.",
            )
        ],
        responses={
            201: BatchResultSerializer,
            400: OpenApiResponse(
                BatchErrorSerializer,
                description="Malformed body, or rows with errors (nothing stored).",
                examples=[
                    OpenApiExample(
                        "Row errors",
                        value={
                            "detail": "2 rows have errors; nothing was stored.",
                            "errors": [
                                {
                                    "row": 3,
                                    "field": "value",
                                    "message": "Only whole numbers are allowed.",
                                },
                                {
                                    "row": 7,
                                    "field": "assignee",
                                    "message": "Unknown field “assignee”. Known fields: …",
                                },
                            ],
                        },
                    )
                ],
            ),
            413: OpenApiResponse(ErrorSerializer, description="Body too large."),
            422: OpenApiResponse(
                ErrorSerializer,
                description="The idempotency key was already used for a different body.",
            ),
            **_ERRORS,
        },
        tags=["ingestion"],
    )
    def post(self, request: Request) -> Response:
        token: ApiToken = request.auth
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            return Response(
                {
                    "detail": f"The body exceeds {MAX_BODY_BYTES // 1024} kB; "
                    f"send at most {MAX_BATCH_ROWS} rows per batch."
                },
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        key = _idempotency_key(request)
        body = request.data
        rows = _rows_of(body)
        digest = _request_hash(body) if key is not None else ""
        if key is not None:
            stored = stored_outcome(token, key)
            if stored is not None:
                return _replay(stored, digest, key)
        try:
            with transaction.atomic():
                result = ingest(token, rows, key=key)
                if key is not None:
                    try:  # a clash rolls the whole batch back: no savepoint
                        with transaction.atomic(savepoint=False):
                            IdempotencyRecord.objects.create(
                                token=token,
                                key=key,
                                request_hash=digest,
                                status_code=status.HTTP_201_CREATED,
                                response=result,
                                created_at=timezone.now(),
                            )
                    except IntegrityError as exc:
                        raise _KeyTaken from exc  # rolls the whole batch back
        except _KeyTaken:
            stored = IdempotencyRecord.objects.get(token=token, key=key)
            return _replay(stored, digest, key or "")
        except BatchRejected as exc:
            rows_with_errors = len({e.row for e in exc.errors})
            return Response(
                {
                    "detail": f"{rows_with_errors} row{'s' if rows_with_errors != 1 else ''} "
                    "have errors; nothing was stored.",
                    "errors": [e.as_dict() for e in exc.errors],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(result, status=status.HTTP_201_CREATED)


# -- metric catalogue ------------------------------------------------------------


def _metrics_for(request: Request) -> Any:
    if isinstance(request.auth, ApiToken):
        return Metric.objects.filter(source=request.auth.source)
    return Metric.objects.visible_to(request.user, "view")


class MetricListView(APIView):
    """The metrics a caller may see: a token's own source's, or a staff user's."""

    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [IsApiTokenOrStaffSession]
    throttle_classes = [TokenRateThrottle, SessionUserThrottle]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="metrics_list",
        summary="List metrics",
        description="With a token: the metrics of the token's data source. "
        "Signed in: the catalogue you may view.",
        responses={200: MetricSerializer(many=True), **_ERRORS},
        tags=["catalogue"],
    )
    def get(self, request: Request) -> Response:
        metrics = _metrics_for(request).select_related("source").order_by("key")
        return Response(MetricSerializer(metrics, many=True).data)


class MetricDetailView(APIView):
    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [IsApiTokenOrStaffSession]
    throttle_classes = [TokenRateThrottle, SessionUserThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="metrics_retrieve",
        summary="One metric",
        responses={
            200: MetricSerializer,
            404: OpenApiResponse(ErrorSerializer, description="No such metric here."),
            **_ERRORS,
        },
        tags=["catalogue"],
    )
    def get(self, request: Request, key: str) -> Response:
        metric = get_object_or_404(
            _metrics_for(request).select_related("source"), key=key
        )
        return Response(MetricSerializer(metric).data)

    @extend_schema(
        operation_id="metrics_partial_update",
        summary="Edit a metric definition",
        description=(
            "For the metric's owner, its steward and organisation-wide roles. "
            "Governed fields (key, calculation, source, unit, direction, level, "
            "sensitivity, impact, validation rules) of an active metric can't be "
            "edited directly: the answer is 409 and the change goes through a "
            "change request approved by the steward (a new methodology version)."
        ),
        request=MetricUpdateSerializer,
        responses={
            200: MetricSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Invalid values: {field: [messages]} or {detail}.",
            ),
            404: OpenApiResponse(ErrorSerializer, description="No such metric here."),
            409: OpenApiResponse(
                ChangeControlErrorSerializer,
                description="Governed field of an active metric: file a change request.",
            ),
            **_ERRORS,
        },
        tags=["catalogue"],
    )
    def patch(self, request: Request, key: str) -> Response:
        if isinstance(request.auth, ApiToken):
            raise exceptions.PermissionDenied(
                "API tokens only feed observations; sign in to edit metrics."
            )
        user = request.user
        metric = get_object_or_404(Metric.objects.visible_to(user, "view"), key=key)
        if not Metric.objects.visible_to(user, "change").filter(pk=metric.pk).exists():
            raise exceptions.PermissionDenied(
                "Only the metric's owner, its steward or an organisation-wide role "
                "may edit it."
            )
        serializer = MetricUpdateSerializer(metric, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        reason = str(changes.pop("reason", "") or "").strip()
        if not reason:
            raise exceptions.ValidationError(
                {"reason": ["Say why the metric changes."]}
            )
        if not changes:
            raise exceptions.ValidationError({"detail": "Nothing to change."})
        try:
            metric = services.metric_update(
                actor=user, metric=metric, changes=changes, reason=reason
            )
        except ChangeControlRequired as exc:
            return Response(
                {"detail": exc.messages[0], "code": "change_control_required"},
                status=status.HTTP_409_CONFLICT,
            )
        except ValidationError as exc:
            detail = (
                exc.message_dict
                if hasattr(exc, "error_dict")
                else {"detail": " ".join(exc.messages)}
            )
            return Response(detail, status=status.HTTP_400_BAD_REQUEST)
        return Response(MetricSerializer(metric).data)


# -- observations (staff reads and exports) ------------------------------------------


class ObservationCursor(CursorPagination):
    ordering = "-id"
    page_size = 200
    page_size_query_param = "page_size"
    max_page_size = 1000


def observation_row(obs: Observation, user: Any) -> dict[str, Any]:
    """What ``user`` may see of one observation: values above clearance masked."""
    if obs.value_plain is None:
        value = obs.value_sealed  # a Masked marker when apply_masks hid it
    elif permissions.can_read_level(user, obs.classification, subject_id=obs.person_id):
        value = obs.value_plain
    else:
        value = Masked(obs.classification)
    masked = None
    if isinstance(value, Masked):
        masked, value = Sensitivity.label_of(value.level), None
    elif value is ERASED:
        masked, value = "erased", None
    return {
        "id": obs.pk,
        "metric": obs.metric.key,
        "employee_id": (
            pseudonyms.identity_for(user, obs.person_id, obs.person.employee_id)
            if obs.person_id
            else None
        ),
        "team": obs.team.name if obs.team_id else None,
        "period_start": obs.period_start.isoformat(),
        "period_end": obs.period_end.isoformat(),
        "value": None if value is None else str(value),
        "masked": masked,
        "status": obs.status,
        "source": obs.source.code,
        "methodology_version": obs.methodology_version,
        "entered_at": obs.entered_at.isoformat(),
    }


def _date_param(request: Request, name: str) -> datetime.date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError as exc:
        raise exceptions.ValidationError({name: ["Use YYYY-MM-DD."]}) from exc


class ObservationListView(APIView):
    """Observations of one metric, as the signed-in staff user may see them."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsStaffSession]
    throttle_classes = [SessionUserThrottle]
    renderer_classes = [JSONRenderer, CSVRenderer, XLSXRenderer]
    export_columns = list(ObservationSerializer().fields)

    @extend_schema(
        operation_id="observations_list",
        summary="Observations of a metric (scoped, masked; CSV/XLSX export)",
        description=(
            "Only rows your role reaches; values above your clearance are masked "
            "(Restricted values are never listed in clear). `?format=csv` or "
            f"`?format=xlsx` exports up to {EXPORT_MAX_ROWS:,} rows at once, with "
            "spreadsheet formulas neutralised; exports are written to the audit trail."
        ),
        parameters=[
            OpenApiParameter("metric", OpenApiTypes.STR, required=True),
            OpenApiParameter("period_from", OpenApiTypes.DATE),
            OpenApiParameter("period_to", OpenApiTypes.DATE),
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=["valid", "quarantined", "superseded", "all"],
                description="Default: valid.",
            ),
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv", "xlsx"]),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={
            (200, "application/json"): ObservationSerializer(many=True),
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, XLSXRenderer.media_type): OpenApiTypes.BINARY,
            400: OpenApiResponse(ErrorSerializer, description="Bad filter."),
            404: OpenApiResponse(ErrorSerializer, description="No such metric here."),
            **_ERRORS,
        },
        tags=["observations"],
    )
    def get(self, request: Request) -> Response:
        user = request.user
        key = request.query_params.get("metric")
        if not key:
            raise exceptions.ValidationError(
                {"metric": ["Name a metric: ?metric=<key>."]}
            )
        metric = get_object_or_404(Metric.objects.visible_to(user, "view"), key=key)
        observations = (
            Observation.objects.visible_to(user, "view")
            .filter(metric=metric)
            .select_related("metric", "person", "team", "source")
        )
        wanted = request.query_params.get("status", "valid")
        if wanted not in {"valid", "quarantined", "superseded", "all"}:
            raise exceptions.ValidationError(
                {"status": ["One of valid, quarantined, superseded, all."]}
            )
        if wanted != "all":
            observations = observations.filter(status=wanted)
        start, end = (
            _date_param(request, "period_from"),
            _date_param(request, "period_to"),
        )
        if start:
            observations = observations.filter(period_start__gte=start)
        if end:
            observations = observations.filter(period_start__lte=end)

        export = request.accepted_renderer.format in ("csv", "xlsx")
        if not export:
            paginator = ObservationCursor()
            page = paginator.paginate_queryset(observations, request, view=self) or []
            display.apply_masks_many(page, user)
            return paginator.get_paginated_response(
                [observation_row(o, user) for o in page]
            )
        rows = list(observations.order_by("period_start", "id")[: EXPORT_MAX_ROWS + 1])
        if len(rows) > EXPORT_MAX_ROWS:
            raise exceptions.ValidationError(
                {
                    "detail": f"More than {EXPORT_MAX_ROWS:,} rows: narrow the period "
                    "(period_from, period_to)."
                }
            )
        display.apply_masks_many(rows, user)
        data = [observation_row(o, user) for o in rows]
        events.record(
            "observations.exported",
            actor=user,
            target=metric,
            data={"rows": len(data), "format": request.accepted_renderer.format},
        )
        filename = f"{metric.key}-observations.{request.accepted_renderer.format}"
        return Response(
            data, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
