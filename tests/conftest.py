"""Shared fixtures. Every test world has two enterprises in different cities, an outsider, and a
park the outsider belongs to.

- `tenant_a`: an approved enterprise in Zhengzhou (金水区), with admin and staff users;
- `tenant_b`: an approved enterprise in Luoyang (涧西区), with an admin;
- `outsider`: an approved enterprise in Shanghai (徐汇区), with an admin, member of `park`;
- `park`: an approved park in Shanghai (徐汇区), with an admin, who reads (never changes) the
  outsider's data;
plus a Zhengzhou municipal reviewer, a Luoyang municipal reviewer, a Henan provincial
officer, a Xuhui district reviewer, an expert and a platform admin.

User names of enterprise users are long and distinctive: the tenancy walk searches pages for
them.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import urlparse

import pytest
from rest_framework.test import APIClient

from portal.models import Authority, Enterprise, Role, User
from tests.factories import (
    TEST_PASSWORD,
    AuthorityFactory,
    EnterpriseFactory,
    ReviewOrganizationFactory,
    UserFactory,
    region,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(message: str) -> NoReturn:
    """What the suite needs is missing: fail under CI (never skip), skip on a developer machine."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_service(url: str, name: str) -> None:
    """Fail under CI (never skip) when a service is unreachable; skip on a developer machine."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), timeout=2):
            return
    except OSError as exc:
        unavailable(f"{name} at {parsed.hostname}:{parsed.port} is unreachable: {exc}")


@pytest.fixture(autouse=True)
def _default_language():  # type: ignore[no-untyped-def]
    """Each test starts in the site's language. A request with `Accept-Language` leaves its
    language active on the thread (LocaleMiddleware activates it and nothing deactivates it), and
    the next test must not inherit English from the one before."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def redis_url() -> str:
    url = os.environ["REDIS_URL"]
    require_service(url, "Redis")
    return url


@pytest.fixture
def mqtt_url() -> str:
    url = os.environ["MQTT_URL"]
    require_service(url, "Mosquitto")
    return url


@dataclass
class World:
    tenant_a: Enterprise
    tenant_b: Enterprise
    outsider: Enterprise
    park: Enterprise
    users: dict[str, User]

    def user(self, key: str) -> User:
        return self.users[key]


ROLE_KEYS = (
    "a_admin", "a_staff", "b_admin", "outsider_admin", "park_admin", "zhengzhou_reviewer",
    "luoyang_reviewer", "henan_officer", "xuhui_reviewer", "expert", "platform_admin", "anonymous",
)


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
    tenant_a = EnterpriseFactory(name="郑州甲钢铁有限公司", region=region("410105"))
    tenant_b = EnterpriseFactory(name="洛阳乙化工有限公司", region=region("410305"))
    park = EnterpriseFactory(name="上海丁智慧产业园区管理有限公司", region=region("310104"),
                             kind=Enterprise.Kind.PARK)
    outsider = EnterpriseFactory(name="上海丙数据中心有限公司", region=region("310104"),
                                 kind=Enterprise.Kind.DATA_CENTER, park=park)
    zhengzhou = AuthorityFactory(name="郑州市工业和信息化局", region=region("410100"))
    luoyang = AuthorityFactory(name="洛阳市工业和信息化局", region=region("410300"))
    henan = AuthorityFactory(name="河南省工业和信息化厅", region=region("410000"),
                             level=Authority.Level.PROVINCIAL)
    xuhui = AuthorityFactory(name="徐汇区商务委", region=region("310104"), level=Authority.Level.DISTRICT)
    review_org = ReviewOrganizationFactory()
    users = {
        "a_admin": UserFactory(username="jia_steel_admin", role=Role.ENTERPRISE_ADMIN, enterprise=tenant_a),
        "a_staff": UserFactory(username="jia_steel_staff", role=Role.ENTERPRISE_STAFF, enterprise=tenant_a),
        "b_admin": UserFactory(username="yi_chemical_admin", role=Role.ENTERPRISE_ADMIN, enterprise=tenant_b),
        "outsider_admin": UserFactory(username="bing_datacenter_admin", role=Role.ENTERPRISE_ADMIN,
                                      enterprise=outsider),
        "park_admin": UserFactory(username="ding_park_admin", role=Role.ENTERPRISE_ADMIN, enterprise=park),
        "zhengzhou_reviewer": UserFactory(username="zz_reviewer", role=Role.MUNICIPAL_REVIEWER,
                                          authority=zhengzhou, is_staff=True),
        "luoyang_reviewer": UserFactory(username="ly_reviewer", role=Role.MUNICIPAL_REVIEWER,
                                        authority=luoyang, is_staff=True),
        "henan_officer": UserFactory(username="henan_officer", role=Role.PROVINCIAL_OFFICER, authority=henan,
                                     is_staff=True),
        "xuhui_reviewer": UserFactory(username="xh_reviewer", role=Role.MUNICIPAL_REVIEWER, authority=xuhui,
                                      is_staff=True),
        "expert": UserFactory(username="expert", role=Role.EXPERT, review_organization=review_org,
                              is_staff=True),
        "platform_admin": UserFactory(username="platform_admin", role=Role.PLATFORM_ADMIN, is_staff=True),
    }
    return World(tenant_a=tenant_a, tenant_b=tenant_b, outsider=outsider, park=park, users=users)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def login(client, user: User) -> None:  # type: ignore[no-untyped-def]
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")


__all__ = ["ROLE_KEYS", "TEST_PASSWORD", "World", "login", "require_service", "unavailable"]
