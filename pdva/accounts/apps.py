from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "pdva.accounts"
    label = "accounts"
    verbose_name = "Users, roles and site access"
