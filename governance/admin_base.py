"""The base every governed ModelAdmin extends.

The Django admin ignores object permissions; this class closes every door:

* changelist, change view, delete, history and autocomplete are scoped by
  ``Model.objects.visible_to(user, action)``; an out-of-scope object is a 404;
* foreign-key and many-to-many dropdowns and list filters only offer rows the
  user may see;
* encrypted values the user's clearance doesn't reach are masked (read-only,
  never sent to the browser, left untouched on save), in lists, forms and the
  history view's diffs; reading Restricted plaintext is logged;
* an edit needs a reason, which lands in the history row;
* history is read-only: no revert, no per-version form;
* writes go through ``save_governed`` (override it to call a specific service).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.db import models, transaction
from django.http import Http404, HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin

from governance import display, permissions, services


class GovernedAdminForm(forms.ModelForm):
    change_reason = forms.CharField(
        label="Reason for this change",
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text="Required when changing a record; kept in its history.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk and not self.instance._state.adding and self.has_changed():
            changed = [name for name in self.changed_data if name != "change_reason"]
            if changed and not (cleaned.get("change_reason") or "").strip():
                self.add_error("change_reason", "Say why you are changing this record.")
        return cleaned


class MaskingChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        display.apply_masks_many(self.result_list, request.user)


class GovernedModelAdmin(SimpleHistoryAdmin):
    form = GovernedAdminForm
    show_full_result_count = False
    list_per_page = 50
    history_list_per_page = 50

    # -- scoping -------------------------------------------------------------

    def scoped(self, request: HttpRequest, action: str = "view") -> models.QuerySet:
        manager = self.model._default_manager
        if hasattr(manager, "visible_to"):
            return manager.visible_to(request.user, action)
        return (
            manager.all()
            if permissions.has_model_perm(request.user, self.model, action)
            else manager.none()
        )

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        qs = super().get_queryset(request)
        return qs.filter(pk__in=self.scoped(request, "view").values("pk"))

    def _object_allowed(self, request: HttpRequest, action: str, obj: Any) -> bool:
        if obj is None:
            return True
        return self.scoped(request, action).filter(pk=obj.pk).exists()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_view_permission(request, obj):
            return False
        return self._object_allowed(request, "view", obj) or (
            super().has_change_permission(request, obj)
            and self._object_allowed(request, "change", obj)
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._object_allowed(
            request, "change", obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._object_allowed(
            request, "delete", obj
        )

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: Any = None
    ) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            display.apply_masks(obj, request.user, via="admin")
        return obj

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return MaskingChangeList

    # -- related choices -----------------------------------------------------

    def _scope_related(
        self, request: HttpRequest, db_field: Any, kwargs: dict[str, Any]
    ) -> None:
        related = db_field.related_model
        manager = related._default_manager
        if "queryset" not in kwargs and hasattr(manager, "visible_to"):
            kwargs["queryset"] = manager.visible_to(request.user, "view")

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        self._scope_related(request, db_field, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        self._scope_related(request, db_field, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request: HttpRequest) -> Any:
        result = []
        for item in super().get_list_filter(request):
            if isinstance(item, str):
                try:
                    field = self.model._meta.get_field(item)
                except Exception:  # noqa: BLE001 - lookups like "a__b"
                    field = None
                if field is not None and field.is_relation:
                    item = (item, admin.RelatedOnlyFieldListFilter)
            result.append(item)
        return result

    # -- masked fields are read-only ------------------------------------------

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            masked = list(obj.__dict__.get("_pgp_masks", {}))
            erased = [
                field.name
                for field in display.encrypted_fields(type(obj))
                if obj.__dict__.get(field.attname) is not None
                and str(getattr(obj, field.name)) == "[erased]"
            ]
            readonly.extend(n for n in masked + erased if n not in readonly)
        return readonly

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        fieldsets = [
            (
                name,
                {**opts, "fields": [f for f in opts["fields"] if f != "change_reason"]},
            )
            for name, opts in fieldsets
        ]
        if obj is not None and self.has_change_permission(request, obj):
            fieldsets.append(("Change control", {"fields": ["change_reason"]}))
        return fieldsets

    # -- writes go through services ------------------------------------------

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        reason = (form.cleaned_data.get("change_reason") or "").strip() or (
            "changed in admin" if change else "created in admin"
        )
        self.save_governed(request, obj, form, change, reason)

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        services.save_governed(obj, actor=request.user, reason=reason)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            obj._change_reason = "deleted in admin"
            obj._history_user = request.user
            obj.delete()

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        allowed = queryset.filter(pk__in=self.scoped(request, "delete").values("pk"))
        with transaction.atomic():
            for obj in allowed:
                self.delete_model(request, obj)

    # -- history: scoped, masked, read-only ----------------------------------

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404("No such record.")
        return super().history_view(request, object_id, extra_context)

    def set_history_delta_changes(
        self,
        request: HttpRequest,
        historical_records: Any,
        foreign_keys_are_objs: bool = True,
    ) -> None:
        read_restricted: set[str] = set()
        for record in historical_records:
            display.apply_masks(record, request.user, log_restricted=False)
            _, masked = display.readable_fields(record, request.user)
            for field in display.encrypted_fields(type(record)):
                if field.name not in masked and display.level_of(record, field) >= 3:
                    read_restricted.add(field.name)
        super().set_history_delta_changes(
            request, historical_records, foreign_keys_are_objs
        )
        if read_restricted and historical_records:
            from governance.audit import events

            first = (
                historical_records[0]
                if hasattr(historical_records, "__getitem__")
                else None
            )
            if first is not None:
                events.restricted_read(
                    actor=request.user,
                    target=first.instance,
                    fields=sorted(read_restricted),
                    via="admin-history",
                )

    def history_form_view(
        self,
        request: HttpRequest,
        object_id: str,
        version_id: str,
        extra_context: Any = None,
    ) -> HttpResponse:
        raise Http404("History is read-only.")

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True


class ReadOnlyGovernedAdmin(GovernedModelAdmin):
    """For records only services write (audit events, key metadata)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
