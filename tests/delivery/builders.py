"""Small builders for the dataclasses the delivery service consumes."""

from __future__ import annotations

from typing import Any

from analyst.diagnosis import AnalysisStep, Category, DiagnosisResult, Hypothesis
from receiver.models import Incident

STARTS_AT = 1_764_000_000.25
GROUP_KEY = '{}:{alertname="PnLDrawdownHigh"}'


def make_incident(**overrides: Any) -> Incident:
    labels = overrides.pop("labels", None) or {
        "alertname": overrides.get("alertname", "PnLDrawdownHigh"),
        "severity": overrides.get("severity", "critical"),
        "desk": "fx-spot",
        "book": "eurusd",
        "instance": "127.0.0.1:19100",
        "job": "trading-exporter",
    }
    fields: dict[str, Any] = {
        "id": "inc-1",
        "fingerprint": "d37bd3f33ce17d9d",
        "starts_at": STARTS_AT,
        "ends_at": None,
        "status": "firing",
        "alertname": "PnLDrawdownHigh",
        "severity": "critical",
        "labels": labels,
        "annotations": {"summary": "PnL drawdown 42% on fx-spot/eurusd"},
        "generator_url": "http://127.0.0.1:19090/graph?g0.expr=demo_pnl_drawdown_ratio+%3E+0.3&g0.tab=1",
        "group_key": GROUP_KEY,
        "source": "alertmanager",
        "first_seen": STARTS_AT + 1,
        "last_seen": STARTS_AT + 1,
        "stage": "diagnosed",
    }
    fields.update(overrides)
    return Incident(**fields)


def resolved(incident: Incident, after: float = 600.0) -> Incident:
    fields = {**incident.__dict__, "status": "resolved", "ends_at": incident.starts_at + after}
    return Incident(**fields)


def make_diagnosis(**overrides: Any) -> DiagnosisResult:
    fields: dict[str, Any] = {
        "incident_id": "inc-1",
        "timestamp": STARTS_AT + 30,
        "primary_hypothesis": Hypothesis(
            "Connection pool exhausted", Category.DEPENDENCY_DATABASE, "postgres", 0.82, ("pool at 100%",), ()
        ),
        "alternative_hypotheses": (
            Hypothesis("Volatility spike", Category.MARKET_VOLATILITY, "eurusd", 0.31, (), ("vol flat",)),
        ),
        "executive_summary": "Orders stalled because the DB pool ran out.",
        "detailed_analysis": (AnalysisStep("data_examination", "pool at 100%"),),
        "immediate_actions": ("Raise the pool size to 50", "Restart order-router"),
        "preventive_measures": ("Alert on pool usage",),
        "monitoring_recommendations": ("Graph pool wait time",),
        "analysis_duration": 1.5,
        "llm_model_used": None,
        "confidence_score": 0.82,
    }
    fields.update(overrides)
    return DiagnosisResult(**fields)
