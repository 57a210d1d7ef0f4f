"""The outbox's writes: enqueue finished buckets, deliver due messages, resend on request.

Enqueue (`outbox_enqueue_due`, a beat task): for every enabled endpoint, every approved enterprise
it serves and every interval it takes, the finished buckets after the cursor's last one that hold
rollups become messages, one per endpoint; then the rollups recomputed since the last look (late
or back-dated data) are checked against the stored messages' fingerprints, and a bucket whose
payload changed is re-queued with `revision` + 1 (a bucket with no message yet gets one).

Deliver (`outbox_deliver_due`, a beat task and queued after each enqueue): due messages are
claimed with SELECT … FOR UPDATE SKIP LOCKED and a lease, so two workers never send the same
message at once; each is POSTed with its endpoint's adapter outside any transaction, and its
result recorded only if the claim is still the sender's (a correction meanwhile wins). Nothing
is ever deleted: a message is acknowledged, retried with capped exponential back-off, or marked
failed (a 4xx refusal) until an operator resends it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone
from django_scopes import scope

from metering.monitoring.models import Rollup
from metering.monitoring.rollups import ROLLUP_TZ, bucket_end
from metering.outbox.adapters import Verdict, get_adapter
from metering.outbox.models import (
    OutboxCursor,
    OutboxInterval,
    OutboxMessage,
    PlatformEndpoint,
    endpoint_url_problem,
)
from metering.outbox.payloads import bucket_payload, data_item_codes, payload_hash, source_fingerprints
from portal import audit
from portal.models import Enterprise

logger = logging.getLogger(__name__)

# New buckets enqueued per (endpoint, enterprise, interval) and run: a day and a half of quarters,
# so a run stays short while a newly enabled endpoint catches up over a few runs.
OUTBOX_ENQUEUE_BATCH = 144
# Messages claimed per delivery run; each costs one POST (at most its endpoint's timeout).
OUTBOX_DELIVER_BATCH = 100
# A claim outlives the POST's timeout by this much; after it, a dead worker's message is due again.
OUTBOX_CLAIM_MARGIN_S = 60
# Rollup rows are stamped when computed and committed a moment later: each look for corrections
# reaches back this far before the last one, so a row committed late is still seen.
OUTBOX_CORRECTION_OVERLAP_S = 300
# How far back a recompute still re-sends a bucket (older corrections are left to an operator).
OUTBOX_CORRECTION_LOOKBACK = {
    OutboxInterval.QUARTER: dt.timedelta(days=7),
    OutboxInterval.DAY: dt.timedelta(days=62),
    OutboxInterval.MONTH: dt.timedelta(days=400),
}

ACTIVE_STATUSES = (OutboxMessage.Status.PENDING, OutboxMessage.Status.RETRYING)
BACKLOG_STATUSES = (OutboxMessage.Status.PENDING, OutboxMessage.Status.SENT, OutboxMessage.Status.RETRYING)
RESENDABLE_STATUSES = (OutboxMessage.Status.FAILED, OutboxMessage.Status.RETRYING)


def retry_delay(attempts: int) -> dt.timedelta:
    """Wait before the next try after `attempts` failed ones: base × 2^(attempts−1), capped."""
    base = float(settings.OUTBOX_RETRY_BASE_S)
    cap = float(settings.OUTBOX_RETRY_CAP_S)
    exponent = max(attempts - 1, 0)
    delay = cap if exponent >= 32 else min(base * 2**exponent, cap)
    return dt.timedelta(seconds=delay)


# --- who an endpoint serves -----------------------------------------------------------------------


def served_enterprises(endpoint: PlatformEndpoint) -> Any:
    """Approved enterprises in the endpoint's region subtree and of its kinds (under a scope that
    sees them: the enqueue task runs across tenants)."""
    queryset = Enterprise.objects.filter(Enterprise.sending_filter()).select_related("region")
    if endpoint.region_id is not None:
        assert endpoint.region is not None
        queryset = queryset.filter(region__path__startswith=endpoint.region.path)
    if endpoint.enterprise_kinds:
        queryset = queryset.filter(kind__in=list(endpoint.enterprise_kinds))
    return queryset.order_by("pk")


def endpoint_serves(endpoint: PlatformEndpoint, enterprise: Enterprise) -> bool:
    if enterprise.status != Enterprise.Status.APPROVED or not endpoint.serves_kind(enterprise.kind):
        return False
    return endpoint.region is None or enterprise.region.path.startswith(endpoint.region.path)


def subject_enterprise_ids(enterprise: Enterprise) -> list[int]:
    """The enterprises whose meters make up the figures: itself, and a park's members."""
    ids = [enterprise.pk]
    if enterprise.kind == Enterprise.Kind.PARK:
        with scope(enterprise=None):  # the members are what defines the park's scope
            members = Enterprise.objects.filter(park_id=enterprise.pk).order_by("pk")
            ids += list(members.values_list("pk", flat=True))
    return ids


