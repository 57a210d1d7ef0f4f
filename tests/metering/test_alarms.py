"""Alarms (metering/alarms/): every kind fires from hand-made readings written through the real
ingest service and the real rollup recompute; repeats are suppressed; acknowledgement with a note;
auto-close; mails received by a real local SMTP server (aiosmtpd), and kept for a retry while it
is down."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
import socket
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse
from django.utils import timezone

from metering.alarms.evaluation import alarms_check_offline
from metering.alarms.mail import alarm_mails_send
from metering.alarms.models import Alarm, AlarmRule
from metering.alarms.selectors import open_alarm_counts, open_alarms
from metering.alarms.services import EVENT_QUIET, alarm_rule_save, alarms_close_quiet_events
from metering.alarms.tasks import sweep_alarms
from metering.ingest.services import readings_ingest
from metering.models import Meter
from metering.monitoring.rollups import rollups_recompute
from metering.monitoring.tasks import recompute_rollups
from portal.access import enterprise_scope, reach_scope
from portal.models import AuditEntry, User
from tests.conftest import login
from tests.metering.test_ingest import make_meter
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db

CST = zoneinfo.ZoneInfo("Asia/Shanghai")
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


# --- a real SMTP receiver -------------------------------------------------------------------------


@dataclass
class Inbox:
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_port(settings) -> int:  # type: ignore[no-untyped-def]
    """A loopback port the mail settings point at; nothing listens there until `smtp` starts."""
    port = free_port()
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    return port


def start_smtp(port: int) -> tuple[Controller, Inbox]:
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox


@pytest.fixture
def smtp(smtp_port: int) -> Iterator[Inbox]:
    controller, inbox = start_smtp(smtp_port)
    try:
        yield inbox
    finally:
        controller.stop()


def body(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


# --- data: readings through ingest, rollups through the task ----------------------------------------


def quarter_start(ts: dt.datetime) -> dt.datetime:
    local = ts.astimezone(CST)
    return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)


# Every test's data ends a little before now (ingest refuses the future; the offline limit counts
# from now); quarters are aligned. Set afresh for each test, however long the session has run.
END = quarter_start(timezone.now()) - dt.timedelta(minutes=15)


@pytest.fixture(autouse=True)
def _data_end_near_now() -> None:
    global END
    END = quarter_start(timezone.now()) - dt.timedelta(minutes=15)


def ingest(meter: Meter, points: list[tuple[dt.datetime, float]]) -> None:
    with enterprise_scope(meter.enterprise_id):
        result = readings_ingest(
            enterprise_id=meter.enterprise_id, source="http",
            items=[{"meter": meter.code, "ts": ts.isoformat(), "value": value} for ts, value in points],
        )
    assert result.accepted == len(points), result.as_dict()


def recompute(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    """The rollup task as the beat runs it; its committed recompute announces itself to alarms."""
    with django_capture_on_commit_callbacks(execute=True):
        assert recompute_rollups() >= 1


def register_series(start: dt.datetime, quarters: int, *, first: float = 1000.0,
                    per_quarter: float = 3.0, overrides: dict[int, float] | None = None,
                    ) -> list[tuple[dt.datetime, float]]:
    """A cumulative register read every 5 minutes for `quarters` quarter-hours from `start`: each
    quarter gains `per_quarter` (or overrides[q]), in three equal steps."""
    points = [(start - dt.timedelta(minutes=5), first)]
    value = first
    for q in range(quarters):
        gain = (overrides or {}).get(q, per_quarter)
        for step in range(3):
            value += gain / 3
            points.append((start + dt.timedelta(minutes=15 * q + 5 * step), round(value, 6)))
    return points


def alarms_of(meter: Meter, kind: str | None = None) -> list[Alarm]:
    with unscoped():  # inspecting what the evaluation stored
        queryset = Alarm.objects.filter(meter_id=meter.pk).order_by("id")
        return list(queryset.filter(kind=kind) if kind else queryset)


def set_rule(meter: Meter, **fields: Any) -> AlarmRule:
    with enterprise_scope(meter.enterprise_id):
        return alarm_rule_save(meter=meter, fields=fields)


@pytest.fixture
def recipients(world) -> list[str]:  # type: ignore[no-untyped-def]
    with unscoped():  # test setup
        type(world.tenant_a).objects.filter(pk=world.tenant_a.pk).update(contact_email="energy@jia-steel.example")
    User.objects.filter(pk=world.user("a_admin").pk).update(email="admin@jia-steel.example")
    # The same address as the contact's, differently cased: one recipient.
    User.objects.filter(pk=world.user("a_staff").pk).update(email="Energy@jia-steel.example")
    User.objects.filter(pk=world.user("b_admin").pk).update(email="admin@yi-chemical.example")
    return ["energy@jia-steel.example", "admin@jia-steel.example"]


# --- thresholds, suppression, auto-close, mail ------------------------------------------------------


def test_a_quarter_over_its_limit_opens_one_alarm_mailed_once_and_repeats_are_counted_not_mailed(
    world, smtp, recipients, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]
) -> None:
    meter = make_meter(world.tenant_a, "E-HIGH", name="一号高炉进线")
    set_rule(meter, max_quarter_consumption=10.0)
    start = END - dt.timedelta(hours=4)
    # 12 quarters of 3 kWh, then one of 24 kWh (over the 10 kWh limit), then 3 kWh again.
    ingest(meter, register_series(start, 13, overrides={12: 24.0}))
    recompute(django_capture_on_commit_callbacks)

    [alarm] = alarms_of(meter)
    over = start + dt.timedelta(hours=3)
    assert (alarm.kind, alarm.status, alarm.occurrences) == ("threshold_high", "open", 1)
    assert alarm.first_seen_at == over
    assert "24 kWh" in alarm.detail and "10 kWh" in alarm.detail and over.strftime("%H:%M") in alarm.detail

    with unscoped():  # the sweep runs across tenants
        assert alarm_mails_send().sent == 1
    [message] = smtp.messages
    # Folded across lines as RFC 2047 words; the parser keeps the fold's leading space.
    assert str(message["Subject"]).strip() == "【能碳告警】郑州甲钢铁有限公司 E-HIGH 超上限"
    text = body(message)
    assert "E-HIGH 一号高炉进线" in text and "24 kWh" in text
    assert f"首次发生：{over.strftime('%Y-%m-%d %H:%M')}（北京时间）" in text
    assert sorted(smtp.recipients[0]) == sorted(recipients)  # contact + users, each once; not tenant B's

    # Two more quarters over the limit while it is open: counted, no second mail.
    later = over + dt.timedelta(minutes=15)
    ingest(meter, [(later + dt.timedelta(minutes=m), 1065.0 + m) for m in (0, 5, 10, 15, 20, 25)])
    recompute(django_capture_on_commit_callbacks)
    [alarm] = alarms_of(meter)
    assert (alarm.status, alarm.occurrences) == ("open", 3)
    assert alarm.last_seen_at == later + dt.timedelta(minutes=15)
    with unscoped():
        assert alarm_mails_send().sent == 0
    assert len(smtp.messages) == 1

    # Recomputing the same data again is not a repeat.
    with django_capture_on_commit_callbacks(execute=True), enterprise_scope(meter.enterprise_id):
        rollups_recompute(meter=meter, earliest=start, latest=later + dt.timedelta(minutes=25))
    assert alarms_of(meter)[0].occurrences == 3


def test_the_alarm_closes_when_a_complete_quarter_is_back_within_the_limit_and_a_new_one_mails_again(
    world, smtp, recipients, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]
) -> None:
    meter = make_meter(world.tenant_a, "E-CLOSE")
    set_rule(meter, max_quarter_consumption=10.0)
    start = END - dt.timedelta(hours=2)
    ingest(meter, register_series(start, 2, overrides={1: 30.0}))
    recompute(django_capture_on_commit_callbacks)
    [alarm] = alarms_of(meter)
    assert alarm.status == "open"
    with unscoped():
        alarm_mails_send()

    # The next quarter (3 kWh) is whole once a reading at its end exists: then the alarm closes.
    last = 1033.0
    tail = [(start + dt.timedelta(minutes=30 + 5 * i), last + 1.0 * (i + 1)) for i in range(4)]
    ingest(meter, tail)
    recompute(django_capture_on_commit_callbacks)
    [alarm] = alarms_of(meter)
    assert alarm.status == "closed" and alarm.closed_at is not None and "恢复正常" in alarm.close_reason

    # Over again: a new alarm, and a new mail.
    ingest(meter, [(start + dt.timedelta(minutes=50), 1070.0), (start + dt.timedelta(minutes=60), 1071.0)])
    recompute(django_capture_on_commit_callbacks)
    first, second = alarms_of(meter)
    assert (first.status, second.status) == ("closed", "open")
    with unscoped():
        assert alarm_mails_send().sent == 1
    assert len(smtp.messages) == 2


def test_a_low_quarter_alarms_only_once_complete_and_reading_limits_apply_to_instant_values(
    world, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]
) -> None:
    meter = make_meter(world.tenant_a, "E-LOW")
    set_rule(meter, min_quarter_consumption=2.0)
    start = END - dt.timedelta(hours=1)
    # Quarter 0: 3 kWh; quarter 1: 0.6 kWh, and only its first reading so far (still filling).
    minutes = dt.timedelta(minutes=1)
    ingest(meter, [(start - 5 * minutes, 100.0), (start, 101.0), (start + 5 * minutes, 102.0),
                   (start + 10 * minutes, 103.0), (start + 15 * minutes, 103.6)])
    recompute(django_capture_on_commit_callbacks)
    assert alarms_of(meter) == []  # 0.6 kWh so far, but the quarter is not over
    ingest(meter, [(start + dt.timedelta(minutes=20), 103.7), (start + dt.timedelta(minutes=25), 103.8),
                   (start + dt.timedelta(minutes=30), 106.0)])
    recompute(django_capture_on_commit_callbacks)
    [alarm] = alarms_of(meter)
    assert alarm.kind == "threshold_low" and alarm.first_seen_at == start + dt.timedelta(minutes=15)
    assert "0.8 kWh" in alarm.detail and "2 kWh" in alarm.detail

    # An instantaneous meter (an interval reading, e.g. kW) with a value ceiling.
    power = make_meter(world.tenant_a, "P-1", unit="kW", cumulative=False)
    set_rule(power, max_value=500.0, jump_factor=None)
    ingest(power, [(start + dt.timedelta(minutes=5 * i), v) for i, v in enumerate([300, 320, 650, 310])])
    recompute(django_capture_on_commit_callbacks)
    [spike] = alarms_of(power)
    assert spike.kind == "threshold_high" and spike.status == "closed"  # 310 kW afterwards: over
    assert "650 kW" in spike.detail and "500 kW" in spike.detail


def test_a_sudden_jump_against_the_days_median_alarms(world, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-JUMP")  # platform defaults: jump factor 5
    start = END - dt.timedelta(hours=4)
    # 12 quarters of 3 kWh, one of 30 kWh (10 × the median), one of 3 kWh that closes the quarter.
    ingest(meter, register_series(start, 14, overrides={12: 30.0}))
    recompute(django_capture_on_commit_callbacks)
    [alarm] = alarms_of(meter)
    assert alarm.kind == "jump" and alarm.first_seen_at == start + dt.timedelta(hours=3)
    assert "30 kWh" in alarm.detail and "中位数 3 kWh" in alarm.detail and "10.0 倍" in alarm.detail

    # 12 × 3 kWh, one of 12 kWh (4 × the median): under the default factor.
    calm = make_meter(world.tenant_a, "E-CALM")
    ingest(calm, register_series(start, 14, overrides={12: 12.0}))
    recompute(django_capture_on_commit_callbacks)
    assert alarms_of(calm) == []

    # An event closes after a quiet spell with no repeat.
    with unscoped():
        assert alarms_close_quiet_events(now=alarm.last_seen_at + EVENT_QUIET - dt.timedelta(minutes=1)) == 0
        assert alarms_close_quiet_events(now=alarm.last_seen_at + EVENT_QUIET + dt.timedelta(minutes=1)) == 1
    assert alarms_of(meter)[0].status == "closed"


def test_a_register_reset_alarms_and_a_rollover_does_not(world, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-RESET")
    start = END - dt.timedelta(hours=1)
    ingest(meter, [(start, 5000.0), (start + dt.timedelta(minutes=5), 5002.0),
                   (start + dt.timedelta(minutes=10), 1.5), (start + dt.timedelta(minutes=15), 3.5)])
    recompute(django_capture_on_commit_callbacks)
    [alarm] = alarms_of(meter)
    assert alarm.kind == "reset" and alarm.first_seen_at == start + dt.timedelta(minutes=10)
    assert "5,002 kWh" in alarm.detail and "1.5 kWh" in alarm.detail

    wraps = make_meter(world.tenant_a, "E-WRAP", register_max=10000.0)
    ingest(wraps, [(start, 9998.0), (start + dt.timedelta(minutes=5), 9999.5),
                   (start + dt.timedelta(minutes=10), 1.0), (start + dt.timedelta(minutes=15), 2.5)])
    recompute(django_capture_on_commit_callbacks)
    assert alarms_of(wraps) == []  # 9999.5 → 1.0 on a 10 000 register is 1.5 kWh, not a reset


def test_history_older_than_a_day_corrects_rollups_but_raises_nothing(
    world, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]
) -> None:
    meter = make_meter(world.tenant_a, "E-OLD")
    set_rule(meter, max_quarter_consumption=1.0)
    ingest(meter, register_series(END - dt.timedelta(days=3), 8))
    recompute(django_capture_on_commit_callbacks)
    assert alarms_of(meter) == []


# --- offline ---------------------------------------------------------------------------------------


def test_a_silent_meter_goes_offline_and_closes_when_it_reports_again(
    world, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]
) -> None:
    meter = make_meter(world.tenant_a, "E-OFF")
    never = make_meter(world.tenant_a, "E-NEVER")  # never reported: not offline, not connected
    unwatched = make_meter(world.tenant_a, "E-QUIET-OK")
    set_rule(unwatched, offline_after_minutes=None)
    silent_since = END - dt.timedelta(hours=2)
    ingest(meter, [(silent_since - dt.timedelta(minutes=5), 10.0), (silent_since, 11.0)])
    ingest(unwatched, [(silent_since, 1.0)])
    recompute(django_capture_on_commit_callbacks)
    assert alarms_of(meter) == []  # a jump needs history; the meter was fine when it reported

    with django_capture_on_commit_callbacks(execute=True):
        result = sweep_alarms()
    assert result["offline_raised"] == 1
    [alarm] = alarms_of(meter)
    assert alarm.kind == "offline" and alarm.status == "open"
    assert silent_since.strftime("%Y-%m-%d %H:%M") in alarm.detail and "离线判定 60 分钟" in alarm.detail
    assert alarms_of(never) == [] and alarms_of(unwatched) == []

    sweep_alarms()  # still silent a minute later: a repeat
    assert alarms_of(meter)[0].occurrences == 2

    ingest(meter, [(END, 12.0)])
    recompute(django_capture_on_commit_callbacks)
    [alarm] = alarms_of(meter)
    assert alarm.status == "closed" and "恢复上报" in alarm.close_reason


def test_an_offline_alarm_left_by_a_disabled_rule_is_closed_by_the_sweep(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-DIS")
    with unscoped():
        Meter.objects.filter(pk=meter.pk).update(last_reading_at=timezone.now() - dt.timedelta(hours=5))
        alarms_check_offline()
    assert alarms_of(meter)[0].status == "open"
    set_rule(meter, enabled=False)
    assert alarms_of(meter)[0].status == "closed"
    with unscoped():
        assert alarms_check_offline() == (0, 0)


# --- mail failure ----------------------------------------------------------------------------------


def test_with_the_smtp_server_down_the_alarm_stays_unmailed_and_is_sent_on_a_later_run(
    world, smtp_port, recipients  # type: ignore[no-untyped-def]
) -> None:
    meter = make_meter(world.tenant_a, "E-MAIL")
    with unscoped():
        Meter.objects.filter(pk=meter.pk).update(last_reading_at=timezone.now() - dt.timedelta(hours=3))
        alarms_check_offline()
        run = alarm_mails_send()  # nothing listens on the port
    assert (run.sent, run.failed) == (0, 1)
    [alarm] = alarms_of(meter)
    assert alarm.emailed_at is None and alarm.mail_attempts == 1
    assert "Connection" in alarm.mail_error or "refused" in alarm.mail_error.lower()
    assert alarm.next_mail_at > timezone.now()

    with unscoped():
        assert alarm_mails_send().failed == 0  # not due yet: the back-off holds it
    controller, inbox = start_smtp(smtp_port)
    try:
        with unscoped():
            run = alarm_mails_send(now=alarm.next_mail_at + dt.timedelta(seconds=1))
    finally:
        controller.stop()
    assert (run.sent, run.failed) == (1, 0)
    [message] = inbox.messages
    assert "E-MAIL 离线" in message["Subject"]
    [alarm] = alarms_of(meter)
    assert alarm.emailed_at is not None and alarm.mail_attempts == 2 and alarm.mail_error == ""


def test_an_enterprise_without_any_address_keeps_its_alarm_for_later(world, smtp) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_b, "B-1")
    with unscoped():
        Meter.objects.filter(pk=meter.pk).update(last_reading_at=timezone.now() - dt.timedelta(hours=3))
        alarms_check_offline()
        assert alarm_mails_send().failed == 1
    [alarm] = alarms_of(meter)
    assert alarm.emailed_at is None and "没有联系邮箱" in alarm.mail_error and smtp.messages == []


# --- selectors for the board ----------------------------------------------------------------------


def test_open_alarm_selectors_count_open_and_acknowledged_but_not_closed(world) -> None:  # type: ignore[no-untyped-def]
    a1, a2 = make_meter(world.tenant_a, "A-1"), make_meter(world.tenant_a, "A-2")
    b1 = make_meter(world.tenant_b, "B-1")
    now = timezone.now()
    with unscoped():
        # Silent longest first: A-1's alarm opens first, B-1's last.
        for meter, hours in ((a1, 5), (a2, 4), (b1, 3)):
            Meter.objects.filter(pk=meter.pk).update(last_reading_at=now - dt.timedelta(hours=hours))
        alarms_check_offline()
        Alarm.objects.filter(meter_id=a2.pk).update(status="closed")
        Alarm.objects.filter(meter_id=b1.pk).update(status="acknowledged")
    with reach_scope(world.user("henan_officer")):
        assert open_alarm_counts(enterprise_ids=[world.tenant_a.pk, world.tenant_b.pk]) == {
            world.tenant_a.pk: 1, world.tenant_b.pk: 1}
        assert [alarm.meter.code for alarm in open_alarms()] == ["B-1", "A-1"]  # newest first
        assert [alarm.meter.code for alarm in open_alarms(enterprise_ids=[world.tenant_b.pk])] == ["B-1"]
    with reach_scope(world.user("b_admin")):
        assert [alarm.meter.code for alarm in open_alarms()] == ["B-1"]  # reach, not the argument, bounds it
        assert open_alarm_counts(enterprise_ids=[world.tenant_a.pk]) == {world.tenant_a.pk: 0}


# --- pages: list, acknowledgement, rules ---------------------------------------------------------


def offline_alarm(world, code: str = "E-PAGE") -> Alarm:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, code)
    with unscoped():
        Meter.objects.filter(pk=meter.pk).update(last_reading_at=timezone.now() - dt.timedelta(hours=3))
        alarms_check_offline()
    return alarms_of(meter)[0]


def test_the_alarm_list_filters_paginates_and_says_what_to_do_when_empty(client, world) -> None:  # type: ignore[no-untyped-def]
    login(client, world.user("a_admin"))
    url = reverse("metering:alarm_list")
    page = client.get(url).content.decode()
    assert "目前没有未恢复的告警" in page and 'aria-current="page">告警<' in page

    alarm = offline_alarm(world)
    page = client.get(url).content.decode()
    assert f'data-alarm="{alarm.pk}"' in page and "离线" in page and "1 条未恢复" in page
    assert f'action="{reverse("metering:alarm_acknowledge", args=[alarm.pk])}"' in page
    filtered = client.get(url, {"kind": "jump"}).content.decode()
    assert f'data-alarm="{alarm.pk}"' not in filtered and "没有符合条件的告警" in filtered
    by_meter = client.get(url, {"meter": alarm.meter_id, "status": "open"}).content.decode()
    assert f'data-alarm="{alarm.pk}"' in by_meter

    # An official in reach reads it without an acknowledge form; one out of reach gets 404.
    client.force_login(world.user("zhengzhou_reviewer"))
    page = client.get(url, {"enterprise": world.tenant_a.pk}).content.decode()
    assert f'data-alarm="{alarm.pk}"' in page and "alarm_acknowledge" not in page and "待企业确认" in page
    assert 'action="/metering/alarms/' not in page
    client.force_login(world.user("luoyang_reviewer"))
    assert client.get(url, {"enterprise": world.tenant_a.pk}).status_code == 404


def test_acknowledging_needs_a_note_is_audited_and_keeps_suppressing_until_cleared(client, world) -> None:  # type: ignore[no-untyped-def]
    alarm = offline_alarm(world)
    url = reverse("metering:alarm_acknowledge", args=[alarm.pk])
    for who, status in (("zhengzhou_reviewer", 403), ("henan_officer", 403), ("b_admin", 404),
                        ("outsider_admin", 404)):
        client.force_login(world.user(who))
        assert client.post(url, {"note": "越权确认"}).status_code == status, who
    assert alarms_of(alarm.meter)[0].status == "open"

    login(client, world.user("a_staff"))
    response = client.post(url, {"note": "  "}, follow=True)
    assert "请填写处理说明" in response.content.decode() and alarms_of(alarm.meter)[0].status == "open"
    response = client.post(url, {"note": "网关断电，已安排电工恢复"}, follow=True)
    assert "已确认告警" in response.content.decode()
    [alarm] = alarms_of(alarm.meter)
    assert alarm.status == "acknowledged" and alarm.acknowledged_by == world.user("a_staff")
    assert alarm.acknowledgement_note == "网关断电，已安排电工恢复" and alarm.acknowledged_at is not None
    row = AuditEntry.objects.get(object_type="alarms.Alarm", object_id=str(alarm.pk), action="update")
    assert row.actor == world.user("a_staff") and row.enterprise_id_snapshot == world.tenant_a.pk
    assert row.changes["acknowledgement_note"]["after"] == "网关断电，已安排电工恢复"
    assert row.changes["status"] == {"before": "open", "after": "acknowledged"}
    assert "网关断电，已安排电工恢复" in client.get(reverse("metering:alarm_list")).content.decode()

    # Still silent: a repeat of the acknowledged alarm, not a new one.
    with unscoped():
        alarms_check_offline()
    [alarm] = alarms_of(alarm.meter)
    assert (alarm.status, alarm.occurrences) == ("acknowledged", 2)
    assert client.get(url).status_code == 405  # acknowledging is a POST


def test_alarm_rules_are_edited_by_the_enterprise_and_read_by_officials(client, world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-RULE")
    rules_url = reverse("metering:alarm_rule_list")
    edit_url = reverse("metering:alarm_rule_edit", args=[meter.pk])
    login(client, world.user("a_admin"))
    page = client.get(rules_url).content.decode()
    assert "平台默认" in page and "60 分钟" in page and edit_url in page
    form = {"enabled": "on", "max_quarter_consumption": "12.5", "min_quarter_consumption": "",
            "max_value": "", "min_value": "", "offline_after_minutes": "30", "jump_factor": "",
            "detect_resets": "on"}
    assert client.post(edit_url, {**form, "min_quarter_consumption": "20"}).status_code == 200  # low ≥ high
    assert client.post(edit_url, form).status_code == 302
    with enterprise_scope(world.tenant_a.pk):
        rule = AlarmRule.objects.get(meter=meter)
    assert (rule.max_quarter_consumption, rule.offline_after_minutes, rule.jump_factor) == (12.5, 30, None)
    assert AuditEntry.objects.filter(object_type="alarms.AlarmRule", object_id=str(rule.pk), action="create",
                                     actor=world.user("a_admin")).exists()
    page = client.get(rules_url).content.decode()
    assert "12.5 kWh" in page and "30 分钟" in page and "自定义" in page

    client.force_login(world.user("henan_officer"))
    assert edit_url not in client.get(rules_url, {"enterprise": world.tenant_a.pk}).content.decode()
    assert client.get(edit_url).status_code == 403
    assert client.post(edit_url, {**form, "offline_after_minutes": "5"}).status_code == 403
    client.force_login(world.user("b_admin"))
    assert client.get(edit_url).status_code == 404
    with enterprise_scope(world.tenant_a.pk):
        assert AlarmRule.objects.get(meter=meter).offline_after_minutes == 30


def test_the_database_keeps_one_not_closed_alarm_per_meter_and_kind(world) -> None:  # type: ignore[no-untyped-def]
    from django.db import IntegrityError, transaction

    alarm = offline_alarm(world, "E-ONE")
    with unscoped():
        fields = {"meter_id": alarm.meter_id, "first_seen_at": alarm.first_seen_at,
                  "last_seen_at": alarm.last_seen_at, "detail": "重复"}
        with pytest.raises(IntegrityError), transaction.atomic():
            Alarm.objects.create(kind="offline", status="acknowledged", **fields)
        Alarm.objects.create(kind="jump", **fields)  # another kind is another alarm
        Alarm.objects.filter(pk=alarm.pk).update(status="closed")
        Alarm.objects.create(kind="offline", **fields)  # once closed, a new one may open
        assert Alarm.objects.filter(meter_id=alarm.meter_id).count() == 3


def test_the_mail_task_sends_what_is_due_and_a_retired_meter_keeps_no_alarm_open(
    world, smtp, recipients, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]
) -> None:
    from metering.alarms.tasks import send_alarm_mails

    meter = make_meter(world.tenant_a, "E-RETIRE")
    set_rule(meter, max_quarter_consumption=1.0)
    ingest(meter, register_series(END - dt.timedelta(hours=1), 2))
    recompute(django_capture_on_commit_callbacks)
    [alarm] = alarms_of(meter)
    assert alarm.kind == "threshold_high" and alarm.emailed_at is None
    assert send_alarm_mails() == 1 and len(smtp.messages) == 1
    assert send_alarm_mails() == 0  # sent once; nothing due

    with unscoped():
        Meter.objects.filter(pk=meter.pk).update(is_active=False)
    sweep_alarms()
    [alarm] = alarms_of(meter)
    assert alarm.status == "closed" and alarm.close_reason == "表计已停用"


def test_beat_runs_the_alarm_sweep_every_minute(settings) -> None:  # type: ignore[no-untyped-def]
    from portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["alarms-sweep"]
    assert entry["task"] == "alarms.tasks.sweep_alarms" in app.tasks
    assert entry["schedule"] == settings.ALARM_SWEEP_INTERVAL_S == 60.0
    assert "alarms.tasks.send_alarm_mails" in app.tasks


def test_a_failing_receiver_of_the_recompute_never_fails_it_nor_the_other_receivers(
    world, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]
) -> None:
    from metering.monitoring.models import Rollup
    from metering.monitoring.signals import rollups_recomputed

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("a receiver with a bug")

    rollups_recomputed.connect(broken, dispatch_uid="test-broken-receiver")
    try:
        meter = make_meter(world.tenant_a, "E-ROBUST")
        set_rule(meter, max_quarter_consumption=1.0)
        ingest(meter, register_series(END - dt.timedelta(hours=1), 2))
        recompute(django_capture_on_commit_callbacks)
    finally:
        rollups_recomputed.disconnect(dispatch_uid="test-broken-receiver")
    with unscoped():
        assert Rollup.objects.filter(meter_id=meter.pk, interval="15min").count() == 3
    assert [alarm.kind for alarm in alarms_of(meter)] == ["threshold_high"]
