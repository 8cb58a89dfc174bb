from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "pdva.api"
    label = "api"
