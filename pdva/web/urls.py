from django.urls import path

from pdva.web import views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
]
