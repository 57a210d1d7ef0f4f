"""The Celery application and the base task that runs inside a tenant scope."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("nengtan")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class TenantTask(Task):
    """A task that acts for one enterprise: it must be called with `enterprise_id=`.

    The scope is switched on here, once, so the task body cannot query another tenant's
    rows by accident, and the audit trail records the task as the channel.
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from portal import audit
        from portal.access import enterprise_scope

        enterprise_id = kwargs.get("enterprise_id")
        if not isinstance(enterprise_id, int):
            raise TypeError(f"{self.name} must be called with an integer enterprise_id keyword argument")
        with audit.audit_context(channel="task"), enterprise_scope(enterprise_id):
            return super().__call__(*args, **kwargs)


class SystemTask(Task):
    """A task that works across tenants on purpose (dispatchers, housekeeping).

    It runs with scopes disabled; each subclass says why in its docstring, and hands the
    per-tenant work to TenantTask subtasks.
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from django_scopes import scopes_disabled

        from portal import audit

        with audit.audit_context(channel="task"), scopes_disabled():
            return super().__call__(*args, **kwargs)
