"""Jinja2 templates (autoescaped), the workbench's static files and its Content-Security-Policy."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup, escape

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/ui/static/"
# A static URL carries its file's content hash (`?v=`, see static_url): such an answer may be kept for a year,
# as a changed file gets a new URL. Anything else under the prefix (no or a stale `v`, a 404) is revalidated.
STATIC_MAX_AGE = 365 * 86400
STATIC_IMMUTABLE = f"public, max-age={STATIC_MAX_AGE}, immutable"
STATIC_REVALIDATE = "no-cache"
# Nothing inline: scripts, styles and data come from this origin only; no frames, no plugins.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Everything else (JSON, metrics, health, plain-text errors) is data: a browser that opens it runs nothing.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def relative_time(ts: float | None, now: float | None = None) -> str:
    """`3m ago`, `in 2h` (None: `-`)."""
    if not ts:
        return "-"
    delta = (now or time.time()) - ts
    text = duration(abs(delta))
    return f"{text} ago" if delta >= 0 else f"in {text}"


def duration(seconds: float | None) -> str:
    """`0.8s`, `45s`, `12m`, `3h 5m`, `2d 4h` (tenths under 10 s: a receiver's time to diagnosis)."""
    if seconds is None:
        return "-"
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s" if s < 600 and s % 60 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


# A name is matched from its first character only (the look-behind): tried from every character of a long
# word, the search took time quadratic in its length (a 30 kB label value held the event loop for 6 s).
_SELECTOR = re.compile(r"(?<![\w:])([A-Za-z_:][\w:]*)\{[^{}]*\}")


def brief(text: str | None) -> str:
    """Text with every `metric{labels...}` selector shortened to `metric` (the full one is on the page)."""
    return _SELECTOR.sub(r"\1", text or "")


def number(x: float | None) -> str:
    """A value in G / M / k from 10,000 up (`100.01M`), else with 4 significant digits; empty for None."""
    if x is None:
        return ""
    for unit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= max(unit, 1e4):
            return f"{x / unit:.5g}{suffix}"
    return f"{x:.4g}"


def percent(fraction: float | None) -> str:
    """A signed change as a percentage with 3 significant digits (`+48.3%`, `+0.034%`)."""
    return "" if fraction is None else f"{fraction * 100:+.3g}%"


def hms(ts: float | None) -> str:
    """The time of day in UTC, `07:02:00` (the pages say UTC next to it, as the charts draw UTC too)."""
    return time.strftime("%H:%M:%S", time.gmtime(ts)) if ts else "-"


def utc(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else "-"


_versions: dict[tuple[str, int, int], str] = {}


def static_version(name: str) -> str | None:
    """The first 12 hex digits of the SHA-256 of static file `name` (`uplot/uPlot.iife.min.js`), None when
    there is no such file under STATIC_DIR. Computed once per file content (size and mtime)."""
    path = (STATIC_DIR / name).resolve()
    if not path.is_relative_to(STATIC_DIR.resolve()):
        return None
    try:
        stat = path.stat()
    except (OSError, ValueError):
        return None
    if not path.is_file():
        return None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _versions:
        _versions[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return _versions[key]


def static_url(name: str) -> str:
    """`/ui/static/<name>?v=<content hash>`: a new URL whenever the file changes, so it may be cached long."""
    version = static_version(name)
    return f"{STATIC_PREFIX}{name}" + (f"?v={version}" if version else "")


# Explicit embeddings, overrides and isolates: U+202E turned a label value `\u202eevil` into "live" on screen,
# and an alert name's leaked into the diagnosis sentence that quotes it, which then read backwards.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def visible_bidi(value: Any) -> Any:
    """Every template value's text with its bidirectional controls shown (`[U+202E]`) instead of obeyed
    (the templates' `finalize`); Markup, what a template marks `verbatim`, is left as it is."""
    if isinstance(value, str) and not isinstance(value, Markup) and BIDI_CONTROLS.search(value):
        return BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group()):04X}]", value)
    return value


def verbatim(value: Any) -> Markup:
    """A value the page's script reads back (a chart's query and labels, a form's field): escaped, never
    rewritten by `visible_bidi`, so it still names the series it names."""
    return escape(value)


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("receiver.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        finalize=visible_bidi,
    )
    filters = (relative_time, duration, utc, hms, brief, number, percent, verbatim)
    env.filters.update({f.__name__: f for f in filters}, reltime=relative_time)
    env.globals["static_url"] = static_url


def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    """A workbench page saying what went wrong (no such incident, no such page), with its navigation."""
    context = {"title": title, "message": message}
    return aiohttp_jinja2.render_template("error.html", request, context, status=status)


def _static_cache_control(request: web.Request, status: int) -> str:
    """Long caching only for a found file asked for under its current version; revalidate the rest."""
    if status not in (200, 206, 304):  # a 404 (or any error) is never kept
        return STATIC_REVALIDATE
    version = request.query.get("v")
    current = static_version(request.path.removeprefix(STATIC_PREFIX))
    return STATIC_IMMUTABLE if version and version == current else STATIC_REVALIDATE


def _set_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(STATIC_PREFIX):
        response.headers["Cache-Control"] = _static_cache_control(request, response.status)
    else:
        response.headers.setdefault("Cache-Control", "no-store")


def _set_data_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", DATA_CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CSP and friends on every answer (a raised HTTP error too): the workbench's policy under /ui, with long
    caching only for the versioned static files; elsewhere one that lets a browser show the data only."""
    set_headers = _set_headers if request.path.startswith("/ui") else _set_data_headers
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        set_headers(request, exc)
        raise
    set_headers(request, response)
    return response


def static_routes() -> list[web.AbstractRouteDef]:
    return [web.static(STATIC_PREFIX.rstrip("/"), STATIC_DIR)]
