from django.urls import path
from rest_framework.routers import SimpleRouter

from applications.api.views import (
    ProgramSummaryTableView,
    ProgramViewSet,
    SubmissionPdfView,
    SubmissionViewSet,
)

# Programs and submissions under /api/v1/. URL names: program-list, program-detail,
# program-summary-table, submission-list, submission-detail, submission-actions (POST),
# submission-activity, submission-pdf.
router = SimpleRouter()
router.register("programs", ProgramViewSet, basename="program")
router.register("submissions", SubmissionViewSet, basename="submission")

urlpatterns = [
    *router.urls,
    path("programs/<slug:code>/summary-table/", ProgramSummaryTableView.as_view(),
         name="program-summary-table"),
    path("submissions/<int:pk>/pdf/", SubmissionPdfView.as_view(), name="submission-pdf"),
]