@contextmanager
def subject_scope(enterprise: Enterprise) -> Iterator[list[int]]:
    """Work on the enterprise's behalf: its scope, with a park's members (its figures read them)."""
    ids = subject_enterprise_ids(enterprise)
    with audit.audit_context(channel="task"), scope(enterprise=ids):
        yield ids


# --- enqueue --------------------------------------------------------------------------------------


@dataclass
class EnqueueRun:
    created: int = 0
    revised: int = 0


@dataclass
class _Memo:
    """Per run: a bucket's payload and fingerprint are the same for every endpoint."""

    payloads: dict[tuple[int, str, dt.datetime], dict[str, Any]] = field(default_factory=dict)
    codes: dict[int, dict[str, list[str]]] = field(default_factory=dict)


def outbox_enqueue_due(*, now: dt.datetime | None = None) -> EnqueueRun:
    """One pass over every enabled endpoint and enterprise it serves (runs across tenants: the
    task is a SystemTask; each enterprise's work runs inside its own scope)."""
    now = now or timezone.now()
    run = EnqueueRun()
    memo = _Memo()
    endpoints = list(PlatformEndpoint.objects.filter(enabled=True).select_related("region").order_by("pk"))
    by_enterprise: dict[int, tuple[Enterprise, list[PlatformEndpoint]]] = {}
    for endpoint in endpoints:
        for enterprise in served_enterprises(endpoint):
            by_enterprise.setdefault(enterprise.pk, (enterprise, []))[1].append(endpoint)
    for enterprise, served_by in by_enterprise.values():
        try:
            with subject_scope(enterprise) as ids:
                for endpoint in served_by:
                    for interval in endpoint.intervals:
                        outbox_enqueue_buckets(endpoint=endpoint, enterprise=enterprise, interval=interval,
                                               enterprise_ids=ids, now=now, run=run, memo=memo)
        except Exception:  # one enterprise's failure must not hold the others' uploads
            logger.exception("outbox enqueue for enterprise %s failed; the next run retries", enterprise.pk)
    return run


def outbox_enqueue_buckets(*, endpoint: PlatformEndpoint, enterprise: Enterprise, interval: str,
                           enterprise_ids: Sequence[int], now: dt.datetime, run: EnqueueRun | None = None,
                           memo: Any = None) -> EnqueueRun:
    """Enqueue the enterprise's finished `interval` buckets for the endpoint, and re-queue those
    whose rollups were recomputed with different figures. Runs inside the enterprise's scope."""
    run = run if run is not None else EnqueueRun()
    memo = memo if memo is not None else _Memo()
    horizon = now - dt.timedelta(seconds=float(settings.OUTBOX_SETTLE_S))
    cursor, _created = OutboxCursor.objects.get_or_create(
        endpoint=endpoint, enterprise=enterprise, interval=interval)
    rollups = Rollup.objects.filter(meter__enterprise_id__in=list(enterprise_ids), interval=interval,
                                    ts__gte=endpoint.send_from)

    # Corrections first, over the buckets already passed, so the cursor moving on below cannot
    # hide a bucket recomputed in the same run.
    if cursor.last_bucket_start is not None and cursor.rollups_seen_until is not None:
        since = cursor.rollups_seen_until - dt.timedelta(seconds=OUTBOX_CORRECTION_OVERLAP_S)
        floor = now - OUTBOX_CORRECTION_LOOKBACK[OutboxInterval(interval)]
        changed = sorted(set(
            rollups.filter(computed_at__gt=since, ts__lte=cursor.last_bucket_start, ts__gte=floor)
            .values_list("ts", flat=True).distinct()))
        _upsert(endpoint, enterprise, interval, changed, enterprise_ids, now, run, memo)

    fresh_query = rollups.filter(ts__lt=horizon)
    if cursor.last_bucket_start is not None:
        fresh_query = fresh_query.filter(ts__gt=cursor.last_bucket_start)
    candidates = list(
        fresh_query.order_by("ts").values_list("ts", flat=True).distinct()[:OUTBOX_ENQUEUE_BATCH])
    finished = [start for start in candidates if bucket_end(start.astimezone(ROLLUP_TZ), interval) <= horizon]
    _upsert(endpoint, enterprise, interval, finished, enterprise_ids, now, run, memo)

    if finished:
        cursor.last_bucket_start = finished[-1]
    if cursor.last_bucket_start is not None:
        # The look for corrections starts once there is something to correct.
        cursor.rollups_seen_until = now
    cursor.save(update_fields=["last_bucket_start", "rollups_seen_until"])
    return run


