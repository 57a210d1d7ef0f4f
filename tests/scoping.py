"""Tests run scoped, as production does: no tenant scope is active unless a test switches one on.

Every query on a tenant model raises django-scopes' `ScopeError` outside a scope, in tests as in
production. So a test that forgets an edge's scope fails, and code under test that queries a
tenant model with no scope (a task or command that never entered one) fails too.

- Code under test that production runs below an edge runs inside the scope that edge sets:
  `portal.access.reach_scope(user)` (pages, API, admin) or `portal.access.enterprise_scope(id)`
  (tasks, collectors, ingest). Requests through the test client get theirs from the middleware.
- Building rows is test setup: the factories and the fixtures that create rows opt out around
  their own writes.
- A test that inspects rows across tenants (what was stored, what stayed unchanged) opts out
  around exactly those lines with `unscoped()`, so it is plain which lines read past the
  tenant filter and why.

Never opt out for a whole module, a session, or through an autouse fixture.
"""

from __future__ import annotations

from django_scopes import scopes_disabled

# The one explicit opt-out for test bodies and fixtures; a separate name from production's
# `scopes_disabled` so a grep shows every place a test reads past the tenant scope.
unscoped = scopes_disabled

__all__ = ["unscoped"]
