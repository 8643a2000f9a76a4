"""Configuration reload with Prometheus' semantics, on SIGHUP and on `POST /-/reload`.

The file (and the environment and flags given at start) is read and validated again. A configuration that
does not load is rejected: the error is logged, `alert_analyst_config_last_reload_successful` drops to 0 and
the running configuration stays. A good one is applied live: webhook/API credentials, the metric source
(`prometheus`, `context`), the analyst (`analyst`, `llm`), scheduled detection (`detection`), the delivery
destinations and `noise`, `log`, and the `pipeline` fields read at each use (`recovery_check`,
`reuse_analysis_seconds`, `stage_timeout_seconds`...), and `web.external_url` (the links in new messages)
and `web.trusted_origins` (read at each request). What cannot change while running (`web.listen_address`,
`storage`, the pipeline's `RESTART_ONLY` fields such as `pipeline.workers`, adding the first or removing
the last delivery destination) keeps its old value and is named in the answer and the log as needing a
restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from analyst.builtin import BuiltinAnalyst
from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence
from analyst.llm import LLMConfigError, LLMError, build_analyst
from analyst.llm.budget import CallBudget
from analyst.protocol import Analyst
from receiver.config import Settings, load_settings
from receiver.errors import ConfigError
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.shared import SharedSource
from receiver.evidence.source import MetricSource, RuleInfo, SeriesData
from receiver.logs import configure_logging
from receiver.pipeline import settings as pipeline_settings
from receiver.settings_base import changed_fields
from receiver.web.auth import Credentials, is_authorized, load_credentials
from receiver.web.keys import (
    ANALYST,
    BACKTEST_SOURCE,
    CHART_SOURCE,
    CREDENTIALS,
    DELIVERY,
    LLM_BUDGET,
    METRICS,
    SCHEDULER,
    SETTINGS,
    SOURCE,
)

log = structlog.get_logger("receiver.reload")

RESTART_ONLY = ("storage",)  # and pipeline_settings.RESTART_ONLY and WEB_RESTART_ONLY, field by field
WEB_RESTART_ONLY = frozenset({"listen_address"})  # the socket is bound once
# Sections whose fields are applied or kept one by one, with the fields that need a restart.
BY_FIELD = {"pipeline": pipeline_settings.RESTART_ONLY, "web": WEB_RESTART_ONLY}
DESTINATIONS = ("grafana", "slack", "pagerduty", "outgoing_webhook")


@dataclass(frozen=True)
class ConfigSource:
    """Where the running configuration came from: the file and the flag overrides (the environment is
    read again at each reload)."""

    path: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReloadOutcome:
    applied: tuple[str, ...]
    needs_restart: tuple[str, ...]


class SwitchableSource:
    """The app's MetricSource: forwards to the current source, which a reload replaces."""

    def __init__(self, current: MetricSource) -> None:
        self.current = current

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        return await self.current.query_range(query, start, end, step)

    async def series(
        self, matchers: Sequence[str], start: float, end: float, limit: int | None = None
    ) -> list[dict[str, str]]:
        return await self.current.series(matchers, start, end, limit)

    async def rules(self) -> list[RuleInfo]:
        return await self.current.rules()

    async def external_labels(self) -> dict[str, str]:
        return await self.current.external_labels()

    async def metric_types(self) -> dict[str, str]:
        return await self.current.metric_types()

    async def close(self) -> None:
        await self.current.close()


class SwitchableAnalyst:
    """The app's Analyst: forwards to the current analyst, which a reload replaces."""

    def __init__(self, current: Analyst) -> None:
        self.current = current
        self.name = current.name

    def switch_to(self, analyst: Analyst) -> None:
        self.current, self.name = analyst, analyst.name

    async def diagnose(self, evidence: Evidence) -> DiagnosisResult:
        return await self.current.diagnose(evidence)

    async def aclose(self) -> None:
        await close_analyst(self.current)


async def close_analyst(analyst: Analyst) -> None:
    close = getattr(analyst, "aclose", None)
    if close is not None:
        await close()


def check_analyst(settings: Settings) -> None:
    """Build the configured analyst once and close it: an LLM backend without its SDK or API key is a
    ConfigError for `check-config` as it is at start-up and on reload."""
    asyncio.run(close_analyst(build_analyst_for(settings, CollectorRegistry())))


CONFIG_SOURCE: web.AppKey[ConfigSource | None] = web.AppKey("config_source")
RELOAD_LOCK = web.AppKey("reload_lock", asyncio.Lock)
# Tasks a reload leaves running (SIGHUP reloads, closing retired plug-ins); cancelled at exit.
RELOAD_TASKS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("reload_tasks")


