from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "pdva.web"
    label = "web"
    verbose_name = "Web pages"
