"""Meters, collectors and readings.

Every model here is tenant-owned and reaches its enterprise through the path given to its
TenantScopedManager (portal/scoping.py); a query with no active scope raises.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.scoping import TenantScopedManager


class EnergyType(models.TextChoices):
    ELECTRICITY = "electricity", _("电力")
    NATURAL_GAS = "natural_gas", _("天然气")
    STEAM = "steam", _("蒸汽")
    HEAT = "heat", _("热力")
    WATER = "water", _("水")
    COMPRESSED_AIR = "compressed_air", _("压缩空气")
    RAW_COAL = "raw_coal", _("原煤")
    WASHED_COAL = "washed_coal", _("洗精煤")
    COKE = "coke", _("焦炭")
    CRUDE_OIL = "crude_oil", _("原油")
    FUEL_OIL = "fuel_oil", _("燃料油")
    GASOLINE = "gasoline", _("汽油")
    KEROSENE = "kerosene", _("煤油")
    DIESEL = "diesel", _("柴油")
    LPG = "lpg", _("液化石油气")
    REFINERY_GAS = "refinery_gas", _("炼厂干气")
    COKE_OVEN_GAS = "coke_oven_gas", _("焦炉煤气")
    OXYGEN = "oxygen", _("氧气")
    NITROGEN = "nitrogen", _("氮气")
    OTHER = "other", _("其他")


class SiteNode(models.Model):
    """A place in the enterprise's site tree: site → workshop → line → equipment."""

    class Kind(models.TextChoices):
        SITE = "site", _("厂区")
        WORKSHOP = "workshop", _("车间")
        LINE = "line", _("产线")
        EQUIPMENT = "equipment", _("设备")

    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("企业"), on_delete=models.CASCADE,
                                   related_name="site_nodes")
    parent = models.ForeignKey("self", verbose_name=_("上级"), null=True, blank=True,
                               on_delete=models.CASCADE, related_name="children")
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("名称"), max_length=100)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("厂区结构")
        verbose_name_plural = _("厂区结构")
        ordering = ["enterprise_id", "kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "parent", "name"],
                                    name="sitenode_unique_name_per_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"

    def clean(self) -> None:
        order = [k.value for k in self.Kind]
        if self.parent_id and self.parent is not None:
            if self.parent.enterprise_id != self.enterprise_id:
                raise ValidationError({"parent": _("上级节点必须属于同一企业。")})
            if order.index(self.parent.kind) >= order.index(self.kind):
                raise ValidationError({"parent": _("上级节点的层级必须高于本节点（厂区→车间→产线→设备）。")})


class Meter(models.Model):
    """A meter (计量器具) whose readings feed the enterprise's energy management center."""

    class Level(models.IntegerChoices):
        BOUNDARY = 1, _("一级（进出用能单位）")
        SUB_UNIT = 2, _("二级（次级用能单位）")
        EQUIPMENT = 3, _("三级（主要用能设备）")

    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("企业"), on_delete=models.PROTECT,
                                   related_name="meters")
    code = models.CharField(_("表计编号"), max_length=64,
                            help_text=_("企业内唯一；MQTT 主题和接口中用它指明表计。"))
    name = models.CharField(_("名称"), max_length=100)
    level = models.PositiveSmallIntegerField(_("计量级别"), choices=Level.choices)
    energy_type = models.CharField(_("能源种类"), max_length=32, choices=EnergyType.choices)
    unit = models.CharField(_("计量单位"), max_length=16)
    cumulative = models.BooleanField(
        _("累计值"), default=True, help_text=_("勾选表示读数为累计表底（如电能表 kWh），否则为区间量。")
    )
    register_max = models.FloatField(
        _("表底满量程"), null=True, blank=True, validators=[MinValueValidator(0)],
        help_text=_("累计表底达到此值后归零（翻转）；留空则按表底回落判断为换表或清零。"),
    )
    parent = models.ForeignKey("self", verbose_name=_("上级表计"), null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="children")
    site_node = models.ForeignKey(SiteNode, verbose_name=_("安装位置"), null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="meters")
    accuracy_class = models.CharField(_("准确度等级"), max_length=16, blank=True)
    calibrated_on = models.DateField(_("最近检定/校准日期"), null=True, blank=True)
    calibration_due_on = models.DateField(_("下次检定/校准日期"), null=True, blank=True)
    data_item_code = models.CharField(_("数据项编码"), max_length=32, blank=True)
    is_it_load = models.BooleanField(
        _("IT 负载"), default=False,
        help_text=_("数据中心：勾选表示此表计量 IT 设备用电，用于计算 PUE（总用电量 ÷ IT 设备用电量）。"),
    )
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, editable=False)
    last_reading_at = models.DateTimeField(_("最近读数时间"), null=True, blank=True, editable=False)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("表计")
        verbose_name_plural = _("表计")
        ordering = ["enterprise_id", "level", "code"]
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "code"], name="meter_code_unique_per_enterprise"),
            models.CheckConstraint(name="meter_level_1_to_3", condition=models.Q(level__gte=1, level__lte=3)),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def clean(self) -> None:
        errors = {}
        if self.parent_id and self.parent_id == self.pk:
            errors["parent"] = _("上级表计不能是自己。")
        elif self.parent_id and self.parent is not None:
            if self.parent.enterprise_id != self.enterprise_id:
                errors["parent"] = _("上级表计必须属于同一企业。")
            elif self.parent.level > self.level:
                errors["parent"] = _("上级表计的级别不能低于本表计。")
        if (
            self.site_node_id
            and self.site_node is not None
            and self.site_node.enterprise_id != self.enterprise_id
        ):
            errors["site_node"] = _("安装位置必须属于同一企业。")
        if self.calibrated_on and self.calibration_due_on and self.calibration_due_on < self.calibrated_on:
            errors["calibration_due_on"] = _("下次检定日期不能早于最近检定日期。")
        if errors:
            raise ValidationError(errors)


