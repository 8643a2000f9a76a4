"""DiagnosisResult <-> dict round trip and the strict JSON Schemas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest

from analyst.diagnosis import ANALYSIS_STEPS, AnalysisStep, Category, DiagnosisResult, Hypothesis
from analyst.schema import (
    LLMAnswer,
    diagnosis_from_dict,
    diagnosis_json_schema,
    diagnosis_to_dict,
    llm_answer_json_schema,
)

REPO = Path(__file__).resolve().parents[2]


def sample_result(**overrides: Any) -> DiagnosisResult:
    fields: dict[str, Any] = {
        "incident_id": "inc-1",
        "timestamp": 1_700_000_000.5,
        "primary_hypothesis": Hypothesis(
            "Connection pool exhausted", Category.DEPENDENCY_DATABASE, "postgres", 0.8, ("pool at 100%",), ()
        ),
        "alternative_hypotheses": (
            Hypothesis("Traffic surge", Category.TRAFFIC_SURGE, "frontend", 0.3, (), ("rps flat",)),
        ),
        "executive_summary": "The database pool ran out.",
        "detailed_analysis": tuple(AnalysisStep(step, f"{step} done") for step in ANALYSIS_STEPS),
        "immediate_actions": ("raise pool size",),
        "preventive_measures": ("alert on pool usage",),
        "monitoring_recommendations": ("graph pool wait time",),
        "analysis_duration": 1.25,
        "llm_model_used": "claude-sonnet-5-5",
        "confidence_score": 0.8,
        "backend": "anthropic",
        "tokens_in": 900,
        "tokens_out": 400,
        "cost_usd": 0.0058,
        "fallback_reason": None,
        "cached": True,
        "notes": ("verified",),
    }
    fields.update(overrides)
    return DiagnosisResult(**fields)


def test_round_trip_is_lossless() -> None:
    result = sample_result()
    assert diagnosis_from_dict(diagnosis_to_dict(result)) == result


def test_round_trip_survives_json_text() -> None:
    result = sample_result(llm_model_used=None, fallback_reason="timeout", backend="builtin")
    assert diagnosis_from_dict(json.loads(json.dumps(diagnosis_to_dict(result)))) == result


def test_dict_uses_plain_json_types() -> None:
    data = diagnosis_to_dict(sample_result())
    assert data["primary_hypothesis"]["category"] == "dependency.database"
    assert type(data["primary_hypothesis"]["category"]) is str
    assert isinstance(data["immediate_actions"], list)


def test_from_dict_rejects_unknown_category() -> None:
    data = diagnosis_to_dict(sample_result())
    data["primary_hypothesis"]["category"] = "cosmic.rays"
    with pytest.raises(pydantic.ValidationError):
        diagnosis_from_dict(data)


def _objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append(node)
        for value in node.values():
            found.extend(_objects(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_objects(value))
    return found


@pytest.mark.parametrize("schema", [diagnosis_json_schema(), llm_answer_json_schema()])
def test_schema_is_strict_compatible(schema: dict[str, Any]) -> None:
    objects = _objects(schema)
    assert objects
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])
    text = json.dumps(schema)
    assert '"minimum"' not in text and '"default"' not in text


def test_schema_lists_every_dataclass_field() -> None:
    assert set(diagnosis_json_schema()["properties"]) == set(DiagnosisResult.__dataclass_fields__)


def test_llm_answer_requires_all_six_steps() -> None:
    data = diagnosis_to_dict(sample_result())
    answer = {k: data[k] for k in LLMAnswer.model_fields}
    answer["detailed_analysis"] = answer["detailed_analysis"][:5]
    with pytest.raises(pydantic.ValidationError):
        LLMAnswer.model_validate(answer)


def test_committed_schema_file_is_current() -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "analyst.schema"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(generated) == json.loads((REPO / "docs" / "diagnosis.schema.json").read_text())


def test_stored_results_need_not_follow_the_llm_rules() -> None:
    result = sample_result(detailed_analysis=(AnalysisStep("custom", "x"),), confidence_score=1.0000001)
    assert diagnosis_from_dict(diagnosis_to_dict(result)) == result