def _upsert(endpoint: PlatformEndpoint, enterprise: Enterprise, interval: str, starts: list[dt.datetime],
            enterprise_ids: Sequence[int], now: dt.datetime, run: EnqueueRun, memo: _Memo) -> None:
    if not starts:
        return
    fingerprints = source_fingerprints(enterprise_ids, interval=interval, starts=starts)
    existing = {
        message.bucket_start: message
        for message in OutboxMessage.objects.filter(
            endpoint=endpoint, enterprise=enterprise, interval=interval, bucket_start__in=starts)
    }
    for start in starts:
        message = existing.get(start)
        fingerprint = fingerprints[start]
        if message is not None and message.source_fingerprint == fingerprint:
            continue
        payload = _payload(enterprise, interval, start, memo)
        digest = payload_hash(payload)
        with transaction.atomic():
            if message is None:
                _created, was_new = OutboxMessage.objects.get_or_create(
                    endpoint=endpoint, enterprise=enterprise, interval=interval, bucket_start=start,
                    defaults={"payload": payload, "payload_hash": digest, "source_fingerprint": fingerprint,
                              "next_attempt_at": now},
                )
                if was_new:
                    run.created += 1
                    continue
            locked = OutboxMessage.objects.select_for_update().get(
                endpoint=endpoint, enterprise=enterprise, interval=interval, bucket_start=start)
            if locked.payload_hash == digest:
                locked.source_fingerprint = fingerprint
                locked.save(update_fields=["source_fingerprint", "updated_at"])
                continue
            # A correction: the same message, a new revision, sent afresh. Clearing the claim
            # makes an in-flight send of the old revision record nothing when it returns.
            locked.payload, locked.payload_hash, locked.source_fingerprint = payload, digest, fingerprint
            locked.revision += 1
            locked.status = OutboxMessage.Status.PENDING
            locked.attempts = 0
            locked.next_attempt_at = now
            locked.last_error = ""
            locked.claim_token = None
            locked.claimed_until = None
            locked.save()
            run.revised += 1


def _payload(enterprise: Enterprise, interval: str, start: dt.datetime, memo: _Memo) -> dict[str, Any]:
    key = (enterprise.pk, interval, start)
    if key not in memo.payloads:
        if enterprise.pk not in memo.codes:
            memo.codes[enterprise.pk] = data_item_codes(enterprise)
        memo.payloads[key] = bucket_payload(enterprise, interval=interval, start=start,
                                            codes=memo.codes[enterprise.pk])
    return memo.payloads[key]


# --- deliver --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: int
    endpoint_id: int


@dataclass
class DeliveryRun:
    claimed: int = 0
    acknowledged: int = 0
    retrying: int = 0
    failed: int = 0
    deferred: int = 0


