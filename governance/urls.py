from django.urls import path

from governance import views, views_consent, views_subject

app_name = "selfservice"

urlpatterns = [
    path("", views.home, name="home"),
    path("consent/", views_consent.consent_action, name="consent"),
    path("data.json", views_subject.my_data_json, name="my_data_json"),
    path("data.pdf", views_subject.my_data_pdf, name="my_data_pdf"),
]
