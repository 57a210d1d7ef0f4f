"""Alarm mails: one message per alarm when it opens, to the enterprise's contact address and its
users (enterprise admins and staff) that have an email address.

Delivery is at least once: an alarm keeps `emailed_at` empty until the SMTP server accepted its
message. A failure (server down, refused, timeout, no recipient yet) is written on the alarm
(`mail_error`, `mail_attempts`) and the alarm is offered again at `next_mail_at`, backing off
from one minute to `MAIL_RETRY_MAX`; nothing gives up, so no alarm goes unmailed once the server
or a recipient is there. Repeats of an alarm send nothing (metering/alarms/services.py).
Workers claim alarms with SKIP LOCKED, so two sweeps never mail the same alarm twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from metering.alarms.formatting import local_text
from metering.alarms.models import Alarm
from portal.access import enterprise_scope
from portal.models import ENTERPRISE_ROLES, Enterprise, User

logger = logging.getLogger(__name__)

# Alarms mailed per sweep: each is one SMTP conversation of about a second at worst
# (EMAIL_TIMEOUT bounds a dead server), so a sweep stays within the minute between two.
ALARM_MAIL_BATCH = 100
MAIL_RETRY_MIN = dt.timedelta(minutes=1)
MAIL_RETRY_MAX = dt.timedelta(hours=1)


@dataclass
class MailRun:
    sent: int = 0
    failed: int = 0


def alarm_recipients(enterprise: Enterprise) -> list[str]:
    """The contact address, then the enterprise's active admins and staff with an address."""
    addresses = [enterprise.contact_email] if enterprise.contact_email else []
    addresses += list(
        User.objects.filter(enterprise_id=enterprise.pk, role__in=ENTERPRISE_ROLES, is_active=True)
        .exclude(email="")
        .order_by("id")
        .values_list("email", flat=True)
    )
    unique: dict[str, str] = {}
    for address in addresses:
        unique.setdefault(address.lower(), address)  # one message per person, however listed
    return list(unique.values())


def alarm_message(alarm: Alarm, recipients: list[str]) -> EmailMessage:
    """The Chinese mail of an alarm: meter, kind, figures, times in Asia/Shanghai."""
    meter = alarm.meter
    enterprise = meter.enterprise
    subject = _("【能碳告警】%(enterprise)s %(code)s %(kind)s") % {
        "enterprise": enterprise.name, "code": meter.code, "kind": alarm.get_kind_display()}
    lines = [
        _("%(enterprise)s：") % {"enterprise": enterprise.name},
        "",
        _("表计 %(code)s %(name)s（%(energy)s，%(unit)s）发生告警。") % {
            "code": meter.code, "name": meter.name, "energy": meter.get_energy_type_display(),
            "unit": meter.unit},
        "",
        _("告警类型：%(kind)s") % {"kind": alarm.get_kind_display()},
        _("详情：%(detail)s") % {"detail": alarm.detail},
        _("首次发生：%(t)s（北京时间）") % {"t": local_text(alarm.first_seen_at)},
        _("告警时间：%(t)s（北京时间）") % {"t": local_text(alarm.opened_at)},
        _("当前状态：%(status)s") % {"status": alarm.get_status_display()},
        "",
        _("请登录能碳平台，在“计量档案 → 告警”中查看并填写处理说明确认。"),
        _("告警未恢复期间重复发生不再另发邮件。"),
    ]
    return EmailMessage(subject=subject, body="\n".join(lines), from_email=settings.DEFAULT_FROM_EMAIL,
                        to=recipients)


def _backoff(attempts: int) -> dt.timedelta:
    return min(MAIL_RETRY_MIN * (2 ** max(attempts - 1, 0)), MAIL_RETRY_MAX)


def alarm_mails_send(*, now: dt.datetime | None = None, limit: int = ALARM_MAIL_BATCH) -> MailRun:
    """Mail the alarms due (never mailed, retry time reached), oldest first. Runs across tenants
    (the sweep task); each alarm is composed inside its own enterprise's scope."""
    now = now or timezone.now()
    run = MailRun()
    due = list(
        Alarm.objects.filter(emailed_at__isnull=True, next_mail_at__lte=now)
        .order_by("id")
        .values_list("id", "meter__enterprise_id")[:limit]
    )
    for alarm_id, enterprise_id in due:
        with enterprise_scope(enterprise_id):
            outcome = _send_one(alarm_id, now)
        if outcome is True:
            run.sent += 1
        elif outcome is False:
            run.failed += 1
    return run


def _send_one(alarm_id: int, now: dt.datetime) -> bool | None:
    """Send one alarm's mail; True sent, False failed (kept for later), None taken by another."""
    with transaction.atomic():
        alarm = (
            Alarm.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(pk=alarm_id, emailed_at__isnull=True)
            .select_related("meter", "meter__enterprise")
            .first()
        )
        if alarm is None:
            return None
        attempts = alarm.mail_attempts + 1
        recipients = alarm_recipients(alarm.meter.enterprise)
        error = ""
        if not recipients:
            error = _("企业没有联系邮箱，也没有填写邮箱的企业用户")
        else:
            try:
                alarm_message(alarm, recipients).send(fail_silently=False)
            except (smtplib.SMTPException, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                logger.warning("alarm %s: mail not sent (attempt %s): %s", alarm_id, attempts, error)
        if error:
            Alarm.objects.filter(pk=alarm_id).update(
                mail_attempts=attempts, mail_error=error[:300], next_mail_at=now + _backoff(attempts))
            return False
        Alarm.objects.filter(pk=alarm_id).update(
            mail_attempts=attempts, mail_error="", emailed_at=timezone.now())
        return True
