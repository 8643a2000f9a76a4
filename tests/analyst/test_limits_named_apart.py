"""A use whose size series is beside it is a saturation signal whatever its name's kind, weighed by the share
of its limit it reached: file descriptors, conntrack entries, a MySQL server's or Redis' connections."""

from __future__ import annotations

import numpy as np
import pytest

from analyst.builtin.entities import SeriesKind, rank_entities, series_kind
from analyst.builtin.limits import is_limit_of
from tests.analyst.grid_evidence import CHANGED_AT, POINTS, grid_evidence, grid_noise, grid_series


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
