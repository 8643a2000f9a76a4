"""Application wiring: every shared object is created in one cleanup context and closed on shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web

from receiver.api import api_routes, require_api_auth
from receiver.auth import load_credentials
from receiver.components import Components, build_components, close_components
from receiver.config import Settings
from receiver.health import health_routes
from receiver.intake import IntakeActivity
from receiver.keys import COMPONENTS, CREDENTIALS, INTAKE, MATERIALIZER, METRICS, PIPELINE, SETTINGS, STORE
from receiver.materializer import Materializer
from receiver.metrics import create_metrics
from receiver.ondemand import ondemand_routes
from receiver.pipeline import Pipeline
from receiver.storage.database import Store
from receiver.ui import ui_routes
from receiver.webhook import receive_alertmanager

log = structlog.get_logger("receiver.app")

ComponentsFactory = Callable[[web.Application, Settings, Store], Awaitable[Components]]
COMPONENTS_FACTORY: web.AppKey[ComponentsFactory] = web.AppKey("components_factory")


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = await asyncio.to_thread(Store, settings.storage.path, settings.storage.synchronous)
    app[STORE] = store
    components = await app[COMPONENTS_FACTORY](app, settings, store)
    app[COMPONENTS].update(components.extras)
    app[COMPONENTS]["routes"] = {(r.method, r.path): r.handler for r in components.routes}
    pipeline = Pipeline(
        store, components.stages, settings.pipeline, app[METRICS], components.on_resolved, app[INTAKE]
    )
    app[PIPELINE] = pipeline
    materializer = Materializer(store, pipeline, settings.pipeline, app[METRICS], app[INTAKE])
    app[MATERIALIZER] = materializer
    await pipeline.start()
    await materializer.start()
    await components.start()
    log.info("started", listen=settings.web.listen_address, storage=settings.storage.path)
    yield
    log.info("stopping")
    await components.stop_intake()
    await materializer.stop()
    await pipeline.stop()
    await close_components(components)
    await asyncio.to_thread(store.close)


# Routes whose handlers only exist once the components are built (the router is frozen by then).
LATE_BOUND_ROUTES = (("GET", "/api/v1/rules"), ("POST", "/api/v1/rules"), ("DELETE", "/api/v1/rules/{name}"))


def _late_bound(method: str, path: str) -> web.RouteDef:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        handler = request.app[COMPONENTS].get("routes", {}).get((method, path))
        if handler is None:
            return web.json_response(
                {"status": "error", "error": "not available in this configuration"}, status=404
            )
        return await handler(request)

    return web.route(method, path, dispatch)


def build_app(settings: Settings, components: ComponentsFactory = build_components) -> web.Application:
    """The receiver's aiohttp application (not yet started); `components` builds the pipeline plug-ins."""
    app = web.Application(client_max_size=settings.webhook.max_body_bytes, middlewares=[require_api_auth])
    app[SETTINGS] = settings
    app[CREDENTIALS] = load_credentials(settings.webhook)
    app[METRICS] = create_metrics()
    app[COMPONENTS] = {}
    app[INTAKE] = IntakeActivity()
    app[COMPONENTS_FACTORY] = components
    app.cleanup_ctx.append(_resources)
    app.add_routes(
        [
            web.post("/webhook/alertmanager", receive_alertmanager),
            *health_routes(),
            *api_routes(),
            *ondemand_routes(),
            *ui_routes(),
            *(_late_bound(method, path) for method, path in LATE_BOUND_ROUTES),
        ]
    )
    return app
