"""The role-based admin for the core: who may see and change regions, organizations, users and the trail.

Everything registers on `portal.admin_site.admin_site`, never on `django.contrib.admin.site`.
Rights follow the role (`ReachModelAdmin.role_rights`; platform admins have all rights) and
rows follow the access policy (`reach_path`). Officials read enterprises and users in their
region and decide pending registrations through the registration services; they never edit
enterprise data. Roles and organizations change only by a platform admin, and such a change
is recorded as a permission change by the audit signals. Django's Group and Permission
models are not registered: the role is the permission model.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin as OtpTOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import audit
from portal.access import can_change_enterprise_status, can_review_registration, reach_for
from portal.admin_site import ReachModelAdmin, ReadOnlyAdminMixin, admin_site
from portal.models import (
    ApiClient,
    ApiScope,
    AuditEntry,
    Authority,
    Enterprise,
    Region,
    ReviewOrganization,
    Role,
    User,
)

VIEW = frozenset({"view"})
OFFICIAL_ROLES = (Role.MUNICIPAL_REVIEWER, Role.PROVINCIAL_OFFICER)
ADMIN_WORKING_ROLES = (*OFFICIAL_ROLES, Role.EXPERT)


def _is_platform_admin(request: HttpRequest) -> bool:
    return bool(request.user.is_authenticated and request.user.is_platform_admin)


# --- regions ---------------------------------------------------------------------------------


@admin.register(Region, site=admin_site)
class RegionAdmin(ReachModelAdmin):
    reach_path = None  # the division tree is public reference data, not tenant-owned
    role_rights = {role: VIEW for role in ADMIN_WORKING_ROLES}
    list_display = ("code", "name", "name_en", "level", "parent")
    list_filter = ("level",)
    search_fields = ("code", "name", "name_en")
    list_select_related = ("parent",)
    autocomplete_fields = ("parent",)


# --- enterprises -----------------------------------------------------------------------------


class RegistrationReviewForm(ActionForm):
    """The changelist action bar, with the reason a rejection, suspension or reactivation must carry."""

    note = forms.CharField(label=_("审核意见或理由"), required=False, max_length=500)


# Changelist actions an authority takes on enterprises: (service name in portal.services, the
# access predicate that guards it, the message listing what was done).
AUTHORITY_ACTIONS: dict[str, tuple[str, Callable[[Any, Enterprise], bool], Any]] = {
    "approve": ("enterprise_approve", can_review_registration, _("已批准：%(names)s")),
    "reject": ("enterprise_reject", can_review_registration, _("已驳回：%(names)s")),
    "suspend": ("enterprise_suspend", can_change_enterprise_status, _("已停用：%(names)s")),
    "reactivate": ("enterprise_reactivate", can_change_enterprise_status, _("已恢复：%(names)s")),
}


def _authority_service(name: str) -> Callable[..., Any]:
    # Imported when used: the services import the forms' selectors, and the admin is imported
    # by URL loading, which must not depend on them.
    from portal import services

    return cast(Callable[..., Any], getattr(services, name))


@admin.register(Enterprise, site=admin_site)
class EnterpriseAdmin(ReachModelAdmin):
    reach_path = ""  # the enterprise itself: ReachModelAdmin filters on "id"
    role_rights = {role: VIEW for role in OFFICIAL_ROLES}
    list_display = ("name", "credit_code", "kind", "region", "park", "status", "created_at")
    list_filter = ("status", "kind")
    search_fields = ("name", "credit_code", "group_name", "contact_name")
    list_select_related = ("region", "park")
    ordering = ("name",)
    readonly_fields = ("status", "reviewed_by", "reviewed_at", "review_note", "resubmitted_at",
                       "resubmission_note", "suspended_by", "suspended_at", "suspension_reason", "created_at")
    autocomplete_fields = ("region", "park")
    action_form = RegistrationReviewForm
    actions = (
        "approve_registrations", "reject_registrations", "suspend_enterprises", "reactivate_enterprises",
    )

    def has_review_permission(self, request: HttpRequest) -> bool:
        return bool(
            request.user.is_authenticated
            and (request.user.is_platform_admin or request.user.role in OFFICIAL_ROLES)
        )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str):  # type: ignore[no-untyped-def]
        # The park picker (autocomplete) offers parks only.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if request.GET.get("field_name") == "park":
            queryset = queryset.filter(kind=Enterprise.Kind.PARK)
        return queryset, may_have_duplicates

    def _authority_action(self, request: HttpRequest, queryset: QuerySet[Enterprise], kind: str) -> None:
        service_name, may_act, done_template = AUTHORITY_ACTIONS[kind]
        service = _authority_service(service_name)
        note = (request.POST.get("note") or "").strip()
        # The reject service calls its reason "note"; suspension and reactivation "reason".
        reason_kwarg = "reason" if kind in ("suspend", "reactivate") else "note"
        done: list[str] = []
        for enterprise in queryset.select_related("region"):
            # The changelist already shows only rows in reach; the predicate and the service
            # re-check the actor against each enterprise, so a forged selection decides nothing.
            if not may_act(request.user, enterprise):
                refusal = gettext("%(name)s：您无权对该企业执行此操作。") % {"name": enterprise.name}
                self.message_user(request, refusal, messages.ERROR)
                continue
            try:
                service(actor=request.user, enterprise=enterprise, **{reason_kwarg: note})
            except (ValidationError, PermissionDenied) as exc:
                reasons = "；".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, f"{enterprise.name}：{reasons}", messages.ERROR)
                continue
            done.append(enterprise.name)
        if done:
            self.message_user(request, str(done_template) % {"names": "、".join(done)}, messages.SUCCESS)

    @admin.action(description=_("批准所选企业的注册"), permissions=["review"])
    def approve_registrations(self, request: HttpRequest, queryset: QuerySet[Enterprise]) -> None:
        self._authority_action(request, queryset, "approve")

    @admin.action(description=_("驳回所选企业的注册（须在“审核意见或理由”中填写理由）"),
                  permissions=["review"])
    def reject_registrations(self, request: HttpRequest, queryset: QuerySet[Enterprise]) -> None:
        self._authority_action(request, queryset, "reject")

    @admin.action(description=_("停用所选企业（须在“审核意见或理由”中填写理由）"), permissions=["review"])
    def suspend_enterprises(self, request: HttpRequest, queryset: QuerySet[Enterprise]) -> None:
        self._authority_action(request, queryset, "suspend")

    @admin.action(description=_("恢复所选企业（须在“审核意见或理由”中填写理由）"), permissions=["review"])
    def reactivate_enterprises(self, request: HttpRequest, queryset: QuerySet[Enterprise]) -> None:
        self._authority_action(request, queryset, "reactivate")


# --- authorities and review organizations (platform admin only) ---------------------------------


@admin.register(Authority, site=admin_site)
class AuthorityAdmin(ReachModelAdmin):
    reach_path = None  # government bodies are not tenant-owned
    list_display = ("name", "region", "level")
    list_filter = ("level",)
    search_fields = ("name", "region__name", "region__code")
    list_select_related = ("region",)
    autocomplete_fields = ("region",)
    filter_horizontal = ("programs",)


@admin.register(ReviewOrganization, site=admin_site)
class ReviewOrganizationAdmin(ReachModelAdmin):
    reach_path = None  # third-party organizations are not tenant-owned
    list_display = ("name", "credit_code", "group_name", "region")
    search_fields = ("name", "credit_code", "group_name")
    list_select_related = ("region",)
    autocomplete_fields = ("region",)


# --- users -------------------------------------------------------------------------------------


ORGANIZATION_FIELDSET = (
    _("角色与单位"), {"fields": ("role", "enterprise", "authority", "review_organization")}
)


@admin.register(User, site=admin_site)
class UserAdmin(ReachModelAdmin, DjangoUserAdmin):
    """Platform admins manage every account; officials read the accounts of enterprises in reach."""

    # Users are reached through their enterprise; accounts of authorities and review
    # organizations belong to no tenant and are visible to platform admins only.
    reach_path = "enterprise"
    role_rights = {role: VIEW for role in OFFICIAL_ROLES}
    list_display = ("username", "get_full_name", "role", "organization_name", "is_active", "last_login")
    list_filter = ("role", "is_active", "is_staff")
    search_fields = ("username", "first_name", "last_name", "email", "phone", "enterprise__name",
                     "authority__name", "review_organization__name")
    list_select_related = ("enterprise", "authority", "review_organization")
    autocomplete_fields = ("enterprise", "authority", "review_organization")
    fieldsets: ClassVar[Any] = (
        (None, {"fields": ("username", "password")}),
        (_("个人信息"), {"fields": ("first_name", "last_name", "email", "phone")}),
        ORGANIZATION_FIELDSET,
        (_("状态"), {"fields": ("is_active", "is_staff", "is_superuser")}),
        (_("重要日期"), {"fields": ("last_login", "date_joined")}),
    )
    # What an official sees: no password hash, no staff flags.
    read_only_fieldsets = (
        (None, {"fields": ("username",)}),
        (_("个人信息"), {"fields": ("first_name", "last_name", "email", "phone")}),
        ORGANIZATION_FIELDSET,
        (_("状态"), {"fields": ("is_active", "last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2")}),
        ORGANIZATION_FIELDSET,
    )
    filter_horizontal = ()

    @admin.display(description=_("单位"))
    def organization_name(self, user: User) -> str:
        organization = user.organization
        return str(organization) if organization is not None else ""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = DjangoUserAdmin.get_queryset(self, request)
        actor = request.user
        if _is_platform_admin(request):
            return queryset
        if isinstance(actor, User) and actor.role in OFFICIAL_ROLES:
            return queryset.filter(enterprise_id__in=reach_for(actor).visible_ids)
        return queryset.none()

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is not None and not _is_platform_admin(request):
            return self.read_only_fieldsets
        return super().get_fieldsets(request, obj)


# --- audit trail (platform admin only, read-only, exportable) --------------------------------------


AUDIT_EXPORT_COLUMNS: tuple[tuple[Any, Any], ...] = (
    (_("时间"), lambda e: timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M:%S")),
    (_("用户名"), lambda e: e.actor_username),
    (_("单位"), lambda e: e.organization),
    (_("操作"), lambda e: e.action),
    (_("对象类型"), lambda e: e.object_type),
    (_("对象ID"), lambda e: e.object_id),
    (_("对象"), lambda e: e.object_repr),
    (_("渠道"), lambda e: e.get_channel_display()),
    (_("来源地址"), lambda e: e.ip_address or ""),
    (_("企业ID"), lambda e: "" if e.enterprise_id_snapshot is None else str(e.enterprise_id_snapshot)),
    (_("变更内容"), lambda e: json.dumps(e.changes, ensure_ascii=False, sort_keys=True) if e.changes else ""),
)
# Spreadsheet programs run a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_CHUNK_ROWS = 2000  # rows fetched per round trip; bounds memory for a large trail
UTF8_BOM = "\ufeff"  # lets Excel on Chinese Windows open the file as UTF-8


def csv_safe(value: Any) -> str:
    """A cell value that a spreadsheet shows as text, never evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def audit_csv_lines(entries: Iterable[AuditEntry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield UTF8_BOM + writer.writerow([str(title) for title, _value in AUDIT_EXPORT_COLUMNS])
    for entry in entries:
        yield writer.writerow([csv_safe(value(entry)) for _title, value in AUDIT_EXPORT_COLUMNS])


@admin.register(AuditEntry, site=admin_site)
class AuditEntryAdmin(ReadOnlyAdminMixin, ReachModelAdmin):
    # Every organization's trail: platform admins only, and read-only for them too.
    reach_path = None
    change_list_template = "admin/portal/auditentry/change_list.html"
    list_display = ("at", "actor_username", "organization", "action", "object_type", "object_repr", "channel",
                    "ip_address")
    list_filter = ("action", "channel", ("at", admin.DateFieldListFilter))
    search_fields = ("actor_username", "object_repr", "action", "object_type")
    date_hierarchy = "at"
    ordering = ("-at", "-id")
    actions = ("export_selected_csv",)
    show_full_result_count = False  # the trail grows without bound; skip the second COUNT(*)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return [field.name for field in AuditEntry._meta.fields]

    def get_urls(self) -> list[URLPattern]:
        export_view = self.admin_site.admin_view(self.export_view)
        return [path("export/", export_view, name="portal_auditentry_export"), *super().get_urls()]

    def _csv_response(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> StreamingHttpResponse:
        rows = queryset.count()
        audit.record("export", object_type="portal.AuditEntry", object_repr=gettext("操作日志导出"),
                     changes={"rows": rows, "query": request.GET.urlencode()})
        filename = f"audit-{timezone.localtime():%Y%m%d-%H%M%S}.csv"
        lines = audit_csv_lines(queryset.iterator(chunk_size=EXPORT_CHUNK_ROWS))
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """Every row the changelist shows for the same filters and search, unpaginated."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return self._csv_response(request, changelist.get_queryset(request))

    @admin.action(description=_("导出所选日志为 CSV"), permissions=["view"])
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> HttpResponseBase:
        return self._csv_response(request, queryset)


# --- second factor devices (platform admin only) -----------------------------------------------


@admin.register(TOTPDevice, site=admin_site)
class TOTPDeviceAdmin(ReachModelAdmin, OtpTOTPDeviceAdmin):
    """Platform admins list, confirm and remove second-factor devices (say, after a lost phone).

    A device's secret key is never shown once the device exists, whatever
    OTP_ADMIN_HIDE_SENSITIVE_DATA says: whoever reads it can pass as its owner. Enrolment
    happens on the owner's own 2FA setup page.
    """

    reach_path = None  # devices of every organization; platform admins only (no role_rights)
    role_rights: dict[str, frozenset[str]] = {}
    list_display = ["user", "name", "created_at", "last_used_at", "confirmed"]

    def get_list_display(self, request: HttpRequest) -> Any:
        return self.list_display  # without django-otp's QR code column

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        hidden = {"key", "qrcode_link"}
        return [(title, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
                for title, options in fieldsets if any(f not in hidden for f in options["fields"])]

    def config_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        raise PermissionDenied  # the key and its QR code are secrets; see the class docstring

    def qrcode_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        raise PermissionDenied


# --- API clients (platform admin only) ---------------------------------------------------------


API_CLIENT_FIELDS = ("name", "organisation", "reach_kind", "enterprise", "region", "program", "scopes",
                     "expiry_date", "allowed_networks", "revoked")


class ApiClientForm(forms.ModelForm):
    # No Meta here: the admin builds the form per request (the enterprise choices are tenant
    # rows, readable only inside the request's scope).
    scopes = forms.MultipleChoiceField(
        label=_("权限范围"), choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple,
        help_text=_("接口客户端只能读取所选范围的数据。"),
    )


@admin.register(ApiClient, site=admin_site)
class ApiClientAdmin(ReachModelAdmin):
    """Platform admins create API clients here; the key is shown once, on the page after saving
    (never stored in clear, never put into a message or the session). Clients are revoked, not
    deleted, so the audit trail keeps naming them."""

    reach_path = "enterprise"  # an enterprise's client counts as its row; platform admins see all
    role_rights: dict[str, frozenset[str]] = {}
    form = ApiClientForm
    fields = (*API_CLIENT_FIELDS, "prefix", "created", "created_by", "revoked_at", "last_used_at",
              "last_used_ip")
    list_display = ("name", "organisation", "reach_kind", "reach_target", "prefix", "scope_list",
                    "expiry_date", "revoked", "last_used_at")
    list_filter = ("reach_kind", "revoked")
    search_fields = ("name", "organisation", "prefix")
    list_select_related = ("enterprise", "region", "program")
    autocomplete_fields = ("enterprise", "region")
    readonly_fields = ("prefix", "created", "created_by", "revoked_at", "last_used_at", "last_used_ip")
    actions = ("revoke_selected",)

    @admin.display(description=_("数据范围"))
    def reach_target(self, client: ApiClient) -> str:
        target = client.enterprise or client.region or client.program
        return str(target) if target is not None else "—"

    @admin.display(description=_("权限范围"))
    def scope_list(self, client: ApiClient) -> str:
        labels = dict(ApiScope.choices)
        scopes = client.scopes if isinstance(client.scopes, list) else []
        return "、".join(str(labels.get(scope, scope)) for scope in scopes)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if isinstance(obj, ApiClient) and obj.revoked:
            return (*API_CLIENT_FIELDS, *self.readonly_fields)  # a revoked client is history
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        from portal.services import api_client_create, api_client_update

        self._require_write_reach(request, obj)
        actor = cast(User, request.user)
        if change:
            api_client_update(actor=actor, client=obj)
        else:
            _client, obj._issued_key = api_client_create(actor=actor, client=obj)

    def response_add(self, request: HttpRequest, obj: Any,
                     post_url_continue: str | None = None) -> HttpResponse:
        key = getattr(obj, "_issued_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": _("接口密钥已创建"),
            "client": obj,
            "key": key,
            "opts": self.opts,
            "change_url": reverse("admin:portal_apiclient_change", args=[obj.pk]),
            "changelist_url": reverse("admin:portal_apiclient_changelist"),
        }
        response = TemplateResponse(request, "admin/portal/apiclient/key_issued.html", context)
        response["Cache-Control"] = "no-store"  # the one page that holds the key in clear
        return response

    @admin.action(description=_("吊销所选接口客户端（不可恢复）"), permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        from portal.services import api_client_revoke

        names = []
        for client in queryset:
            self._require_write_reach(request, client)
            if not client.revoked:
                api_client_revoke(actor=cast(User, request.user), client=client)
                names.append(client.name)
        if names:
            done = gettext("已吊销：%(names)s") % {"names": "、".join(names)}
            self.message_user(request, done, messages.SUCCESS)
