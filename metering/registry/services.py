"""Writes on the meter and device registry: site tree, meters, Modbus devices and points, MQTT mappings.

Every function takes keyword-only arguments, validates with `full_clean()` (plus the rules that
span rows: unique codes, parent cycles, overlapping registers) before it saves, and runs in one
transaction. The audit trail is written by model signals (metering/signals.py). Callers (pages,
API, admin, import) have already checked reach and rights; these functions never widen them:
every related row they accept must belong to the same enterprise.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils.translation import gettext as _

from metering.models import Meter, ModbusDevice, ModbusPoint, MqttMapping, Reading, SiteNode
from portal.models import Enterprise

RowT = TypeVar("RowT", bound=Model)

# The writable fields of each registry row, in the order forms and the API show them. Services
# accept exactly these; forms, serializers and the admin build their field lists from them.
METER_FIELDS: tuple[str, ...] = (
    "code",
    "name",
    "level",
    "energy_type",
    "unit",
    "cumulative",
    "register_max",
    "parent",
    "site_node",
    "accuracy_class",
    "calibrated_on",
    "calibration_due_on",
    "data_item_code",
    "is_it_load",
    "is_active",
)
SITE_NODE_FIELDS: tuple[str, ...] = ("kind", "name", "parent")
MODBUS_DEVICE_FIELDS: tuple[str, ...] = (
    "name",
    "protocol",
    "host",
    "port",
    "serial_port",
    "baudrate",
    "parity",
    "stopbits",
    "unit_id",
    "timeout_s",
    "retries",
    "backoff_s",
    "poll_interval_s",
    "enabled",
)
MODBUS_POINT_FIELDS: tuple[str, ...] = (
    "meter",
    "register_type",
    "address",
    "data_type",
    "byte_order",
    "scale",
    "offset",
)
MQTT_MAPPING_FIELDS: tuple[str, ...] = (
    "name",
    "topic_pattern",
    "readings_path",
    "meter_path",
    "ts_path",
    "value_path",
    "ts_is_epoch_ms",
    "enabled",
)
# Site tree depth: 厂区 → 车间 → 产线 → 设备.
SITE_KINDS_BY_DEPTH = (
    SiteNode.Kind.SITE,
    SiteNode.Kind.WORKSHOP,
    SiteNode.Kind.LINE,
    SiteNode.Kind.EQUIPMENT,
)


def _apply(instance: Any, fields: Mapping[str, Any], allowed: Collection[str]) -> None:
    unknown = set(fields).difference(allowed)
    if unknown:
        # A programming error, not user input: callers pass only fields they accept.
        raise TypeError(f"unexpected fields for {type(instance).__name__}: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(instance, name, value)


def _save_validated(
    instance: RowT, fields: Mapping[str, Any], allowed: Collection[str], validate: Callable[[RowT], None]
) -> RowT:
    """Set `fields` on the row, check it with `validate` (raises ValidationError), save it."""
    _apply(instance, fields, allowed)
    validate(instance)
    instance.save()
    return instance


def _errors_of(exc: ValidationError) -> dict[str, list[str]]:
    return (
        {k: list(v) for k, v in exc.message_dict.items()}
        if hasattr(exc, "error_dict")
        else {"__all__": list(exc.messages)}
    )


def _merge(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(str(message))


# --- site tree ----------------------------------------------------------------------------------


def _validate_site_node(node: SiteNode) -> None:
    errors: dict[str, list[str]] = {}
    try:
        node.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors.update(_errors_of(exc))
    if node.parent_id is None and node.kind != SiteNode.Kind.SITE and "kind" not in errors:
        _merge(errors, "parent", _("车间、产线和设备必须有上级节点。"))
    duplicate = SiteNode.objects.filter(
        enterprise_id=node.enterprise_id, parent_id=node.parent_id, name=node.name
    ).exclude(pk=node.pk)
    if node.name and duplicate.exists():
        _merge(errors, "name", _("同一上级下已有名为“%(name)s”的节点。") % {"name": node.name})
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def site_node_create(
    *, enterprise: Enterprise, kind: str, name: str, parent: SiteNode | None = None
) -> SiteNode:
    node = SiteNode(enterprise=enterprise, kind=kind, name=(name or "").strip(), parent=parent)
    _validate_site_node(node)
    node.save()
    return node


@transaction.atomic
def site_node_update(*, node: SiteNode, **fields: Any) -> SiteNode:
    _apply(node, fields, SITE_NODE_FIELDS)
    ancestor = node.parent
    while ancestor is not None:
        if ancestor.pk == node.pk:
            raise ValidationError({"parent": _("上级节点不能是自己或自己的下级。")})
        ancestor = ancestor.parent
    _validate_site_node(node)
    node.save()
    return node


@transaction.atomic
def site_node_delete(*, node: SiteNode) -> None:
    # Deleting a node would cascade to its subtree; ask for the subtree to be removed first
    # so nothing disappears as a side effect. Meters placed here keep existing (placement cleared).
    if node.children.exists():
        raise ValidationError(_("请先删除“%(name)s”的下级节点。") % {"name": node.name})
    node.delete()


@transaction.atomic
def site_node_ensure_path(*, enterprise: Enterprise, names: Sequence[str]) -> SiteNode:
    """The node at `names` (厂区/车间/产线/设备), created level by level where missing."""
    cleaned = [n.strip() for n in names if n and n.strip()]
    if not cleaned:
        raise ValidationError(_("安装位置为空。"))
    if len(cleaned) > len(SITE_KINDS_BY_DEPTH):
        raise ValidationError(_("安装位置最多四级：厂区/车间/产线/设备。"))
    parent: SiteNode | None = None
    for depth, name in enumerate(cleaned):
        existing = SiteNode.objects.filter(enterprise=enterprise, parent=parent, name=name).first()
        if existing is None:
            existing = site_node_create(
                enterprise=enterprise, kind=SITE_KINDS_BY_DEPTH[depth], name=name, parent=parent
            )
        parent = existing
    assert parent is not None
    return parent


def site_node_path(node: SiteNode | None) -> str:
    parts: list[str] = []
    while node is not None:
        parts.append(node.name)
        node = node.parent
    return "/".join(reversed(parts))


# --- meters -------------------------------------------------------------------------------------


def meter_relation_errors(meter: Meter) -> dict[str, list[str]]:
    """Rules that look at other meters: no parent cycles, children never coarser than the meter."""
    errors: dict[str, list[str]] = {}
    if meter.parent_id and meter.pk:
        ancestor, seen = meter.parent, set()
        while ancestor is not None and ancestor.pk not in seen:
            if ancestor.pk == meter.pk:
                _merge(errors, "parent", _("上级表计不能是本表计的下级（形成循环）。"))
                break
            seen.add(ancestor.pk)
            ancestor = ancestor.parent
    if meter.pk and meter.level:
        finer = meter.children.filter(level__lt=meter.level).values_list("code", flat=True)[:5]
        if finer:
            _merge(
                errors,
                "level",
                _("下级表计 %(codes)s 的级别高于新级别，请先调整它们。") % {"codes": "、".join(finer)},
            )
    return errors


def meter_validate(meter: Meter) -> None:
    """All rules for one meter, including those that look at other rows; raises ValidationError."""
    errors: dict[str, list[str]] = {}
    try:
        # Constraints are checked below with messages that say which code clashes.
        meter.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors.update(_errors_of(exc))
    if meter.code and meter.enterprise_id:
        clash = Meter.objects.filter(enterprise_id=meter.enterprise_id, code=meter.code).exclude(pk=meter.pk)
        if clash.exists():
            _merge(errors, "code", _("本企业已有编号为“%(code)s”的表计。") % {"code": meter.code})
    for field_name, messages in meter_relation_errors(meter).items():
        if field_name not in errors:
            errors[field_name] = messages
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def meter_create(*, enterprise: Enterprise, **fields: Any) -> Meter:
    return _save_validated(Meter(enterprise=enterprise), fields, METER_FIELDS, meter_validate)


@transaction.atomic
def meter_update(*, meter: Meter, **fields: Any) -> Meter:
    return _save_validated(meter, fields, METER_FIELDS, meter_validate)


@transaction.atomic
def meter_delete(*, meter: Meter) -> None:
    # Readings are evidence filed with applications: a meter with readings is deactivated, never deleted.
    if Reading.objects.filter(meter_id=meter.pk).exists():
        raise ValidationError(
            _("表计“%(code)s”已有读数，不能删除；如不再使用请停用。") % {"code": meter.code}
        )
    points = list(meter.modbus_points.select_related("device").values_list("device__name", flat=True))
    if points:
        raise ValidationError(
            _("表计“%(code)s”仍在 Modbus 设备 %(devices)s 的点位表中，请先删除这些点位。")
            % {"code": meter.code, "devices": "、".join(sorted(set(points)))}
        )
    meter.delete()


# --- Modbus devices and their register maps -------------------------------------------------------


def _register_span(point: ModbusPoint) -> tuple[int, int]:
    return point.address, point.address + point.count - 1


def modbus_points_validate(*, device: ModbusDevice, points: Sequence[ModbusPoint]) -> None:
    """Each point valid, its meter of the device's enterprise, one point per meter, no overlaps.

    Errors are keyed `points[i].field` (0-based, the order given) so a client knows which row.
    """
    errors: dict[str, list[str]] = {}
    for index, point in enumerate(points):
        if point.meter_id is not None and point.meter.enterprise_id != device.enterprise_id:
            _merge(errors, f"points[{index}].meter", _("不存在。"))
            continue
        try:
            point.full_clean(exclude=["device"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            for field, messages in _errors_of(exc).items():
                for message in messages:
                    _merge(errors, f"points[{index}].{field}", message)
    first_by_meter: dict[int, int] = {}
    for index, point in enumerate(points):
        if point.meter_id is None:
            continue
        if point.meter_id in first_by_meter:
            _merge(
                errors,
                f"points[{index}].meter",
                _("与 points[%(other)d] 是同一表计；每个表计在一台设备上只能有一个点位。")
                % {"other": first_by_meter[point.meter_id]},
            )
        else:
            first_by_meter[point.meter_id] = index
    spans = sorted(
        (point.register_type, *_register_span(point), index)
        for index, point in enumerate(points)
        if point.address is not None and point.data_type and point.register_type
    )
    # Sweep in address order, comparing each span with the furthest-reaching earlier one of its type,
    # so an int64 covering several later points is caught for each of them.
    widest: dict[str, tuple[int, int, int]] = {}  # register type → (start, end, index)
    for register_type, start, end, index in spans:
        previous = widest.get(register_type)
        if previous is not None and start <= previous[1]:
            first, second = sorted((previous[2], index))
            _merge(
                errors,
                "points",
                _("points[%(a)d] 与 points[%(b)d] 的寄存器范围重叠（%(type)s %(ra)s 与 %(rb)s）。")
                % {
                    "a": first,
                    "b": second,
                    "type": register_type,
                    "ra": f"{previous[0]}–{previous[1]}",
                    "rb": f"{start}–{end}",
                },
            )
        if previous is None or end > previous[1]:
            widest[register_type] = (start, end, index)
    if errors:
        raise ValidationError(errors)


def _build_points(device: ModbusDevice, points: Iterable[Mapping[str, Any]]) -> list[ModbusPoint]:
    built = []
    for values in points:
        point = ModbusPoint(device=device)
        _apply(point, values, MODBUS_POINT_FIELDS)
        built.append(point)
    return built


def _validate_device(device: ModbusDevice) -> None:
    errors: dict[str, list[str]] = {}
    try:
        device.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors.update(_errors_of(exc))
    if (
        device.name
        and ModbusDevice.objects.filter(enterprise_id=device.enterprise_id, name=device.name)
        .exclude(pk=device.pk)
        .exists()
    ):
        _merge(errors, "name", _("本企业已有名为“%(name)s”的设备。") % {"name": device.name})
    if errors:
        raise ValidationError(errors)


def _validate_device_and_points(device: ModbusDevice, points: Sequence[ModbusPoint] | None) -> None:
    """The device's and its register map's errors in one ValidationError, so one answer lists them all."""
    errors: dict[str, list[str]] = {}
    try:
        _validate_device(device)
    except ValidationError as exc:
        errors.update(_errors_of(exc))
    if points is not None:
        try:
            modbus_points_validate(device=device, points=points)
        except ValidationError as exc:
            errors.update(_errors_of(exc))
    if errors:
        raise ValidationError(errors)


def _replace_points(device: ModbusDevice, points: Iterable[ModbusPoint]) -> None:
    device.points.all().delete()
    for point in points:
        point.save()


@transaction.atomic
def modbus_points_replace(*, device: ModbusDevice, points: Iterable[Mapping[str, Any]]) -> list[ModbusPoint]:
    """Replace the device's whole register map with `points` (validated together first)."""
    built = _build_points(device, points)
    modbus_points_validate(device=device, points=built)
    _replace_points(device, built)
    return built


