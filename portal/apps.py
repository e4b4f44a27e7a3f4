from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """Makes the portal's branded site the default ``admin.site``."""

    default_site = "portal.admin.PortalAdminSite"
