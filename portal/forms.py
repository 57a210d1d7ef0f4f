"""Forms of the portal pages. They parse and check input; services decide and write."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal import selectors
from portal.credit_code import credit_code_problem, normalize_credit_code
from portal.models import Enterprise, Region, User

_enterprise_field = Enterprise._meta.get_field


def _model_char(model_field_name: str, *, required: bool = True, **kwargs: Any) -> forms.CharField:
    """A CharField whose label and max length follow the Enterprise model, so limits never drift."""
    field = cast(models.CharField, _enterprise_field(model_field_name))
    return forms.CharField(label=field.verbose_name, max_length=field.max_length, required=required, **kwargs)


class RegionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Region) -> str:
        return obj.full_name


class ParkField(forms.TypedChoiceField):
    """Park membership chosen from the public park directory; any other id is a form error."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(coerce=int, empty_value=None, required=False, label=_("所属园区"),
                         choices=self._choices, **kwargs)

    @staticmethod
    def _choices() -> list[tuple[str, Any]]:
        parks = selectors.parks_open_for_membership()
        return [("", _("（不属于园区）")), *[(str(park.id), park.label) for park in parks]]

    def clean(self, value: Any) -> Enterprise | None:  # type: ignore[override]
        park_id = super().clean(value)
        if park_id is None:
            return None
        park = selectors.park_by_id(park_id)
        if park is None:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice",
                                  params={"value": value})
        return park


class PasswordPairMixin(forms.Form):
    password1 = forms.CharField(label=_("密码"), strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}), help_text=_("至少10位，不能全是数字，不能过于常见。"))
    password2 = forms.CharField(label=_("确认密码"), strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}))

    def clean_password2(self) -> str:
        first, second = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if first and second and first != second:
            raise ValidationError(_("两次输入的密码不一致。"))
        if second:
            candidate = User(username=self.cleaned_data.get("username", ""))
            password_validation.validate_password(second, candidate)
        return second or ""


class RegistrationForm(PasswordPairMixin, forms.Form):
    name = _model_char("name")
    credit_code = forms.CharField(label=_("统一社会信用代码"), max_length=18, min_length=18,
                                  help_text=_("18位，末位为校验码。"))
    kind = forms.ChoiceField(label=_("类型"), choices=Enterprise.Kind.choices)
    region = RegionChoiceField(label=_("所在地区"), queryset=selectors.registration_regions(),
                               empty_label=_("请选择市或区县"))
    park = ParkField()
    industry = _model_char("industry", required=False)
    group_name = _model_char("group_name", required=False,
                             help_text=_("企业所属集团的全称（如有）：评审时据此回避与集团有关的专家。"))
    address = _model_char("address")
    contact_name = _model_char("contact_name")
    contact_phone = _model_char("contact_phone")
    contact_email = forms.EmailField(label=_("电子邮箱"), max_length=254)
    username = forms.CharField(label=_("登录用户名"), max_length=150,
                               help_text=_("企业管理员的登录名，字母、数字和 @.+-_。"))

    field_order = ["name", "credit_code", "kind", "region", "park", "industry", "address", "contact_name",
                   "contact_phone", "contact_email", "username", "password1", "password2"]

    def clean_credit_code(self) -> str:
        code = normalize_credit_code(self.cleaned_data["credit_code"])
        problem = credit_code_problem(code)
        if problem:
            raise ValidationError(problem, code="invalid_credit_code")
        return code

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        User.username_validator(username)
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        park, region = cleaned.get("park"), cleaned.get("region")
        if park is not None and region is not None and not region.path.startswith(
                selectors.province_path_of(park.region)):
            self.add_error("park", _("所属园区须与企业在同一省（直辖市）。"))
        if park is not None and cleaned.get("kind") == Enterprise.Kind.PARK:
            self.add_error("park", _("园区本身不能隶属于其他园区。"))
        return cleaned


