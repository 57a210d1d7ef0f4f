"""A production node starts without demo data: `createsuperuser` makes a working platform admin,
and `seed_demo` refuses to run in production."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from portal.access import reach_for
from portal.models import AuditEntry, Enterprise, Role, User

ROOT = Path(__file__).resolve().parents[2]
SUPERUSER = "root_admin"
SUPERUSER_PASSWORD = "first-admin-pass-2026"


def _manage_env(**extra: str) -> dict[str, str]:
    database = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        NENGTAN_ENV="test",
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        **extra,
    )
    return env


# The subprocess commits to the test database, so this test runs outside the test transaction.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_createsuperuser_noinput_makes_a_platform_admin_who_can_log_in(client):
    result = subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env=_manage_env(DJANGO_SUPERUSER_USERNAME=SUPERUSER, DJANGO_SUPERUSER_PASSWORD=SUPERUSER_PASSWORD,
                        DJANGO_SUPERUSER_EMAIL="root@nengtan.example.cn"),
    )
    assert result.returncode == 0, result.stderr
    assert "Superuser created successfully" in result.stdout

    user = User.objects.get(username=SUPERUSER)
    assert user.is_superuser and user.is_staff and user.is_active
    assert user.role == Role.PLATFORM_ADMIN
    assert user.organization is None
    user.full_clean()  # the role and its (absent) organization agree with the model's rules

    response = client.post("/accounts/login/", {"username": SUPERUSER, "password": SUPERUSER_PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert AuditEntry.objects.filter(action="login", actor=user).exists()
    assert client.get("/").status_code == 200
    assert client.get("/admin/").status_code == 200
    assert reach_for(user).everything


def test_create_superuser_keeps_an_explicit_role(world):
    user = User.objects.create_superuser("root_of_tenant_a", "r@example.cn", SUPERUSER_PASSWORD,
                                         role=Role.ENTERPRISE_ADMIN, enterprise=world.tenant_a)
    assert user.role == Role.ENTERPRISE_ADMIN and user.is_superuser


def test_seed_demo_refuses_to_run_in_production(db, settings):
    settings.NENGTAN_ENV = "production"
    users, enterprises = User.objects.count(), Enterprise.objects.count()
    with pytest.raises(CommandError) as refused:
        call_command("seed_demo", stdout=io.StringIO())
    message = str(refused.value)
    assert "NENGTAN_ENV=production" in message and "createsuperuser" in message
    assert (User.objects.count(), Enterprise.objects.count()) == (users, enterprises)
    assert not User.objects.filter(username__startswith="demo_").exists()


def test_seed_demo_still_runs_outside_production(db, settings):
    settings.NENGTAN_ENV = "development"
    call_command("seed_demo", stdout=io.StringIO())
    assert User.objects.filter(username="demo_admin", role=Role.PLATFORM_ADMIN).exists()
