from django.contrib import admin
from django.urls import include, path

from pdva.core import health

admin.site.site_header = "pDVA Registry administration"
handler500 = "pdva.core.errors.server_error"

urlpatterns = [
    path("accounts/", include("pdva.accounts.urls")),
    path("admin/", admin.site.urls),
    path("cases/", include("pdva.capture.urls")),
    path("followup/", include("pdva.followup.urls")),
    path("prom/", include("pdva.proms.urls")),
    path("reports/", include("pdva.reports.urls")),
    path("exports/", include("pdva.exports.urls")),
    path("api/", include("pdva.api.urls")),
    path("jobs/", include("pdva.jobs.urls")),
    path("audit/", include("pdva.audit.urls")),
    # Answered first by pdva.core.health.HealthProbeMiddleware; routed too, so they can be reversed.
    path("health/live", health.live, name="health_live"),
    path("health/ready", health.ready, name="health_ready"),
    path("healthz", health.live),  # the old address
    path("", include("pdva.web.urls")),
]
