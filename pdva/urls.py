from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

admin.site.site_header = "pDVA Registry administration"

urlpatterns = [
    path("accounts/", include("pdva.accounts.urls")),
    path("admin/", admin.site.urls),
    path("cases/", include("pdva.capture.urls")),
    path("followup/", include("pdva.followup.urls")),
    path("prom/", include("pdva.proms.urls")),
    path("reports/", include("pdva.reports.urls")),
    path("exports/", include("pdva.exports.urls")),
    path("api/", include("pdva.api.urls")),
    path("healthz", lambda request: HttpResponse("ok", content_type="text/plain")),
    path("", include("pdva.web.urls")),
]
