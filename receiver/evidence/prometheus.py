"""`PrometheusSource`: the Prometheus HTTP API through prometheus-api-client, off the event loop.

Serves Prometheus, VictoriaMetrics, Thanos and Mimir alike (path prefix in `prometheus.url`).
The client is synchronous (requests), so every call runs on a bounded thread pool, with at most
`max_concurrency` requests in flight and a hard deadline per call, so a hung backend never pins a worker.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import requests
import yaml
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from prometheus_client import CollectorRegistry, Counter
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.source import ERROR_KINDS, ErrorKind, MetricSourceError, RuleInfo, SeriesData

T = TypeVar("T")
_STATUS_MESSAGE = re.compile(r"HTTP Status Code (\d+) \((.*)\)\s*$", re.DOTALL)


class BearerTokenFileAuth(requests.auth.AuthBase):
    """Sends `Authorization: Bearer <file content>`, re-reading the file when it changes (rotated tokens)."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._mtime = -1.0
        self._token = ""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        mtime = self._path.stat().st_mtime
        if mtime != self._mtime:
            self._token, self._mtime = self._path.read_text().strip(), mtime
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def build_client(settings: PrometheusSettings) -> tuple[PrometheusConnect, requests.Session]:
    """A PrometheusConnect with our retry, timeout, headers, auth and TLS; its pool sized for concurrency."""
    session = requests.Session()
    session.verify = False if settings.tls.insecure_skip_verify else (settings.tls.ca_file or True)
    if not settings.compression:
        session.headers["Accept-Encoding"] = "identity"
    if settings.tls.cert_file:
        session.cert = (
            (settings.tls.cert_file, settings.tls.key_file)
            if settings.tls.key_file
            else (settings.tls.cert_file)
        )
    headers = dict(settings.headers)
    auth: Any = None
    if settings.bearer_token is not None:
        headers["Authorization"] = f"Bearer {settings.bearer_token.get_secret_value()}"
    elif settings.bearer_token_file:
        auth = BearerTokenFileAuth(settings.bearer_token_file)
    elif settings.basic_auth is not None:
        basic = settings.basic_auth
        password = (
            basic.password.get_secret_value()
            if basic.password is not None
            else Path(basic.password_file or "").read_text().strip()
        )
        auth = (basic.username, password)
    retry = Retry(
        total=settings.retries,
        connect=settings.retries,
        read=0,
        status=settings.retries,
        backoff_factor=settings.retry_backoff_seconds,
        status_forcelist=(429, 502, 504),
        allowed_methods=None,
        raise_on_status=False,
    )
    client = PrometheusConnect(
        settings.url,
        headers=headers or None,
        retry=retry,
        auth=auth,
        session=session,
        timeout=settings.timeout_seconds,  # requests accepts floats
        method=settings.method,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=2, pool_maxsize=settings.max_concurrency)
    session.mount(settings.url, adapter)
    return client, session


def classify_error(exc: BaseException) -> MetricSourceError:
    """Map a client exception to a MetricSourceError with a kind and a message that says what to do."""
    if isinstance(exc, MetricSourceError):
        return exc
    if isinstance(exc, PrometheusApiClientException):
        return _classify_http_error(str(exc))
    if isinstance(exc, requests.exceptions.SSLError):
        return MetricSourceError(
            "other", f"TLS failed: {exc}; check prometheus.tls (ca_file, insecure_skip_verify)"
        )
    if isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower():
        return MetricSourceError(
            "timeout",
            f"no answer in time ({exc.__class__.__name__}); raise "
            "prometheus.timeout_seconds or simplify the query",
        )
    if isinstance(exc, requests.ConnectionError):
        return MetricSourceError("unreachable", f"cannot connect: {_root_cause(exc)}; check prometheus.url")
    if isinstance(exc, (ValueError, KeyError, TypeError, IndexError)):
        return MetricSourceError("other", f"unexpected response ({exc!r}); is prometheus.url a PromQL API?")
    return MetricSourceError("other", f"{exc.__class__.__name__}: {exc}")


