"""Writes on organizations and users: registration and its re-submission, review of
registrations, suspension and reactivation, staff accounts.

Every function here takes keyword-only arguments, checks the actor with a predicate of the
access policy, validates with `full_clean()` before it saves, runs in one transaction and
leaves an audit row (model signals record the field changes; decisions are recorded
explicitly as "approve", "reject", "suspend", "reactivate" and "resubmit", with their reason).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled

from portal import audit
from portal.access import (
    can_change_enterprise_status,
    can_manage_api_clients,
    can_manage_enterprise,
    can_resubmit_registration,
    can_review_registration,
)
from portal.credit_code import credit_code_problem, normalize_credit_code
from portal.models import ApiClient, Enterprise, Region, Role, User
from portal.selectors import province_path_of

# Fields an enterprise admin may edit on their own enterprise. Identity (name, credit code)
# and registration status change only through the authority.
ENTERPRISE_EDITABLE_FIELDS = frozenset(
    {"industry", "group_name", "address", "contact_name", "contact_phone", "contact_email", "park"}
)
REGISTRATION_REGION_LEVELS = (Region.Level.CITY, Region.Level.DISTRICT)
# Reasons and notes are stored whole in CharField(max_length=500) columns; longer text is a
# clear error, never silently cut.
REASON_MAX_CHARS = 500


def _credit_code_taken(credit_code: str, *, exclude_id: int | None = None) -> bool:
    # Uniqueness is global, while the caller (an anonymous visitor, or an enterprise admin)
    # reaches at most one tenant: the check must look at every tenant's rows. It reads only
    # existence, nothing about the other enterprise leaks beyond "already registered".
    with scopes_disabled():
        existing = Enterprise.objects.filter(credit_code=credit_code)
        if exclude_id is not None:
            existing = existing.exclude(pk=exclude_id)
        return existing.exists()


def _username_taken(username: str) -> bool:
    return User.objects.filter(username__iexact=username).exists()


def _check_password(password: str, user: User, *, field: str = "password") -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({field: exc.error_list}) from None


@transaction.atomic
def enterprise_register(
    *,
    name: str,
    credit_code: str,
    kind: str,
    region: Region,
    industry: str = "",
    address: str = "",
    contact_name: str,
    contact_phone: str,
    contact_email: str = "",
    username: str,
    password: str,
    park: Enterprise | None = None,
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Self-registration: a pending enterprise and its enterprise admin, awaiting approval."""
    credit_code = normalize_credit_code(credit_code)
    errors: dict[str, list[str]] = {}
    problem = credit_code_problem(credit_code)
    if problem:
        errors.setdefault("credit_code", []).append(problem)
    elif _credit_code_taken(credit_code):
        errors.setdefault("credit_code", []).append(_("该统一社会信用代码已注册，请勿重复注册。"))
    if _username_taken(username):
        errors.setdefault("username", []).append(_("该用户名已被使用，请换一个。"))
    if region.level not in REGISTRATION_REGION_LEVELS:
        errors.setdefault("region", []).append(_("请选择到市或区县一级的地区。"))
    if park is not None and park.status != Enterprise.Status.APPROVED:
        errors.setdefault("park", []).append(_("所选园区尚未通过审核。"))
    if errors:
        raise ValidationError(errors)

    enterprise = Enterprise(
        name=name,
        credit_code=credit_code,
        kind=kind,
        region=region,
        industry=industry,
        address=address,
        contact_name=contact_name,
        contact_phone=contact_phone,
        contact_email=contact_email,
        park=park,
        status=Enterprise.Status.PENDING,
    )
    user = User(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=contact_email,
        phone=contact_phone,
        role=Role.ENTERPRISE_ADMIN,
    )
    _check_password(password, user)
    # The credit code was checked across all tenants above; the scoped unique check in
    # full_clean would only see the visitor's (empty) reach, so it is skipped here and the
    # database constraint catches a concurrent registration below.
    enterprise.full_clean(exclude=["credit_code"], validate_unique=False)
    try:
        with transaction.atomic():
            enterprise.save()
            user.enterprise = enterprise
            user.set_password(password)
            user.full_clean()
            user.save()
    except IntegrityError as exc:
        # Someone registered the same code or user name between our check and our insert.
        if _credit_code_taken(credit_code):
            raise ValidationError({"credit_code": _("该统一社会信用代码已注册，请勿重复注册。")}) from exc
        if _username_taken(username):
            raise ValidationError({"username": _("该用户名已被使用，请换一个。")}) from exc
        raise
    audit.record("register", obj=enterprise, actor=user,
                 changes={"region": region.code, "username": username})
    return user


def _review_guard(actor: User, enterprise: Enterprise) -> None:
    if not can_review_registration(actor, enterprise):
        raise PermissionDenied(_("您无权审核该企业的注册。"))


