"""Create (or repair) the demo data set and print the demo accounts."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal import audit
from portal.demo import DemoAccount, seed_demo
from portal.models import AuditEntry


def _width(text: str) -> int:
    # Chinese characters take two columns in a terminal.
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def accounts_table(accounts: list[DemoAccount]) -> str:
    header = ("用户名", "角色", "单位", "密码")
    rows = [header, *((a.username, a.role_label, a.organization, a.password) for a in accounts)]
    widths = [max(_width(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(_pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Create the demo organizations and accounts (idempotent; resets the demo passwords)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.NENGTAN_ENV == "production":
            # The demo accounts share one published password (DEMO_PASSWORD) and include a
            # platform admin: on a production database they would be a way in.
            raise CommandError(
                "seed_demo refuses to run when NENGTAN_ENV=production: the demo accounts share a "
                "published password. Create the first platform admin with "
                "`python manage.py createsuperuser` instead."
            )
        with audit.audit_context(channel=AuditEntry.Channel.COMMAND):
            accounts = seed_demo()
        self.stdout.write(accounts_table(accounts))
