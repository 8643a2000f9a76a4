"""Typed application keys: one `web.AppKey` per shared object of the aiohttp app.

Settings, credentials, metrics and intake activity are set by `build_app`; every other key is set by the
cleanup context that opens the resource (`receiver.web.resources`), and is there only while the app runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from analyst.llm.budget import CallBudget
from analyst.protocol import Analyst
from receiver.config import Settings
from receiver.evidence.source import MetricSource
from receiver.metrics import ReceiverMetrics
from receiver.pipeline.intake import IntakeActivity
from receiver.pipeline.materializer import Materializer
from receiver.pipeline.retention import RetentionPruner
from receiver.pipeline.workers import Pipeline
from receiver.storage.database import Store
from receiver.web.auth import Credentials
from receiver.web.resends import RecentBodies

if TYPE_CHECKING:
    from receiver.delivery.service import DeliveryService
    from receiver.scheduled.scheduler import DetectionScheduler

SETTINGS = web.AppKey("settings", Settings)
CREDENTIALS = web.AppKey("credentials", Credentials)
METRICS = web.AppKey("metrics", ReceiverMetrics)
INTAKE = web.AppKey("intake", IntakeActivity)
STORE = web.AppKey("store", Store)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
SOURCE: web.AppKey[MetricSource] = web.AppKey("metric_source")
# the workbench's charts ask the same backend through a source of their own: a page opened while the
# backend is slow trips this circuit, never the pipeline's (SOURCE)
CHART_SOURCE: web.AppKey[MetricSource] = web.AppKey("chart_source")
# and backtests through theirs: a backtest's long range fetches that time out trip this circuit only
BACKTEST_SOURCE: web.AppKey[MetricSource] = web.AppKey("backtest_source")
ANALYST: web.AppKey[Analyst] = web.AppKey("analyst")
# llm.max_calls_per_hour's window, one per app: an analyst rebuilt by a reload keeps counting in it
LLM_BUDGET = web.AppKey("llm_budget", CallBudget)
DELIVERY: web.AppKey[DeliveryService | None] = web.AppKey("delivery")
SCHEDULER: web.AppKey[DetectionScheduler] = web.AppKey("scheduler")
PIPELINE = web.AppKey("pipeline", Pipeline)
MATERIALIZER = web.AppKey("materializer", Materializer)
RECENT_BODIES = web.AppKey("recent_bodies", RecentBodies)
RETENTION = web.AppKey("retention", RetentionPruner)

__all__ = [
    "ANALYST",
    "BACKTEST_SOURCE",
    "CHART_SOURCE",
    "CREDENTIALS",
    "DELIVERY",
    "HTTP_SESSION",
    "INTAKE",
    "MATERIALIZER",
    "METRICS",
    "OVERVIEW_EXTRAS",
    "PIPELINE",
    "RECENT_BODIES",
    "RETENTION",
    "SCHEDULER",
    "SETTINGS",
    "SOURCE",
    "STORE",
]

IncidentExtra = Callable[[web.Request, str], Awaitable[str]]
"""An HTML fragment (already escaped) shown on an incident's page, e.g. feedback and similar incidents; it
may read the page's query (the feedback form's `?judge=`)."""
INCIDENT_EXTRAS: web.AppKey[list[IncidentExtra]] = web.AppKey("incident_extras")
# HTML fragments (already escaped) other features add to the overview page: async (app) -> str.
OverviewExtra = Callable[[web.Application], Awaitable[str]]
OVERVIEW_EXTRAS: web.AppKey[list[OverviewExtra]] = web.AppKey("overview_extras")
