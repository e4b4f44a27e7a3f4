from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """Makes the portal's branded site the default ``admin.site``."""

    default_site = "portal.admin.PortalAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscovers every app's admin module
        from allauth.mfa.models import Authenticator
        from allauth.socialaccount.models import SocialApp, SocialToken
        from django.contrib import admin

        # Secrets have no business in an admin page: TOTP seeds and recovery
        # codes belong to their owner (managed in /accounts/2fa/), OAuth tokens
        # to the provider session, and SSO client credentials come from the
        # environment (OIDC_*), so none of them is exposed here.
        for model in (Authenticator, SocialApp, SocialToken):
            if admin.site.is_registered(model):
                admin.site.unregister(model)
