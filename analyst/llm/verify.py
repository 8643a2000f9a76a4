"""Optional second pass: the model re-scores its own hypotheses. It may only lower or reorder, never raise."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict

from analyst.diagnosis import DiagnosisResult
from analyst.schema import Confidence, strict_json_schema


class RankedHypothesis(BaseModel):
    model_config = ConfigDict(extra="ignore")

    index: int
    confidence: Confidence
    reason: str


class VerificationAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ranking: list[RankedHypothesis]
    confidence_score: Confidence
    comment: str


def verification_json_schema() -> dict[str, Any]:
    return strict_json_schema(VerificationAnswer, "Verification")


def apply_verification(result: DiagnosisResult, verdict: VerificationAnswer) -> DiagnosisResult:
    """Reorder hypotheses as ranked and take min(old, new) of every confidence.

    Unknown or repeated indices are ignored and unranked hypotheses keep their relative order at the
    end, so the verifier can neither add, drop nor strengthen a hypothesis.
    """
    hypotheses = [result.primary_hypothesis, *result.alternative_hypotheses]
    proposed: dict[int, float] = {}
    for item in verdict.ranking:
        if 0 <= item.index < len(hypotheses) and item.index not in proposed:
            proposed[item.index] = item.confidence
    order = [*proposed, *(i for i in range(len(hypotheses)) if i not in proposed)]
    rescored = [
        replace(h, confidence=min(h.confidence, proposed.get(i, h.confidence)))
        for i, h in enumerate(hypotheses)
    ]
    ranked = [rescored[i] for i in order]
    return replace(
        result,
        primary_hypothesis=ranked[0],
        alternative_hypotheses=tuple(ranked[1:]),
        confidence_score=min(result.confidence_score, verdict.confidence_score),
        notes=(*result.notes, f"verified: {verdict.comment[:300]}"),
    )
