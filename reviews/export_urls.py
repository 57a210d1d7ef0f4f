"""Review export downloads, under the reviews namespace (reviews/urls.py, mounted at /reviews/)."""

from django.urls import path

from reviews import export_views as views

urlpatterns = [
    path("submissions/<int:submission_id>/sheets/<int:sheet_id>.xlsx", views.sheet_xlsx,
         name="export_sheet_xlsx"),
    path("submissions/<int:submission_id>/sheets/<int:sheet_id>.pdf", views.sheet_pdf,
         name="export_sheet_pdf"),
    path("submissions/<int:submission_id>/scores.xlsx", views.scores_xlsx, name="export_scores_xlsx"),
    path("submissions/<int:submission_id>/scores.pdf", views.scores_pdf, name="export_scores_pdf"),
    path("submissions/<int:submission_id>/onsite-check.pdf", views.onsite_check_pdf,
         name="export_onsite_check_pdf"),
    path("programs/<slug:code>/results.xlsx", views.results_xlsx, name="export_results_xlsx"),
]
