"""Serializers of the applications API: programs, submissions, and the evidence frozen with them.

Decimal figures are answered as text without exponent ("135.04", "100"), the way the filed form
values hold them; datetimes in +08:00 (Asia/Shanghai) like the readings API; dates (periods) as
ISO dates, the period's end inclusive as the forms print it.

The review part of a submission (`available_actions`, `assignments`, `combined_score`) is read from
the serializer context key `review`: pk → (reviews.actions.CallerActions, ReviewDetails or None),
which the views compute once per page (applications/api/views.py); without it the row answers
no actions and no review details.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from applications.api.selectors import submission_form_values, submission_frozen_evidence
from applications.definitions import definition_of
from applications.models import Evidence, Program, Submission, SubmissionState
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


class AvailableActionSerializer(serializers.Serializer):
    action = serializers.CharField(source="key", help_text=_("操作名，POST …/actions/ 时作为 action 发送。"))
    label = serializers.CharField(source="label.zh")  # type: ignore[assignment]
    label_en = serializers.CharField(source="label.en")
    needs_reason = serializers.BooleanField(help_text=_("执行时须填写理由（reason）。"))
    needs_deadline = serializers.BooleanField(help_text=_("执行时须填写补正期限（deadline，YYYY-MM-DD）。"))


class AssignmentSerializer(serializers.Serializer):
    expert = serializers.IntegerField(source="expert_id", help_text=_("专家（用户 ID）。"))
    expert_name = serializers.SerializerMethodField()
    lead = serializers.BooleanField(source="is_lead", help_text=_("是否为专家组长。"))
    assigned_at = serializers.DateTimeField(default_timezone=API_TIME_ZONE)

    def get_expert_name(self, assignment: Any) -> str:
        return str(assignment.expert.get_full_name() or assignment.expert.username)


class CombinedScoreSerializer(serializers.Serializer):
    key = serializers.CharField(source="checklist.key", help_text=_("核查表 key（项目定义 checklists）。"))
    title = serializers.CharField(source="checklist.title.zh")
    title_en = serializers.CharField(source="checklist.title.en")
    sheets = serializers.IntegerField(source="combined.sheets", help_text=_("已提交的专家评审表份数。"))
    score = serializers.DecimalField(
        source="combined.score", max_digits=8, decimal_places=2, allow_null=True, coerce_to_string=True,
        help_text=_("按项目规定方式（平均或中位数）合成的得分（百分制）；无打分项时为 null。"))
    passed = serializers.BooleanField(source="combined.passed", allow_null=True, help_text=_(
        "合成结论；尚有评审表未完成或尚无评审表时为 null。"))
    vetoed = serializers.BooleanField(source="combined.vetoed", help_text=_("是否有否决项不符合。"))
    aggregation = serializers.CharField(source="combined.aggregation",
                                        help_text=_("mean（平均）或 median（中位数）。"))


REVIEW_FIELDS_HELP = _("仅对可评审该申报的评审方（初审、省级、受分配的专家、平台管理员）给出；"
                       "申报单位与接口客户端为 null。")
SCORES_HELP = _("专家评审合成得分，每个核查表一项；仅对省级主管部门与平台管理员给出（初审、专家、"
                "申报单位与接口客户端为 null）。")


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
    additions_due = serializers.DateField(read_only=True, allow_null=True, help_text=_(
        "退回补正时规定的补正期限。"))
    available_actions = serializers.SerializerMethodField(help_text=_(
        "调用者现在可执行的流程操作（POST …/actions/）。列表中按角色与状态给出，不检查前置条件"
        "（如申报条件、专家评审表是否齐全，检查它们要重新计算整份申报）；单个申报的详情中已检查。"
        "接口客户端不能执行操作，总为空。"))
    assignments = serializers.SerializerMethodField(help_text=REVIEW_FIELDS_HELP)
    combined_score = serializers.SerializerMethodField(help_text=SCORES_HELP)

    class Meta:
        model = Submission
        fields = ["id", "program", "program_name", "enterprise", "enterprise_name", "variant", "track",
                  "title", "state", "state_label", "submitted_at", "definition_version", "created_at",
                  "updated_at", "additions_due", "available_actions", "assignments", "combined_score"]
        read_only_fields = fields

    def _review(self, submission: Submission) -> tuple[Any, Any]:
        return self.context.get("review", {}).get(submission.pk, (None, None))

    def _memo(self, key: str) -> dict[Any, Any]:
        # The context is the plain dict the view passed (DRF types it as a Mapping).
        return cast(dict[str, Any], self.context).setdefault(key, {})

    def _nested(self, serializer_class: type[serializers.Serializer], items: Any) -> list[dict[str, Any]]:
        # One nested serializer per class for the whole page: building one per row (DRF copies
        # its fields each time) cost more than the rest of a row.
        made = self._memo("_nested")
        if serializer_class not in made:
            made[serializer_class] = serializer_class(context=self.context)
        return [made[serializer_class].to_representation(item) for item in items]

    @extend_schema_field(AvailableActionSerializer(many=True))
    def get_available_actions(self, submission: Submission) -> list[dict[str, Any]]:
        actions, _details = self._review(submission)
        if actions is None:
            return []
        # Rows of one group share their CallerActions (reviews.actions.actions_for_page).
        answered = self._memo("_actions")
        if id(actions) not in answered:
            answered[id(actions)] = (actions, self._nested(AvailableActionSerializer, actions.transitions))
        return list(answered[id(actions)][1])

    @extend_schema_field(AssignmentSerializer(many=True, allow_null=True))
    def get_assignments(self, submission: Submission) -> list[dict[str, Any]] | None:
        _actions, details = self._review(submission)
        return None if details is None else self._nested(AssignmentSerializer, details.assignments)

    @extend_schema_field(CombinedScoreSerializer(many=True, allow_null=True))
    def get_combined_score(self, submission: Submission) -> list[dict[str, Any]] | None:
        _actions, details = self._review(submission)
        if details is None or details.scores is None:
            return None
        return self._nested(CombinedScoreSerializer, details.scores)


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


class ActivitySerializer(serializers.Serializer):
    """One transition of a submission (reviews.models.Activity). `from` is a Python keyword, so the
    field is named in `get_fields`."""

    when = serializers.DateTimeField(source="created_at", default_timezone=API_TIME_ZONE)
    who = serializers.CharField(source="actor_name", help_text=_("操作人姓名（操作时的姓名）。"))
    from_state = serializers.CharField(source="from_state")  # answered as "from" (get_fields)
    to = serializers.CharField(source="to_state")
    action = serializers.CharField(help_text=_("所执行的流程操作。"))
    reason = serializers.CharField(help_text=_("理由；无须理由的操作为空。"))
    deadline = serializers.DateField(allow_null=True, help_text=_("退回补正时规定的补正期限。"))

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        ordered = {}
        for name, value in fields.items():
            ordered["from" if name == "from_state" else name] = value
        return ordered


class ActionRequestSerializer(serializers.Serializer):
    action = serializers.CharField(max_length=64, help_text=_(
        "流程操作名（available_actions 中的 action）。"))
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000, help_text=_(
        "理由（退回、不通过等须填写的操作）。"))
    deadline = serializers.DateField(required=False, allow_null=True, default=None,
                                     input_formats=["iso-8601"], help_text=_(
                                         "补正期限（YYYY-MM-DD），操作要求时必填，须晚于今天。"))


class ActionResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=SubmissionState.choices)
    state_label = serializers.CharField()
    additions_due = serializers.DateField(allow_null=True)
    activity = ActivitySerializer()
    available_actions = AvailableActionSerializer(many=True, help_text=_("执行后调用者可执行的操作。"))
