from django.urls import path

from appeals import views

app_name = "appeals"

urlpatterns = [
    path("new/", views.new, name="new"),
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/evidence/", views.add_evidence, name="add_evidence"),
    path("<uuid:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("<uuid:pk>/reopen/", views.reopen, name="reopen"),
    path("<uuid:pk>/decision/", views.decision, name="decision"),
    path("<uuid:pk>/letter.pdf", views.letter, name="letter"),
    path("evidence/<uuid:pk>/", views.download_evidence, name="evidence"),
]
