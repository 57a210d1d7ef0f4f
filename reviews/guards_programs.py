"""Guards of the shipped programs' own rules (the core ones are in reviews.services).

- `recommendations_per_track` (the 2025 contest, 六（一）、八（二）): a city recommends at least
  its track's `min_recommended_per_city` entries per track; the secretariat collects a city's
  entries of a track once the city has recommended that many. Tracks without a minimum pass.
- `track_without_city_recommendation` (the contest's supplier service cases, 六（一）): the entry's
  track is one the cities do not recommend (no city minimum), so the secretariat takes it
  straight from the applicant.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django_scopes import scopes_disabled

from applications.definitions import Track
from applications.models import Submission, SubmissionState
from applications.selectors import submission_definition
from reviews.models import Activity
from reviews.services import GuardContext, guard


def _track_of(submission: Submission) -> Track | None:
    return next((track for track in submission_definition(submission).tracks
                 if track.key == submission.track), None)


def _city_path(submission: Submission) -> str:
    """The region path of the city (省辖市) holding the enterprise: "/410000/410100/" for a
    district of Zhengzhou (paths run province / city / district)."""
    codes = [code for code in submission.enterprise.region.path.split("/") if code]
    return "/" + "/".join(codes[:2]) + "/"


@guard("recommendations_per_track")
def _recommendations_per_track(context: GuardContext) -> str | None:
    submission = context.submission
    track = _track_of(submission)
    if track is None or track.min_recommended_per_city == 0:
        return None
    city = _city_path(submission)
    # The city's entries in the program and track that it recommended (whatever became of them
    # since): counted across the city's enterprises, whichever of them the reader may see.
    with scopes_disabled():
        recommended = (Activity.objects.filter(
            submission__program_id=submission.program_id, submission__track=track.key,
            submission__enterprise__region__path__startswith=city,
            to_state=SubmissionState.FIRST_REVIEW_PASSED)
            .values("submission_id").distinct().count())
    if recommended < track.min_recommended_per_city:
        return _("%(track)s：本市已推荐 %(count)s 个参赛项目，每个赛道至少推荐 %(minimum)s 个后方可汇总") % {
            "track": track.label.zh, "count": recommended, "minimum": track.min_recommended_per_city}
    return None


@guard("track_without_city_recommendation")
def _track_without_city_recommendation(context: GuardContext) -> str | None:
    track = _track_of(context.submission)
    if track is not None and track.min_recommended_per_city > 0:
        return _("%(track)s赛道的参赛项目须由所在省辖市推荐") % {"track": track.label.zh}
    return None
