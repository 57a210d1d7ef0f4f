"""Organizations, people, roles and the audit trail: the core every other app builds on."""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager

from portal.credit_code import normalize_credit_code, validate_credit_code
from portal.scoping import TenantScopedManager


class Region(models.Model):
    """A node of the administrative division tree (行政区划), identified by its official code."""

    class Level(models.TextChoices):
        PROVINCE = "province", _("省级")
        CITY = "city", _("市级")
        DISTRICT = "district", _("区县级")

    code = models.CharField(_("行政区划代码"), max_length=12, unique=True)
    name = models.CharField(_("名称"), max_length=64)
    name_en = models.CharField(_("英文名称"), max_length=64, blank=True)
    level = models.CharField(_("层级"), max_length=16, choices=Level.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("上级"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="children",
    )
    # Materialized path of codes ("/410000/410100/"), so "everything under this region" is one
    # indexed prefix match instead of a recursive query.
    path = models.CharField(_("路径"), max_length=128, editable=False, db_index=True)

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.path = (self.parent.path if self.parent else "/") + f"{self.code}/"
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        names = []
        node: Region | None = self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return "".join(reversed(names))


class Enterprise(models.Model):
    """An enterprise, data center or park: the tenant that owns applications and meters."""

    class Kind(models.TextChoices):
        INDUSTRIAL = "industrial", _("工业企业")
        DATA_CENTER = "data_center", _("数据中心")
        PARK = "park", _("园区")

    class Status(models.TextChoices):
        PENDING = "pending", _("待审核")
        APPROVED = "approved", _("已批准")
        REJECTED = "rejected", _("已驳回")
        SUSPENDED = "suspended", _("已停用")

    name = models.CharField(_("企业名称"), max_length=200)
    credit_code = models.CharField(
        _("统一社会信用代码"), max_length=18, unique=True, validators=[validate_credit_code]
    )
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices, default=Kind.INDUSTRIAL)
    region = models.ForeignKey(Region, verbose_name=_("所在地区"), on_delete=models.PROTECT,
                               related_name="enterprises")
    industry = models.CharField(_("所属行业"), max_length=100, blank=True)
    # The group (集团) the enterprise belongs to, by name: an expert who declared the group, or whose
    # employer is in it, is never offered the enterprise's submissions (reviews.assignments).
    group_name = models.CharField(_("所属集团"), max_length=200, blank=True)
    address = models.CharField(_("单位地址"), max_length=255, blank=True)
    contact_name = models.CharField(_("联系人"), max_length=50, blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    contact_email = models.EmailField(_("电子邮箱"), blank=True)
    park = models.ForeignKey(
        "self",
        verbose_name=_("所属园区"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
        limit_choices_to={"kind": "park"},
    )
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING)
    reviewed_by = models.ForeignKey(
        "portal.User", verbose_name=_("审核人"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(_("审核时间"), null=True, blank=True)
    review_note = models.CharField(_("审核意见"), max_length=500, blank=True)
    # The applicant's answer to a rejection; the reviewer reads it beside the rejection note.
    resubmitted_at = models.DateTimeField(_("重新提交时间"), null=True, blank=True)
    resubmission_note = models.CharField(_("修改说明"), max_length=500, blank=True)
    # Set while the status is "suspended" and cleared on reactivation; the audit trail keeps
    # every suspension and reactivation with its reason.
    suspended_by = models.ForeignKey(
        "portal.User", verbose_name=_("停用人"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    suspended_at = models.DateTimeField(_("停用时间"), null=True, blank=True)
    suspension_reason = models.CharField(_("停用理由"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, editable=False)

    # Tenant scoping fails closed: a query with no active scope raises ScopeError.
    objects = TenantScopedManager(enterprise="id")

    class Meta:
        verbose_name = _("企业")
        verbose_name_plural = _("企业")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.credit_code = normalize_credit_code(self.credit_code)
        if self.park_id and self.park_id == self.pk:
            raise ValidationError({"park": _("园区不能是自己的成员。")})
        if self.park_id and self.park and self.park.kind != self.Kind.PARK:
            raise ValidationError({"park": _("所属园区必须是园区类型的单位。")})
        if self.kind == self.Kind.PARK and self.park_id:
            raise ValidationError({"park": _("园区本身不能隶属于其他园区。")})

    @property
    def is_approved(self) -> bool:
        """Approved, and not suspended: its users may file applications (`can_file_applications`)."""
        return self.status == self.Status.APPROVED

    @property
    def may_send_readings(self) -> bool:
        """Whether its gateways may send readings (HTTP ingest, a broker account for MQTT) and
        its Modbus devices are polled.

        The one rule every collector follows: only an approved enterprise sends. Every other
        status (pending, rejected, suspended, and any status added later) is refused.
        """
        return self.status == self.Status.APPROVED

    @classmethod
    def sending_filter(cls, path: str = "") -> models.Q:
        """`may_send_readings` as a query condition, for collectors that select across tenants.

        `path` leads from the queried model to the enterprise, e.g. "enterprise__".
        """
        return models.Q(**{f"{path}status": cls.Status.APPROVED})


class Authority(models.Model):
    """A government body (主管部门) with its region, level and the programs it handles."""

    class Level(models.TextChoices):
        DISTRICT = "district", _("区县级")
        MUNICIPAL = "municipal", _("市级")
        PROVINCIAL = "provincial", _("省级")

    name = models.CharField(_("机关名称"), max_length=200)
    region = models.ForeignKey(Region, verbose_name=_("管辖地区"), on_delete=models.PROTECT,
                               related_name="authorities")
    level = models.CharField(_("层级"), max_length=16, choices=Level.choices)
    programs = models.ManyToManyField("applications.Program", verbose_name=_("负责的项目"), blank=True)

    class Meta:
        verbose_name = _("主管部门")
        verbose_name_plural = _("主管部门")
        ordering = ["region__code", "name"]

    def __str__(self) -> str:
        return self.name


class ReviewOrganization(models.Model):
    """A third-party review organization (第三方机构) whose experts run on-site checks."""

    name = models.CharField(_("机构名称"), max_length=200)
    credit_code = models.CharField(
        _("统一社会信用代码"), max_length=18, unique=True, validators=[validate_credit_code]
    )
    region = models.ForeignKey(
        Region, verbose_name=_("所在地区"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Its experts are never offered submissions of enterprises in the same group (reviews.assignments).
    group_name = models.CharField(_("所属集团"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("第三方机构")
        verbose_name_plural = _("第三方机构")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ENTERPRISE_ADMIN = "enterprise_admin", _("企业管理员")
    ENTERPRISE_STAFF = "enterprise_staff", _("企业填报人员")
    MUNICIPAL_REVIEWER = "municipal_reviewer", _("初审人员（市/区主管部门）")
    PROVINCIAL_OFFICER = "provincial_officer", _("省级主管人员")
    EXPERT = "expert", _("评审专家")
    PLATFORM_ADMIN = "platform_admin", _("平台管理员")


ENTERPRISE_ROLES = frozenset({Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_STAFF})
GOVERNMENT_ROLES = frozenset({Role.MUNICIPAL_REVIEWER, Role.PROVINCIAL_OFFICER})
# Roles that work in the Django admin (officials, experts, platform admins).
ADMIN_ROLES = frozenset({*GOVERNMENT_ROLES, Role.EXPERT, Role.PLATFORM_ADMIN})


class UserManager(DjangoUserManager["User"]):
    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra_fields: Any
    ) -> User:
        """`manage.py createsuperuser` (and anything else that makes a superuser) makes a platform
        admin: the model's default role, enterprise staff, needs an enterprise, which a superuser
        made at bootstrap has not and should not have."""
        extra_fields.setdefault("role", Role.PLATFORM_ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person with exactly one role and the one organization that role belongs to."""

    role = models.CharField(_("角色"), max_length=32, choices=Role.choices, default=Role.ENTERPRISE_STAFF)
    enterprise = models.ForeignKey(
        Enterprise, verbose_name=_("所属企业"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="users",
    )
    authority = models.ForeignKey(
        Authority, verbose_name=_("所属主管部门"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="users",
    )
    review_organization = models.ForeignKey(
        ReviewOrganization,
        verbose_name=_("所属第三方机构"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="experts",
    )
    phone = models.CharField(_("手机"), max_length=30, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")
        constraints = [
            models.CheckConstraint(
                name="user_enterprise_roles_have_enterprise",
                condition=~models.Q(role__in=["enterprise_admin", "enterprise_staff"])
                | models.Q(
                    enterprise__isnull=False, authority__isnull=True, review_organization__isnull=True
                ),
            ),
            models.CheckConstraint(
                name="user_government_roles_have_authority",
                condition=~models.Q(role__in=["municipal_reviewer", "provincial_officer"])
                | models.Q(
                    authority__isnull=False, enterprise__isnull=True, review_organization__isnull=True
                ),
            ),
            models.CheckConstraint(
                name="user_experts_have_review_organization",
                condition=~models.Q(role="expert")
                | models.Q(
                    review_organization__isnull=False, enterprise__isnull=True, authority__isnull=True
                ),
            ),
        ]

    def clean(self) -> None:
        super().clean()
        required = {
            Role.ENTERPRISE_ADMIN: "enterprise",
            Role.ENTERPRISE_STAFF: "enterprise",
            Role.MUNICIPAL_REVIEWER: "authority",
            Role.PROVINCIAL_OFFICER: "authority",
            Role.EXPERT: "review_organization",
        }.get(Role(self.role))
        errors: dict[str, Any] = {}
        for field in ("enterprise", "authority", "review_organization"):
            has_value = getattr(self, f"{field}_id") is not None
            if field == required and not has_value:
                errors[field] = _("该角色必须填写此项。")
            elif field != required and has_value:
                errors[field] = _("该角色不能填写此项。")
        if errors:
            raise ValidationError(errors)

    @property
    def organization(self) -> Enterprise | Authority | ReviewOrganization | None:
        return self.enterprise or self.authority or self.review_organization

    @property
    def is_platform_admin(self) -> bool:
        return self.is_superuser or self.role == Role.PLATFORM_ADMIN

    @property
    def is_enterprise_user(self) -> bool:
        return self.role in ENTERPRISE_ROLES

    @property
    def is_government_user(self) -> bool:
        return self.role in GOVERNMENT_ROLES


class AuditEntry(models.Model):
    """One archived operation (操作日志). Append-only: the application never updates or deletes it."""

    class Channel(models.TextChoices):
        WEB = "web", _("网页")
        ADMIN = "admin", _("管理后台")
        API = "api", _("接口")
        TASK = "task", _("后台任务")
        COMMAND = "command", _("命令")
        SYSTEM = "system", _("系统")

    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Copied so the trail still reads correctly after a user or organization is renamed or removed.
    actor_username = models.CharField(_("用户名"), max_length=150, blank=True, db_index=True)
    organization = models.CharField(_("单位"), max_length=200, blank=True)
    enterprise_id_snapshot = models.BigIntegerField(_("企业ID"), null=True, blank=True, db_index=True)
    action = models.CharField(_("操作"), max_length=40, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=100, blank=True, db_index=True)
    object_id = models.CharField(_("对象ID"), max_length=64, blank=True)
    object_repr = models.CharField(_("对象"), max_length=255, blank=True)
    changes = models.JSONField(_("变更内容"), default=dict, blank=True)
    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices, default=Channel.SYSTEM)
    ip_address = models.GenericIPAddressField(_("来源地址"), null=True, blank=True)
    user_agent = models.CharField(_("客户端"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("操作日志")
        verbose_name_plural = _("操作日志")
        ordering = ["-at", "-id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValidationError(_("操作日志只能追加，不能修改。"))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(_("操作日志只能追加，不能删除。"))


# --- API clients (machine tokens; see portal/api/clients.py for the why) ----------------------


class ApiScope(models.TextChoices):
    """What an API client may read. Each API view names the one it needs (`api_client_scope`)."""

    ENTERPRISES_READ = "enterprises:read", _("企业基本信息")
    METERS_READ = "meters:read", _("计量器具档案")
    READINGS_READ = "readings:read", _("计量数据与汇总")
    INDICATORS_READ = "indicators:read", _("能耗与碳排放指标")
    PROGRAMS_READ = "programs:read", _("申报项目")
    SUBMISSIONS_READ = "submissions:read", _("申报材料")


class ApiClientManager(APIKeyManager):
    """djangorestframework-api-key's manager, with the integer primary key kept.

    The library makes the primary key "<prefix>.<hash>", which would put the hash into admin URLs,
    the audit trail's object ids and logs; here the key only fills `prefix` and `hashed_key`.
    """

    def assign_key(self, obj: AbstractAPIKey) -> str:
        key, prefix, hashed_key = self.key_generator.generate()
        obj.prefix = prefix
        obj.hashed_key = hashed_key
        return key

    def get_usable_keys(self) -> models.QuerySet[Any]:
        # What the reach is computed from, fetched with the key.
        return super().get_usable_keys().select_related("enterprise", "region", "program__region")


class ApiClient(AbstractAPIKey):
    """A machine client of the REST API (接口客户端): a provincial platform, an enterprise's BI.

    The key is hashed at rest (SHA-512 of a random 32-character secret, by the library) and shown
    once, when a platform admin creates the client in the admin. It reads what its scopes name,
    within its reach (`portal.access`): one enterprise, a region's subtree, or a program's
    enterprises. It never writes. It stops working when revoked (for good) or expired.
    """

    class ReachKind(models.TextChoices):
        ENTERPRISE = "enterprise", _("单个企业")
        REGION = "region", _("行政区域")
        PROGRAM = "program", _("申报项目")

    # An integer key, not the library's "<prefix>.<hash>" (see ApiClientManager).
    id = models.BigAutoField(primary_key=True)  # type: ignore[assignment]
    # The library's fields, named in Chinese for the admin.
    prefix = models.CharField(_("密钥前缀"), max_length=8, unique=True, editable=False)
    created = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    name = models.CharField(_("名称"), max_length=100,
                            help_text=_("便于识别的名称，例如“河南省能耗在线监测平台”。"))
    organisation = models.CharField(_("使用单位"), max_length=200)
    reach_kind = models.CharField(_("数据范围类型"), max_length=16, choices=ReachKind.choices)
    enterprise = models.ForeignKey(
        Enterprise, verbose_name=_("企业"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="api_clients", help_text=_("范围为“单个企业”时必填。"),
    )
    region = models.ForeignKey(
        Region, verbose_name=_("行政区域"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="api_clients",
        help_text=_("范围为“行政区域”时必填，包含其下所有地区；范围为“申报项目”时可选，用于进一步限定。"),
    )
    program = models.ForeignKey(
        "applications.Program", verbose_name=_("申报项目"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="api_clients", help_text=_("范围为“申报项目”时必填。"),
    )
    scopes = models.JSONField(_("权限范围"), default=list, blank=True)
    allowed_networks = models.TextField(
        _("允许的来源地址"), blank=True,
        help_text=_("每行一个 IP 地址或网段（如 203.0.113.0/24）；留空表示不限来源。"),
    )
    revoked = models.BooleanField(_("已吊销"), default=False,
                                  help_text=_("吊销后该令牌立即失效，且不可恢复。"))
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True, editable=False)
    expiry_date = models.DateTimeField(_("到期时间"), null=True, blank=True,
                                       help_text=_("到期后该令牌失效；留空表示长期有效。"))
    created_by = models.ForeignKey(
        User, verbose_name=_("创建人"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", editable=False,
    )
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True, editable=False)
    last_used_ip = models.GenericIPAddressField(_("最近来源地址"), null=True, blank=True, editable=False)

    objects = ApiClientManager()  # type: ignore[misc]

    class Meta:
        verbose_name = _("接口客户端")
        verbose_name_plural = _("接口客户端")
        ordering = ["-created"]
        indexes = [models.Index(fields=["reach_kind"], name="portal_apiclient_reach_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def clean(self) -> None:
        super().clean()  # the library's rule: a revoked key cannot be un-revoked
        errors: dict[str, Any] = {}
        required = {
            self.ReachKind.ENTERPRISE: "enterprise", self.ReachKind.REGION: "region",
            self.ReachKind.PROGRAM: "program",
        }.get(self.reach_kind)  # type: ignore[call-overload]
        if required is not None and getattr(self, f"{required}_id") is None:
            errors[required] = _("该数据范围类型须指定此项。")
        if self.reach_kind == self.ReachKind.ENTERPRISE:
            for other in ("region", "program"):
                if getattr(self, f"{other}_id") is not None:
                    errors[other] = _("范围为“单个企业”时不应填写此项。")
        if self.reach_kind == self.ReachKind.REGION:
            for other in ("enterprise", "program"):
                if getattr(self, f"{other}_id") is not None:
                    errors[other] = _("范围为“行政区域”时不应填写此项。")
        if self.reach_kind == self.ReachKind.PROGRAM and self.enterprise_id is not None:
            errors["enterprise"] = _("范围为“申报项目”时不应填写此项。")
        scopes = self.scopes if isinstance(self.scopes, list) else None
        if not scopes:
            errors["scopes"] = _("至少选择一项权限范围。")
        elif unknown := sorted(set(map(str, scopes)) - set(ApiScope.values)):
            errors["scopes"] = _("未知的权限范围：%(scopes)s。") % {"scopes": "、".join(unknown)}
        for line in self.allowed_network_lines():
            try:
                ipaddress.ip_network(line, strict=False)
            except ValueError:
                errors["allowed_networks"] = _("“%(line)s”不是有效的 IP 地址或网段。") % {"line": line}
                break
        if errors:
            raise ValidationError(errors)

    def allowed_network_lines(self) -> list[str]:
        return [line.strip() for line in (self.allowed_networks or "").splitlines() if line.strip()]

    def allows_address(self, address: str | None) -> bool:
        """Whether a request from `address` may use this key (always, without an allow-list)."""
        lines = self.allowed_network_lines()
        if not lines:
            return True
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        networks = [ipaddress.ip_network(line, strict=False) for line in lines]
        return any(ip.version == network.version and ip in network for network in networks)

    @property
    def is_usable(self) -> bool:
        return not self.revoked and not self.has_expired

    def has_scope(self, scope: str) -> bool:
        return isinstance(self.scopes, list) and scope in self.scopes


class ApiClientActor:
    """What `request.user` is for a request authenticated with an API client's key.

    It is authenticated but holds no role, enterprise or authority of a person, so every role
    check that asks "which enterprise is this user's", "is this an admin" answers no; what it may
    see comes only from `portal.access.reach_for`, which knows API clients.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_superuser = False
    is_staff = False
    is_platform_admin = False
    is_enterprise_user = False
    is_government_user = False
    role = ""
    pk = None
    id = None
    enterprise = None
    enterprise_id = None
    authority = None
    authority_id = None
    review_organization = None
    review_organization_id = None

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    @property
    def username(self) -> str:
        return f"api-client:{self.client.prefix}"

    @property
    def organization(self) -> str:
        return self.client.organisation

    def get_username(self) -> str:
        return self.username

    def is_verified(self) -> bool:
        return False  # no second factor exists for machines (portal/api/clients.py)

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def __str__(self) -> str:
        return self.username

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiClientActor) and other.client.pk == self.client.pk

    def __hash__(self) -> int:
        return hash(("api-client", self.client.pk))
