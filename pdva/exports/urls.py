from django.urls import path

from pdva.exports import views

app_name = "exports"
urlpatterns = [path("", views.index, name="index")]
