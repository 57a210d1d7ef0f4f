"""Forms of the alarm pages: they parse input; writes go through metering/alarms/services.py."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from metering.alarms.models import AlarmKind, AlarmRule, AlarmStatus
from metering.alarms.services import ACKNOWLEDGEMENT_NOTE_MAX_CHARS, ALARM_RULE_FIELDS

# The rule's limits in the meter's own unit: the labels say which.
UNIT_FIELDS = ("max_quarter_consumption", "min_quarter_consumption", "max_value", "min_value")


class AlarmRuleForm(forms.ModelForm):
    class Meta:
        model = AlarmRule
        fields = list(ALARM_RULE_FIELDS)

    def __init__(self, *args: Any, unit: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if unit:
            for name in UNIT_FIELDS:
                self.fields[name].label = f"{self.fields[name].label}（{unit}）"


class AcknowledgeForm(forms.Form):
    note = forms.CharField(label=_("处理说明"), max_length=ACKNOWLEDGEMENT_NOTE_MAX_CHARS,
                           widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=_("写明原因和处理情况，例如“检修停机，已通知班组”。"))


class AlarmFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("状态"), required=False,
                               choices=[("", _("未恢复（未处理和已确认）")), ("all", _("全部")),
                                        *AlarmStatus.choices])
    kind = forms.ChoiceField(label=_("类型"), required=False, choices=[("", _("全部")), *AlarmKind.choices])
    meter = forms.TypedChoiceField(label=_("表计"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, meters: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["meter"].choices = [("", _("全部")), *meters]  # type: ignore[attr-defined]
