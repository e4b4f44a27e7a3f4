"""Admin for the metric catalogue, observations and their governance.

Declarative ModelAdmins on top of :class:`governance.admin_base.GovernedModelAdmin`
(scoping, masking, reasons, read-only history). Every write goes through
``metrics.services``:

* metrics are created with ``metric_create`` and edited with ``metric_update``,
  which refuses governed fields of an active metric (the form shows why and
  how to proceed: a change request, approved by the steward);
* lifecycle moves are actions calling ``metric_transition`` with a reason;
* change requests are filed with ``change_request_create`` and decided with
  ``change_request_decide``;
* observations are captured with ``record_observation(s)`` (the one
  validation path, all-or-nothing for files) and corrected with
  ``correct_observation`` (a superseding observation, never an overwrite).

Forms ask the service before saving: the service runs in a savepoint that is
rolled back, and whatever it objects to becomes a form error, so nothing is
stored and the rule lives in one place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections, models, transaction
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX
from import_export.forms import ExportForm

from governance import display, labels, permissions
from governance.admin_base import (
    GovernedAdminForm,
    GovernedModelAdmin,
    MaskingChangeList,
    ReadOnlyGovernedAdmin,
)
from governance.models import Person
from metrics import exports, methodology, readiness, resources, services, smart
from metrics.models import (
    Annotation,
    ApiToken,
    ChangeRequest,
    DataQualityIssue,
    DataSource,
    Evaluation,
    FieldAlias,
    FieldName,
    IdempotencyRecord,
    MethodologyVersion,
    Metric,
    MetricConflict,
    MetricTarget,
    Observation,
    PeerFeedback,
    StakeholderFeedback,
    StewardshipDispute,
    StrategicObjective,
    TransformationStep,
)

# -- asking a service before saving ---------------------------------------------


class _DryRun(Exception):
    """Raised inside the savepoint to roll a service call back."""


def add_service_errors(
    form: forms.BaseForm,
    exc: ValidationError | PermissionDenied,
    renamed: dict[str, str] | None = None,
) -> None:
    """Put a service's objection on the form: field errors on their fields,
    the rest (e.g. a change-control refusal) at the top."""
    if isinstance(exc, PermissionDenied):
        form.add_error(None, str(exc) or "You may not do this.")
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, ValidationError(exc.messages))
        return
    for name, errors in exc.error_dict.items():
        target = (renamed or {}).get(name, name)
        messages_ = [m for e in errors for m in e.messages]
        if target in form.fields:
            form.add_error(target, messages_)
        else:
            label = "" if name == "__all__" else f"{name}: "
            form.add_error(None, [f"{label}{m}" for m in messages_])


def check_with_service(
    form: forms.BaseForm,
    call: Callable[[], Any],
    renamed: dict[str, str] | None = None,
) -> bool:
    """Run ``call`` (a service) and roll everything it did back; its
    objections become form errors. True when it had none."""
    try:
        with transaction.atomic():
            call()
            raise _DryRun
    except _DryRun:
        return True
    except (ValidationError, PermissionDenied) as exc:
        add_service_errors(form, exc, renamed)
        return False


class ActorFormMixin:
    """Hands ``request.user`` to the form (as ``form.actor``) for service checks."""

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        form.actor = request.user
        return form


def _reason(form: forms.BaseForm, default: str) -> str:
    return (form.cleaned_data.get("change_reason") or "").strip() or default


class ReasonForm(forms.Form):
    """The intermediate page of an action that needs a reason."""

    reason = forms.CharField(
        max_length=500,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text="Recorded in the history and the audit trail.",
    )


def _apply_each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    objects: Iterable[Any],
    call: Callable[[Any], Any],
    *,
    label: Callable[[Any], str],
    done: Callable[[int], str],
) -> int:
    """An action's service call on each selected object: a refusal is reported
    for that object (its service changed nothing), the successes once."""
    count = 0
    for obj in objects:
        try:
            call(obj)
            count += 1
        except (ValidationError, PermissionDenied) as exc:
            text = "; ".join(getattr(exc, "messages", [str(exc)]))
            model_admin.message_user(request, f"{label(obj)}: {text}", messages.ERROR)
    if count:
        model_admin.message_user(request, done(count), messages.SUCCESS)
    return count


def _intermediate(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: models.QuerySet,
    *,
    action: str,
    title: str,
    form: forms.Form,
    explanation: str,
    button: str,
) -> TemplateResponse:
    return TemplateResponse(
        request,
        "admin/metrics/action_confirmation.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": title,
            "objects": list(queryset),
            "form": form,
            "action": action,
            "explanation": explanation,
            "button": button,
            "opts": model_admin.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        },
    )


# -- the analytical pages (metrics/admin_views.py, another module's) -------------


def analysis_urls(admin_site: admin.AdminSite) -> list[Any]:
    """The analytical admin pages, if their module provides them yet."""
    try:
        from metrics import admin_views
    except ImportError:
        return []
    factory = getattr(admin_views, "admin_urls", None)
    if factory is None:
        return []
    return list(factory(admin_site))


def _label(pattern: URLPattern) -> str:
    title = getattr(pattern.callback, "admin_title", None) or getattr(
        pattern.callback, "short_description", None
    )
    if title:
        return str(title)
    name = pattern.name or ""
    for prefix in ("metrics_", "metric_"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return capfirst(name.replace("_", " "))


def analysis_links(
    admin_site: admin.AdminSite, obj: Any = None
) -> list[tuple[str, str]]:
    """(label, url) of the analytical pages: per metric when ``obj`` is given,
    the catalogue-wide ones otherwise."""
    links = []
    for pattern in analysis_urls(admin_site):
        if not isinstance(pattern, URLPattern) or not pattern.name:
            continue
        per_object = bool(getattr(pattern.pattern, "converters", {})) or (
            "(?P<" in str(pattern.pattern)
        )
        if per_object != (obj is not None):
            continue
        try:
            url = reverse(
                f"{admin_site.name}:{pattern.name}",
                args=[obj.pk] if obj is not None else [],
            )
        except NoReverseMatch:
            continue
        links.append((_label(pattern), url))
    return links


# -- catalogue --------------------------------------------------------------------


@admin.register(StrategicObjective)
class StrategicObjectiveAdmin(GovernedModelAdmin):
    list_display = ["code", "title", "owner", "period_start", "period_end"]
    list_select_related = ["owner"]
    search_fields = ["code", "title"]
    autocomplete_fields = ["owner"]


@admin.register(DataSource)
class DataSourceAdmin(GovernedModelAdmin):
    list_display = [
        "name",
        "code",
        "system",
        "system_of_record",
        "refresh_cycle",
        "latency_hours",
        "classification",
        "lifecycle",
        "documented",
    ]
    list_filter = ["system", "lifecycle", "system_of_record", "documented"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["owner"]


class MetricAdminForm(GovernedAdminForm):
    """Asks ``metric_create`` / ``metric_update`` before anything is saved."""

    actor: Any = None

    class Meta:
        model = Metric
        fields = "__all__"

    def changes(self) -> dict[str, Any]:
        model_fields = {f.name for f in Metric._meta.get_fields()}
        return {
            name: self.cleaned_data[name]
            for name in self.changed_data
            if name in model_fields and name in self.cleaned_data
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if any(name != "change_reason" for name in self.errors):
            return cleaned  # the service can only judge a well-formed metric
        reason = (cleaned.get("change_reason") or "").strip() or "checked in admin"
        if self.instance.pk and not self.instance._state.adding:
            changes = self.changes()
            if changes:
                check_with_service(
                    self,
                    lambda: services.metric_update(
                        actor=self.actor,
                        metric=Metric.objects.get(pk=self.instance.pk),
                        changes=changes,
                        reason=reason,
                    ),
                )
        else:
            fields = {
                name: value
                for name, value in cleaned.items()
                if name in {f.name for f in Metric._meta.concrete_fields}
            }
            check_with_service(
                self,
                lambda: services.metric_create(
                    actor=self.actor, reason=reason, **fields
                ),
            )
        return cleaned


class RequestChangeForm(forms.ModelForm):
    """The governed fields of a metric, as they should become, and why."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Why the methodology should change; the steward reads this.",
    )

    class Meta:
        model = Metric
        fields = list(Metric.GOVERNED_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.show_hidden_initial = False  # compared with the metric instead

    def changes(self, metric: Metric) -> dict[str, Any]:
        """The governed fields whose proposed value differs from ``metric``'s."""
        changes = {}
        for name in Metric.GOVERNED_FIELDS:
            value = self.cleaned_data.get(name)
            if name == "source":
                differs = getattr(value, "pk", value) != metric.source_id
            elif name == "validation_rules":
                differs = json.dumps(value, sort_keys=True) != json.dumps(
                    metric.validation_rules, sort_keys=True
                )
            else:
                differs = value != getattr(metric, name)
            if differs:
                changes[name] = value
        return changes


class LifecycleFilter(admin.SimpleListFilter):
    title = "attention"
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("stale", "Stale (no recent data)"),
            ("orphaned", "Orphaned (owner left)"),
            ("unaligned", "Individual KPI without a team outcome"),
        ]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "stale":
            return queryset.filter(stale_since__isnull=False)
        if self.value() == "orphaned":
            return queryset.filter(orphaned_since__isnull=False)
        if self.value() == "unaligned":
            return queryset.filter(level=Metric.Level.INDIVIDUAL, aligned_to=None)
        return queryset