def build_source_for(settings: Settings, registry: CollectorRegistry) -> MetricSource:
    """The configured metric source, whose identical calls share one answer (`SharedSource`)."""
    backend = PrometheusSource(settings.prometheus, registry=registry)
    return SharedSource(backend, settings.prometheus, registry=registry)


def build_chart_source_for(settings: Settings) -> MetricSource:
    """The workbench charts' own source: its circuit and threads are not the pipeline's, so browsing while
    the backend is slow cannot open the circuit that new alerts' evidence goes through. Its failures are
    answered to the page (shown on the chart), not counted in the pipeline's error counter."""
    return PrometheusSource(settings.prometheus)


def build_backtest_source_for(settings: Settings) -> MetricSource:
    """Backtests' own source, for the same reason as the charts': a backtest's range fetches, long and
    possibly timing out, cannot open the pipeline's circuit. Its failures are answered to the request."""
    return PrometheusSource(settings.prometheus)


# The sources of their own that the workbench asks the same backend through, rebuilt at each reload.
SIDE_SOURCES = ((CHART_SOURCE, build_chart_source_for), (BACKTEST_SOURCE, build_backtest_source_for))


def build_analyst_for(
    settings: Settings, registry: CollectorRegistry, budget: CallBudget | None = None
) -> Analyst:
    """The configured analyst (an LLM one counting its diagnoses in `budget`, when given, so that the
    window outlives a reload); llm.* settings that cannot work (no API key...) are a ConfigError."""
    builtin = BuiltinAnalyst(settings.analyst)
    try:
        return build_analyst(
            settings.analyst.backend,
            settings.llm,
            builtin,
            registry,
            dependency_graph=builtin.dependency_graph,
            budget=budget,
        )
    except LLMConfigError as exc:
        raise ConfigError(str(exc)) from exc


def split_changes(old: Settings, new: Settings, changed: Sequence[str]) -> tuple[list[str], list[str]]:
    """The `changed` sections as (applied live, needs a restart): by name, `pipeline` and `web` field by
    field (`pipeline.recovery_check`, `web.listen_address`)."""
    applied: list[str] = []
    needs_restart: list[str] = []
    for name in changed:
        if name in BY_FIELD:
            for field_name in changed_fields(getattr(old, name), getattr(new, name)):
                restart = field_name in BY_FIELD[name]
                (needs_restart if restart else applied).append(f"{name}.{field_name}")
        else:
            (needs_restart if name in RESTART_ONLY else applied).append(name)
    return applied, needs_restart


async def reload_config(app: web.Application) -> ReloadOutcome:
    """Load the configuration again and apply it; raise ConfigError (nothing changed) if it does not load."""
    metrics = app[METRICS]
    async with app[RELOAD_LOCK]:
        source = app[CONFIG_SOURCE] or ConfigSource()
        old = app[SETTINGS]
        try:
            new = await asyncio.to_thread(load_settings, source.path, overrides=source.overrides)
            credentials = await asyncio.to_thread(_credentials_for, new)
            registry = CollectorRegistry()
            new_source = build_source_for(new, registry)
            new_sides = [build(new) for _, build in SIDE_SOURCES]
            try:
                new_analyst = build_analyst_for(new, registry, app.get(LLM_BUDGET))
            except BaseException:
                for built in (new_source, *new_sides):
                    await built.close()
                raise
        except (ConfigError, LLMError, ValueError, OSError) as exc:
            metrics.config_reload_successful.set(0)
            log.error("config_reload_failed", error=str(exc))
            raise ConfigError(str(exc)) from exc
        changed = changed_fields(old, new)
        applied, needs_restart = split_changes(old, new, changed)
        if credentials != app[CREDENTIALS] and "webhook" not in applied:  # a secret file's contents changed
            applied.append("webhook")
        delivery = app[DELIVERY]
        if (delivery is None) != (not any(getattr(new, d).enabled for d in DESTINATIONS)):
            needs_restart.append("delivery destinations added or removed")
        kept = {name: getattr(old, name) for name in RESTART_ONLY}
        if delivery is None:
            kept.update({name: getattr(old, name) for name in DESTINATIONS})
        for name, value in kept.items():
            setattr(new, name, value)
        for field_name in WEB_RESTART_ONLY:
            setattr(new.web, field_name, getattr(old.web, field_name))
        relinked = new.web.public_url != old.web.public_url  # in the messages' links (`web.external_url`)
        # In place: the pipeline and the materializer hold the running object and read it at each use.
        pipeline_settings.apply_live(old.pipeline, new.pipeline)
        new.pipeline = old.pipeline

        switchable_analyst = app[ANALYST]
        assert isinstance(switchable_analyst, SwitchableAnalyst)
        old_analyst = switchable_analyst.current
        keys = (SOURCE, *(key for key, _ in SIDE_SOURCES))
        replacements = (new_source, *new_sides)
        old_sources = [_switch(app[key], one) for key, one in zip(keys, replacements, strict=True)]
        switchable_analyst.switch_to(new_analyst)
        metrics.reloadable.current = registry
        _update(app, new, credentials)
        if delivery is not None and (relinked or any(name in changed for name in (*DESTINATIONS, "noise"))):
            await delivery.reconfigure(
                grafana=new.grafana,
                slack=new.slack,
                pagerduty=new.pagerduty,
                outgoing_webhook=new.outgoing_webhook,
                noise=new.noise,
                public_url=new.web.public_url,
            )
        if "detection" in changed:
            await app[SCHEDULER].reconfigure(new.detection)
        if "log" in changed:
            configure_logging(new.log.level, new.log.format)
        # Stages already running keep the old source and analyst: close them once those may have finished.
        grace = min(new.pipeline.stage_timeout_seconds, 60.0)
        _keep(app, asyncio.create_task(_retire(old_sources, old_analyst, grace)))
        metrics.config_reload_successful.set(1)
        metrics.config_reload_success_time.set(time.time())
        log.info("config_reloaded", applied=applied, needs_restart=needs_restart)
        return ReloadOutcome(tuple(applied), tuple(needs_restart))


