"""A counter of events that never moved (a container's restarts) and then moved by one event is one unit
of its resolution away, not 100 spreads: the 1 % floor made an unrelated UI's single restart during its
rollout the primary of a PnL drop that a funding-rate swing explained (`bench.exporters` pnl_funding). A
target that stops answering (`up`, a gauge) is still an event whatever its history."""

from __future__ import annotations

import numpy as np

from analyst.builtin.entities import rank_entities
from tests.analyst.grid_evidence import (
    CHANGED_AT,
    POINTS,
    grid_evidence,
    grid_series,
    grid_step,
)

RESTARTS = 'rate(kube_pod_container_status_restarts_total{pod="position-ui-5d4c6b7a8-r2n8m"}[90s])'


def _one_restart() -> np.ndarray:
    values = np.zeros(POINTS)
    values[CHANGED_AT : CHANGED_AT + 2] = 1 / 90  # one restart, in two rate() windows
    return values


def _pnl_drop(elsewhere: str, values: np.ndarray, query: str = "") -> list:  # type: ignore[type-arg]
    return [
        grid_series("pnl_usd_delta", "pnl-engine", grid_step(0.0, 1000.0, 1, -150000.0), "alert"),
        grid_series("funding_rate", "pricing", grid_step(0.0001, 0.00002, 3, 0.0016)),
        grid_series(elsewhere, "position-ui", values, query=query),
    ]


def test_one_restart_of_an_unrelated_workload_is_one_event_not_the_cause() -> None:
    series = _pnl_drop("kube_pod_container_status_restarts_total", _one_restart(), RESTARTS)
    ranked = rank_entities(grid_evidence(series, alert_service="pnl-engine", alertname="PnLDrop"))
    assert ranked[0].name == "pricing", [(e.name, round(e.score, 1)) for e in ranked]
    restart = next(e for e in ranked if e.name == "position-ui").shifts[0]
    assert abs(restart.z - np.sqrt(12)) < 0.01, restart.z  # one unit of its resolution, q / (q / sqrt(12))


def test_a_target_that_stopped_answering_is_still_an_event() -> None:
    up = np.ones(POINTS)
    up[CHANGED_AT:] = 0.0
    series = _pnl_drop("up", up)
    ranked = rank_entities(grid_evidence(series, alert_service="pnl-engine", alertname="PnLDrop"))
    down = next(e for e in ranked if e.name == "position-ui").shifts[0]
    assert down.z >= 50, down.z
