"""Out-of-reach entries for the core admin models this area registers.

portal.Enterprise and portal.User are registered by tests/tenancy_api.py. The rest of the core
admin (Region, Authority, ReviewOrganization, AuditEntry, Program) is not tenant-owned.
An API client of the outsider (reach: the outsider) is its tenant data too; only platform
admins manage clients. Second-factor devices belong to a user, so an outsider's device is out
of reach of every official (only platform admins manage devices at all).
"""

from __future__ import annotations

from typing import Any

from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import ApiClient
from tests.api_clients import api_client_with_key
from tests.tenancy_objects import out_of_reach_model


@out_of_reach_model("otp_totp.TOTPDevice")
def _totp_device(world: Any) -> TOTPDevice:
    device, _created = TOTPDevice.objects.get_or_create(user=world.user("outsider_admin"),
                                                        defaults={"name": "上海丙管理员的手机"})
    return device


@out_of_reach_model("portal.ApiClient")
def _api_client(world: Any) -> ApiClient:
    # The outsider's own machine client (say, its BI): only platform admins manage clients at all.
    client, _key = api_client_with_key(reach_kind="enterprise", enterprise=world.outsider,
                                       name="上海丙数据中心能耗看板接口客户端")
    return client