@transaction.atomic
def enterprise_approve(*, actor: User, enterprise: Enterprise, note: str = "") -> Enterprise:
    """The authority of the enterprise's region approves its registration."""
    _review_guard(actor, enterprise)
    if enterprise.status not in (Enterprise.Status.PENDING, Enterprise.Status.REJECTED):
        raise ValidationError({"status": _("只有待审核或已驳回的企业可以批准。")})
    before = enterprise.status
    enterprise.status = Enterprise.Status.APPROVED
    enterprise.reviewed_by = actor
    enterprise.reviewed_at = timezone.now()
    enterprise.review_note = note
    enterprise.full_clean(validate_unique=False)
    enterprise.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    audit.record("approve", obj=enterprise, actor=actor,
                 changes={"status": {"before": before, "after": enterprise.status}, "note": note})
    return enterprise


@transaction.atomic
def enterprise_reject(*, actor: User, enterprise: Enterprise, note: str) -> Enterprise:
    """The authority rejects a pending registration; the reason is required and shown to the applicant."""
    _review_guard(actor, enterprise)
    if enterprise.status != Enterprise.Status.PENDING:
        raise ValidationError({"status": _("只有待审核的企业可以驳回。")})
    if not (note or "").strip():
        raise ValidationError({"note": _("驳回时必须填写理由。")})
    before = enterprise.status
    enterprise.status = Enterprise.Status.REJECTED
    enterprise.reviewed_by = actor
    enterprise.reviewed_at = timezone.now()
    enterprise.review_note = note.strip()
    enterprise.full_clean(validate_unique=False)
    enterprise.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    audit.record("reject", obj=enterprise, actor=actor,
                 changes={"status": {"before": before, "after": enterprise.status},
                          "note": enterprise.review_note})
    return enterprise


def _required_reason(reason: str, *, field: str = "reason") -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError({field: _("必须填写理由。")})
    if len(text) > REASON_MAX_CHARS:
        raise ValidationError({field: _("理由不能超过%(limit)d个字。") % {"limit": REASON_MAX_CHARS}})
    return text


@transaction.atomic
def enterprise_suspend(*, actor: User, enterprise: Enterprise, reason: str) -> Enterprise:
    """The authority of the enterprise's region suspends an approved enterprise.

    A suspended enterprise files nothing (`Enterprise.is_approved`) and sends no readings
    (`Enterprise.may_send_readings`: on HTTP at once, in the MQTT consumer within seconds, and
    at the broker with its next refresh);
    its users still sign in and read their own data, and see why it was suspended."""
    if not can_change_enterprise_status(actor, enterprise):
        raise PermissionDenied(_("您无权停用该企业。"))
    reason = _required_reason(reason)
    enterprise = Enterprise.objects.select_for_update(of=("self",)).get(pk=enterprise.pk)
    if enterprise.status != Enterprise.Status.APPROVED:
        raise ValidationError({"status": _("只有已批准的企业可以停用。")})
    enterprise.status = Enterprise.Status.SUSPENDED
    enterprise.suspended_by = actor
    enterprise.suspended_at = timezone.now()
    enterprise.suspension_reason = reason
    enterprise.full_clean(validate_unique=False)
    enterprise.save(update_fields=["status", "suspended_by", "suspended_at", "suspension_reason"])
    audit.record("suspend", obj=enterprise, actor=actor,
                 changes={"status": {"before": Enterprise.Status.APPROVED, "after": enterprise.status},
                          "reason": reason})
    return enterprise


@transaction.atomic
def enterprise_reactivate(*, actor: User, enterprise: Enterprise, reason: str) -> Enterprise:
    """The authority of the enterprise's region lifts a suspension; the enterprise is approved again."""
    if not can_change_enterprise_status(actor, enterprise):
        raise PermissionDenied(_("您无权恢复该企业。"))
    reason = _required_reason(reason)
    enterprise = Enterprise.objects.select_for_update(of=("self",)).get(pk=enterprise.pk)
    if enterprise.status != Enterprise.Status.SUSPENDED:
        raise ValidationError({"status": _("只有已停用的企业可以恢复。")})
    suspended = {"reason": enterprise.suspension_reason,
                 "at": enterprise.suspended_at.isoformat() if enterprise.suspended_at else None}
    enterprise.status = Enterprise.Status.APPROVED
    enterprise.suspended_by = None
    enterprise.suspended_at = None
    enterprise.suspension_reason = ""
    enterprise.full_clean(validate_unique=False)
    enterprise.save(update_fields=["status", "suspended_by", "suspended_at", "suspension_reason"])
    audit.record("reactivate", obj=enterprise, actor=actor,
                 changes={"status": {"before": Enterprise.Status.SUSPENDED, "after": enterprise.status},
                          "reason": reason, "suspension": suspended})
    return enterprise


