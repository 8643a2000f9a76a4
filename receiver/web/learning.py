"""Feedback and memory on the HTTP edge: one call from `build_app` adds their routes and context."""

from __future__ import annotations

from aiohttp import web

from receiver.web.feedback import feedback_routes, incident_learning_html, overview_accuracy_html
from receiver.web.keys import INCIDENT_EXTRAS, OVERVIEW_EXTRAS
from receiver.web.slack_interactions import followups, slack_routes


def install_learning(app: web.Application) -> None:
    """Feedback API and form (also on the incident page), Slack interactivity; after RESOURCES, so
    follow-ups end before the session."""
    app.cleanup_ctx.append(followups)
    app[INCIDENT_EXTRAS].append(incident_learning_html)
    app[OVERVIEW_EXTRAS].append(overview_accuracy_html)
    app.add_routes([*feedback_routes(), *slack_routes()])
