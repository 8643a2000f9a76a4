"""Settings of the metric source and of alert-context collection (prometheus.*, context.*)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrometheusSettings(_Section):
    url: str = "http://127.0.0.1:9090"


class ContextSettings(_Section):
    lookback_seconds: float = 7200.0