@admin.register(Metric)
class MetricAdmin(ActorFormMixin, GovernedModelAdmin):
    form = MetricAdminForm
    list_display = [
        "key",
        "name",
        "level",
        "indicator",
        "status",
        "methodology_version",
        "sensitivity",
        "impact",
        "department",
        "owner",
        "steward",
        "update_frequency",
    ]
    list_filter = [
        "status",
        "level",
        "indicator",
        "impact",
        "sensitivity",
        "department",
        LifecycleFilter,
    ]
    list_select_related = ["department", "owner", "steward"]
    search_fields = ["key", "name"]
    search_help_text = "Search by metric key or name."
    autocomplete_fields = ["owner", "steward", "team", "aligned_to"]
    readonly_fields = [
        "status",
        "methodology_version",
        "stale_since",
        "orphaned_since",
        "audit_readiness",
    ]
    fieldsets = [
        (
            "Definition",
            {
                "fields": [
                    "key",
                    "name",
                    "description",
                    "indicator",
                    "level",
                    "unit",
                    "direction",
                    "calculation",
                    "validation_rules",
                ]
            },
        ),
        ("Classification", {"fields": ["sensitivity", "impact", "non_punitive"]}),
        (
            "Ownership and alignment",
            {
                "fields": [
                    "department",
                    "team",
                    "owner",
                    "steward",
                    "objective",
                    "aligned_to",
                ]
            },
        ),
        (
            "Data",
            {
                "fields": [
                    "source",
                    "update_frequency",
                    "grace_days",
                    "refresh_cycle",
                    "latency_hours",
                ]
            },
        ),
        (
            "Lifecycle",
            {
                "fields": [
                    "status",
                    "methodology_version",
                    "stale_since",
                    "orphaned_since",
                ]
            },
        ),
    ]
    actions = ["propose", "activate", "start_sunset_review", "retire"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        # Fields other modules add to Metric (e.g. a consent purpose) still
        # appear, under their own heading.
        listed = {name for _, opts in self.fieldsets for name in opts["fields"]}
        extra = [
            field.name
            for field in Metric._meta.concrete_fields
            if field.editable and not field.primary_key and field.name not in listed
        ]
        fieldsets = list(super().get_fieldsets(request, obj))
        if extra:
            fieldsets.insert(-1, ("Governance", {"fields": extra}))
        if obj is not None:
            position = len(fieldsets) - (
                1 if fieldsets and fieldsets[-1][0] == "Change control" else 0
            )
            fieldsets.insert(
                position, ("Audit readiness (M8.2)", {"fields": ["audit_readiness"]})
            )
        return fieldsets

    @admin.display(description="checklist")
    def audit_readiness(self, obj: Metric) -> str:
        if obj is None or obj.pk is None:
            return "—"
        result = readiness.checklist([obj])[0]
        rows = format_html_join(
            "",
            '<li class="readiness-{}" data-result="{}"><strong>{}</strong>: {} — {}</li>',
            (
                (
                    item.key,
                    state,
                    item.label,
                    state,
                    item.detail,
                )
                for item in result.items
                for state in (
                    "n/a" if not item.applies else "pass" if item.passed else "fail",
                )
            ),
        )
        verdict = "Ready for audit" if result.ready else "Not ready for audit"
        return format_html('<p id="audit-readiness">{}</p><ul>{}</ul>', verdict, rows)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # metrics are retired, never deleted (their data stays)

    # -- writes through the service -------------------------------------------

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        if change:
            changes = form.changes()
            if changes:
                services.metric_update(
                    actor=request.user, metric=obj, changes=changes, reason=reason
                )
            return
        fields = {
            field.attname: getattr(obj, field.attname)
            for field in Metric._meta.concrete_fields
            if field.editable and not field.primary_key
        }
        metric = services.metric_create(actor=request.user, reason=reason, **fields)
        obj.pk = metric.pk
        obj._state.adding = False

    # -- lifecycle actions ----------------------------------------------------

    def _transition(
        self, request: HttpRequest, queryset: Any, status: str, action: str, verb: str
    ) -> HttpResponse | None:
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            _apply_each(
                self,
                request,
                queryset,
                lambda metric: services.metric_transition(
                    actor=request.user,
                    metric=metric,
                    status=status,
                    reason=form.cleaned_data["reason"],
                ),
                label=lambda metric: metric.key,
                done=lambda n: f"{verb} {n} metric(s).",
            )
            return None
        return _intermediate(
            self,
            request,
            queryset,
            action=action,
            title=f"{capfirst(action.replace('_', ' '))}: metrics",
            form=form,
            explanation=(
                f"The selected metrics will become “{Metric.Status(status).label}”. "
                "Say why; the reason is kept in each metric's history."
            ),
            button=capfirst(action.replace("_", " ")),
        )

    @admin.action(description="Propose selected metrics", permissions=["change"])
    def propose(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._transition(
            request, queryset, Metric.Status.PROPOSED, "propose", "Proposed"
        )

    @admin.action(description="Activate selected metrics", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._transition(
            request, queryset, Metric.Status.ACTIVE, "activate", "Activated"
        )

    @admin.action(
        description="Start a sunset review of selected metrics", permissions=["change"]
    )
    def start_sunset_review(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        return self._transition(
            request,
            queryset,
            Metric.Status.SUNSET_REVIEW,
            "start_sunset_review",
            "Put under sunset review",
        )

    @admin.action(description="Retire selected metrics", permissions=["change"])
    def retire(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._transition(
            request, queryset, Metric.Status.RETIRED, "retire", "Retired"
        )

    # -- pages ----------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        return [
            *analysis_urls(self.admin_site),
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="metrics_metric_import",
            ),
            path(
                "<path:object_id>/request-change/",
                self.admin_site.admin_view(self.request_change_view),
                name="metrics_metric_request_change",
            ),
            *super().get_urls(),
        ]

    def has_request_change_permission(self, request: HttpRequest, obj: Any) -> bool:
        return (
            obj is not None
            and obj.status in (Metric.Status.ACTIVE, Metric.Status.SUNSET_REVIEW)
            and permissions.has_model_perm(request.user, ChangeRequest, "add")
            and self.has_view_permission(request, obj)
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, object_id)
        if obj is not None:
            tools = []
            if self.has_request_change_permission(request, obj):
                tools.append(
                    (
                        "Request change",
                        reverse(
                            f"{self.admin_site.name}:metrics_metric_request_change",
                            args=[obj.pk],
                        ),
                    )
                )
            if permissions.has_model_perm(request.user, ChangeRequest, "view"):
                tools.append(
                    (
                        "Change requests",
                        reverse(
                            f"{self.admin_site.name}:metrics_changerequest_changelist"
                        )
                        + f"?metric__id__exact={obj.pk}",
                    )
                )
            tools.extend(analysis_links(self.admin_site, obj))
            extra_context["metric_tools"] = tools
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        extra_context["metric_tools"] = analysis_links(self.admin_site)
        extra_context["has_import_permission"] = self.has_import_permission(request)
        return super().changelist_view(request, extra_context)

    # -- import of definitions (all-or-nothing through the service) --------------

    def has_import_permission(self, request: HttpRequest) -> bool:
        """The model permission django-import-export asks for imports
        (``IMPORT_EXPORT_IMPORT_PERMISSION_CODE``, "change": view-only staff
        may not import); each row is then checked against the metric's scope
        (editing) or the add permission (new keys) by the service."""
        code = getattr(settings, "IMPORT_EXPORT_IMPORT_PERMISSION_CODE", "change")
        return permissions.has_model_perm(request.user, Metric, code)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        errors: list[Any] = []
        checked: int | None = None
        form = MetricImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                rows = resources.read_rows(upload.name, upload.read())
            except resources.ImportFileError as exc:
                form.add_error("file", str(exc))
                rows = None
            if rows is not None and not rows:
                form.add_error("file", "The file has no data rows.")
            elif rows is not None:
                check_only = form.cleaned_data["check_only"]
                try:
                    done = services.import_metric_definitions(
                        actor=request.user,
                        rows=rows,
                        reason=form.cleaned_data["reason"],
                        first_row=2,  # the header is the file's row 1
                        check_only=check_only,
                    )
                except services.BatchRejected as exc:
                    errors = exc.errors
                except PermissionDenied as exc:
                    form.add_error(None, str(exc))
                else:
                    if check_only:
                        checked = len(rows)
                    else:
                        self.message_user(
                            request,
                            f"Imported {upload.name}: {len(done['created'])} metric(s) "
                            f"defined, {len(done['updated'])} updated, "
                            f"{len(done['unchanged'])} unchanged.",
                            messages.SUCCESS,
                        )
                        return HttpResponseRedirect(
                            reverse(f"{self.admin_site.name}:metrics_metric_changelist")
                        )
        return TemplateResponse(
            request,
            "admin/metrics/metric/import.html",
            {
                **self.admin_site.each_context(request),
                "title": "Import metric definitions",
                "form": form,
                "errors": errors,
                "bad_rows": len({e.row for e in errors}),
                "checked": checked,
                "columns": services.METRIC_IMPORT_COLUMNS,
                "governed": Metric.GOVERNED_FIELDS,
                "opts": self.model._meta,
                "max_mb": resources.MAX_IMPORT_BYTES // (1024 * 1024),
                "max_rows": resources.MAX_IMPORT_ROWS,
            },
        )

    def request_change_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        metric = self.get_object(request, object_id)
        if metric is None:
            raise Http404("No such metric.")
        if not self.has_request_change_permission(request, metric):
            raise PermissionDenied
        proposal = Metric.objects.get(pk=metric.pk)  # the form edits a copy
        form = RequestChangeForm(
            request.POST if request.method == "POST" else None, instance=proposal
        )
        for field in form.fields.values():
            if isinstance(field, forms.ModelChoiceField):
                related = field.queryset.model._default_manager
                if hasattr(related, "visible_to"):
                    field.queryset = related.visible_to(request.user, "view")
        if request.method == "POST" and form.is_valid():
            changes = form.changes(metric)
            if not changes:
                form.add_error(None, "Change at least one field.")
            else:
                try:
                    change_request = services.change_request_create(
                        actor=request.user,
                        metric=metric,
                        changes=changes,
                        reason=form.cleaned_data["reason"],
                    )
                except (ValidationError, PermissionDenied) as exc:
                    add_service_errors(form, exc)
                else:
                    self.message_user(
                        request,
                        f"Change request #{change_request.pk} filed; the metric's "
                        "steward decides it. Nothing changes until it is approved.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse(
                            f"{self.admin_site.name}:metrics_changerequest_change",
                            args=[change_request.pk],
                        )
                    )
        return TemplateResponse(
            request,
            "admin/metrics/metric/request_change.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Request a change to {metric.key}",
                "form": form,
                "original": metric,
                "opts": self.model._meta,
                "media": self.media + form.media,
            },
        )


class SmartDisplay:
    """The SMART check of a target as a list of criteria, each passing or not."""

    @admin.display(description="SMART check")
    def smart_check(self, obj: MetricTarget | None) -> str:
        if obj is None or obj.pk is None:
            return "Shown once the target is saved."
        results = smart.smart_check(obj)
        return format_html(
            '<ul class="smart-check">{}</ul>',
            format_html_join(
                "",
                '<li class="smart-{}"><img src="{}" alt="{}"> <strong>{}</strong>: {}</li>',
                (
                    (
                        "pass" if r.ok else "fail",
                        static(f"admin/img/icon-{'yes' if r.ok else 'no'}.svg"),
                        "passes" if r.ok else "fails",
                        r.criterion,
                        r.message,
                    )
                    for r in results
                ),
            ),
        )

    @admin.display(description="SMART")
    def smart_summary(self, obj: MetricTarget) -> str:
        failing = smart.failing(obj)
        return f"Fails: {', '.join(failing)}" if failing else "All criteria pass"


@admin.register(MetricTarget)
class MetricTargetAdmin(SmartDisplay, GovernedModelAdmin):
    list_display = [
        "metric",
        "team",
        "baseline",
        "capacity",
        "target",
        "deadline",
        "smart_summary",
    ]
    list_select_related = ["metric", "team", "objective"]
    list_filter = ["deadline"]
    search_fields = ["metric__key", "metric__name"]
    autocomplete_fields = ["metric", "team"]
    readonly_fields = ["smart_check"]
    fieldsets = [
        (None, {"fields": ["metric", "team", "objective"]}),
        (
            "Target",
            {
                "fields": [
                    "baseline",
                    "capacity",
                    "capacity_basis",
                    "target",
                    "deadline",
                    "justification",
                ]
            },
        ),
        ("SMART check", {"fields": ["smart_check"]}),
    ]


@admin.register(MetricConflict)
class MetricConflictAdmin(GovernedModelAdmin):
    list_display = ["__str__", "resolved"]
    list_filter = ["resolved"]
    list_select_related = ["metric_a", "metric_b"]
    search_fields = ["metric_a__key", "metric_b__key"]
    autocomplete_fields = ["metric_a", "metric_b"]


@admin.register(TransformationStep)
class TransformationStepAdmin(GovernedModelAdmin):
    list_display = ["metric", "order", "source", "documented"]
    list_filter = ["documented"]
    list_select_related = ["metric", "source"]
    search_fields = ["metric__key", "description"]
    autocomplete_fields = ["metric"]


class MethodologyDraftForm(GovernedAdminForm):
    """A draft methodology document, checked by the service before saving."""

    actor: Any = None

    class Meta:
        model = MethodologyVersion
        fields = ["metric", *methodology.EDITABLE]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        metric = cleaned.get("metric") or getattr(self.instance, "metric", None)
        if metric is None:
            return cleaned
        if self.instance._state.adding and methodology.draft_of(metric) is not None:
            self.add_error(
                "metric",
                "This metric already has a draft methodology; edit that draft.",
            )
            return cleaned
        check_with_service(
            self,
            lambda: methodology.methodology_draft_save(
                actor=self.actor,
                metric=metric,
                changes=self.draft_changes(),
                reason=_reason(self, "draft written in admin"),
            ),
        )
        return cleaned

    def draft_changes(self) -> dict[str, Any]:
        return {
            name: self.cleaned_data.get(name)
            for name in methodology.EDITABLE
            if name in self.fields
        }


@admin.register(MethodologyVersion)
class MethodologyVersionAdmin(ActorFormMixin, GovernedModelAdmin):
    """Methodology documents (M8.2). The metric's steward or owner writes a
    draft; it is approved with the change request (or activation) that makes
    its version current; an approved version is read-only for everyone."""

    form = MethodologyDraftForm
    list_display = [
        "metric",
        "version",
        "status",
        "owner",
        "approved_at",
        "change_request",
        "proposal",
    ]
    list_filter = ["status"]
    list_select_related = ["metric", "change_request", "owner", "proposal"]
    search_fields = ["metric__key"]
    autocomplete_fields = ["owner"]
    readonly_fields = [
        "version",
        "status",
        "governed_fields",
        "lineage_steps",
        "prepared_by",
        "approved_by",
        "approved_at",
        "change_request",
        "proposal",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        document = ["metric", "description", "formula", "sources", "owner"]
        if obj is None:
            return [(None, {"fields": document})]
        fieldsets = [
            (None, {"fields": ["version", "status", *document]}),
            ("Snapshot", {"fields": ["governed_fields", "lineage_steps"]}),
            (
                "Approval",
                {
                    "fields": [
                        "prepared_by",
                        "approved_by",
                        "approved_at",
                        "change_request",
                        "proposal",
                    ]
                },
            ),
        ]
        if self.has_change_permission(request, obj):
            fieldsets.append(("Change control", {"fields": ["change_reason"]}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and "metric" not in readonly:
            readonly.append("metric")
        return readonly

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != MethodologyVersion.Status.DRAFT:
            return False  # approved versions are immutable
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        draft = methodology.methodology_draft_save(
            actor=request.user,
            metric=obj.metric,
            changes=form.draft_changes(),
            reason=reason,
        )
        obj.pk = draft.pk
        obj._state.adding = False

    @admin.display(description="governed fields at this version")
    def governed_fields(self, obj: MethodologyVersion) -> str:
        return (
            format_html_join(
                "", "<div><strong>{}</strong>: {}</div>", sorted(obj.definition.items())
            )
            or "—"
        )

    @admin.display(description="transformations (lineage)")
    def lineage_steps(self, obj: MethodologyVersion) -> str:
        if not obj.transformations:
            return "No transformation step recorded."
        return format_html_join(
            "",
            "<div>{}. {} — {} ({})</div>",
            (
                (
                    step.get("order"),
                    step.get("source") or "—",
                    step.get("description") or "",
                    "documented" if step.get("documented") else "undocumented",
                )
                for step in obj.transformations
            ),
        )

    @admin.display(description="prepared by")
    def prepared_by(self, obj: MethodologyVersion) -> str:
        return labels.account_id(obj.prepared_by_id)

    @admin.display(description="approved by")
    def approved_by(self, obj: MethodologyVersion) -> str:
        return labels.account_id(obj.approved_by_id)


# -- change control ---------------------------------------------------------------


class ChangeRequestAddForm(GovernedAdminForm):
    actor: Any = None

    class Meta:
        model = ChangeRequest
        fields = ["metric", "changes", "reason"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors:
            check_with_service(
                self,
                lambda: services.change_request_create(
                    actor=self.actor,
                    metric=cleaned["metric"],
                    changes=cleaned["changes"] or {},
                    reason=cleaned["reason"],
                ),
            )
        return cleaned


class DecisionForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Kept with the decision.",
    )


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ActorFormMixin, GovernedModelAdmin):
    """Filed by anyone who may propose; decided only by the metric's steward."""

    list_display = [
        "__str__",
        "metric",
        "status",
        "proposed_fields",
        "requested_at",
        "decided_at",
    ]
    list_filter = ["status", "metric"]
    list_select_related = ["metric"]
    search_fields = ["metric__key", "reason"]
    autocomplete_fields = ["metric"]
    actions = ["approve_selected", "reject_selected"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = ChangeRequestAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [(None, {"fields": ["metric", "changes", "reason"]})]
        return [
            (None, {"fields": ["metric", "proposed_changes", "reason", "status"]}),
            (
                "Decision",
                {
                    "fields": [
                        "requested_by",
                        "requested_at",
                        "decided_by",
                        "decided_at",
                        "decision_note",
                    ]
                },
            ),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return [
            "metric",
            "proposed_changes",
            "reason",
            "status",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "decision_note",
        ]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Requests are decided (actions), never edited: the page is read-only.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return permissions.has_model_perm(request.user, ChangeRequest, "change")

    @admin.display(description="Fields")
    def proposed_fields(self, obj: ChangeRequest) -> str:
        return ", ".join(sorted(obj.changes or {}))

    @admin.display(description="Proposed changes")
    def proposed_changes(self, obj: ChangeRequest) -> str:
        metric = obj.metric
        pending = obj.status == ChangeRequest.Status.PENDING

        def current(name: str) -> Any:
            return getattr(metric, "source_id" if name == "source" else name)

        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><strong>{}</strong>: {}{}</li>",
                (
                    (name, f"{current(name)} → " if pending else "", value)
                    for name, value in sorted((obj.changes or {}).items())
                ),
            ),
        )

    @admin.display(description="Requested by")
    def requested_by(self, obj: ChangeRequest) -> str:
        return labels.account_id(obj.requested_by_id)

    @admin.display(description="Decided by")
    def decided_by(self, obj: ChangeRequest) -> str:
        return labels.account_id(obj.decided_by_id)

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        if change:
            return  # read-only
        created = services.change_request_create(
            actor=request.user,
            metric=obj.metric,
            changes=obj.changes or {},
            reason=obj.reason,
        )
        obj.pk = created.pk
        obj._state.adding = False

    def _decide(
        self, request: HttpRequest, queryset: Any, *, approve: bool
    ) -> HttpResponse | None:
        action = "approve_selected" if approve else "reject_selected"
        form = DecisionForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            _apply_each(
                self,
                request,
                queryset.select_related("metric"),
                lambda change_request: services.change_request_decide(
                    actor=request.user,
                    change_request=change_request,
                    approve=approve,
                    note=form.cleaned_data["note"],
                ),
                label=lambda change_request: f"#{change_request.pk}",
                done=lambda n: (
                    f"{'Approved and applied' if approve else 'Rejected'} {n} "
                    "change request(s)."
                ),
            )
            return None
        return _intermediate(
            self,
            request,
            queryset,
            action=action,
            title=("Approve" if approve else "Reject") + " change requests",
            form=form,
            explanation=(
                "Approving applies each change to its metric as a new methodology "
                "version."
                if approve
                else "Rejected requests change nothing."
            ),
            button="Approve" if approve else "Reject",
        )

    @admin.action(
        description="Approve selected change requests (steward)",
        permissions=["decide"],
    )
    def approve_selected(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        return self._decide(request, queryset, approve=True)

    @admin.action(
        description="Reject selected change requests (steward)",
        permissions=["decide"],
    )
    def reject_selected(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        return self._decide(request, queryset, approve=False)


class DisputeAddForm(GovernedAdminForm):
    """Raise a dispute through :func:`metrics.stewardship.raise_dispute`."""

    actor: Any = None

    class Meta:
        model = StewardshipDispute
        fields = ["title", "description", "metrics"]

    def clean(self) -> dict[str, Any]:
        from metrics import stewardship

        cleaned = super().clean()
        if not self.errors:
            check_with_service(
                self,
                lambda: stewardship.raise_dispute(
                    actor=self.actor,
                    title=cleaned["title"],
                    description=cleaned["description"],
                    metrics=list(cleaned["metrics"]),
                ),
            )
        return cleaned


class _StewardChoice(forms.ModelChoiceField):
    """Stewards by employee id and department: no name is decrypted here."""

    def label_from_instance(self, obj: Any) -> str:
        departments = ", ".join(sorted(d.name for d in obj.stewarded_departments.all()))
        return f"{obj.employee_id} · steward of {departments}"


class DisputeAssignForm(ReasonForm):
    steward = _StewardChoice(
        queryset=Person.objects.none(),
        required=False,
        empty_label="The steward of the first disputed metric's department",
        help_text="A steward of a department whose metric is disputed.",
    )
    field_order = ["steward", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["steward"].queryset = (  # type: ignore[attr-defined]
            Person._base_manager.filter(stewarded_departments__isnull=False)
            .distinct()
            .only("id", "employee_id")
            .prefetch_related("stewarded_departments")
            .order_by("employee_id")
        )


class ResolutionForm(forms.Form):
    resolution = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="What was decided; kept on the dispute, in its history and the audit trail.",
    )


@admin.register(StewardshipDispute)
class StewardshipDisputeAdmin(ActorFormMixin, GovernedModelAdmin):
    """Disputes over metric definitions (M3.3), moved only through their
    workflow (:mod:`metrics.stewardship`): raised with the add form, then
    assigned, escalated and resolved by the changelist's actions. The record
    itself is never edited: who may do what is the services' to decide."""

    list_display = ["title", "status", "assigned_steward", "resolved_at"]
    list_filter = ["status"]
    list_select_related = ["assigned_steward"]
    search_fields = ["title"]
    autocomplete_fields = ["metrics"]
    actions = ["assign_selected", "escalate_selected", "resolve_selected"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = DisputeAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["title", "description", "metrics"]
        return [
            "title",
            "description",
            "metrics",
            "status",
            "assigned_steward",
            "raised_by",
            "resolution",
            "resolved_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Disputes move through actions, never edits: the page is read-only.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_act_permission(self, request: HttpRequest) -> bool:
        return permissions.has_model_perm(request.user, StewardshipDispute, "change")

    @admin.display(description="Raised by")
    def raised_by(self, obj: StewardshipDispute) -> str:
        return labels.account_id(obj.raised_by_id)

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        from metrics import stewardship

        if change:
            return  # read-only
        raised = stewardship.raise_dispute(
            actor=request.user,
            title=form.cleaned_data["title"],
            description=form.cleaned_data["description"],
            metrics=list(form.cleaned_data["metrics"]),
        )
        obj.pk = raised.pk
        obj._state.adding = False

    def save_related(
        self, request: HttpRequest, form: Any, formsets: Any, change: bool
    ) -> None:
        """The service set the disputed metrics (and recorded them)."""

    def _act(
        self,
        request: HttpRequest,
        queryset: Any,
        *,
        action: str,
        form: forms.Form,
        call: Callable[[StewardshipDispute, dict[str, Any]], Any],
        done: str,
        title: str,
        explanation: str,
        button: str,
    ) -> HttpResponse | None:
        if "confirm" not in request.POST or not form.is_valid():
            return _intermediate(
                self,
                request,
                queryset,
                action=action,
                title=title,
                form=form,
                explanation=explanation,
                button=button,
            )
        _apply_each(
            self,
            request,
            queryset,
            lambda dispute: call(dispute, form.cleaned_data),
            label=lambda dispute: f"“{dispute.title}”",
            done=lambda n: f"{done} {n} dispute(s).",
        )
        return None

    @admin.action(description="Assign selected disputes", permissions=["act"])
    def assign_selected(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        from metrics import stewardship

        return self._act(
            request,
            queryset,
            action="assign_selected",
            form=DisputeAssignForm(request.POST if "confirm" in request.POST else None),
            call=lambda dispute, data: stewardship.assign_dispute(
                actor=request.user,
                dispute=dispute,
                steward=data["steward"],
                reason=data["reason"],
            ),
            done="Assigned",
            title="Assign disputes",
            explanation="To a steward of a department whose metric is disputed.",
            button="Assign",
        )

    @admin.action(description="Escalate selected disputes", permissions=["act"])
    def escalate_selected(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        from metrics import stewardship

        return self._act(
            request,
            queryset,
            action="escalate_selected",
            form=ReasonForm(request.POST if "confirm" in request.POST else None),
            call=lambda dispute, data: stewardship.escalate_dispute(
                actor=request.user, dispute=dispute, reason=data["reason"]
            ),
            done="Escalated",
            title="Escalate disputes",
            explanation="Organisation-wide roles then decide them.",
            button="Escalate",
        )

    @admin.action(description="Resolve selected disputes", permissions=["act"])
    def resolve_selected(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        from metrics import stewardship

        return self._act(
            request,
            queryset,
            action="resolve_selected",
            form=ResolutionForm(request.POST if "confirm" in request.POST else None),
            call=lambda dispute, data: stewardship.resolve_dispute(
                actor=request.user, dispute=dispute, resolution=data["resolution"]
            ),
            done="Resolved",
            title="Resolve disputes",
            explanation=(
                "An open dispute is resolved by its assigned steward; an escalated "
                "one by an organisation-wide role."
            ),
            button="Resolve",
        )


@admin.register(FieldName)
class FieldNameAdmin(GovernedModelAdmin):
    list_display = ["name", "data_type", "definition"]
    search_fields = ["name"]


@admin.register(FieldAlias)
class FieldAliasAdmin(GovernedModelAdmin):
    list_display = ["alias", "system", "field"]
    list_filter = ["system"]
    list_select_related = ["field"]
    search_fields = ["alias", "field__name"]


# -- observations -----------------------------------------------------------------

_ROW_FIELDS = {"employee_id": "person", "team": "team"}


class ObservationAddForm(GovernedAdminForm):
    """One observation through the same validation path as files and the API."""

    actor: Any = None
    value = forms.DecimalField(max_digits=18, decimal_places=4)
    period_end = forms.DateField(
        required=False, help_text="Leave empty: the period follows the metric."
    )

    class Meta:
        model = Observation
        fields = ["metric", "person", "team", "period_start", "period_end"]

    def row(self) -> dict[str, Any]:
        data = self.cleaned_data
        row: dict[str, Any] = {
            "metric": data["metric"].key,
            "period_start": data["period_start"],
            "value": data["value"],
        }
        if data.get("person"):
            row["employee_id"] = data["person"].employee_id
        if data.get("team"):
            row["team"] = str(data["team"].pk)
        if data.get("period_end"):
            row["period_end"] = data["period_end"]
        return row

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            _, errors = services.validate_rows(
                [self.row()], source=None, actor=self.actor
            )
        except PermissionDenied as exc:
            add_service_errors(self, exc)
            return cleaned
        for error in errors:
            target = _ROW_FIELDS.get(error.field, error.field)
            self.add_error(target if target in self.fields else None, error.message)
        return cleaned


class ObservationCorrectionForm(GovernedAdminForm):
    """A correction: a new value that supersedes this one, with a reason."""

    actor: Any = None
    value = forms.DecimalField(
        label="Corrected value",
        required=False,
        max_digits=18,
        decimal_places=4,
        help_text="Saving records a new observation that supersedes this one; "
        "this one stays in the history as it was.",
    )

    class Meta:
        model = Observation
        fields: list[str] = []

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        value = cleaned.get("value")
        if value is None or self.errors:
            return cleaned
        check_with_service(
            self,
            lambda: services.correct_observation(
                actor=self.actor,
                observation=self.instance,
                value=value,
                reason=(cleaned.get("change_reason") or "").strip(),
            ),
            renamed={"reason": "change_reason"},
        )
        return cleaned


class VisibleChoiceFilter(admin.SimpleListFilter):
    """Filter by a related row the user may see: the choices are that model's
    ``visible_to(user)`` rows (a list of definitions, not a scan of the data)."""

    related_model: type[models.Model]
    label_field: str

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return list(
            self.related_model.objects.visible_to(request.user, "view")  # type: ignore[attr-defined]
            .order_by(self.label_field)
            .values_list("pk", self.label_field)
        )

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value():
            return queryset.filter(**{self.parameter_name: self.value()})
        return queryset


class VisibleMetricFilter(VisibleChoiceFilter):
    title = "metric"
    parameter_name = "metric__id__exact"
    related_model = Metric
    label_field = "key"


class SourceFilter(VisibleChoiceFilter):
    title = "source"
    parameter_name = "source__id__exact"
    related_model = DataSource
    label_field = "name"


class EstimatedCountPaginator(Paginator):
    """Counting a whole big table is the slowest part of its first list page:
    on PostgreSQL an unfiltered list of more than :attr:`EXACT_BELOW` rows
    reports the planner's estimate (``pg_class.reltuples``) instead. Filtered
    lists, searches and small tables are counted exactly."""

    EXACT_BELOW = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if (
            query is not None
            and not query.where.children
            and connections[queryset.db].vendor == "postgresql"
        ):
            with connections[queryset.db].cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] >= self.EXACT_BELOW:
                return int(row[0])
        return super().count


class ObservationChangeList(MaskingChangeList):
    """Masked rows, plus when each metric on the page last received data."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        metric_ids = {obj.metric_id for obj in self.result_list}
        # The newest entry of each metric (ids grow with entry time): one
        # primary-key lookup per metric on the page, not a scan of its data.
        newest = Observation.objects.filter(metric=OuterRef("pk")).order_by("-id")
        latest = dict(
            Metric.objects.filter(pk__in=metric_ids)
            .annotate(last=Subquery(newest.values("entered_at")[:1]))
            .values_list("pk", "last")
        )
        # Each metric's label once, at one instant for the whole page.
        now = timezone.now()
        labels: dict[Any, str] = {}
        for obj in self.result_list:
            last = latest.get(obj.metric_id)
            label = labels.get(obj.metric_id)
            if label is None:
                label = labels[obj.metric_id] = _freshness(
                    last, obj.metric.latency_hours, now
                )
            obj.__dict__["_data_as_of"] = last
            obj.__dict__["_data_as_of_label"] = label
            obj.__dict__["_reader"] = request.user


def _freshness(last: Any, window: int, now: Any) -> str:
    """When a metric last received data, against its latency window."""
    if last is None:
        return "—"
    age = now - last
    stamp = timezone.localtime(last).strftime("%Y-%m-%d %H:%M")
    if age.total_seconds() > window * 3600:
        return f"{stamp} ({_age(age)} old; beyond the {window} h latency window)"
    return f"{stamp} (within the {window} h latency window)"


def _age(delta: Any) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours < 1:
        return "under an hour"
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} days"


@admin.register(Observation)
class ObservationAdmin(ActorFormMixin, ExportMixin, GovernedModelAdmin):
    """Observations: captured and corrected through the service, never edited."""

    list_display = [
        "id",
        "metric",
        "subject",
        "period_start",
        "shown_value",
        "status",
        "source",
        "methodology_version",
        "data_as_of",
    ]
    list_display_links = ["id"]
    list_select_related = ["metric", "person", "team", "source"]
    # Newest entries first: the primary key pages a big table through its
    # index (the model's period ordering sorts the whole table; sort by
    # period with the column header, best within one metric).
    ordering = ["-id"]
    paginator = EstimatedCountPaginator
    list_filter = [
        "status",
        VisibleMetricFilter,
        SourceFilter,
        "classification",
        "period_start",
    ]
    search_fields = ["metric__key", "person__employee_id", "team__name"]
    search_help_text = "Search by metric key, employee id or team name."
    autocomplete_fields = ["person", "team"]

    # Export (django-import-export): masked, scoped, spreadsheet-safe.
    resource_classes = [resources.ObservationExportResource]
    export_formats = [CSV, XLSX]
    export_form_class = ExportForm
    export_template_name = "admin/metrics/observation/export.html"
    import_export_change_list_template = "admin/metrics/observation/change_list.html"

    _change_fields = [
        "metric",
        "subject",
        "period_start",
        "period_end",
        "shown_value",
        "status",
        "classification",
        "source",
        "methodology_version",
        "entered_at",
        "entered_by",
        "supersedes",
        "superseded_by_link",
        "correction_reason",
    ]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        return ObservationChangeList

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: Any = None
    ) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.__dict__["_reader"] = request.user
        return obj

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        """An organisation-wide reader's list is the plain table (no
        ``pk IN (every id)`` filter), which PostgreSQL pages through an index;
        everyone else's is the table filtered by their scope's conditions."""
        scoped = self.scoped(request, "view")
        if not scoped.query.where.children:  # visible_to() returned every row
            return admin.ModelAdmin.get_queryset(self, request)
        match = getattr(request, "resolver_match", None)
        if getattr(match, "url_name", None) == "autocomplete":
            return super().get_queryset(request)
        # Observation scopes are conditions on the row's own columns (id
        # lists, see ObservationQuerySet): the list filters by them directly
        # instead of through ``pk IN (scoped ids)``.
        ordering = self.get_ordering(request)
        return scoped.order_by(*ordering) if ordering else scoped

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = ObservationCorrectionForm if obj else ObservationAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [
                (
                    None,
                    {
                        "fields": [
                            "metric",
                            "person",
                            "team",
                            "period_start",
                            "period_end",
                            "value",
                        ]
                    },
                ),
                ("Reason", {"fields": ["change_reason"]}),
            ]
        fieldsets: list[Any] = [(None, {"fields": self._change_fields})]
        if self.has_change_permission(request, obj):
            fieldsets.append(("Correction", {"fields": ["value", "change_reason"]}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return readonly
        return readonly + [f for f in self._change_fields if f not in readonly]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status == Observation.Status.SUPERSEDED:
            return False  # correct the newest observation instead
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # corrections supersede; nothing is deleted

    # -- columns --------------------------------------------------------------

    @admin.display(description="Subject")
    def subject(self, obj: Observation) -> str:
        return obj.subject_label

    @admin.display(description="Value")
    def shown_value(self, obj: Observation) -> str:
        # Sealed values come masked (change list / get_object); plain ones are
        # masked for readers below the observation's classification.
        value = exports.reader_value(obj, obj.__dict__.get("_reader"))
        if value is None:
            return "—"
        if isinstance(value, Decimal):
            value = format(value.normalize(), "f")  # 120, never 120.0000 / 1.2E+2
        unit = obj.metric.unit if obj.metric_id else ""
        return f"{value} {unit}".strip()

    @admin.display(description="Data as of")
    def data_as_of(self, obj: Observation) -> str:
        label = obj.__dict__.get("_data_as_of_label")
        if label is not None:  # the change list's, one per metric on the page
            return label
        last = obj.__dict__.get("_data_as_of")
        if last is None:
            return "—"
        return _freshness(last, obj.metric.latency_hours, timezone.now())

    @admin.display(description="Entered by")
    def entered_by(self, obj: Observation) -> str:
        return labels.account_id(obj.entered_by_id)

    @admin.display(description="Superseded by")
    def superseded_by_link(self, obj: Observation) -> str:
        newer = Observation.objects.filter(supersedes_id=obj.pk).only("pk").first()
        if newer is None:
            return "—"
        url = reverse(
            f"{self.admin_site.name}:metrics_observation_change", args=[newer.pk]
        )
        return format_html('<a href="{}">#{}</a>', url, newer.pk)

    # -- capture and correction through the service ---------------------------

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        if not change:
            new = services.record_observation(
                actor=request.user, reason=reason, **form.row()
            )
            obj.pk = new.pk
            obj._state.adding = False
            return
        value = form.cleaned_data.get("value")
        if value is None:
            return  # nothing to correct
        new = services.correct_observation(
            actor=request.user, observation=obj, value=value, reason=reason
        )
        request._metrics_correction = new  # type: ignore[attr-defined]

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        new = getattr(request, "_metrics_correction", None)
        if new is None:
            return super().response_change(request, obj)
        self.message_user(
            request,
            f"Corrected: observation #{new.pk} supersedes #{obj.pk}, which stays "
            "in the history as it was.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:metrics_observation_change", args=[new.pk])
        )

    # -- import (all-or-nothing through the service) --------------------------

    def get_urls(self) -> list[Any]:
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="metrics_observation_import",
            ),
            *super().get_urls(),
        ]

    def has_import_permission(self, request: HttpRequest) -> bool:
        """Change AND add permission on observations (view-only staff may not
        import); each row's metric must also be writable (checked per row)."""
        return self.has_change_permission(request) and self.has_add_permission(request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        extra_context["has_import_permission"] = self.has_import_permission(request)
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        errors: list[Any] = []
        checked: int | None = None
        form = ObservationImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                rows = resources.read_rows(upload.name, upload.read())
            except resources.ImportFileError as exc:
                form.add_error("file", str(exc))
                rows = None
            if rows is not None and not rows:
                form.add_error("file", "The file has no data rows.")
            elif rows is not None:
                if form.cleaned_data["check_only"]:
                    _, errors = services.validate_rows(
                        rows, source=None, actor=request.user, first_row=2
                    )
                    checked = len(rows)
                else:
                    try:
                        stored = services.record_observations(
                            actor=request.user,
                            rows=rows,
                            reason=form.cleaned_data["reason"],
                        )
                    except services.BatchRejected as exc:
                        # Batch rows count from 1; the file's header is row 1.
                        errors = [
                            services.RowError(e.row + 1, e.field, e.message)
                            for e in exc.errors
                        ]
                    else:
                        self.message_user(
                            request,
                            f"Imported {len(stored)} observation(s) from "
                            f"{upload.name}.",
                            messages.SUCCESS,
                        )
                        return HttpResponseRedirect(
                            reverse(
                                f"{self.admin_site.name}:metrics_observation_changelist"
                            )
                        )
        return TemplateResponse(
            request,
            "admin/metrics/observation/import.html",
            {
                **self.admin_site.each_context(request),
                "title": "Import observations",
                "form": form,
                "errors": errors,
                "bad_rows": len({e.row for e in errors}),
                "checked": checked,
                "columns": services.CANONICAL_FIELDS,
                "opts": self.model._meta,
                "max_mb": resources.MAX_IMPORT_BYTES // (1024 * 1024),
                "max_rows": resources.MAX_IMPORT_ROWS,
            },
        )

    # -- export -----------------------------------------------------------------

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_export_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> Any:
        return {"user": request.user}

    def get_export_filename(
        self, request: HttpRequest, queryset: Any, file_format: Any
    ) -> str:
        return f"observations-{timezone.localdate():%Y-%m-%d}.{file_format.get_extension()}"


class MetricImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV (UTF-8) or Excel (.xlsx); the first row names the columns."
    )
    reason = forms.CharField(
        max_length=500,
        initial="Imported from file",
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Kept in the history of every metric defined or edited.",
    )
    check_only = forms.BooleanField(
        required=False, label="Only check the file (store nothing)"
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > resources.MAX_IMPORT_BYTES:
            raise ValidationError(
                f"The file is larger than {resources.MAX_IMPORT_BYTES // (1024 * 1024)} MB."
            )
        return upload


class ObservationImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV (UTF-8) or Excel (.xlsx); the first row names the columns."
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > resources.MAX_IMPORT_BYTES:
            raise ValidationError(
                f"The file is larger than {resources.MAX_IMPORT_BYTES // (1024 * 1024)} MB."
            )
        return upload

    reason = forms.CharField(
        max_length=500,
        initial="Imported from file",
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Kept in the history of every observation imported.",
    )
    check_only = forms.BooleanField(
        required=False,
        label="Only check the file (store nothing)",
    )


# -- data quality and annotations --------------------------------------------------


class IssueDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            ("confirm", "The value is right: confirm it (it leaves quarantine)"),
            ("correct", "The value is wrong: correct it"),
        ],
        widget=forms.RadioSelect,
    )
    value = forms.DecimalField(
        required=False,
        max_digits=18,
        decimal_places=4,
        label="Corrected value",
        help_text="For a correction: stored as a new observation that supersedes "
        "the suspect one.",
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text="Kept in the history and the audit trail.",
    )


@admin.register(DataQualityIssue)
class DataQualityIssueAdmin(ReadOnlyGovernedAdmin):
    """Suspected input errors, kept apart from performance signals (M3.4).

    Read-only records; the metric's steward decides them through
    ``metrics.quality.decide_issue`` (confirm the value, or correct it).
    """

    list_display = ["__str__", "kind", "status", "metric", "detected_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["observation__metric"]
    search_fields = ["observation__metric__key"]
    actions = ["confirm_selected"]

    @admin.display(description="Metric")
    def metric(self, obj: DataQualityIssue) -> str:
        return obj.observation.metric.key

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return permissions.has_model_perm(request.user, DataQualityIssue, "change")

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="metrics_dataqualityissue_decide",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, object_id)
        if (
            obj is not None
            and obj.status == DataQualityIssue.Status.OPEN
            and self.has_decide_permission(request)
        ):
            extra_context["metric_tools"] = [
                (
                    "Decide",
                    reverse(
                        f"{self.admin_site.name}:metrics_dataqualityissue_decide",
                        args=[obj.pk],
                    ),
                )
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        from metrics import quality

        issue = self.get_object(request, object_id)
        if issue is None:
            raise Http404("No such issue.")
        if not self.has_decide_permission(request):
            raise PermissionDenied
        form = IssueDecisionForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                quality.decide_issue(
                    actor=request.user,
                    issue=issue,
                    decision=form.cleaned_data["decision"],
                    reason=form.cleaned_data["reason"],
                    value=form.cleaned_data["value"],
                )
            except (ValidationError, PermissionDenied) as exc:
                add_service_errors(form, exc)
            else:
                self.message_user(request, "Decision recorded.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse(
                        f"{self.admin_site.name}:metrics_dataqualityissue_change",
                        args=[issue.pk],
                    )
                )
        observation = Observation.objects.select_related("metric").get(
            pk=issue.observation_id
        )
        display.apply_masks(observation, request.user, via="admin")
        return TemplateResponse(
            request,
            "admin/metrics/dataqualityissue/decide.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Decide: {issue}",
                "form": form,
                "original": issue,
                "observation": observation,
                "opts": self.model._meta,
            },
        )

    @admin.action(
        description="Confirm the values of selected issues", permissions=["decide"]
    )
    def confirm_selected(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        from metrics import quality

        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return _intermediate(
                self,
                request,
                queryset,
                action="confirm_selected",
                title="Confirm values",
                form=form,
                explanation="The values are right: they leave quarantine as they are.",
                button="Confirm",
            )
        _apply_each(
            self,
            request,
            queryset,
            lambda issue: quality.decide_issue(
                actor=request.user,
                issue=issue,
                decision="confirm",
                reason=form.cleaned_data["reason"],
            ),
            label=str,
            done=lambda n: f"Confirmed {n} value(s).",
        )
        return None


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyGovernedAdmin):
    """Notes on data points; written from charts and reports."""

    list_display = ["__str__", "kind", "text", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["observation"]
    search_fields = ["observation__metric__key"]


# -- qualitative inputs and evaluations ---------------------------------------------


@admin.register(PeerFeedback)
class PeerFeedbackAdmin(GovernedModelAdmin):
    list_display = ["__str__", "cycle", "rating", "submitted_at"]
    list_filter = ["cycle"]
    list_select_related = ["subject"]
    search_fields = ["subject__employee_id", "cycle"]
    autocomplete_fields = ["subject", "reviewer"]


@admin.register(StakeholderFeedback)
class StakeholderFeedbackAdmin(GovernedModelAdmin):
    list_display = ["__str__", "person", "team", "period_start", "rating"]
    list_select_related = ["person", "team"]
    search_fields = ["stakeholder", "person__employee_id"]
    autocomplete_fields = ["person", "team"]


@admin.register(Evaluation)
class EvaluationAdmin(GovernedModelAdmin):
    list_display = ["__str__", "period_start", "period_end", "status", "evaluator"]
    list_filter = ["status"]
    list_select_related = ["person", "evaluator"]
    search_fields = ["person__employee_id"]
    autocomplete_fields = ["person", "evaluator"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Status moves only through services: released by release_evaluations
        # (which needs a completed bias assessment), held and restored by appeals.
        return [*super().get_readonly_fields(request, obj), "status"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != Evaluation.Status.DRAFT:
            return False  # a released or held evaluation changes through an appeal
        return super().has_change_permission(request, obj)


# -- integration ----------------------------------------------------------------------


class _UnhistoriedMixin:
    """Records without simple-history: the history page is Django's own log."""

    object_history_template = None

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        from django.contrib.admin.utils import unquote

        if not self.has_view_or_change_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        obj = admin.ModelAdmin.get_object(self, request, unquote(object_id))  # type: ignore[arg-type]
        if obj is None or not self.has_view_permission(request, obj):  # type: ignore[attr-defined]
            raise Http404("No such record.")
        return admin.ModelAdmin.history_view(self, request, object_id, extra_context)  # type: ignore[arg-type]


class TokenIssueForm(GovernedAdminForm):
    """Issue a token through ``metrics.tokens.issue_token``."""

    actor: Any = None

    class Meta:
        model = ApiToken
        fields = ["name", "source", "expires_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "expires_at" in self.fields:
            self.fields["expires_at"].required = False
            self.fields[
                "expires_at"
            ].help_text = "Leave empty for the default lifetime (90 days)."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors:
            from metrics import tokens

            check_with_service(
                self,
                lambda: tokens.issue_token(
                    actor=self.actor,
                    source=cleaned["source"],
                    name=cleaned["name"],
                    expires_at=cleaned.get("expires_at"),
                ),
            )
        return cleaned


def _tokens_module() -> Any:
    try:
        from metrics import tokens
    except ImportError:
        return None
    return tokens


@admin.register(ApiToken)
class ApiTokenAdmin(_UnhistoriedMixin, ActorFormMixin, GovernedModelAdmin):
    """Ingestion tokens. The secret is shown once, when issued; only its
    SHA-256 is stored and it is never displayed. Issued and revoked by
    ``metrics.tokens``; a token is never edited or deleted."""

    form = TokenIssueForm
    list_display = [
        "name",
        "prefix",
        "source",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    list_filter = ["source"]
    list_select_related = ["source"]
    search_fields = ["name", "prefix"]
    actions = ["revoke_selected"]
    _shown = [
        "name",
        "prefix",
        "source",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["name", "source", "expires_at"] if obj is None else self._shown

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return [(None, {"fields": self.get_fields(request, obj)})]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self._shown

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _tokens_module() is not None and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return _tokens_module() is not None and permissions.has_model_perm(
            request.user, ApiToken, "change"
        )

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        if change:
            return
        issued = _tokens_module().issue_token(
            actor=request.user,
            source=obj.source,
            name=obj.name,
            expires_at=obj.expires_at,
        )
        request._metrics_issued_token = issued  # type: ignore[attr-defined]
        obj.pk = issued.token.pk
        obj._state.adding = False

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: Any = None
    ) -> HttpResponse:
        issued = getattr(request, "_metrics_issued_token", None)
        if issued is None:
            return super().response_add(request, obj, post_url_continue)
        # The secret is rendered once, in this response only: never in a
        # message (those live in the session), never stored, never cached.
        response = TemplateResponse(
            request,
            "admin/metrics/apitoken/issued.html",
            {
                **self.admin_site.each_context(request),
                "title": "Token issued",
                "token": issued.token,
                "secret": issued.secret,
                "opts": self.model._meta,
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_selected(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        tokens = _tokens_module()
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return _intermediate(
                self,
                request,
                queryset,
                action="revoke_selected",
                title="Revoke tokens",
                form=form,
                explanation="Revoked tokens stop working at once, for good.",
                button="Revoke",
            )
        _apply_each(
            self,
            request,
            queryset.filter(revoked_at__isnull=True),
            lambda token: tokens.revoke_token(
                actor=request.user, token=token, reason=form.cleaned_data["reason"]
            ),
            label=str,
            done=lambda n: f"Revoked {n} token(s).",
        )
        return None


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(_UnhistoriedMixin, ReadOnlyGovernedAdmin):
    """Stored outcomes of API batches (superuser only: no role holds a permission)."""

    list_display = ["key", "token", "status_code", "created_at"]
    list_select_related = ["token"]
    search_fields = ["key"]
    fields = ["key", "token", "request_hash", "status_code", "created_at"]


# Incentive safeguards (M5): plans, the gaming review queue, peer-review cycles.
from metrics import admin_incentives  # noqa: E402, F401
