"""Review mails (reviews/notifications.py), received by a real local SMTP server (aiosmtpd): who is
mailed for each transition, what the mail says, the opt-out of non-essential mail, and an SMTP
outage that leaves the transition committed and the mail kept and retried until it is sent.

The send task runs in-process (Celery's eager mode, switched on for these tests): `.delay()`
runs it at once, and a retry it asks for comes back as a RETRY result carrying its countdown,
which is what a worker would wait before running it again."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from celery.exceptions import Retry
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from applications.models import Submission, SubmissionState
from applications.services import program_load, submission_save, submission_start
from portal.models import AuditEntry, User
from reviews.models import Activity, Assignment, NotificationMail, NotificationPreference
from reviews.notifications import notification_mails_send_due, retry_delay
from reviews.services import transition_perform
from reviews.tasks import send_due_notification_mails, send_notification_mail
from tests.applications.core_definition import core_definition, core_workflow
from tests.conftest import login
from tests.metering.test_alarms import Inbox, body, smtp, smtp_port, start_smtp  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 1)
ADDRESSES = {
    "a_admin": "admin@jia-steel.example", "a_staff": "staff@jia-steel.example",
    "b_admin": "admin@yi-chemical.example", "zhengzhou_reviewer": "review@zz.example",
    "luoyang_reviewer": "review@ly.example", "henan_officer": "officer@henan.example",
    "xuhui_reviewer": "review@xh.example", "expert": "expert@review.example",
    "platform_admin": "ops@nengtan.example",
}


def notify_workflow() -> dict[str, Any]:
    """The core workflow, each step telling someone: the first review's pass goes to the applicant
    and the province for their information; the decision to the applicant and the experts."""
    workflow = core_workflow()
    notify = {"submit": ["first_reviewer"], "return_for_additions": ["applicant"],
              "resubmit": ["first_reviewer"], "first_review_pass": ["applicant", "provincial"],
              "decide_pass": ["applicant", "experts"], "decide_fail": ["applicant", "experts"]}
    for transition in workflow["transitions"]:
        transition["notify"] = notify[transition["key"]]
    return workflow


QUEUE = "celery"  # the default queue, on this run's Redis database (REDIS_URL)


@pytest.fixture(autouse=True)
def eager_tasks() -> Iterator[None]:
    from portal.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = before


@pytest.fixture
def addresses(world) -> dict[str, str]:  # type: ignore[no-untyped-def]
    for key, address in ADDRESSES.items():
        User.objects.filter(pk=world.user(key).pk).update(email=address, first_name="")
    # An inactive enterprise user and one without an address are never mailed.
    User.objects.create(username="jia_gone", role="enterprise_staff", enterprise=world.tenant_a,
                        email="gone@jia-steel.example", is_active=False)
    User.objects.create(username="jia_nomail", role="enterprise_staff", enterprise=world.tenant_a, email="")
    for user in world.users.values():
        user.refresh_from_db()
    return ADDRESSES


@pytest.fixture
def submission(world, addresses) -> Submission:  # type: ignore[no-untyped-def]
    definition = {**core_definition("test_notify_2026"), "workflow": notify_workflow()}
    user = world.user("a_admin")
    with scopes_disabled():
        program, _ = program_load(definition=definition)
        submission = submission_start(program=program, enterprise=world.tenant_a, user=user, today=TODAY)
        submission_save(submission=submission, user=user, title="能源管理中心建设项目", changes={
            "founded": "2010-05-01", "summary": "十字以内", "investment": "80", "commitment": "yes",
            "economics": [{"assets": "200", "liabilities": "50"}, {"assets": "300", "liabilities": "60"}]})
        submission.attachment_files.create(kind="licence", file="attachments/x", original_name="licence.pdf",
                                           content_type="application/pdf", size=10, sha256="0" * 64)
    return submission


def take(captured, submission: Submission, user: User, action: str, **kwargs: Any) -> Activity:  # type: ignore[no-untyped-def]
    """A transition as a request makes it: committed, then its on-commit work (the mails) runs."""
    with captured(execute=True), scopes_disabled():
        return transition_perform(submission=submission, action=action, actor=user, today=TODAY, **kwargs)


def celery_retry(mail_id: int) -> Retry:
    """Call the task as a worker does (not eagerly), on this run's own Redis database."""
    from portal.celery import app

    app.conf.task_always_eager = False
    # The request a worker gives the task it runs (not called directly, not eager, first try).
    send_notification_mail.push_request(id=f"test-{mail_id}", args=[mail_id], kwargs={}, retries=0,
                                        is_eager=False, called_directly=False)
    try:
        with pytest.raises(Retry) as raised, scopes_disabled():  # as SystemTask runs it
            send_notification_mail.run(mail_id)
    finally:
        send_notification_mail.pop_request()
        app.conf.task_always_eager = True
    return raised.value


def queued_messages() -> list[dict[str, Any]]:
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        return [json.loads(raw) for raw in client.lrange(QUEUE, 0, -1)]
    finally:
        client.delete(QUEUE)


