"""Assignments and conflicts of interest, by hand-made cases: who is offered, who may assign, what an
override leaves behind, what an assignment reaches, and the experts' own declarations page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from applications.models import Submission
from portal.access import can_assign_experts, reach_for, visible_submissions
from portal.models import AuditEntry, Role, User
from reviews.assignments import (
    AssignmentRefused,
    assignment_create,
    assignment_make_lead,
    assignment_withdraw,
    conflict_declare,
    conflicts_for,
    experts_offered,
    years_before,
)
from reviews.models import Assignment, ConflictDeclaration
from tests.applications.core_definition import core_definition, core_workflow
from tests.conftest import login
from tests.factories import (
    EnterpriseFactory,
    ReviewOrganizationFactory,
    UserFactory,
    program_loaded,
    region,
    submission_filed,
)

TODAY = dt.date(2026, 6, 1)
FORM_DATA = {"founded": "2010-05-01", "summary": "十字以内", "investment": "80", "commitment": "yes",
             "economics": [{"assets": "200", "liabilities": "50"}, {"assets": "300", "liabilities": "60"}]}


def years_ago(years: int, days: int = 0) -> dt.date:
    return years_before(TODAY, years) - dt.timedelta(days=days)


@pytest.fixture
def program(db):  # type: ignore[no-untyped-def]
    return program_loaded({**core_definition("assign_core_2026"), "workflow": core_workflow()})


@pytest.fixture
def sub_a(world, program) -> Submission:
    return submission_filed(world.tenant_a, program, FORM_DATA, world.user("a_admin"), today=TODAY)


@pytest.fixture
def sub_b(world, program) -> Submission:
    return submission_filed(world.tenant_b, program, FORM_DATA, world.user("b_admin"), today=TODAY)


def new_expert(name: str, **organization) -> User:  # type: ignore[no-untyped-def]
    return UserFactory(username=name, role=Role.EXPERT, is_staff=True,
                       review_organization=ReviewOrganizationFactory(**organization))


def offered(submission: Submission) -> set[str]:
    with scopes_disabled():  # read afresh: a test may have changed the enterprise's group since
        fresh = Submission.objects.select_related("enterprise").get(pk=submission.pk)
        return {expert.username for expert in experts_offered(fresh, today=TODAY)}


def declare(expert: User, **fields) -> ConflictDeclaration:  # type: ignore[no-untyped-def]
    fields.setdefault("kind", ConflictDeclaration.Kind.CONSULTING)
    return conflict_declare(expert=expert, today=TODAY, **fields)


def assign(submission: Submission, expert: User, by: User, **kwargs) -> Assignment:  # type: ignore[no-untyped-def]
    with scopes_disabled():
        return assignment_create(submission=submission, expert=expert, by=by, today=TODAY, **kwargs)


def state_of_assignments() -> tuple[list[tuple], int]:  # type: ignore[type-arg]
    with scopes_disabled():
        rows = list(Assignment.objects.order_by("id").values_list(
            "id", "submission_id", "expert_id", "is_lead", "withdrawn_at", "conflict_override_reason"))
    return rows, AuditEntry.objects.count()


def refused(submission: Submission, expert: User, by: User, **kwargs) -> AssignmentRefused:  # type: ignore[no-untyped-def]
    before = state_of_assignments()
    with pytest.raises(AssignmentRefused) as caught:
        assign(submission, expert, by, **kwargs)
    assert state_of_assignments() == before
    return caught.value


# --- who is offered ------------------------------------------------------------------------------

def test_consulting_two_years_ago_is_never_offered_for_that_enterprise_but_for_another(world, sub_a, sub_b):
    expert = world.user("expert")
    declare(expert, enterprise=world.tenant_a, since=years_ago(3), until=years_ago(2),
            description="节能诊断咨询")
    assert "expert" not in offered(sub_a)
    assert "expert" in offered(sub_b)
    reasons = conflicts_for(expert, world.tenant_a, today=TODAY)
    assert len(reasons) == 1 and "近三年提供咨询服务" in reasons[0]
    assert conflicts_for(expert, world.tenant_b, today=TODAY) == []


def test_a_declaration_that_ended_four_years_ago_no_longer_conflicts(world, sub_a):
    expert = world.user("expert")
    declare(expert, kind=ConflictDeclaration.Kind.BUILT_CENTER, enterprise=world.tenant_a,
            since=years_ago(5), until=years_ago(4))
    assert "expert" in offered(sub_a)
    assert conflicts_for(expert, world.tenant_a, today=TODAY) == []


def test_the_three_years_are_counted_to_the_day_and_an_open_ended_declaration_always_holds(world, sub_a):
    ended_on_the_day, ended_the_day_before = new_expert("expert_day_of"), new_expert("expert_day_before")
    open_ended = new_expert("expert_open_ended")
    declare(ended_on_the_day, enterprise=world.tenant_a, until=years_ago(3))
    declare(ended_the_day_before, enterprise=world.tenant_a, until=years_ago(3, days=1))
    declare(open_ended, kind=ConflictDeclaration.Kind.RELATION, enterprise=world.tenant_a,
            since=years_ago(10))
    assert offered(sub_a) >= {"expert", "expert_day_before"}
    assert not offered(sub_a) & {"expert_day_of", "expert_open_ended"}


def test_a_declared_group_excludes_every_enterprise_in_it(world, sub_a, sub_b):
    with scopes_disabled():
        world.tenant_b.group_name = "中国宝武"
        world.tenant_b.save()
    declare(world.user("expert"), kind=ConflictDeclaration.Kind.EMPLOYER, group_name="中国宝武")
    # Spaces and full-width letters do not make another group.
    declare(new_expert("expert_spaced"), group_name=" 中国　宝武 ")
    assert not offered(sub_b) & {"expert", "expert_spaced"}
    assert {"expert", "expert_spaced"} <= offered(sub_a)  # tenant_a belongs to no group
    assert "中国宝武" in conflicts_for(world.user("expert"), world.tenant_b, today=TODAY)[0]


def test_a_group_name_is_not_matched_by_a_part_of_it(world, sub_b):
    with scopes_disabled():
        world.tenant_b.group_name = "中国宝武钢铁集团有限公司"
        world.tenant_b.save()
    declare(world.user("expert"), group_name="中国宝武")
    assert "expert" in offered(sub_b)


def test_the_experts_employer_in_the_enterprises_group_excludes_them(world, sub_a, sub_b):
    with scopes_disabled():
        world.tenant_b.group_name = "河南能源集团"
        world.tenant_b.save()
    new_expert("expert_same_group", group_name="河南能源集团")
    new_expert("expert_other_group", group_name="中国平煤神马集团")
    assert "expert_same_group" not in offered(sub_b)
    assert "expert_other_group" in offered(sub_b)
    assert "expert_same_group" in offered(sub_a)
    reasons = conflicts_for(User.objects.get(username="expert_same_group"), world.tenant_b, today=TODAY)
    assert reasons == [f"专家所在机构“{User.objects.get(username='expert_same_group').review_organization}”"
                       f"与该企业同属“河南能源集团”"]


def test_the_experts_employer_itself_is_recognised_by_its_credit_code(world, program):
    expert = new_expert("expert_inhouse")
    same_code = EnterpriseFactory(name="郑州戊节能技术服务有限公司", region=region("410105"),
                                  credit_code=expert.review_organization.credit_code)
    admin = UserFactory(username="wu_energy_service_admin", role=Role.ENTERPRISE_ADMIN, enterprise=same_code)
    submission = submission_filed(same_code, program, FORM_DATA, admin, today=TODAY)
    assert "expert_inhouse" not in offered(submission)
    assert "expert" in offered(submission)


def test_inactive_experts_and_other_roles_are_not_offered(world, sub_a):
    new_expert("expert_retired").__class__.objects.filter(username="expert_retired").update(is_active=False)
    names = offered(sub_a)
    assert "expert" in names and "expert_retired" not in names
    assert not names & {"henan_officer", "zhengzhou_reviewer", "jia_steel_admin", "platform_admin"}


# --- assigning -----------------------------------------------------------------------------------

def test_a_conflicted_expert_is_refused_without_a_reason_and_assigned_with_one(world, sub_a):
    expert, officer = world.user("expert"), world.user("henan_officer")
    declare(expert, enterprise=world.tenant_a, since=years_ago(2))
    problem = refused(sub_a, expert, officer)
    assert not problem.forbidden and "利益冲突" in problem.problems[0]
    assert refused(sub_a, expert, officer, override_reason="   ").problems == problem.problems

    assignment = assign(sub_a, expert, officer, override_reason="本省该专业仅此一名专家，经处务会研究同意")
    assert assignment.conflict_override_reason == "本省该专业仅此一名专家，经处务会研究同意"
    assert assignment.assigned_by == officer
    entry = AuditEntry.objects.get(action="assignment_override", object_id=str(assignment.pk))
    assert entry.actor == officer
    assert entry.changes["expert"] == "expert"
    assert entry.changes["reason"] == "本省该专业仅此一名专家，经处务会研究同意"
    assert "近三年提供咨询服务" in entry.changes["conflicts"][0]
    assert AuditEntry.objects.filter(action="create", object_type="reviews.Assignment",
                                     object_id=str(assignment.pk)).exists()


def test_an_expert_without_conflict_needs_no_reason_and_leaves_no_override(world, sub_b):
    assignment = assign(sub_b, world.user("expert"), world.user("henan_officer"), override_reason="不需要")
    assert assignment.conflict_override_reason == ""
    assert not AuditEntry.objects.filter(action="assignment_override").exists()


@pytest.mark.parametrize("role", ["zhengzhou_reviewer", "luoyang_reviewer", "xuhui_reviewer", "expert",
                                  "a_admin", "b_admin", "outsider_admin"])
def test_only_provincial_actors_and_platform_admins_assign(world, sub_a, role):
    other = new_expert("expert_two")
    with scopes_disabled():
        assert not can_assign_experts(world.user(role), sub_a)
    assert refused(sub_a, other, world.user(role)).forbidden


@pytest.mark.parametrize("role", ["henan_officer", "platform_admin"])
def test_the_province_and_the_platform_assign(world, sub_a, role):
    with scopes_disabled():
        assert can_assign_experts(world.user(role), sub_a)
    assert assign(sub_a, world.user("expert"), world.user(role)).withdrawn_at is None


def test_another_provinces_officer_may_not_assign(world, sub_a):
    from portal.models import Authority
    from tests.factories import AuthorityFactory

    shanghai = AuthorityFactory(name="上海市经济和信息化委员会", region=region("310000"),
                                level=Authority.Level.PROVINCIAL)
    commission = UserFactory(username="sh_commission_staff", role=Role.PROVINCIAL_OFFICER, authority=shanghai)
    assert refused(sub_a, world.user("expert"), commission).forbidden


def test_a_draft_and_non_experts_cannot_be_assigned(world, program, sub_a):
    from applications.services import submission_start

    with scopes_disabled():
        draft = submission_start(program=program, enterprise=world.tenant_b, user=world.user("b_admin"),
                                 today=TODAY)
    platform = world.user("platform_admin")
    assert "尚未提交" in refused(draft, world.user("expert"), platform).problems[0]
    assert "不是在用的评审专家" in refused(sub_a, world.user("henan_officer"), platform).problems[0]


def test_the_expert_reaches_the_submission_while_assigned_and_not_after_withdrawal(world, sub_a, sub_b):
    expert, officer = world.user("expert"), world.user("henan_officer")
    with scopes_disabled():
        assert not visible_submissions(expert).exists()
        assignment = assign(sub_a, expert, officer, lead=True)
        assert list(visible_submissions(expert).values_list("pk", flat=True)) == [sub_a.pk]
        assert reach_for(expert).visible_ids == (world.tenant_a.pk,)

        with pytest.raises(AssignmentRefused, match="请填写撤回理由"):
            assignment_withdraw(assignment=assignment, by=officer, reason=" ")
        with pytest.raises(AssignmentRefused) as not_theirs:
            assignment_withdraw(assignment=assignment, by=world.user("zhengzhou_reviewer"), reason="调整")
        assert not_theirs.value.forbidden
        assert Assignment.objects.get(pk=assignment.pk).withdrawn_at is None

        assignment_withdraw(assignment=assignment, by=officer, reason="专家临时出差")
        assert not visible_submissions(expert).exists()
        assert reach_for(expert).visible_ids == ()
        entry = AuditEntry.objects.get(action="assignment_withdraw", object_id=str(assignment.pk))
        assert entry.actor == officer and entry.changes["reason"] == "专家临时出差"
        with pytest.raises(AssignmentRefused, match="已撤回"):
            assignment_withdraw(assignment=assignment, by=officer, reason="再撤一次")
    # Withdrawn, the expert may be assigned again.
    assert assign(sub_a, expert, officer).pk != assignment.pk


def test_one_lead_at_a_time_and_one_active_assignment_per_expert(world, sub_a):
    officer = world.user("henan_officer")
    first, second, third = world.user("expert"), new_expert("expert_second"), new_expert("expert_third")
    lead_one = assign(sub_a, first, officer, lead=True)
    member = assign(sub_a, second, officer)
    assert "已分配" in refused(sub_a, first, officer).problems[0]
    lead_two = assign(sub_a, third, officer, lead=True)
    with scopes_disabled():
        leads = list(Assignment.objects.filter(submission=sub_a, is_lead=True, withdrawn_at__isnull=True)
                     .values_list("pk", flat=True))
        assert leads == [lead_two.pk]
        assert Assignment.objects.get(pk=lead_one.pk).is_lead is False
        assert AuditEntry.objects.filter(action="update", object_type="reviews.Assignment",
                                         object_id=str(lead_one.pk)).exists()
        assignment_make_lead(assignment=member, by=officer)
        leads = list(Assignment.objects.filter(submission=sub_a, is_lead=True).values_list("pk", flat=True))
        assert leads == [member.pk]
        with pytest.raises(AssignmentRefused):
            assignment_make_lead(assignment=member, by=world.user("expert"))


# --- declarations --------------------------------------------------------------------------------

def test_a_declaration_names_an_enterprise_or_a_group_with_sensible_dates(world):
    from django.core.exceptions import ValidationError

    expert = world.user("expert")
    with pytest.raises(ValidationError) as neither:
        declare(expert)
    assert "enterprise" in neither.value.message_dict
    with pytest.raises(ValidationError) as both:
        declare(expert, enterprise=world.tenant_a, group_name="中国宝武")
    assert "group_name" in both.value.message_dict
    with pytest.raises(ValidationError) as backwards:
        declare(expert, enterprise=world.tenant_a, since=years_ago(1), until=years_ago(2))
    assert "until" in backwards.value.message_dict
    with pytest.raises(ValidationError):
        declare(world.user("henan_officer"), enterprise=world.tenant_a)
    declare(expert, enterprise=world.tenant_a, since=years_ago(1))
    with pytest.raises(ValidationError, match="已声明过"):
        declare(expert, enterprise=world.tenant_a, since=years_ago(1))
    assert ConflictDeclaration.objects.count() == 1
    assert AuditEntry.objects.filter(action="create", object_type="reviews.ConflictDeclaration").count() == 1


# --- the experts' page ---------------------------------------------------------------------------

def test_the_expert_declares_by_credit_code_and_sees_the_code_not_the_enterprise(client, world, sub_b):
    expert = world.user("expert")
    login(client, expert)
    url = reverse("reviews:conflicts")
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="empty-state"' in text and url in text  # the nav lists the page for experts

    response = client.post(url, {"kind": "consulting", "credit_code": world.tenant_b.credit_code.lower(),
                                 "since": "2025-01-01", "description": "能源审计"})
    assert response.status_code == 302
    declaration = ConflictDeclaration.objects.get(expert=expert)
    assert declaration.enterprise_id == world.tenant_b.pk
    assert "expert" not in offered(sub_b)
    text = client.get(url).content.decode()
    assert world.tenant_b.credit_code in text and world.tenant_b.name not in text
    assert AuditEntry.objects.filter(action="create", object_type="reviews.ConflictDeclaration",
                                     object_id=str(declaration.pk)).exists()


def test_bad_codes_are_explained_and_save_nothing(client, world):
    login(client, world.user("expert"))
    url = reverse("reviews:conflicts")
    bad_check = world.tenant_b.credit_code[:17] + ("0" if world.tenant_b.credit_code[17] != "0" else "1")
    text = client.post(url, {"kind": "consulting", "credit_code": bad_check}).content.decode()
    assert "校验位错误" in text
    from portal.credit_code import make_credit_code

    unknown = make_credit_code("91410105MA0000001")
    text = client.post(url, {"kind": "consulting", "credit_code": unknown}).content.decode()
    assert f"平台上没有统一社会信用代码为 {unknown} 的企业" in text
    text = client.post(url, {"kind": "employer"}).content.decode()
    assert "二选一" in text
    assert not ConflictDeclaration.objects.exists()


def test_a_group_declaration_through_the_page_and_its_withdrawal(client, world):
    expert = world.user("expert")
    login(client, expert)
    url = reverse("reviews:conflicts")
    client.post(url, {"kind": "employer", "group_name": "中国宝武钢铁集团有限公司", "since": "2020-03-01"})
    declaration = ConflictDeclaration.objects.get(expert=expert)
    assert declaration.group_name == "中国宝武钢铁集团有限公司" and declaration.enterprise is None
    assert "中国宝武钢铁集团有限公司" in client.get(url + "?kind=employer").content.decode()
    assert "没有这一类型的声明" in client.get(url + "?kind=relation").content.decode()
    delete = reverse("reviews:conflict_delete", kwargs={"declaration_id": declaration.pk})
    assert client.get(delete).status_code == 405
    assert client.post(delete).status_code == 302
    assert not ConflictDeclaration.objects.exists()
    assert AuditEntry.objects.filter(action="delete", object_type="reviews.ConflictDeclaration",
                                     object_id=str(declaration.pk)).exists()


def test_another_experts_declaration_is_out_of_reach(client, world):
    theirs = declare(new_expert("expert_other"), enterprise=world.tenant_a)
    delete = reverse("reviews:conflict_delete", kwargs={"declaration_id": theirs.pk})
    for role in ("expert", "platform_admin", "henan_officer", "a_admin"):
        login(client, world.user(role))
        assert client.post(delete).status_code == 404
    assert ConflictDeclaration.objects.filter(pk=theirs.pk).exists()
    login(client, world.user("expert"))
    assert str(world.tenant_a.credit_code) not in client.get(reverse("reviews:conflicts")).content.decode()


@pytest.mark.parametrize("role", ["a_admin", "henan_officer", "zhengzhou_reviewer", "platform_admin"])
def test_the_page_is_the_experts_only(client, world, role):
    login(client, world.user(role))
    assert client.get(reverse("reviews:conflicts")).status_code == 404
    response = client.post(reverse("reviews:conflicts"), {"kind": "employer", "group_name": "某集团"})
    assert response.status_code == 404
    assert not ConflictDeclaration.objects.exists()
    assert reverse("reviews:conflicts") not in client.get(reverse("portal:home")).content.decode()


def test_the_enterprise_admin_names_its_group_on_the_edit_page(client, world):
    login(client, world.user("a_admin"))
    url = reverse("portal:enterprise_edit", kwargs={"enterprise_id": world.tenant_a.pk})
    assert "所属集团" in client.get(url).content.decode()
    response = client.post(url, {"industry": world.tenant_a.industry, "group_name": "河南能源集团",
                                 "address": "郑州市金水区花园路1号", "contact_name": "张三",
                                 "contact_phone": "0371-12345678", "contact_email": ""})
    assert response.status_code == 302, response.content.decode()
    with scopes_disabled():
        world.tenant_a.refresh_from_db()
    assert world.tenant_a.group_name == "河南能源集团"
    assert "河南能源集团" in client.get(response["Location"]).content.decode()
