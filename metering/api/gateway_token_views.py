"""The gateway-token API: /api/v1/gateway-tokens/ (list, create) and /api/v1/gateway-tokens/{id}/.

The same rights as the token page (`metering.registry.tokens.can_manage_gateway_tokens`): everyone lists
the tokens of the enterprises in their reach (names and prefixes, never a secret); an
enterprise's admins, and platform admins, create and revoke them. A create answers the token
once, with the gateway's MQTT user name. Tokens out of reach answer 404 like missing ones; a
role that may not manage tokens gets 403.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from metering.api.gateway_token_serializers import (
    GatewayTokenCreateSerializer,
    GatewayTokenIssuedSerializer,
    GatewayTokenSerializer,
)
from metering.models import GatewayToken
from metering.registry.tokens import (
    can_manage_gateway_tokens,
    gateway_token_create,
    gateway_token_revoke,
    manages_gateway_tokens,
)
from portal.access import visible_enterprises
from portal.api.views import TenantViewSetMixin
from portal.models import Enterprise


class GatewayTokenFilter(django_filters.FilterSet):
    # By id, not ModelChoice: an enterprise out of reach gives an empty list, same as an unknown one.
    enterprise = django_filters.NumberFilter(field_name="enterprise_id")
    active = django_filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull",
                                          label=gettext_lazy("true：只列出未吊销的令牌。"))

    class Meta:
        model = GatewayToken
        fields = ["enterprise", "active"]


@extend_schema_view(
    list=extend_schema(summary="List gateway tokens (never their secrets)"),
    retrieve=extend_schema(summary="One gateway token (never its secret)"),
    create=extend_schema(
        summary="Create a gateway token; the answer holds the token, shown only this once",
        request=GatewayTokenCreateSerializer,
        responses={201: GatewayTokenIssuedSerializer},
    ),
    destroy=extend_schema(
        summary="Revoke a gateway token (HTTP at once, MQTT with the next broker refresh)",
        responses={204: OpenApiResponse(description="revoked")},
    ),
)
class GatewayTokenViewSet(  # type: ignore[misc]  # see metering.api.registry_views.MeterViewSet
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    model = GatewayToken
    reach_path = "enterprise"
    serializer_class = GatewayTokenSerializer
    filterset_class = GatewayTokenFilter
    lookup_value_regex = "[0-9]+"
    request: Request

    def base_queryset(self) -> QuerySet[GatewayToken]:
        tokens = GatewayToken.objects.select_related("enterprise")
        return tokens.order_by("enterprise_id", "-created_at", "-id")

    def get_serializer_class(self) -> Any:
        return GatewayTokenCreateSerializer if self.action == "create" else GatewayTokenSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user: Any = request.user
        # The role first, so a caller who may not manage tokens learns nothing from field errors.
        if not manages_gateway_tokens(user):
            raise exceptions.PermissionDenied(_("只有企业管理员可以管理网关令牌。"))
        form = GatewayTokenCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        enterprise = self._target_enterprise(user, form.validated_data.get("enterprise"))
        token, plain = gateway_token_create(actor=user, enterprise=enterprise,
                                            name=form.validated_data["name"])
        body = GatewayTokenIssuedSerializer(token, context={"plain_token": plain}).data
        # The plain token must not linger in any cache.
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    def perform_destroy(self, instance: GatewayToken) -> None:
        if not can_manage_gateway_tokens(self.request.user, instance.enterprise):
            raise exceptions.PermissionDenied(_("只有企业管理员可以管理网关令牌。"))
        gateway_token_revoke(actor=self.request.user, token=instance)

    @staticmethod
    def _target_enterprise(user: Any, requested: int | None) -> Enterprise:
        """The named enterprise, or the caller's own; one the caller may not manage is "不存在"
        whether it exists or not, so the answer never reveals another tenant."""
        enterprise_id = requested if requested is not None else user.enterprise_id
        if enterprise_id is None:
            raise exceptions.ValidationError({"enterprise": [_("请指定企业。")]})
        enterprise = visible_enterprises(user).filter(pk=enterprise_id).first()
        if enterprise is None or not can_manage_gateway_tokens(user, enterprise):
            raise exceptions.ValidationError({"enterprise": [_("不存在。")]})
        return enterprise
