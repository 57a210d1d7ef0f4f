"""The URL-map walk: every page, admin page and API endpoint, as every role, against the outsider.

The walk reads `django.urls.get_resolver()`, so a new URL is checked the moment it is wired,
without anyone remembering to add a test:

- URLs without ids are fetched (GET) as each role: nothing answers 500, and no page shows
  the name, credit code or user names of an enterprise the role may not see;
- URLs with ids address an object of `world.outsider` through the registry in
  `tests/tenancy_objects.py` (a URL with ids and no entry fails the walk); roles that may not
  reach the outsider get 404 (or the login redirect, when they may not use the page at all),
  exactly what a missing id gets, for GET and POST, and nothing of the outsider changes;
- every model in the admin is walked the same way through `OUT_OF_REACH_MODELS`;
- API endpoints are walked with `Authorization: Token …` as well as with the session.

The expected reach below is written out by hand, independently of `portal.access`, so a
wrong policy fails here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.signals import got_request_exception
from django.db import models
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch
from rest_framework.authtoken.models import Token

from portal.access import reach_for
from portal.admin_site import admin_site
from portal.models import AuditEntry, Enterprise, User
from tests.conftest import ROLE_KEYS, World, login
from tests.scoping import unscoped
from tests.tenancy_objects import OUT_OF_REACH, OUT_OF_REACH_MODELS

# Which of the world's enterprises each role may see (written from the product rules:
# enterprise users see their own, municipal reviewers their city, the provincial officer the
# province, the Xuhui reviewer Xuhui, experts nothing yet, platform admins everything).
EXPECTED_VISIBLE: dict[str, frozenset[str]] = {
    "a_admin": frozenset({"tenant_a"}),
    "a_staff": frozenset({"tenant_a"}),
    "b_admin": frozenset({"tenant_b"}),
    "outsider_admin": frozenset({"outsider"}),
    "zhengzhou_reviewer": frozenset({"tenant_a"}),
    "luoyang_reviewer": frozenset({"tenant_b"}),
    "henan_officer": frozenset({"tenant_a", "tenant_b"}),
    "xuhui_reviewer": frozenset({"outsider"}),
    "expert": frozenset(),
    "platform_admin": frozenset({"tenant_a", "tenant_b", "outsider"}),
    "anonymous": frozenset(),
}
ENTERPRISE_KEYS = ("tenant_a", "tenant_b", "outsider")
ROLES_THAT_USE_ADMIN = frozenset({"zhengzhou_reviewer", "luoyang_reviewer", "henan_officer", "xuhui_reviewer",
                                  "expert", "platform_admin"})

# URL kwargs that do not address a tenant object, and what to fill in for them.
NON_OBJECT_KWARGS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    # The admin's per-app index: one page per registered app label.
    "admin:app_list": lambda: [
        {"app_label": label} for label in sorted({model._meta.app_label for model in admin_site._registry})
    ],
}
# DRF format-suffix routes (`.json`) take a format, never an id.
FORMAT_KWARG = "format"
# Admin object routes: the model comes from the admin registry, the id from OUT_OF_REACH_MODELS.
ADMIN_OBJECT_KWARGS = frozenset({"object_id", "id", "pk"})
# An id that no row has, for the "missing" twin of an out-of-reach request.
MISSING_ID = 2_147_480_000
# A tiny numeric string must not count as a leak; names, codes and user names are longer.
MIN_NEEDLE_CHARS = 6


# --- the URL map --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    name: str | None  # "namespace:name"
    chain: tuple[str, ...]  # the route strings of the enclosing resolvers and of the pattern
    kwargs: frozenset[str]
    callback_module: str

    @property
    def display(self) -> str:
        return "".join(self.chain)

    @property
    def is_admin(self) -> bool:
        return self.chain[0] == "admin/"

    @property
    def is_api(self) -> bool:
        return self.chain[0].startswith("api/")


def iter_routes(patterns: list[Any] | None = None, chain: tuple[str, ...] = (),
                namespaces: tuple[str, ...] = (), kwargs: frozenset[str] = frozenset()) -> Iterator[Route]:
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        here = kwargs | frozenset(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from iter_routes(entry.url_patterns, (*chain, str(entry.pattern)), inner, here)
        elif isinstance(entry, URLPattern):
            name = ":".join((*namespaces, entry.name)) if entry.name else None
            yield Route(name=name, chain=(*chain, str(entry.pattern)), kwargs=here,
                        callback_module=getattr(entry.callback, "__module__", ""))


def admin_model_of(route: Route) -> type[models.Model] | None:
    """The registered model whose ModelAdmin serves this admin route, if any."""
    if not route.is_admin or len(route.chain) < 3:
        return None
    for model in admin_site._registry:
        if route.chain[1] == f"{model._meta.app_label}/{model._meta.model_name}/":
            return model
    return None


def is_tenant_owned(model: type[models.Model]) -> bool:
    """Scoped by django-scopes, or pointing straight at an enterprise, a user or a scoped model."""
    if hasattr(model._default_manager, "with_scopes_disabled"):
        return True
    for model_field in model._meta.concrete_fields:
        target = getattr(model_field, "related_model", None)
        if model_field.is_relation and target is not None and target is not model and (
            target in (Enterprise, User) or hasattr(target._default_manager, "with_scopes_disabled")
        ):
            return True
    return False


def is_allowed_unnamed(route: Route) -> bool:
    # Django admin's unnamed routes do no lookup: `<app>/<model>/<object_id>/` redirects to the
    # named change page (walked), and the catch-all appends a slash or answers 404.
    return route.name is None and route.is_admin


@dataclass
class RouteMap:
    plain: list[tuple[Route, dict[str, Any]]] = field(default_factory=list)  # GET as everyone
    objects: list[Route] = field(default_factory=list)  # kwargs from OUT_OF_REACH
    admin_objects: list[tuple[Route, type[models.Model]]] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)


def route_map() -> RouteMap:
    result = RouteMap()
    for route in iter_routes():
        object_kwargs = route.kwargs - {FORMAT_KWARG}
        fill = {FORMAT_KWARG: "json"} if FORMAT_KWARG in route.kwargs else {}
        if not object_kwargs:
            result.plain.append((route, fill))
        elif route.name in NON_OBJECT_KWARGS:
            result.plain.extend((route, {**fill, **kw}) for kw in NON_OBJECT_KWARGS[route.name]())
        elif route.name in OUT_OF_REACH:
            result.objects.append(route)
        elif is_allowed_unnamed(route):
            continue
        elif (model := admin_model_of(route)) is not None and object_kwargs <= ADMIN_OBJECT_KWARGS:
            label = model._meta.label
            if label in OUT_OF_REACH_MODELS:
                result.admin_objects.append((route, model))
            elif is_tenant_owned(model):
                result.uncovered.append(f"{route.name} ({route.display}): admin of tenant-owned {label} "
                                        f"has no OUT_OF_REACH_MODELS entry")
            # Otherwise reference data (regions, authorities, programs): no tenant to be out of reach of.
        else:
            what = route.name or "(unnamed: give it a name)"
            result.uncovered.append(f"{what} ({route.display}): takes {sorted(object_kwargs)} and has no "
                                    f"OUT_OF_REACH entry")
    return result


def url_for(route: Route, kwargs: dict[str, Any]) -> str:
    if route.name:
        return reverse(route.name, kwargs=kwargs or None)
    literal = "/" + "".join(part.lstrip("^").rstrip("$") for part in route.chain)
    if re.search(r"[()\[\]*+?\\|]", literal):
        raise AssertionError(f"cannot build a URL for unnamed route {route.display}: give it a name")
    return literal


def missing_twin(route: Route, kwargs: dict[str, Any]) -> str | None:
    """The same URL with every id replaced by one no row has, or None when it cannot be built."""
    twin = {key: (MISSING_ID if str(value).isdigit() and key != FORMAT_KWARG else value)
            for key, value in kwargs.items()}
    if twin == kwargs:
        return None
    try:
        return url_for(route, twin)
    except NoReverseMatch:
        return None


# --- what each role may see ---------------------------------------------------------------------

def may_see_outsider(role: str) -> bool:
    return "outsider" in EXPECTED_VISIBLE[role]


def forbidden_needles(world: World, role: str, outsider_objects: list[Any]) -> dict[str, str]:
    """Strings that must not appear in any body `role` receives, mapped to what they are."""
    needles: dict[str, str] = {}
    for key in ENTERPRISE_KEYS:
        if key in EXPECTED_VISIBLE[role]:
            continue
        enterprise: Enterprise = getattr(world, key)
        needles[enterprise.name] = f"{key} name"
        needles[json.dumps(enterprise.name)[1:-1]] = f"{key} name (JSON-escaped)"
        needles[enterprise.credit_code] = f"{key} credit code"
        for user in world.users.values():
            if user.enterprise_id == enterprise.pk:
                needles[user.username] = f"{key} user name"
    if not may_see_outsider(role):
        for obj in outsider_objects:
            text = str(obj)
            if len(text) >= MIN_NEEDLE_CHARS:
                needles[text] = f"outsider's {obj._meta.label} #{obj.pk}"
    return needles


def body_of(response: Any) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode("utf-8", errors="replace")


def is_login_redirect(response: Any) -> bool:
    location = response.get("Location", "")
    return response.status_code == 302 and (
        location.startswith(reverse("portal:login")) or location.startswith(reverse("admin:login"))
    )


class Walker:
    """One role's client plus the problems found, reported together at the end."""

    def __init__(self, world: World, role: str, *, token: bool = False) -> None:
        self.world = world
        self.role = role
        self.client = Client(raise_request_exception=False)
        self.user = None if role == "anonymous" else world.user(role)
        if self.user is not None:
            if token:
                key = Token.objects.get_or_create(user=self.user)[0].key
                self.client.defaults["HTTP_AUTHORIZATION"] = f"Token {key}"
            else:
                login(self.client, self.user)
        self.problems: list[str] = []
        self.needles: dict[str, str] = {}
        self._errors: list[str] = []
        self.requests = 0

    def __enter__(self) -> Walker:
        got_request_exception.connect(self._record_exception)
        return self

    def __exit__(self, *exc: Any) -> None:
        got_request_exception.disconnect(self._record_exception)

    def _record_exception(self, sender: Any, request: Any = None, **kwargs: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        self._errors.append(f"{type(error).__name__}: {error}")

    def fetch(self, method: str, url: str, data: dict[str, Any] | None = None) -> tuple[Any, str]:
        self._errors.clear()
        self.requests += 1
        response = self.client.get(url) if method == "GET" else self.client.post(url, data or {})
        body = body_of(response)
        where = f"{method} {url} as {self.role}"
        if response.status_code >= 500:
            self.problems.append(f"{where}: {response.status_code} {'; '.join(self._errors)}".rstrip())
        for needle, what in self.needles.items():
            if needle in body:
                self.problems.append(f"{where}: body shows the {what} ({needle!r})")
        return response, body

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def report(self) -> None:
        assert not self.problems, (f"{len(self.problems)} problem(s) for role {self.role} "
                                   f"({self.requests} requests):\n  " + "\n  ".join(self.problems))


def build_outsider_objects(world: World) -> tuple[list[tuple[Route, dict[str, Any]]],
                                                  list[tuple[Route, type[models.Model], Any]], list[Any]]:
    routes = route_map()
    objects = [(route, OUT_OF_REACH[route.name](world)) for route in routes.objects if route.name]
    built: dict[str, Any] = {}
    admin_objects = []
    for route, model in routes.admin_objects:
        label = model._meta.label
        if label not in built:
            built[label] = OUT_OF_REACH_MODELS[label](world)
        admin_objects.append((route, model, built[label]))
    return objects, admin_objects, list(built.values())


def outsider_snapshot(world: World, objects: list[Any]) -> dict[str, Any]:
    """The outsider's rows as they are in the database: read by the test, past every tenant scope."""
    with unscoped():
        state: dict[str, Any] = {"enterprise": model_to_dict(Enterprise.objects.get(pk=world.outsider.pk))}
    for obj in objects:
        fresh = type(obj)._base_manager.filter(pk=obj.pk).first()
        state[f"{obj._meta.label}#{obj.pk}"] = None if fresh is None else {
            f.attname: getattr(fresh, f.attname) for f in fresh._meta.concrete_fields
        }
    return state


# --- the tests ----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLE_KEYS)
def test_reach_policy_matches_expectations(world, role):
    user = AnonymousUser() if role == "anonymous" else world.user(role)
    reach = reach_for(user)
    visible = {key for key in ENTERPRISE_KEYS if reach.can_see(getattr(world, key).pk)}
    assert visible == EXPECTED_VISIBLE[role]


def test_every_url_with_ids_has_an_out_of_reach_entry():
    routes = route_map()
    assert not routes.uncovered, (
        "These URLs take ids but the walk cannot address an outsider's object through them. Register "
        "an entry in tests/tenancy_<area>.py (out_of_reach / out_of_reach_model):\n  "
        + "\n  ".join(routes.uncovered)
    )
    known = {route.name for route in iter_routes()}
    stale = sorted(set(OUT_OF_REACH) - known)
    assert not stale, f"OUT_OF_REACH names that no URL has (renamed?): {stale}"


@pytest.mark.parametrize("role", ROLE_KEYS)
def test_pages_without_ids_leak_nothing(world, role):
    _objects, _admin_objects, outsider_objects = build_outsider_objects(world)
    with Walker(world, role) as walker:
        walker.needles = forbidden_needles(world, role, outsider_objects)
        for route, kwargs in route_map().plain:
            response, _body = walker.fetch("GET", url_for(route, kwargs))
            if route.is_admin and route.name and route.name.endswith("_changelist"):
                check_admin_changelist(walker, route, response)
    walker.report()


def check_admin_changelist(walker: Walker, route: Route, response: Any) -> None:
    status = response.status_code
    if walker.role not in ROLES_THAT_USE_ADMIN:
        if not is_login_redirect(response):
            walker.fail(f"{route.name} as {walker.role}: {status}, expected a redirect to the admin login")
    elif walker.role == "platform_admin":
        if status != 200:
            walker.fail(f"{route.name} as platform_admin: {status}, expected 200")
    elif status not in (200, 403):
        walker.fail(f"{route.name} as {walker.role}: {status}, expected 200 or 403")


def check_out_of_reach(walker: Walker, route: Route, kwargs: dict[str, Any], method: str,
                       data: dict[str, Any] | None = None) -> None:
    """Out of reach must answer like missing: 404, or the same refusal a missing id gets."""
    url = url_for(route, kwargs)
    response, body = walker.fetch(method, url, data)
    status = response.status_code
    where = f"{method} {url} ({route.name}) as {walker.role}"
    if walker.role == "anonymous":
        allowed = {401, 403, 404, 405}
        if status in allowed or is_login_redirect(response):
            return
        walker.fail(f"{where}: {status}, expected 404, 401 or a redirect to login")
        return
    if route.is_admin and walker.role not in ROLES_THAT_USE_ADMIN:
        if not is_login_redirect(response):
            walker.fail(f"{where}: {status}, expected a redirect to the admin login")
        return
    if status == 404 and not response["Content-Type"].startswith("application/json"):
        return
    twin_url = missing_twin(route, kwargs)
    twin = walker.fetch(method, twin_url, data) if twin_url else None
    if status not in (403, 404, 405):
        walker.fail(f"{where}: {status}, expected 404 (out of reach answers like missing)")
    elif twin is None:
        if status != 404:
            walker.fail(f"{where}: {status}, expected 404 (no missing-id twin to compare with)")
    elif twin[0].status_code != status:
        walker.fail(f"{where}: {status}, but a missing id ({twin_url}) answers {twin[0].status_code}; "
                    f"out of reach must be indistinguishable from missing")
    elif response["Content-Type"].startswith("application/json") and body != twin[1]:
        walker.fail(f"{where}: the JSON body differs from a missing id's ({body!r} vs {twin[1]!r})")


@pytest.mark.parametrize("role", ROLE_KEYS)
def test_objects_of_the_outsider_are_out_of_reach(world, role):
    objects, admin_objects, outsider_objects = build_outsider_objects(world)
    with Walker(world, role) as walker:
        # After logging in, which itself writes (last_login, the login audit row).
        before = outsider_snapshot(world, outsider_objects)
        last_audit_id = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
        walker.needles = forbidden_needles(world, role, outsider_objects)
        for route, kwargs in objects:
            if may_see_outsider(role):
                walker.fetch("GET", url_for(route, kwargs))  # may see: only "no 500" is checked here
                continue
            check_out_of_reach(walker, route, kwargs, "GET")
            check_out_of_reach(walker, route, kwargs, "POST", {"confirm": "yes", "post": "yes"})
        for route, _model, obj in admin_objects:
            kwargs = {name: str(obj.pk) for name in route.kwargs}
            if role == "platform_admin":
                response, _body = walker.fetch("GET", url_for(route, kwargs))
                is_page = bool(route.name and route.name.endswith(("_change", "_history")))
                required = {200} if is_page else {200, 403}
                if response.status_code not in required:
                    walker.fail(f"GET {url_for(route, kwargs)} as platform_admin: {response.status_code}, "
                                f"expected {sorted(required)}")
                continue
            if may_see_outsider(role):
                walker.fetch("GET", url_for(route, kwargs))
                continue
            check_out_of_reach(walker, route, kwargs, "GET")
            check_out_of_reach(walker, route, kwargs, "POST", {"post": "yes"})
        after = outsider_snapshot(world, outsider_objects)
        if before != after:
            changed = sorted(key for key in before if before[key] != after.get(key))
            walker.fail(f"the outsider's rows changed: {changed}")
        writes = AuditEntry.objects.filter(
            id__gt=last_audit_id, enterprise_id_snapshot=world.outsider.pk,
            action__in=("create", "update", "delete", "permission_change"),
        )
        for entry in writes:
            walker.fail(f"audit shows a write to the outsider: {entry.action} {entry.object_type} "
                        f"{entry.object_repr} via {entry.channel}")
    walker.report()


@pytest.mark.parametrize("role", [role for role in ROLE_KEYS if role != "anonymous"])
def test_api_with_token_auth(world, role):
    objects, _admin_objects, outsider_objects = build_outsider_objects(world)
    with Walker(world, role, token=True) as walker:
        walker.needles = forbidden_needles(world, role, outsider_objects)
        for route, kwargs in route_map().plain:
            if route.is_api:
                walker.fetch("GET", url_for(route, kwargs))
        for route, kwargs in objects:
            if not route.is_api:
                continue
            if may_see_outsider(role):
                walker.fetch("GET", url_for(route, kwargs))
            else:
                check_out_of_reach(walker, route, kwargs, "GET")
    walker.report()


def test_the_walk_covers_pages_admin_and_api():
    """Guard the walk itself: if the URL map reading broke, every other test would pass vacuously."""
    routes = route_map()
    plain_names = {route.name for route, _kwargs in routes.plain}
    expected = {"portal:home", "admin:index", "api:enterprise-list", "admin:portal_enterprise_changelist"}
    assert expected <= plain_names
    assert "api:enterprise-detail" in {route.name for route in routes.objects}
    assert "admin:portal_enterprise_change" in {route.name for route, _model in routes.admin_objects}