def outbox_messages_claim(*, token: uuid.UUID, limit: int = OUTBOX_DELIVER_BATCH,
                          now: dt.datetime | None = None) -> list[Claimed]:
    """Claim up to `limit` due messages of enabled endpoints, oldest due first.

    SKIP LOCKED: two workers claiming at once take different rows, and the status flips to `sent`
    with a lease in the same transaction, so a row is never claimed twice while its lease runs. A
    `sent` message whose lease ran out (its worker died) is due again.
    """
    now = now or timezone.now()
    due = (Q(status__in=ACTIVE_STATUSES, next_attempt_at__lte=now)
           | Q(status=OutboxMessage.Status.SENT, claimed_until__lt=now))
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(due, endpoint__enabled=True)
            .order_by("next_attempt_at", "id")
            .values_list("id", "endpoint_id", "endpoint__timeout_s")[:limit]
        )
        for timeout_s in sorted({row[2] for row in rows}):
            OutboxMessage.objects.filter(id__in=[row[0] for row in rows if row[2] == timeout_s]).update(
                status=OutboxMessage.Status.SENT, claim_token=token,
                claimed_until=now + dt.timedelta(seconds=timeout_s + OUTBOX_CLAIM_MARGIN_S),
            )
    return [Claimed(id=row[0], endpoint_id=row[1]) for row in rows]


def outbox_deliver_due(*, limit: int = OUTBOX_DELIVER_BATCH) -> DeliveryRun:
    """One bounded delivery pass across tenants (the task is a SystemTask; the claimed rows name
    their enterprises). An endpoint that times out or refuses connections is not tried again in
    the same pass: its other claimed messages wait with the failed one, uncounted."""
    token = uuid.uuid4()
    run = DeliveryRun()
    claimed = outbox_messages_claim(token=token, limit=limit)
    run.claimed = len(claimed)
    by_endpoint: dict[int, list[int]] = {}
    for item in claimed:
        by_endpoint.setdefault(item.endpoint_id, []).append(item.id)
    endpoints = PlatformEndpoint.objects.in_bulk(list(by_endpoint))
    for endpoint_id, message_ids in by_endpoint.items():
        endpoint = endpoints[endpoint_id]
        with httpx.Client(timeout=httpx.Timeout(float(endpoint.timeout_s)), follow_redirects=False) as client:
            for position, message_id in enumerate(message_ids):
                outcome = _deliver_one(client, endpoint, message_id, token, run)
                if outcome is not None:  # unreachable: the rest wait as long as this one
                    run.deferred += _release(message_ids[position + 1:], token, until=outcome)
                    break
    return run


def _deliver_one(client: httpx.Client, endpoint: PlatformEndpoint, message_id: int, token: uuid.UUID,
                 run: DeliveryRun) -> dt.datetime | None:
    """Send one claimed message and record the outcome. Returns the next attempt's time when the
    endpoint itself could not be reached (so the pass stops sending to it), else None."""
    message = OutboxMessage.objects.filter(pk=message_id, claim_token=token).first()
    if message is None:  # re-queued by a correction meanwhile: the new revision goes next
        return None
    problem = endpoint_url_problem(endpoint.url)
    secret = ""
    if problem is None and endpoint.auth_env_var:
        secret = os.environ.get(endpoint.auth_env_var, "")
        if not secret:
            problem = f"凭据环境变量 {endpoint.auth_env_var} 未设置"
    if problem is not None:
        return _record(message, token, run, Verdict(acknowledged=False, retry=True, reason=problem), None)
    adapter = get_adapter(endpoint.adapter)
    envelope = {**message.payload, "message_id": str(message.message_id), "revision": message.revision,
                "sent_at": timezone.now().astimezone(ROLLUP_TZ).isoformat()}
    headers, body = adapter.encode(envelope)
    if secret:
        header = endpoint.auth_header or "Authorization"
        headers[header] = f"Bearer {secret}" if header.lower() == "authorization" else secret
    try:
        response = client.post(endpoint.url, content=body, headers=headers)
    except httpx.TimeoutException:
        verdict = Verdict(acknowledged=False, retry=True, reason=f"超时（{endpoint.timeout_s} 秒内无应答）")
        return _record(message, token, run, verdict, None, unreachable=True)
    except httpx.HTTPError as exc:
        # The exception names the URL and the failure, never the request's headers.
        verdict = Verdict(acknowledged=False, retry=True, reason=f"连接失败：{type(exc).__name__}: {exc}")
        return _record(message, token, run, verdict, None, unreachable=True)
    verdict = adapter.verdict(status_code=response.status_code, content=response.content,
                              require_ack_body=endpoint.require_ack_body)
    return _record(message, token, run, verdict, response.status_code)


