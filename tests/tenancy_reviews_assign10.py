"""Walk entries for the experts' conflicts page (reviews/urls.py).

A declaration belongs to the expert who made it, not to a tenant; the one the walk addresses is
another expert's, naming the outsider (so the outsider's footprint holds it: deleting it through
the page would show). No role but that expert reaches it: every other expert gets 404 like a
missing id, and non-experts never use the page."""

from __future__ import annotations

from typing import Any

from portal.models import Role
from reviews.assignments import conflict_declare
from reviews.models import ConflictDeclaration
from tests.factories import ReviewOrganizationFactory, UserFactory
from tests.tenancy_objects import no_tenant_writes, out_of_reach


@out_of_reach("reviews:conflict_delete")
def _another_experts_declaration(world: Any) -> dict[str, Any]:
    other = UserFactory(role=Role.EXPERT, review_organization=ReviewOrganizationFactory(), is_staff=True)
    declaration = conflict_declare(expert=other, kind=ConflictDeclaration.Kind.CONSULTING,
                                   enterprise=world.outsider, description="巡检用的利益冲突声明")
    return {"declaration_id": declaration.pk}


no_tenant_writes("reviews:conflicts", "an expert declares their own conflicts of interest: the declaration "
                 "belongs to the expert, not to a tenant, and changes nothing of the enterprise it names "
                 "(only whom its submissions are offered to); non-experts get 404")
