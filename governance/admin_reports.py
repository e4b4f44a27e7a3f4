"""Report jobs in the admin (R.ASYNC): request an audit pack, watch it render,
download it. Rows are written only by :mod:`governance.reports.jobs`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from governance.admin_base import ReadOnlyGovernedAdmin
from governance.models import ReportJob
from governance.reports import jobs, sections


class AuditPackRequestForm(forms.Form):
    date_from = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From"
    )
    date_to = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To"
    )
    sections = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every section you may receive.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sections"].choices = [  # type: ignore[attr-defined]
            (s.key, f"{s.title}" + (f" — {s.description}" if s.description else ""))
            for s in sections.selectable(user)
        ]

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise ValidationError("The period ends before it starts.")
        return data


@admin.register(ReportJob)
class ReportJobAdmin(ReadOnlyGovernedAdmin):
    list_display = [
        "id",
        "report_type",
        "requested_by",
        "period",
        "status",
        "progress",
        "created_at",
    ]
    list_filter = ["status"]
    fields = [
        "report_type",
        "requested_by",
        "period",
        "sections",
        "pseudonymised",
        "status",
        "progress",
        "attempts",
        "error",
        "pages",
        "size",
        "sha256",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    change_form_template = "admin/governance/reportjob/change_form.html"

    @admin.display(description="Period")
    def period(self, obj: ReportJob) -> str:
        start = obj.date_from.isoformat() if obj.date_from else "beginning"
        end = obj.date_to.isoformat() if obj.date_to else "now"
        return f"{start} to {end}"

    @admin.display(description="Progress")
    def progress(self, obj: ReportJob) -> str:
        total = obj.chunks_total or "?"
        return f"{obj.percent}% ({obj.chunks_done}/{total} steps)"

    def get_list_display(self, request: HttpRequest) -> Any:
        user = request.user

        @admin.display(description="File")
        def download(obj: ReportJob) -> str:
            # Rows listed are visible to the user; only the requester (or a
            # superuser) may download, so only they get the link.
            if obj.status != ReportJob.Status.DONE or not (
                user.is_superuser or obj.requested_by_id == user.pk
            ):
                return "-"
            url = reverse("admin:governance_reportjob_download", args=[obj.pk])
            return format_html('<a href="{}">Download PDF</a>', url)

        return [*self.list_display, download]

    # -- permissions -------------------------------------------------------

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return sections.may_request(request.user)

    # -- views ---------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/download/",
                wrap(self.download_view),
                name="governance_reportjob_download",
            ),
            path(
                "<int:object_id>/status/",
                wrap(self.status_view),
                name="governance_reportjob_status",
            ),
            *super().get_urls(),
        ]

    def _job(self, request: HttpRequest, object_id: Any) -> ReportJob:
        job = self.get_queryset(request).filter(pk=object_id).first()
        if job is None or not self.has_view_permission(request, job):
            raise PermissionDenied
        return job

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AuditPackRequestForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            try:
                job = jobs.request_audit_pack(
                    actor=request.user,
                    date_from=form.cleaned_data["date_from"],
                    date_to=form.cleaned_data["date_to"],
                    section_keys=form.cleaned_data["sections"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    f"Audit pack #{job.pk} requested; it renders in the background.",
                )
                return redirect("admin:governance_reportjob_change", job.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Request an audit pack",
            "opts": self.model._meta,
            "form": form,
            # The admin's form wrappers, as on any add page (tests inspect them).
            "adminform": helpers.AdminForm(
                form,  # type: ignore[arg-type]
                [(None, {"fields": list(form.fields)})],
                {},
            ),
            "inline_admin_formsets": [],
            "pseudonymised": sections.pseudonymise_for(request.user),
            **(extra_context or {}),
        }
        return TemplateResponse(
            request, "admin/governance/reportjob/request.html", context
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        job = self.get_queryset(request).filter(pk=object_id).first()
        if job is not None:
            extra["job"] = job
            extra["may_download"] = jobs.can_download(request.user, job)
            extra["status_url"] = reverse(
                "admin:governance_reportjob_status", args=[job.pk]
            )
            extra["download_url"] = reverse(
                "admin:governance_reportjob_download", args=[job.pk]
            )
        return super().change_view(request, object_id, form_url, extra)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if (
            not str(object_id).isdigit()
            or not self.get_queryset(request).filter(pk=object_id).exists()
        ):
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return redirect("admin:governance_reportjob_change", object_id)

    def status_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        job = self._job(request, object_id)
        response = JsonResponse(
            {
                "status": job.status,
                "label": job.get_status_display(),
                "done": job.chunks_done,
                "total": job.chunks_total,
                "percent": job.percent,
                "attempts": job.attempts,
                "error": job.error,
                "ready": job.status == ReportJob.Status.DONE,
            }
        )
        response["Cache-Control"] = "no-store"
        return response

    def download_view(self, request: HttpRequest, object_id: int) -> HttpResponseBase:
        job = self._job(request, object_id)
        try:
            path = jobs.open_for_download(actor=request.user, job=job)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("admin:governance_reportjob_change", job.pk)
        response = FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"audit-pack-{job.pk}.pdf",
            content_type="application/pdf",
        )
        response["Cache-Control"] = "no-store, private"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
