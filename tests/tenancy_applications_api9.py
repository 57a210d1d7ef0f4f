"""Walk entries of the applications API (applications/api/): the outsider's filed submission (of a
small Shanghai program) behind the submission id-URLs; the program code-URLs name public
reference data and are walked like the URLs without ids (REFERENCE_KWARGS)."""

from __future__ import annotations

from typing import Any

from tests.factories import program_loaded, small_definition, submission_filed
from tests.tenancy_objects import out_of_reach, reference_kwargs

WALK_PROGRAM_CODE = "walk_shanghai_api9"
_BUILT_ATTR = "_api9_outsider_submission"


def outsider_submission(world: Any) -> Any:
    """The outsider's filed submission of a Shanghai program (one per world), with its filing and
    frozen evidence; its title is long and unique, so the walk searches every body for it."""
    built = getattr(world, _BUILT_ATTR, None)
    if built is None:
        program = program_loaded(small_definition(WALK_PROGRAM_CODE, "310000"))
        built = submission_filed(world.outsider, program, {"project_name": "上海丙数据中心巡检项目"},
                                 world.user("outsider_admin"), title="巡检用上海丙数据中心申报材料标题")
        setattr(world, _BUILT_ATTR, built)
    return built


@out_of_reach("submission-detail")
def _submission_detail(world: Any) -> dict[str, Any]:
    return {"pk": outsider_submission(world).pk}


@out_of_reach("submission-pdf")
def _submission_pdf(world: Any) -> dict[str, Any]:
    return {"pk": outsider_submission(world).pk}


# Programs are public: every role reads them; the summary table holds only the rows in the caller's
# reach (tests/applications/test_api.py reads the workbook's cells, which the walk cannot search).
for _name in ("program-detail", "program-summary-table"):
    reference_kwargs(_name, lambda: [{"code": WALK_PROGRAM_CODE}])
