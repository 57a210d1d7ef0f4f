"""The experts' own page: declare conflicts of interest and see what they declared.

Only experts use it (anyone else gets 404), and only their own declarations: another expert's
answers 404 like a missing one (`portal.access.get_conflict_declaration_for_user`). An enterprise
is named by its exact credit code, never picked from a list: experts reach no enterprise
(`portal.access.enterprise_for_declaration`), and the page shows back the code they typed, nothing
of the enterprise. The rules are `reviews.assignments`'.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from applications.selectors import local_today
from portal import access
from portal.credit_code import credit_code_problem, normalize_credit_code
from portal.models import Enterprise, User
from reviews.assignments import (
    conflict_declarations_of,
    conflict_declare,
    conflict_remove,
    declaration_holds,
)
from reviews.models import ConflictDeclaration

PAGE_SIZE = 20


class ExpertRequest(HttpRequest):
    user: User


class DeclarationForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("利益关系类型"), choices=ConflictDeclaration.Kind.choices)
    credit_code = forms.CharField(
        label=gettext_lazy("企业统一社会信用代码"), required=False, max_length=30,
        help_text=gettext_lazy("18位统一社会信用代码；与集团名称二选一。"))
    group_name = forms.CharField(
        label=gettext_lazy("集团名称"), required=False, max_length=200,
        help_text=gettext_lazy("集团全称，如“中国宝武钢铁集团有限公司”：该集团所属企业的申报均回避。"))
    description = forms.CharField(label=gettext_lazy("说明"), required=False, max_length=500,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    since = forms.DateField(label=gettext_lazy("起始日期"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=gettext_lazy("截止日期"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}),
                            help_text=gettext_lazy("仍在持续的关系请留空；截止已满三年的声明不再回避。"))

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_credit_code(self) -> str:
        code = normalize_credit_code(self.cleaned_data.get("credit_code") or "")
        if code:
            problem = credit_code_problem(code)
            if problem:
                raise ValidationError(problem)
        return code

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        code = cleaned.get("credit_code")
        cleaned["enterprise"] = None
        if code:
            enterprise: Enterprise | None = access.enterprise_for_declaration(self.user, code)
            if enterprise is None:
                self.add_error("credit_code", _("平台上没有统一社会信用代码为 %(code)s 的企业；请核对代码，"
                                                "或按集团名称声明。") % {"code": code})
            cleaned["enterprise"] = enterprise
        return cleaned


def _expert_or_404(request: ExpertRequest) -> User:
    if not access.can_declare_conflicts(request.user):
        raise Http404
    return request.user


def _apply_errors(form: DeclarationForm, error: ValidationError) -> None:
    # The service names the model's fields; the form names the enterprise by its credit code.
    fields = {"enterprise": "credit_code", "__all__": None}
    if hasattr(error, "error_dict"):
        for name, problems in error.message_dict.items():
            target = fields.get(name, name if name in form.fields else None)
            for problem in problems:
                form.add_error(target, problem)
    else:
        for problem in error.messages:
            form.add_error(None, problem)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def conflict_list(request: ExpertRequest) -> HttpResponse:
    """The expert's declarations (filter by kind, paginated) and the form to declare one more."""
    expert = _expert_or_404(request)
    form = DeclarationForm(request.POST or None, user=expert)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            conflict_declare(expert=expert, kind=data["kind"], enterprise=data["enterprise"],
                             group_name=data["group_name"], description=data["description"],
                             since=data["since"], until=data["until"])
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("利益冲突声明已保存：相关企业的申报不会再分配给您。"))
            return redirect("reviews:conflicts")
    declarations = conflict_declarations_of(expert)
    kind = request.GET.get("kind", "")
    if kind in ConflictDeclaration.Kind.values:
        declarations = declarations.filter(kind=kind)
    page = Paginator(declarations, PAGE_SIZE).get_page(request.GET.get("page"))
    today = local_today()
    rows = [{"declaration": declaration, "holds": declaration_holds(declaration, today=today)}
            for declaration in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reviews/conflicts.html", {
        "form": form, "page": page, "rows": rows, "kind": kind, "kinds": ConflictDeclaration.Kind.choices,
        "query": query.urlencode(), "filtered": bool(kind),
    })


@login_required
@require_POST
def conflict_delete(request: ExpertRequest, declaration_id: int) -> HttpResponse:
    declaration = access.get_conflict_declaration_for_user(request.user, declaration_id)
    try:
        conflict_remove(declaration=declaration, by=request.user)
    except ValidationError:
        raise Http404 from None
    messages.success(request, _("已撤回该利益冲突声明。"))
    return redirect("reviews:conflicts")
