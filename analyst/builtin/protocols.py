"""Client libraries' series and the servers they talk to, by the metric names each side's exporter uses.

A Kafka producer's `kafka_producer_record_queue_time_avg` rises and its
`kafka_producer_buffer_available_bytes` falls when the brokers take longer to acknowledge: the client's
wait on its servers, as a client's outbound latency is, not a resource of its own running out. Its labels
name no broker (`client_id` only), but the series of the brokers in the same evidence say which components
serve that protocol: the client calls them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from analyst.evidence import SeriesEvidence


@dataclass(frozen=True)
class Protocol:
    """How the exporters of one protocol's clients and servers name their series. `waits`: the clients'
    latency and queue series are their wait on the servers (a Kafka producer's record queue time), not a
    resource of their own that can run out (a JDBC pool's connections, sized by the client, can)."""

    clients: re.Pattern[str]
    servers: re.Pattern[str]
    waits: bool


# The clients: Kafka's Java client as Micrometer and the JMX exporter name it; Lettuce for Redis; a JDBC
# pool (HikariCP), Go's database/sql, OpenTelemetry's `db.client.*`. The servers: Kafka's brokers (JMX
# exporter), redis_exporter, postgres_exporter, mysqld_exporter, PgBouncer's exporter.
PROTOCOLS: Mapping[str, Protocol] = {
    "kafka": Protocol(
        re.compile(r"kafka_(producer|consumer)_"),
        re.compile(r"kafka_(server|log|controller|network|cluster)_"),
        waits=True,
    ),
    "redis": Protocol(re.compile(r"lettuce_"), re.compile(r"redis_"), waits=True),
    "sql": Protocol(
        re.compile(r"hikaricp_|go_sql_|db_client_"),
        re.compile(r"(pg|postgres|mysql|mysqld|mssql|pgbouncer)_"),
        waits=False,
    ),
}


@functools.lru_cache(maxsize=8192)
def client_protocol(metric: str) -> str | None:
    """The protocol whose client library names a series `metric`, if any."""
    return next((name for name, p in PROTOCOLS.items() if p.clients.match(metric)), None)


def waits_on_servers(metric: str) -> bool:
    """Whether a series `metric` is a client's wait on its servers (`Protocol.waits`)."""
    return (protocol := client_protocol(metric)) is not None and PROTOCOLS[protocol].waits


@functools.lru_cache(maxsize=8192)
def server_protocol(metric: str) -> str | None:
    """The protocol whose servers' exporter names a series `metric`, if any (not a client's series)."""
    if client_protocol(metric) is not None:
        return None
    return next((name for name, p in PROTOCOLS.items() if p.servers.match(metric)), None)


def protocol_edges(series: Iterable[tuple[str | None, SeriesEvidence]]) -> dict[str, list[str]]:
    """Caller -> callees: each component with a protocol's client series calls every component with that
    protocol's server series (`series`: each with its component)."""
    clients: dict[str, set[str]] = {}
    servers: dict[str, set[str]] = {}
    for component, s in series:
        if not component:
            continue
        if (protocol := client_protocol(s.metric)) is not None:
            clients.setdefault(protocol, set()).add(component)
        elif (protocol := server_protocol(s.metric)) is not None:
            servers.setdefault(protocol, set()).add(component)
    edges: dict[str, set[str]] = {}
    for protocol, callers in clients.items():
        for caller in callers:
            edges.setdefault(caller, set()).update(servers.get(protocol, set()) - {caller})
    return {caller: sorted(callees) for caller, callees in sorted(edges.items()) if callees}
