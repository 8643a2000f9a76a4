"""JSON form of DiagnosisResult: pydantic models, strict JSON Schemas and a lossless dict round trip.

`diagnosis_to_dict` / `diagnosis_from_dict` serve storage and the API (lenient: any step names, any
confidence); `llm_answer_json_schema` and `LLMAnswer` are what an LLM must produce (strict: the six
steps, confidences in 0..1).
Run `python -m analyst.schema > docs/diagnosis.schema.json` to regenerate the documented schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from analyst.diagnosis import ANALYSIS_STEPS, AnalysisStep, Category, DiagnosisResult, Hypothesis

_STRICT_DROPPED_KEYS = ("title", "default", "minimum", "maximum", "minItems", "maxItems", "minLength")


class HypothesisModel(BaseModel):
    """A hypothesis as stored and served."""

    model_config = ConfigDict(extra="forbid")

    title: str
    category: Category
    suspect: str
    confidence: float
    supporting_evidence: list[str]
    contradicting_evidence: list[str]

    @classmethod
    def from_hypothesis(cls, hypothesis: Hypothesis) -> HypothesisModel:
        return cls(
            title=hypothesis.title,
            category=hypothesis.category,
            suspect=hypothesis.suspect,
            confidence=hypothesis.confidence,
            supporting_evidence=list(hypothesis.supporting_evidence),
            contradicting_evidence=list(hypothesis.contradicting_evidence),
        )

    def to_hypothesis(self) -> Hypothesis:
        return Hypothesis(
            title=self.title,
            category=Category(self.category),
            suspect=self.suspect,
            confidence=self.confidence,
            supporting_evidence=tuple(self.supporting_evidence),
            contradicting_evidence=tuple(self.contradicting_evidence),
        )


class AnalysisStepModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str
    findings: str


class DiagnosisModel(BaseModel):
    """Every field of DiagnosisResult, as stored in SQLite and served by the API."""

    model_config = ConfigDict(extra="forbid")

    incident_id: str
    timestamp: float
    primary_hypothesis: HypothesisModel
    alternative_hypotheses: list[HypothesisModel]
    executive_summary: str
    detailed_analysis: list[AnalysisStepModel]
    immediate_actions: list[str]
    preventive_measures: list[str]
    monitoring_recommendations: list[str]
    analysis_duration: float
    llm_model_used: str | None
    confidence_score: float
    backend: str = "builtin"
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    fallback_reason: str | None = None
    cached: bool = False
    notes: list[str] = Field(default_factory=list)


class LLMHypothesis(HypothesisModel):
    """A hypothesis as an LLM must write it: confidence within 0..1."""

    confidence: float = Field(ge=0.0, le=1.0)


class LLMAnalysisStep(AnalysisStepModel):
    step: str = Field(json_schema_extra={"enum": list(ANALYSIS_STEPS)})

    @field_validator("step")
    @classmethod
    def _known_step(cls, value: str) -> str:
        if value not in ANALYSIS_STEPS:
            raise ValueError(f"unknown analysis step {value!r}; expected one of {ANALYSIS_STEPS}")
        return value


class LLMAnswer(BaseModel):
    """The part of a diagnosis an LLM writes; the analyst adds ids, timings and accounting."""

    model_config = ConfigDict(extra="forbid")

    primary_hypothesis: LLMHypothesis
    alternative_hypotheses: list[LLMHypothesis]
    executive_summary: str
    detailed_analysis: list[LLMAnalysisStep]
    immediate_actions: list[str]
    preventive_measures: list[str]
    monitoring_recommendations: list[str]
    confidence_score: float = Field(ge=0.0, le=1.0)

    @field_validator("detailed_analysis")
    @classmethod
    def _all_six_steps(cls, steps: list[LLMAnalysisStep]) -> list[LLMAnalysisStep]:
        names = [s.step for s in steps]
        if sorted(names) != sorted(ANALYSIS_STEPS):
            raise ValueError(f"detailed_analysis must contain each of {ANALYSIS_STEPS} once, got {names}")
        return sorted(steps, key=lambda s: ANALYSIS_STEPS.index(s.step))


def diagnosis_to_dict(result: DiagnosisResult) -> dict[str, Any]:
    """JSON-ready dict of a DiagnosisResult (enums as values, tuples as lists)."""
    return {
        "incident_id": result.incident_id,
        "timestamp": result.timestamp,
        "primary_hypothesis": _hypothesis_to_dict(result.primary_hypothesis),
        "alternative_hypotheses": [_hypothesis_to_dict(h) for h in result.alternative_hypotheses],
        "executive_summary": result.executive_summary,
        "detailed_analysis": [{"step": s.step, "findings": s.findings} for s in result.detailed_analysis],
        "immediate_actions": list(result.immediate_actions),
        "preventive_measures": list(result.preventive_measures),
        "monitoring_recommendations": list(result.monitoring_recommendations),
        "analysis_duration": result.analysis_duration,
        "llm_model_used": result.llm_model_used,
        "confidence_score": result.confidence_score,
        "backend": result.backend,
        "tokens_in": result.tokens_in,
        "tokens_out": result.tokens_out,
        "cost_usd": result.cost_usd,
        "fallback_reason": result.fallback_reason,
        "cached": result.cached,
        "notes": list(result.notes),
    }


def diagnosis_from_dict(data: Mapping[str, Any]) -> DiagnosisResult:
    """Inverse of `diagnosis_to_dict`; raises pydantic.ValidationError on a malformed record."""
    model = DiagnosisModel.model_validate(dict(data))
    return DiagnosisResult(
        incident_id=model.incident_id,
        timestamp=model.timestamp,
        primary_hypothesis=model.primary_hypothesis.to_hypothesis(),
        alternative_hypotheses=tuple(h.to_hypothesis() for h in model.alternative_hypotheses),
        executive_summary=model.executive_summary,
        detailed_analysis=tuple(AnalysisStep(s.step, s.findings) for s in model.detailed_analysis),
        immediate_actions=tuple(model.immediate_actions),
        preventive_measures=tuple(model.preventive_measures),
        monitoring_recommendations=tuple(model.monitoring_recommendations),
        analysis_duration=model.analysis_duration,
        llm_model_used=model.llm_model_used,
        confidence_score=model.confidence_score,
        backend=model.backend,
        tokens_in=model.tokens_in,
        tokens_out=model.tokens_out,
        cost_usd=model.cost_usd,
        fallback_reason=model.fallback_reason,
        cached=model.cached,
        notes=tuple(model.notes),
    )


def diagnosis_json_schema() -> dict[str, Any]:
    """Strict JSON Schema of a stored/served DiagnosisResult (every field required, no extras)."""
    return strict_json_schema(DiagnosisModel, "DiagnosisResult")


def llm_answer_json_schema() -> dict[str, Any]:
    """Strict JSON Schema of the LLM's answer, accepted by OpenAI strict mode and Anthropic JSON outputs."""
    return strict_json_schema(LLMAnswer, "LLMAnswer")


