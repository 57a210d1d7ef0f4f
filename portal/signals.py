"""Which core models leave an audit row on every write."""

from django.contrib.auth.models import Group

from applications.models import Program
from portal import audit
from portal.models import Authority, Enterprise, Region, ReviewOrganization, User

for _model in (Region, Enterprise, Authority, ReviewOrganization, User, Group, Program):
    audit.register(_model)
