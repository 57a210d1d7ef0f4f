from django.urls import path

from portal.views import auth, pages

app_name = "portal"

urlpatterns = [
    path("", pages.home, name="home"),
    path("accounts/", pages.account, name="account"),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/register/", pages.register, name="register"),
    path("accounts/register/done/", pages.register_done, name="register_done"),
    path("accounts/2fa/setup/", auth.otp_setup, name="otp_setup"),
    path("accounts/2fa/verify/", auth.otp_verify, name="otp_verify"),
    path("enterprises/", pages.enterprise_list, name="enterprise_list"),
    path("enterprises/<int:enterprise_id>/", pages.enterprise_detail, name="enterprise_detail"),
    path("enterprises/<int:enterprise_id>/edit/", pages.enterprise_edit, name="enterprise_edit"),
    path("enterprises/<int:enterprise_id>/approve/", pages.enterprise_approve, name="enterprise_approve"),
    path("enterprises/<int:enterprise_id>/reject/", pages.enterprise_reject, name="enterprise_reject"),
    path("enterprises/<int:enterprise_id>/resubmit/", pages.enterprise_resubmit, name="enterprise_resubmit"),
    path("enterprises/<int:enterprise_id>/suspend/", pages.enterprise_suspend, name="enterprise_suspend"),
    path("enterprises/<int:enterprise_id>/reactivate/", pages.enterprise_reactivate,
         name="enterprise_reactivate"),
    path("enterprises/<int:enterprise_id>/users/", pages.enterprise_users, name="enterprise_users"),
    path("audit/", pages.audit_list, name="audit_list"),
    path("audit/export.csv", pages.audit_export, name="audit_export"),
]
