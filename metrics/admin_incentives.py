"""Admin for the incentive safeguards (SPEC M5.1, M5.2, M5.3, M5.5, M5.6).

* Incentive plans (HR writes; managers read their teams'): components inline,
  the M5.1/M5.2 check on the change page, an "Activate" action through
  :func:`metrics.incentives.plan_activate`; active plans are frozen. The
  collaboration report (``admin:metrics_incentiveplan_collaboration``) and the
  team scoreboards (``admin:metrics_incentiveplan_scoreboards`` /
  ``…_scoreboard``) hang off the plan changelist.
* Gaming findings: the non-punitive review queue (HR, compliance; auditors
  read). Read-only records closed on their review page
  (``admin:metrics_gamingfinding_review``) through
  :func:`metrics.gaming_review.finding_review`.
* Peer-review cycles (HR writes; managers read their department's): the
  "Generate assignments" action calls
  :func:`metrics.peer_reviews.generate_assignments`; assignments are a
  read-only inline.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join

from governance import permissions
from governance.admin_base import (
    GovernedInline,
    GovernedModelAdmin,
    ReadOnlyGovernedAdmin,
)
from governance.models import Team
from metrics import gaming_review, incentives, peer_reviews
from metrics.admin import ReasonForm, _intermediate, add_service_errors
from metrics.models import (
    GamingFinding,
    IncentiveComponent,
    IncentivePlan,
    Metric,
    PeerReviewAssignment,
    PeerReviewCycle,
)

_T = "admin/metrics/incentives/"


def _page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    template: str,
    title: str,
    context: dict[str, Any],
) -> TemplateResponse:
    return TemplateResponse(
        request,
        _T + template,
        {
            **model_admin.admin_site.each_context(request),
            "title": title,
            "opts": model_admin.model._meta,
            **context,
        },
    )


def _error_text(exc: ValidationError | PermissionDenied) -> str:
    return "; ".join(getattr(exc, "messages", None) or [str(exc)])


# -- incentive plans -------------------------------------------------------------------


class _DraftOnlyInline(GovernedInline):
    def _draft(self, obj: Any) -> bool:
        return obj is None or obj.status == IncentivePlan.Status.DRAFT

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._draft(obj) and super().has_delete_permission(request, obj)


class IncentiveComponentInline(_DraftOnlyInline):
    model = IncentiveComponent
    fields = ["metric", "level", "weight"]
    extra = 0


@admin.register(IncentivePlan)
class IncentivePlanAdmin(GovernedModelAdmin):
    """A team's incentive plan: weights per metric; activated only when valid."""

    list_display = ["name", "team", "period_start", "period_end", "status", "shares"]
    list_filter = ["status", "team"]
    list_select_related = ["team"]
    search_fields = ["name", "team__name"]
    readonly_fields = ["status", "activated_at", "collaboration_check"]
    inlines = [IncentiveComponentInline]
    actions = ["activate_selected"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != IncentivePlan.Status.DRAFT:
            return False  # an active plan is frozen
        return super().has_change_permission(request, obj)

    def save_formset(
        self, request: HttpRequest, form: Any, formset: Any, change: bool
    ) -> None:
        """Components go through ``incentives.component_save`` (draft plans only)."""
        if formset.model is not IncentiveComponent:
            return super().save_formset(request, form, formset, change)
        reason = (form.cleaned_data.get("change_reason") or "").strip() or (
            "changed in admin" if change else "created in admin"
        )
        instances = formset.save(commit=False)
        with transaction.atomic():
            for obj in formset.deleted_objects:
                obj._change_reason = reason
                obj._history_user = request.user
                obj.delete()
            for obj in instances:
                incentives.component_save(
                    actor=request.user, component=obj, reason=reason
                )
        return None

    @admin.display(description="Team / individual weight")
    def shares(self, obj: IncentivePlan) -> str:
        check = incentives.plan_check(obj)
        if check.team_percent is None:
            return "—"
        flag = " ⚠ silo risk" if check.verdict.silo_risk else ""
        return f"{check.team_percent:g} % / {check.individual_percent:g} %{flag}"

    @admin.display(description="Collaboration check (M5.1, M5.2)")
    def collaboration_check(self, obj: IncentivePlan) -> str:
        if obj.pk is None:
            return "Save the plan and add its components first."
        result = incentives.plan_check(obj)
        lines = [
            f"Team-level weight: {result.team_percent if result.team_percent is not None else '—'} %",
            f"Individual weight: {result.individual_percent if result.individual_percent is not None else '—'} %",
            f"Interdependence: {obj.team.get_interdependence_display()}",
            *result.verdict.reasons,
            *(result.problems or ["Ready to activate."]),
        ]
        return format_html_join("", "<p>{}</p>", ((line,) for line in lines))

    def get_urls(self) -> list[Any]:
        site = self.admin_site
        return [
            path(
                "collaboration/",
                site.admin_view(self.collaboration_view),
                name="metrics_incentiveplan_collaboration",
            ),
            path(
                "scoreboards/",
                site.admin_view(self.scoreboards_view),
                name="metrics_incentiveplan_scoreboards",
            ),
            path(
                "scoreboards/<int:metric_id>/",
                site.admin_view(self.scoreboard_view),
                name="metrics_incentiveplan_scoreboard",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        extra_context["incentive_links"] = [
            (
                "Collaboration report",
                reverse("admin:metrics_incentiveplan_collaboration"),
            ),
            ("Team scoreboards", reverse("admin:metrics_incentiveplan_scoreboards")),
        ]
        return super().changelist_view(request, extra_context)

    @admin.action(description="Activate selected plans", permissions=["change"])
    def activate_selected(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return _intermediate(
                self,
                request,
                queryset,
                action="activate_selected",
                title="Activate incentive plans",
                form=form,
                explanation="Each plan is checked: weights must sum to 100 % and a "
                "team with high interdependence needs the minimum team-level weight.",
                button="Activate",
            )
        done = 0
        for plan in queryset:
            try:
                incentives.plan_activate(
                    actor=request.user, plan=plan, reason=form.cleaned_data["reason"]
                )
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(
                    request, f"{plan}: {_error_text(exc)}", messages.ERROR
                )
        if done:
            self.message_user(request, f"Activated {done} plan(s).", messages.SUCCESS)
        return None

    # -- M5.1 collaboration report ----------------------------------------------------

    def collaboration_view(self, request: HttpRequest) -> HttpResponse:
        if not (
            permissions.has_model_perm(request.user, IncentivePlan, "view")
            and permissions.has_model_perm(request.user, Team, "view")
        ):
            raise PermissionDenied
        rows = incentives.collaboration_report(request.user)
        return _page(
            self,
            request,
            "collaboration.html",
            "Collaboration report: individual vs team incentive weight",
            {
                "rows": rows,
                "silo_count": sum(1 for r in rows if r.silo_risk),
                "minimum": incentives.min_team_weight_high(),
            },
        )

    # -- M5.6 scoreboards ------------------------------------------------------------

    def scoreboards_view(self, request: HttpRequest) -> HttpResponse:
        if not permissions.has_model_perm(request.user, Metric, "view"):
            raise PermissionDenied
        return _page(
            self,
            request,
            "scoreboards.html",
            "Team scoreboards (non-punitive team metrics)",
            {"metrics": incentives.scoreboard_metrics(request.user)},
        )

    def scoreboard_view(self, request: HttpRequest, metric_id: int) -> HttpResponse:
        if not permissions.has_model_perm(request.user, Metric, "view"):
            raise PermissionDenied
        metric = (
            Metric.objects.visible_to(request.user, "view").filter(pk=metric_id).first()
        )
        if metric is None:
            raise Http404("No such metric.")
        try:
            rows = incentives.team_scoreboard(viewer=request.user, metric=metric)
        except incentives.ScoreboardRefused as exc:
            response = _page(
                self,
                request,
                "scoreboard.html",
                f"Scoreboard refused: {metric.name}",
                {"metric": metric, "refused": _error_text(exc), "rows": []},
            )
            response.status_code = 403
            return response
        return _page(
            self,
            request,
            "scoreboard.html",
            f"Scoreboard: {metric.name}",
            {"metric": metric, "rows": rows},
        )


# -- gaming findings: the non-punitive review queue ----------------------------------


class FindingReviewForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=GamingFinding.Outcome.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="What the review found about the process. Never a sanction: "
        "the finding does not go onto anyone's record.",
    )


@admin.register(GamingFinding)
class GamingFindingAdmin(ReadOnlyGovernedAdmin):
    """Patterns worth a non-punitive review; decided on the review page."""

    list_display = [
        "kind",
        "metric",
        "counter_metric",
        "team",
        "status",
        "outcome",
        "detected_at",
    ]
    list_filter = ["status", "kind", "outcome"]
    list_select_related = ["metric", "counter_metric", "team"]
    search_fields = ["metric__key"]

    def has_review_permission(self, request: HttpRequest) -> bool:
        return permissions.has_model_perm(request.user, GamingFinding, "change")

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/review/",
                self.admin_site.admin_view(self.review_view),
                name="metrics_gamingfinding_review",
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
            and obj.status == GamingFinding.Status.OPEN
            and self.has_review_permission(request)
        ):
            extra_context["metric_tools"] = [
                ("Review", reverse("admin:metrics_gamingfinding_review", args=[obj.pk]))
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_review_permission(request):
            raise PermissionDenied
        finding = self.get_object(request, object_id)
        if finding is None:
            raise Http404("No such finding.")
        form = FindingReviewForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                gaming_review.finding_review(
                    actor=request.user,
                    finding=finding,
                    outcome=form.cleaned_data["outcome"],
                    note=form.cleaned_data["note"],
                )
            except (ValidationError, PermissionDenied) as exc:
                add_service_errors(form, exc)
            else:
                self.message_user(request, "Review recorded.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:metrics_gamingfinding_change", args=[finding.pk])
                )
        return _page(
            self,
            request,
            "review.html",
            f"Review: {finding}",
            {"form": form, "original": finding},
        )


# -- peer-review cycles ----------------------------------------------------------------


class PeerReviewAssignmentInline(GovernedInline):
    model = PeerReviewAssignment
    fields = ["reviewer", "reviewee"]
    readonly_fields = ["reviewer", "reviewee"]
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PeerReviewCycle)
class PeerReviewCycleAdmin(GovernedModelAdmin):
    """A department's peer-review cycle; assignments generated by rotation."""

    list_display = ["name", "department", "starts_on", "reviewers_per_person", "status"]
    list_filter = ["status", "department"]
    list_select_related = ["department"]
    search_fields = ["name"]
    readonly_fields = ["status", "no_repeat_cycles", "generated_at"]
    inlines = [PeerReviewAssignmentInline]
    actions = ["generate_selected"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != PeerReviewCycle.Status.DRAFT:
            return False  # assignments generated: the cycle is frozen
        return super().has_change_permission(request, obj)

    @admin.action(description="Generate reviewer assignments", permissions=["change"])
    def generate_selected(self, request: HttpRequest, queryset: Any) -> None:
        for cycle in queryset:
            try:
                created = peer_reviews.generate_assignments(
                    actor=request.user, cycle=cycle
                )
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(
                    request, f"{cycle}: {_error_text(exc)}", messages.ERROR
                )
            else:
                self.message_user(
                    request,
                    f"{cycle}: {len(created)} assignment(s) generated.",
                    messages.SUCCESS,
                )
