"""Which reviews models leave an audit row on every write."""

from django.dispatch import Signal

from portal import audit
from reviews import models

for _model in (models.Activity, models.Assignment, models.ConflictDeclaration, models.ScoreSheet,
               models.ScoreItem):
    audit.register(_model)

# Sent after a transition committed, with `activity` (reviews.models.Activity) and `transition`
# (its applications.definitions.TransitionDef): notifications listen here.
transition_performed = Signal()

audit.register(models.ScoreItemPhoto)  # admin10: the experts' photo evidence
