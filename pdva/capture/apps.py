from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "pdva.capture"
    label = "capture"

    def ready(self) -> None:
        from pdva.capture import signals  # noqa: F401  (stored completeness follows the saves that change it)
