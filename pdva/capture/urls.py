from django.urls import path

from pdva.capture.views import cases, governance, patients, queries, records, removal, worklists

app_name = "capture"
urlpatterns = [
    path("", patients.patient_list, name="patients"),
    path("register/", patients.register, name="register"),
    path("patients/<uuid:uuid>/", patients.patient_detail, name="patient"),
    path("case/<uuid:uuid>/", cases.case, name="case"),
    path("case/<uuid:uuid>/sign/", cases.case_sign, name="sign"),
    path("case/<uuid:uuid>/unlock/", cases.case_unlock, name="unlock"),
    path("stage/", records.stage_preview, name="stage"),
    path("worklist/", worklists.worklist, name="worklist"),
    path("queries/", queries.query_list, name="queries"),
    path("queries/<int:pk>/", queries.query_detail, name="query"),
    path("governance/", governance.governance, name="governance"),
    path("governance/<int:site_id>/", governance.governance_edit, name="governance_edit"),
    path("governance/<int:site_id>/operators/new/", governance.operator_new, name="operator_new"),
    path("operators/<int:pk>/", governance.operator_edit, name="operator_edit"),
    path("<slug:kind>/new/<uuid:parent>/", records.record_new, name="record_new"),
    path("<slug:kind>/<uuid:uuid>/", records.record, name="record"),
    path("<slug:kind>/<uuid:uuid>/history/", records.record_history, name="history"),
    path("<slug:kind>/<uuid:uuid>/query/", queries.query_new, name="query_new"),
    path("<slug:kind>/<uuid:uuid>/remove/", removal.record_remove, name="remove"),
]
