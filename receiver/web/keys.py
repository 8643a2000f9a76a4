"""Typed application keys for every shared object of the aiohttp app."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from receiver.auth import Credentials
from receiver.config import Settings
from receiver.intake import IntakeActivity
from receiver.materializer import Materializer
from receiver.metrics import ReceiverMetrics
from receiver.pipeline import Pipeline
from receiver.storage.database import Store

SETTINGS = web.AppKey("settings", Settings)
CREDENTIALS = web.AppKey("credentials", Credentials)
METRICS = web.AppKey("metrics", ReceiverMetrics)
STORE = web.AppKey("store", Store)
PIPELINE = web.AppKey("pipeline", Pipeline)
MATERIALIZER = web.AppKey("materializer", Materializer)
INTAKE = web.AppKey("intake", IntakeActivity)
COMPONENTS = web.AppKey("components", dict[str, Any])
