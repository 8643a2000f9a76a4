"""A use whose size series is beside it is a saturation signal whatever its name's kind, weighed by the share
of its limit it reached: file descriptors, conntrack entries, a MySQL server's or Redis' connections."""

from __future__ import annotations

import numpy as np
import pytest

from analyst.builtin import BuiltinAnalyst
from analyst.builtin.entities import UNTIED_SHARE, SeriesKind, rank_entities, series_kind
from analyst.builtin.limits import is_limit_of
from analyst.evidence import Evidence
from tests.analyst.grid_evidence import (
    ALERT_POINT,
    CHANGED_AT,
    POINTS,
    grid_evidence,
    grid_noise,
    grid_series,
)


@pytest.mark.parametrize(
    ("use", "size"),
    [
        ("process_open_fds", "process_max_fds"),
        ("node_filefd_allocated", "node_filefd_maximum"),
        ("node_nf_conntrack_entries", "node_nf_conntrack_entries_limit"),
        ("mysql_global_status_threads_connected", "mysql_global_variables_max_connections"),
        ("redis_connected_clients", "redis_config_maxclients"),
    ],
)
def test_exporters_uses_and_sizes_pair(use: str, size: str):
    assert is_limit_of(size, use)
    assert not is_limit_of(use, size)


def _used(metric: str, service: str, level: float, peak: float, size: float, sizer: str, seed: int):
    values = grid_noise(level, level * 0.01, seed)
    values[CHANGED_AT:] = np.linspace(level, peak, POINTS - CHANGED_AT)
    return [
        grid_series(metric, service, values),
        grid_series(sizer, service, np.full(POINTS, size)),
    ]


def test_descriptors_near_their_limit_are_saturation_and_a_far_climb_is_not():
    assert series_kind("process_open_fds") is SeriesKind.OTHER  # by its name alone
    evidence = grid_evidence(
        [
            grid_series("http_error_ratio", "connector", grid_noise(0.01, 0.001, 1), "alert"),
            *_used("process_open_fds", "connector", 920, 3944, 4096, "process_max_fds", 2),
            *_used("process_open_fds", "gateway", 184, 400, 1_048_576, "process_max_fds", 3),
        ],
        alert_service="connector",
    )
    ranked = {e.name: e for e in rank_entities(evidence)}
    near = next(s for s in ranked["connector"].shifts if s.series.metric == "process_open_fds")
    far = next(s for s in ranked["gateway"].shifts if s.series.metric == "process_open_fds")
    assert near.kind is SeriesKind.SATURATION and near.limit == 4096 and near.at_limit
    assert far.kind is SeriesKind.OTHER and far.limit == 1_048_576  # 0.04 % of its limit: no saturation
    assert rank_entities(evidence)[0].name == "connector"


def _leak_and_rollout(with_size: bool) -> Evidence:
    """A connector whose file descriptors leak from 30 minutes before its errors alert up to their limit,
    and an unrelated UI that restarted in a rollout 7 minutes before the alert."""
    fds = grid_noise(920, 9, 4)
    fds[ALERT_POINT - 30 : ALERT_POINT - 10] = np.linspace(920, 4096, 20)
    fds[ALERT_POINT - 10 :] = 4096
    errors = grid_noise(0.01, 0.002, 5)
    errors[ALERT_POINT - 8 :] = 1.6
    restarts = np.zeros(POINTS)
    restarts[ALERT_POINT - 7 : ALERT_POINT - 2] = 1 / 45
    series = [
        grid_series("exchange_api_errors_ratio", "connector", errors, "alert"),
        grid_series("process_open_fds", "connector", fds),
        grid_series("kube_pod_container_status_restarts_total", "position-ui", restarts),
        grid_series("process_cpu_seconds_total", "position-ui", grid_noise(0.05, 0.005, 6)),
    ]
    if with_size:
        series.append(grid_series("process_max_fds", "connector", np.full(POINTS, 4096.0)))
    return grid_evidence(series, alert_service="connector")


async def test_an_alert_its_own_resource_at_the_limit_explains_is_not_blamed_on_an_unrelated_rollout():
    without = rank_entities(_leak_and_rollout(with_size=False))
    evidence = _leak_and_rollout(with_size=True)
    ranked = rank_entities(evidence)
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis

    assert without[0].name == "position-ui"  # the leak's climb widened its own spread: no change
    assert ranked[0].name == "connector"
    fds = next(s for s in ranked[0].shifts if s.series.metric == "process_open_fds")
    assert fds.kind is SeriesKind.SATURATION and fds.at_limit and fds.z > 10
    rollout = next(e for e in ranked if e.name == "position-ui")
    assert rollout.score <= UNTIED_SHARE * fds.weighted
    assert primary.category == "resource.limits" and primary.suspect.startswith("process_open_fds{")
    assert primary.title.startswith("Resource limit reached")