class Quality(models.IntegerChoices):
    OK = 0, _("正常")
    ESTIMATED = 1, _("估算")
    SUSPECT = 2, _("可疑")
    MISSING = 3, _("缺失")


class Source(models.TextChoices):
    MODBUS = "modbus", "Modbus"
    MQTT = "mqtt", "MQTT"
    HTTP = "http", "HTTP"
    IMPORT = "import", _("导入")
    MANUAL = "manual", _("手工录入")


class Reading(models.Model):
    """One raw reading. On PostgreSQL the table is partitioned by month on `ts`.

    The primary key is (meter, ts): ingest is idempotent on it, so a resent reading is a
    duplicate, never a second row.
    """

    pk = models.CompositePrimaryKey("meter_id", "ts")
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="readings", db_constraint=False)
    ts = models.DateTimeField(_("时间"))
    value = models.FloatField(_("读数"))
    quality = models.PositiveSmallIntegerField(_("质量"), choices=Quality.choices, default=Quality.OK)
    source = models.CharField(_("来源"), max_length=8, choices=Source.choices)
    received_at = models.DateTimeField(_("接收时间"), default=timezone.now)

    objects = TenantScopedManager(enterprise="meter__enterprise")

    class Meta:
        verbose_name = _("读数")
        verbose_name_plural = _("读数")
        managed = True

    def __str__(self) -> str:
        return f"{self.meter_id}@{self.ts.isoformat()}={self.value}"


class QuarantinedMessage(models.Model):
    """An input that could not become readings, kept with the reason. Never silently dropped."""

    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("企业"), null=True, blank=True,
                                   on_delete=models.CASCADE, related_name="quarantined_messages")
    source = models.CharField(_("来源"), max_length=8, choices=Source.choices)
    channel = models.CharField(_("通道"), max_length=255, blank=True,
                               help_text=_("MQTT 主题、接口地址或设备。"))
    item_index = models.IntegerField(_("条目序号"), null=True, blank=True)
    reason = models.CharField(_("原因"), max_length=500)
    payload = models.BinaryField(_("原始内容（截断）"), blank=True)
    payload_size = models.PositiveIntegerField(_("原始大小（字节）"), default=0)
    payload_sha256 = models.CharField(_("原始内容摘要"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("接收时间"), default=timezone.now, db_index=True)
    resolved = models.BooleanField(_("已处理"), default=False)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("隔离数据")
        verbose_name_plural = _("隔离数据")
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.reason[:60]}"