class EnterpriseEditForm(forms.Form):
    industry = _model_char("industry", required=False)
    group_name = _model_char("group_name", required=False,
                             help_text=_("企业所属集团的全称（如有）：评审时据此回避与集团有关的专家。"))
    address = _model_char("address")
    contact_name = _model_char("contact_name")
    contact_phone = _model_char("contact_phone")
    contact_email = forms.EmailField(label=_("电子邮箱"), max_length=254, required=False)
    park = ParkField()

    def __init__(self, *args: Any, enterprise: Enterprise, **kwargs: Any) -> None:
        self.enterprise = enterprise
        kwargs.setdefault("initial", {
            "industry": enterprise.industry, "group_name": enterprise.group_name,
            "address": enterprise.address,
            "contact_name": enterprise.contact_name, "contact_phone": enterprise.contact_phone,
            "contact_email": enterprise.contact_email, "park": enterprise.park_id or "",
        })
        super().__init__(*args, **kwargs)
        if enterprise.kind == Enterprise.Kind.PARK:
            del self.fields["park"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        park = cleaned.get("park")
        if park is not None and park.pk == self.enterprise.pk:
            self.add_error("park", _("园区不能是自己的成员。"))
        elif park is not None and not self.enterprise.region.path.startswith(
                selectors.province_path_of(park.region)):
            self.add_error("park", _("所属园区须与企业在同一省（直辖市）。"))
        return cleaned


class StaffCreateForm(PasswordPairMixin, forms.Form):
    username = forms.CharField(label=_("登录用户名"), max_length=150)
    last_name = forms.CharField(label=_("姓"), max_length=150, required=False)
    first_name = forms.CharField(label=_("名"), max_length=150, required=False)
    email = forms.EmailField(label=_("电子邮箱"), required=False)
    phone = forms.CharField(label=_("手机"), max_length=30, required=False)

    field_order = ["username", "last_name", "first_name", "email", "phone", "password1", "password2"]

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        User.username_validator(username)
        return username


class ReviewForm(forms.Form):
    note = forms.CharField(label=_("审核意见"), max_length=500, required=False, widget=forms.Textarea(
        attrs={"rows": 3}))


class StatusReasonForm(forms.Form):
    """The reason an authority gives for suspending or reactivating an enterprise (required)."""

    reason = forms.CharField(label=_("理由"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
                             error_messages={"required": _("必须填写理由。")})


class ResubmitForm(forms.Form):
    """A rejected registration, corrected by the enterprise's admin and sent back for review."""

    name = _model_char("name")
    region = RegionChoiceField(label=_("所在地区"), queryset=selectors.registration_regions(),
                               empty_label=_("请选择市或区县"))
    note = forms.CharField(label=_("修改说明"), max_length=500, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=_("说明针对审核意见做了哪些修改。"))

    def __init__(self, *args: Any, enterprise: Enterprise, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"name": enterprise.name, "region": enterprise.region_id})
        super().__init__(*args, **kwargs)


class TokenForm(forms.Form):
    token = forms.RegexField(label=_("6位动态验证码"), regex=r"^\d{6}$", max_length=6, strip=True,
                             error_messages={"invalid": _("请输入6位数字验证码。")},
                             widget=forms.TextInput(attrs={
                                 "autocomplete": "one-time-code", "inputmode": "numeric", "pattern": r"\d{6}",
                                 "autofocus": True}))


DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class AuditSearchForm(forms.Form):
    user = forms.CharField(label=_("用户名"), max_length=150, required=False)
    action = forms.CharField(label=_("操作"), max_length=40, required=False)
    object_type = forms.CharField(label=_("对象类型"), max_length=100, required=False)
    date_from = forms.DateField(label=_("起始日期"), required=False, widget=DATE_INPUT)
    date_to = forms.DateField(label=_("截止日期"), required=False, widget=DATE_INPUT)
    q = forms.CharField(label=_("关键词"), max_length=100, required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("截止日期不能早于起始日期。"))
        return cleaned

    def search_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "username": data.get("user", ""),
            "action": data.get("action", ""),
            "object_type": data.get("object_type", ""),
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "text": data.get("q", ""),
        }


def apply_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form fields it names (others on the form itself)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    aliases = {"password": "password2"}
    for name, errors in error.error_dict.items():
        target = aliases.get(name, name)
        form.add_error(target if target in form.fields else None, errors)
