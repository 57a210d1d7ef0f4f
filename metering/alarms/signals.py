"""Which alarm models leave an audit row on every write.

An alarm's opening, acknowledgement (with its note) and closing are audited, and so is every
change of a rule. Left out, with why: `occurrences` and `last_seen_at` move with every repeat of a
condition (that is what suppression counts, not anyone's decision), and the mail bookkeeping
(`emailed_at`, `mail_attempts`, `mail_error`, `next_mail_at`) is delivery telemetry; auditing them
would write a row per repeat and per retry.
"""

from metering.alarms import models
from portal import audit

ALARM_TELEMETRY_FIELDS = ("occurrences", "last_seen_at", "emailed_at", "mail_attempts", "mail_error",
                          "next_mail_at")
audit.register(models.Alarm, unaudited_fields=ALARM_TELEMETRY_FIELDS)
audit.register(models.AlarmRule)
