"""Site tree pages: the site → workshop → line → equipment nodes of an enterprise."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from metering.models import SiteNode
from metering.registry import services
from metering.registry.forms import (
    SiteNodeForm,
)
from metering.registry.views.meters import (
    _choose_enterprise,
    _context,
    _delete,
    _form_page,
    _object,
    _page_enterprise,
    _require,
    _save_form,
    _url,
)

# --- site tree ------------------------------------------------------------------------------------


@login_required
def site_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("厂区结构"), "metering:site_list")
    form = SiteNodeForm(request.POST or None, enterprise=enterprise)
    if request.method == "POST":
        _require(request, enterprise.pk)
        saved = _save_form(
            form, lambda: services.site_node_create(enterprise=enterprise, **form.service_fields())
        )
        if saved is not None:
            messages.success(request, _("已添加“%(node)s”。") % {"node": saved})
            return redirect(_url("site_list", enterprise))
    nodes = list(SiteNode.objects.filter(enterprise=enterprise).select_related("parent__parent__parent"))
    rows = sorted(((services.site_node_path(node), node) for node in nodes), key=lambda row: row[0])
    return render(
        request,
        "metering/site_list.html",
        _context(request, enterprise, form=form, rows=[(node, path.count("/")) for path, node in rows]),
    )


@login_required
def site_edit(request: HttpRequest, pk: int) -> HttpResponse:
    node = _object(request, SiteNode.objects.select_related("enterprise"), pk)
    _require(request, node.enterprise_id)
    form = SiteNodeForm(request.POST or None, instance=node, enterprise=node.enterprise)
    return _form_page(
        request,
        node.enterprise,
        form,
        lambda: services.site_node_update(node=node, **form.service_fields()),
        title=_("编辑厂区结构"),
        back=_url("site_list", node.enterprise),
    )


@login_required
def site_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _delete(
        request,
        SiteNode.objects,
        pk,
        lambda node: services.site_node_delete(node=node),
        "site_list",
        _("节点"),
    )
