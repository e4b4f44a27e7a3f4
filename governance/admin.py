"""Admin for the governance kernel: people, teams, accounts, the audit trail."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from governance import labels, permissions, services
from governance.admin_base import (
    GovernedInline,
    GovernedModelAdmin,
    ReadOnlyGovernedAdmin,
)
from governance.models import (
    AuditEvent,
    Department,
    Jurisdiction,
    Membership,
    Person,
    Team,
    User,
)
from governance.roles import Role


@admin.register(Jurisdiction)
class JurisdictionAdmin(GovernedModelAdmin):
    list_display = [
        "code",
        "name",
        "privacy_regime",
        "consent_required",
        "default_retention_days",
    ]
    list_filter = ["privacy_regime", "consent_required"]
    search_fields = ["code", "name"]


@admin.register(Department)
class DepartmentAdmin(GovernedModelAdmin):
    list_display = ["code", "name", "steward"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["steward"]


@admin.register(Team)
class TeamAdmin(GovernedModelAdmin):
    list_display = [
        "name",
        "department",
        "function",
        "interdependence",
        "parent",
        "manager",
    ]
    list_filter = ["department", "function", "interdependence"]
    list_select_related = ["department", "parent", "manager"]
    search_fields = ["name", "department__name"]
    autocomplete_fields = ["manager", "parent"]


class MembershipInline(GovernedInline):
    model = Membership
    extra = 0
    fields = ["team", "role", "start_date", "end_date"]
    autocomplete_fields = ["team"]


@admin.register(Person)
class PersonAdmin(GovernedModelAdmin):
    list_display = [
        "employee_id",
        "full_name",
        "department",
        "jurisdiction",
        "status",
        "classification",
    ]
    list_filter = ["department", "jurisdiction", "status", "classification"]
    list_select_related = ["department", "jurisdiction"]
    search_fields = ["employee_id"]
    search_help_text = "Search by employee id (names are encrypted and not searchable)."
    autocomplete_fields = ["manager", "user"]
    inlines = [MembershipInline]
    actions = ["erase_selected"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "employee_id",
                    "full_name",
                    "email",
                    "status",
                    "classification",
                ]
            },
        ),
        (
            "Organisation",
            {"fields": ["department", "manager", "jurisdiction", "hire_date", "user"]},
        ),
        (
            "Demographics (Restricted: bias assessments only)",
            {
                "fields": ["date_of_birth", "gender", "ethnicity", "disability"],
                "classes": ["collapse"],
            },
        ),
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # people leave or are erased; records are never deleted

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.erased_at:
            return False  # erased: the record is read-only (person_update refuses)
        return super().has_change_permission(request, obj)

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        if change:
            # One write path: the service's rules (an erased person can't be
            # edited; a leaver's account stops working) hold here too.
            fields = {f.name for f in Person._meta.get_fields()}
            services.person_update(
                person=obj,
                actor=request.user,
                reason=reason,
                changes={
                    name: getattr(obj, name)
                    for name in form.changed_data
                    if name in fields
                },
            )
        else:
            services.person_create(
                actor=request.user,
                reason=reason,
                **{
                    f.attname: getattr(obj, f.attname)
                    for f in Person._meta.concrete_fields
                },
            )

    @admin.action(
        description="Erase selected people (crypto-shredding)", permissions=["erase"]
    )
    def erase_selected(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        queryset = queryset.filter(pk__in=self.scoped(request, "view").values("pk"))
        if request.POST.get("confirm") == "yes":
            form = ErasureForm(request.POST)
            if form.is_valid():
                count = 0
                for person in queryset:
                    try:
                        services.person_erase(
                            person=person,
                            actor=request.user,
                            reason=form.cleaned_data["reason"],
                        )
                        count += 1
                    except (ValidationError, PermissionDenied) as exc:
                        self.message_user(
                            request, f"{person.employee_id}: {exc}", messages.ERROR
                        )
                self.message_user(
                    request,
                    f"Erased {count} person(s); their data keys were destroyed.",
                )
                return None
        else:
            form = ErasureForm()
        return TemplateResponse(
            request,
            "admin/governance/person/erase_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": "Erase personal data",
                "people": queryset,
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return permissions.has_model_perm(request.user, Person, "erase")


class ErasureForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded in the audit trail (e.g. the erasure request reference).",
    )


@admin.register(Membership)
class MembershipAdmin(GovernedModelAdmin):
    list_display = ["person", "team", "role", "start_date", "end_date"]
    list_filter = ["team"]
    list_select_related = ["person", "team"]
    search_fields = ["person__employee_id", "team__name"]
    autocomplete_fields = ["person", "team"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyGovernedAdmin):
    list_display = ["occurred_at", "action", "actor", "object_type", "object_id"]
    list_filter = ["action"]
    search_fields = ["action", "object_id", "actor_label"]
    date_hierarchy = "occurred_at"
    exclude = ["actor_label"]
    readonly_fields = ["actor"]

    @admin.display(description="actor")
    def actor(self, obj: AuditEvent) -> str:
        """Who acted, named for the viewer (a pseudonym for auditors)."""
        if obj.actor_id is None:
            return obj.actor_label or "system"
        return labels.account_id(obj.actor_id, username=obj.actor_label)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return redirect("admin:governance_auditevent_change", object_id)


class UserAccessForm(forms.Form):
    roles = forms.MultipleChoiceField(
        choices=[(r.value, r.value) for r in Role],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    clearance = forms.TypedChoiceField(
        choices=User._meta.get_field("clearance").choices, coerce=int
    )
    reason = forms.CharField(max_length=500)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Accounts. Roles and clearance change only through the audited service."""

    list_display = ["username", "email", "is_active", "is_staff", "clearance", "roles"]
    list_filter = ["is_active", "is_staff", "groups", "clearance"]
    readonly_fields = [
        "clearance",
        "groups",
        "user_permissions",
        "is_superuser",
        "last_login",
        "date_joined",
    ]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Personal info", {"fields": ["first_name", "last_name", "email"]}),
        (
            "Access",
            {
                "fields": [
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "clearance",
                    "groups",
                ]
            },
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    actions = ["deactivate_selected"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # accounts are deactivated, never deleted

    @admin.display(description="Roles")
    def roles(self, obj: User) -> str:
        return ", ".join(g.name for g in obj.groups.all())

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("groups")

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        if change and "is_active" in form.changed_data and not obj.is_active:
            obj.is_active = True  # let the service record the change
            services.user_deactivate(
                user=obj, actor=request.user, reason="deactivated in admin"
            )
        super().save_model(request, obj, form, change)

    @admin.action(
        description="Deactivate selected accounts (ends access at once)",
        permissions=["change"],
    )
    def deactivate_selected(self, request: HttpRequest, queryset: Any) -> None:
        for user in queryset:
            services.user_deactivate(
                user=user, actor=request.user, reason="deactivated in admin"
            )
        self.message_user(request, f"Deactivated {queryset.count()} account(s).")

    def get_urls(self) -> list[Any]:
        from django.urls import path

        return [
            path(
                "<path:object_id>/access/",
                self.admin_site.admin_view(self.access_view),
                name="governance_user_access",
            ),
            *super().get_urls(),
        ]

    def access_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not permissions.has_model_perm(request.user, User, "set_clearance"):
            raise PermissionDenied
        user = self.get_object(request, object_id)
        if user is None:
            from django.http import Http404

            raise Http404
        if request.method == "POST":
            form = UserAccessForm(request.POST)
            if form.is_valid():
                services.user_set_access(
                    user=user,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    roles=[Role(r) for r in form.cleaned_data["roles"]],
                    clearance=form.cleaned_data["clearance"],
                )
                self.message_user(
                    request, "Access updated and recorded in the audit trail."
                )
                return redirect("admin:governance_user_change", user.pk)
        else:
            form = UserAccessForm(
                initial={
                    "roles": list(user.groups.values_list("name", flat=True)),
                    "clearance": user.clearance,
                }
            )
        return TemplateResponse(
            request,
            "admin/governance/user/access.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Access of {user.username}",
                "form": form,
                "original": user,
                "opts": self.model._meta,
            },
        )


admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(DjangoGroupAdmin):
    """The roles' groups, read-only: roles are declared in ``governance.roles``
    and synced by ``manage.py sync_roles``; an edit here would grant access
    outside the audited path and be undone by the next sync."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


from governance import admin_board  # noqa: E402,F401,I001  review board (M8.4, M5.4)
from governance import admin_consent  # noqa: E402,F401  consent (M8.3)
from governance import admin_compliance  # noqa: E402,F401  bias, retention (M8.5, G.RET)
from governance import admin_reports  # noqa: E402,F401  report jobs (R.ASYNC)
