from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "pdva.accounts"
    label = "accounts"
    verbose_name = "Users, roles and site access"

    def ready(self) -> None:
        from pdva.accounts import signals

        signals.connect_membership_signals()
