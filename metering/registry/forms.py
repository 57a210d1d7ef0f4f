"""Forms of the registry pages (and the admin's Modbus register map). Writes go through services;
these forms only parse input and offer the enterprise's own rows as choices."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet, inlineformset_factory
from django.utils.translation import gettext_lazy as _
from django_scopes import scopes_disabled

from metering.models import GatewayToken, Meter, ModbusDevice, ModbusPoint, MqttMapping, SiteNode
from metering.registry import services
from metering.registry.importing import MAX_IMPORT_BYTES
from portal.models import Enterprise

PREVIEW_CHARS = 300
PREVIEW_HEX_BYTES = 96
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def payload_preview(payload: bytes | memoryview | None) -> tuple[str, str]:
    """(kind, text) of a quarantined payload: text when it is UTF-8, else hex. Templates escape it."""
    raw = bytes(payload or b"")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        shown = raw[:PREVIEW_HEX_BYTES].hex(" ")
        return str(_("十六进制")), shown + (" …" if len(raw) > PREVIEW_HEX_BYTES else "")
    return str(_("文本")), text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else "")


def apply_service_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on the field when the form has it, else on top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field_name, messages in exc.message_dict.items():
        form.add_error(field_name if field_name in form.fields else None, messages)


def relation_field(form: forms.BaseForm, name: str) -> forms.ModelChoiceField:
    """The form's field for a relation, typed as what it is so its choices can be narrowed."""
    field = form.fields[name]
    if not isinstance(field, forms.ModelChoiceField):
        raise TypeError(f"{type(form).__name__}.{name} is not a relation field")
    return field


