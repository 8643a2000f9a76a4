"""Application wiring: settings and routes here, each long-lived resource in its own cleanup context."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from receiver.config import Settings
from receiver.metrics import create_metrics
from receiver.pipeline.intake import IntakeActivity
from receiver.web.answers import count_answers
from receiver.web.api import api_routes, require_api_auth
from receiver.web.auth import load_credentials
from receiver.web.backtest import backtest_routes
from receiver.web.compression import compress_answers
from receiver.web.cross_origin import refuse_cross_origin
from receiver.web.health import health_routes
from receiver.web.keys import (
    CREDENTIALS,
    INCIDENT_EXTRAS,
    INTAKE,
    METRICS,
    OVERVIEW_EXTRAS,
    RECENT_BODIES,
    SETTINGS,
)
from receiver.web.learning import install_learning
from receiver.web.ondemand import ONDEMAND_RUNS, OnDemandRuns, ondemand_routes
from receiver.web.reload import CONFIG_SOURCE, RELOAD_LOCK, ConfigSource, reload_routes
from receiver.web.resends import RecentBodies
from receiver.web.resources import PARTS_FACTORY, RESOURCES, PartsFactory, pipeline_parts
from receiver.web.rules import rule_routes
from receiver.web.templating import security_headers, setup_templates
from receiver.web.ui import ui_routes
from receiver.web.webhook import receive_alertmanager


def build_app(
    settings: Settings, parts: PartsFactory = pipeline_parts, config_source: ConfigSource | None = None
) -> web.Application:
    """The receiver's aiohttp application (not yet started); `parts` builds what the pipeline runs.
    With `config_source` (what `serve` read), SIGHUP reloads the configuration as POST /-/reload does."""
    app = web.Application(
        client_max_size=settings.webhook.max_body_bytes,
        handler_args={"auto_decompress": False},  # json_errors.read_body decodes, answering any coding
        middlewares=[
            compress_answers,
            security_headers,
            count_answers,
            refuse_cross_origin,
            require_api_auth,
        ],
    )
    app[SETTINGS] = settings
    app[CREDENTIALS] = load_credentials(settings.webhook)
    app[METRICS] = create_metrics()
    app[METRICS].config_reload_successful.set(1)
    app[METRICS].config_reload_success_time.set(time.time())
    app[CONFIG_SOURCE] = config_source
    app[RELOAD_LOCK] = asyncio.Lock()
    app[INTAKE] = IntakeActivity()
    app[RECENT_BODIES] = RecentBodies()
    app[ONDEMAND_RUNS] = OnDemandRuns()
    app[INCIDENT_EXTRAS] = []  # HTML fragments for the incident page: (request, incident_id) -> str
    app[OVERVIEW_EXTRAS] = []  # and for the overview page: (app) -> str
    setup_templates(app)
    app[PARTS_FACTORY] = parts
    app.cleanup_ctx.extend(RESOURCES)
    app.add_routes(
        [
            web.route("*", "/webhook/alertmanager", receive_alertmanager),
            *health_routes(),
            *reload_routes(),
            *api_routes(),
            *ondemand_routes(),
            *ui_routes(),
            *rule_routes(),
            *backtest_routes(),
        ]
    )
    install_learning(app)
    return app
