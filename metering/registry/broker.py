"""Broker administration: the Mosquitto password file and ACL the portal writes from the gateway
tokens (broker-side tenancy). Not a collector: the MQTT consumer only reads what the broker lets
through; this module decides who the broker lets in, from the registry's tokens.

Every active GatewayToken is its own broker account: username `<credit code>.<token id>`
(`GatewayToken.mqtt_username`), password the plain token (its `mosquitto_password_hash` goes into
the password file; the plain token is never stored). The ACL lets each account WRITE only under
``nengtan/<its enterprise's credit code>/#``, so two gateways of one enterprise publish under the
same prefix and revoking one token shuts out that gateway alone. The ingest consumer's account
may READ ``nengtan/#``. A revoked token, or any token of an enterprise that may not send readings
(`Enterprise.may_send_readings`: anything but approved), gets no line and therefore cannot connect
(allow_anonymous false): tenancy fails closed at the broker.

Files are written atomically (temporary file in the same directory, fsync, rename) with mode
0640, so a broker reloading on SIGHUP never reads half a file.

Keeping the broker current: with MQTT_CREDENTIALS_DIR set, every creation or revocation of a
gateway token (metering.registry.tokens sends `gateway_tokens_changed` after commit) and every
save of an enterprise's status (a post_save receiver, after commit) queues the Celery task
`refresh_broker_credentials`, which rewrites both files there; beat also runs it hourly, which
bounds how long any change the signals miss (a queryset `.update()`, a lost task) takes to reach
the broker. Mosquitto reads them again on SIGHUP: deploy/mosquitto/run-broker.sh, the compose
service's command, sends it when their content changes.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.db import transaction
from django_scopes import scopes_disabled

from metering.collectors.mqtt.contract import TOPIC_ROOT
from metering.registry.tokens import mosquitto_password_hash

logger = logging.getLogger(__name__)

PASSWORD_FILE_NAME = "passwd"  # noqa: S105 - a file name, not a password
ACL_FILE_NAME = "acl"
FILE_MODE = 0o640
# Mosquitto reads "user <name>" to the end of the line and splits password lines at the first
# colon; anything outside this set could forge lines or ACL entries.
_SAFE_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


@dataclass(frozen=True)
class BrokerAccount:
    username: str
    password_hash: str
    write_prefix: str | None = None  # topic filter this account may publish to
    read_filter: str | None = None  # topic filter this account may subscribe to / receive


def gateway_accounts() -> list[BrokerAccount]:
    """One account per active gateway token of every enterprise that may send readings."""
    from metering.models import GatewayToken

    # Writing the broker's credential files is a platform job that covers every tenant at once;
    # each account written only ever grants its own enterprise's prefix.
    with scopes_disabled():
        tokens = (GatewayToken.objects.filter(revoked_at__isnull=True)
                  .exclude(mosquitto_password_hash="")
                  .select_related("enterprise")
                  .order_by("enterprise__credit_code", "id"))
        return [
            BrokerAccount(username=token.mqtt_username, password_hash=token.mosquitto_password_hash,
                          write_prefix=f"{TOPIC_ROOT}/{token.enterprise.credit_code}/#")
            for token in tokens
            if token.enterprise.may_send_readings
        ]


def consumer_account(username: str, password: str) -> BrokerAccount:
    return BrokerAccount(username=username, password_hash=mosquitto_password_hash(password),
                         read_filter=f"{TOPIC_ROOT}/#")


def render_password_file(accounts: Iterable[BrokerAccount]) -> str:
    lines = []
    for account in accounts:
        _check_username(account.username)
        if "\n" in account.password_hash or ":" in account.password_hash:
            raise ValueError(f"password hash for {account.username} is not a Mosquitto hash")
        lines.append(f"{account.username}:{account.password_hash}")
    return "".join(f"{line}\n" for line in lines)


def render_acl(accounts: Iterable[BrokerAccount]) -> str:
    blocks = ["# Written by `manage.py mqtt_credentials`; do not edit by hand.\n"]
    for account in accounts:
        _check_username(account.username)
        rules = []
        if account.read_filter:
            rules.append(f"topic read {account.read_filter}")
        if account.write_prefix:
            rules.append(f"topic write {account.write_prefix}")
        blocks.append(f"user {account.username}\n" + "".join(f"{rule}\n" for rule in rules))
    return "\n".join(blocks)


def write_atomically(path: Path, content: str, mode: int = FILE_MODE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


@dataclass(frozen=True)
class WrittenCredentials:
    password_file: Path
    acl_file: Path
    gateway_accounts: int


def broker_credentials_write(*, out_dir: Path, consumer_username: str, consumer_password: str
                             ) -> WrittenCredentials:
    """Write the password file and ACL for every active gateway plus the ingest consumer."""
    gateways = gateway_accounts()
    consumer = consumer_account(consumer_username, consumer_password)
    if any(account.username == consumer.username for account in gateways):
        raise ValueError("the consumer's username must not be a gateway's account name")
    accounts = [consumer, *gateways]
    password_file = out_dir / PASSWORD_FILE_NAME
    acl_file = out_dir / ACL_FILE_NAME
    write_atomically(password_file, render_password_file(accounts))
    write_atomically(acl_file, render_acl(accounts))
    return WrittenCredentials(password_file=password_file, acl_file=acl_file, gateway_accounts=len(gateways))


def ingest_consumer_credentials() -> tuple[str, str]:
    """The ingest consumer's broker account: MQTT_INGEST_USERNAME / MQTT_INGEST_PASSWORD, or else the
    user and password in MQTT_URL (the account `mqtt_ingest` logs in with). Read from the
    environment each time, never logged."""
    username = os.environ.get("MQTT_INGEST_USERNAME", "")
    password = os.environ.get("MQTT_INGEST_PASSWORD", "")
    if not (username and password) and settings.MQTT_URL:
        parsed = urlparse(settings.MQTT_URL)
        username = username or unquote(parsed.username or "")
        password = password or unquote(parsed.password or "")
    return username, password


MISSING_CONSUMER_ACCOUNT = (
    "The ingest consumer's broker account is missing: set MQTT_INGEST_USERNAME and "
    "MQTT_INGEST_PASSWORD (or user:password in MQTT_URL)."
)


def broker_credentials_refresh() -> WrittenCredentials | None:
    """Rewrite the files in MQTT_CREDENTIALS_DIR from the current tokens; None when it is not set."""
    out_dir = settings.MQTT_CREDENTIALS_DIR
    if out_dir is None:
        return None
    username, password = ingest_consumer_credentials()
    if not (username and password):
        raise ValueError(MISSING_CONSUMER_ACCOUNT)
    written = broker_credentials_write(out_dir=Path(out_dir), consumer_username=username,
                                       consumer_password=password)
    logger.info("broker credentials rewritten: %d gateway accounts", written.gateway_accounts)
    return written


def queue_broker_credentials_refresh(sender: Any = None, **kwargs: Any) -> None:
    """Receiver of `gateway_tokens_changed` (sent after commit): refresh the files in a worker."""
    if settings.MQTT_CREDENTIALS_DIR is None:
        return
    from metering.tasks import refresh_broker_credentials

    try:
        refresh_broker_credentials.delay()
    except Exception as exc:  # the token change itself is committed; the hourly refresh catches up
        # The class only: a broker URL in the message could carry its password.
        logger.warning("could not queue the broker credentials refresh (%s); beat refreshes within an hour",
                       exc.__class__.__name__)


def queue_refresh_after_enterprise_change(sender: Any, instance: Any, created: bool = False,
                                          update_fields: Any = None, **kwargs: Any) -> None:
    """Receiver of Enterprise post_save / post_delete: its status decides whether its gateways have
    broker accounts (approve, reject, suspend, reactivate), so the files follow it after commit.

    A new enterprise has no tokens yet, and a save naming only other fields changes no account.
    """
    if settings.MQTT_CREDENTIALS_DIR is None or created:
        return
    if update_fields is not None and not {"status", "credit_code"} & set(update_fields):
        return
    transaction.on_commit(queue_broker_credentials_refresh)


def mosquitto_conf_snippet(out_dir: Path) -> str:
    return (
        "# mosquitto.conf (Mosquitto 2.x)\n"
        "per_listener_settings false\n"
        "allow_anonymous false\n"
        f"password_file {out_dir / PASSWORD_FILE_NAME}\n"
        f"acl_file {out_dir / ACL_FILE_NAME}\n"
        "# QoS 1 + persistent consumer sessions: keep messages across broker restarts and\n"
        "# while a consumer is down (the default 1000 queued messages would drop the rest).\n"
        "persistence true\n"
        "max_queued_messages 100000\n"
        "# reload after rewriting the files: kill -HUP <mosquitto pid>\n"
    )


def _check_username(username: str) -> None:
    if not _SAFE_USERNAME.match(username):
        raise ValueError(f"MQTT username {username!r} may only contain letters, digits and _.@-")
