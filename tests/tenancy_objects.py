"""Out-of-reach objects for the URL-map walk (tests/portal/test_tenancy_walk.py).

Every URL pattern that takes an object id must have an entry here, keyed by the URL name
("namespace:name"). The value builds, in the given test world, an object that belongs to
`world.outsider` (a Shanghai enterprise no Henan user may reach) and returns the URL kwargs
that address it. The walk fails for a URL with kwargs that has no entry, so a new page can
never skip the tenancy check. Admin change pages are derived from the admin registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OUT_OF_REACH: dict[str, Callable[[Any], dict[str, Any]]] = {}


UrlKwargsBuilder = Callable[[Any], dict[str, Any]]


def out_of_reach(url_name: str) -> Callable[[UrlKwargsBuilder], UrlKwargsBuilder]:
    def register(builder: UrlKwargsBuilder) -> UrlKwargsBuilder:
        OUT_OF_REACH[url_name] = builder
        return builder

    return register


# Model label ("metering.Meter") → builder returning an instance owned by world.outsider.
# Used for the admin change/delete/history pages of every tenant-owned model registered in
# the admin; the walk fails for a tenant-owned admin model with no entry here.
OUT_OF_REACH_MODELS: dict[str, Callable[[Any], Any]] = {}


def out_of_reach_model(label: str) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    def register(builder: Callable[[Any], Any]) -> Callable[[Any], Any]:
        OUT_OF_REACH_MODELS[label] = builder
        return builder

    return register


# Registries from each area (one import per line; append yours).
import tests.tenancy_admin  # noqa: E402
import tests.tenancy_api  # noqa: E402
import tests.tenancy_ingest  # noqa: E402
import tests.tenancy_metering  # noqa: E402
import tests.tenancy_web  # noqa: E402, F401
