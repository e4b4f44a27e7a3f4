"""The base every governed ModelAdmin extends.

The Django admin ignores object permissions; this class closes every door:

* changelist, change view, delete, history, inlines and autocomplete are
  scoped by ``Model.objects.visible_to(user, action)``; an out-of-scope object
  is a 404 (or Django's "doesn't exist" redirect), a model the user has no
  permission on is a 403;
* foreign-key and many-to-many dropdowns and list filters only offer rows the
  user may see; a relation to a model the user may not view at all is
  read-only;
* encrypted values the user's clearance doesn't reach are masked (read-only,
  never sent to the browser, left untouched on save), in lists, forms, labels
  of related rows (dropdowns, autocomplete, list columns) and the history
  view's rows and diffs; reading Restricted plaintext is logged;
* an edit needs a reason, which lands in the history row;
* history is read-only: no revert, no per-version form;
* writes go through ``save_governed`` (override it to call a specific service).
"""

from __future__ import annotations

import itertools
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.views import main
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from governance import display, permissions, pseudonyms, services
from governance.classification import Sensitivity


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


def _forward_relations(model: type[models.Model]) -> list[Any]:
    return [
        field
        for field in model._meta.concrete_fields
        if field.is_relation and (field.many_to_one or field.one_to_one)
    ]


def mask_related(objs: list[Any], user: Any, names: Any = None) -> None:
    """Mask the related rows ``objs`` point to (their labels name people).

    Loads the relations named (all forward ones by default) that aren't cached
    yet, one query per relation, so no label is rendered from an unmasked row.
    """
    if not objs:
        return
    fields = [
        field
        for field in _forward_relations(type(objs[0]))
        if (names is None or field.name in names)
        and display.encrypted_fields(field.related_model)
    ]
    for field in fields:
        missing = [obj for obj in objs if not field.is_cached(obj)]
        if missing:
            prefetch_related_objects(missing, field.name)
        related = [field.get_cached_value(obj) for obj in objs]
        display.apply_masks_many([r for r in related if r is not None], user)


def masked_label(user: Any) -> Any:
    """``label_from_instance`` for choice fields: the row's label, masked."""

    def label(obj: models.Model) -> str:
        display.apply_masks_many([obj], user)
        return str(obj)

    return label


