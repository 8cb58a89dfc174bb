from django.urls import path

from pdva.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.trail_page, name="trail"),
    path("export.csv", views.trail_export, name="trail_export"),
    path("verify/", views.verify_now, name="verify_now"),
]
