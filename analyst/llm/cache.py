"""Evidence signatures and a TTL cache of recent LLM diagnoses, so a repeated incident costs no call."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence


def evidence_signature(evidence: Evidence) -> str:
    """Stable hash of alertname plus each anomalous series' id, direction and magnitude bucket.

    Magnitudes are bucketed by powers of two, so 2.1x and 2.9x match but 2x and 5x do not.
    """
    parts = sorted(
        (s.series_id, s.direction or "", _magnitude_bucket(s.magnitude)) for s in evidence.anomalous
    )
    key: list[object] = [evidence.alert.alertname, parts]
    if evidence.precedents:  # feedback given since must not be answered from the cache
        key.append(sorted((p.incident_id, p.verdict, p.actual_cause or "") for p in evidence.precedents))
    payload = json.dumps(key, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _magnitude_bucket(magnitude: float | None) -> str:
    if magnitude is None or not math.isfinite(magnitude):
        return "na"
    if abs(magnitude) < 1e-9:
        return "0"
    return str(round(math.log2(abs(magnitude))))


@dataclass(frozen=True)
class _Entry:
    result: DiagnosisResult
    stored_at: float


class DiagnosisCache:
    """Least-recently-stored eviction beyond `max_entries`; entries expire after `ttl_seconds`."""

    def __init__(
        self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def exclusive(self, signature: str, max_wait: float | None = None) -> AsyncIterator[None]:
        """Serialise work on one signature, so concurrent twins wait for the first one's result.

        Raises TimeoutError when the lock is not had within `max_wait` seconds (None: no limit).
        """
        lock, users = self._locks.get(signature, (asyncio.Lock(), 0))
        self._locks[signature] = (lock, users + 1)
        try:
            async with asyncio.timeout(max_wait):
                await lock.acquire()
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[signature]
            if users == 1:
                del self._locks[signature]
            else:
                self._locks[signature] = (lock, users - 1)

    def get(self, signature: str) -> DiagnosisResult | None:
        entry = self._entries.get(signature)
        if entry is None:
            return None
        if self._clock() - entry.stored_at > self._ttl:
            del self._entries[signature]
            return None
        return entry.result

    def put(self, signature: str, result: DiagnosisResult) -> None:
        if self._ttl <= 0:
            return
        self._entries.pop(signature, None)
        self._entries[signature] = _Entry(result, self._clock())
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
