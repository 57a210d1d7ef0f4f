"""Submissions in the role-based admin: officials and experts review what their reach holds.

- Rows: `portal.access.visible_submissions` (municipal reviewers their city's filed submissions,
  district reviewers their district's, provincial officers their province's, experts their
  assignments). Nobody adds, changes or deletes a submission here, platform admins included: a
  submission moves only through the workflow (reviews.services.transition_perform).
- Actions: one per transition the user's role may take in the workflows of the programs in reach.
  Each asks for the reason (and the deadline) on an intermediate page; a batch applies one reason
  to every selected submission, each through transition_perform on its own, so a refusal of one is
  reported by name and never undoes (or half-does) another.
- The change page shows the filed form, the measured evidence (frozen and today's), the activity,
  the assignments, what changed since the last return, and (to provincial officers) the experts'
  combined scores; buttons take the same transitions. Experts fill their checklists on a page
  under the submission (`checklist/<key>/`).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from applications.definitions import Checklist, ProgramDefinition, TransitionDef, definition_of
from applications.documents.content import filed_content
from applications.models import Program, ProgramVersion, Submission, SubmissionState
from applications.selectors import local_today, submission_definition
from applications.values import label_of
from portal.access import (
    can_assign_experts,
    can_export_reviews,
    can_view_scores,
    visible_submissions,
    workflow_roles,
)
from portal.admin_site import ReachModelAdmin, ReadOnlyAdminMixin, admin_site
from portal.models import Region, Role, User
from reviews.assignments import (
    AssignmentRefused,
    active_experts,
    assignable,
    assignment_create,
    assignment_make_lead,
    assignment_withdraw,
    conflicts_for,
    experts_offered,
)
from reviews.diff import resubmission_diff
from reviews.evidence import evidence_for_item, evidence_lines, filed_sections
from reviews.models import Activity, Assignment, ScoreItemPhoto, ScoreSheet
from reviews.scoring import FAILS, MEETS, NOT_APPLICABLE
from reviews.selectors import active_assignments, checklists_for, submission_scores
from reviews.services import (
    GuardContext,
    TransitionRefused,
    available_transitions,
    guard_problems,
    transition_perform,
)
from reviews.sheets import (
    SHEET_STATES,
    SheetRefused,
    photo_add,
    sheet_for,
    sheet_refusal,
    sheet_save,
    sheet_status,
    sheet_submit,
)

VIEW = frozenset({"view"})
# The changelist request being rendered on this thread (ModelAdmin instances are shared by threads).
_changelist = threading.local()
ACTION_PREFIX = "transition__"
DUE_SOON_DAYS = 7


def _definition(
    request: HttpRequest, version_id: int, stored: dict[str, Any] | None = None
) -> ProgramDefinition:
    """A program version's definition, parsed once per request (the changelist shows many rows)."""
    cache: dict[int, ProgramDefinition] = request.__dict__.setdefault("_review_definitions", {})
    if version_id not in cache:
        if stored is None:
            stored = ProgramVersion.objects.values_list("definition", flat=True).get(pk=version_id)
        cache[version_id] = definition_of(stored)
    return cache[version_id]


def _visible(request: HttpRequest) -> QuerySet[Submission]:
    return visible_submissions(request.user)


# --- list filters (each limited to what the user's reach holds) ---------------------------------


