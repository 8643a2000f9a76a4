"""`PrometheusSource`: the Prometheus HTTP API through requests (prometheus-api-client's session), off the
event loop.

Serves Prometheus, VictoriaMetrics, Thanos and Mimir alike (path prefix in `prometheus.url`).
The client is synchronous (requests), so every call runs on a daemon thread of its own (a hung request
never holds up the process's exit), with at most `max_concurrency` requests in flight and a hard deadline
per call, so a hung backend never pins a worker.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import numpy as np
import requests
import yaml
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from prometheus_client import CollectorRegistry, Counter
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.source import (
    ERROR_KINDS,
    ErrorKind,
    MetricSourceError,
    RuleInfo,
    SeriesData,
    gather_then_raise,
    report_warnings,
)
from receiver.settings_base import read_secret_file

T = TypeVar("T")
_STATUS_MESSAGE = re.compile(r"HTTP Status Code (\d+) \((.*)\)\s*$", re.DOTALL)
# Longer query strings go in a form body (POST): a proxy in front of the backend may refuse a long URL (nginx:
# 8 KB, with its headers); Prometheus, Thanos, Mimir and VictoriaMetrics read either.
MAX_QUERY_STRING = 4096
NOT_THE_API = "not a Prometheus API answer"
# A connection the server (or a proxy) closed without an answer: urllib3's and http.client's words for it.
_RESET = re.compile(r"Connection reset|RemoteDisconnected|Remote end closed connection")
_URL = re.compile(r" with url: \S+")


class BearerTokenFileAuth(requests.auth.AuthBase):
    """Sends `Authorization: Bearer <file content>`, re-reading the file when it changes (rotated tokens)."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._mtime = -1.0
        self._token = ""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        mtime = self._path.stat().st_mtime
        if mtime != self._mtime:
            self._token, self._mtime = read_secret_file(self._path), mtime
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
            else read_secret_file(basic.password_file or "")
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
    if isinstance(exc, requests.ConnectionError) and _RESET.search(str(exc)):
        return MetricSourceError(
            "unreachable",
            "connection reset by the server (it, or a proxy in front of it, closed the connection without "
            "an answer); check its logs and prometheus.url",
        )
    if isinstance(exc, requests.ConnectionError):
        return MetricSourceError("unreachable", f"cannot connect: {_root_cause(exc)}; check prometheus.url")
    if isinstance(exc, (ValueError, KeyError, TypeError, IndexError)):
        return MetricSourceError("other", f"unexpected response ({exc!r}); is prometheus.url a PromQL API?")
    return MetricSourceError("other", f"{exc.__class__.__name__}: {exc}")


def _root_cause(exc: BaseException) -> str:
    """Why a connection failed, in the words of the OS where it gives some; never the request's URL (a
    query's whole text)."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] [^'\")\]]+|Connection refused|Name or service not known", text)
    if match:
        return match.group(0)
    caused = text.partition("(Caused by ")[2].removesuffix(")")
    return (caused or _URL.sub("", text))[:200]


def unexpected_answer(url: str, what: str) -> MetricSourceError:
    """A 200 answer that is not the Prometheus API's: `prometheus.url` names another service (or a page)."""
    return MetricSourceError(
        "other", f"unexpected response from {url}: {what} (is prometheus.url the PromQL API?)"
    )