def _root_cause(exc: BaseException) -> str:
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] [^')\]]+|Connection refused|Name or service not known", text)
    return match.group(0) if match else text[:200]


def _classify_http_error(message: str) -> MetricSourceError:
    match = _STATUS_MESSAGE.match(message)
    if not match:
        return MetricSourceError("other", message[:300])
    status, body_repr = int(match.group(1)), match.group(2)
    error_type, detail = "", body_repr[:300]
    try:
        body = ast.literal_eval(body_repr)
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        detail = text.strip()[:300]
        envelope = json.loads(text)
        error_type, detail = str(envelope.get("errorType", "")), str(envelope.get("error", detail))[:500]
    except (ValueError, SyntaxError, AttributeError):
        pass
    kind = _kind_for_status(status, error_type, detail)
    hint = {
        "bad_query": "fix the PromQL",
        "execution": "the query parses but cannot be evaluated",
        "too_large": "narrow the selector or raise the step",
        "timeout": "raise prometheus.timeout_seconds or simplify the query",
        "unreachable": "the backend or a proxy in front of it is unavailable",
    }.get(kind, "check prometheus.url, credentials and the path prefix")
    return MetricSourceError(kind, f"HTTP {status} {error_type or ''}: {detail} ({hint})".replace("  ", " "))


def _kind_for_status(status: int, error_type: str, detail: str) -> ErrorKind:
    lowered = detail.lower()
    if "maximum resolution" in lowered or "too many samples" in lowered or "too many series" in lowered:
        return "too_large"
    if status == 400:
        return "bad_query"
    if status == 422:
        return "execution"
    if error_type == "timeout" or status == 504:
        return "timeout"
    if status in (502, 503):
        return "unreachable"
    return "other"


def parse_matrix(result: Sequence[Mapping[str, Any]]) -> list[SeriesData]:
    """Matrix JSON (values as strings, "NaN"/"+Inf" included) to SeriesData; native histograms are skipped."""
    out: list[SeriesData] = []
    for item in result:
        points = item.get("values")
        if points is None and "value" in item:
            points = [item["value"]]
        if not points:
            continue
        ts, vs = zip(*points, strict=True)
        out.append(
            SeriesData(
                dict(item.get("metric", {})),
                np.asarray(ts, dtype=np.float64),
                np.asarray(vs, dtype=np.float64),
            )
        )
    return out


def merge_chunks(chunks: Sequence[Sequence[SeriesData]]) -> list[SeriesData]:
    """Concatenate per-series pieces of consecutive time chunks, keeping first-seen order."""
    if len(chunks) == 1:
        return list(chunks[0])
    pieces: dict[frozenset[tuple[str, str]], list[SeriesData]] = {}
    for chunk in chunks:
        for series in chunk:
            pieces.setdefault(frozenset(series.labels.items()), []).append(series)
    merged = []
    for parts in pieces.values():
        ts = np.concatenate([p.timestamps for p in parts])
        vs = np.concatenate([p.values for p in parts])
        ts, first = np.unique(ts, return_index=True)
        merged.append(SeriesData(parts[0].labels, ts, vs[first]))
    return merged


def split_range(start: float, end: float, step: float, max_points: int) -> list[tuple[float, float]]:
    """Cut [start, end] into ranges of at most `max_points` evaluation steps each."""
    span = (max_points - 1) * step
    ranges = []
    cursor = start
    while cursor <= end:
        ranges.append((cursor, min(end, cursor + span)))
        cursor += span + step
    return ranges or [(start, end)]


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _duration(seconds: float) -> str:
    """An API duration parameter (`step`, `timeout`) as plain seconds: Prometheus reads `1803.75` and `15`,
    but not `1803.75s` or `1e+06s`."""
    value = float(seconds)
    return str(int(value)) if value.is_integer() else repr(value)


class PrometheusSource:
    """MetricSource over the Prometheus HTTP API; failures raise MetricSourceError and are counted."""

    def __init__(self, settings: PrometheusSettings, *, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self._client, self._session = build_client(settings)
        self._executor = ThreadPoolExecutor(settings.max_concurrency, thread_name_prefix="promql")
        self._slots: asyncio.Semaphore | None = None
        self._deadline = (
            settings.timeout_seconds * (settings.retries + 1)
            + settings.retries * (settings.retry_backoff_seconds * 4)
            + 1.0
        )
        self._external: dict[str, str] | None = None
        self._failures_in_a_row = 0
        self._open_until = 0.0
        self.errors: Counter | None = None
        if registry is not None:
            self.errors = Counter(
                "alert_analyst_metric_source_errors",
                "Metric-source (PromQL backend) calls that failed, by kind.",
                ["kind"],
                registry=registry,
            )
            for kind in ERROR_KINDS:
                self.errors.labels(kind)

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        if step <= 0 or end < start:
            raise MetricSourceError("bad_query", f"invalid range: start={start} end={end} step={step}")
        ranges = split_range(start, end, step, self.settings.max_points_per_series)
        try:
            chunks = await asyncio.gather(
                *(self._call(self._range_chunk, query, s, e, step, count=False) for s, e in ranges)
            )
        except MetricSourceError as exc:
            self._count(exc)  # once per query, however many chunks failed
            raise
        return merge_chunks(chunks)

    async def series(
        self, matchers: Sequence[str], start: float, end: float, limit: int | None = None
    ) -> list[dict[str, str]]:
        return await self._call(self._series_blocking, list(matchers), start, end, limit)

    async def rules(self) -> list[RuleInfo]:
        data = await self._call(self._api_get, "/api/v1/rules", {})
        out = []
        for group in data.get("groups", []):
            for rule in group.get("rules", []):
                kind: Literal["alerting", "recording"] = (
                    "alerting" if rule.get("type") == "alerting" else "recording"
                )
                out.append(
                    RuleInfo(
                        rule.get("name", ""),
                        rule.get("query", ""),
                        kind,
                        dict(rule.get("labels") or {}),
                        group.get("name", ""),
                    )
                )
        return out

    async def external_labels(self) -> dict[str, str]:
        if self._external is None:
            try:
                data = await self._call(self._api_get, "/api/v1/status/config", {}, count=False)
                config = yaml.safe_load(data.get("yaml", "")) or {}
                labels = (config.get("global") or {}).get("external_labels") or {}
                self._external = {str(k): str(v) for k, v in labels.items()}
            except MetricSourceError as exc:
                if exc.kind in ("unreachable", "timeout"):
                    return {}  # ask again next time
                self._external = {}  # VictoriaMetrics, Thanos, Mimir: no status/config; don't ask again
            except (yaml.YAMLError, AttributeError):
                self._external = {}
        return self._external

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    def _circuit_check(self) -> None:
        """Fail at once while the circuit is open: a hung or dead backend then costs the pipeline
        nothing per incident, instead of a timeout per query (the diagnosis goes on without evidence)."""
        wait = self._open_until - time.monotonic()
        if wait > 0:
            raise MetricSourceError(
                "circuit_open",
                f"{self.settings.url} failed {self._failures_in_a_row} times in a row; not asked again for "
                f"{wait:.0f}s (prometheus.circuit_open_seconds)",
            )

    def _circuit_record(self, error: MetricSourceError | None) -> None:
        if error is None or error.kind not in ("timeout", "unreachable"):
            self._failures_in_a_row = 0
            return
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= self.settings.circuit_failures:
            self._open_until = time.monotonic() + self.settings.circuit_open_seconds

    async def _call(self, fn: Callable[..., T], *args: Any, count: bool = True) -> T:
        try:
            self._circuit_check()
        except MetricSourceError as error:
            if count:
                self._count(error)
            raise
        try:
            result = await self._call_backend(fn, *args, count=count)
        except MetricSourceError as error:
            self._circuit_record(error)
            raise
        self._circuit_record(None)
        return result

    async def _call_backend(self, fn: Callable[..., T], *args: Any, count: bool) -> T:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        slots = self._slots
        await slots.acquire()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, fn, *args)
        future.add_done_callback(lambda _: slots.release())  # a slot frees only when the thread is done
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._deadline)
        except TimeoutError:
            error = MetricSourceError(
                "timeout",
                f"no answer in {self._deadline:.1f}s; raise prometheus.timeout_seconds or simplify the query",
            )
        except Exception as exc:  # every failure is mapped, counted and re-raised
            error = classify_error(exc)
        if count:
            self._count(error)
        raise error

    def _count(self, error: MetricSourceError) -> None:
        if self.errors is not None:
            self.errors.labels(error.kind).inc()

    def _range_chunk(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        result = self._client.custom_query_range(
            query,
            _utc(start),
            _utc(end),
            _duration(step),
            params={"timeout": _duration(self.settings.timeout_seconds), **self.settings.query_params},
        )
        if len(result) > self.settings.max_series_per_query:
            raise MetricSourceError(
                "too_large",
                f"{len(result)} series returned, more than prometheus.max_series_per_query="
                f"{self.settings.max_series_per_query}; narrow the selector or aggregate",
            )
        return parse_matrix(result)

    def _series_blocking(
        self, matchers: list[str], start: float, end: float, limit: int | None
    ) -> list[dict[str, str]]:
        params: dict[str, Any] = {**self.settings.query_params, "match[]": matchers}
        if limit:
            params["limit"] = limit  # honoured by Prometheus >= 2.54 and VictoriaMetrics, ignored before
        labels = self._client.get_series(_utc(start), _utc(end), params=params)
        return [dict(item) for item in labels[: limit or None]]

    def _api_get(self, path: str, params: Mapping[str, Any]) -> Any:
        response = self._session.get(
            f"{self.settings.url}{path}",
            params=dict(params),
            headers=self._client.headers,
            auth=self._client.auth,
            timeout=self.settings.timeout_seconds,
        )
        if response.status_code != 200:
            raise PrometheusApiClientException(
                f"HTTP Status Code {response.status_code} ({response.content!r})"
            )
        return response.json()["data"]


def choose_step(start: float, end: float, *, min_step: float, target_points: int) -> float:
    """A whole-second step giving at most `target_points` points, never below `min_step`."""
    return float(max(math.ceil(min_step), math.ceil((end - start) / max(target_points, 1))))
