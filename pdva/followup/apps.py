from django.apps import AppConfig


class FollowupConfig(AppConfig):
    name = "pdva.followup"
    label = "followup"

    def ready(self) -> None:
        from pdva.followup import signals  # noqa: F401  (stored statuses follow the saves that change them)
