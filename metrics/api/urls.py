"""``/api/v1/``: mounted by the portal's URLconf."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authentication import SessionAuthentication

from metrics.api import views
from metrics.api.authentication import ApiTokenAuthentication
from metrics.api.permissions import IsApiTokenOrStaffSession

app_name = "api"

urlpatterns = [
    path(
        "observations/batch",
        views.ObservationBatchView.as_view(),
        name="observation-batch",
    ),
    path("observations/", views.ObservationListView.as_view(), name="observation-list"),
    path("metrics/", views.MetricListView.as_view(), name="metric-list"),
    path("metrics/<str:key>/", views.MetricDetailView.as_view(), name="metric-detail"),
    # The OpenAPI document (no Swagger UI: it needs inline scripts or a CDN,
    # both outside the portal's Content-Security-Policy).
    path(
        "schema/",
        SpectacularAPIView.as_view(
            authentication_classes=[ApiTokenAuthentication, SessionAuthentication],
            permission_classes=[IsApiTokenOrStaffSession],
        ),
        name="schema",
    ),
]
