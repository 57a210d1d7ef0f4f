"""Reads behind the applications API: what a submission's `data` and `evidence` are.

- A submission that was filed (any state but draft) answers what was filed last: the cleaned
  values of its latest `SubmissionFiling` and the evidence frozen with that filing. Later meter
  data, a later definition version or a draft edit after a return never change it.
- A draft (only its own enterprise's users and platform admins see one: portal.access) answers
  its cleaned values as `applications.values.form_check` derives them now, and no evidence:
  nothing is frozen before filing.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet

from applications.models import Evidence, Submission, SubmissionFiling, SubmissionState
from applications.selectors import submission_context, submission_definition
from applications.values import form_check


def jsonable(values: Any) -> Any:
    """Values as JSON holds them: Decimals and dates as text, exactly as a filing stores them
    (applications.services keeps `SubmissionFiling.values` the same way)."""
    return json.loads(json.dumps(values, ensure_ascii=False, default=str))


def latest_filing(submission: Submission) -> SubmissionFiling | None:
    # Prefetched `filings` (the API's detail queryset) are used when present.
    filings = list(submission.filings.all())
    return max(filings, key=lambda filing: filing.number) if filings else None


def submission_form_values(submission: Submission) -> dict[str, Any]:
    """The form values the API answers as `data` (module docstring)."""
    if submission.state != SubmissionState.DRAFT:
        filing = latest_filing(submission)
        if filing is not None:
            return dict(filing.values)
    check = form_check(submission_definition(submission), submission.data,
                       context=submission_context(submission))
    return dict(jsonable(check.values))


def submission_frozen_evidence(submission: Submission) -> QuerySet[Evidence] | list[Evidence]:
    """The evidence frozen with the latest filing, in the order it was measured; none for a draft."""
    if submission.state == SubmissionState.DRAFT:
        return []
    filing = latest_filing(submission)
    if filing is None:
        return []
    return filing.evidence.order_by("id")
