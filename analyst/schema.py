"""JSON form of DiagnosisResult: a lossless dict round trip, and the strict schemas.

`diagnosis_to_dict` / `diagnosis_from_dict` serve storage and the API through a TypeAdapter over the
dataclasses of `analyst.diagnosis` (lenient: any step names, any confidence). `LLMAnswer` is the one
separate model: what an LLM must produce (strict: the six steps, confidences in 0..1). Its JSON schema, sent
to the model, allows nothing else; reading an answer forgives what has one meaning only: extra keys are
ignored, a confidence of 85 or "85%" is 0.85, a category in other case or unknown is its own or `unknown`.
Run `python -m analyst.schema > docs/diagnosis.schema.json` to regenerate the documented schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, field_validator

from analyst.diagnosis import ANALYSIS_STEPS, Category, DiagnosisResult

_STRICT_DROPPED_KEYS = ("title", "default", "minimum", "maximum", "minItems", "maxItems", "minLength")

DIAGNOSIS: TypeAdapter[DiagnosisResult] = TypeAdapter(DiagnosisResult)
"""Reads and writes the `DiagnosisResult` dataclasses as JSON (storage, API, reports)."""


def percent_as_fraction(value: Any) -> Any:
    """A confidence as a fraction: 85 (a number in (1, 100]) or "85%" is 0.85; anything else is left for
    validation to accept (0.85, "0.85") or refuse (150, "high")."""
    number = value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text.removesuffix("%"))
        except ValueError:
            return value
        if text.endswith("%"):
            return number / 100
    if isinstance(number, int | float) and not isinstance(number, bool) and 1 < number <= 100:
        return number / 100
    return number


Confidence = Annotated[float, Field(ge=0.0, le=1.0), BeforeValidator(percent_as_fraction)]
"""A confidence in 0..1 as a model answers it (a percentage read as the fraction it means)."""

_CATEGORIES = frozenset(category.value for category in Category)


class LLMHypothesis(BaseModel):
    """A hypothesis as an LLM must write it: confidence within 0..1."""

    model_config = ConfigDict(extra="ignore")

    title: str
    category: Category
    suspect: str
    confidence: Confidence
    supporting_evidence: list[str]
    contradicting_evidence: list[str]

    @field_validator("category", mode="before")
    @classmethod
    def _category_or_unknown(cls, value: Any) -> Any:
        """A category in any case is that category; a name the schema does not know is its catch-all."""
        if not isinstance(value, str):
            return value
        folded = value.strip().lower()
        return folded if folded in _CATEGORIES else Category.UNKNOWN.value


class LLMAnalysisStep(BaseModel):
    model_config = ConfigDict(extra="ignore")

    step: str = Field(json_schema_extra={"enum": list(ANALYSIS_STEPS)})
    findings: str

    @field_validator("step")
    @classmethod
    def _known_step(cls, value: str) -> str:
        if value not in ANALYSIS_STEPS:
            raise ValueError(f"unknown analysis step {value!r}; expected one of {ANALYSIS_STEPS}")
        return value


class LLMAnswer(BaseModel):
    """The part of a diagnosis an LLM writes; the analyst adds ids, timings and accounting."""

    model_config = ConfigDict(extra="ignore")

    primary_hypothesis: LLMHypothesis
    alternative_hypotheses: list[LLMHypothesis]
    executive_summary: str
    detailed_analysis: list[LLMAnalysisStep]
    immediate_actions: list[str]
    preventive_measures: list[str]
    monitoring_recommendations: list[str]
    confidence_score: Confidence

    @field_validator("detailed_analysis")
    @classmethod
    def _all_six_steps(cls, steps: list[LLMAnalysisStep]) -> list[LLMAnalysisStep]:
        names = [s.step for s in steps]
        if sorted(names) != sorted(ANALYSIS_STEPS):
            raise ValueError(f"detailed_analysis must contain each of {ANALYSIS_STEPS} once, got {names}")
        return sorted(steps, key=lambda s: ANALYSIS_STEPS.index(s.step))


def diagnosis_to_dict(result: DiagnosisResult) -> dict[str, Any]:
    """JSON-ready dict of a DiagnosisResult (enums as values, tuples as lists)."""
    return DIAGNOSIS.dump_python(result, mode="json")


def diagnosis_from_dict(data: Mapping[str, Any]) -> DiagnosisResult:
    """Inverse of `diagnosis_to_dict`; raises pydantic.ValidationError on a malformed record."""
    return DIAGNOSIS.validate_python(dict(data))


def diagnosis_json_schema() -> dict[str, Any]:
    """Strict JSON Schema of a stored/served DiagnosisResult (every field required, no extras)."""
    return strict_json_schema(DiagnosisResult, "DiagnosisResult")


def llm_answer_json_schema() -> dict[str, Any]:
    """Strict JSON Schema of the LLM's answer, accepted by OpenAI strict mode and Anthropic JSON outputs."""
    return strict_json_schema(LLMAnswer, "LLMAnswer")


def strict_json_schema(model: type[Any], title: str) -> dict[str, Any]:
    """Pydantic's schema of `model` made strict-compatible: all properties required, no extras, no bounds."""
    schema = _make_strict(TypeAdapter(model).json_schema())
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
