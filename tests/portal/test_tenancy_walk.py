"""The URL-map walk: every page, admin page and API endpoint, as every role, against the outsider.

The walk reads `django.urls.get_resolver()`, so a new URL is checked the moment it is wired,
without anyone remembering to add a test:

- URLs without ids are fetched (GET) as each role: nothing answers 500, and no page shows
  the name, credit code or user names of an enterprise the role may not see, nor the names and
  codes of anything the outsider owns. Pages that pick their tenant from the query string
  (`?enterprise=<id>`) are fetched with the outsider's id too, and must answer exactly as for
  an id no row has. API routes also get PUT, PATCH and DELETE.
- URLs with ids address an object of `world.outsider` through the registry in
  `tests/tenancy_objects.py` (a URL with ids and no entry fails the walk). Roles that may not
  see the outsider get 404 (or the login redirect, when they may not use the page at all),
  exactly what a missing id gets, for GET and POST (API routes: GET, POST, PUT, PATCH,
  DELETE). Roles that see the outsider but may not change it (its district's reviewer, its
  park's admin) have every write refused (403, 404 or 405). Writes send the form or JSON the
  platform admin is shown at that URL with one text field changed, so a view that forgot its
  rights check would save them.
- URLs whose kwargs name reference data of no tenant (a program's code: `REFERENCE_KWARGS`) are
  walked like the URLs without ids, with the kwargs the registry gives.
- Create routes (pages and API) are sent writes that name the outsider's enterprise or
  objects (`WRITE_ATTEMPTS`), by every role that may not change the outsider; a URL without ids
  that takes a POST and has no attempts (nor a reason in `NO_TENANT_WRITES`) fails the walk.
- After every route, the outsider's footprint (tests/tenancy_footprint.py: every row it owns
  and every row pointing at one) must be exactly what it was, and the audit trail must show no
  write to the outsider.
- Every model in the admin is walked the same way through `OUT_OF_REACH_MODELS`.
- API endpoints are walked with `Authorization: Token …` as well as with the session, and with
  `Authorization: Api-Key …` of API clients whose reach is one enterprise, a city and a province
  (`API_CLIENT_REACHES`): the outsider is out of their reach like any missing id, nothing of it
  shows, and their writes change nothing.

The expected reach below is written out by hand, independently of `portal.access`, so a
wrong policy fails here too.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import got_request_exception
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch
from rest_framework.authtoken.models import Token

from portal.access import reach_for
from portal.admin_site import admin_site
from portal.models import ApiClientActor, AuditEntry, Enterprise, Region, User
from tests.api_clients import api_client_with_key
from tests.conftest import ROLE_KEYS, World, login
from tests.html_forms import post_form_for, replay_values
from tests.tenancy_footprint import footprint, footprint_changes, owned_objects
from tests.tenancy_objects import (
    AUTHORITY_ACTIONS,
    NO_TENANT_WRITES,
    OUT_OF_REACH,
    OUT_OF_REACH_MODELS,
    REFERENCE_KWARGS,
    WRITE_ATTEMPTS,
    Attempt,
)

# Which of the world's enterprises each role may see, and which it may change (written from the
# product rules: enterprise users see their own and change their own, a park's users also read
# its members, municipal reviewers see their city, the provincial officer the province, the
# Xuhui reviewer Xuhui, and officials change no enterprise's data; experts nothing yet;
# platform admins everything).
EXPECTED_VISIBLE: dict[str, frozenset[str]] = {
    "a_admin": frozenset({"tenant_a"}),
    "a_staff": frozenset({"tenant_a"}),
    "b_admin": frozenset({"tenant_b"}),
    "outsider_admin": frozenset({"outsider"}),
    "park_admin": frozenset({"park", "outsider"}),
    "zhengzhou_reviewer": frozenset({"tenant_a"}),
    "luoyang_reviewer": frozenset({"tenant_b"}),
    "henan_officer": frozenset({"tenant_a", "tenant_b"}),
    "xuhui_reviewer": frozenset({"outsider", "park"}),
    "expert": frozenset(),
    "platform_admin": frozenset({"tenant_a", "tenant_b", "outsider", "park"}),
    "anonymous": frozenset(),
    # API clients (machine keys, every scope): tenant_a's own key, Zhengzhou's and Henan's.
    "key_tenant_a": frozenset({"tenant_a"}),
    "key_zhengzhou": frozenset({"tenant_a"}),
    "key_henan": frozenset({"tenant_a", "tenant_b"}),
}
EXPECTED_CHANGEABLE: dict[str, frozenset[str]] = {
    "a_admin": frozenset({"tenant_a"}),
    "a_staff": frozenset({"tenant_a"}),
    "b_admin": frozenset({"tenant_b"}),
    "outsider_admin": frozenset({"outsider"}),
    "park_admin": frozenset({"park"}),
    "zhengzhou_reviewer": frozenset(),
    "luoyang_reviewer": frozenset(),
    "henan_officer": frozenset(),
    "xuhui_reviewer": frozenset(),
    "expert": frozenset(),
    "platform_admin": frozenset({"tenant_a", "tenant_b", "outsider", "park"}),
    "anonymous": frozenset(),
    # API clients never change anything.
    "key_tenant_a": frozenset(),
    "key_zhengzhou": frozenset(),
    "key_henan": frozenset(),
}
# The walk's API clients: pseudo-role → the reach it is issued with (every scope).
API_CLIENT_REACHES: dict[str, Callable[[World], dict[str, Any]]] = {
    "key_tenant_a": lambda world: {"reach_kind": "enterprise", "enterprise": world.tenant_a},
    "key_zhengzhou": lambda world: {"reach_kind": "region", "region": Region.objects.get(code="410100")},
    "key_henan": lambda world: {"reach_kind": "region", "region": Region.objects.get(code="410000")},
}
# The outsider's district authority (and the platform): they decide its registration and
# suspension, through the routes in AUTHORITY_ACTIONS.
OUTSIDER_AUTHORITY_ROLES = frozenset({"xuhui_reviewer", "platform_admin"})
ENTERPRISE_KEYS = ("tenant_a", "tenant_b", "outsider", "park")
# Parks are listed by name in the public membership directory (the registration page), so a
# park's name is no secret; its credit code and its people are.
PUBLIC_NAME_KEYS = frozenset({"park"})
ROLES_THAT_USE_ADMIN = frozenset({"zhengzhou_reviewer", "luoyang_reviewer", "henan_officer", "xuhui_reviewer",
                                  "expert", "platform_admin"})

# How a role stands to the outsider.
HIDDEN, READER, OWNER = "hidden", "reader", "owner"

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
# Query parameters through which a page or endpoint picks its tenant.
TENANT_QUERY_PARAMS = ("enterprise",)
# Which writes each kind of route gets (pages and the admin only take POST from a browser).
PAGE_WRITES = ("POST",)
API_WRITES = ("POST", "PUT", "PATCH", "DELETE")
# What a role that sees the outsider but may not change it gets for a write.
READER_REFUSALS = frozenset({403, 404, 405})
# Appended to a text field of a replayed form, so saving it would be a visible change.
REPLAY_MARKER = "（巡检修改）"
# Needles: the factories make every name and code long and unique (tests/factories.py); a short
# one would be skipped silently, so the walk refuses it instead.
MIN_NEEDLE_CHARS = 8
NEEDLE_ATTRS = ("name", "code", "token_prefix", "reason")
# Rows with no text of their own: a point shows its meter's code, a reading numbers.
NO_NEEDLE_MODELS = frozenset({"metering.ModbusPoint", "metering.Reading"})


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
        elif route.name in REFERENCE_KWARGS:
            result.plain.extend((route, {**fill, **kw}) for kw in REFERENCE_KWARGS[route.name]())
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


def routes_by_name() -> dict[str, Route]:
    return {route.name: route for route in iter_routes() if route.name}


def with_query(url: str, query: dict[str, Any]) -> str:
    return f"{url}?{urlencode(query, doseq=True)}" if query else url


def writes_for(route: Route) -> tuple[str, ...]:
    return API_WRITES if route.is_api else PAGE_WRITES


# --- what each role may see ---------------------------------------------------------------------

def standing(role: str) -> str:
    if "outsider" in EXPECTED_CHANGEABLE[role]:
        return OWNER
    return READER if "outsider" in EXPECTED_VISIBLE[role] else HIDDEN


def own_enterprise(world: World, role: str) -> Enterprise | None:
    """The enterprise the role works for (the one its writes go to by default), if any."""
    user = None if role == "anonymous" or role in API_CLIENT_REACHES else world.user(role)
    return user.enterprise if user is not None and user.enterprise_id is not None else None


def needles_of(obj: models.Model) -> list[str]:
    texts = [str(obj)] + [str(getattr(obj, attr)) for attr in NEEDLE_ATTRS if getattr(obj, attr, "")]
    return [text for text in dict.fromkeys(texts) if len(text) >= MIN_NEEDLE_CHARS]


def forbidden_needles(world: World, role: str) -> dict[str, str]:
    """Strings that must not appear in any body `role` receives, mapped to what they are."""
    needles: dict[str, str] = {}
    for key in ENTERPRISE_KEYS:
        if key in EXPECTED_VISIBLE[role]:
            continue
        enterprise: Enterprise = getattr(world, key)
        if key not in PUBLIC_NAME_KEYS:
            needles[enterprise.name] = f"{key} name"
            needles[json.dumps(enterprise.name)[1:-1]] = f"{key} name (JSON-escaped)"
        needles[enterprise.credit_code] = f"{key} credit code"
        for user in User.objects.filter(enterprise=enterprise):
            needles[user.username] = f"{key} user name"
    if standing(role) == HIDDEN:
        for obj in owned_objects([world.outsider.pk]):
            label = obj._meta.label
            if isinstance(obj, Enterprise) or label in NO_NEEDLE_MODELS:
                continue
            texts = needles_of(obj)
            if not texts:
                raise AssertionError(f"the outsider's {label} #{obj.pk} ({obj!s}) has no name or code of "
                                     f"{MIN_NEEDLE_CHARS}+ characters: give its factory a long, unique name")
            for text in texts:
                needles[text] = f"outsider's {label} #{obj.pk}"
    return needles


def body_of(response: Any) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode("utf-8", errors="replace")


def is_login_redirect(response: Any) -> bool:
    location = response.get("Location", "")
    return response.status_code == 302 and (
        location.startswith(reverse("portal:login")) or location.startswith(reverse("admin:login"))
    )


def is_json(response: Any) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


@dataclass(frozen=True)
class Body:
    """What a write sends: form values (multipart, with files), or JSON."""

    data: Any = None
    json: bool = False
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    # What the caller itself typed (an attempt's own values, not what a replay copied from the
    # platform admin's page): an answer may echo it without leaking anything.
    typed: str = ""


FALLBACK_FORM = Body({"confirm": "yes", "post": "yes"})


class Walker:
    """One role's client plus the problems found, reported together at the end."""

    def __init__(self, world: World, role: str, *, token: bool = False) -> None:
        self.world = world
        self.role = role
        self.client = Client(raise_request_exception=False)
        self.user = None if role == "anonymous" or role in API_CLIENT_REACHES else world.user(role)
        if role in API_CLIENT_REACHES:
            self.api_client, key = api_client_with_key(name=f"巡检接口客户端（{role}）",
                                                       **API_CLIENT_REACHES[role](world))
            self.client.defaults["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
        elif self.user is not None:
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
        error = sys.exc_info()[1]
        self._errors.append(f"{type(error).__name__}: {error}")

    def fetch(self, method: str, url: str, body: Body | None = None) -> tuple[Any, str]:
        self._errors.clear()
        self.requests += 1
        response = send(self.client, method, url, body)
        text = body_of(response)
        where = f"{method} {url} as {self.role}"
        if response.status_code >= 500:
            self.problems.append(f"{where}: {response.status_code} {'; '.join(self._errors)}".rstrip())
        # An answer may echo what the caller itself typed ("parent TEST-M-000012 not found"):
        # that tells the caller nothing it did not know.
        typed = "" if body is None else body.typed
        for needle, what in self.needles.items():
            if needle in text and needle not in typed:
                self.problems.append(f"{where}: body shows the {what} ({needle!r})")
        return response, text

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def report(self) -> None:
        assert not self.problems, (f"{len(self.problems)} problem(s) for role {self.role} "
                                   f"({self.requests} requests):\n  " + "\n  ".join(self.problems))


def send(client: Client, method: str, url: str, body: Body | None) -> Any:
    if method == "GET":
        return client.get(url)
    body = body or Body()
    if body.json:
        return client.generic(method, url, json.dumps(body.data or {}), content_type="application/json")
    data: dict[str, Any] = dict(body.data or {})
    for name, (filename, content) in body.files.items():
        data[name] = SimpleUploadedFile(filename, content, content_type="text/csv")
    if method == "POST":
        return client.post(url, data)
    return client.generic(method, url, urlencode(data, doseq=True),
                          content_type="application/x-www-form-urlencoded")


class Replayer:
    """Valid bodies for writes: what a user who may write is shown at a URL, sent back changed.

    Pages: the URL's own POST form, with one text field changed; API: the object's JSON with
    its name changed (PUT the whole, PATCH the name). Fetched as the platform admin (who sees
    the outsider's objects as their owner would), once per URL."""

    def __init__(self, world: World) -> None:
        self.client = Client(raise_request_exception=False)
        login(self.client, world.user("platform_admin"))
        self._pages: dict[str, Any] = {}

    def _get(self, client: Client, url: str) -> Any:
        key = f"{id(client)} {url}"
        if key not in self._pages:
            self._pages[key] = client.get(url)
        return self._pages[key]

    def form(self, url: str, client: Client | None = None) -> dict[str, list[str]] | None:
        response = self._get(client or self.client, url)
        if response.status_code != 200 or is_json(response) or response.streaming:
            return None
        form = post_form_for(body_of(response), url)
        return None if form is None else replay_values(form, marker=REPLAY_MARKER)

    def body(self, route: Route, url: str, method: str) -> Body:
        if route.is_admin:
            # The admin refuses by the role's rights before it reads a form (tests/portal/test_admin.py
            # posts valid ones); the footprint still decides.
            return FALLBACK_FORM
        if not route.is_api:
            values = self.form(url)
            return FALLBACK_FORM if values is None else Body(values)
        response = self._get(self.client, url)
        document = response.json() if response.status_code == 200 and is_json(response) else {}
        if not isinstance(document, dict):
            document = {}
        text_key = next((key for key in ("name", "code") if isinstance(document.get(key), str)), None)
        if method == "PATCH":
            return Body({text_key: document[text_key] + REPLAY_MARKER} if text_key else {}, json=True)
        if text_key:
            document = {**document, text_key: document[text_key] + REPLAY_MARKER}
        return Body(document, json=True)

    def attempt_body(self, attempt: Attempt, url: str, walker_client: Client) -> Body:
        data: dict[str, Any] = {}
        if attempt.replay:
            # A URL naming the outsider in its query: the form its owner is shown; else the
            # role's own form (its own enterprise, its own device).
            source = self.client if attempt.query else walker_client
            data = dict(self.form(url, source) or {})
        data.update({key: value if isinstance(value, list) else [value] if not attempt.json else value
                     for key, value in attempt.data.items()})
        typed = f"{attempt.data!r} {attempt.files!r} {attempt.query!r}"
        return Body(data, json=attempt.json, files=attempt.files, typed=typed)


def newest_audit_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


@dataclass
class Outsider:
    """The outsider's footprint and audit trail, checked after each route the walk writes to.

    `rebase()` takes the state to compare with (after the walk's own setup: logins, objects
    built for it); each `check()` compares with the last state and moves it on."""

    world: World
    walker: Walker
    state: Any = None
    last_audit_id: int = 0

    def __post_init__(self) -> None:
        self.rebase()

    def rebase(self) -> None:
        self.state = footprint([self.world.outsider.pk])
        self.last_audit_id = newest_audit_id()

    def check(self, where: str, *, footprint_too: bool = True) -> None:
        """The audit trail since the last check; the footprint too unless told otherwise (it costs
        some thirty queries: where no change is expected, one comparison at the end says it,
        and the changed row's id still names the route that addressed it)."""
        if footprint_too:
            now = footprint([self.world.outsider.pk])
            for change in footprint_changes(self.state, now):
                self.walker.fail(f"{where} as {self.walker.role} changed the outsider's footprint: {change}")
            self.state = now
        writes = AuditEntry.objects.filter(
            id__gt=self.last_audit_id, enterprise_id_snapshot=self.world.outsider.pk,
            action__in=("create", "update", "delete", "permission_change"),
        )
        for entry in writes:
            self.walker.fail(f"{where} as {self.walker.role}: audit shows a write to the outsider: "
                             f"{entry.action} {entry.object_type} {entry.object_repr} via {entry.channel}")
        self.last_audit_id = newest_audit_id()


def build_outsider_objects(world: World) -> tuple[list[tuple[Route, dict[str, Any]]],
                                                  list[tuple[Route, type[models.Model], Any]]]:
    routes = route_map()
    objects = [(route, OUT_OF_REACH[route.name](world)) for route in routes.objects if route.name]
    built: dict[str, Any] = {}
    admin_objects = []
    for route, model in routes.admin_objects:
        label = model._meta.label
        if label not in built:
            built[label] = OUT_OF_REACH_MODELS[label](world)
        admin_objects.append((route, model, built[label]))
    return objects, admin_objects


# --- the checks ---------------------------------------------------------------------------------

def check_out_of_reach(walker: Walker, route: Route, kwargs: dict[str, Any], method: str,
                       body: Body | None = None) -> None:
    """Out of reach must answer like missing: 404, or the same refusal a missing id gets."""
    url = url_for(route, kwargs)
    response, text = walker.fetch(method, url, body)
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
    if status == 404 and not is_json(response):
        return
    twin_url = missing_twin(route, kwargs)
    twin = walker.fetch(method, twin_url, body) if twin_url else None
    if status not in (403, 404, 405):
        walker.fail(f"{where}: {status}, expected 404 (out of reach answers like missing)")
    elif twin is None:
        if status != 404:
            walker.fail(f"{where}: {status}, expected 404 (no missing-id twin to compare with)")
    elif twin[0].status_code != status:
        walker.fail(f"{where}: {status}, but a missing id ({twin_url}) answers {twin[0].status_code}; "
                    f"out of reach must be indistinguishable from missing")
    elif is_json(response) and text != twin[1]:
        walker.fail(f"{where}: the JSON body differs from a missing id's ({text!r} vs {twin[1]!r})")


def check_refused(walker: Walker, route: Route, url: str, method: str, body: Body) -> None:
    """A role that sees the outsider but may not change it: every write is refused up front."""
    response, _text = walker.fetch(method, url, body)
    if route.is_admin:
        return  # the admin answers by the role's rights (tests/portal/test_admin.py); the footprint decides
    if response.status_code not in READER_REFUSALS:
        walker.fail(f"{method} {url} ({route.name}) as {walker.role}: {response.status_code}, expected a "
                    f"refusal ({sorted(READER_REFUSALS)}): the role sees the outsider but may not change it")


def walk_object_route(walker: Walker, outsider: Outsider, replayer: Replayer, route: Route,
                      kwargs: dict[str, Any]) -> None:
    url = url_for(route, kwargs)
    kind = standing(walker.role)
    if kind == OWNER:
        walker.fetch("GET", url)  # may change: only "no 500" is checked here
        return
    if kind == HIDDEN:
        check_out_of_reach(walker, route, kwargs, "GET")
        for method in writes_for(route):
            check_out_of_reach(walker, route, kwargs, method, replayer.body(route, url, method))
    else:
        walker.fetch("GET", url)
        if not (route.name in AUTHORITY_ACTIONS and walker.role in OUTSIDER_AUTHORITY_ROLES):
            for method in writes_for(route):
                check_refused(walker, route, url, method, replayer.body(route, url, method))
    # Per route for the roles that see the outsider (a write they get through is the likely
    # hole); for the others, the check at the end of the walk.
    outsider.check(f"{route.name} ({url})", footprint_too=kind == READER)


def is_refusal(route: Route, response: Any) -> bool:
    """An API answers a refused write with 4xx; a page with 4xx or its form again (200), where a
    saved one redirects."""
    if route.is_api:
        return response.status_code >= 400
    return response.status_code != 302 or is_login_redirect(response)


def walk_write_attempts(walker: Walker, outsider: Outsider, replayer: Replayer, *, api_only: bool) -> None:
    routes = routes_by_name()
    own = own_enterprise(walker.world, walker.role)
    attempts = [(name, routes[name], attempt) for name, build in sorted(WRITE_ATTEMPTS.items())
                if not api_only or routes[name].is_api for attempt in build(walker.world, own)]
    walker.needles = forbidden_needles(walker.world, walker.role)  # the attempts built more objects
    outsider.rebase()
    for name, route, attempt in attempts:
        url = with_query(url_for(route, attempt.kwargs), attempt.query)
        body = replayer.attempt_body(attempt, url, walker.client)
        response, _text = walker.fetch(attempt.method, url, body)
        where = f"{attempt.method} {url} ({name}: {attempt.what})"
        if attempt.refused and not is_refusal(route, response):
            walker.fail(f"{where} as {walker.role}: {response.status_code}, expected a refusal")
        if standing(walker.role) == HIDDEN and walker.world.outsider.pk in attempt.query.values():
            twin_url = with_query(url_for(route, attempt.kwargs), {
                key: MISSING_ID if value == walker.world.outsider.pk else value
                for key, value in attempt.query.items()})
            twin, _twin_text = walker.fetch(attempt.method, twin_url, body)
            if twin.status_code != response.status_code:
                walker.fail(f"{where} as {walker.role}: {response.status_code}, but naming a missing "
                            f"enterprise answers {twin.status_code}; out of reach must be indistinguishable "
                            f"from missing")
        outsider.check(where)


# --- the tests ----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLE_KEYS)
def test_reach_policy_matches_expectations(world, role):
    user = AnonymousUser() if role == "anonymous" else world.user(role)
    reach = reach_for(user)
    visible = {key for key in ENTERPRISE_KEYS if reach.can_see(getattr(world, key).pk)}
    changeable = {key for key in ENTERPRISE_KEYS if reach.can_change(getattr(world, key).pk)}
    assert visible == EXPECTED_VISIBLE[role]
    assert changeable == EXPECTED_CHANGEABLE[role]


def test_every_url_with_ids_has_an_out_of_reach_entry():
    routes = route_map()
    assert not routes.uncovered, (
        "These URLs take ids but the walk cannot address an outsider's object through them. Register "
        "an entry in tests/tenancy_<area>.py (out_of_reach / out_of_reach_model):\n  "
        + "\n  ".join(routes.uncovered)
    )
    known = {route.name for route in iter_routes()}
    registered = (set(OUT_OF_REACH) | set(WRITE_ATTEMPTS) | set(NO_TENANT_WRITES) | AUTHORITY_ACTIONS
                  | set(REFERENCE_KWARGS))
    stale = sorted(registered - known)
    assert not stale, f"walk registry names that no URL has (renamed?): {stale}"


def test_every_url_that_takes_a_post_names_its_writes(world):
    """A URL without ids that accepts a POST is a create route until it says otherwise."""
    uncovered = []
    for route, kwargs in route_map().plain:
        if route.is_admin or route.name in WRITE_ATTEMPTS or route.name in NO_TENANT_WRITES:
            continue
        probe = Client(raise_request_exception=False)
        login(probe, world.user("platform_admin"))
        response = probe.post(url_for(route, kwargs), {})
        if response.status_code != 405:
            uncovered.append(f"{route.name or '(unnamed: give it a name)'} ({route.display}): answers "
                             f"{response.status_code} to a POST")
    assert not uncovered, (
        "These URLs take a POST but the walk has no writes for them. Register the writes that name the "
        "outsider's enterprise or objects in tests/tenancy_<area>.py (write_attempts), or say why the URL "
        "writes nothing of any tenant (no_tenant_writes); read-only views answer 405 (require_safe):\n  "
        + "\n  ".join(uncovered)
    )


@pytest.mark.parametrize("role", ROLE_KEYS)
def test_pages_without_ids_leak_nothing(world, role):
    build_outsider_objects(world)
    with Walker(world, role) as walker:
        outsider = Outsider(world, walker)
        walker.needles = forbidden_needles(world, role)
        for route, kwargs in route_map().plain:
            url = url_for(route, kwargs)
            response, _body = walker.fetch("GET", url)
            if route.is_admin and route.name and route.name.endswith("_changelist"):
                check_admin_changelist(walker, route, response)
            if route.is_admin and route.name and route.name.endswith("_add") and role != "platform_admin":
                check_admin_add_refused(walker, route, url)
            if route.is_api and route.name not in NO_TENANT_WRITES:
                for method in ("PUT", "PATCH", "DELETE"):
                    walker.fetch(method, url, Body({"enterprise": world.outsider.pk}, json=True))
            if not route.is_admin:
                for param in TENANT_QUERY_PARAMS:
                    check_tenant_query(walker, route, url, param)
        outsider.check("the routes without ids")
    walker.report()


def check_tenant_query(walker: Walker, route: Route, url: str, param: str) -> None:
    """`?enterprise=<the outsider>` answers exactly as `?enterprise=<an id no row has>`."""
    response, text = walker.fetch("GET", with_query(url, {param: walker.world.outsider.pk}))
    if standing(walker.role) != HIDDEN:
        return
    twin, twin_text = walker.fetch("GET", with_query(url, {param: MISSING_ID}))
    where = f"GET {url}?{param}=<outsider> ({route.name}) as {walker.role}"
    if twin.status_code != response.status_code:
        walker.fail(f"{where}: {response.status_code}, but a missing id answers {twin.status_code}")
    elif is_json(response) and text != twin_text:
        walker.fail(f"{where}: the JSON body differs from a missing id's ({text!r} vs {twin_text!r})")


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


def check_admin_add_refused(walker: Walker, route: Route, url: str) -> None:
    """Only platform admins add rows in the admin; the add form naming the outsider changes nothing."""
    response, _text = walker.fetch("POST", url, Body({"enterprise": walker.world.outsider.pk, "_save": "1"}))
    if walker.role in ROLES_THAT_USE_ADMIN:
        if response.status_code != 403:
            walker.fail(f"POST {url} ({route.name}) as {walker.role}: {response.status_code}, expected 403")
    elif not is_login_redirect(response):
        walker.fail(f"POST {url} ({route.name}) as {walker.role}: {response.status_code}, expected a "
                    f"redirect to the admin login")


@pytest.mark.parametrize("role", ROLE_KEYS)
def test_objects_of_the_outsider_are_out_of_reach(world, role):
    objects, admin_objects = build_outsider_objects(world)
    replayer = Replayer(world)
    with Walker(world, role) as walker:
        # After logging in, which itself writes (last_login, the login audit row).
        outsider = Outsider(world, walker)
        walker.needles = forbidden_needles(world, role)
        for route, kwargs in objects:
            walk_object_route(walker, outsider, replayer, route, kwargs)
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
            walk_object_route(walker, outsider, replayer, route, kwargs)
        outsider.check("the walk of the outsider's objects")
    walker.report()


@pytest.mark.parametrize("role", [role for role in ROLE_KEYS if standing(role) != OWNER])
def test_writes_naming_the_outsider_change_nothing(world, role):
    build_outsider_objects(world)
    replayer = Replayer(world)
    with Walker(world, role) as walker:
        walk_write_attempts(walker, Outsider(world, walker), replayer, api_only=False)
    walker.report()


@pytest.mark.parametrize("role", [role for role in ROLE_KEYS if role != "anonymous"])
def test_api_with_token_auth(world, role):
    objects, _admin_objects = build_outsider_objects(world)
    replayer = Replayer(world)
    with Walker(world, role, token=True) as walker:
        outsider = Outsider(world, walker)
        walker.needles = forbidden_needles(world, role)
        for route, kwargs in route_map().plain:
            if route.is_api:
                walker.fetch("GET", url_for(route, kwargs))
                check_tenant_query(walker, route, url_for(route, kwargs), "enterprise")
        for route, kwargs in objects:
            if route.is_api:
                walk_object_route(walker, outsider, replayer, route, kwargs)
        outsider.check("the walk of the outsider's API objects")
        if standing(role) != OWNER:
            walk_write_attempts(walker, outsider, replayer, api_only=True)
    walker.report()


@pytest.mark.parametrize("role", sorted(API_CLIENT_REACHES))
def test_api_client_reach_matches_expectations(world, role):
    client, _key = api_client_with_key(**API_CLIENT_REACHES[role](world))
    reach = reach_for(ApiClientActor(client))
    assert {key for key in ENTERPRISE_KEYS if reach.can_see(getattr(world, key).pk)} == EXPECTED_VISIBLE[role]
    assert not any(reach.can_change(getattr(world, key).pk) for key in ENTERPRISE_KEYS)


@pytest.mark.parametrize("role", sorted(API_CLIENT_REACHES))
def test_api_with_api_client_keys(world, role):
    """Every API endpoint with an API client's key: the outsider is out of reach exactly like a
    missing id (GET and every write), `?enterprise=<outsider>` answers as an unknown id, nothing
    of the outsider shows, and no write (the create routes' attempts included) changes it."""
    objects, _admin_objects = build_outsider_objects(world)
    replayer = Replayer(world)
    with Walker(world, role) as walker:
        assert standing(role) == HIDDEN
        outsider = Outsider(world, walker)
        walker.needles = forbidden_needles(world, role)
        walked = 0
        for route, kwargs in route_map().plain:
            if not route.is_api:
                continue
            url = url_for(route, kwargs)
            walker.fetch("GET", url)
            check_tenant_query(walker, route, url, "enterprise")
            if route.name not in NO_TENANT_WRITES:
                for method in ("PUT", "PATCH", "DELETE"):
                    walker.fetch(method, url, Body({"enterprise": world.outsider.pk}, json=True))
            walked += 1
        for route, kwargs in objects:
            if route.is_api:
                walk_object_route(walker, outsider, replayer, route, kwargs)
                walked += 1
        outsider.check("the walk of the outsider's API objects with an API key")
        walk_write_attempts(walker, outsider, replayer, api_only=True)
        if walked < 10:
            walker.fail(f"only {walked} API routes walked: the URL map reading broke?")
    walker.report()


def test_the_walk_covers_pages_admin_and_api():
    """Guard the walk itself: if the URL map reading broke, every other test would pass vacuously."""
    routes = route_map()
    plain_names = {route.name for route, _kwargs in routes.plain}
    expected = {"portal:home", "admin:index", "api:enterprise-list", "admin:portal_enterprise_changelist",
                "metering:meter_list", "meter-list"}
    assert expected <= plain_names
    assert {"api:enterprise-detail", "meter-detail", "metering:meter_edit"} <= {
        route.name for route in routes.objects}
    assert "admin:portal_enterprise_change" in {route.name for route, _model in routes.admin_objects}
    assert {"metering:meter_create", "meter-list", "modbus-device-list"} <= set(WRITE_ATTEMPTS)
    assert {HIDDEN, READER, OWNER} == {standing(role) for role in ROLE_KEYS}
