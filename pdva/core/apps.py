from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "pdva.core"
    label = "core"
    verbose_name = "pDVA core"
