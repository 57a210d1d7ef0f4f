"""Building API clients (machine keys) in tests: a client with its key, as the admin would issue it."""

from __future__ import annotations

from typing import Any

from portal.models import ApiClient, ApiScope
from tests.scoping import unscoped

ALL_SCOPES = list(ApiScope.values)


def api_client_with_key(
    *, reach_kind: str, scopes: list[str] | None = None, **fields: Any
) -> tuple[ApiClient, str]:
    """A saved, validated API client and its key in clear (shown once in real life)."""
    with unscoped():  # test setup
        client = ApiClient(
            name=fields.pop("name", f"接口客户端（{reach_kind}）"),
            organisation=fields.pop("organisation", "测试用监测平台运营单位"),
            reach_kind=reach_kind, scopes=ALL_SCOPES if scopes is None else scopes, **fields,
        )
        key = ApiClient.objects.assign_key(client)
        client.full_clean()
        client.save()
    return client, key


def key_header(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
