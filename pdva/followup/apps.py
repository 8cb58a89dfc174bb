from django.apps import AppConfig


class FollowupConfig(AppConfig):
    name = "pdva.followup"
    label = "followup"
