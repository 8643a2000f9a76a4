"""The node a component's pods run on is tied to it as a callee is: its conntrack table, file descriptors
and disk are its pods' too. A feed lags; in the same minutes its node's conntrack table fills to its limit
and a batch job with no tie to the feed bursts its CPU by more spreads. The node explains the lag."""

from __future__ import annotations

import dataclasses

import numpy as np

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.builtin.entities import (
    SHARED_LABEL_FACTOR,
    SeriesKind,
    hosts_of,
    on_the_alerts_nodes,
    rank_entities,
    series_kind,
    series_shifts,
)
from analyst.builtin.limits import is_limit_of, left_of
from analyst.evidence import Evidence
from tests.analyst.grid_evidence import (
    ALERT_AT,
    CHANGED_AT,
    grid_evidence,
    grid_noise,
    grid_series,
    grid_step,
    labelled,
)

NODE = "ip-10-0-1-13"
LIMIT = 262144.0


def _feed_on_a_full_node(pods_node: str = NODE) -> Evidence:
    full = np.minimum(grid_step(40000.0, 800.0, 3, 150000.0), LIMIT)
    full[CHANGED_AT + 1 :] = LIMIT
    series = [
        grid_series("marketdata_feed_lag_seconds", "md-feed", grid_step(0.05, 0.01, 1, 0.3), "alert"),
        labelled(
            grid_series("container_memory_working_set_bytes", "md-feed", grid_noise(4e8, 5e6, 2)),
            node=pods_node,
        ),
        labelled(grid_series("node_nf_conntrack_entries", NODE, full), instance="10.0.1.13:9100"),
        labelled(
            grid_series("node_nf_conntrack_entries_limit", NODE, np.full(full.size, LIMIT)),
            instance="10.0.1.13:9100",
        ),
        grid_series("process_cpu_seconds_total", "eod-reporting", grid_step(0.3, 0.01, 9, 3.0)),
    ]
    return grid_evidence(series, alert_service="md-feed", alertname="MarketDataFeedLagging")


def test_the_node_the_alerting_pods_run_on_is_tied_to_them_by_its_resources_at_their_limit() -> None:
    evidence = _feed_on_a_full_node()
    entities = [s.component for s in evidence.series]
    assert hosts_of("md-feed", evidence.series, entities) == {NODE}
    shifts = series_shifts(evidence.series, ALERT_AT, -np.inf)
    entries = next(shift for shift in shifts if shift and shift.series.metric == "node_nf_conntrack_entries")
    full = dataclasses.replace(entries, limit=LIMIT)  # its size series beside it (`with_limits`)
    half = dataclasses.replace(entries, limit=2 * LIMIT)  # at half its size: the node's pods' load
    cpu = next(shift for shift in shifts if shift and shift.series.component == "eod-reporting")
    tied = on_the_alerts_nodes({NODE: [full, half], "eod-reporting": [cpu]}, {NODE})
    assert tied[NODE][0].weighted == SHARED_LABEL_FACTOR * full.weighted
    assert tied[NODE][0].tied_by == (("node", NODE),)
    assert tied[NODE][1] == half
    assert tied["eod-reporting"] == [cpu]


def test_a_full_conntrack_table_on_the_feeds_node_leads_a_batch_jobs_cpu_burst() -> None:
    """Before: the batch job's CPU (z about 90) led the node's conntrack at its limit (z about 85)."""
    evidence = _feed_on_a_full_node()
    ranked = rank_entities(evidence)
    assert ranked[0].name == NODE, [(e.name, round(e.score, 1)) for e in ranked]
    primary = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT).primary_hypothesis
    assert primary.suspect.startswith("node_nf_conntrack_entries{"), primary


def test_a_node_the_pods_do_not_run_on_is_not_tied() -> None:
    evidence = _feed_on_a_full_node(pods_node="ip-10-0-1-12")
    assert rank_entities(evidence)[0].name == "eod-reporting"


def test_a_nodes_use_short_of_its_limit_is_its_pods_load_not_a_cause() -> None:
    """A deploy's new pods error; their node's softirq time doubled with the traffic. Before, the node's
    CPU (z about 50, a saturation) outranked the deploy's own errors."""
    series = [
        grid_series("http_errors_ratio", "checkout", grid_step(0.002, 0.0005, 1, 0.12), "alert"),
        labelled(
            grid_series("container_memory_working_set_bytes", "checkout", grid_noise(4e8, 5e6, 2)), node=NODE
        ),
        grid_series("node_cpu_softirq_seconds_rate", NODE, grid_step(0.02, 0.001, 3, 0.07)),
    ]
    evidence = grid_evidence(series, alert_service="checkout", alertname="CheckoutErrorRatioHigh")
    ranked = rank_entities(evidence)
    assert ranked[0].name == "checkout", [(e.name, round(e.score, 1)) for e in ranked]
    node = next(e for e in ranked if e.name == NODE)
    assert node.shifts[0].weighted == node.shifts[0].z / 8  # weighed as OTHER: an eighth


def test_a_nics_errors_drops_and_retransmits_are_errors() -> None:
    for metric in (
        "node_network_receive_errs_total",
        "node_network_receive_drop_total",
        "node_netstat_Tcp_RetransSegs",
    ):
        assert series_kind(metric) is SeriesKind.ERRORS, metric
    assert series_kind("node_network_receive_bytes_total") is SeriesKind.THROUGHPUT


def test_what_is_left_of_a_resource_is_judged_against_the_size_beside_it() -> None:
    assert left_of("node_filesystem_avail_bytes") == ("node", "filesystem", "bytes")
    assert is_limit_of("node_filesystem_size_bytes", "node_filesystem_avail_bytes")
    assert is_limit_of("kubelet_volume_stats_capacity_bytes", "kubelet_volume_stats_available_bytes")
    assert not is_limit_of("node_filesystem_size_bytes", "node_filesystem_files_free")
    values = np.concatenate([np.full(100, 4e10), np.linspace(4e10, 1e8, 20)])
    avail = labelled(grid_series("node_filesystem_avail_bytes", NODE, values), mountpoint="/data")
    shift = next(s for s in series_shifts([avail], ALERT_AT, -np.inf) if s is not None)
    sized = dataclasses.replace(shift, limit=2e11)
    assert sized.share is not None and sized.share > 0.99 and sized.at_limit