class MaskingChangeList(ChangeList):
    def get_ordering_field(self, field_name: Any) -> Any:
        # Django only hides the header link of a column not in sortable_by;
        # ``?o=`` would still sort by it.
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        display.apply_masks_many(rows, request.user)
        # Row labels (``__str__``) can name related people: a pseudonymised
        # viewer gets every related person masked, not only listed columns.
        names = (
            None if pseudonyms.sees_pseudonyms(request.user) else set(self.list_display)
        )
        mask_related(rows, request.user, names=names)


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
        qs = qs.filter(pk__in=self.scoped(request, "view").values("pk"))
        match = getattr(request, "resolver_match", None)
        if getattr(match, "url_name", None) == "autocomplete" and hasattr(
            qs, "masked_for"
        ):
            qs = qs.masked_for(request.user)  # autocomplete renders str(obj)
        return qs

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
            mask_related([obj], request.user)
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
        return _masking(
            super().formfield_for_foreignkey(db_field, request, **kwargs),
            db_field,
            request,
        )

    def formfield_for_manytomany(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        self._scope_related(request, db_field, kwargs)
        return _masking(
            super().formfield_for_manytomany(db_field, request, **kwargs),
            db_field,
            request,
        )

    def get_search_results(
        self, request: HttpRequest, queryset: models.QuerySet, search_term: str
    ) -> tuple[models.QuerySet, bool]:
        fields = list(self.get_search_fields(request))
        if not (search_term.strip() and pseudonyms.sees_pseudonyms(request.user)):
            return super().get_search_results(request, queryset, search_term)
        # A pseudonymised viewer finds people by the pseudonym they see, never
        # by who they are (that would link an identity to its pseudonym).
        return pseudonyms.search(queryset, fields, search_term), True

    # -- ordering: never by who someone is, for a pseudonymised viewer ---------

    def get_ordering(self, request: HttpRequest) -> Any:
        ordering = list(super().get_ordering(request) or self.model._meta.ordering)
        if not pseudonyms.sees_pseudonyms(request.user):
            return ordering
        # Rows sorted by employee id would let the pseudonyms' order tell it.
        kept = [
            item
            for item in ordering
            if not (
                isinstance(item, str)
                and pseudonyms.is_identifying_lookup(self.model, item.lstrip("-"))
            )
        ]
        return [*kept, "pk"]

    def get_sortable_by(self, request: HttpRequest) -> Any:
        sortable = super().get_sortable_by(request)
        if not pseudonyms.sees_pseudonyms(request.user):
            return sortable
        return [
            name
            for name in sortable
            if not (
                isinstance(name, str)
                and pseudonyms.is_identifying_lookup(self.model, name)
            )
        ]

    # -- query-string lookups ---------------------------------------------------

    def lookup_allowed(
        self, lookup: str, value: str, request: HttpRequest | None = None
    ) -> bool:
        if refused_lookup(self.model, lookup, getattr(request, "user", None)):
            return False
        return bool(super().lookup_allowed(lookup, value, request))

    def changelist_view(
        self, request: HttpRequest, extra_context: Any = None
    ) -> HttpResponse:
        refused = [
            key
            for key in request.GET
            if key not in _CHANGELIST_PARAMS
            and refused_lookup(self.model, key, request.user)
        ]
        if refused:
            # A clear refusal, never an answer: filtering by who someone is
            # would link an identity to what the viewer sees instead.
            return TemplateResponse(
                request,
                "admin/refused_lookup.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "This filter isn't available",
                    "opts": self.model._meta,
                    "refused": refused,
                    "changelist_url": request.path,
                },
                status=400,
            )
        return super().changelist_view(request, extra_context)

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
        readonly.extend(
            name for name in unviewable_relations(self, request) if name not in readonly
        )
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

    def save_formset(
        self, request: HttpRequest, form: Any, formset: Any, change: bool
    ) -> None:
        """Inline rows are governed too: saved with the form's reason."""
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
                services.save_governed(obj, actor=request.user, reason=reason)
            formset.save_m2m()

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
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        # Existence in scope only: the page masks and logs what it shows.
        obj = admin.ModelAdmin.get_object(self, request, unquote(object_id))
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404("No such record.")
        # Reclassifying a record upwards protects its past versions too.
        request._pgp_history_floor = int(getattr(obj, "classification", 0) or 0)  # type: ignore[attr-defined]
        return super().history_view(request, object_id, extra_context)

    def history_view_title(self, request: HttpRequest, obj: Any) -> Any:
        display.apply_masks_many([obj], request.user)  # the same obj is `object`
        mask_related([obj], request.user)  # its label can name related people
        return super().history_view_title(request, obj)

    def set_history_delta_changes(
        self,
        request: HttpRequest,
        historical_records: Any,
        foreign_keys_are_objs: bool = True,
    ) -> None:
        user = request.user
        floor = getattr(request, "_pgp_history_floor", 0)
        records = list(historical_records)
        read_restricted: set[str] = set()
        for record in records:
            display.apply_masks(record, user, log_restricted=False, floor=floor)
            masks = record.__dict__.get(display.MASKS_ATTR, {})
            for field in display.encrypted_fields(type(record)):
                if (
                    field.attname not in masks
                    and record.__dict__.get(field.attname) is not None
                    and display.level_of(record, field, floor) >= Sensitivity.RESTRICTED
                ):
                    read_restricted.add(field.name)
            mask_related([record], user)
            record.__dict__["history_object"] = _masked_history_object(
                record, user, floor
            )
        # Their labels can name related people: load those masked, one query
        # per relation for the page.
        mask_related([r.__dict__["history_object"] for r in records], user)
        super().set_history_delta_changes(
            request, historical_records, foreign_keys_are_objs
        )
        _add_masked_changes(records)
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


_CHANGELIST_PARAMS = frozenset(
    {
        main.ALL_VAR,
        main.ORDER_VAR,
        main.PAGE_VAR,
        main.SEARCH_VAR,
        main.ERROR_FLAG,
        main.IS_POPUP_VAR,
        main.TO_FIELD_VAR,
        main.IS_FACETS_VAR,
        "_changelist_filters",
    }
)


