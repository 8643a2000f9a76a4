"""Evidence from PromQL backends: the `MetricSource` protocol, `PrometheusSource`, `collect_alert_context`.

Exports are resolved lazily, so importing the settings (as the config loader does) stays cheap.
"""

from __future__ import annotations

from receiver.lazy_exports import lazy_getattr

_EXPORTS = {
    "MetricSource": "receiver.evidence.source",
    "MetricSourceError": "receiver.evidence.source",
    "SeriesData": "receiver.evidence.source",
    "RuleInfo": "receiver.evidence.source",
    "PrometheusSource": "receiver.evidence.prometheus",
    "AlertContext": "receiver.evidence.context",
    "collect_alert_context": "receiver.evidence.context",
    "fetch_alert_context": "receiver.evidence.context",
    "build_evidence": "receiver.evidence.context",
    "PrometheusSettings": "receiver.evidence.settings",
    "ContextSettings": "receiver.evidence.settings",
    "ContextQuery": "receiver.evidence.settings",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
