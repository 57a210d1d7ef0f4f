"""The registry API: /api/v1/meters/, /api/v1/meters/import/, /api/v1/modbus/devices/.

Reads: every row within the caller's reach (officials read their region's registry).
Writes: enterprise admins and staff of THAT enterprise, and platform admins; only admins delete.
Objects out of reach answer 404 like missing ones; in reach but read-only answers 403.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from metering.api.registry_serializers import MeterImportSerializer, MeterSerializer, ModbusDeviceSerializer
from metering.models import EnergyType, Meter, ModbusDevice
from metering.registry import services
from metering.registry.importing import meters_import
from metering.registry.rights import DELETE, WRITE, can_manage_registry, can_write_anywhere, is_platform_admin
from portal.api.errors import error_body
from portal.api.views import EnterpriseInReachFilter, TenantViewSetMixin
from portal.models import ApiScope, Enterprise


class RegistryWriteMixin(TenantViewSetMixin):
    """The shared tenant base (reach-filtered rows, 404 out of reach) plus the registry's role rule.

    Writes see only the write reach (a row the caller sees but may not change answers 403);
    within it `metering.registry.rights` adds the role rule (staff create and change, never delete).
    """

    reach_path = "enterprise"
    lookup_value_regex = "[0-9]+"
    request: Request

    def require_right(self, enterprise_id: int, right: str = WRITE) -> None:
        if not can_manage_registry(self.request.user, enterprise_id, right=right):
            raise exceptions.PermissionDenied(
                _("您对该企业的计量档案只有查看权限。") if right == WRITE else _("只有企业管理员可以删除。")
            )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not can_write_anywhere(request.user):
            raise exceptions.PermissionDenied(_("您只能查看计量档案。"))
        return super().create(request, *args, **kwargs)  # type: ignore[misc]

    def perform_update(self, serializer: Any) -> None:
        self.require_right(serializer.instance.enterprise_id)
        serializer.save()

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Check the right before validating, so a read-only caller learns nothing from field errors.
        self.require_right(self.get_object().enterprise_id)  # type: ignore[attr-defined]
        return super().update(request, *args, **kwargs)  # type: ignore[misc]


class MeterFilter(django_filters.FilterSet):
    # Out of reach answers 404, exactly like an unknown id (portal.api.views.EnterpriseInReachFilter).
    enterprise = EnterpriseInReachFilter()
    level = django_filters.ChoiceFilter(choices=Meter.Level.choices)
    energy_type = django_filters.ChoiceFilter(choices=EnergyType.choices)
    code = django_filters.CharFilter(field_name="code")

    class Meta:
        model = Meter
        fields = ["enterprise", "level", "energy_type", "code"]


# The ignore[misc]: the mixin's `request: Request` (as APIView declares it) clashes with View's
# `request: HttpRequest` for mypy; the DRF stubs silence the same clash inside APIView itself.
class MeterViewSet(RegistryWriteMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    model = Meter
    api_client_scope = ApiScope.METERS_READ
    serializer_class = MeterSerializer
    filterset_class = MeterFilter

    def base_queryset(self) -> QuerySet[Meter]:
        return Meter.objects.select_related("site_node__parent__parent__parent").order_by(
            "enterprise_id", "level", "code"
        )

    def perform_destroy(self, instance: Meter) -> None:
        self.require_right(instance.enterprise_id, DELETE)
        services.meter_delete(meter=instance)

    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_file(self, request: Request) -> Response:
        if not can_write_anywhere(request.user):
            raise exceptions.PermissionDenied(_("您只能查看计量档案。"))
        form = MeterImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user: Any = request.user  # authenticated: IsActiveUser ran before the action
        enterprise_id = form.validated_data.get("enterprise", user.enterprise_id)
        enterprise = None
        if enterprise_id is not None and can_manage_registry(user, enterprise_id):
            enterprise = (
                Enterprise.objects.filter(pk=enterprise_id).first()
                if is_platform_admin(user)
                else user.enterprise
            )
        if enterprise is None:
            raise exceptions.ValidationError({"enterprise": [_("不存在。")]})
        report = meters_import(actor=user, enterprise=enterprise, file=form.validated_data["file"])
        body = report.as_dict()
        if report.ok:
            return Response(body, status=status.HTTP_200_OK)
        # The report itself, plus the API's one error envelope for generic clients.
        body.update(error_body(400, "invalid", _("导入文件有误，未导入任何数据；请按行修改后重新上传。")))
        return Response(body, status=status.HTTP_400_BAD_REQUEST)


class ModbusDeviceFilter(django_filters.FilterSet):
    # Declared explicitly: django-filter's automatic filters query the (scoped) manager at import.
    enterprise = EnterpriseInReachFilter()
    protocol = django_filters.ChoiceFilter(choices=ModbusDevice.Protocol.choices)
    status = django_filters.ChoiceFilter(choices=ModbusDevice.Status.choices)
    enabled = django_filters.BooleanFilter()

    class Meta:
        model = ModbusDevice
        fields = ["enterprise", "protocol", "enabled", "status"]


class ModbusDeviceViewSet(RegistryWriteMixin, viewsets.ModelViewSet):  # type: ignore[misc]  # see MeterViewSet
    model = ModbusDevice
    serializer_class = ModbusDeviceSerializer
    filterset_class = ModbusDeviceFilter

    def base_queryset(self) -> QuerySet[ModbusDevice]:
        return ModbusDevice.objects.prefetch_related("points__meter").order_by("enterprise_id", "name")

    def perform_destroy(self, instance: ModbusDevice) -> None:
        self.require_right(instance.enterprise_id, DELETE)
        services.modbus_device_delete(device=instance)
