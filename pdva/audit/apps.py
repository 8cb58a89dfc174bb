from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "pdva.audit"
    label = "audit"
    verbose_name = "Audit trail"
