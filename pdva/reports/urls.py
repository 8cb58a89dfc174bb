from django.urls import path

from pdva.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.index, name="index"),
    path("methods/", views.sap, name="sap"),
    path("site/<int:site_id>/", views.dashboard, name="dashboard"),
    path("site/<int:site_id>/governance.pdf", views.governance_pdf, name="governance_pdf"),
    path("site/<int:site_id>/send/", views.governance_send, name="governance_send"),
    path("site/<int:site_id>/workbook.xlsx", views.workbook, name="workbook"),
    path("site/<int:site_id>/decision-aid.pdf", views.decision_aid_pdf, name="decision_aid"),
    path("operator/<int:operator_id>/appraisal.pdf", views.appraisal_pdf, name="appraisal_pdf"),
    path("national/", views.national, name="national"),
    path("national/report.pdf", views.national_pdf, name="national_pdf"),
]
