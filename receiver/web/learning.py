"""Feedback and memory on the HTTP edge: one call from `build_app` adds their routes and context."""

from __future__ import annotations

from aiohttp import web

from receiver.web.feedback import feedback_routes
from receiver.web.slack_interactions import followups, slack_routes


def install_learning(app: web.Application) -> None:
    """Feedback API and form, Slack interactivity; after RESOURCES, so follow-ups end before the session."""
    app.cleanup_ctx.append(followups)
    app.add_routes([*feedback_routes(), *slack_routes()])
