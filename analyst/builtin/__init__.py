"""The built-in analyst: ranks anomalous series as causes and explains the alert without an LLM."""

from analyst.builtin.analyst import BuiltinAnalyst
from analyst.builtin.calibration import confidences_from_scores, expected_calibration_error
from analyst.builtin.categories import MetricFamily, categorize_series, metric_family
from analyst.builtin.diagnose import diagnose_evidence
from analyst.builtin.errors import DependencyGraphError, PlaybookError
from analyst.builtin.playbooks import Playbook, Playbooks, load_playbooks
from analyst.builtin.ranking import RankedCause, rank_candidate_causes
from analyst.builtin.topology import CallGraph, load_dependency_graph

__all__ = [
    "BuiltinAnalyst",
    "CallGraph",
    "DependencyGraphError",
    "MetricFamily",
    "Playbook",
    "PlaybookError",
    "Playbooks",
    "RankedCause",
    "categorize_series",
    "confidences_from_scores",
    "diagnose_evidence",
    "expected_calibration_error",
    "load_dependency_graph",
    "load_playbooks",
    "metric_family",
    "rank_candidate_causes",
]