class EnterpriseModelForm(forms.ModelForm):
    """A ModelForm for a row of `enterprise`, whose relation choices are that enterprise's rows only."""

    def __init__(self, *args: Any, enterprise: Enterprise, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.enterprise = enterprise
        self.instance.enterprise = enterprise

    def service_fields(self) -> dict[str, Any]:
        fields = self._meta.fields or ()
        return {name: self.cleaned_data[name] for name in fields if name in self.cleaned_data}


# Defining a ModelForm with relation fields evaluates `Model.objects.all()` once, at import, where
# no scope exists. Every such queryset is replaced per request (in __init__ / add_fields, by
# the enterprise's own rows; by the admin's request-scoped form factory), so none is ever used.
with scopes_disabled():

    class MeterForm(EnterpriseModelForm):
        class Meta:
            model = Meter
            fields = list(services.METER_FIELDS)
            widgets = {"calibrated_on": DATE_INPUT, "calibration_due_on": DATE_INPUT}

        def __init__(self, *args: Any, enterprise: Enterprise, **kwargs: Any) -> None:
            super().__init__(*args, enterprise=enterprise, **kwargs)
            meters = Meter.objects.filter(enterprise=enterprise).order_by("level", "code")
            if self.instance.pk:
                meters = meters.exclude(pk=self.instance.pk)
            relation_field(self, "parent").queryset = meters
            site_node = relation_field(self, "site_node")
            site_node.queryset = SiteNode.objects.filter(enterprise=enterprise).select_related(
                "parent__parent__parent"
            )
            # A per-field label function instead of a ModelChoiceField subclass per relation.
            site_node.label_from_instance = services.site_node_path  # type: ignore[method-assign,assignment]

    class MeterAdminForm(forms.ModelForm):
        """The admin's meter form with the same cross-row rules as the services (cycles, child levels)."""

        class Meta:
            model = Meter
            fields = ["enterprise", *services.METER_FIELDS]

        # _post_clean (the instance is built from the cleaned data) and _update_errors are Django's
        # own ModelForm hooks, used as ModelForm uses them; the stubs leave private members out.
        def _post_clean(self) -> None:
            super()._post_clean()  # type: ignore[misc]
            errors = services.meter_relation_errors(self.instance)
            if errors:
                self._update_errors(ValidationError(errors))  # type: ignore[attr-defined]

    class SiteNodeForm(EnterpriseModelForm):
        class Meta:
            model = SiteNode
            fields = list(services.SITE_NODE_FIELDS)

        def __init__(self, *args: Any, enterprise: Enterprise, **kwargs: Any) -> None:
            super().__init__(*args, enterprise=enterprise, **kwargs)
            nodes = SiteNode.objects.filter(enterprise=enterprise).exclude(kind=SiteNode.Kind.EQUIPMENT)
            if self.instance.pk:
                nodes = nodes.exclude(pk=self.instance.pk)
            parent = relation_field(self, "parent")
            parent.queryset = nodes.select_related("parent__parent")
            parent.label_from_instance = services.site_node_path  # type: ignore[method-assign,assignment]

    class ModbusDeviceForm(EnterpriseModelForm):
        class Meta:
            model = ModbusDevice
            fields = list(services.MODBUS_DEVICE_FIELDS)

    class BaseModbusPointFormSet(BaseInlineFormSet):
        """A device's register map, validated as a whole (one point per meter, no overlapping registers)."""

        def add_fields(self, form: forms.ModelForm, index: int | None) -> None:
            # Called for every form of the set and for empty_form alike.
            super().add_fields(form, index)
            self._limit_meters(form)

        def _limit_meters(self, form: forms.BaseForm) -> None:
            if "meter" in form.fields:
                enterprise_id = getattr(self.instance, "enterprise_id", None)
                relation_field(form, "meter").queryset = (
                    Meter.objects.filter(enterprise_id=enterprise_id).order_by("code")
                    if enterprise_id
                    else Meter.objects.none()
                )

        def kept_forms(self) -> list[forms.BaseForm]:
            return [
                form
                for form in self.forms
                # _should_delete_form is BaseFormSet's own test of the DELETE box (private, not stubbed).
                if form.cleaned_data
                and not (self.can_delete and self._should_delete_form(form))  # type: ignore[attr-defined]
            ]

        def point_values(self) -> list[dict[str, Any]]:
            return [
                {
                    name: form.cleaned_data[name]
                    for name in services.MODBUS_POINT_FIELDS
                    if name in form.cleaned_data
                }
                for form in self.kept_forms()
            ]

        def clean(self) -> None:
            super().clean()
            if any(self.errors):
                return
            kept = self.kept_forms()
            points = [ModbusPoint(device=self.instance, **values) for values in self.point_values()]
            try:
                services.modbus_points_validate(device=self.instance, points=points)
            except ValidationError as exc:
                whole: list[str] = []
                for key, messages in exc.message_dict.items():
                    if key.startswith("points[") and "]." in key:
                        index, field_name = key[len("points[") :].split("].", 1)
                        form = kept[int(index)]
                        form.add_error(field_name if field_name in form.fields else None, messages)
                    else:
                        whole.extend(messages)
                if whole:
                    raise ValidationError(whole) from None

    # The factory returns a subclass of `formset`; the stubs type it as a plain BaseInlineFormSet.
    ModbusPointFormSet = cast(
        type[BaseModbusPointFormSet],
        inlineformset_factory(
            ModbusDevice,
            ModbusPoint,
            formset=BaseModbusPointFormSet,
            fields=list(services.MODBUS_POINT_FIELDS),
            extra=3,
            can_delete=True,
        ),
    )


class MqttMappingForm(EnterpriseModelForm):
    class Meta:
        model = MqttMapping
        fields = list(services.MQTT_MAPPING_FIELDS)


class GatewayTokenForm(forms.ModelForm):
    class Meta:
        model = GatewayToken
        fields = ["name"]


class MeterImportForm(forms.Form):
    file = forms.FileField(label=_("文件（.xlsx 或 .csv，不超过 5 MB）"))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".xlsx")):
            raise ValidationError(_("只支持 .csv 和 .xlsx 文件。"))
        if upload.size > MAX_IMPORT_BYTES:
            raise ValidationError(_("文件超过 5 MB，请拆分后再导入。"))
        return upload
