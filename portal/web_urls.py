from django.urls import path

from portal.views import auth, pages

app_name = "portal"

urlpatterns = [
    path("", pages.home, name="home"),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
    path("accounts/register/", pages.register, name="register"),
    path("accounts/2fa/setup/", pages.otp_setup, name="otp_setup"),
    path("accounts/2fa/verify/", pages.otp_verify, name="otp_verify"),
]
