from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "pdva.capture"
    label = "capture"
