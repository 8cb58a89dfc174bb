from django.apps import AppConfig


class PromsConfig(AppConfig):
    name = "pdva.proms"
    label = "proms"
