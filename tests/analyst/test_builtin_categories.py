"""Metric names map to the cause category they suggest."""

from __future__ import annotations

import pytest

from analyst.builtin import categorize_series
from analyst.diagnosis import Category


@pytest.mark.parametrize(
    ("metric", "labels", "category"),
    [
        ("container_cpu_usage_seconds_total", {}, Category.RESOURCE_CPU),
        ("node_load5", {}, Category.RESOURCE_CPU),
        ("jvm_memory_used_bytes", {}, Category.RESOURCE_MEMORY),
        ("go_gc_duration_seconds", {}, Category.RESOURCE_MEMORY),
        ("node_filesystem_avail_bytes", {}, Category.RESOURCE_DISK),
        ("process_open_fds", {}, Category.RESOURCE_LIMITS),
        ("node_filefd_allocated", {}, Category.RESOURCE_LIMITS),
        ("node_nf_conntrack_entries", {}, Category.NETWORK),
        # a storage volume's free bytes, not a traded volume (before: market.liquidity)
        ("kubelet_volume_stats_available_bytes", {}, Category.RESOURCE_DISK),
        ("node_memory_MemAvailable_bytes", {}, Category.RESOURCE_MEMORY),
        ("node_network_receive_errs_total", {}, Category.NETWORK),
        ("hikaricp_connections_active", {}, Category.DEPENDENCY_DATABASE),
        ("db_pool_connections_in_use", {}, Category.DEPENDENCY_DATABASE),
        ("pg_stat_activity_count", {}, Category.DEPENDENCY_DATABASE),
        ("http_request_duration_seconds", {"service": "postgres-proxy"}, Category.DEPENDENCY_DATABASE),
        ("http_request_duration_seconds", {"service": "search"}, Category.DEPENDENCY_SERVICE),
        ("http_requests_total", {}, Category.TRAFFIC_SURGE),
        ("process_start_time_seconds", {}, Category.CHANGE_DEPLOYMENT),
        ("kube_deployment_status_observed_generation", {}, Category.CHANGE_DEPLOYMENT),
        ("kube_pod_container_status_restarts_total", {}, Category.CHANGE_DEPLOYMENT),
        ("market_realized_volatility", {}, Category.MARKET_VOLATILITY),
        ("perp_funding_rate", {}, Category.MARKET_FUNDING),
        ("orderbook_spread_bps", {}, Category.MARKET_LIQUIDITY),
        ("market_volume", {}, Category.MARKET_LIQUIDITY),
        ("strategy_pnl_usd", {}, Category.STRATEGY_DEGRADATION),
        ("order_fill_latency_seconds", {}, Category.DEPENDENCY_SERVICE),
        ("marketdata_feed_staleness_seconds", {}, Category.DATA_FEED),
        ("something_custom", {}, Category.UNKNOWN),
    ],
)
def test_metric_family_maps_to_category(metric: str, labels: dict[str, str], category: Category) -> None:
    assert categorize_series(metric, labels) is category
