"""The plug-in point for diagnosis backends."""

from __future__ import annotations

from typing import Protocol

from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence


class Analyst(Protocol):
    """Turns evidence into a diagnosis. Implementations must not block the event loop."""

    name: str

    async def diagnose(self, evidence: Evidence) -> DiagnosisResult: ...
