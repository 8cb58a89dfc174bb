"""Included at /api/ without a namespace, so django-ninja can reverse its own root ("pdva-api-v1")."""

from django.urls import path

from pdva.api import views
from pdva.api.api import api

urlpatterns = [
    path("v1/", api.urls),
    path("tokens/", views.tokens, name="api_tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke, name="api_token_revoke"),
]