def _classify_http_error(message: str) -> MetricSourceError:
    match = _STATUS_MESSAGE.match(message)
    if not match:
        return MetricSourceError("other", " ".join(message[:300].split()))
    status, body_repr = int(match.group(1)), match.group(2)
    error_type, detail = "", elided(body_repr, 300)
    try:
        body = ast.literal_eval(body_repr)
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        detail = elided(text.strip(), 300)
        envelope = json.loads(text)
        error_type, detail = str(envelope.get("errorType", "")), elided(str(envelope.get("error", text)), 500)
    except (ValueError, SyntaxError, AttributeError):
        pass
    detail = " ".join(detail.split())  # a proxy's HTML error page: one line, as every reason is
    kind = _kind_for_status(status, error_type, detail)
    hint = {
        "bad_query": "fix the PromQL",
        "execution": "the query parses but cannot be evaluated",
        "too_large": "narrow the selector or raise the step",
        "timeout": "raise prometheus.timeout_seconds or simplify the query",
        "unreachable": "the backend or a proxy in front of it is unavailable",
    }.get(kind, "check prometheus.url, credentials and the path prefix")
    if "too long query" in detail.lower():
        hint = (
            "set context.max_query_length no higher than the backend's limit (VictoriaMetrics "
            "-search.maxQueryLen), or raise that limit for what cannot be split"
        )
    return MetricSourceError(kind, f"{f'HTTP {status} {error_type}'.rstrip()}: {detail} ({hint})")


def elided(text: str, limit: int) -> str:
    """`text` in at most about `limit` characters: its start and its end, where a backend says why (an error
    that quotes a long query gives the reason after it)."""
    if len(text) <= limit:
        return text
    head = limit // 3
    return f"{text[:head]} … {text[-(limit - head) :]}"


def _kind_for_status(status: int, error_type: str, detail: str) -> ErrorKind:
    lowered = detail.lower()
    if any(
        phrase in lowered
        for phrase in ("maximum resolution", "too many samples", "too many series", "too long query")
    ):
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


# Metadata changes when exporters are deployed: asked again this often (the scrape cycle's order).
METADATA_SECONDS = 300.0


def types_of(data: Mapping[str, Any]) -> dict[str, str]:
    """Metric name -> declared type of a `/api/v1/metadata` answer (`{name: [{type, help, unit}, ...]}`):
    the first type each name lists. A name listed with several (one exporter's counter, another's gauge)
    keeps its first."""
    types = {}
    for name, entries in data.items():
        if isinstance(entries, list) and entries and isinstance(entries[0], Mapping):
            kind = entries[0].get("type")
            if isinstance(kind, str):
                types[str(name)] = kind
    return types


def warnings_of(envelope: Mapping[str, Any]) -> list[str]:
    """The `warnings` of an API answer (a partial response's, from Thanos or Prometheus), as strings."""
    warnings = envelope.get("warnings")
    return [str(w) for w in warnings] if isinstance(warnings, list) else []


def external_labels_of(config_yaml: str) -> dict[str, str]:
    """`global.external_labels` of a Prometheus configuration ({} when it has none or is no YAML mapping)."""
    try:
        config = yaml.safe_load(config_yaml) or {}
        labels = (config.get("global") or {}).get("external_labels") or {}
        return {str(k): str(v) for k, v in labels.items()}
    except (yaml.YAMLError, AttributeError):
        return {}


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


def parse_rules(data: Mapping[str, Any]) -> list[RuleInfo]:
    """The rules of /api/v1/rules' `data` (its groups' alerting and recording rules, in order)."""
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


def _duration(seconds: float) -> str:
    """An API time or duration parameter (`start`, `step`, `timeout`) as plain seconds: Prometheus reads
    `1803.75` and `15`, but not `1803.75s` or `1e+06s`."""
    value = float(seconds)
    return str(int(value)) if value.is_integer() else repr(value)


def _in_daemon_thread(loop: asyncio.AbstractEventLoop, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """`fn(*args)` on a daemon thread of its own: a request hung on its backend must not hold up the exit
    past pipeline.shutdown_timeout_seconds, as an executor's threads did (Python joins them at exit)."""
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (fn(*args), None)
        except BaseException as exc:  # handed to the caller, as run_in_executor does
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the process is exiting
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="promql", daemon=True).start()
    return future


