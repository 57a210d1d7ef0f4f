"""The quarantine page: inputs that could not become readings, newest first."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from metering.ingest.selectors import quarantine_for_enterprise
from metering.registry.forms import (
    payload_preview,
)
from metering.registry.views.meters import (
    _choose_enterprise,
    _context,
    _page_enterprise,
)

QUARANTINE_PAGE_ROWS = 200  # newest first; older rows stay in the admin


# --- quarantine -------------------------------------------------------------------------------------


@login_required
@require_safe
def quarantine_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("隔离数据"), "metering:quarantine_list")
    rows = [
        (message, *payload_preview(message.payload))
        for message in quarantine_for_enterprise(enterprise)[:QUARANTINE_PAGE_ROWS]
    ]
    return render(request, "metering/quarantine_list.html", _context(request, enterprise, rows=rows))