@transaction.atomic
def enterprise_resubmit(
    *, actor: User, enterprise: Enterprise, name: str, region: Region, note: str = ""
) -> Enterprise:
    """The enterprise's admin answers a rejection: corrected name and region, back to pending.

    The registering authority's reviewers find it among their pending registrations again,
    with the earlier rejection note and the applicant's explanation beside it."""
    if not can_resubmit_registration(actor, enterprise):
        raise PermissionDenied(_("只有企业管理员可以重新提交注册。"))
    enterprise = Enterprise.objects.select_for_update(of=("self",)).get(pk=enterprise.pk)
    if enterprise.status != Enterprise.Status.REJECTED:
        raise ValidationError({"status": _("只有被驳回的注册可以重新提交。")})
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("请填写企业名称。")]
    if region.level not in REGISTRATION_REGION_LEVELS:
        errors["region"] = [_("请选择到市或区县一级的地区。")]
    elif enterprise.park is not None and not region.path.startswith(province_path_of(enterprise.park.region)):
        errors["region"] = [_("所属园区须与企业在同一省（直辖市）。")]
    note = (note or "").strip()
    if len(note) > REASON_MAX_CHARS:
        errors["note"] = [_("说明不能超过%(limit)d个字。") % {"limit": REASON_MAX_CHARS}]
    if errors:
        raise ValidationError(errors)
    changes: dict[str, Any] = {"status": {"before": enterprise.status, "after": Enterprise.Status.PENDING},
                               "note": note}
    if enterprise.name != name:
        changes["name"] = {"before": enterprise.name, "after": name}
    if enterprise.region_id != region.pk:
        changes["region"] = {"before": enterprise.region.code, "after": region.code}
    enterprise.name = name
    enterprise.region = region
    enterprise.status = Enterprise.Status.PENDING
    enterprise.resubmitted_at = timezone.now()
    enterprise.resubmission_note = note
    enterprise.full_clean(validate_unique=False)
    enterprise.save(update_fields=["name", "region", "status", "resubmitted_at", "resubmission_note"])
    audit.record("resubmit", obj=enterprise, actor=actor, changes=changes)
    return enterprise


@transaction.atomic
def enterprise_update(*, actor: User, enterprise: Enterprise, **fields: Any) -> Enterprise:
    """An enterprise admin edits contacts, address, industry, group and park membership."""
    if not can_manage_enterprise(actor, enterprise):
        raise PermissionDenied(_("您无权修改该企业的信息。"))
    unknown = set(fields) - ENTERPRISE_EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: _("该项不能在此修改。") for name in sorted(unknown)})
    park = fields.get("park")
    if park is not None and park.status != Enterprise.Status.APPROVED:
        raise ValidationError({"park": _("所选园区尚未通过审核。")})
    changed = [name for name, value in fields.items() if getattr(enterprise, name) != value]
    for name in changed:
        setattr(enterprise, name, fields[name])
    if not changed:
        return enterprise
    enterprise.full_clean(validate_unique=False)
    enterprise.save(update_fields=changed)
    return enterprise


@transaction.atomic
def user_create_staff(
    *,
    actor: User,
    enterprise: Enterprise,
    username: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    phone: str = "",
) -> User:
    """An enterprise admin adds a filing staff account to their own enterprise."""
    if not can_manage_enterprise(actor, enterprise):
        raise PermissionDenied(_("您无权为该企业添加人员。"))
    if _username_taken(username):
        raise ValidationError({"username": _("该用户名已被使用，请换一个。")})
    user = User(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        role=Role.ENTERPRISE_STAFF,
        enterprise=enterprise,
    )
    _check_password(password, user)
    user.set_password(password)
    user.full_clean()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        if _username_taken(username):
            raise ValidationError({"username": _("该用户名已被使用，请换一个。")}) from exc
        raise
    return user


# --- API clients ------------------------------------------------------------------------------


@transaction.atomic
def api_client_create(*, actor: User, client: ApiClient) -> tuple[ApiClient, str]:
    """Save a new API client (filled in but unsaved) with a fresh key; returns it and the key.

    The key exists in clear only in the return value: the caller shows it once. The audit
    signals record the creation (the hash blanked)."""
    if not can_manage_api_clients(actor):
        raise PermissionDenied(_("只有平台管理员可以创建接口客户端。"))
    if client.pk is not None:
        raise ValueError("api_client_create takes a client that is not saved yet")
    key = ApiClient.objects.assign_key(client)
    client.created_by = actor
    client.full_clean()
    client.save()
    return client, key


@transaction.atomic
def api_client_update(*, actor: User, client: ApiClient) -> ApiClient:
    """Save a changed API client; turning `revoked` on revokes it (for good, with its time)."""
    if not can_manage_api_clients(actor):
        raise PermissionDenied(_("只有平台管理员可以修改接口客户端。"))
    if client.revoked and client.revoked_at is None:
        client.revoked_at = timezone.now()
    client.full_clean()
    client.save()
    return client


@transaction.atomic
def api_client_revoke(*, actor: User, client: ApiClient) -> ApiClient:
    """Revoke an API client: its key stops working on the next request, and cannot be restored."""
    if not can_manage_api_clients(actor):
        raise PermissionDenied(_("只有平台管理员可以吊销接口客户端。"))
    if client.revoked:
        return client
    client.revoked = True
    return api_client_update(actor=actor, client=client)
