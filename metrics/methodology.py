"""Methodology documents per metric (M8.2): drafts, approval, immutability.

A metric's methodology document says what the metric means (definition),
how it is calculated (formula), where the data comes from (sources), the
lineage steps in between (transformations, snapshot of
:class:`~metrics.models.TransformationStep`), who owns it and who approved it.

* The metric's steward or owner writes a **draft** (one per metric) for the
  version the metric will have next (:func:`methodology_draft_save`).
* The draft is **approved** only together with the change that produces that
  version: an approved change request (``metrics.services.change_request_decide``)
  or the metric's activation (``metric_transition``), which call
  :func:`approve_version`. Its number is then the metric's
  ``methodology_version`` — the number every observation records. When no draft
  was written, the approved version is documented from the metric itself.
* An approved version never changes (:class:`ApprovedVersionImmutable`): a
  correction is a new draft, hence a new version.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from governance import board, permissions
from governance.audit import events
from governance.services import save_governed
from metrics.models import ChangeRequest, MethodologyVersion, Metric, TransformationStep

__all__ = [
    "EDITABLE",
    "ApprovedVersionImmutable",
    "approve_version",
    "can_edit_drafts",
    "current_version",
    "draft_of",
    "methodology_draft_save",
    "next_version_number",
    "snapshot",
    "transformations_of",
]

#: What a steward or owner may write in a draft.
EDITABLE = ("description", "formula", "sources", "owner")


class ApprovedVersionImmutable(ValidationError):
    """An approved methodology version can't be edited."""


def snapshot(metric: Metric) -> dict[str, Any]:
    """The governed fields of ``metric`` as JSON values."""
    data: dict[str, Any] = {}
    for name in Metric.GOVERNED_FIELDS:
        value = getattr(metric, "source_id" if name == "source" else name)
        data[name] = (
            value
            if isinstance(value, (str, int, float, bool, dict, list, type(None)))
            else str(value)
        )
    return data


def transformations_of(metric: Metric) -> list[dict[str, Any]]:
    """The metric's lineage steps as JSON (source → … → metric)."""
    steps = TransformationStep.objects.filter(metric_id=metric.pk).select_related(
        "source"
    )
    return [
        {
            "order": step.order,
            "source": step.source.code if step.source_id else None,
            "description": step.description,
            "documented": step.documented,
        }
        for step in steps.order_by("order", "pk")
    ]


def _sources_text(metric: Metric) -> str:
    source = metric.source
    text = f"{source.name} ({source.code})"
    description = getattr(source, "description", "") or ""
    return f"{text}: {description}" if description else text


def current_version(metric: Metric) -> MethodologyVersion | None:
    """The approved document of the version the metric is at, if any."""
    return (
        MethodologyVersion.objects.filter(
            metric_id=metric.pk,
            version=metric.methodology_version,
            status=MethodologyVersion.Status.APPROVED,
        )
        .select_related("owner")
        .first()
    )


def draft_of(metric: Metric) -> MethodologyVersion | None:
    return MethodologyVersion.objects.filter(
        metric_id=metric.pk, status=MethodologyVersion.Status.DRAFT
    ).first()


def next_version_number(metric: Metric) -> int:
    """The version a draft documents: the metric's current version until that
    one is approved, then the one the next approved change will produce."""
    approved = MethodologyVersion.objects.filter(
        metric_id=metric.pk,
        version=metric.methodology_version,
        status=MethodologyVersion.Status.APPROVED,
    ).exists()
    return metric.methodology_version + (1 if approved else 0)


def can_edit_drafts(user: Any, metric: Metric) -> bool:
    """Model permission on methodology versions AND change scope on the metric
    (its department's steward, its owner, or an organisation-wide role)."""
    return permissions.has_model_perm(
        user, MethodologyVersion, "change"
    ) and permissions.can(user, "change", metric)