class PrometheusSource:
    """MetricSource over the Prometheus HTTP API; failures raise MetricSourceError and are counted."""

    def __init__(self, settings: PrometheusSettings, *, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self._client, self._session = build_client(settings)
        self._slots: asyncio.Semaphore | None = None
        self._deadline = (
            settings.timeout_seconds * (settings.retries + 1)
            + settings.retries * (settings.retry_backoff_seconds * 4)
            + 1.0
        )
        self._external: dict[str, str] | None = None
        self._types: dict[str, str] | None = None
        self._types_at = 0.0
        self._failures_in_a_row = 0
        self._open_until = 0.0
        self._last_failure = ""  # what the last failure in a row was, for the open circuit's message
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
            answers = await gather_then_raise(
                self._call(self._range_chunk, query, s, e, step, count=False) for s, e in ranges
            )
        except MetricSourceError as exc:
            self._count(exc)  # once per query, however many chunks failed
            raise
        report_warnings(w for _, warnings in answers for w in warnings)
        return merge_chunks([chunk for chunk, _ in answers])

    async def series(
        self, matchers: Sequence[str], start: float, end: float, limit: int | None = None
    ) -> list[dict[str, str]]:
        found, warnings = await self._call(self._series_blocking, list(matchers), start, end, limit)
        report_warnings(warnings)
        return found

    async def rules(self) -> list[RuleInfo]:
        found, warnings = await self._call(self._rules_blocking)
        report_warnings(warnings)
        return found

    async def external_labels(self) -> dict[str, str]:
        if self._external is None:
            try:
                self._external = await self._call(self._external_blocking, count=False)
            except MetricSourceError as exc:
                if exc.kind in ("unreachable", "timeout"):
                    return {}  # ask again next time
                self._external = {}  # VictoriaMetrics, Thanos, Mimir: no status/config; don't ask again
        return self._external

    async def metric_types(self) -> dict[str, str]:
        """`/api/v1/metadata`, asked again once METADATA_SECONDS old; {} when the backend cannot say (asked
        again next time when it was down)."""
        if self._types is None or time.monotonic() - self._types_at > METADATA_SECONDS:
            try:
                self._types = await self._call(self._types_blocking, count=False)
            except MetricSourceError as exc:
                if exc.kind in ("unreachable", "timeout", "circuit_open"):
                    return self._types or {}
                self._types = {}  # a backend without the metadata API: asked again once the time is up
            self._types_at = time.monotonic()
        return self._types

    async def close(self) -> None:
        self._session.close()

    def _circuit_check(self) -> None:
        """Fail at once while the circuit is open: a hung or dead backend then costs the pipeline
        nothing per incident, instead of a timeout per query (the diagnosis goes on without evidence)."""
        wait = self._open_until - time.monotonic()
        if wait > 0:
            raise MetricSourceError(
                "circuit_open",
                f"{self.settings.url} failed {self._failures_in_a_row} times in a row (the last: "
                f"{self._last_failure}); not asked again for {math.ceil(wait)}s"
                " (prometheus.circuit_open_seconds)",
            )

    def _circuit_record(self, error: MetricSourceError | None) -> None:
        if error is None or error.kind not in ("timeout", "unreachable"):
            self._failures_in_a_row = 0
            return
        self._failures_in_a_row += 1
        self._last_failure = str(error)
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
        future = _in_daemon_thread(asyncio.get_running_loop(), fn, *args)
        future.add_done_callback(partial(_thread_done, slots))
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

    def _range_chunk(
        self, query: str, start: float, end: float, step: float
    ) -> tuple[list[SeriesData], list[str]]:
        params = {
            "query": query,
            "start": _duration(start),
            "end": _duration(end),
            "step": _duration(step),
            "timeout": _duration(self.settings.timeout_seconds),
            **self.settings.query_params,
        }
        data, warnings = self._api("/api/v1/query_range", params, post=self._post(params), expect=dict)
        result = data.get("result")
        if not (isinstance(result, list) and all(isinstance(item, dict) for item in result)):
            raise unexpected_answer(f"{self.settings.url}/api/v1/query_range", NOT_THE_API)
        if len(result) > self.settings.max_series_per_query:
            raise MetricSourceError(
                "too_large",
                f"{len(result)} series returned, more than prometheus.max_series_per_query="
                f"{self.settings.max_series_per_query}; narrow the selector or aggregate",
            )
        return parse_matrix(result), warnings

    def _series_blocking(
        self, matchers: list[str], start: float, end: float, limit: int | None
    ) -> tuple[list[dict[str, str]], list[str]]:
        params: dict[str, Any] = {
            **self.settings.query_params,
            "match[]": matchers,
            "start": _duration(start),
            "end": _duration(end),
        }
        if limit:
            params["limit"] = limit  # honoured by Prometheus >= 2.54 and VictoriaMetrics, ignored before
        labels, warnings = self._api("/api/v1/series", params, post=self._post(params), expect=list)
        if not all(isinstance(item, dict) for item in labels):
            raise unexpected_answer(f"{self.settings.url}/api/v1/series", NOT_THE_API)
        return [dict(item) for item in labels[: limit or None]], warnings

    def _rules_blocking(self) -> tuple[list[RuleInfo], list[str]]:
        data, warnings = self._api("/api/v1/rules", {}, expect=dict)
        try:
            return parse_rules(data), warnings
        except (AttributeError, TypeError, ValueError):
            raise unexpected_answer(f"{self.settings.url}/api/v1/rules", NOT_THE_API) from None

    def _types_blocking(self) -> dict[str, str]:
        data, _ = self._api("/api/v1/metadata", {}, expect=dict)
        return types_of(data)

    def _external_blocking(self) -> dict[str, str]:
        data, _ = self._api("/api/v1/status/config", {}, expect=dict)
        return external_labels_of(data.get("yaml", ""))

    def _post(self, params: Mapping[str, Any]) -> bool:
        """Whether a query call sends its parameters as a form body: `prometheus.method: POST`, or a query
        string longer than MAX_QUERY_STRING."""
        return self.settings.method == "POST" or len(urlencode(params, doseq=True)) > MAX_QUERY_STRING

    def _api(
        self, path: str, params: Mapping[str, Any], *, post: bool = False, expect: type[T]
    ) -> tuple[T, list[str]]:
        """The `data` (an `expect`) and `warnings` of one API call, the parameters in the URL or (`post`) a
        form body; an answer of another shape is an `unexpected_answer`.
        TLS is passed with each call, as prometheus-api-client does: else requests lets REQUESTS_CA_BUNDLE or
        CURL_CA_BUNDLE override `prometheus.tls` (ca_file, insecure_skip_verify)."""
        url = f"{self.settings.url}{path}"
        response = self._session.request(
            "POST" if post else "GET",
            url,
            params=None if post else dict(params),
            data=dict(params) if post else None,
            headers=self._client.headers,
            auth=self._client.auth,
            timeout=self.settings.timeout_seconds,
            verify=self._session.verify,
            cert=self._session.cert,
        )
        if response.status_code != 200:
            raise PrometheusApiClientException(
                f"HTTP Status Code {response.status_code} ({response.content!r})"
            )
        try:
            envelope = response.json()
        except ValueError:
            raise unexpected_answer(url, "not JSON") from None
        if not isinstance(envelope, dict):
            raise unexpected_answer(url, NOT_THE_API)
        if envelope.get("status") == "error":  # a proxy's 200 with an error envelope
            raise PrometheusApiClientException(f"HTTP Status Code 200 ({response.content!r})")
        data = envelope.get("data")
        if not isinstance(data, expect):
            raise unexpected_answer(url, NOT_THE_API)
        return data, warnings_of(envelope)


def _thread_done(slots: asyncio.Semaphore, future: asyncio.Future[Any]) -> None:
    """A call's thread finished: its slot frees (only now: the thread ran until here), and its failure is
    taken, so a call whose caller stopped waiting (cancelled: a sibling failed, or a deadline passed) is
    not logged as an exception never retrieved."""
    slots.release()
    if not future.cancelled():
        future.exception()


def choose_step(start: float, end: float, *, min_step: float, target_points: int) -> float:
    """A whole-second step giving at most `target_points` points, never below `min_step`."""
    return float(max(math.ceil(min_step), math.ceil((end - start) / max(target_points, 1))))
