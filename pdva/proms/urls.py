from django.urls import path

from pdva.proms import views

app_name = "proms"
urlpatterns = [
    path("", views.index, name="index"),
    path("links/<int:pk>/", views.link_detail, name="link_detail"),
    path("links/<int:pk>/<str:action>/", views.link_action, name="link_action"),
    path("reports/", views.reports, name="reports"),
    path("labels/", views.labels, name="labels"),
    path("p/<str:token>/", views.patient_form, name="patient_form"),
]
