"""The board's pages under /metering/: the 看板 (board) of an enterprise or a park, and its data
as JSON for the page's live refresh.

Thin: the enterprise comes through the access policy as on every registry page (the user's own,
or `?enterprise=<id>` within reach, else 404 exactly like a missing id); the figures come from
`metering.board.selectors`. Read only: anything but GET and HEAD answers 405.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from metering.board import selectors as board
from metering.board.forms import BoardForm
from metering.registry.views.meters import _choose_enterprise, _context, _page_enterprise
from portal import access
from portal.models import Enterprise

# How often the board's page fetches its data again (the meters report every few seconds to
# minutes; the quarter-hour buckets move every 15 minutes).
BOARD_REFRESH_S = 60


def level_labels() -> dict[str, str]:
    return {"1": _("一级"), "2": _("二级"), "3": _("三级")}


def _board(request: HttpRequest, enterprise: Enterprise, form: BoardForm) -> dict[str, Any]:
    members = None
    if enterprise.kind == Enterprise.Kind.PARK:
        # Only the members the viewer may see (all of them for the park's own users).
        members = list(access.visible_enterprises(request.user).filter(park=enterprise).order_by("name"))
    return board.board_data(enterprise, members=members, **form.board_kwargs())


@login_required
@require_safe
def board_page(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("能源看板"), "metering:board")
    form = BoardForm(request.GET or None)
    data = _board(request, enterprise, form)
    return render(request, "metering/board.html", _context(
        request, enterprise, form=form, board=data, refresh_s=BOARD_REFRESH_S,
        data_query=request.GET.urlencode(), level_labels=level_labels(),
    ))


@login_required
@require_safe
def board_json(request: HttpRequest) -> JsonResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        raise Http404
    form = BoardForm(request.GET or None)
    if request.GET and not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    return JsonResponse(_board(request, enterprise, form))
