"""Refuse cross-origin writes from browsers (CSRF): a page on another site must not be able to make an
SRE's browser, which holds the receiver's Basic credentials, add rules, judge diagnoses or reload. And,
while the receiver listens on loopback only, refuse the API, the workbench and reload under any other
name (DNS rebinding: a site whose name resolves to 127.0.0.1 would read and write them as its own origin).

The check is Go 1.25's `http.CrossOriginProtection`: safe methods (GET, HEAD, OPTIONS) always pass; a
request from a trusted origin passes; else `Sec-Fetch-Site` decides where the browser sends it
(`same-origin` or `none` pass, anything else is refused); without it, an `Origin` must name this host.
A request with neither header is not from a browser (Alertmanager, Slack, curl, scripts) and passes.

Reads are held to the same fetch metadata on the API and the workbench (`cross_site_load`): another site's
page may link to them (a navigation) but not load them as an image, script or fetch, which would run the
PromQL of `/ui/series.json` with the browser's credentials.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping
from urllib.parse import urlsplit

from aiohttp import web

from receiver.web.json_errors import error_response
from receiver.web.keys import SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased (what a browser sends as `Origin`); "" if unparsable."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # "http://[::1" and the like
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def refusal(method: str, headers: Mapping[str, str], host: str, trusted: Container[str]) -> str | None:
    """Why a request is refused as cross-origin, or None when it may go on."""
    if method in SAFE_METHODS:
        return None
    origin = headers.get("Origin")
    if origin is not None and origin.lower() in trusted:
        return None
    site = headers.get("Sec-Fetch-Site")
    if site is not None:
        if site in ("same-origin", "none"):
            return None
        return f"a {site} request from {origin or 'another site'} may not change anything here"
    if origin is None:
        return None
    if origin_of(origin).partition("://")[2] == host.lower():
        return None
    return f"a request from {origin} may not change anything on {host}"


def is_loopback(host: str) -> bool:
    """Whether a host name or address (no port; IPv6 with or without brackets) names this machine only."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """The name in a Host header, without its port (`[::1]:9099` -> `::1`)."""
    try:
        return (urlsplit(f"//{host}").hostname or "").lower()
    except ValueError:  # a Host header that is no host ("[::1", "a]b")
        return ""


GUARDED = ("/api/", "/ui", "/-/reload")  # what a rebound page would read or change


def stranger(path: str, host: str, known: Iterable[str]) -> str | None:
    """Why a request to `path` under `host` is refused on a loopback-only listener (DNS rebinding), or
    None: loopback names, `known` names, and the webhook, health and metrics paths pass. (Browsers send no
    fetch metadata to a plain-HTTP name, so every client is held to this on the guarded paths.)"""
    if not path.startswith(GUARDED):
        return None
    name = host_name(host)
    if is_loopback(name) or name in known:
        return None
    return (
        f"this service listens on loopback only and does not answer under the name {name!r} (DNS"
        " rebinding); open it as localhost, or set web.external_url to the URL users open"
    )


def cross_site_load(
    path: str, method: str, headers: Mapping[str, str], trusted: Container[str]
) -> str | None:
    """Why a read of the API or the workbench that another site's page started is refused, or None: its own
    pages, a trusted origin's, a request without fetch metadata and a top-level navigation (a link from
    Slack or Grafana) pass (Fetch Metadata's resource isolation policy)."""
    if method not in SAFE_METHODS or not path.startswith(GUARDED):
        return None
    site = headers.get("Sec-Fetch-Site")
    if site in (None, "same-origin", "none") or (headers.get("Origin") or "").lower() in trusted:
        return None
    if headers.get("Sec-Fetch-Mode") == "navigate" and headers.get("Sec-Fetch-Dest") in (None, "document"):
        return None
    return f"a {site} page may not load {path} (open it by following a link instead)"


@web.middleware
async def refuse_cross_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """421 under a stranger's name on a loopback listener; 403 for a browser's write, or load of the API or
    the workbench, that another site started (see the module's doc)."""
    settings = request.app[SETTINGS].web
    trusted = {origin_of(o) for o in settings.trusted_origins}
    if settings.external_url:
        trusted.add(origin_of(settings.external_url))
    if is_loopback(settings.host):
        known = {host_name(o.partition("://")[2]) for o in trusted}
        why = stranger(request.path, request.host, known)
        if why is not None:
            return error_response(421, f"request refused: {why}")
    why = refusal(request.method, request.headers, request.host, trusted) or cross_site_load(
        request.path, request.method, request.headers, trusted
    )
    if why is not None:
        return error_response(403, f"cross-origin request refused: {why}")
    return await handler(request)