@transaction.atomic
def modbus_device_create(
    *, enterprise: Enterprise, points: Iterable[Mapping[str, Any]] | None = None, **fields: Any
) -> ModbusDevice:
    device = ModbusDevice(enterprise=enterprise)
    _apply(device, fields, MODBUS_DEVICE_FIELDS)
    built = _build_points(device, points or [])
    _validate_device_and_points(device, built)
    device.save()
    for point in built:
        point.device = device
        point.save()
    return device


@transaction.atomic
def modbus_device_update(
    *, device: ModbusDevice, points: Iterable[Mapping[str, Any]] | None = None, **fields: Any
) -> ModbusDevice:
    """Change the device; when `points` is given, it replaces the whole register map."""
    _apply(device, fields, MODBUS_DEVICE_FIELDS)
    built = None if points is None else _build_points(device, points)
    _validate_device_and_points(device, built)
    device.save()
    if built is not None:
        _replace_points(device, built)
    return device


@transaction.atomic
def modbus_device_delete(*, device: ModbusDevice) -> None:
    device.points.all().delete()
    device.delete()


# --- MQTT mappings ------------------------------------------------------------------------------


def _topic_problem(pattern: str) -> str | None:
    if not pattern or pattern.strip() != pattern:
        return _("主题模式不能为空或以空格开头、结尾。")
    segments = pattern.split("/")
    for index, segment in enumerate(segments):
        if "#" in segment and (segment != "#" or index != len(segments) - 1):
            return _("“#”只能单独作为最后一段。")
        if "+" in segment and segment != "+":
            return _("“+”必须单独占一段。")
        if segment.startswith("{") != segment.endswith("}"):
            return _("命名段必须写成 {名称}。")
    return None


def _validate_mapping(mapping: MqttMapping) -> None:
    errors: dict[str, list[str]] = {}
    try:
        mapping.full_clean()
    except ValidationError as exc:
        errors.update(_errors_of(exc))
    problem = _topic_problem(mapping.topic_pattern)
    if problem and "topic_pattern" not in errors:
        _merge(errors, "topic_pattern", problem)
    if not mapping.meter_path and "{meter}" not in mapping.topic_pattern and "topic_pattern" not in errors:
        _merge(errors, "meter_path", _("请填写表计编号路径，或在主题模式中使用 {meter} 段。"))
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def mqtt_mapping_create(*, enterprise: Enterprise, **fields: Any) -> MqttMapping:
    return _save_validated(MqttMapping(enterprise=enterprise), fields, MQTT_MAPPING_FIELDS, _validate_mapping)


@transaction.atomic
def mqtt_mapping_update(*, mapping: MqttMapping, **fields: Any) -> MqttMapping:
    return _save_validated(mapping, fields, MQTT_MAPPING_FIELDS, _validate_mapping)


@transaction.atomic
def mqtt_mapping_delete(*, mapping: MqttMapping) -> None:
    mapping.delete()
