"""Which monitoring models leave an audit row on every write.

Factor sets and their factors are what every tce and CO₂ figure is computed with: who added or
locked which edition is part of the record. Production figures and the base period are what
intensities and the saving rate divide by: who entered or changed them is part of the record too.
"""

from metering.monitoring import models
from portal import audit

AUDITED_MODELS = (models.FactorSet, models.Factor, models.ProductionRecord, models.BasePeriod)
for _model in AUDITED_MODELS:
    audit.register(_model)