def refused_lookup(model: type[models.Model], lookup: str, user: Any) -> bool:
    """Whether ``user`` may not filter ``model`` by ``lookup`` from the query
    string: encrypted values can't be compared by anyone, and a pseudonymised
    viewer may not filter by what identifies a person or an account."""
    target = pseudonyms.lookup_target(model, lookup)
    if target is not None and target[1] in {
        f.name for f in display.encrypted_fields(target[0])
    }:
        return True
    return pseudonyms.sees_pseudonyms(user) and pseudonyms.is_identifying_lookup(
        model, lookup
    )


def _masking(formfield: Any, db_field: Any, request: HttpRequest) -> Any:
    if formfield is not None and display.encrypted_fields(db_field.related_model):
        formfield.label_from_instance = masked_label(request.user)
    return formfield


def unviewable_relations(model_admin: Any, request: HttpRequest) -> list[str]:
    """Relations to models the user may not view at all: their current value
    is shown read-only, and the form offers no rows of them to pick from."""
    names = []
    for field in model_admin.model._meta.get_fields():
        if not field.is_relation or field.auto_created or not field.editable:
            continue  # reverse relations, parent links, non-editable ids
        if not (field.concrete or field.many_to_many):
            continue
        related = field.related_model
        if related is None or related is model_admin.model:
            continue
        site = model_admin.admin_site
        if site.is_registered(related):
            allowed = site.get_model_admin(related).has_view_permission(request)
        else:
            allowed = permissions.has_model_perm(request.user, related, "view")
        if not allowed:
            names.append(field.name)
    return names


def _masked_history_object(record: Any, user: Any, floor: int) -> Any:
    """The record's version of the object, built from the stored (sealed)
    values and masked for ``user``: the history list shows ``str()`` of it."""
    model = record.instance_type
    values = {
        field.attname: record.__dict__[field.attname]
        for field in model._meta.concrete_fields
        if field.attname in record.__dict__
    }
    obj = model(**values)
    if "_pgp_deks" in record.__dict__:
        obj.__dict__["_pgp_deks"] = record.__dict__["_pgp_deks"]
    display.apply_masks(obj, user, log_restricted=False, floor=floor)
    return obj


def _add_masked_changes(records: list[Any]) -> None:
    """Say that a masked value changed between two versions, never what to.

    Masked values compare equal, so simple-history's diff leaves them out; the
    sealed tokens differ exactly when the value was changed.
    """
    for newer, older in itertools.pairwise(records):
        masks = {
            **older.__dict__.get(display.MASKS_ATTR, {}),
            **newer.__dict__.get(display.MASKS_ATTR, {}),
        }
        extra = []
        for field in display.encrypted_fields(type(newer)):
            if field.attname not in masks:
                continue
            if newer.__dict__.get(field.attname) != older.__dict__.get(field.attname):
                mask = str(masks[field.attname])
                extra.append(
                    {
                        "field": str(field.verbose_name).capitalize(),
                        "old": mask,
                        "new": mask,
                    }
                )
        if extra:
            newer.history_delta_changes = [
                *getattr(newer, "history_delta_changes", []),
                *extra,
            ]


class GovernedInline(admin.TabularInline):
    """Inline rows of a governed parent: scoped, masked, edited with a reason.

    Rows come from ``visible_to(user)`` like every other list; editing them
    needs the change permission on the parent object too.
    """

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        qs = super().get_queryset(request)
        manager = self.model._default_manager
        if hasattr(manager, "visible_to"):
            qs = qs.filter(pk__in=manager.visible_to(request.user, "view").values("pk"))
        if hasattr(qs, "relations_masked_for"):
            # Row labels name the related people: load them masked.
            people = [
                field.name
                for field in _forward_relations(self.model)
                if display.encrypted_fields(field.related_model)
            ]
            qs = qs.select_related(*people).relations_masked_for(request.user)
        return qs

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        related = db_field.related_model._default_manager
        if "queryset" not in kwargs and hasattr(related, "visible_to"):
            kwargs["queryset"] = related.visible_to(request.user, "view")
        return _masking(
            super().formfield_for_foreignkey(db_field, request, **kwargs),
            db_field,
            request,
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly + [
            n for n in unviewable_relations(self, request) if n not in readonly
        ]

    def _parent_allows(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or permissions.can(request.user, "change", obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_add_permission(request, obj) and self._parent_allows(
            request, obj
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._parent_allows(
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._parent_allows(
            request, obj
        )


class ReadOnlyGovernedAdmin(GovernedModelAdmin):
    """For records only services write (audit events, key metadata)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
