"""Attachment routes, under /applications/ in the "applications" namespace.

Kind keys start with a letter (definitions.KEY_PATTERN), attachment ids are numbers, so the
upload route and the download route never take each other's addresses."""

from django.urls import URLPattern, path, re_path

from applications import attachment_views

urlpatterns: list[URLPattern] = [
    path("<int:submission_id>/attachments/<int:attachment_id>/",
         attachment_views.attachment_download, name="attachment_download"),
    path("<int:submission_id>/attachments/<int:attachment_id>/thumbnail/",
         attachment_views.attachment_thumbnail, name="attachment_thumbnail"),
    path("<int:submission_id>/attachments/<int:attachment_id>/delete/",
         attachment_views.attachment_delete, name="attachment_delete"),
    re_path(r"^(?P<submission_id>[0-9]+)/attachments/(?P<kind>[a-z][a-z0-9_]*)/$",
            attachment_views.attachment_upload, name="attachment_upload"),
]
