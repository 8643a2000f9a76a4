"""BuiltinAnalyst: the default backend, evidence-based and deterministic; needs no API key."""

from __future__ import annotations

import asyncio

from analyst.builtin.diagnose import diagnose_evidence
from analyst.builtin.playbooks import Playbooks, load_playbooks
from analyst.builtin.topology import load_dependency_graph, with_dependency_graph
from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence
from analyst.settings import AnalystSettings


class BuiltinAnalyst:
    """Runs `diagnose_evidence` in a worker thread; playbooks and dependency graph are loaded once."""

    name = "builtin"

    def __init__(self, settings: AnalystSettings | None = None) -> None:
        self.settings = settings or AnalystSettings()
        self.playbooks: Playbooks = load_playbooks(self.settings.playbooks_file)
        self.dependency_graph: dict[str, tuple[str, ...]] = (
            load_dependency_graph(self.settings.dependency_graph_file)
            if self.settings.dependency_graph_file
            else {}
        )

    def with_configured_topology(self, evidence: Evidence) -> Evidence:
        """Evidence whose topology also holds the configured dependency graph's edges (the union)."""
        return with_dependency_graph(evidence, self.dependency_graph)

    async def diagnose(self, evidence: Evidence) -> DiagnosisResult:
        return await asyncio.to_thread(
            diagnose_evidence,
            self.with_configured_topology(evidence),
            self.playbooks,
            max_alternatives=self.settings.max_alternatives,
        )
