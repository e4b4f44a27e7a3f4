"""Appeals in the admin: scoped, masked, read-only records; every state change
is an action or a page that calls :mod:`appeals.services`.

* HR and compliance see every appeal, triage, assign reviewers, start reviews
  and close decided appeals (``manage_appeal``).
* The assigned reviewer sees only the appeals granted to them and decides on
  the appeal's decide page (``decide_appeal`` + the object grant).
* Auditors read everything, change nothing.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from appeals import permissions as appeal_permissions
from appeals import services
from appeals.models import Appeal, ConflictDeclaration, Evidence
from governance.admin_base import GovernedModelAdmin, ReadOnlyGovernedAdmin
from governance.models import User


def _messages_of(exc: Exception) -> str:
    return " ".join(getattr(exc, "messages", None) or [str(exc)])


class DecideForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=Appeal.Outcome.choices, widget=forms.RadioSelect
    )
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), max_length=10_000
    )
    corrected_value = forms.CharField(
        required=False,
        max_length=40,
        help_text="Required when upheld: the value that supersedes the disputed one.",
    )


class AssignForm(forms.Form):
    reviewer = forms.ModelChoiceField(queryset=User.objects.none())

    def __init__(self, *args: Any, appeal: Appeal, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reviewer"].queryset = appeal_permissions.eligible_reviewers(appeal)


@admin.register(Appeal)
class AppealAdmin(GovernedModelAdmin):
    list_display = [
        "reference",
        "appellant",
        "status",
        "outcome",
        "reviewer",
        "stage_deadline",
        "on_hold",
    ]
    list_filter = ["status", "outcome"]
    list_select_related = ["appellant", "reviewer"]
    search_fields = ["reference", "appellant__employee_id"]
    fields = [
        "reference",
        "appellant",
        "evaluation",
        "observation",
        "evaluator",
        "status",
        "reviewer",
        "grounds",
        "requested_remedy",
        "filed_at",
        "stage_deadline",
        "reminded_at",
        "overdue_at",
        "outcome",
        "rationale",
        "decided_at",
        "corrected_value",
        "correction_observation",
        "letter_sha256",
        "workflow",
    ]
    readonly_fields = fields
    actions = ["triage_selected", "start_review_selected", "close_selected"]

    @admin.display(boolean=True, description="evaluation on hold")
    def on_hold(self, obj: Appeal) -> bool:
        return bool(obj.evaluation_id and obj.is_open)

    @admin.display(description="next steps")
    def workflow(self, obj: Appeal) -> str:
        links = []
        if obj.is_open:
            links.append(
                (
                    reverse("admin:appeals_appeal_assign", args=[obj.pk]),
                    "Assign reviewer",
                )
            )
        if obj.status in ("under_review", "escalated"):
            links.append(
                (reverse("admin:appeals_appeal_decide", args=[obj.pk]), "Decide")
            )
        stages = format_html_join(
            "",
            "<li>{} · entered {} · due {} · left {}</li>",
            (
                (
                    s.stage,
                    f"{s.entered_at:%Y-%m-%d}",
                    f"{s.deadline:%Y-%m-%d}" if s.deadline else "—",
                    f"{s.left_at:%Y-%m-%d}" if s.left_at else "—",
                )
                for s in obj.stages.all()
            ),
        )
        evidence = format_html_join(
            "",
            '<li><a href="{}">{}</a> ({}, {} bytes)</li>',
            (
                (
                    reverse("appeals:evidence", args=[e.pk]),
                    e.content_type,
                    e.sha256[:12],
                    e.size,
                )
                for e in obj.evidence.all()
            ),
        )
        actions = format_html_join(" · ", '<a href="{}">{}</a>', links)
        return format_html(
            "<p>{}</p><p>Evidence:</p><ul>{}</ul><p>Stages:</p><ul>{}</ul>",
            actions or "—",
            evidence,
            stages,
        )

    # -- permissions ----------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # appeals are filed by employees on /me/appeals/

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The record is read-only; the change permission unlocks the actions.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return appeal_permissions.can_manage(request.user)

    # -- actions ----------------------------------------------------------------

    def _run(self, request: HttpRequest, queryset: Any, label: str, call: Any) -> None:
        done = 0
        for appeal in queryset.filter(
            pk__in=self.scoped(request, "change").values("pk")
        ):
            try:
                call(appeal)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(
                    request, f"{appeal}: {_messages_of(exc)}", messages.ERROR
                )
            else:
                done += 1
        self.message_user(request, f"{label}: {done} appeal(s).")

    @admin.action(description="Triage selected appeals", permissions=["manage"])
    def triage_selected(self, request: HttpRequest, queryset: Any) -> None:
        self._run(
            request,
            queryset,
            "Triaged",
            lambda a: services.triage(actor=request.user, appeal=a),
        )

    @admin.action(
        description="Start review of selected appeals", permissions=["manage"]
    )
    def start_review_selected(self, request: HttpRequest, queryset: Any) -> None:
        self._run(
            request,
            queryset,
            "Review started",
            lambda a: services.start_review(actor=request.user, appeal=a),
        )

    @admin.action(description="Close selected decided appeals", permissions=["manage"])
    def close_selected(self, request: HttpRequest, queryset: Any) -> None:
        self._run(
            request,
            queryset,
            "Closed",
            lambda a: services.close(actor=request.user, appeal=a),
        )

    # -- pages ------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        from django.urls import path

        return [
            path(
                "<path:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="appeals_appeal_decide",
            ),
            path(
                "<path:object_id>/assign/",
                self.admin_site.admin_view(self.assign_view),
                name="appeals_appeal_assign",
            ),
            *super().get_urls(),
        ]

    def _page(
        self, request: HttpRequest, appeal: Appeal, title: str, form: Any, template: str
    ) -> HttpResponse:
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "appeal": appeal,
                "form": form,
                "opts": self.model._meta,
                "original": appeal,
            },
        )

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        appeal = self.get_object(request, object_id)
        if appeal is None:
            raise Http404("No such appeal.")
        if not appeal_permissions.is_reviewer(request.user, appeal):
            raise PermissionDenied("Only the assigned reviewer decides this appeal.")
        if request.method == "POST" and "recuse" in request.POST:
            try:
                services.recuse(
                    actor=request.user,
                    appeal=appeal,
                    reason=request.POST.get("recuse_reason", ""),
                )
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, _messages_of(exc), messages.ERROR)
                return redirect("admin:appeals_appeal_decide", appeal.pk)
            self.message_user(
                request, "You stepped down; HR will assign another reviewer."
            )
            return redirect("admin:appeals_appeal_changelist")
        form = DecideForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.decide(actor=request.user, appeal=appeal, **form.cleaned_data)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, _messages_of(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{appeal} is decided; the appellant can read the decision.",
                )
                return redirect("admin:appeals_appeal_change", appeal.pk)
        return self._page(
            request,
            appeal,
            f"Decide {appeal}",
            form,
            "admin/appeals/appeal/decide.html",
        )

    def assign_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        appeal = self.get_object(request, object_id)
        if appeal is None:
            raise Http404("No such appeal.")
        if not appeal_permissions.can_manage(request.user):
            raise PermissionDenied
        form = AssignForm(request.POST or None, appeal=appeal)
        if request.method == "POST" and form.is_valid():
            try:
                services.assign_reviewer(
                    actor=request.user,
                    appeal=appeal,
                    reviewer=form.cleaned_data["reviewer"],
                )
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, _messages_of(exc), messages.ERROR)
            else:
                self.message_user(request, f"Reviewer assigned to {appeal}.")
                return redirect("admin:appeals_appeal_change", appeal.pk)
        return self._page(
            request,
            appeal,
            f"Assign a reviewer to {appeal}",
            form,
            "admin/appeals/appeal/assign.html",
        )


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyGovernedAdmin):
    list_display = ["__str__", "appeal", "content_type", "size", "uploaded_at"]
    list_select_related = ["appeal"]
    fields = [
        "appeal",
        "filename",
        "content_type",
        "size",
        "sha256",
        "uploaded_at",
        "download",
    ]
    readonly_fields = fields

    @admin.display(description="file")
    def download(self, obj: Evidence) -> str:
        return format_html(
            '<a href="{}">Download (parties only)</a>',
            reverse("appeals:evidence", args=[obj.pk]),
        )


@admin.register(ConflictDeclaration)
class ConflictDeclarationAdmin(GovernedModelAdmin):
    """Reviewers declare their own conflicts (the declarant is the signed-in
    user); a declaration stands as made."""

    list_display = ["user", "person", "reason", "declared_at"]
    list_select_related = ["user", "person"]
    autocomplete_fields = ["person"]
    search_fields = ["person__employee_id", "reason"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["person", "reason"]
        return ["user", "person", "reason", "declared_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return ["user", "person", "reason", "declared_at"]
        return []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        declared = services.declare_conflict(
            actor=request.user,
            user=request.user,
            person=form.cleaned_data["person"],
            reason=form.cleaned_data["reason"],
        )
        obj.pk = declared.pk
        obj.user = declared.user
        obj.declared_at = declared.declared_at
