"""Diagnosis model: hypotheses and the DiagnosisResult the analyst returns.

These frozen dataclasses are the only definition of a diagnosis; `analyst.schema` reads and writes
them as JSON through a pydantic TypeAdapter (unknown keys are rejected).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import ConfigDict, with_config

_JSON = ConfigDict(extra="forbid")


class Category(StrEnum):
    TRAFFIC_SURGE = "traffic.surge"
    RESOURCE_CPU = "resource.cpu"
    RESOURCE_MEMORY = "resource.memory"
    RESOURCE_DISK = "resource.disk"
    RESOURCE_LIMITS = "resource.limits"  # a process's or host's own limits: file descriptors, processes
    NETWORK = "network"
    DEPENDENCY_DATABASE = "dependency.database"
    DEPENDENCY_SERVICE = "dependency.service"
    CHANGE_DEPLOYMENT = "change.deployment"
    MARKET_VOLATILITY = "market.volatility"
    MARKET_FUNDING = "market.funding"
    MARKET_LIQUIDITY = "market.liquidity"
    STRATEGY_DEGRADATION = "strategy.degradation"
    DATA_FEED = "data.feed"
    UNKNOWN = "unknown"


# Above this confidence a hypothesis is more likely than not: only then is it called "most likely".
LIKELY_CONFIDENCE = 0.5

ANALYSIS_STEPS = (
    "data_examination",
    "pattern_recognition",
    "hypothesis_formation",
    "evidence_evaluation",
    "root_cause_determination",
    "recommendations",
)


@with_config(_JSON)
@dataclass(frozen=True)
class Hypothesis:
    """A hypothesis as stored and served."""

    title: str
    category: Category
    suspect: str
    confidence: float
    supporting_evidence: tuple[str, ...] = ()
    contradicting_evidence: tuple[str, ...] = ()


@with_config(_JSON)
@dataclass(frozen=True)
class AnalysisStep:
    step: str
    findings: str


@with_config(_JSON)
@dataclass(frozen=True)
class DiagnosisResult:
    """The analyst's answer for one incident, as stored in SQLite and served by the API."""

    incident_id: str
    timestamp: float
    primary_hypothesis: Hypothesis
    alternative_hypotheses: tuple[Hypothesis, ...]
    executive_summary: str
    detailed_analysis: tuple[AnalysisStep, ...]
    immediate_actions: tuple[str, ...]
    preventive_measures: tuple[str, ...]
    monitoring_recommendations: tuple[str, ...]
    analysis_duration: float
    llm_model_used: str | None
    confidence_score: float
    backend: str = "builtin"
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    fallback_reason: str | None = None
    cached: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    recall: str | None = None  # memory: "seen 3 times since ...; last confirmed cause: ..."
