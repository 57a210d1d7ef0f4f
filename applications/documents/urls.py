"""Document downloads, under the applications namespace (mounted at /applications/)."""

from django.urls import path

from applications.documents import views

urlpatterns = [
    path("<int:submission_id>/pdf/", views.submission_pdf_view, name="submission_pdf"),
    path("programs/<slug:code>/summary-table.xlsx", views.program_summary_table,
         name="program_summary_table"),
    path("programs/<slug:code>/submissions.xlsx", views.program_submission_list,
         name="program_submission_list"),
]
