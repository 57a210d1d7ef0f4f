"""Registries of the URL-map walk (tests/portal/test_tenancy_walk.py), filled by tests/tenancy_*.py.

- `OUT_OF_REACH`: every URL pattern that takes an object id must have an entry, keyed by the
  URL name ("namespace:name"). The value builds, in the given test world, an object that
  belongs to `world.outsider` (a Shanghai enterprise no Henan user may reach) and returns the
  URL kwargs that address it. Admin change pages are derived from the admin registry
  (`OUT_OF_REACH_MODELS`).
- `WRITE_ATTEMPTS`: every URL without ids that takes a POST (a create route, in pages or the
  API) must have writes that name the outsider's enterprise or objects, or a reason in
  `NO_TENANT_WRITES` why it writes nothing of any tenant.
The walk fails for a URL that has no entry, so a new page can never skip the tenancy check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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


# URL name → the kwargs to walk it with, for routes whose kwargs name reference data that belongs
# to no tenant (a program's code: programs are public): walked like the URLs without ids, as
# every role, once per kwargs given (nothing shows that the role may not see, `?enterprise=`
# answers alike). The builder takes no world and must not touch the database; the rows it names
# are made by the walk's other builders (OUT_OF_REACH) before the URLs without ids are fetched.
REFERENCE_KWARGS: dict[str, Callable[[], list[dict[str, Any]]]] = {}


def reference_kwargs(url_name: str, build: Callable[[], list[dict[str, Any]]]) -> None:
    REFERENCE_KWARGS[url_name] = build


# --- writes that name the outsider -----------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One write naming the outsider: its enterprise (in the query string or the body) or one of
    its objects as a related row (a parent meter, a point's meter, a park). Every role that may
    not change the outsider makes it; whatever answer it gets, nothing of the outsider may
    change, and no other row may come to point at the outsider's.

    `replay`: start from the form the platform admin is shown at the same URL (so the body is
    otherwise valid) and lay `data` over it. `files`: field → (file name, content), sent as a
    multipart upload. `kwargs`: URL kwargs, for a route addressed through the role's own object.
    `refused`: the answer itself must be a refusal (4xx); False where the route answers 200 with
    a verdict per item (the readings batch), and the footprint alone decides.
    """

    what: str
    data: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    method: str = "POST"
    json: bool = False
    replay: bool = False
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)
    refused: bool = True


# Builds, in the walk's world, the attempts for one role: (world, own enterprise or None).
AttemptsBuilder = Callable[[Any, Any], list[Attempt]]
# URL name → attempts. Every URL without ids that accepts a POST needs an entry here or in
# NO_TENANT_WRITES; the walk fails for one that has neither.
WRITE_ATTEMPTS: dict[str, AttemptsBuilder] = {}
# URL name → why a POST there writes nothing that belongs to a tenant.
NO_TENANT_WRITES: dict[str, str] = {}
# URLs where the authority of an enterprise's region writes through its own guarded service
# (registration decisions, suspension). The walk does not ask that authority to be refused
# there; every other role still is.
AUTHORITY_ACTIONS: set[str] = set()


def write_attempts(url_name: str) -> Callable[[AttemptsBuilder], AttemptsBuilder]:
    def register(builder: AttemptsBuilder) -> AttemptsBuilder:
        WRITE_ATTEMPTS[url_name] = builder
        return builder

    return register


def no_tenant_writes(url_name: str, reason: str) -> None:
    NO_TENANT_WRITES[url_name] = reason


def authority_action(url_name: str) -> None:
    AUTHORITY_ACTIONS.add(url_name)


# Registries from each area (one import per line; append yours).
import tests.tenancy_admin  # noqa: E402
import tests.tenancy_alarms  # noqa: E402
import tests.tenancy_api  # noqa: E402
import tests.tenancy_applications_api9  # noqa: E402
import tests.tenancy_applications_att9  # noqa: E402
import tests.tenancy_applications_pdf9  # noqa: E402
import tests.tenancy_applications_ui9  # noqa: E402
import tests.tenancy_indicators  # noqa: E402
import tests.tenancy_ingest  # noqa: E402
import tests.tenancy_metering  # noqa: E402
import tests.tenancy_outbox  # noqa: E402
import tests.tenancy_reports  # noqa: E402
import tests.tenancy_reviews_admin10  # noqa: E402
import tests.tenancy_reviews_api10  # noqa: E402
import tests.tenancy_reviews_assign10  # noqa: E402
import tests.tenancy_reviews_notify10  # noqa: E402
import tests.tenancy_web  # noqa: E402, F401
