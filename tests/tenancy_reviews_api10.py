"""Walk entries of the review API (applications/api): the outsider's filed submission of a small
Shanghai program with the core workflow behind `POST …/actions/` and `GET …/activity/`.

Roles that cannot see it get 404 like a missing id; the roles that see it but take no step of its
workflow (its district's reviewer: the core workflow's first review is the city's; the park's
admin reads no member's filings) have every write refused, and the outsider's footprint and
audit trail stay as they were. Its owner and the platform are only fetched (the walk's OWNER rule).
"""

from __future__ import annotations

from typing import Any

from tests.applications.core_definition import core_workflow
from tests.factories import program_loaded, small_definition, submission_filed
from tests.tenancy_objects import out_of_reach

WALK_PROGRAM_CODE = "walk_shanghai_api10"
_BUILT_ATTR = "_api10_outsider_submission"


def outsider_reviewed_submission(world: Any) -> Any:
    """The outsider's filed submission under a workflow (one per world), waiting for its first review."""
    built = getattr(world, _BUILT_ATTR, None)
    if built is None:
        program = program_loaded(small_definition(WALK_PROGRAM_CODE, "310000", workflow=core_workflow()))
        built = submission_filed(world.outsider, program, {"project_name": "上海丙数据中心评审巡检项目"},
                                 world.user("outsider_admin"), title="巡检用上海丙数据中心评审流程申报标题")
        setattr(world, _BUILT_ATTR, built)
    return built


@out_of_reach("submission-actions")
def _submission_actions(world: Any) -> dict[str, Any]:
    return {"pk": outsider_reviewed_submission(world).pk}


@out_of_reach("submission-activity")
def _submission_activity(world: Any) -> dict[str, Any]:
    return {"pk": outsider_reviewed_submission(world).pk}
