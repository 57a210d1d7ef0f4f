"""Which monitoring models leave an audit row on every write.

Factor sets and their factors are what every tce and CO₂ figure is computed with: who added or
locked which edition is part of the record.
"""

from metering.monitoring import models
from portal import audit

AUDITED_MODELS = (models.FactorSet, models.Factor)
for _model in AUDITED_MODELS:
    audit.register(_model)