def rcpts(inbox: Inbox) -> list[str]:
    return sorted(address for batch in inbox.recipients for address in batch)


def mails_of(submission: Submission) -> list[NotificationMail]:
    with scopes_disabled():
        return list(NotificationMail.objects.filter(submission=submission).order_by("id"))


def test_each_transition_mails_the_people_it_concerns_with_the_facts_in_chinese(
    world, submission, smtp, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    applicant, city = world.user("a_admin"), world.user("zhengzhou_reviewer")
    province = world.user("henan_officer")

    take(django_capture_on_commit_callbacks, submission, applicant, "submit")
    # The first review is Zhengzhou's (the enterprise's city): not Luoyang's, not the province's.
    assert rcpts(smtp) == ["review@zz.example"]
    [message] = smtp.messages
    assert str(message["Subject"]).strip() == "【能碳评审】测试项目 · 郑州甲钢铁有限公司：提交"
    text = body(message)
    assert "您负责初审的一份申报有新的办理进展。" in text
    assert "项目：测试项目" in text and "申报单位：郑州甲钢铁有限公司" in text
    assert "申报名称：能源管理中心建设项目" in text and "当前状态：已提交" in text
    # An official's link is the admin change page (admin10), else the applicant's page.
    link = f"/admin/applications/submission/{submission.pk}/change/"
    fallback = reverse("applications:submission_detail", kwargs={"submission_id": submission.pk})
    assert link in text or fallback in text
    assert "本邮件为知悉类通知" in text and reverse("reviews:notification_preferences") in text

    due = TODAY + dt.timedelta(days=10)
    smtp.messages.clear(), smtp.recipients.clear()
    take(django_capture_on_commit_callbacks, submission, city, "return_for_additions",
         reason="请补充专项审计报告", deadline=due)
    # Both users of the enterprise with an address (not the inactive one, not the one without).
    assert rcpts(smtp) == ["admin@jia-steel.example", "staff@jia-steel.example"]
    assert len(smtp.messages) == 2  # one message per person
    text = body(smtp.messages[0])
    assert str(smtp.messages[0]["Subject"]).strip() == "【能碳评审】测试项目 · 郑州甲钢铁有限公司：退回补正"
    assert "当前状态：退回补正" in text and "理由：请补充专项审计报告" in text
    assert "补正期限：2026年6月11日" in text and "请在补正期限前" in text
    assert f"办理时间：{timezone.localdate().year}年" in text
    assert fallback in text  # the applicant's own page
    assert "本邮件为必要通知" in text
    assert "办理人" not in text  # the reviewer's name is for officials

    smtp.messages.clear(), smtp.recipients.clear()
    take(django_capture_on_commit_callbacks, submission, applicant, "resubmit")
    take(django_capture_on_commit_callbacks, submission, city, "first_review_pass")
    assert rcpts(smtp) == sorted(["review@zz.example", "admin@jia-steel.example", "staff@jia-steel.example",
                                  "officer@henan.example"])

    smtp.messages.clear(), smtp.recipients.clear()
    with django_capture_on_commit_callbacks(execute=True), scopes_disabled():
        Assignment.objects.create(submission=submission, expert=world.user("expert"), is_lead=True,
                                  assigned_by=province)
    [message] = smtp.messages
    assert smtp.recipients == [["expert@review.example"]]
    assert "专家评审分配" in str(message["Subject"]) and "您已被分配为以下申报的评审组长。" in body(message)

    smtp.messages.clear(), smtp.recipients.clear()
    take(django_capture_on_commit_callbacks, submission, province, "decide_pass", reason="符合遴选条件")
    assert rcpts(smtp) == ["admin@jia-steel.example", "expert@review.example", "staff@jia-steel.example"]
    texts = {batch[0]: body(message) for batch, message in zip(smtp.recipients, smtp.messages, strict=True)}
    assert "当前状态：通过" in texts["admin@jia-steel.example"]
    assert "理由：符合遴选条件" in texts["expert@review.example"]
    assert "办理人：" in texts["expert@review.example"]
    assert all(mail.sent_at is not None and mail.attempts == 1 for mail in mails_of(submission))


def test_an_opt_out_stops_non_essential_mail_only(
    world, submission, smtp, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    for key in ("a_staff", "zhengzhou_reviewer", "henan_officer", "expert"):
        NotificationPreference.objects.create(user=world.user(key), non_essential=False)
    applicant, city = world.user("a_admin"), world.user("zhengzhou_reviewer")
    province = world.user("henan_officer")
    with django_capture_on_commit_callbacks(execute=True), scopes_disabled():
        Assignment.objects.create(submission=submission, expert=world.user("expert"), is_lead=True)
    take(django_capture_on_commit_callbacks, submission, applicant, "submit")  # the city: informed only
    take(django_capture_on_commit_callbacks, submission, city, "first_review_pass")  # informed only
    take(django_capture_on_commit_callbacks, submission, province, "decide_fail", reason="未达到要求")
    # The expert's assignment and decision mails are essential; the staff member's decision mail
    # too; the informational mails reach only a_admin, who did not opt out.
    received = [(batch[0], str(message["Subject"]).strip().rsplit("：", 1)[1])
                for batch, message in zip(smtp.recipients, smtp.messages, strict=True)]
    assert sorted(received) == sorted([
        ("expert@review.example", "专家评审分配"),
        ("admin@jia-steel.example", "初审通过"),
        ("admin@jia-steel.example", "评审不通过"), ("staff@jia-steel.example", "评审不通过"),
        ("expert@review.example", "评审不通过")])
    assert {(mail.address, mail.essential) for mail in mails_of(submission)} >= {
        ("staff@jia-steel.example", True), ("admin@jia-steel.example", False)}


def test_a_mail_server_outage_leaves_the_transition_committed_and_the_mail_is_retried_until_sent(
    world, submission, smtp_port, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    city = world.user("zhengzhou_reviewer")
    take(django_capture_on_commit_callbacks, submission, world.user("a_admin"), "submit")  # nothing listens
    with scopes_disabled():
        assert Submission.objects.get(pk=submission.pk).state == SubmissionState.SUBMITTED
        assert Activity.objects.filter(submission=submission, action="submit").exists()
    [mail] = mails_of(submission)
    assert mail.sent_at is None and mail.attempts == 1 and mail.address == "review@zz.example"
    assert "Connection" in mail.last_error or "refused" in mail.last_error.lower()

    # Run by a worker (not eagerly), the task asks Celery for a retry after the row's back-off:
    # the retry is a message on the real broker with its ETA.
    retry = celery_retry(mail.pk)
    assert retry.when == retry_delay(2).total_seconds() == 120
    [message] = queued_messages()
    assert message["headers"]["task"] == "reviews.tasks.send_notification_mail"
    assert message["headers"]["retries"] == 1 and message["headers"]["argsrepr"] == f"({mail.pk},)"
    eta = dt.datetime.fromisoformat(message["headers"]["eta"])
    assert dt.timedelta(seconds=110) < eta - timezone.now() <= dt.timedelta(seconds=121)
    [mail] = mails_of(submission)
    assert mail.sent_at is None and mail.attempts == 2
    assert mail.next_attempt_at > timezone.now() + dt.timedelta(seconds=100)
    # The next transition is not held up by the one still unsent.
    take(django_capture_on_commit_callbacks, submission, city, "first_review_pass")
    with scopes_disabled():
        assert Submission.objects.get(pk=submission.pk).state == SubmissionState.FIRST_REVIEW_PASSED

    # Not due yet: the sweep leaves both rows alone.
    assert send_due_notification_mails() == {"sent": 0, "failed": 0}
    controller, inbox = start_smtp(smtp_port)
    try:
        # The server is back: the worker runs the retry when its ETA comes (the first mail) …
        assert send_notification_mail.apply(args=[mail.pk], retries=1).result is True
        assert inbox.recipients == [["review@zz.example"]]
        assert "：提交" in str(inbox.messages[0]["Subject"])
        # … and the sweep, once they are due, sends what is left (the first review's pass, to the
        # applicant's two users and the province), each mail once.
        with scopes_disabled():
            run = notification_mails_send_due(now=timezone.now() + dt.timedelta(hours=1))
        assert (run.sent, run.failed) == (3, 0)
        assert send_notification_mail.apply(args=[mail.pk]).result is False  # sent already: not again
    finally:
        controller.stop()
    assert rcpts(inbox) == ["admin@jia-steel.example", "officer@henan.example", "review@zz.example",
                            "staff@jia-steel.example"]
    assert all("：初审通过" in str(message["Subject"]) for message in inbox.messages[1:])
    assert [(mail.attempts, mail.last_error) for mail in mails_of(submission)] == [
        (3, ""), (2, ""), (2, ""), (2, "")]
    assert all(mail.sent_at is not None for mail in mails_of(submission))


def test_the_preference_page_sets_the_users_own_choice(world, client) -> None:  # type: ignore[no-untyped-def]
    user = world.user("a_staff")
    url = reverse("reviews:notification_preferences")
    assert client.get(url).status_code == 302  # login first
    login(client, user)
    page = client.get(url)
    assert page.status_code == 200 and 'name="non_essential"' in page.content.decode()
    assert "checked" in page.content.decode()  # on by default
    response = client.post(url, {})  # the box unticked
    assert response.status_code == 302
    assert NotificationPreference.objects.get(user=user).non_essential is False
    assert AuditEntry.objects.filter(action="notification_preference", actor=user).exists()
    assert "已关闭知悉类评审邮件" in client.get(url).content.decode()
    client.post(url, {"non_essential": "on"})
    assert NotificationPreference.objects.get(user=user).non_essential is True
    assert url in client.get(reverse("portal:account")).content.decode()
