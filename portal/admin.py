"""The branded admin site. Apps register on ``admin.site``; this is it."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.urls import NoReverseMatch, get_resolver, get_script_prefix, get_urlconf
from django.urls import reverse as _reverse
from django.utils.functional import LazyObject, empty
from django.utils.text import capfirst
from django.utils.translation import get_language

_URLS_ATTR = "_portal_admin_urls"


class PortalAdminSite(admin.AdminSite):
    site_header = "Performance Governance Portal"
    site_title = "Governance Portal"
    index_title = "Governance workspace"
    enable_nav_sidebar = True

    def each_context(self, request):  # type: ignore[no-untyped-def]
        context = super().each_context(request)
        context["portal_name"] = settings.PORTAL_NAME
        return context

    def admin_view(self, view, cacheable=False):  # type: ignore[no-untyped-def]
        """Admin views get the signed-in user itself as ``request.user``.

        The authentication middleware sets ``request.user`` to a lazy proxy;
        an admin page reads it a few thousand times (every ``has_*_permission``
        of every model in the sidebar, scoping and clearance checks per row),
        each read a detour through the proxy. The proxy is resolved by the
        site's own ``has_permission`` check before the view runs; the view then
        gets the object the proxy stands for, which answers every question the
        same way.
        """

        @wraps(view)
        def with_user(request, *args, **kwargs):  # type: ignore[no-untyped-def]
            request.user = resolved_user(request.user)
            return view(request, *args, **kwargs)

        return super().admin_view(with_user, cacheable)

    def _build_app_dict(
        self, request: HttpRequest, label: str | None = None
    ) -> dict[str, Any]:
        """Django's ``AdminSite._build_app_dict``, with the same permission
        hooks called for every model (``has_module_permission``,
        ``get_model_perms``) and the same result, but the admin URLs reversed
        once per URL configuration instead of twice per model on every page
        (the navigation sidebar builds this list on each admin page), and the
        names as plain strings (sorting lazy names casts them at every
        comparison). ``portal/tests/test_app_list.py`` compares the result
        with Django's for every role."""
        reverse = _url_reverser(self.name)
        app_dict: dict[str, Any] = {}
        for model, model_admin in self._registry.items():
            app_label = model._meta.app_label
            if label and app_label != label:
                continue
            has_module_perms = model_admin.has_module_permission(request)
            if not has_module_perms:
                continue
            perms = model_admin.get_model_perms(request)
            if True not in perms.values():
                continue
            name = f"admin:{app_label}_{model._meta.model_name}"
            model_dict: dict[str, Any] = {
                "model": model,
                "name": str(capfirst(model._meta.verbose_name_plural)),
                "object_name": model._meta.object_name,
                "perms": perms,
                "admin_url": None,
                "add_url": None,
            }
            if perms.get("change") or perms.get("view"):
                model_dict["view_only"] = not perms.get("change")
                model_dict["admin_url"] = reverse(f"{name}_changelist")
            if perms.get("add"):
                model_dict["add_url"] = reverse(f"{name}_add")
            if app_label in app_dict:
                app_dict[app_label]["models"].append(model_dict)
            else:
                app_dict[app_label] = {
                    "name": str(apps.get_app_config(app_label).verbose_name),
                    "app_label": app_label,
                    "app_url": reverse("admin:app_list", app_label),
                    "has_module_perms": has_module_perms,
                    "models": [model_dict],
                }
        return app_dict


def resolved_user(user: Any) -> Any:
    """The object a lazy ``request.user`` stands for (loaded if need be)."""
    if isinstance(user, LazyObject):
        wrapped = getattr(user, "_wrapped", None)
        if wrapped is empty:
            user.pk  # noqa: B018 - loads it
            wrapped = getattr(user, "_wrapped", None)
        if wrapped is not None and wrapped is not empty:
            return wrapped
    return user


def _url_reverser(current_app: str) -> Any:
    """``reverse(name, current_app=...)`` remembered on the URL resolver, so
    the memo lives exactly as long as Django's own resolver cache (a changed
    URL configuration or ``clear_url_caches()`` starts afresh). Keyed by the
    script prefix and language too: everything a reversed URL depends on."""
    resolver = get_resolver(get_urlconf())
    memo = resolver.__dict__.setdefault(_URLS_ATTR, {})
    prefix, language = get_script_prefix(), get_language()

    def reverse(viewname: str, app_label: str | None = None) -> str | None:
        key = (viewname, app_label, current_app, prefix, language)
        try:
            return memo[key]
        except KeyError:
            pass
        kwargs = {"app_label": app_label} if app_label is not None else None
        try:
            url = _reverse(viewname, kwargs=kwargs, current_app=current_app)
        except NoReverseMatch:
            if app_label is not None:
                raise  # Django doesn't catch it for the app's own page either
            url = None
        memo[key] = url
        return url

    return reverse
