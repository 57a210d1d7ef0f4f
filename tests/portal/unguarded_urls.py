"""A URLconf for tests only: write views that check no role at all, only reach.

tests/portal/test_officials_read_only.py mounts it (override_settings ROOT_URLCONF) to show that
reach by itself keeps read-only callers (officials; a park's users on its members) from
writing, which is what a real view that forgets its role check would rely on.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework import serializers, viewsets
from rest_framework.routers import SimpleRouter

from metering.models import Meter
from portal.access import get_object_for_user
from portal.api.views import TenantViewSetMixin


class _MeterNameSerializer(serializers.ModelSerializer):
    class Meta:
        model = Meter
        fields = ["id", "name"]


class UnguardedMeterViewSet(TenantViewSetMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    """Reads and writes meters through the tenant base class and nothing else: no role check."""

    model = Meter
    reach_path = "enterprise"
    serializer_class = _MeterNameSerializer


def unguarded_rename(request: HttpRequest, pk: int) -> HttpResponse:
    """A page that fetches its row through the read-write helper and checks no role."""
    meter = get_object_for_user(request.user, Meter.objects.all(), pk, path="enterprise", write=True)
    meter.name = request.POST.get("name", meter.name)
    meter.save(update_fields=["name"])
    return HttpResponse(meter.name)


router = SimpleRouter()
router.register("unguarded-meters", UnguardedMeterViewSet, basename="unguarded-meter")

urlpatterns: list[Any] = [
    path("api/v1/", include(router.urls)),
    path("unguarded/meters/<int:pk>/rename/", unguarded_rename),
    path("", include("portal.urls")),
]
