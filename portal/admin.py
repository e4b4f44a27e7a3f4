"""The branded admin site. Apps register on ``admin.site``; this is it."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin


class PortalAdminSite(admin.AdminSite):
    site_header = "Performance Governance Portal"
    site_title = "Governance Portal"
    index_title = "Governance workspace"
    enable_nav_sidebar = True

    def each_context(self, request):  # type: ignore[no-untyped-def]
        context = super().each_context(request)
        context["portal_name"] = settings.PORTAL_NAME
        return context
