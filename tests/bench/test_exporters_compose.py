"""The exporters benchmark's compose set (`bench.exporters_compose`): a crypto exchange on plain Docker hosts
whose truths select series that move before the diagnosis, components the judge knows by container name,
compose service, docker_sd's `instance` and the host, series laid out as cAdvisor, node_exporter,
postgres_exporter, redis_exporter, kafka_exporter, Traefik, blackbox_exporter and the apps' client libraries
write them (no pod or namespace anywhere; a restarted container counts from zero with a new start time, a
recreated one has a new id and image, a cron container exists only while it runs), the unrelated movers in
every scenario, and every scenario's rule through Prometheus: it holds from its activation to its startsAt
and not in the hour before. Determinism and truths in both variants are tested for every set in
`test_exporters.py`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest

from bench import exporters, jumps
from bench.exporters_compose import (
    BACKUPS,
    COMPOSE_SCENARIOS,
    CONTAINERS,
    DATA,
    EDGE,
    HOSTS,
    NEW_WS_IMAGE,
    TRADE1,
    TRADE2,
)
from bench.exporters_data import Recording
from bench.exporters_scenarios import recording
from tests.bench.rule_check import NAME, as_the_rule_reads, rule_results

PROMQL_WORDS = {"histogram_quantile"}
COMPOSE_LABELS = (
    "container_label_com_docker_compose_service",
    "container_label_com_docker_compose_project",
)


@pytest.fixture(scope="module")
def recorded() -> dict[str, Recording]:
    return {name: recording(s) for name, s in COMPOSE_SCENARIOS.items()}


def test_the_set_is_eight_compose_scenarios_beside_the_others_and_runs_one_variant() -> None:
    assert len(COMPOSE_SCENARIOS) == 8
    others = {name for key, scenarios in exporters.SETS.items() if key != "compose" for name in scenarios}
    assert not set(COMPOSE_SCENARIOS) & others
    assert exporters.SETS["compose"] is COMPOSE_SCENARIOS
    assert exporters.SET_VARIANTS["compose"] == ("scraped",)


@pytest.mark.parametrize("name", list(COMPOSE_SCENARIOS))
def test_the_cause_moves_before_the_diagnosis_and_its_components_are_names_the_judge_knows(
    name: str, recorded: dict[str, Recording]
) -> None:
    """In the two minutes, the five or the quarter hour up to the diagnosis, against the history ahead; or a
    series that appears in the quarter hour (a container started, a session postgres_exporter lists)."""
    scenario = COMPOSE_SCENARIOS[name]
    at = scenario.alert.starts + exporters.DIAGNOSE_AFTER
    moved = []
    for row in recorded[name].rows():
        if scenario.truth.is_cause(row):
            times, values = jumps.per_second(*row.kept, row.counter)
            moved += [
                jumps.robust_jump(times, values, at, recent) for recent in (120.0, exporters.RECENT, 900.0)
            ]
            moved += [10.0 * (at - 900 < times[0] < at and values.max() > 0)]
    assert max(moved) > 5, name
    index = exporters.Index(recorded[name])
    for component in scenario.truth.components:
        assert index.aliases.get(component) == component
    assert scenario.alert.starts - 3600 > recorded[name].grid[0]


@pytest.mark.parametrize("name", list(COMPOSE_SCENARIOS))
def test_every_series_has_a_value_and_a_keep_flag_per_scrape(
    name: str, recorded: dict[str, Recording]
) -> None:
    """No series written from a scalar (the harness reads every row's samples against its scrape times)."""
    for row in recorded[name].rows():
        assert row.values.shape == row.keep.shape == row.times.shape, (row.name, row.labels)


@pytest.mark.parametrize("name", list(COMPOSE_SCENARIOS))
def test_the_alerts_rule_reads_series_the_recording_has(name: str, recorded: dict[str, Recording]) -> None:
    alert = COMPOSE_SCENARIOS[name].alert
    bare = re.sub(r'"[^"]*"', "", alert.expr)
    metrics = {m for m in NAME.findall(bare) if m not in PROMQL_WORDS and "_" in m}
    assert metrics and metrics <= set(recorded[name].families), metrics - set(recorded[name].families)


def test_components_are_known_by_container_service_instance_and_host(recorded: dict[str, Recording]) -> None:
    """docker_sd's targets carry job, instance (host address: published port), container, compose_service and
    host; cAdvisor's series name, image, id and the compose labels, and nothing else of the app's; no pod or
    namespace anywhere; cAdvisor's and node_exporter's host-level series belong to the host."""
    rec = recorded["wallet_oom_loop"]
    assert not [r for r in rec.rows() if {"pod", "namespace"} & set(r.labels)]
    app = rec.matching("process_start_time_seconds", container="exchange-wallet-service-1")
    assert app and set(app[0].labels) == {"job", "instance", "container", "compose_service", "host"}
    assert app[0].labels["instance"] == f"{HOSTS[TRADE2][0]}:8081" and app[0].owner == "wallet-service"
    cadvisor = rec.matching("container_memory_working_set_bytes", name="exchange-wallet-service-1")[0]
    assert {"job", "instance", "name", "image", "id", *COMPOSE_LABELS} <= set(cadvisor.labels)
    assert not {"container", "compose_service", "host"} & set(cadvisor.labels)
    assert re.fullmatch(r"/system\.slice/docker-[0-9a-f]{64}\.scope", cadvisor.labels["id"])
    assert cadvisor.labels["instance"] == f"{TRADE2}:8080" and cadvisor.owner == "wallet-service"
    root = rec.matching("container_cpu_usage_seconds_total", instance=f"{TRADE2}:8080", id="/")[0]
    assert root.owner == TRADE2 and rec.matching("node_load1", instance=f"{TRADE2}:9100")[0].owner == TRADE2
    index = exporters.Index(rec)
    assert index.aliases["exchange-wallet-service-1"] == "wallet-service"
    assert index.aliases[f"{HOSTS[TRADE2][0]}:8081"] == "wallet-service"
    assert index.aliases[f"{TRADE2}:8080"] == TRADE2 and index.aliases[f"{TRADE2}:9100"] == TRADE2
    assert index.aliases[f"{DATA}:9187"] == "postgres" and index.aliases["fxrates"] == "fxrates"
    assert "node" not in index.aliases and "cadvisor" not in index.aliases  # jobs every host has
    gateways = {r.labels["container"] for r in rec.matching("up", job="ws-gateway")}
    assert gateways == {"edge-ws-gateway-1", "edge-ws-gateway-2"}


def test_exporters_write_their_own_names_and_labels(recorded: dict[str, Recording]) -> None:
    rec = recorded["ledger_poison_message"]
    for name in ("pg_stat_database_xact_commit", "node_vmstat_oom_kill", "redis_evicted_keys_total"):
        found = rec.matching(name)
        assert found and all(r.counter for r in found), name  # counters, some without `_total`, as written
    lag = rec.matching("kafka_consumergroup_lag", consumergroup="ledger-writer")
    assert {r.labels["partition"] for r in lag} == {"0", "1", "2"} and lag[0].labels["topic"] == "trades"
    assert lag[0].labels["instance"] == f"{DATA}:9308" and lag[0].owner == "kafka"
    traefik = rec.matching("traefik_service_requests_total", service="ws-gateway@docker")
    assert {r.labels["code"] for r in traefik} == {"200", "404", "500", "502"}
    probe = rec.matching("probe_success", target="fxrates")[0]
    assert probe.labels["module"] == "http_2xx" and probe.labels["instance"].startswith("https://")
    assert probe.owner == "fxrates"
    tables = {r.labels["relname"] for r in rec.matching("pg_stat_user_tables_n_dead_tup")}
    assert tables == {"balances", "orders", "trades", "withdrawals"}
    images = {r.labels["image"] for r in rec.matching("container_start_time_seconds")}
    assert images == {spec[3] for spec in CONTAINERS.values() if spec[0] != "backtest"}


def test_an_oom_killed_container_restarts_counts_from_zero_and_answers_up_0(
    recorded: dict[str, Recording],
) -> None:
    rec = recorded["wallet_oom_loop"]
    wallet = "exchange-wallet-service-1"
    started = rec.matching("container_start_time_seconds", name=wallet)[0]
    _, values = started.kept
    assert len(np.unique(values)) >= 8  # killed every ~3.5 minutes from 14:04
    cpu = rec.matching("container_cpu_usage_seconds_total", name=wallet)[0]
    assert (np.diff(cpu.kept[1]) < 0).sum() >= 8
    ooms = rec.matching("container_oom_events_total", name=wallet)[0]
    assert ooms.kept[1].max() - ooms.kept[1].min() >= 8
    working = rec.matching("container_memory_working_set_bytes", name=wallet)[0]
    limit = rec.matching("container_spec_memory_limit_bytes", name=wallet)[0]
    assert working.values.max() > 0.98 * limit.values[0]
    up = rec.matching("up", container=wallet)[0]
    assert (up.values == 0).sum() >= 16
    kills = rec.matching("node_vmstat_oom_kill", instance=f"{TRADE2}:9100")[0]
    assert kills.kept[1][-1] - kills.kept[1][0] >= 8
    elsewhere = recorded["ledger_poison_message"].matching("container_start_time_seconds", name=wallet)[0]
    assert not (np.diff(elsewhere.kept[1]) != 0).any()


def test_a_recreated_container_has_a_new_id_and_image(recorded: dict[str, Recording]) -> None:
    """Compose recreates edge-ws-gateway-2 from the new image: the old id's series end, the new id's begin."""
    rec = recorded["ws_gateway_bad_image"]
    deploy = COMPOSE_SCENARIOS["ws_gateway_bad_image"].inject["wsgw.deploy"]
    assert isinstance(deploy, float)
    rows = rec.matching("container_start_time_seconds", name="edge-ws-gateway-2")
    assert len(rows) == 2 and len({r.labels["id"] for r in rows}) == 2
    old, new = sorted(rows, key=lambda r: r.labels["image"] == NEW_WS_IMAGE)
    assert new.labels["image"] == NEW_WS_IMAGE
    assert old.kept[0].max() < deploy + 15 <= new.kept[0].min() + 15
    assert new.kept[1].min() >= deploy - 15


def test_the_cron_container_exists_only_while_it_runs(recorded: dict[str, Recording]) -> None:
    rec = recorded["pg_idle_tx_bloat"]
    cpu = rec.matching("container_cpu_usage_seconds_total", name="ops-pg-backup-1")[0]
    times, values = cpu.kept
    inside = np.zeros(len(times), bool)
    for begin, end in BACKUPS:
        inside |= (times >= begin - 15) & (times < end + 15)
    assert inside.all() and len(times) > 4 * 20
    assert values.min() < 10  # each run a new start: the counter from zero
    assert not rec.matching("container_cpu_usage_seconds_total", name="research-backtest-1")
    backtest = recorded["backtest_noisy_neighbour"].matching(
        "container_cpu_usage_seconds_total", name="research-backtest-1"
    )[0]
    start = COMPOSE_SCENARIOS["backtest_noisy_neighbour"].inject["backtest.start"]
    assert isinstance(start, float) and backtest.kept[0][0] >= start


def test_a_timestamp_keeps_its_seconds_in_the_written_samples(
    recorded: dict[str, Recording], tmp_path: Path
) -> None:
    rec = copy.copy(recorded["fxrates_cert_expired"])
    rec.families = {
        "oracle_last_update_timestamp_seconds": rec.families["oracle_last_update_timestamp_seconds"]
    }
    path = tmp_path / "ts.om"
    rec.write_openmetrics(path)
    sample = next(line for line in path.read_text().splitlines() if line.startswith("oracle_"))
    value, at = map(float, sample.rsplit(" ", 2)[1:])
    assert 0 < at - value < 30


@pytest.mark.parametrize("name", list(COMPOSE_SCENARIOS))
def test_unrelated_movers_beside_each_incident(name: str, recorded: dict[str, Recording]) -> None:
    """A container restarted elsewhere within a quarter hour before the alert, a target missing for a
    minute, the backup cron, Redis' and the websocket gateways' memory growing, a liquidation cascade."""
    scenario = COMPOSE_SCENARIOS[name]
    rec = recorded[name]
    restarts = [v for k, v in scenario.inject.items() if k.startswith("restart.")]
    assert len(restarts) == 1 and isinstance(restarts[0], float)
    assert 0 < scenario.alert.starts - restarts[0] < 15 * 60
    restarted = next(k for k in scenario.inject if k.startswith("restart.")).removeprefix("restart.")
    assert CONTAINERS[restarted][0] not in scenario.truth.components
    started = rec.matching("container_start_time_seconds", name=restarted)[0]
    assert len(np.unique(started.kept[1])) == 2
    assert [k for k in scenario.inject if k.startswith("down.")]
    assert [r for r in rec.families["up"] if (r.values[r.keep] == 0).any()]
    assert rec.matching("container_cpu_usage_seconds_total", name="ops-pg-backup-1")
    memory = rec.matching("redis_memory_used_bytes")[0]
    assert memory.values[-1] > memory.values[0] + 1e9
    ws = rec.matching("process_resident_memory_bytes", container="edge-ws-gateway-1")[0]
    assert ws.values[-1] > ws.values[0] * 1.4
    cascade = scenario.inject["vol.burst"]
    assert isinstance(cascade, float)
    orders = rec.matching("matching_orders_total", symbol="BTC-USDT", result="accepted")[0]
    times, values = jumps.per_second(*orders.kept, True)
    assert (
        values[(times > cascade + 15) & (times < cascade + 150)].mean()
        > 1.5 * values[(times > cascade - 150) & (times < cascade - 15)].mean()
    )


def test_the_truths_single_out_one_container_or_host(recorded: dict[str, Recording]) -> None:
    """A cause in one container of several on a host selects none of its neighbours' series."""
    for name, other in (
        ("backtest_noisy_neighbour", "exchange-matching-engine-1"),
        ("ws_gateway_bad_image", "edge-ws-gateway-1"),
        ("wallet_oom_loop", "exchange-price-oracle-1"),
        ("redis_candles_eviction", "data-postgres-1"),
    ):
        truth = COMPOSE_SCENARIOS[name].truth
        causes = [r for r in recorded[name].rows() if truth.is_cause(r)]
        assert causes and not [
            r for r in causes if other in (r.labels.get("name"), r.labels.get("container"))
        ]
    causes = [
        r
        for r in recorded["ws_gateway_bad_image"].rows()
        if COMPOSE_SCENARIOS["ws_gateway_bad_image"].truth.is_cause(r)
    ]
    assert all(r.labels.get("image", NEW_WS_IMAGE) == NEW_WS_IMAGE for r in causes)
    disk = [
        r
        for r in recorded["docker_logs_fill_disk"].rows()
        if COMPOSE_SCENARIOS["docker_logs_fill_disk"].truth.is_cause(r)
    ]
    assert {r.owner for r in disk} == {TRADE2, "price-oracle"}
    assert not [r for r in disk if r.labels.get("instance", "").startswith((EDGE, TRADE1, DATA))]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMPOSE_SCENARIOS))
def test_the_alerts_rule_holds_from_its_activation_to_its_start_in_prometheus(
    name: str, tmp_path: Path, recorded: dict[str, Recording]
) -> None:
    """Every scenario's rule evaluated by Prometheus over the backfilled recording (the families it reads): it
    holds from the activation to startsAt and not in the hour before."""
    a = COMPOSE_SCENARIOS[name].alert
    result = rule_results(as_the_rule_reads(recorded[name], a), a, tmp_path)
    assert [{k: v for k, v in s["metric"].items() if k != "__name__"} for s in result] == [a.labels]
    held = [float(t) for t, _ in result[0]["values"]]
    assert held[0] == pytest.approx(a.active, abs=1) and held[-1] == pytest.approx(a.starts, abs=1)
    assert len(held) == (a.starts - a.active) / 15 + 1  # every evaluation between