@transaction.atomic
def methodology_draft_save(
    *,
    actor: Any,
    metric: Metric,
    changes: Mapping[str, Any],
    reason: str,
) -> MethodologyVersion:
    """Create or update the metric's draft methodology document."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"change_reason": "Say why the methodology is changing."})
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ValidationError(f"Not editable in a draft: {', '.join(unknown)}.")
    metric = Metric.objects.select_for_update().get(pk=metric.pk)
    if actor is not None and not can_edit_drafts(actor, metric):
        raise PermissionDenied(
            "Only the metric's steward or owner may write its methodology."
        )
    if metric.status == Metric.Status.RETIRED:
        raise ValidationError("A retired metric's methodology can't change.")
    draft = draft_of(metric)
    if draft is None:
        draft = MethodologyVersion(
            metric=metric,
            status=MethodologyVersion.Status.DRAFT,
            definition=snapshot(metric),
            prepared_by_id=getattr(actor, "pk", None),
            owner_id=metric.owner_id,
        )
    draft.version = next_version_number(metric)
    for name, value in changes.items():
        if name == "owner":
            draft.owner_id = getattr(value, "pk", value)
        else:
            setattr(draft, name, value)
    draft.transformations = transformations_of(metric)
    save_governed(draft, actor=actor, reason=reason)
    return draft


def refuse_approved_edit(version: MethodologyVersion) -> None:
    if version.status == MethodologyVersion.Status.APPROVED:
        raise ApprovedVersionImmutable(
            f"Version {version.version} of “{version.metric.key}” is approved and "
            "can't change. Write a draft instead: it becomes the next version when "
            "the change request that produces it is approved."
        )


@transaction.atomic
def methodology_version_update(
    *,
    actor: Any,
    version: MethodologyVersion,
    changes: Mapping[str, Any],
    reason: str,
) -> MethodologyVersion:
    """Edit a draft; an approved version is refused with the way forward."""
    current = MethodologyVersion.objects.select_for_update().get(pk=version.pk)
    refuse_approved_edit(current)
    return methodology_draft_save(
        actor=actor, metric=current.metric, changes=changes, reason=reason
    )


def approve_version(
    *,
    metric: Metric,
    actor: Any,
    at: datetime.datetime | None = None,
    change_request: ChangeRequest | None = None,
) -> MethodologyVersion:
    """Approve the document of the version ``metric`` is now at.

    Called inside the transaction of the change-request decision or the
    activation. The metric's draft (if any) becomes that version; otherwise
    the version is documented from the metric itself. The board approval in
    force for a high-impact metric is linked.
    """
    at = at or timezone.now()
    from metrics.governance_links import SUBJECT_TYPE, governed_digest

    proposal = board.approval_for(
        subject_type=SUBJECT_TYPE, subject_id=metric.pk, digest=governed_digest(metric)
    )
    document = (
        MethodologyVersion.objects.select_for_update()
        .filter(metric_id=metric.pk, status=MethodologyVersion.Status.DRAFT)
        .first()
    )
    if document is None:
        document = MethodologyVersion(
            metric=metric,
            description=metric.description,
            formula=metric.calculation,
            sources=_sources_text(metric),
            owner_id=metric.owner_id,
        )
    if not document.description:
        document.description = metric.description
    if not document.formula:
        document.formula = metric.calculation
    if not document.sources:
        document.sources = _sources_text(metric)
    document.version = metric.methodology_version
    document.status = MethodologyVersion.Status.APPROVED
    document.definition = snapshot(metric)
    document.transformations = transformations_of(metric)
    document.approved_by_id = getattr(actor, "pk", None)
    document.approved_at = at
    document.change_request = change_request
    document.proposal = proposal
    document.owner_id = document.owner_id or metric.owner_id
    save_governed(
        document,
        actor=actor,
        reason=(
            f"approved with change request #{change_request.pk}"
            if change_request is not None
            else "approved at activation"
        ),
    )
    events.record(
        "metric.methodology_approved",
        actor=actor,
        target=metric,
        data={
            "version": document.version,
            "document": document.pk,
            "change_request": getattr(change_request, "pk", None),
            "proposal": getattr(proposal, "pk", None),
        },
    )
    return document