def _switch(switchable: MetricSource, new: MetricSource) -> MetricSource:
    """Point an app's source at `new`; the one it replaces, to close once the stages using it finished."""
    assert isinstance(switchable, SwitchableSource)
    old, switchable.current = switchable.current, new
    return old


def _credentials_for(settings: Settings) -> Credentials:
    """The webhook/API credentials, read before anything is switched: a secret file that changed since it
    was checked (removed, now a directory, not UTF-8) rejects the reload instead of failing half-way."""
    try:
        return load_credentials(settings.webhook)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"webhook: cannot read a credential file: {exc}") from exc


def _update(app: web.Application, new: Settings, credentials: Credentials) -> None:
    """Settings and credentials are updated in place: the app is frozen once it runs, its keys stay."""
    settings = app[SETTINGS]
    for name in Settings.model_fields:
        setattr(settings, name, getattr(new, name))
    app[CREDENTIALS].replace_with(credentials)


async def _retire(sources: Sequence[MetricSource], analyst: Analyst, grace: float) -> None:
    try:
        await asyncio.sleep(grace)
    finally:
        for source in sources:
            await source.close()
        await close_analyst(analyst)


async def post_reload(request: web.Request) -> web.Response:
    """POST /-/reload: 200 with what was applied and what needs a restart; 500 with the reason if the new
    configuration does not load (as Prometheus answers), the old one still running. It takes the API's
    credentials when they are configured."""
    if not is_authorized(request.headers.get("Authorization"), request.app[CREDENTIALS]):
        return web.json_response({"status": "error", "error": "missing or wrong credentials"}, status=401)
    try:
        outcome = await reload_config(request.app)
    except ConfigError as exc:
        return web.json_response({"status": "error", "error": f"failed to reload config: {exc}"}, status=500)
    return web.json_response(
        {"status": "success", "applied": list(outcome.applied), "needs_restart": list(outcome.needs_restart)}
    )


def reload_routes() -> list[web.RouteDef]:
    return [web.post("/-/reload", post_reload), web.put("/-/reload", post_reload)]


async def reload_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: SIGHUP reloads (where the loop can take signals); retired plug-ins close at exit."""
    app[RELOAD_TASKS] = set()
    loop = asyncio.get_running_loop()
    installed = False
    if app[CONFIG_SOURCE] is not None:
        try:
            loop.add_signal_handler(signal.SIGHUP, lambda: _spawn(app, loop))
            installed = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            log.debug("sighup_not_installed")
    yield
    if installed:
        loop.remove_signal_handler(signal.SIGHUP)
    for task in app[RELOAD_TASKS]:
        task.cancel()
    await asyncio.gather(*app[RELOAD_TASKS], return_exceptions=True)


def _spawn(app: web.Application, loop: asyncio.AbstractEventLoop) -> None:
    _keep(app, loop.create_task(_reload_quietly(app)))


def _keep(app: web.Application, task: asyncio.Task[None]) -> None:
    app[RELOAD_TASKS].add(task)
    task.add_done_callback(app[RELOAD_TASKS].discard)


async def _reload_quietly(app: web.Application) -> None:
    """SIGHUP: the outcome is in the log and the metrics."""
    with contextlib.suppress(ConfigError):  # logged and counted by reload_config
        await reload_config(app)
