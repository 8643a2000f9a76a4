"""The delivery outbox: durable rows, per-queue sequential workers, retries with backoff and jitter.

Every request to a destination is first a `delivery_outbox` row. One worker per queue (a Slack
channel, Grafana, PagerDuty, the outgoing webhook) sends that queue's rows in id order, so a Slack
reply never overtakes its thread's parent and a failing destination only holds up its own queue.
A row is marked `in_flight` (committed) before its request and `sent` with the result right after,
so a restart knows exactly which requests may have happened and asks the sink to reconcile them; an
attempt that may have reached the destination without an answer (a timeout) is reconciled the same way.
A worker runs in a context of its own (not that of the pipeline stage that woke it): each attempt's log
lines carry the row's incident_id and kind.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import random
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from receiver.delivery.errors import (
    CredentialsRejectedError,
    OutcomeUnknownError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from receiver.delivery.protocol import Delivery, Sink
from receiver.storage.database import Store
from receiver.storage.outbox import (
    FAILED,
    SENT,
    SUPPRESSED,
    Claim,
    claim_next,
    fail_disabled_destinations,
    flag_interrupted_for_reconcile,
    mark_failed,
    mark_retry,
    mark_sent,
    queues_with_work,
    unfinished_counts,
)

log = structlog.get_logger(__name__)

PENDING_REFRESH_SECONDS = 1.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff `base * 2**(attempt-1)` capped at `max_seconds`, ±`jitter` (a fraction); a
    destination's `Retry-After` is honoured up to `max_retry_after_seconds`. The defaults keep trying
    for about an hour (2 + 4 + ... + 256 s, then every 5 min): a Slack or PagerDuty outage, or a rate
    limit, of minutes must not lose the page (8 attempts gave up after about 4 minutes)."""

    base_seconds: float = 2.0
    max_seconds: float = 300.0
    max_attempts: int = 20
    max_retry_after_seconds: float = 300.0
    jitter: float = 0.3
    idle_poll_seconds: float = 5.0

    def delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:  # capped: a proxy's `Retry-After: 86400` would stall the queue a day
            return min(self.max_retry_after_seconds, max(0.0, retry_after))
        raw = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return raw * random.uniform(1 - self.jitter, 1 + self.jitter)


# The outcomes `alert_analyst_deliveries_total` counts, each exported at 0 for every configured destination.
RETRIED = "retried"
OUTCOMES = (SENT, RETRIED, FAILED, SUPPRESSED)


