import pytest
from django_scopes import scope
from django_scopes.exceptions import ScopeError

from portal.models import Enterprise


def test_query_without_scope_raises(world):
    with scope(), pytest.raises(ScopeError):
        list(Enterprise.objects.all())
