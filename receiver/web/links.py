"""Links out of the workbench: Prometheus graph, Grafana Explore, Alertmanager silence, Slack thread.

Pure functions of a base URL and the incident's data; only http(s) URLs are ever returned, so a label or
annotation holding `javascript:` cannot become a link, and a base's credentials (`http://user:pass@prom`)
are never part of one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from receiver.evidence.promql import label_name


def safe_url(url: str | None) -> str | None:
    """The URL if it is absolute http(s), else None (a runbook_url of `javascript:...` is not a link)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def link_base(base: str) -> str:
    """A base URL for links: without the `user:password@` of its authority (shown to every viewer) and
    without a trailing slash."""
    parts = urlsplit(base.strip())
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host)).rstrip("/")


def prometheus_graph(base: str, expr: str, start: float, end: float) -> str | None:
    """`/graph` (served by the classic and the new Prometheus UI) over [start, end]."""
    span = max(60, int(end - start))
    query = urlencode(
        {
            "g0.expr": expr,
            "g0.tab": "0",
            "g0.range_input": f"{span}s",
            "g0.end_input": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(end)),
        }
    )
    return safe_url(f"{link_base(base)}/graph?{query}")


def grafana_explore(base: str | None, expr: str, start: float, end: float) -> str | None:
    """Grafana Explore (panes format of Grafana 10+) on the default data source."""
    if not base:
        return None
    pane = {
        "wb": {
            "queries": [{"refId": "A", "expr": expr}],
            "range": {"from": str(int(start * 1000)), "to": str(int(end * 1000))},
        }
    }
    query = urlencode({"schemaVersion": "1", "panes": json.dumps(pane, separators=(",", ":"))})
    return safe_url(f"{link_base(base)}/explore?{query}")


def alertmanager_silence(base: str | None, labels: Mapping[str, str]) -> str | None:
    """Alertmanager's new-silence form with one equality matcher per label of the alert (a name that is not
    an identifier quoted, as Alertmanager 0.27+ reads UTF-8 names)."""
    if not base:
        return None
    matchers = ",".join(f"{label_name(k)}={json.dumps(v)}" for k, v in sorted(labels.items()))
    return safe_url(f"{link_base(base)}/#/silences/new?filter={quote('{' + matchers + '}', safe='')}")


def slack_thread(result: Mapping[str, object] | None) -> str | None:
    """The parent message of the incident's Slack thread (slack.com redirects to the workspace)."""
    if not result or not result.get("channel") or not result.get("ts"):
        return None
    channel, ts = str(result["channel"]), str(result["ts"]).replace(".", "")
    if not channel.isalnum() or not ts.isdigit():
        return None
    return f"https://slack.com/archives/{channel}/p{ts}"
