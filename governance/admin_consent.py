"""Admin for consent (M8.3): purposes, and records compliance keeps.

Compliance records consent obtained outside the portal (paper, email) with its
evidence, and withdraws consent on a person's request; both go through
``governance.consent``. Records are never edited or deleted.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from governance import consent
from governance.admin_base import GovernedAdminForm, GovernedModelAdmin
from governance.models import ConsentPurpose, ConsentRecord


class ConsentPurposeForm(GovernedAdminForm):
    reconsent = forms.BooleanField(
        required=False,
        label="Ask everyone again",
        help_text="The text changed materially: consents given on older versions "
        "stop counting at once.",
    )

    class Meta:
        model = ConsentPurpose
        fields = ["code", "name", "description", "active"]


@admin.register(ConsentPurpose)
class ConsentPurposeAdmin(GovernedModelAdmin):
    form = ConsentPurposeForm
    list_display = ["code", "name", "text_version", "min_text_version", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["code", "name", "description", "active"]
        if obj is not None:
            fields += ["text_version", "min_text_version", "reconsent"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly += ["code", "text_version", "min_text_version"]
        return readonly

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        if not change:
            created = consent.purpose_create(
                actor=request.user,
                code=obj.code,
                name=obj.name,
                description=obj.description,
                reason=reason,
            )
            obj.pk = created.pk
            return
        # The form already wrote its values onto ``obj``; compare with the
        # stored row so the service sees the change.
        stored = ConsentPurpose.objects.get(pk=obj.pk)
        consent.purpose_update(
            actor=request.user,
            purpose=stored,
            reason=reason,
            name=obj.name,
            description=obj.description,
            active=obj.active,
            reconsent=bool(form.cleaned_data.get("reconsent")),
        )


class ConsentRecordForm(forms.ModelForm):
    class Meta:
        model = ConsentRecord
        fields = [
            "person",
            "purpose",
            "lawful_basis",
            "obtained_via",
            "evidence",
            "given_at",
            "expires_at",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "given_at" in self.fields:
            self.fields["given_at"].initial = timezone.now
        if "evidence" in self.fields:
            self.fields["evidence"].required = True

    def clean(self) -> dict[str, Any]:
        # The checks give_consent makes, so the admin shows them on the form.
        data = super().clean()
        given, expires = data.get("given_at"), data.get("expires_at")
        if given and given > timezone.now():
            self.add_error("given_at", "Consent can't be given in the future.")
        if given and expires and expires <= given:
            self.add_error("expires_at", "The expiry must be after it was given.")
        person = data.get("person")
        if person is not None and person.erased_at:
            self.add_error("person", "This person's data was erased.")
        return data


class WithdrawalForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded in the audit trail (e.g. the person's request and its date).",
    )


@admin.register(ConsentRecord)
class ConsentRecordAdmin(GovernedModelAdmin):
    form = ConsentRecordForm
    list_display = [
        "person",
        "purpose",
        "state",
        "lawful_basis",
        "text_version",
        "given_at",
        "withdrawn_at",
        "expires_at",
        "obtained_via",
    ]
    list_filter = ["purpose", "lawful_basis", "obtained_via"]
    list_select_related = ["person", "purpose"]
    search_fields = ["person__employee_id"]
    search_help_text = "Search by employee id."
    autocomplete_fields = ["person"]
    actions = ["withdraw_selected"]
    date_hierarchy = None

    @admin.display(description="State")
    def state(self, obj: ConsentRecord) -> str:
        if obj.superseded_by_id:
            return "renewed"
        if obj.withdrawn_at:
            return "withdrawn"
        return "in force" if obj.in_force(timezone.now()) else "lapsed"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(ConsentRecordForm.Meta.fields)
        if obj is not None:
            fields[3:3] = ["text_version"]
            fields += ["withdrawn_at", "superseded_by"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly += [f for f in self.get_fields(request, obj) if f not in readonly]
        return readonly

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A record is never edited; the change permission only unlocks the
        # withdrawal action on the list.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        if change:  # pragma: no cover - the change form is read-only
            raise PermissionDenied
        data = form.cleaned_data
        record = consent.give_consent(
            actor=request.user,
            person=data["person"],
            purpose=data["purpose"],
            lawful_basis=data["lawful_basis"],
            obtained_via=data["obtained_via"],
            evidence=data["evidence"],
            given_at=data["given_at"],
            expires_at=data.get("expires_at"),
        )
        obj.pk = record.pk
        obj.text_version = record.text_version

    @admin.action(
        description="Withdraw selected consents (on the person's request)",
        permissions=["change"],
    )
    def withdraw_selected(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        queryset = queryset.filter(
            pk__in=self.scoped(request, "change").values("pk"),
            withdrawn_at__isnull=True,
        ).select_related("person", "purpose")
        if request.POST.get("confirm") == "yes":
            form = WithdrawalForm(request.POST)
            if form.is_valid():
                done = 0
                for record in queryset:
                    try:
                        consent.withdraw_consent(
                            actor=request.user,
                            person=record.person,
                            purpose=record.purpose,
                            reason=form.cleaned_data["reason"],
                        )
                        done += 1
                    except (ValidationError, PermissionDenied) as exc:
                        self.message_user(
                            request,
                            f"{record.person.employee_id}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}",
                            messages.ERROR,
                        )
                self.message_user(
                    request,
                    f"Withdrew {done} consent(s): capture for those purposes stops now.",
                )
                return None
        else:
            form = WithdrawalForm()
        return TemplateResponse(
            request,
            "admin/governance/consentrecord/withdraw_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": "Withdraw consent",
                "records": queryset,
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )
