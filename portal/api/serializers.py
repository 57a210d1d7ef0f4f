"""Serializers of the core API: read-only views of organizations."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.models import Enterprise, Region

# Every timestamp the API answers is in this zone (+08:00), whatever the server's or the request's
# active time zone: the programs' periods and the rollups' buckets are calendar-aligned in it.
API_TIME_ZONE = ZoneInfo("Asia/Shanghai")


class EnterpriseSerializer(serializers.ModelSerializer):
    region: serializers.SlugRelatedField[Region] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text=_("行政区划代码，例如 410105。")
    )
    region_name = serializers.CharField(source="region.full_name", read_only=True)
    region_path = serializers.CharField(
        source="region.path", read_only=True, help_text=_("行政区划路径，例如 /410000/410100/410105/。")
    )
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    park: serializers.PrimaryKeyRelatedField[Enterprise] = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Enterprise
        fields = [
            "id", "name", "credit_code", "kind", "kind_label", "status", "status_label", "industry",
            "region", "region_name", "region_path", "park", "created_at",
        ]
        read_only_fields = fields


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, trim_whitespace=True)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})
    otp_token = serializers.CharField(
        max_length=16, required=False, allow_blank=True,
        help_text=_("启用双因素认证时，审核人员和专家须同时提供动态口令。"),
    )


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class ApiIndexSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    endpoints = serializers.DictField(child=serializers.CharField())
