"""Serializers of the gateway-token API. Thin: tokens are made and revoked in metering.registry.tokens."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from metering.models import GatewayToken

MQTT_USERNAME_HELP = _("MQTT 用户名：<统一社会信用代码>.<令牌 id>；密码为令牌本身。")


class GatewayTokenSerializer(serializers.ModelSerializer):
    """A token as listed: never its secret, only the prefix that tells tokens apart."""

    enterprise = serializers.IntegerField(source="enterprise_id", read_only=True)
    mqtt_username = serializers.CharField(read_only=True, help_text=MQTT_USERNAME_HELP)

    class Meta:
        model = GatewayToken
        fields = ["id", "enterprise", "name", "mqtt_username", "token_prefix", "created_at", "last_used_at",
                  "revoked_at"]
        read_only_fields = fields


class GatewayTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=GatewayToken._meta.get_field("name").max_length,
                                 help_text=_("网关名称，便于区分各台网关。"))
    enterprise = serializers.IntegerField(
        required=False, help_text=_("企业 id；企业管理员可省略（默认本企业），平台管理员必须指定。")
    )


class GatewayTokenIssuedSerializer(GatewayTokenSerializer):
    """The answer to a create: the token itself (context `plain_token`), shown this once only."""

    token = serializers.SerializerMethodField(
        help_text=_("网关令牌（只显示这一次）：HTTP 用 “Authorization: Bearer <令牌>”，MQTT 作密码。"),
    )

    class Meta(GatewayTokenSerializer.Meta):
        fields = [*GatewayTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_token(self, obj: GatewayToken) -> str:
        return str(self.context["plain_token"])
