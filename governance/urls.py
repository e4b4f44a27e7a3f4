from django.urls import path

from governance import views

app_name = "selfservice"

urlpatterns = [
    path("", views.home, name="home"),
]
