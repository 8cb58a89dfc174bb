from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "pdva.jobs"
    label = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from pdva.jobs import kinds  # noqa: F401 - registers the kinds in pdva/jobs/kinds/

        autodiscover_modules("jobs")  # an app's own jobs.py may register more kinds
        self._hide_queue_admin_without_postgresql()

    @staticmethod
    def _hide_queue_admin_without_postgresql() -> None:
        # procrastinate's admin pages read its PostgreSQL tables, which SQLite does not have.
        from django.conf import settings
        from django.contrib import admin

        if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
            return
        for model in list(admin.site._registry):
            if model._meta.app_label == "procrastinate":
                admin.site.unregister(model)
