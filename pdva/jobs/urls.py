from django.urls import path

from pdva.jobs import views

app_name = "jobs"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/download/", views.download, name="download"),
]