def _hypothesis_to_dict(hypothesis: Hypothesis) -> dict[str, Any]:
    return {
        "title": hypothesis.title,
        "category": Category(hypothesis.category).value,
        "suspect": hypothesis.suspect,
        "confidence": hypothesis.confidence,
        "supporting_evidence": list(hypothesis.supporting_evidence),
        "contradicting_evidence": list(hypothesis.contradicting_evidence),
    }


def strict_json_schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    """Pydantic's schema made strict-compatible: all properties required, no extras, no bounds."""
    schema = _make_strict(model.model_json_schema())
    return {"title": title, **schema}


def _make_strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_make_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _make_strict(v) for k, v in node.items() if k not in _STRICT_DROPPED_KEYS}
    if "properties" in out:
        out["properties"] = {name: _make_strict(prop) for name, prop in node["properties"].items()}
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    if "$defs" in out:
        out["$defs"] = {name: _make_strict(d) for name, d in node["$defs"].items()}
    nullable = _nullable_primitive(out)
    return nullable if nullable is not None else out


def _nullable_primitive(node: dict[str, Any]) -> dict[str, Any] | None:
    """`anyOf: [{type: X}, {type: null}]` -> `type: [X, "null"]`, the form strict mode documents."""
    options = node.get("anyOf")
    if not isinstance(options, list) or not all(set(o) == {"type"} for o in options):
        return None
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    return {**rest, "type": [o["type"] for o in options]}


def main() -> None:
    print(json.dumps(diagnosis_json_schema(), indent=2, sort_keys=False))


if __name__ == "__main__":
    main()