class DeliveryMetrics:
    """`alert_analyst_deliveries_total{destination,outcome}`, `alert_analyst_deliveries_pending` and
    `alert_analyst_unknown_severity_alerts_total`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "alert_analyst_deliveries",
            "Delivery attempts by destination and outcome (sent, retried, failed, suppressed).",
            ["destination", "outcome"],
            registry=registry,
        )
        self.pending = Gauge(
            "alert_analyst_deliveries_pending",
            "Outbox rows not yet sent or given up (pending or in flight), by destination.",
            ["destination"],
            registry=registry,
        )
        self.unknown_severities = Counter(
            "alert_analyst_unknown_severity_alerts",
            "Incidents whose severity label is none of the known values: they count as warning (no page at"
            " the default pagerduty.min_severity).",
            registry=registry,
        )


class Outbox:
    """Runs one sequential worker per queue until `stop`; `wake(queue)` after inserting rows."""

    def __init__(
        self,
        store: Store,
        sinks: Mapping[str, Sink],
        policy: RetryPolicy,
        metrics: DeliveryMetrics,
    ) -> None:
        self._store = store
        self._sinks = dict(sinks)
        self._policy = policy
        self._metrics = metrics
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._stopping = False
        self._recounted_at = -math.inf
        self._recount: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Reconcile rows a crash left in flight, then start a worker for every queue with work."""
        self._stopping = False
        now = time.time()
        failed = await self._store.run(fail_disabled_destinations, list(self._sinks), now)
        if failed:
            log.warning("delivery.disabled_destination_rows_failed", count=failed)
        interrupted = await self._store.run(flag_interrupted_for_reconcile, now)
        if interrupted:
            log.warning("delivery.interrupted_rows_to_reconcile", count=interrupted)
        for destination in self._sinks:
            self._metrics.pending.labels(destination).set(0)
            for outcome in OUTCOMES:  # at 0 from the start: increase() of a series born at 1 is 0
                self._metrics.deliveries.labels(destination, outcome)
        for queue in await self._store.run(queues_with_work):
            self.wake(queue)
        await self._refresh_pending()

    async def _reconcile(self, delivery: Delivery, sink: Sink) -> bool:
        """For a row a crash left in flight, or whose last attempt may have reached the destination: True
        if it is settled (found sent, or failed), else send it."""
        try:
            result = await sink.recover(delivery)
        except OutcomeUnknownError as exc:
            await self._give_up(delivery, f"maybe sent already, not resent to avoid a duplicate: {exc}")
            return True
        if result is None:
            log.info("delivery.resend_after_check", delivery_id=delivery.id, destination=delivery.destination)
            return False
        log.info("delivery.found_sent", delivery_id=delivery.id, result=result)
        await self._store.run(mark_sent, delivery, result, time.time(), sink.record_result)
        self._metrics.deliveries.labels(delivery.destination, SENT).inc()
        return True

    def wake(self, queue: str) -> None:
        if self._stopping:
            return
        event = self._wakeups.setdefault(queue, asyncio.Event())
        event.set()
        task = self._workers.get(queue)
        if task is None or task.done():  # a fresh context: the caller's bound incident_id is not the rows'
            self._workers[queue] = asyncio.create_task(
                self._run_queue(queue), name=f"outbox:{queue}", context=contextvars.Context()
            )

    async def _run_queue(self, queue: str) -> None:
        event = self._wakeups[queue]
        while not self._stopping:
            event.clear()
            try:
                claim = await self._store.run(claim_next, queue, time.time())
                if claim.delivery is not None:
                    row = claim.delivery
                    with structlog.contextvars.bound_contextvars(incident_id=row.incident_id, kind=row.kind):
                        await self._attempt(row)
                    continue
            except Exception:
                log.exception("delivery.worker_error", queue=queue)
                claim = Claim(None, 1.0)
            if claim.wait_seconds == 0.0:
                continue
            timeout = self._policy.idle_poll_seconds if claim.wait_seconds is None else claim.wait_seconds
            with suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(timeout, self._policy.idle_poll_seconds))

    async def _attempt(self, delivery: Delivery) -> None:
        sink = self._sinks[delivery.destination]
        destination = delivery.destination
        checking = delivery.reconcile  # until `recover` answers, whether it was sent is still unknown
        try:
            if checking and await self._reconcile(delivery, sink):
                await self._refresh_pending()
                return
            checking = False
            result = await sink.send(delivery)
        except PermanentDeliveryError as exc:
            await self._give_up(delivery, str(exc), isinstance(exc, CredentialsRejectedError))
        except RetryableDeliveryError as exc:
            await self._retry_later(delivery, str(exc), exc.retry_after, checking or exc.maybe_sent)
        except Exception as exc:
            log.exception("delivery.unexpected_error", delivery_id=delivery.id, destination=destination)
            await self._retry_later(delivery, f"{type(exc).__name__}: {exc}", None, checking)
        else:
            await self._store.run(mark_sent, delivery, result, time.time(), sink.record_result)
            self._metrics.deliveries.labels(destination, SENT).inc()
            log.info("delivery.sent", delivery_id=delivery.id, destination=destination, kind=delivery.kind)
        await self._refresh_pending()

    async def _give_up(self, delivery: Delivery, error: str, credentials_rejected: bool = False) -> None:
        log.error(
            "delivery.failed",
            delivery_id=delivery.id,
            destination=delivery.destination,
            kind=delivery.kind,
            error=error,
        )
        self._metrics.deliveries.labels(delivery.destination, FAILED).inc()
        await self._store.run(mark_failed, delivery.id, error, time.time(), credentials_rejected)

    async def _retry_later(
        self, delivery: Delivery, error: str, retry_after: float | None, maybe_sent: bool = False
    ) -> None:
        """Pending again after the policy's delay; `maybe_sent`: the next attempt asks the sink's `recover`
        first (a timeout may come after the destination stored the request: sending again blindly
        posted a second Slack reply or Grafana region)."""
        if delivery.attempts >= self._policy.max_attempts:
            await self._give_up(delivery, f"gave up after {delivery.attempts} attempts: {error}")
            return
        delay = self._policy.delay(delivery.attempts, retry_after)
        log.warning(
            "delivery.retry",
            delivery_id=delivery.id,
            destination=delivery.destination,
            kind=delivery.kind,
            error=error,
            retry_in_seconds=round(delay, 3),
        )
        self._metrics.deliveries.labels(delivery.destination, RETRIED).inc()
        now = time.time()
        await self._store.run(mark_retry, delivery.id, error, now + delay, now, maybe_sent)

    async def _refresh_pending(self) -> None:
        """Recount the pending gauge, at most once per `PENDING_REFRESH_SECONDS`: the count reads every
        unfinished row, and after each attempt it held up the writer (17 % of its time under bench.soak).
        A recount asked for meanwhile runs once the interval is over."""
        if self._recount is not None and not self._recount.done():
            return
        wait = self._recounted_at + PENDING_REFRESH_SECONDS - time.monotonic()
        if wait > 0:
            self._recount = asyncio.create_task(self._recount_after(wait), context=contextvars.Context())
            return
        await self._count_pending()

    async def _recount_after(self, wait: float) -> None:
        await asyncio.sleep(wait)
        await self._count_pending()

    async def _count_pending(self) -> None:
        self._recounted_at = time.monotonic()
        counts = await self._store.read(unfinished_counts)
        for destination in self._sinks:
            self._metrics.pending.labels(destination).set(counts.get(destination, 0))

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109
        """Let running sends finish (up to `timeout`), then cancel; unsent rows stay for the next start."""
        self._stopping = True
        if self._recount is not None:
            self._recount.cancel()
        for event in self._wakeups.values():
            event.set()
        tasks = [task for task in self._workers.values() if not task.done()]
        if tasks:
            _, still_running = await asyncio.wait(tasks, timeout=timeout)
            for task in still_running:
                task.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)
        self._workers.clear()
