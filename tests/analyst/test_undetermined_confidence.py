"""A component leads by a change of no kind a category names ("Undetermined cause: X"): the ranking says
where, not what. Its confidence is capped as a symptom's is, and the summary does not call it most likely;
a leader whose change names its cause keeps its confidence."""

from __future__ import annotations

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.builtin.calibration import SELF_CAUSE_CEILING
from analyst.diagnosis import Category
from tests.analyst.grid_evidence import (
    ALERT_AT,
    CHANGED_AT,
    grid_evidence,
    grid_noise,
    grid_series,
    grid_step,
)


def _leader(metric: str) -> list:  # type: ignore[type-arg]
    return [
        grid_series("sink_lag_records", "sink", grid_step(100.0, 10.0, 1, 40_000.0), "alert"),
        grid_series(metric, "connect", grid_step(5.0, 0.5, 2, 400.0, CHANGED_AT - 5)),
        grid_series("process_resident_memory_bytes", "connect", grid_noise(4e8, 1e6, 3)),
        grid_series("process_resident_memory_bytes", "broker", grid_noise(8e8, 1e6, 4)),
        grid_series("jobs_processed_total", "worker", grid_noise(50.0, 2.0, 5)),
    ]


def test_an_undetermined_leader_is_not_called_most_likely() -> None:
    result = diagnose_evidence(
        grid_evidence(_leader("connector_task_queue_size"), alert_service="sink"),
        load_playbooks(None),
        now=ALERT_AT,
    )
    primary = result.primary_hypothesis
    assert primary.category is Category.UNKNOWN and primary.title == "Undetermined cause: connect", primary
    assert primary.confidence <= SELF_CAUSE_CEILING  # 0.97 before: a queue of no named kind, far ahead
    assert "most likely" not in result.executive_summary, result.executive_summary


def test_a_leader_whose_change_names_its_cause_keeps_its_confidence() -> None:
    result = diagnose_evidence(
        grid_evidence(_leader("container_cpu_usage_seconds_total"), alert_service="sink"),
        load_playbooks(None),
        now=ALERT_AT,
    )
    primary = result.primary_hypothesis
    assert primary.title == "CPU saturation: connect", primary
    assert primary.confidence > SELF_CAUSE_CEILING
