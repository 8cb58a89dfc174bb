from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "pdva.exports"
    label = "exports"
