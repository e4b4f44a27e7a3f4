from django.urls import path

from governance import views, views_consent

app_name = "selfservice"

urlpatterns = [
    path("", views.home, name="home"),
    path("consent/", views_consent.consent_action, name="consent"),
]
