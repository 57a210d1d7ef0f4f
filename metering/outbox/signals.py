"""Which outbox models leave an audit row on every write.

A platform endpoint says where every enterprise's figures go: who pointed them at which URL is
part of the record. Outbox messages are not registered: they are derived from the stored rollups
(a rebuild reproduces their payload) and each delivery attempt updates one, so a row per attempt
would bury the trail; the message itself keeps its attempts, last error and acknowledgement, and
the one human action on it, "resend failed", leaves an explicit audit row (services.py).
"""

from metering.outbox import models
from portal import audit

AUDITED_MODELS = (models.PlatformEndpoint,)
for _model in AUDITED_MODELS:
    audit.register(_model)
