"""Token and cost accounting for LLM calls, exported as Prometheus counters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from analyst.llm.settings import ModelPrice


def cost_usd(prices: Mapping[str, ModelPrice], model: str, tokens_in: int, tokens_out: int) -> float | None:
    """USD for one call from the price table (per 1M tokens); None when the model has no price."""
    price = prices.get(model)
    if price is None:
        return None
    return (tokens_in * price.input + tokens_out * price.output) / 1_000_000


@dataclass(frozen=True)
class LLMMetrics:
    requests: Counter
    tokens: Counter
    cost: Counter
    diagnoses: Counter

    def record_request(self, backend: str, model: str, outcome: str) -> None:
        self.requests.labels(backend=backend, model=model, outcome=outcome).inc()

    def record_usage(self, backend: str, model: str, tokens_in: int, tokens_out: int, usd: float) -> None:
        self.tokens.labels(backend=backend, model=model, direction="input").inc(tokens_in)
        self.tokens.labels(backend=backend, model=model, direction="output").inc(tokens_out)
        self.cost.labels(backend=backend, model=model).inc(usd)


def create_llm_metrics(registry: CollectorRegistry | None = None) -> LLMMetrics:
    """Counters on `registry` (a private one when None, so tests and apps never share state)."""
    registry = registry if registry is not None else CollectorRegistry()
    return LLMMetrics(
        requests=Counter(
            "alert_analyst_llm_requests",
            "LLM API requests, by outcome (ok, invalid_output, truncated, refused, timeout, rate_limited,"
            " error).",
            ["backend", "model", "outcome"],
            registry=registry,
        ),
        tokens=Counter(
            "alert_analyst_llm_tokens",
            "LLM tokens reported by the API, by direction (input, output).",
            ["backend", "model", "direction"],
            registry=registry,
        ),
        cost=Counter(
            "alert_analyst_llm_cost_usd",
            "Estimated LLM cost in USD, from usage and the llm.prices table.",
            ["backend", "model"],
            registry=registry,
        ),
        diagnoses=Counter(
            "alert_analyst_llm_diagnoses",
            "Diagnoses by how they were produced (llm, cached, fallback).",
            ["backend", "model", "source"],
            registry=registry,
        ),
    )
