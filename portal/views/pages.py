"""Portal pages. Views stay thin: reads through access helpers and selectors, writes through services.

Pages that only read answer 405 to anything but GET and HEAD (`require_safe`), so a POST can
only reach the views that mean to write."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from metering.board import selectors as board
from portal import selectors, services
from portal.access import (
    can_change_enterprise_status,
    can_file_applications,
    can_manage_enterprise,
    can_resubmit_registration,
    can_review_registration,
    get_enterprise_for_user,
    get_rw_enterprise_for_user,
    visible_enterprises,
)
from portal.forms import (
    AuditSearchForm,
    EnterpriseEditForm,
    RegistrationForm,
    ResubmitForm,
    ReviewForm,
    StaffCreateForm,
    StatusReasonForm,
    apply_service_errors,
)
from portal.models import Enterprise, Role
from portal.views.auth import AuthenticatedRequest, confirmed_devices

PAGE_ROWS = 50
# Enterprises per page of an official's home page: each row computes that enterprise's figures.
HOME_FIGURE_ROWS = 20
# Cells a spreadsheet would read as a formula; prefixed with a quote on export (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
AUDIT_CSV_CHUNK_ROWS = 2000
UTF8_BOM = "\ufeff"


# --- home ------------------------------------------------------------------------------------

@login_required
@require_safe
def home(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    context: dict[str, Any] = {"role": user.role}
    if user.is_platform_admin:
        context["counts"] = selectors.platform_counts()
        context["pending"] = selectors.pending_registrations_for(user)[:PAGE_ROWS]
    elif user.is_enterprise_user:
        context["enterprise"] = user.enterprise
        context["can_file"] = can_file_applications(user)
        context["is_enterprise_admin"] = user.role == Role.ENTERPRISE_ADMIN
        if user.enterprise is not None and user.enterprise.status == Enterprise.Status.APPROVED:
            context["figures"] = board.home_figures(user.enterprise)
    elif user.is_government_user:
        context["pending"] = selectors.pending_registrations_for(user)[:PAGE_ROWS]
        approved = list(visible_enterprises(user).filter(status=Enterprise.Status.APPROVED))
        # Worst first over the whole reach (two grouped queries), then the figures of one page.
        ranked = board.enterprises_worst_first(approved)
        page = Paginator(ranked, HOME_FIGURE_ROWS).get_page(request.GET.get("page"))
        context["page"] = page
        shown = [enterprise for enterprise, _completeness, _alarms in page]
        figures = board.home_figures_many(shown)
        context["enterprise_figures"] = [(enterprise, figures[enterprise.pk]) for enterprise in shown]
    elif user.role == Role.EXPERT:
        context["assignments"] = []
    return render(request, "portal/home.html", context)


# --- registration ----------------------------------------------------------------------------

REGISTRATION_SESSION_KEY = "portal_registration_done"


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("portal:home")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.enterprise_register(
                name=data["name"], credit_code=data["credit_code"], kind=data["kind"], region=data["region"],
                park=data["park"], industry=data["industry"], address=data["address"],
                contact_name=data["contact_name"], contact_phone=data["contact_phone"],
                contact_email=data["contact_email"], username=data["username"], password=data["password2"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            request.session[REGISTRATION_SESSION_KEY] = {"name": data["name"], "region_id": data["region"].pk}
            return redirect("portal:register_done")
    return render(request, "portal/register.html", {"form": form})


@require_safe
def register_done(request: HttpRequest) -> HttpResponse:
    done = request.session.pop(REGISTRATION_SESSION_KEY, None)
    if done is None:
        return redirect("portal:register")
    authority = selectors.reviewing_authority_for(done["region_id"])
    return render(request, "portal/register_done.html", {"name": done["name"], "authority": authority})


# --- enterprises -----------------------------------------------------------------------------

@login_required
@require_safe
def enterprise_list(request: AuthenticatedRequest) -> HttpResponse:
    enterprises = visible_enterprises(request.user).order_by("name")
    status = request.GET.get("status", "")
    if status in Enterprise.Status.values:
        enterprises = enterprises.filter(status=status)
    query = request.GET.get("q", "").strip()[:100]
    if query:
        enterprises = enterprises.filter(Q(name__icontains=query) | Q(credit_code__iexact=query))
    page = Paginator(enterprises, PAGE_ROWS).get_page(request.GET.get("page"))
    return render(request, "portal/enterprise_list.html", {
        "page": page, "status": status, "q": query, "statuses": Enterprise.Status.choices,
        "query": urlencode({"q": query, "status": status}),
    })


@login_required
@require_safe
def enterprise_detail(request: AuthenticatedRequest, enterprise_id: int) -> HttpResponse:
    enterprise = get_enterprise_for_user(request.user, enterprise_id)
    return render(request, "portal/enterprise_detail.html", {
        "enterprise": enterprise,
        "can_review": can_review_registration(request.user, enterprise),
        "can_manage": can_manage_enterprise(request.user, enterprise),
        "can_change_status": can_change_enterprise_status(request.user, enterprise),
        "can_resubmit": can_resubmit_registration(request.user, enterprise)
        and enterprise.status == Enterprise.Status.REJECTED,
        "review_form": ReviewForm(),
        "resubmit_form": ResubmitForm(enterprise=enterprise),
    })


def _managed_enterprise_or_404(request: AuthenticatedRequest, enterprise_id: int) -> Enterprise:
    """The enterprise when the user is its enterprise admin (or a platform admin); else 404."""
    enterprise = get_rw_enterprise_for_user(request.user, enterprise_id)
    if not can_manage_enterprise(request.user, enterprise):
        raise Http404
    return enterprise


@login_required
@require_http_methods(["GET", "POST"])
def enterprise_edit(request: AuthenticatedRequest, enterprise_id: int) -> HttpResponse:
    enterprise = _managed_enterprise_or_404(request, enterprise_id)
    form = EnterpriseEditForm(request.POST or None, enterprise=enterprise)
    if request.method == "POST" and form.is_valid():
        try:
            services.enterprise_update(actor=request.user, enterprise=enterprise, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("企业信息已保存。"))
            return redirect("portal:enterprise_detail", enterprise_id=enterprise.pk)
    return render(request, "portal/enterprise_edit.html", {"enterprise": enterprise, "form": form})


def _reviewable_enterprise_or_404(request: AuthenticatedRequest, enterprise_id: int) -> Enterprise:
    enterprise = get_enterprise_for_user(request.user, enterprise_id)
    if not can_review_registration(request.user, enterprise):
        raise Http404
    return enterprise


def _registration_decision(
    request: AuthenticatedRequest, enterprise: Enterprise, decide: Callable[[], object], done: str
) -> HttpResponse:
    """Run a registration decision (a service call) and go back to the enterprise with its outcome."""
    try:
        decide()
    except PermissionDenied:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done)
    return redirect("portal:enterprise_detail", enterprise_id=enterprise.pk)


@login_required
@require_POST
def enterprise_approve(request: AuthenticatedRequest, enterprise_id: int) -> HttpResponse:
    enterprise = _reviewable_enterprise_or_404(request, enterprise_id)
    form = ReviewForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    return _registration_decision(
        request,
        enterprise,
        lambda: services.enterprise_approve(actor=request.user, enterprise=enterprise, note=note),
        _("已批准 %(name)s 的注册。") % {"name": enterprise.name},
    )


@login_required
@require_POST
def enterprise_reject(request: AuthenticatedRequest, enterprise_id: int) -> HttpResponse:
    enterprise = _reviewable_enterprise_or_404(request, enterprise_id)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("portal:enterprise_detail", enterprise_id=enterprise.pk)
    return _registration_decision(
        request,
        enterprise,
        lambda: services.enterprise_reject(
            actor=request.user, enterprise=enterprise, note=form.cleaned_data["note"]
        ),
        _("已驳回 %(name)s 的注册。") % {"name": enterprise.name},
    )


def _status_changeable_enterprise_or_404(request: AuthenticatedRequest, enterprise_id: int) -> Enterprise:
    enterprise = get_enterprise_for_user(request.user, enterprise_id)
    if not can_change_enterprise_status(request.user, enterprise):
        raise Http404
    return enterprise


def _status_change(request: AuthenticatedRequest, enterprise_id: int, *, suspend: bool) -> HttpResponse:
    enterprise = _status_changeable_enterprise_or_404(request, enterprise_id)
    form = StatusReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("portal:enterprise_detail", enterprise_id=enterprise.pk)
    change = services.enterprise_suspend if suspend else services.enterprise_reactivate
    done = _("已停用 %(name)s。") if suspend else _("已恢复 %(name)s。")
    return _registration_decision(
        request,
        enterprise,
        lambda: change(actor=request.user, enterprise=enterprise, reason=form.cleaned_data["reason"]),
        done % {"name": enterprise.name},
    )


@login_required
@require_POST
def enterprise_suspend(request: AuthenticatedRequest, enterprise_id: int) -> HttpResponse:
    return _status_change(request, enterprise_id, suspend=True)


@login_required
@require_POST
def enterprise_reactivate(request: AuthenticatedRequest, enterprise_id: int) -> HttpResponse:
    return _status_change(request, enterprise_id, suspend=False)


@login_required
@require_POST
def enterprise_resubmit(request: AuthenticatedRequest, enterprise_id: int) -> HttpResponse:
    """The enterprise's admin corrects a rejected registration and sends it back for review."""
    enterprise = get_rw_enterprise_for_user(request.user, enterprise_id)
    if not can_resubmit_registration(request.user, enterprise):
        raise Http404
    form = ResubmitForm(request.POST, enterprise=enterprise)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.enterprise_resubmit(
                actor=request.user, enterprise=enterprise, name=data["name"], region=data["region"],
                note=data["note"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("已重新提交注册，请等待主管部门审核。"))
            return redirect("portal:enterprise_detail", enterprise_id=enterprise.pk)
    messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("portal:enterprise_detail", enterprise_id=enterprise.pk)


@login_required
@require_http_methods(["GET", "POST"])
def enterprise_users(request: AuthenticatedRequest, enterprise_id: int) -> HttpResponse:
    enterprise = _managed_enterprise_or_404(request, enterprise_id)
    form = StaffCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.user_create_staff(
                actor=request.user, enterprise=enterprise, username=data["username"],
                password=data["password2"], first_name=data["first_name"], last_name=data["last_name"],
                email=data["email"], phone=data["phone"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("已添加填报人员 %(username)s。") % {"username": data["username"]})
            return redirect("portal:enterprise_users", enterprise_id=enterprise.pk)
    return render(request, "portal/enterprise_users.html", {
        "enterprise": enterprise, "staff": selectors.enterprise_staff(enterprise), "form": form,
    })


# --- account ---------------------------------------------------------------------------------

@login_required
@require_safe
def account(request: AuthenticatedRequest) -> HttpResponse:
    return render(request, "portal/account.html", {
        "organization": request.user.organization,
        "otp_enabled": bool(confirmed_devices(request.user)),
        "otp_verified": request.user.is_verified(),  # type: ignore[attr-defined]  # django-otp adds it
    })


# --- audit trail -----------------------------------------------------------------------------

def _platform_admin_or_404(request: HttpRequest) -> None:
    if not (request.user.is_authenticated and request.user.is_platform_admin):
        raise Http404


@login_required
@require_safe
def audit_list(request: AuthenticatedRequest) -> HttpResponse:
    _platform_admin_or_404(request)
    form = AuditSearchForm(request.GET or None)
    entries = selectors.audit_entries_search(**form.search_kwargs())
    page = Paginator(entries, PAGE_ROWS).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "portal/audit_list.html", {
        "form": form, "page": page, "query": query.urlencode(), "actions": selectors.audit_actions(),
    })


def defuse_csv_cell(value: Any) -> str:
    """Text for one CSV cell that Excel or WPS will not run as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


AUDIT_CSV_COLUMNS = ("at", "actor_username", "organization", "action", "object_type", "object_id",
                     "object_repr", "changes", "channel", "ip_address", "user_agent")


def _audit_csv_rows(entries: Any) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield UTF8_BOM + writer.writerow([
        _("时间"), _("用户名"), _("单位"), _("操作"), _("对象类型"), _("对象ID"), _("对象"), _("变更内容"),
        _("渠道"), _("来源地址"), _("客户端"),
    ])
    tz = timezone.get_current_timezone()
    for entry in entries.iterator(chunk_size=AUDIT_CSV_CHUNK_ROWS):
        values = []
        for column in AUDIT_CSV_COLUMNS:
            value = getattr(entry, column)
            if column == "at":
                value = timezone.localtime(value, tz).strftime("%Y-%m-%d %H:%M:%S")
            elif column == "changes":
                value = json.dumps(value, ensure_ascii=False, sort_keys=True)
            values.append(defuse_csv_cell(value))
        yield writer.writerow(values)


@login_required
@require_safe
def audit_export(request: AuthenticatedRequest) -> StreamingHttpResponse:
    _platform_admin_or_404(request)
    form = AuditSearchForm(request.GET or None)
    entries = selectors.audit_entries_search(**form.search_kwargs())
    response = StreamingHttpResponse(_audit_csv_rows(entries), content_type="text/csv; charset=utf-8")
    filename = f"audit-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
