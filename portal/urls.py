from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.generic import RedirectView

# /admin/login/ goes through allauth: MFA, rate limits and SSO apply there too.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]


_FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#1f4e79"/>'
    '<path d="M4 11V5h3.5a2 2 0 0 1 0 4H4" fill="none" stroke="#fff" stroke-width="1.6"/>'
    "</svg>"
)


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every page, the admin's included."""
    return HttpResponse(_FAVICON, content_type="image/svg+xml")


def handler429(request: HttpRequest) -> HttpResponse:
    """allauth's rate limits answer with this page (status 429)."""
    return render(request, "account/rate_limited.html", status=429)


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="selfservice:home", permanent=False)),
    path("favicon.ico", favicon),
    path("healthz", lambda request: HttpResponse("ok", content_type="text/plain")),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("me/appeals/", include("appeals.urls")),
    path("me/", include("governance.urls")),
    path("api/v1/", include("metrics.api.urls")),
]
