"""The indicators API: `GET /api/v1/enterprises/{id}/indicators/?start=&end=`, the figures of
metering/monitoring/indicators.py for one enterprise (a park: its roll-up) and period."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from metering.api.indicators_serializers import IndicatorsQuerySerializer, IndicatorsSerializer
from metering.monitoring.factor_sets import FactorError
from metering.monitoring.indicators import indicators_for
from portal.access import get_enterprise_for_user
from portal.api.clients import ApiClientScope
from portal.api.permissions import IsActiveUser
from portal.api.views import EdgeReachCheckMixin
from portal.models import ApiScope


class FactorSetsUnusable(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "factor_sets"


@extend_schema(
    summary="Energy, carbon and collection indicators of one enterprise for a period",
    parameters=[
        OpenApiParameter("start", OpenApiTypes.STR, description=(
            "A date (its 00:00 in Asia/Shanghai) or ISO 8601 with offset; inclusive. "
            "Default: the 1st of this month.")),
        OpenApiParameter("end", OpenApiTypes.STR, description=(
            "A date or ISO 8601 with offset; exclusive (end=2025-04-01 for March 2025). "
            "Default: the start of the month after start. At most ten years after start.")),
    ],
    responses={
        200: IndicatorsSerializer,
        400: OpenApiResponse(description="invalid start or end (error.fields names which)"),
        404: OpenApiResponse(description="no such enterprise, or out of reach"),
        409: OpenApiResponse(description="the default factor sets cannot compute the period"),
    },
    description=(
        "Computed from the stored rollups. Consumption sums the enterprise's top-of-tree meters (a "
        "park: its public-area meters plus each member's); tce and CO₂ with the default factor sets, "
        "named in factor_sets. Decimal figures are JSON numbers; fractions are 0–1. 404 for an "
        "enterprise out of reach, exactly as for a missing one."
    ),
)
class EnterpriseIndicatorsView(EdgeReachCheckMixin, APIView):
    permission_classes = [IsActiveUser, ApiClientScope]
    api_client_scope = ApiScope.INDICATORS_READ

    def get(self, request: Request, enterprise_id: int, *args: Any, **kwargs: Any) -> Response:
        # 404 alike for a missing enterprise and one out of reach, before the query is judged.
        enterprise = get_enterprise_for_user(request.user, enterprise_id)
        query = IndicatorsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            figures = indicators_for(enterprise, start=query.validated_data["start"],
                                     end=query.validated_data["end"])
        except FactorError as error:
            raise FactorSetsUnusable(str(error)) from error
        return Response(IndicatorsSerializer(figures).data)
