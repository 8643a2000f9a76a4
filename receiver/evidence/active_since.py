"""When an alert's condition began to hold: Prometheus' `ALERTS_FOR_STATE`.

Prometheus sends `startsAt` when an alert fires, after its rule's `for:`. At every evaluation of an active
alert it also writes `ALERTS_FOR_STATE{alertname, <the alert's labels>}` with the time the alert became
active (pending) as the value: where its condition began, which is where a cause of it could begin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from receiver.evidence.promql import selector
from receiver.evidence.source import MetricSource, MetricSourceError, SeriesData
from receiver.models import Incident

FOR_STATE_METRIC = "ALERTS_FOR_STATE"
STEP_SECONDS = 60.0  # one point at startsAt (Prometheus' lookback finds the evaluation at or before it)


async def alert_active_since(
    incident: Incident, source: MetricSource, notes: list[str], max_hold: float = math.inf
) -> float | None:
    """When the alert of `incident` became active, or None: a scheduled detector's finding (no rule of
    Prometheus' behind it; an alert from a file or described by hand may have one), no rule writes the
    series (a rule without `for:` still does; VictoriaMetrics' vmalert too), the source failed (noted), or
    it was more than `max_hold` seconds before it fired (noted: beyond the history the window may reach)."""
    if incident.source == "detector":
        return None
    query = selector({"alertname": incident.alertname}, FOR_STATE_METRIC)
    try:
        found = await source.query_range(query, incident.starts_at, incident.starts_at, STEP_SECONDS)
    except MetricSourceError as exc:
        notes.append(f"when the alert became active is unknown ({FOR_STATE_METRIC}: {exc})")
        return None
    active = active_since(found, incident.labels, incident.starts_at)
    if active is not None and incident.starts_at - active > max_hold:
        notes.append(
            f"the alert became active {(incident.starts_at - active) / 60:.0f} min before it fired, further"
            f" back than the history can reach for it ({max_hold:g} s: context.max_lookback_seconds less the"
            " history a cause there needs)"
        )
        return None
    return active


def active_since(found: Sequence[SeriesData], labels: Mapping[str, str], starts_at: float) -> float | None:
    """The activation time in the `ALERTS_FOR_STATE` series of this alert: the one whose labels all agree
    with the alert's (Alertmanager's also carry the external labels), the most specific when several do.
    A value after `startsAt` belongs to another activation and is not used."""
    own = [s for s in found if all(labels.get(k) == v for k, v in s.labels.items() if k != "__name__")]
    for series in sorted(own, key=lambda s: -len(s.labels)):
        values = [float(v) for v in series.values if math.isfinite(v)]
        if values and 0 < values[-1] <= starts_at:
            return values[-1]
    return None