def _record(message: OutboxMessage, token: uuid.UUID, run: DeliveryRun, verdict: Verdict,
            status_code: int | None, *, unreachable: bool = False) -> dt.datetime | None:
    now = timezone.now()
    attempts = message.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_attempt_at": now, "last_status_code": status_code,
                              "claim_token": None, "claimed_until": None, "updated_at": now}
    next_at = None
    if verdict.acknowledged:
        values.update(status=OutboxMessage.Status.ACKNOWLEDGED, acknowledged_at=now,
                      acknowledged_revision=message.revision, last_error="")
    elif verdict.retry:
        next_at = now + retry_delay(attempts)
        values.update(status=OutboxMessage.Status.RETRYING, next_attempt_at=next_at,
                      last_error=verdict.reason)
    else:
        values.update(status=OutboxMessage.Status.FAILED, last_error=verdict.reason)
    # Only while the claim is still ours: a correction that re-queued the message meanwhile wins.
    updated = OutboxMessage.objects.filter(pk=message.pk, claim_token=token).update(**values)
    if not updated:
        return None
    if verdict.acknowledged:
        run.acknowledged += 1
    elif verdict.retry:
        run.retrying += 1
        logger.warning("outbox message %s to endpoint %s not acknowledged (%s); retry at %s",
                       message.pk, message.endpoint_id, verdict.reason, next_at)
    else:
        run.failed += 1
        logger.warning("outbox message %s refused by endpoint %s: %s", message.pk, message.endpoint_id,
                       verdict.reason)
    return next_at if unreachable else None


def _release(message_ids: list[int], token: uuid.UUID, *, until: dt.datetime) -> int:
    """Give claimed, unsent messages back, due with the endpoint's failed one; no attempt counted."""
    if not message_ids:
        return 0
    return OutboxMessage.objects.filter(pk__in=message_ids, claim_token=token).update(
        status=Case(When(attempts=0, then=Value(OutboxMessage.Status.PENDING)),
                    default=Value(OutboxMessage.Status.RETRYING)),
        claim_token=None, claimed_until=None, next_attempt_at=until, updated_at=timezone.now(),
    )


# --- operator actions -----------------------------------------------------------------------------


def outbox_resend_failed(*, enterprise: Enterprise, endpoint: PlatformEndpoint | None = None,
                         actor: Any = None) -> int:
    """Send the enterprise's failed and waiting messages again now (an operator's answer to a
    platform that refused them, once fixed). Audited: who asked, for which endpoint, how many."""
    now = timezone.now()
    with transaction.atomic():
        queryset = OutboxMessage.objects.select_for_update(of=("self",)).filter(
            enterprise=enterprise, status__in=RESENDABLE_STATUSES)
        if endpoint is not None:
            queryset = queryset.filter(endpoint=endpoint)
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        if not ids:
            return 0
        OutboxMessage.objects.filter(pk__in=ids).update(
            status=OutboxMessage.Status.PENDING, next_attempt_at=now, updated_at=now)
        audit.record(
            "outbox_resend", actor=actor, enterprise_id=enterprise.pk, object_type="outbox.OutboxMessage",
            object_repr=f"{enterprise.name}：{len(ids)} 条上传报文重新发送",
            changes={"count": len(ids), "endpoint": endpoint.name if endpoint is not None else None,
                     "message_ids": ids[:500], "status": {"after": OutboxMessage.Status.PENDING}},
        )
    transaction.on_commit(queue_delivery)
    return len(ids)


def queue_delivery() -> None:
    """Queue a delivery pass now; never fails the caller (the beat entry is the net beneath it)."""
    from metering.outbox.tasks import deliver_outbox

    try:
        deliver_outbox.delay()
    except Exception:
        logger.warning("could not queue an outbox delivery; the beat entry will run it", exc_info=True)

