from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "pdva.reports"
    label = "reports"
