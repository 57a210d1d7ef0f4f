"""The applications API: programs, submissions, a submission's PDF and a program's summary table.

- `GET /api/v1/programs/`, `GET /api/v1/programs/{code}/`: programs are public government data,
  read by any authenticated caller (an API client needs `programs:read`).
- `GET /api/v1/submissions/`, `GET /api/v1/submissions/{id}/`: the submissions of
  `portal.access.visible_submissions` (drafts only to their own enterprise's users; officials and
  API clients the filed ones in their reach; a program-reach client only its program). Anything
  else answers 404, exactly like an id no row has.
- Each submission answers `available_actions`: the workflow transitions the caller may take now
  (reviews.services.available_transitions; on the list without checking guards, which may
  re-measure the whole application: reviews/actions.py). To reviewers within reach (the workflow
  actors first_reviewer, provincial, expert / lead_expert and platform_admin of that submission)
  also `assignments` and `combined_score`; to the applicant and to API clients these are null.
  API clients are no workflow actor (portal.access.workflow_actors): they get no actions and no
  review details, whatever their scope.
- `POST /api/v1/submissions/{id}/actions/` `{"action", "reason", "deadline"}` takes a transition
  through reviews.services.transition_perform, the service the admin uses. Answers: 200 with the
  new state and the activity row; 404 out of reach (like a missing id); 403 when the caller takes
  no step of this submission's workflow at all (checked before the body is read, so a reader
  learns nothing from it), when the action is not theirs, and to every API client; 400 for an
  invalid body, an unknown action, a missing reason or deadline, a deadline not after today or a
  guard that does not hold (`error.fields`: the body's fields, `action` for an unknown action,
  `non_field_errors` for what the service said); 409 when the action is not possible from the
  current state (another reviewer moved it first). Nothing changes on any refusal.
- `GET /api/v1/submissions/{id}/activity/`: the submission's transitions, oldest first.
- `GET /api/v1/submissions/{id}/pdf/`: the application as PDF (applications.documents.pdf).
- `GET /api/v1/programs/{code}/summary-table/`: the program's summary table as .xlsx
  (applications.documents.excel) over the filed submissions in the caller's reach.

The two file endpoints answer their file whatever the Accept header says (a download must not
fail on content negotiation); their errors are the API's one JSON shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import django_filters
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.api.serializers import (
    ActionRequestSerializer,
    ActionResultSerializer,
    ActivitySerializer,
    ProgramDetailSerializer,
    ProgramSerializer,
    SubmissionDetailSerializer,
    SubmissionSerializer,
)
from applications.documents.excel import summary_table_xlsx
from applications.documents.pdf import submission_pdf
from applications.models import Program, Submission, SubmissionFiling, SubmissionState
from applications.selectors import submission_definition
from portal.access import get_submission_for_user, visible_submissions
from portal.api.clients import ApiClientScope
from portal.api.pagination import BoundedLimitOffsetPagination
from portal.api.permissions import IsActiveUser
from portal.api.views import EdgeReachCheckMixin, EnterpriseInReachFilter, TenantViewSetMixin
from portal.models import ApiScope
from reviews.actions import actions_for, page_review
from reviews.selectors import activity_of
from reviews.services import TransitionRefused, transition_perform

PDF_TYPE = "application/pdf"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NOT_FOUND = OpenApiResponse(description="no such row, or out of the caller's reach (answered alike)")


# --- programs ---------------------------------------------------------------------------------

class ProgramFilter(django_filters.FilterSet):
    region = django_filters.CharFilter(field_name="region__code",
                                       help_text=_("所属省市的行政区划代码，例如 310000。"))
    is_active = django_filters.BooleanFilter(help_text=_("是否开放申报。"))

    class Meta:
        model = Program
        fields = ["region", "is_active"]


@extend_schema_view(
    list=extend_schema(summary="Programs (申报项目)", description=(
        "Every program, open or not: public government data. `version` is the current definition "
        "version; a filed submission names its own in `definition_version`.")),
    retrieve=extend_schema(summary="One program, with its current definition",
                           responses={200: ProgramDetailSerializer, 404: NOT_FOUND}),
)
class ProgramViewSet(EdgeReachCheckMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsActiveUser, ApiClientScope]
    api_client_scope = ApiScope.PROGRAMS_READ
    pagination_class = BoundedLimitOffsetPagination
    filterset_class = ProgramFilter
    lookup_field = "code"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def get_queryset(self) -> QuerySet[Program]:
        return Program.objects.select_related("region__parent__parent").order_by("code")

    def get_serializer_class(self) -> Any:
        return ProgramDetailSerializer if self.action == "retrieve" else ProgramSerializer


# --- submissions ------------------------------------------------------------------------------

class SubmissionFilter(django_filters.FilterSet):
    program = django_filters.CharFilter(field_name="program__code", help_text=_("申报项目代码。"))
    state = django_filters.ChoiceFilter(choices=SubmissionState.choices)
    # Out of reach answers 404, exactly like an unknown id (portal.api.views.EnterpriseInReachFilter).
    enterprise = EnterpriseInReachFilter()

    class Meta:
        model = Submission
        fields = ["program", "state", "enterprise"]


@extend_schema_view(
    list=extend_schema(summary="Submissions (申报) in the caller's reach", description=(
        "Enterprise users see their own enterprise's, drafts included; officials and API clients the "
        "filed ones of enterprises in their reach (a program-reach client: that program's only).")),
    retrieve=extend_schema(
        summary="One submission, with its form values and frozen evidence",
        responses={200: SubmissionDetailSerializer, 404: NOT_FOUND},
        description=(
            "`data`: the cleaned values of the latest filing (a draft: its values as checked now). "
            "`evidence`: the figures measured from the enterprise's meters and frozen when it was "
            "filed; later meter data does not change them."),
    ),
)
class SubmissionViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    model = Submission
    reach_path = "enterprise"
    api_client_scope = ApiScope.SUBMISSIONS_READ
    filterset_class = SubmissionFilter
    lookup_value_regex = "[0-9]+"

    def base_queryset(self) -> QuerySet[Submission]:
        queryset = (visible_submissions(self.request.user)
                    .select_related("program", "program_version", "enterprise"))
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(Prefetch("filings", queryset=SubmissionFiling.objects.all()))
        elif self.action == "list":
            # A definition weighs tens of kilobytes of JSON: a page reads each version's once
            # (reviews.actions.page_review), not one per row; the list shows no form data.
            queryset = queryset.defer("data", "program__definition", "program_version__definition")
        return queryset.order_by("-updated_at", "-id")

    def get_serializer_class(self) -> Any:
        if self.action == "activity":
            return ActivitySerializer
        if self.action == "take_action":
            return ActionRequestSerializer
        return SubmissionDetailSerializer if self.action == "retrieve" else SubmissionSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = list(page if page is not None else queryset)
        # The caller's actions and what reviewers see, for the whole page at once (reviews/actions.py).
        context = {**self.get_serializer_context(), "review": page_review(request.user, rows)}
        data = SubmissionSerializer(rows, many=True, context=context).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        submission = self.get_object()
        context = {**self.get_serializer_context(),
                   "review": page_review(request.user, [submission], check_guards=True)}
        return Response(SubmissionDetailSerializer(submission, context=context).data)

    @extend_schema(
        summary="The submission's activity: every transition, oldest first",
        responses={200: ActivitySerializer(many=True), 404: NOT_FOUND},
        description="`when` in +08:00; `who` the actor's name as it was; `from`/`to` states; the "
                    "reason and, for a return, the deadline for additions.")
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def activity(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        submission = self.get_object()
        return Response(ActivitySerializer(activity_of(submission), many=True).data)

    @extend_schema(
        summary="Take a workflow action on the submission (the admin's service)",
        request=ActionRequestSerializer,
        responses={
            200: ActionResultSerializer,
            400: OpenApiResponse(description=(
                "invalid body, unknown action, reason or deadline missing, deadline not after today, "
                "or a guard that does not hold; error.fields says which")),
            403: OpenApiResponse(description=(
                "the caller takes no step of this workflow, or not this one; API clients never act")),
            404: NOT_FOUND,
            409: OpenApiResponse(description="the action is not possible from the current state"),
        },
        description="`action`: one of the submission's `available_actions`; `reason` where it "
                    "`needs_reason`; `deadline` (YYYY-MM-DD, after today) where it `needs_deadline`. "
                    "Nothing changes when it is refused.")
    @action(detail=True, methods=["post"], url_path="actions", url_name="actions", pagination_class=None,
            filterset_class=None)
    def take_action(self, request: Request, pk: str | None = None, *args: Any, **kwargs: Any) -> Response:
        # Read reach: officials change no enterprise data, their steps go through the service.
        submission = get_submission_for_user(request.user, pk)
        if not actions_for(request.user, submission, check_guards=False).actors:
            raise exceptions.PermissionDenied(_("您不能对该申报执行流程操作。"))
        body = ActionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        name = body.validated_data["action"]
        try:
            activity = transition_perform(submission=submission, action=name, actor=request.user,
                                          reason=body.validated_data["reason"],
                                          deadline=body.validated_data["deadline"])
        except TransitionRefused as refused:
            raise refusal(submission, name, refused) from None
        submission.refresh_from_db()
        return Response(ActionResultSerializer({
            "id": submission.pk, "state": submission.state, "state_label": submission.get_state_display(),
            "additions_due": submission.additions_due, "activity": activity,
            "available_actions": actions_for(request.user, submission).transitions}).data)


class StateConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def refusal(submission: Submission, action_name: str, refused: TransitionRefused) -> exceptions.APIException:
    """The API answer to a refused transition (module docstring): 403, 409 or 400."""
    message = "；".join(refused.problems)
    if refused.forbidden:
        return exceptions.PermissionDenied(message)
    workflow = submission_definition(submission).workflow
    transition = workflow.transition(action_name) if workflow is not None else None
    if transition is None:
        return exceptions.ValidationError({"action": refused.problems})
    if submission.state not in transition.sources:
        return StateConflict(message)
    return exceptions.ValidationError({"non_field_errors": refused.problems})


# --- the file endpoints -----------------------------------------------------------------------

class FileRenderer(BaseRenderer):
    """Names a file endpoint's own media type, so `Accept: application/pdf` is understood. The file
    itself is answered as an HttpResponse; what this renders is only an error, as JSON text
    (ApiErrorShapeMiddleware gives it the JSON content type of every API error)."""

    charset = None
    render_style = "binary"

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: Mapping[str, Any] | None = None) -> bytes:
        if isinstance(data, bytes):
            return data
        return json.dumps(data, ensure_ascii=False).encode("utf-8")


class PdfRenderer(FileRenderer):
    media_type = PDF_TYPE
    format = "pdf"


class XlsxRenderer(FileRenderer):
    media_type = XLSX_TYPE
    format = "xlsx"


class FileEndpoint(EdgeReachCheckMixin, APIView):
    """Base of the file endpoints: reads only, errors in JSON, the file whatever Accept says."""

    permission_classes = [IsActiveUser, ApiClientScope]
    api_client_scope: str | None = ApiScope.SUBMISSIONS_READ

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # An Accept the endpoint cannot honour still gets the file (errors: the first, JSON).
        return super().perform_content_negotiation(request, force=True)

    @staticmethod
    def file_response(content: bytes, content_type: str, filename: str) -> HttpResponse:
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = content_disposition_header(True, filename)
        response["Content-Length"] = str(len(content))
        return response


@extend_schema(
    summary="The submission as PDF",
    responses={(200, PDF_TYPE): OpenApiResponse(OpenApiTypes.BINARY,
                                                description="the application, as printed"),
               (404, "application/json"): NOT_FOUND},
)
class SubmissionPdfView(FileEndpoint):
    renderer_classes = [JSONRenderer, PdfRenderer]

    def get(self, request: Request, pk: int, *args: Any, **kwargs: Any) -> HttpResponse:
        submission = get_submission_for_user(request.user, pk)  # 404 alike for missing and out of reach
        return self.file_response(submission_pdf(submission), PDF_TYPE, f"submission-{submission.pk}.pdf")


@extend_schema(
    summary="The program's summary table (.xlsx) over the filed submissions in the caller's reach",
    responses={(200, XLSX_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description=(
                   "one row per filed submission the caller may read, in the program's summary-table "
                   "columns (Henan 2023: 附件2)")),
               (404, "application/json"): OpenApiResponse(description="no such program")},
)
class ProgramSummaryTableView(FileEndpoint):
    renderer_classes = [JSONRenderer, XlsxRenderer]

    def get(self, request: Request, code: str, *args: Any, **kwargs: Any) -> HttpResponse:
        program = get_object_or_404(Program.objects.select_related("region"), code=code)
        submissions = (visible_submissions(request.user).filter(program=program)
                       .exclude(state=SubmissionState.DRAFT)
                       .select_related("program", "program_version", "enterprise__region")
                       .order_by("submitted_at", "id"))
        return self.file_response(summary_table_xlsx(program, submissions), XLSX_TYPE,
                                  f"{program.code}-summary-table.xlsx")

