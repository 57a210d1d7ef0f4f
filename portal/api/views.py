"""API root, enterprises, and the base classes every tenant API view builds on.

Writing a tenant API view (for other apps):

    class MeterViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
        model = Meter
        reach_path = "enterprise"          # the declared path from Meter to its Enterprise
        serializer_class = MeterSerializer

`get_queryset()` then answers only rows within the caller's reach (the read reach for safe
methods, the write reach for the others), `get_object()` answers 404 alike for missing and
out-of-reach rows (and 403 to a write on a row the caller sees but may not change), and
the request is refused if the session and the token name different users. Override
`base_queryset()` to add `select_related` or annotations; never bypass `get_queryset()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django_filters.constants import EMPTY_VALUES
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.pagination import BasePagination
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.access import filter_to_reach, get_enterprise_for_user, reach_for, visible_enterprises
from portal.api.clients import ApiClientScope
from portal.api.pagination import BoundedLimitOffsetPagination
from portal.api.permissions import IsActiveUser
from portal.api.serializers import ApiIndexSerializer, EnterpriseSerializer
from portal.models import ApiScope, Enterprise, Region


class EdgeReachCheckMixin:
    """Refuse a request whose DRF-authenticated user has another reach than the one the edge
    (ReachMiddleware) scoped the request to, e.g. a browser session of one user carrying the
    token of another. Fails closed: without the edge's reach nothing is answered."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        edge_reach = getattr(request._request, "reach", None)
        if edge_reach is None or edge_reach != reach_for(request.user):
            raise exceptions.AuthenticationFailed(_("会话与访问令牌属于不同用户，请只使用其中一种认证方式。"))


class TenantViewSetMixin(EdgeReachCheckMixin):
    """Base for API views over tenant-owned rows.

    Set `model` and `reach_path`: the lookup path from `model` to its Enterprise, as in
    `access.filter_to_reach` ("enterprise", "meter__enterprise"; "" when `model` is Enterprise).
    Safe methods see the read reach, the others the write reach; anything outside answers 404
    exactly like a missing row (GenericAPIView.get_object over the filtered queryset).
    """

    model: type[Model]
    reach_path: str | None = None
    permission_classes: Sequence[Any] = [IsActiveUser, ApiClientScope]
    # The scope an API client needs here (portal/api/clients.py); None: API clients are refused.
    api_client_scope: str | None = None
    pagination_class: type[BasePagination] | None = BoundedLimitOffsetPagination

    def base_queryset(self) -> QuerySet[Any]:
        return self.model._default_manager.all()

    def get_queryset(self) -> QuerySet[Any]:
        if self.reach_path is None:
            raise ImproperlyConfigured(f"{type(self).__name__} must declare reach_path.")
        if getattr(self, "swagger_fake_view", False):
            # Schema generation runs outside any request scope; it needs the model, not rows.
            return self.model._default_manager.none()
        request = self.request  # type: ignore[attr-defined]
        write = request.method not in SAFE_METHODS
        return filter_to_reach(request.user, self.base_queryset(), self.reach_path or "id", write=write)

    def get_object(self) -> Any:
        """The addressed row; for a write, 403 when the caller sees it but may not change it
        (an official, a park's user on a member), 404 when it is out of sight or missing."""
        try:
            return super().get_object()  # type: ignore[misc]
        except Http404:
            request = self.request  # type: ignore[attr-defined]
            if request.method not in SAFE_METHODS and self._visible_for_read():
                raise exceptions.PermissionDenied(_("您对该记录只有查看权限。")) from None
            raise

    def _visible_for_read(self) -> bool:
        lookup_url_kwarg = getattr(self, "lookup_url_kwarg", None) or getattr(self, "lookup_field", "pk")
        value = self.kwargs.get(lookup_url_kwarg)  # type: ignore[attr-defined]
        if value is None:
            return False
        visible = filter_to_reach(self.request.user, self.base_queryset(),  # type: ignore[attr-defined]
                                  self.reach_path or "id")
        try:
            return visible.filter(**{getattr(self, "lookup_field", "pk"): value}).exists()
        except (TypeError, ValueError):
            return False


class ApiRootView(APIView):
    """The API index: where the endpoints are. Public, and holds no tenant data."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(responses=ApiIndexSerializer, auth=[], summary="API index")
    def get(self, request: Request) -> Response:
        endpoints = {
            "auth_token": reverse("api:auth-token"),
            "enterprises": reverse("api:enterprise-list"),
            "schema": reverse("api:schema"),
            "docs": reverse("api:docs"),
        }
        return Response({"name": "Nengtan 能碳 API", "version": "v1", "endpoints": endpoints})


class EnterpriseInReachFilter(django_filters.Filter):
    """`?enterprise=<id>`: the rows of one enterprise the caller may see. An enterprise out of
    reach answers 404 exactly like an id no enterprise has (fail closed: a filter must not tell
    which enterprises exist); an id that is no whole number is a 400 like any invalid filter."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("field_name", "enterprise_id")
        kwargs.setdefault("help_text", _("企业 ID；不在您的访问范围内或不存在时返回 404。"))
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value in EMPTY_VALUES:
            return qs
        enterprise = get_enterprise_for_user(self.parent.request.user, value)  # Http404 out of reach
        return qs.filter(**{self.field_name: enterprise.pk})


class EnterpriseFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Enterprise.Kind.choices)
    status = django_filters.ChoiceFilter(choices=Enterprise.Status.choices)
    region = django_filters.ModelChoiceFilter(
        queryset=Region.objects.all(), to_field_name="code", method="filter_region",
        help_text=_("行政区划代码；包含其下所有地区。"),
    )
    search = django_filters.CharFilter(
        method="filter_search", help_text=_("按企业名称或统一社会信用代码查找。")
    )

    class Meta:
        model = Enterprise
        fields = ["kind", "status", "region", "search"]

    def filter_region(self, queryset: QuerySet[Enterprise], name: str, value: Region) -> QuerySet[Enterprise]:
        return queryset.filter(region__path__startswith=value.path)

    def filter_search(self, queryset: QuerySet[Enterprise], name: str, value: str) -> QuerySet[Enterprise]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(credit_code__iexact=value.upper()))


class EnterpriseViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Enterprises within the caller's reach."""

    model = Enterprise
    reach_path = ""
    api_client_scope = ApiScope.ENTERPRISES_READ
    serializer_class = EnterpriseSerializer
    filterset_class = EnterpriseFilter
    lookup_value_regex = "[0-9]+"

    def base_queryset(self) -> QuerySet[Enterprise]:
        return visible_enterprises(self.request.user).select_related("region__parent__parent").order_by("id")
