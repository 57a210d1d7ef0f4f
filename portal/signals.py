"""Which core models leave an audit row on every write."""

from django.contrib.auth.models import Group

from applications.models import Program
from portal import audit
from portal.models import ApiClient, Authority, Enterprise, Region, ReviewOrganization, User

for _model in (Region, Enterprise, Authority, ReviewOrganization, User, Group, Program):
    audit.register(_model)
# When and from where a key was last used is telemetry, written at most once a minute by the
# authentication (portal/api/clients.py); creation, every change and revocation are audited.
audit.register(ApiClient, unaudited_fields=("last_used_at", "last_used_ip"))
