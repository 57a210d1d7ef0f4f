"""Which monitoring models leave an audit row on every write.

Factor sets and their factors are what every tce and CO₂ figure is computed with: who added or
locked which edition is part of the record. Production figures and the base period are what
intensities and the saving rate divide by: who entered or changed them is part of the record too.
"""

from django.dispatch import Signal

from metering.monitoring import models
from portal import audit

# Sent after a meter's buckets were recomputed and committed, with `meter` (a Meter) and
# `earliest` / `latest` (the readings' range that was dirty). Parts above monitoring (alarms)
# evaluate the new buckets from it; monitoring itself knows nothing of them.
rollups_recomputed = Signal()

AUDITED_MODELS = (models.FactorSet, models.Factor, models.ProductionRecord, models.BasePeriod)
for _model in AUDITED_MODELS:
    audit.register(_model)
