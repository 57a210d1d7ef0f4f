"""The applicant's pages: 我的申报, 新建申报, the form section by section, 附件, 资格与提交, and the
filed application (applications/views.py)."""

from django.urls import URLPattern, path

from applications import views

urlpatterns: list[URLPattern] = [
    path("", views.submission_list, name="submission_list"),
    path("new/", views.submission_new, name="submission_new"),
    path("<int:submission_id>/", views.submission_detail, name="submission_detail"),
    path("<int:submission_id>/sections/<slug:section>/", views.submission_section, name="submission_section"),
    path("<int:submission_id>/attachments/", views.submission_attachments, name="submission_attachments"),
    path("<int:submission_id>/submit/", views.submission_submit, name="submission_submit"),
]
