from django.urls import path

from pdva.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("two-factor/", views.two_factor, name="two_factor"),
    path("two-factor/replace/", views.replace_authenticator, name="replace_authenticator"),
    path("activate/", views.activate, name="activate"),
    path("activate/<str:code>/", views.activate, name="activate_link"),
    path("recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("role-grants/<int:pk>/acknowledge/", views.acknowledge_grant, name="acknowledge_grant"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
