"""Admin for compliance: bias assessments (M8.5) and their remediation,
retention policies and legal holds (G.RET), and the records of processing
(GDPR Art. 30). Every write goes through ``governance.bias`` or
``governance.retention``; figures are never edited.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from governance import bias, permissions, retention, subject_rights
from governance.admin_base import GovernedAdminForm, GovernedInline, GovernedModelAdmin
from governance.classification import Sensitivity
from governance.models import (
    BiasAssessment,
    BiasGroupResult,
    LegalHold,
    Person,
    RemediationItem,
    RetentionPolicy,
)

_FORM = "admin/governance/compliance/form_page.html"


def _errors(exc: ValidationError | PermissionDenied) -> list[str]:
    return list(getattr(exc, "messages", None) or [str(exc)])


def _page(
    admin_: Any, request: HttpRequest, form: forms.Form, title: str, **extra: Any
) -> TemplateResponse:
    return TemplateResponse(
        request,
        _FORM,
        {
            **admin_.admin_site.each_context(request),
            "title": title,
            "form": form,
            "opts": admin_.model._meta,
            "submit": extra.pop("submit", title),
            "objects": extra.pop("objects", None),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            **extra,
        },
    )


# -- bias assessments ----------------------------------------------------------------


class RunAssessmentForm(forms.Form):
    target = forms.ChoiceField(
        help_text="A metric before go-live, or an evaluation period."
    )
    attribute = forms.ChoiceField(choices=BiasAssessment.Attribute.choices)
    threshold = forms.DecimalField(
        max_digits=18,
        decimal_places=4,
        help_text="An outcome counts as selected when its score is at least this.",
    )
    min_group_size = forms.IntegerField(
        min_value=1, initial=5, help_text="Smaller groups are suppressed from display."
    )
    reason = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 80}))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[Any] = []
        for target_type, provider in sorted(bias.providers().items()):
            options = [
                (f"{target_type}|{target_id}", label)
                for target_id, label in provider.candidates(user)
            ]
            if options:
                choices.append((provider.label.capitalize(), options))
        self.fields["target"].choices = choices  # type: ignore[attr-defined]


class CompleteForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the target may go ahead (recorded in the audit trail).",
    )


class BiasGroupResultInline(GovernedInline):
    model = BiasGroupResult
    extra = 0
    can_delete = False
    fields = [
        "group",
        "shown_n",
        "selected",
        "rate",
        "impact_ratio",
        "adverse",
        "parity_difference",
        "fisher_p",
        "chi2_p",
        "mean_difference",
        "cohens_d",
    ]
    readonly_fields = fields

    @admin.display(description="n")
    def shown_n(self, obj: BiasGroupResult) -> Any:
        return "suppressed (small group)" if obj.suppressed else obj.n

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RemediationInline(BiasGroupResultInline):
    model = RemediationItem  # type: ignore[assignment]
    fields = ["description", "owner", "due_date", "status", "closing_note", "closed_at"]
    readonly_fields = fields


@admin.register(BiasAssessment)
class BiasAssessmentAdmin(GovernedModelAdmin):
    list_display = [
        "id",
        "target_label",
        "attribute",
        "verdict",
        "status",
        "dataset_size",
        "run_at",
    ]
    list_filter = ["verdict", "status", "attribute", "target_type"]
    search_fields = ["target_label", "target_id"]
    inlines = [BiasGroupResultInline, RemediationInline]
    readonly_fields = ["links"]
    fields = [
        "links",
        "target_type",
        "target_id",
        "target_label",
        "target_version",
        "period_start",
        "period_end",
        "attribute",
        "threshold",
        "min_group_size",
        "run_by",
        "run_at",
        "dataset_hash",
        "dataset_size",
        "excluded_count",
        "reference_group",
        "verdict",
        "status",
        "completed_at",
        "completion_note",
    ]

    @admin.display(description="Actions")
    def links(self, obj: BiasAssessment) -> str:
        report = reverse("admin:governance_biasassessment_report", args=[obj.pk])
        parts = [
            format_html(
                '<a href="{}" id="bias-report">Download the report (PDF)</a>', report
            )
        ]
        if obj.status == BiasAssessment.Status.OPEN:
            complete = reverse(
                "admin:governance_biasassessment_complete", args=[obj.pk]
            )
            parts.append(
                format_html(
                    ' · <a href="{}" id="bias-complete">Complete (sign off)</a>',
                    complete,
                )
            )
        return format_html_join("", "{}", ((p,) for p in parts))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # figures are never edited; completion has its own page

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/complete/",
                self.admin_site.admin_view(self.complete_view),
                name="governance_biasassessment_complete",
            ),
            path(
                "<path:object_id>/report.pdf",
                self.admin_site.admin_view(self.report_view),
                name="governance_biasassessment_report",
            ),
            *super().get_urls(),
        ]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RunAssessmentForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            target_type, _, target_id = data["target"].partition("|")
            try:
                assessment = bias.run_assessment(
                    actor=request.user,
                    target_type=target_type,
                    target_id=target_id,
                    attribute=data["attribute"],
                    threshold=data["threshold"],
                    min_group_size=data["min_group_size"],
                    reason=data["reason"],
                )
            except (ValidationError, PermissionDenied) as exc:
                for message in _errors(exc):
                    form.add_error(None, message)
            else:
                self.message_user(
                    request,
                    f"Assessment #{assessment.pk}: {assessment.get_verdict_display()}.",
                )
                return HttpResponseRedirect(
                    reverse(
                        "admin:governance_biasassessment_change", args=[assessment.pk]
                    )
                )
        return _page(
            self,
            request,
            form,
            "Run a bias assessment",
            submit="Run the assessment",
            adminform=helpers.AdminForm(
                form, [(None, {"fields": list(form.fields)})], {}
            ),
            inline_admin_formsets=[],
            intro="Outcomes come from live data; each person's group comes from "
            "their Restricted demographic record. Groups smaller than the minimum "
            "are suppressed.",
        )

    def complete_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not permissions.has_model_perm(request.user, BiasAssessment, "change"):
            raise PermissionDenied
        assessment = self.scoped(request, "change").filter(pk=object_id).first()
        if assessment is None:
            raise Http404("No such assessment.")
        form = CompleteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                bias.complete_assessment(
                    actor=request.user,
                    assessment=assessment,
                    note=form.cleaned_data["note"],
                )
            except (ValidationError, PermissionDenied) as exc:
                for message in _errors(exc):
                    form.add_error(None, message)
            else:
                self.message_user(request, "The assessment is completed.")
                return HttpResponseRedirect(
                    reverse(
                        "admin:governance_biasassessment_change", args=[assessment.pk]
                    )
                )
        return _page(
            self,
            request,
            form,
            f"Complete {assessment}",
            submit="Complete the assessment",
            intro="Every remediation item must be closed first.",
        )

    def report_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        from governance.reports.bias import issue_bias_report

        if not permissions.has_model_perm(request.user, BiasAssessment, "view"):
            raise PermissionDenied
        if permissions.clearance_of(request.user) < Sensitivity.CONFIDENTIAL:
            raise PermissionDenied("The report is Confidential.")
        assessment = self.scoped(request, "view").filter(pk=object_id).first()
        if assessment is None:
            raise Http404("No such assessment.")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "bias.pdf"
            issue_bias_report(assessment, out=out, actor=request.user)
            body = out.read_bytes()
        response = HttpResponse(body, content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="bias-assessment-{assessment.pk}.pdf"'
        )
        response["Cache-Control"] = "no-store"
        return response


class RemediationForm(GovernedAdminForm):
    transition = forms.ChoiceField(
        required=False,
        choices=[("", "—"), *RemediationItem.Status.choices],
        label="Move to",
    )
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required when closing: what was done.",
    )

    class Meta:
        model = RemediationItem
        fields = ["assessment", "description", "owner", "due_date"]

    def clean(self) -> dict[str, Any]:
        # The checks remediation_transition makes, shown on the form.
        data = super().clean()
        target = data.get("transition")
        if self.instance.pk and target:
            current = RemediationItem.Status(self.instance.status)
            if RemediationItem.Status(target) not in bias.FORWARD[current]:
                self.add_error(
                    "transition",
                    f"A remediation item that is {current.label.lower()} can't "
                    f"become {RemediationItem.Status(target).label.lower()}.",
                )
            if (
                target == RemediationItem.Status.CLOSED
                and not (data.get("note") or "").strip()
            ):
                self.add_error("note", "Closing needs a note saying what was done.")
        return data


@admin.register(RemediationItem)
class RemediationItemAdmin(GovernedModelAdmin):
    form = RemediationForm
    list_display = ["id", "assessment", "owner", "due_date", "status", "closed_at"]
    list_filter = ["status"]
    list_select_related = ["assessment", "owner"]
    autocomplete_fields = ["owner"]
    search_fields = ["description"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["assessment", "description", "owner", "due_date"]
        if obj is not None:
            fields += ["status", "closing_note", "closed_at"]
            if obj.status != RemediationItem.Status.CLOSED:
                fields += ["transition", "note"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly += [
                "assessment",
                "description",
                "owner",
                "due_date",
                "status",
                "closing_note",
                "closed_at",
            ]
        return readonly

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "assessment":
            kwargs["queryset"] = BiasAssessment.objects.visible_to(request.user).filter(
                status=BiasAssessment.Status.OPEN
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        data = form.cleaned_data
        if not change:
            created = bias.remediation_create(
                actor=request.user,
                assessment=data["assessment"],
                description=data["description"],
                owner=data["owner"],
                due_date=data["due_date"],
                reason=reason,
            )
            obj.pk = created.pk
        elif data.get("transition"):
            bias.remediation_transition(
                actor=request.user,
                item=RemediationItem.objects.get(pk=obj.pk),
                status=data["transition"],
                note=data.get("note") or "",
            )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status == RemediationItem.Status.CLOSED:
            return False
        return super().has_change_permission(request, obj)


# -- retention -----------------------------------------------------------------------


class RetentionPolicyForm(GovernedAdminForm):
    record_type = forms.ChoiceField()

    class Meta:
        model = RetentionPolicy
        fields = [
            "record_type",
            "classification",
            "retention_days",
            "purpose",
            "active",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["record_type"].choices = [  # type: ignore[attr-defined]
            (label, f"{label}: {t.description}")
            for label, t in sorted(retention.record_types().items())
        ]


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(GovernedModelAdmin):
    form = RetentionPolicyForm
    list_display = [
        "record_type",
        "classification",
        "retention_days",
        "purpose",
        "active",
    ]
    list_filter = ["active", "record_type"]
    change_list_template = None

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: the history says what applied when

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        retention.policy_save(actor=request.user, policy=obj, reason=reason)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "records-of-processing/",
                self.admin_site.admin_view(self.ropa_view),
                name="governance_records_of_processing",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: Any = None
    ) -> HttpResponse:
        extra = {"ropa_url": reverse("admin:governance_records_of_processing")}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def ropa_view(self, request: HttpRequest) -> HttpResponse:
        if not permissions.has_model_perm(request.user, RetentionPolicy, "view"):
            raise PermissionDenied
        fmt = request.GET.get("format", "")
        if fmt == "json":
            response = HttpResponse(
                json.dumps(subject_rights.records_of_processing(), indent=2),
                content_type="application/json",
            )
            response["Content-Disposition"] = (
                'attachment; filename="records-of-processing.json"'
            )
            return response
        rows = subject_rights.records_of_processing_rows()
        if fmt == "csv":
            from governance.reports.data import neutralise_cell

            buffer = io.StringIO()
            header = list(rows[0]) if rows else ["activity"]
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(header)
            for row in rows:
                writer.writerow([neutralise_cell(row[h]) for h in header])
            response = HttpResponse(
                buffer.getvalue(), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = (
                'attachment; filename="records-of-processing.csv"'
            )
            return response
        if fmt:
            return HttpResponse("Unknown format: use csv or json.", status=400)
        return TemplateResponse(
            request,
            "admin/governance/compliance/ropa.html",
            {
                **self.admin_site.each_context(request),
                "title": "Records of processing",
                "data": subject_rights.records_of_processing(),
                "rows": rows,
                "opts": self.model._meta,
            },
        )


class LegalHoldForm(forms.ModelForm):
    record_type = forms.ChoiceField(required=False)

    class Meta:
        model = LegalHold
        fields = ["person", "record_type", "record_id", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "record_type" in self.fields:
            field: Any = self.fields["record_type"]
            field.choices = [("", "— (a person)")] + [
                (label, label) for label in sorted(retention.record_types())
            ]


class ReleaseForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(LegalHold)
class LegalHoldAdmin(GovernedModelAdmin):
    form = LegalHoldForm
    list_display = [
        "id",
        "person",
        "record_type",
        "record_id",
        "placed_at",
        "released_at",
    ]
    list_filter = ["record_type"]
    list_select_related = ["person"]
    autocomplete_fields = ["person"]
    search_fields = ["person__employee_id", "record_id"]
    actions = ["release_selected"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["person", "record_type", "record_id", "reason"]
        if obj is not None:
            fields += ["placed_by", "placed_at", "released_at", "release_reason"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly += [f for f in self.get_fields(request, obj) if f not in readonly]
        return readonly

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Never edited; the change permission only unlocks the release action.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        if change:  # pragma: no cover - the change form is read-only
            raise PermissionDenied
        data = form.cleaned_data
        hold = retention.hold_place(
            actor=request.user,
            reason=data["reason"],
            person=data.get("person"),
            record_type=data.get("record_type") or "",
            record_id=data.get("record_id") or "",
        )
        obj.pk = hold.pk

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None:
            base = form

            class Checked(base):  # type: ignore[valid-type,misc]
                def clean(self) -> dict[str, Any]:
                    data = super().clean()
                    person: Person | None = data.get("person")
                    kind, ident = (
                        data.get("record_type") or "",
                        data.get("record_id") or "",
                    )
                    if person is None and not (kind and ident):
                        raise ValidationError("Name a person, or a record type and id.")
                    if person is not None and (kind or ident):
                        raise ValidationError(
                            "A hold names a person or a record, not both."
                        )
                    if (
                        kind
                        and not retention.record_types()[kind]
                        .model._base_manager.filter(pk=ident)
                        .exists()
                    ):
                        self.add_error("record_id", f"No {kind} #{ident}.")
                    return data

            return Checked
        return form

    @admin.action(description="Release selected legal holds", permissions=["change"])
    def release_selected(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        holds = list(
            queryset.filter(
                pk__in=self.scoped(request, "change").values("pk"),
                released_at__isnull=True,
            ).select_related("person")
        )
        form = ReleaseForm(
            request.POST if request.POST.get("confirm") == "yes" else None
        )
        if form.is_bound and form.is_valid():
            for hold in holds:
                retention.hold_release(
                    actor=request.user, hold=hold, reason=form.cleaned_data["reason"]
                )
            self.message_user(request, f"Released {len(holds)} hold(s).")
            return None
        return _page(
            self,
            request,
            form,
            "Release legal holds",
            objects=holds,
            action="release_selected",
            intro="Released records fall under their retention policy again.",
        )
