"""Which applications models leave an audit row on every write."""

from applications import models
from portal import audit

audit.register(models.ProgramVersion)
# A draft autosaves as the applicant types: one audit row per keystroke pause would bury the
# trail. What was filed is kept whole in SubmissionFiling (audited), and filing itself is an
# audit event (applications.services.submission_submit).
audit.register(models.Submission, unaudited_fields=("data", "updated_at", "updated_by_id"))
audit.register(models.SubmissionFiling)
audit.register(models.Attachment)
audit.register(models.Evidence)