class ProgramFilter(admin.SimpleListFilter):
    title = _("申报项目")
    parameter_name = "program"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        programs = Program.objects.filter(id__in=_visible(request).order_by().values("program_id"))
        return [(str(program.pk), program.name) for program in programs.order_by("code")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(program_id=value) if value.isdigit() else queryset.none()


class RegionFilter(admin.SimpleListFilter):
    """The enterprise's city or district, among those of the submissions in reach."""

    title = _("所在地区")
    parameter_name = "region"

    def _regions(self, request: HttpRequest) -> list[Region]:
        paths = set(
            _visible(request).order_by().values_list("enterprise__region__path", flat=True).distinct()
        )
        codes = {code for region_path in paths for code in region_path.strip("/").split("/") if code}
        user = request.user
        own = user.authority.region.path if isinstance(user, User) and user.authority is not None else ""
        regions = Region.objects.filter(code__in=codes).order_by("path")
        # Below the user's own authority (a city's reviewer picks among its districts).
        return [region for region in regions if region.path.startswith(own) and region.path != own]

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (region.code, region.name if region.level != Region.Level.DISTRICT else f"　{region.name}")
            for region in self._regions(request)
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        region = next((region for region in self._regions(request) if region.code == value), None)
        if region is None:
            return queryset.none()
        return queryset.filter(enterprise__region__path__startswith=region.path)


class TrackFilter(admin.SimpleListFilter):
    title = _("赛道")
    parameter_name = "track"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        pairs = (
            _visible(request)
            .exclude(track="")
            .order_by()
            .values_list("program_version_id", "track")
            .distinct()
        )
        found: dict[str, str] = {}
        for version_id, track in pairs:
            definition = _definition(request, version_id)
            label = next((label_of(item.label) for item in definition.tracks if item.key == track), track)
            found.setdefault(track, label)
        return sorted(found.items(), key=lambda pair: pair[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(track=value) if value else queryset


class DeadlineFilter(admin.SimpleListFilter):
    title = _("补正期限")
    parameter_name = "deadline"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("overdue", _("已逾期")), ("soon", _("7天内到期")), ("none", _("无期限"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        today = local_today()
        value = self.value()
        if value == "overdue":
            return queryset.filter(additions_due__lt=today)
        if value == "soon":
            return queryset.filter(
                additions_due__gte=today, additions_due__lte=today + dt.timedelta(days=DUE_SOON_DAYS)
            )
        if value == "none":
            return queryset.filter(additions_due__isnull=True)
        return queryset


# --- the reason (and deadline) a transition asks for ---------------------------------------------


class TransitionForm(forms.Form):
    reason = forms.CharField(
        label=_("理由"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 4, "cols": 60})
    )
    deadline = forms.DateField(
        label=_("补正期限"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(
        self, *args: Any, needs_reason: bool = False, needs_deadline: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = needs_reason
        if not needs_deadline:
            del self.fields["deadline"]
        else:
            self.fields["deadline"].required = True
            self.fields["deadline"].help_text = _("申报单位须在此日期前补正并重新提交")

    def clean_deadline(self) -> dt.date | None:
        deadline = self.cleaned_data.get("deadline")
        if deadline is not None and deadline <= local_today():
            raise ValidationError(_("补正期限须晚于今天"))
        return deadline


# --- read-only inlines -----------------------------------------------------------------------------


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True  # the submission's admin already decided the user may read this submission

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ActivityInline(_ReadOnlyInline):
    model = Activity
    verbose_name_plural = _("流转记录")
    fields = ("created_at", "action_label", "from_label", "to_label", "actor_name", "reason", "deadline")
    readonly_fields = fields
    ordering = ("created_at", "id")
    template = "admin/reviews/activity_inline.html"

    def _workflow_label(self, activity: Activity, key: str, *, state: bool) -> str:
        workflow = submission_definition(activity.submission).workflow
        if workflow is not None:
            found = workflow.state(key) if state else workflow.transition(key)
            if found is not None:
                return label_of(found.label)
        return str(SubmissionState(key).label) if state and key in SubmissionState.values else key

    @admin.display(description=_("操作"))
    def action_label(self, activity: Activity) -> str:
        return self._workflow_label(activity, activity.action, state=False)

    @admin.display(description=_("原状态"))
    def from_label(self, activity: Activity) -> str:
        return self._workflow_label(activity, activity.from_state, state=True)

    @admin.display(description=_("新状态"))
    def to_label(self, activity: Activity) -> str:
        return self._workflow_label(activity, activity.to_state, state=True)


class AssignmentInline(_ReadOnlyInline):
    model = Assignment
    verbose_name_plural = _("评审专家")
    fields = ("expert_name", "is_lead", "assigned_by_name", "assigned_at", "withdrawn_at")
    readonly_fields = fields
    template = "admin/reviews/activity_inline.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("expert", "assigned_by")

    @admin.display(description=_("专家"))
    def expert_name(self, assignment: Assignment) -> str:
        return _expert_name(assignment.expert)

    @admin.display(description=_("分配人"))
    def assigned_by_name(self, assignment: Assignment) -> str:
        return _expert_name(assignment.assigned_by) if assignment.assigned_by else "—"


# --- the submission admin ------------------------------------------------------------------------------


@admin.register(Submission, site=admin_site)
class SubmissionAdmin(ReadOnlyAdminMixin, ReachModelAdmin):
    reach_path = "enterprise"
    role_rights = {Role.MUNICIPAL_REVIEWER: VIEW, Role.PROVINCIAL_OFFICER: VIEW, Role.EXPERT: VIEW}
    list_display = (
        "display_title",
        "program",
        "enterprise",
        "variant_track",
        "state",
        "submitted_at",
        "additions_due",
    )
    list_filter = (ProgramFilter, "state", RegionFilter, TrackFilter, DeadlineFilter)
    list_select_related = ("program", "enterprise", "program_version")
    search_fields = ("title", "enterprise__name", "enterprise__credit_code")
    ordering = ("-submitted_at", "-id")
    list_per_page = 50
    inlines = (ActivityInline, AssignmentInline)
    change_form_template = "admin/reviews/submission_change_form.html"
    readonly_fields = (
        "program",
        "enterprise",
        "variant_track",
        "title",
        "state",
        "submitted_at",
        "additions_due",
        "filed_form",
        "evidence_panel",
        "resubmission_panel",
        "scores_panel",
        "assignment_note",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "program",
                    "enterprise",
                    "variant_track",
                    "title",
                    "state",
                    "submitted_at",
                    "additions_due",
                )
            },
        ),
        (_("修改对比（自上次退回以来）"), {"fields": ("resubmission_panel",)}),
        (_("申报内容"), {"fields": ("filed_form",)}),
        (_("监测佐证（提交时冻结 / 今日复测）"), {"fields": ("evidence_panel",)}),
        (_("专家评审得分"), {"fields": ("scores_panel",)}),
        (_("专家分配"), {"fields": ("assignment_note",)}),
    )

    # -- rows -----------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # The definitions and the typed data are large JSON: the list decodes none of them (a
        # definition is read once per version per request, by _definition); a page that needs one
        # loads it then.
        return visible_submissions(request.user, super().get_queryset(request)).defer(
            "data", "program__definition", "program_version__definition")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if can_view_scores(request.user):
            return self.fieldsets
        return [fieldset for fieldset in self.fieldsets if "scores_panel" not in fieldset[1]["fields"]]

    @admin.display(description=_("申报名称"), ordering="title")
    def display_title(self, submission: Submission) -> str:
        return submission.title or _t("（未命名）")

    @admin.display(description=_("类型/赛道"))
    def variant_track(self, submission: Submission) -> str:
        if not (submission.variant or submission.track):
            return "—"
        request = getattr(_changelist, "request", None)
        if request is not None:
            definition = _definition(
                request, submission.program_version_id, submission.program_version.definition
            )
        else:
            definition = submission_definition(submission)
        parts = []
        if submission.variant:
            variant = definition.variant(submission.variant)
            parts.append(label_of(variant.label) if variant else submission.variant)
        if submission.track:
            track = next((item for item in definition.tracks if item.key == submission.track), None)
            parts.append(label_of(track.label) if track else submission.track)
        return " / ".join(parts)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        _changelist.request = request  # the row methods reuse the request's parsed definitions
        try:
            return super().changelist_view(request, extra_context)
        finally:
            _changelist.request = None

    # -- the change page's panels ---------------------------------------------------------------------

    def _panel(self, template: str, context: dict[str, Any]) -> SafeString:
        return mark_safe(render_to_string(f"admin/reviews/{template}", context))  # noqa: S308 (templates escape)

    @admin.display(description=_("填报内容"))
    def filed_form(self, submission: Submission) -> SafeString:
        content = filed_content(submission, with_attachments=True)
        return self._panel("filed_form.html", {"sections": filed_sections(content), "content": content})

    @admin.display(description=_("监测佐证"))
    def evidence_panel(self, submission: Submission) -> SafeString:
        return self._panel("evidence.html", {"lines": evidence_lines(submission)})

    @admin.display(description=_("修改对比"))
    def resubmission_panel(self, submission: Submission) -> SafeString:
        return self._panel("diff.html", {"resubmission": resubmission_diff(submission)})

    @admin.display(description=_("得分"))
    def scores_panel(self, submission: Submission) -> SafeString:
        scores = submission_scores(submission)
        rows = [
            {
                "scores": item,
                "title": label_of(item.checklist.title),
                "url": reverse(
                    "admin:applications_submission_checklist", args=[submission.pk, item.checklist.key]
                ),
            }
            for item in scores
        ]
        return self._panel("scores.html", {"rows": rows})

    @admin.display(description=_("分配"))
    def assignment_note(self, submission: Submission) -> SafeString:
        # Assigning experts (with the conflict-of-interest checks) is the "assign" page below.
        count = active_assignments(submission).count()
        return format_html(
            "{}<br>{}",
            ngettext("已分配 %(count)s 位专家。", "已分配 %(count)s 位专家。", count) % {"count": count},
            _t("省级主管人员在“分配专家”页分配或撤回专家（含利益冲突回避检查）。"),
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        submission = self._object_or_404(request, object_id)
        extra_context = {**(extra_context or {}), **self._buttons(request, submission)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _buttons(self, request: HttpRequest, submission: Submission) -> dict[str, Any]:
        buttons = []
        workflow = submission_definition(submission).workflow
        if workflow is not None:
            context = GuardContext(submission=submission, workflow=workflow, today=local_today())
            for transition in available_transitions(request.user, submission, check_guards=False):
                buttons.append(
                    {
                        "label": label_of(transition.label),
                        "url": reverse(
                            "admin:applications_submission_transition", args=[submission.pk, transition.key]
                        ),
                        "problems": guard_problems(transition, context),
                    }
                )
        checklists = []
        if self._own_assignment(request, submission) is not None or can_view_scores(request.user):
            checklists = [
                {
                    "title": label_of(checklist.title),
                    "url": reverse(
                        "admin:applications_submission_checklist", args=[submission.pk, checklist.key]
                    ),
                }
                for checklist in checklists_for(submission)
            ]
        assign_url = (reverse("admin:applications_submission_assign", args=[submission.pk])
                      if can_assign_experts(request.user, submission) and assignable(submission) else "")
        exports = []
        if can_export_reviews(request.user, submission):
            exports = [(label, reverse(f"reviews:{name}", kwargs={"submission_id": submission.pk}))
                       for name, label in (("export_scores_xlsx", _t("评审汇总表（Excel）")),
                                           ("export_scores_pdf", _t("评审汇总表（PDF）")),
                                           ("export_onsite_check_pdf", _t("现场核查记录（PDF）")))]
        return {"transition_buttons": buttons, "checklist_links": checklists, "assign_url": assign_url,
                "export_links": exports}

    # -- actions: one per transition the role may take ----------------------------------------------

    def _offered_transitions(self, request: HttpRequest) -> dict[str, TransitionDef]:
        """Transitions of the workflows in reach whose actors include the user's role, by key; once
        per request (the changelist asks for its actions several times)."""
        remembered = request.__dict__.get("_review_offered")
        if remembered is not None:
            return remembered  # type: ignore[no-any-return]
        version_ids = ProgramVersion.objects.filter(
            id__in=self.get_queryset(request).order_by().values("program_version_id")
        ).values_list("id", flat=True)
        offered: dict[str, TransitionDef] = {}
        for version_id in version_ids:
            workflow = _definition(request, version_id).workflow
            if workflow is None:
                continue
            roles = workflow_roles(request.user, first_review_level=workflow.first_review_level) - {
                "applicant"
            }
            for transition in workflow.transitions:
                if roles & set(transition.actors):
                    offered.setdefault(transition.key, transition)
        request.__dict__["_review_offered"] = offered
        return offered

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        for key, transition in self._offered_transitions(request).items():
            name = f"{ACTION_PREFIX}{key}"
            actions[name] = (self._action_for(key), name, label_of(transition.label))
        return actions

    def _action_for(self, key: str) -> Any:
        def action(modeladmin: SubmissionAdmin, request: HttpRequest, queryset: QuerySet[Submission]) -> Any:
            return modeladmin._transition_batch(request, queryset, key)

        action.__name__ = f"{ACTION_PREFIX}{key}"
        return action

    def _transition_batch(self, request: HttpRequest, queryset: QuerySet[Submission], key: str) -> Any:
        submissions = list(queryset.select_related("program", "program_version", "enterprise").order_by("id"))
        transitions = []
        for submission in submissions:
            workflow = submission_definition(submission).workflow
            transition = workflow.transition(key) if workflow is not None else None
            if transition is not None:
                transitions.append(transition)
        if not transitions:
            self.message_user(request, _t("所选申报的流程中没有该操作"), messages.ERROR)
            return None
        label = label_of(transitions[0].label)
        if len(submissions) > 1 and not all(transition.batch for transition in transitions):
            self.message_user(
                request,
                _t("“%(label)s”须逐项办理，不能批量执行；请只选择一项申报") % {"label": label},
                messages.ERROR,
            )
            return None
        needs_reason = any(transition.needs_reason for transition in transitions)
        needs_deadline = any(transition.needs_deadline for transition in transitions)
        applying = "apply" in request.POST
        form = TransitionForm(
            request.POST if applying else None, needs_reason=needs_reason, needs_deadline=needs_deadline
        )
        if applying and form.is_valid():
            self._perform_all(request, submissions, key, label, form.cleaned_data)
            return None
        return TemplateResponse(
            request,
            "admin/reviews/transition_form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": label,
                "form": form,
                "submissions": submissions,
                "action_name": f"{ACTION_PREFIX}{key}",
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "batch": True,
                "post_url": request.get_full_path(),
                "media": self.media + form.media,
            },
        )

    def _perform_all(
        self, request: HttpRequest, submissions: list[Submission], key: str, label: str, data: dict[str, Any]
    ) -> int:
        done = 0
        for submission in submissions:
            try:
                transition_perform(
                    submission=submission,
                    action=key,
                    actor=request.user,
                    reason=data.get("reason") or "",
                    deadline=data.get("deadline"),
                )
            except TransitionRefused as refused:
                self.message_user(
                    request,
                    _t("%(submission)s：未执行，%(problems)s")
                    % {"submission": submission, "problems": "；".join(refused.problems)},
                    messages.ERROR,
                )
                continue
            done += 1
        if done:
            self.message_user(
                request,
                ngettext("已对 %(count)s 项申报执行“%(label)s”", "已对 %(count)s 项申报执行“%(label)s”", done)
                % {"count": done, "label": label},
                messages.SUCCESS,
            )
        return done

    # -- pages under a submission ---------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        own = [
            path(
                "<path:object_id>/transition/<str:action>/",
                wrap(self.transition_view),
                name="applications_submission_transition",
            ),
            path(
                "<path:object_id>/checklist/<str:key>/",
                wrap(self.checklist_view),
                name="applications_submission_checklist",
            ),
            path(
                "<path:object_id>/photo/<int:photo_id>/",
                wrap(self.photo_view),
                name="applications_submission_photo",
            ),
            path(
                "<path:object_id>/assign/",
                wrap(self.assign_view),
                name="applications_submission_assign",
            ),
        ]
        return own + super().get_urls()  # type: ignore[operator]

    def _object_or_404(self, request: HttpRequest, object_id: str) -> Submission:
        """The submission if the user may read it; 404 alike for missing and out of reach."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        submission = self.get_object(request, object_id)
        if submission is None:
            raise Http404
        return submission

    def _change_url(self, submission: Submission) -> str:
        return reverse("admin:applications_submission_change", args=[submission.pk])

    def transition_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        submission = self._object_or_404(request, object_id)
        transition = next(
            (
                item
                for item in available_transitions(request.user, submission, check_guards=False)
                if item.key == action
            ),
            None,
        )
        if transition is None:
            raise PermissionDenied
        form = TransitionForm(
            request.POST if request.method == "POST" else None,
            needs_reason=transition.needs_reason,
            needs_deadline=transition.needs_deadline,
        )
        problems: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                transition_perform(
                    submission=submission,
                    action=action,
                    actor=request.user,
                    reason=form.cleaned_data.get("reason") or "",
                    deadline=form.cleaned_data.get("deadline"),
                )
            except TransitionRefused as refused:
                problems = refused.problems
            else:
                self.message_user(
                    request, _t("已执行“%(label)s”") % {"label": label_of(transition.label)}, messages.SUCCESS
                )
                return HttpResponseRedirect(self._change_url(submission))
        workflow = submission_definition(submission).workflow
        assert workflow is not None
        if not problems:
            problems = guard_problems(
                transition, GuardContext(submission=submission, workflow=workflow, today=local_today())
            )
        return TemplateResponse(
            request,
            "admin/reviews/transition_form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": label_of(transition.label),
                "form": form,
                "submissions": [submission],
                "batch": False,
                "problems": problems,
                "post_url": request.get_full_path(),
                "back_url": self._change_url(submission),
                "original": submission,
                "media": self.media + form.media,
            },
            status=400 if request.method == "POST" else 200,
        )

    # -- assigning experts (provincial actors), with the conflict-of-interest checks ---------------

    def assign_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        submission = self._object_or_404(request, object_id)
        if not can_assign_experts(request.user, submission):
            raise PermissionDenied
        assert isinstance(request.user, User)
        problems: list[str] = []
        if request.method == "POST":
            problems = self._assign_post(request, submission)
            if not problems:
                return HttpResponseRedirect(request.get_full_path())
        offered = experts_offered(submission)
        offered_ids = {expert.pk for expert in offered}
        assigned_ids = set(active_assignments(submission).values_list("expert_id", flat=True))
        conflicted = [(expert, conflicts_for(expert, submission.enterprise))
                      for expert in active_experts().exclude(pk__in=offered_ids | assigned_ids)]
        return TemplateResponse(
            request,
            "admin/reviews/assign.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": _t("分配评审专家"),
                "original": submission,
                "back_url": self._change_url(submission),
                "assignments": active_assignments(submission),
                "offered": [expert for expert in offered if expert.pk not in assigned_ids],
                "conflicted": conflicted,
                "problems": problems,
            },
            status=400 if problems else 200,
        )

    def _assign_post(self, request: HttpRequest, submission: Submission) -> list[str]:
        """One change per post: assign an expert (lead or member, an override with its reason),
        make an assigned expert the lead, or withdraw one with a reason."""
        user = request.user
        assert isinstance(user, User)
        verb = request.POST.get("do", "")
        try:
            if verb == "assign":
                expert_id = _int(request.POST.get("expert"))
                expert = active_experts().filter(pk=expert_id).first() if expert_id is not None else None
                if expert is None:
                    return [_t("请选择专家")]
                assignment_create(submission=submission, expert=expert, by=user,
                                  lead=request.POST.get("lead") == "1",
                                  override_reason=request.POST.get("override_reason", ""))
                self.message_user(request, _t("已分配 %(expert)s") % {"expert": _expert_name(expert)},
                                  messages.SUCCESS)
                return []
            assignment_id = _int(request.POST.get("assignment"))
            assignment = (active_assignments(submission).filter(pk=assignment_id).first()
                          if assignment_id is not None else None)
            if assignment is None:
                return [_t("该专家分配不存在或已撤回")]
            if verb == "lead":
                assignment_make_lead(assignment=assignment, by=user)
            elif verb == "withdraw":
                assignment_withdraw(assignment=assignment, by=user, reason=request.POST.get("reason", ""))
            else:
                return [_t("未知操作")]
        except AssignmentRefused as refused:
            if refused.forbidden:
                raise PermissionDenied from refused
            return refused.problems
        self.message_user(request, _t("已保存"), messages.SUCCESS)
        return []

    # -- the checklist, filled by the assigned expert ------------------------------------------------

    def _own_assignment(self, request: HttpRequest, submission: Submission) -> Assignment | None:
        user = request.user
        if not isinstance(user, User) or user.role != Role.EXPERT:
            return None
        return active_assignments(submission).filter(expert_id=user.pk).first()

    def checklist_view(self, request: HttpRequest, object_id: str, key: str) -> HttpResponse:
        submission = self._object_or_404(request, object_id)
        checklist = next((item for item in checklists_for(submission) if item.key == key), None)
        if checklist is None:
            raise Http404
        assignment = self._own_assignment(request, submission)
        if assignment is None:
            if not can_view_scores(request.user):
                raise PermissionDenied
            if request.method == "POST":
                raise PermissionDenied  # officials read the sheets; only their experts write them
            return self._sheets_read_only(request, submission, checklist)
        sheet = ScoreSheet.objects.filter(assignment=assignment, checklist=key).first()
        typed: dict[str, dict[str, str]] = {}
        errors: dict[str, str] = {}
        problems: list[str] = []
        if request.method == "POST":
            typed = {
                item.key: {
                    name: request.POST.get(f"{name}_{item.key}", "") for name in ("verdict", "points", "note")
                }
                for item in checklist.items
                if f"verdict_{item.key}" in request.POST
                or f"points_{item.key}" in request.POST
                or f"note_{item.key}" in request.POST
            }
            try:
                sheet = sheet or sheet_for(assignment, key)
                saved = sheet_save(
                    sheet, typed, actor=request.user, conclusion_note=request.POST.get("conclusion_note")
                )
                errors = saved.errors
                for item in checklist.items:
                    for upload in request.FILES.getlist(f"photo_{item.key}"):
                        try:
                            photo_add(sheet, item.key, upload, actor=request.user)
                        except ValidationError as exc:
                            errors[item.key] = "；".join(filter(None, [errors.get(item.key), *exc.messages]))
                if "_submit" in request.POST and not errors:
                    sheet_submit(sheet, actor=request.user)
                    self.message_user(request, _t("评审表已提交"), messages.SUCCESS)
                    return HttpResponseRedirect(request.get_full_path())
            except SheetRefused as refused:
                problems = refused.problems
            if not errors and not problems:
                self.message_user(request, _t("已保存"), messages.SUCCESS)
                return HttpResponseRedirect(request.get_full_path())
        context = self._checklist_context(request, submission, checklist, sheet, typed, errors)
        refusal = sheet_refusal(sheet, request.user) if sheet is not None else []
        if sheet is None and submission.state not in SHEET_STATES:
            refusal = [
                _t("申报当前状态（%(state)s）下不能填写评审表") % {"state": submission.get_state_display()}
            ]
        context.update(
            {"problems": problems, "editable": not refusal, "refusal": refusal, "read_only": False}
        )
        return TemplateResponse(
            request, "admin/reviews/checklist.html", context, status=400 if (problems or errors) else 200
        )

    def _checklist_context(
        self,
        request: HttpRequest,
        submission: Submission,
        checklist: Checklist,
        sheet: ScoreSheet | None,
        typed: dict[str, dict[str, str]],
        errors: dict[str, str],
    ) -> dict[str, Any]:
        lines = evidence_lines(submission)
        stored = {row.item: row for row in sheet.items.prefetch_related("photos")} if sheet else {}
        categories: list[dict[str, Any]] = []
        for item in checklist.items:
            category = label_of(item.category) if item.category else ""
            if not categories or categories[-1]["title"] != category:
                categories.append({"title": category, "items": []})
            row = stored.get(item.key)
            entered = typed.get(item.key) or {
                "verdict": row.verdict if row else "",
                "points": "" if row is None or row.points is None else f"{row.points.normalize():f}",
                "note": row.note if row else "",
            }
            photos = [
                {
                    "name": photo.original_name,
                    "url": reverse("admin:applications_submission_photo", args=[submission.pk, photo.pk]),
                }
                for photo in (row.photos.all() if row else [])
            ]
            categories[-1]["items"].append(
                {
                    "item": item,
                    "label": label_of(item.label),
                    "entered": entered,
                    "error": errors.get(item.key, ""),
                    "evidence": evidence_for_item(item, lines),
                    "photos": photos,
                    "verdicts": [(MEETS, _t("符合")), (FAILS, _t("不符合"))]
                    + ([(NOT_APPLICABLE, _t("不适用"))] if item.allow_na else []),
                }
            )
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": submission,
            "title": label_of(checklist.title),
            "checklist": checklist,
            "categories": categories,
            "sheet": sheet,
            "result": sheet_status(sheet) if sheet is not None else None,
            "errors": errors,
            "back_url": self._change_url(submission),
        }

    def _sheets_read_only(
        self, request: HttpRequest, submission: Submission, checklist: Checklist
    ) -> HttpResponse:
        scores = next(
            (item for item in submission_scores(submission) if item.checklist.key == checklist.key), None
        )
        sheets = []
        for sheet, result in scores.sheets if scores is not None else []:
            context = self._checklist_context(request, submission, checklist, sheet, {}, {})
            sheets.append({"sheet": sheet, "result": result, "categories": context["categories"]})
        return TemplateResponse(
            request,
            "admin/reviews/checklist.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": submission,
                "title": label_of(checklist.title),
                "checklist": checklist,
                "read_only": True,
                "sheets": sheets,
                "combined": scores.combined if scores is not None else None,
                "back_url": self._change_url(submission),
            },
        )

    def photo_view(self, request: HttpRequest, object_id: str, photo_id: int) -> FileResponse:
        submission = self._object_or_404(request, object_id)
        photo = (
            ScoreItemPhoto.objects.select_related("item__sheet__assignment")
            .filter(pk=photo_id, item__sheet__submission=submission)
            .first()
        )
        if photo is None:
            raise Http404
        own = photo.item.sheet.assignment.expert_id == request.user.pk
        if not (own or can_view_scores(request.user)):
            raise Http404
        response = FileResponse(photo.file.open("rb"), content_type=photo.content_type)
        response["Content-Disposition"] = "inline"
        return response


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _expert_name(expert: User) -> str:
    return expert.get_full_name() or expert.username
