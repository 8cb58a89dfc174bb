from django.urls import path

from pdva.followup import views

app_name = "followup"
urlpatterns = [
    path("", views.worklist, name="worklist"),
    path("compliance/", views.compliance, name="compliance"),
    path("digests/", views.digests, name="digests"),
    path("linkage/", views.linkage_index, name="linkage"),
    path("linkage/<int:pk>/", views.linkage_batch, name="linkage_batch"),
    path("linkage/proposals/<int:pk>/<str:decision>/", views.linkage_decide, name="linkage_decide"),
    path("ascertainment/", views.ascertainment_index, name="ascertainment"),
    path("ascertainment/<int:pk>/", views.ascertainment_upload, name="ascertainment_upload"),
]
