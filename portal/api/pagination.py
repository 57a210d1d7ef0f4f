"""Pagination for API lists: limit/offset, bounded so one request cannot pull a whole table."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

# PAGE_SIZE in settings (REST_FRAMEWORK) is the default page; this is the most a client may ask for.
MAX_PAGE_ROWS = 1000


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_PAGE_ROWS
