from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "pdva.registry"
    label = "registry"
    verbose_name = "Clinical registry"