class GatewayToken(models.Model):
    """A credential an enterprise's gateway uses for HTTP ingest and as its MQTT password.

    Only hashes are stored: SHA-256 for the HTTP token lookup, and Mosquitto's PBKDF2 form
    for the broker's password file. The plain token is shown once, when it is created.
    """

    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("企业"), on_delete=models.CASCADE,
                                   related_name="gateway_tokens")
    name = models.CharField(_("名称"), max_length=100)
    token_prefix = models.CharField(_("令牌前缀"), max_length=12, editable=False)
    token_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    mosquitto_password_hash = models.CharField(max_length=255, editable=False)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("网关令牌")
        verbose_name_plural = _("网关令牌")
        ordering = ["enterprise_id", "-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"

    @property
    def mqtt_username(self) -> str:
        """The gateway's own broker account, `<credit code>.<token id>`: one account per token, so
        revoking one token shuts out that gateway alone. Its password is the token itself."""
        return f"{self.enterprise.credit_code}.{self.pk}"


class ModbusDevice(models.Model):
    """A Modbus device (or gateway) polled by the collector, with its live state."""

    class Protocol(models.TextChoices):
        TCP = "tcp", "Modbus TCP"
        RTU_OVER_TCP = "rtu_over_tcp", "RTU over TCP"
        RTU = "rtu", _("串口 RTU")

    class Status(models.TextChoices):
        UNKNOWN = "unknown", _("未知")
        ONLINE = "online", _("在线")
        OFFLINE = "offline", _("离线")

    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("企业"), on_delete=models.PROTECT,
                                   related_name="modbus_devices")
    name = models.CharField(_("名称"), max_length=100)
    protocol = models.CharField(_("协议"), max_length=16, choices=Protocol.choices, default=Protocol.TCP)
    host = models.CharField(_("主机"), max_length=255, blank=True)
    port = models.PositiveIntegerField(_("端口"), default=502, validators=[MinValueValidator(1),
                                                                          MaxValueValidator(65535)])
    serial_port = models.CharField(_("串口"), max_length=100, blank=True)
    baudrate = models.PositiveIntegerField(_("波特率"), default=9600)
    parity = models.CharField(_("校验"), max_length=1, default="N",
                              choices=[("N", "N"), ("E", "E"), ("O", "O")])
    stopbits = models.PositiveSmallIntegerField(_("停止位"), default=1, choices=[(1, "1"), (2, "2")])
    unit_id = models.PositiveSmallIntegerField(_("从站地址"), default=1, validators=[MaxValueValidator(247)])
    timeout_s = models.FloatField(_("超时（秒）"), default=3.0, validators=[MinValueValidator(0.1),
                                                                          MaxValueValidator(60)])
    retries = models.PositiveSmallIntegerField(_("重试次数"), default=2, validators=[MaxValueValidator(10)])
    backoff_s = models.FloatField(_("重试退避（秒）"), default=0.5, validators=[MinValueValidator(0),
                                                                              MaxValueValidator(60)])
    poll_interval_s = models.PositiveIntegerField(_("采集周期（秒）"), default=60,
                                                  validators=[MinValueValidator(1), MaxValueValidator(86400)])
    enabled = models.BooleanField(_("启用"), default=True)

    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.UNKNOWN,
                              editable=False)
    next_poll_at = models.DateTimeField(_("下次采集"), default=timezone.now, editable=False, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    claim_token = models.CharField(max_length=36, blank=True, editable=False)
    last_polled_at = models.DateTimeField(_("最近采集"), null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(_("最近成功"), null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(_("连续失败次数"), default=0, editable=False)
    polls_total = models.PositiveBigIntegerField(_("采集次数"), default=0, editable=False)
    polls_ok = models.PositiveBigIntegerField(_("成功次数"), default=0, editable=False)
    last_error = models.CharField(_("最近错误"), max_length=500, blank=True, editable=False)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("Modbus 设备")
        verbose_name_plural = _("Modbus 设备")
        ordering = ["enterprise_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "name"],
                                    name="modbusdevice_name_unique_per_enterprise"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def success_rate(self) -> float | None:
        return self.polls_ok / self.polls_total if self.polls_total else None

    def clean(self) -> None:
        if self.protocol in (self.Protocol.TCP, self.Protocol.RTU_OVER_TCP) and not self.host:
            raise ValidationError({"host": _("TCP 设备必须填写主机。")})
        if self.protocol == self.Protocol.RTU and not self.serial_port:
            raise ValidationError({"serial_port": _("串口 RTU 设备必须填写串口。")})


class ModbusPoint(models.Model):
    """One value in a device's register map, decoded and written to a meter."""

    class RegisterType(models.TextChoices):
        HOLDING = "holding", _("保持寄存器")
        INPUT = "input", _("输入寄存器")

    class DataType(models.TextChoices):
        INT16 = "int16", "int16"
        UINT16 = "uint16", "uint16"
        INT32 = "int32", "int32"
        UINT32 = "uint32", "uint32"
        INT64 = "int64", "int64"
        UINT64 = "uint64", "uint64"
        FLOAT32 = "float32", "float32"
        FLOAT64 = "float64", "float64"

    class ByteOrder(models.TextChoices):
        ABCD = "ABCD", _("ABCD（大端）")
        DCBA = "DCBA", _("DCBA（小端）")
        BADC = "BADC", _("BADC（字内字节交换）")
        CDAB = "CDAB", _("CDAB（字交换）")

    device = models.ForeignKey(ModbusDevice, verbose_name=_("设备"), on_delete=models.CASCADE,
                               related_name="points")
    meter = models.ForeignKey(Meter, verbose_name=_("表计"), on_delete=models.PROTECT,
                              related_name="modbus_points")
    register_type = models.CharField(_("寄存器类型"), max_length=8, choices=RegisterType.choices,
                                     default=RegisterType.HOLDING)
    address = models.PositiveIntegerField(_("起始地址（0 起）"), validators=[MaxValueValidator(65535)])
    data_type = models.CharField(_("数据类型"), max_length=8, choices=DataType.choices,
                                 default=DataType.FLOAT32)
    byte_order = models.CharField(_("字节序"), max_length=4, choices=ByteOrder.choices,
                                  default=ByteOrder.ABCD)
    scale = models.FloatField(_("倍率"), default=1.0)
    offset = models.FloatField(_("偏移"), default=0.0)

    objects = TenantScopedManager(enterprise="device__enterprise")

    class Meta:
        verbose_name = _("寄存器点位")
        verbose_name_plural = _("寄存器点位")
        ordering = ["device_id", "register_type", "address"]
        constraints = [
            models.UniqueConstraint(fields=["device", "meter"],
                                    name="modbuspoint_one_point_per_meter_per_device"),
        ]

    def __str__(self) -> str:
        return f"{self.register_type}:{self.address} {self.data_type} → {self.meter_id}"

    @property
    def count(self) -> int:
        """Registers (16-bit words) the value occupies."""
        return {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}.get(self.data_type, 4)

    def clean(self) -> None:
        if self.address is not None and self.address + self.count - 1 > 65535:
            raise ValidationError({"address": _("地址超出寄存器范围（0–65535）。")})
        if self.device_id and self.meter_id and self.device.enterprise_id != self.meter.enterprise_id:
            raise ValidationError({"meter": _("表计必须属于设备所在企业。")})


class MqttMapping(models.Model):
    """How to read one gateway's own topics and payloads into readings.

    `topic_pattern` uses MQTT wildcards and named segments, e.g. `plant1/{meter}/data` or
    `gw/+/{meter}`; the field paths are dotted paths into the JSON payload
    (`data.0.v`). When `readings_path` is set the payload holds a list of readings.
    """

    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("企业"), on_delete=models.CASCADE,
                                   related_name="mqtt_mappings")
    name = models.CharField(_("名称"), max_length=100)
    topic_pattern = models.CharField(_("主题模式"), max_length=255)
    readings_path = models.CharField(_("读数列表路径"), max_length=100, blank=True)
    meter_path = models.CharField(_("表计编号路径"), max_length=100, blank=True,
                                  help_text=_("留空时取主题中的 {meter} 段。"))
    ts_path = models.CharField(_("时间路径"), max_length=100, default="ts")
    value_path = models.CharField(_("数值路径"), max_length=100, default="value")
    ts_is_epoch_ms = models.BooleanField(_("时间为毫秒时间戳"), default=False)
    enabled = models.BooleanField(_("启用"), default=True)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("MQTT 映射")
        verbose_name_plural = _("MQTT 映射")
        ordering = ["enterprise_id", "name"]

    def __str__(self) -> str:
        return self.name
