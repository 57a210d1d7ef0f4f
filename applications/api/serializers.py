"""Serializers of the applications API: programs, submissions, and the evidence frozen with them.

Decimal figures are answered as text without exponent ("135.04", "100"), the way the filed form
values hold them; datetimes in +08:00 (Asia/Shanghai) like the readings API; dates (periods) as
ISO dates, the period's end inclusive as the forms print it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from applications.api.selectors import submission_form_values, submission_frozen_evidence
from applications.definitions import definition_of
from applications.models import Evidence, Program, Submission
from portal.api.serializers import API_TIME_ZONE
from portal.models import Enterprise, Region


@extend_schema_field({"type": "string", "format": "decimal", "nullable": True, "example": "2350.5"})
class PlainDecimalField(serializers.Field):
    """A stored Decimal as text, trailing zeros dropped and never in exponent form (100, not 1E+2)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal) -> str:
        return f"{value.normalize():f}"


class ChoiceSerializer(serializers.Serializer):
    key = serializers.CharField()
    # DRF's metaclass takes declared fields off the class, so `label` (and `data` below) shadow no
    # Field/Serializer attribute at run time; mypy only sees the class body.
    label = serializers.CharField(help_text=_("中文名称。"))  # type: ignore[assignment]
    label_en = serializers.CharField()


class VariantSerializer(ChoiceSerializer):
    enterprise_kinds = serializers.ListField(child=serializers.CharField())


class TrackSerializer(ChoiceSerializer):
    form = serializers.CharField(help_text=_("该赛道使用的申报表（variants 中的 key）。"))
    min_recommended_per_city = serializers.IntegerField()


class ProgramSerializer(serializers.ModelSerializer):
    region: serializers.SlugRelatedField[Region] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text=_("所属省市的行政区划代码，例如 410000。"))
    region_name = serializers.CharField(source="region.full_name", read_only=True)
    enterprise_kinds = serializers.SerializerMethodField()
    variants = serializers.SerializerMethodField()
    tracks = serializers.SerializerMethodField()

    class Meta:
        model = Program
        fields = ["code", "name", "name_en", "version", "region", "region_name", "document", "is_active",
                  "enterprise_kinds", "variants", "tracks"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_enterprise_kinds(self, program: Program) -> list[str]:
        return list(definition_of(program.definition).enterprise_kinds)

    @extend_schema_field(VariantSerializer(many=True))
    def get_variants(self, program: Program) -> list[dict[str, Any]]:
        return [{"key": variant.key, "label": variant.label.zh, "label_en": variant.label.en,
                 "enterprise_kinds": list(variant.enterprise_kinds)}
                for variant in definition_of(program.definition).variants]

    @extend_schema_field(TrackSerializer(many=True))
    def get_tracks(self, program: Program) -> list[dict[str, Any]]:
        return [{"key": track.key, "label": track.label.zh, "label_en": track.label.en, "form": track.form,
                 "min_recommended_per_city": track.min_recommended_per_city}
                for track in definition_of(program.definition).tracks]


class ProgramDetailSerializer(ProgramSerializer):
    definition = serializers.JSONField(read_only=True, help_text=_(
        "当前版本的项目定义（申报表各部分与字段、附件、申报条件、监测佐证、汇总表列）。"))

    class Meta(ProgramSerializer.Meta):
        fields = [*ProgramSerializer.Meta.fields, "definition"]
        read_only_fields = fields


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField(source="period_start", help_text=_("统计期第一天。"))
    end = serializers.DateField(source="period_end", help_text=_("统计期最后一天（含）。"))


class EvidenceSerializer(serializers.ModelSerializer):
    value = PlainDecimalField(help_text=_("提交时测得的值（文本形式的十进制数）；无可用数据时为 null。"))
    period = PeriodSerializer(source="*")
    factor_set = serializers.ListField(source="factor_sets", child=serializers.CharField(), read_only=True,
                                       help_text=_("计算所用的折标系数与排放因子集名称。"))
    computed_at = serializers.DateTimeField(default_timezone=API_TIME_ZONE, read_only=True)

    class Meta:
        model = Evidence
        fields = ["key", "label", "indicator", "value", "unit", "period", "factor_set", "field",
                  "typed_value", "flagged", "computed_at"]
        read_only_fields = fields


class SubmissionSerializer(serializers.ModelSerializer):
    program: serializers.SlugRelatedField[Program] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text=_("申报项目代码。"))
    program_name = serializers.CharField(source="program.name", read_only=True)
    enterprise: serializers.PrimaryKeyRelatedField[Enterprise] = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text=_("申报单位（企业 ID）。"))
    enterprise_name = serializers.CharField(source="enterprise.name", read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    definition_version = serializers.IntegerField(read_only=True, help_text=_(
        "提交时所依据的项目定义版本；项目之后修改不影响已提交的申报。"))
    submitted_at = serializers.DateTimeField(default_timezone=API_TIME_ZONE, read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(default_timezone=API_TIME_ZONE, read_only=True)
    updated_at = serializers.DateTimeField(default_timezone=API_TIME_ZONE, read_only=True)

    class Meta:
        model = Submission
        fields = ["id", "program", "program_name", "enterprise", "enterprise_name", "variant", "track",
                  "title", "state", "state_label", "submitted_at", "definition_version", "created_at",
                  "updated_at"]
        read_only_fields = fields


class SubmissionDetailSerializer(SubmissionSerializer):
    data = serializers.SerializerMethodField(help_text=_(  # type: ignore[assignment]
        "表单内容：已提交的申报为最近一次提交的校验后内容；草稿为当前校验后的内容。"
        "数值为文本形式的十进制数，日期为 ISO 日期。"))
    evidence = serializers.SerializerMethodField(help_text=_(
        "提交时冻结的监测佐证；之后的计量数据不会改变它们。草稿没有。"))

    class Meta(SubmissionSerializer.Meta):
        fields = [*SubmissionSerializer.Meta.fields, "data", "evidence"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_data(self, submission: Submission) -> dict[str, Any]:
        return submission_form_values(submission)

    @extend_schema_field(EvidenceSerializer(many=True))
    def get_evidence(self, submission: Submission) -> list[dict[str, Any]]:
        return list(EvidenceSerializer(submission_frozen_evidence(submission), many=True).data)
