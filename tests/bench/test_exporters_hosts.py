"""The exporters benchmark's hosts set (`bench.exporters_hosts`): a bare-metal estate without Kubernetes whose
truths select series that move before the diagnosis, components the judge knows by host, `job` and
`instance` alone, series laid out as node_exporter, process-exporter, chrony_exporter, smartctl_exporter,
pgbouncer_exporter, snmp_exporter and the apps write them (no pod or namespace anywhere, a restart or a
reboot counts from zero, a timestamp keeps its seconds), the unrelated movers in every scenario, and every
scenario's rule through Prometheus: it holds from its activation to its startsAt and not in the hour before.
Determinism and truths in both variants are tested for every set in `test_exporters.py`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest

from bench import exporters, jumps
from bench.exporters_data import MARKET_OPEN, Recording
from bench.exporters_hosts import (
    BATCH,
    CACHE,
    DB1,
    GW1,
    GW2,
    HOSTS,
    HOSTS_SCENARIOS,
    LOGSHIP,
    MD1,
    PORTS,
    RISK,
    SWITCH,
    WEB,
)
from bench.exporters_scenarios import recording
from tests.bench.rule_check import NAME, as_the_rule_reads, rule_results

PROMQL_WORDS = {
    "sum",
    "by",
    "rate",
    "histogram_quantile",
    "le",
    "job",
    "host",
    "instance",
    "database",
    "time",
    "msg_type",
}
RESTARTED = (f"{CACHE}:9121", f"{WEB}:9113")  # redis, nginx: the unrelated restarts


@pytest.fixture(scope="module")
def recorded() -> dict[str, Recording]:
    return {name: recording(s) for name, s in HOSTS_SCENARIOS.items()}


def test_the_set_is_ten_host_scenarios_beside_the_others_and_runs_one_variant() -> None:
    assert len(HOSTS_SCENARIOS) == 10
    others = {name for key, scenarios in exporters.SETS.items() if key != "hosts" for name in scenarios}
    assert not set(HOSTS_SCENARIOS) & others
    assert exporters.SETS["hosts"] is HOSTS_SCENARIOS
    assert exporters.SET_VARIANTS["hosts"] == ("scraped",)


@pytest.mark.parametrize("name", list(HOSTS_SCENARIOS))
def test_the_cause_moves_before_the_diagnosis_and_its_components_are_names_the_judge_knows(
    name: str, recorded: dict[str, Recording]
) -> None:
    """In the two minutes, the five or the quarter hour up to the diagnosis, against the history ahead; or a
    series that appears in the quarter hour (a session postgres_exporter lists by its user once it exists)."""
    scenario = HOSTS_SCENARIOS[name]
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


@pytest.mark.parametrize("name", list(HOSTS_SCENARIOS))
def test_the_alerts_rule_reads_series_the_recording_has(name: str, recorded: dict[str, Recording]) -> None:
    alert = HOSTS_SCENARIOS[name].alert
    bare = re.sub(r'"[^"]*"', "", alert.expr)
    metrics = {m for m in NAME.findall(bare) if m not in PROMQL_WORDS and "_" in m}
    assert metrics and metrics <= set(recorded[name].families), metrics - set(recorded[name].families)


def test_components_are_known_by_host_job_and_instance_without_pods(recorded: dict[str, Recording]) -> None:
    """Every target carries the relabelling's host, dc, env and role; nothing carries a pod or a namespace;
    a host's exporters share only its name, the host-level exporters' series belong to the host."""
    rec = recorded["clock_falseticker"]
    assert not [r for r in rec.rows() if {"pod", "namespace", "container"} & set(r.labels)]
    for key, target in rec.targets.items():
        if key.startswith("probe-") or key.startswith("snmp-"):
            continue
        assert {"job", "instance", "host", "dc", "env", "role"} <= set(target.labels), key
        assert target.labels["instance"].startswith(target.labels["host"] + ":")
    index = exporters.Index(rec)
    assert index.aliases[GW2] == GW2 and index.aliases[f"{GW2}:9100"] == GW2
    assert index.aliases[f"{GW2}:9404"] == "fix-gateway" and index.aliases["fix-gateway"] == "fix-gateway"
    assert index.aliases[f"{GW2}:9123"] == GW2 and index.aliases[f"{DB1}:9633"] == DB1
    assert index.aliases[SWITCH] == SWITCH and "node" not in index.aliases  # a job every host has
    chrony = rec.matching("chrony_tracking_system_time_seconds", host=GW2)[0]
    group = rec.matching("namedprocess_namegroup_num_procs", host=GW2, groupname="fix-gateway")[0]
    assert chrony.owner == GW2 and group.owner == GW2 and group.labels["job"] == "process"
    assert rec.matching("fix_messages_sent_total", host=GW2)[0].owner == "fix-gateway"
    gateways = {r.labels["desk"] for r in rec.matching("up", job="fix-gateway")}
    assert gateways == {"equities", "crypto"}


def test_exporters_write_their_own_names_and_labels(recorded: dict[str, Recording]) -> None:
    rec = recorded["switch_port_crc"]
    port = rec.matching("ifInErrors", ifName=PORTS[GW1])[0]
    assert port.labels["instance"] == SWITCH and port.labels["job"] == "snmp" and port.counter
    assert port.labels["ifAlias"] == GW1 and port.owner == SWITCH
    status = rec.matching("ifOperStatus", ifName=PORTS[GW1])[0]
    assert set(status.values) == {1.0, 2.0}  # down(2) at the flaps
    assert len(rec.matching("node_systemd_unit_state", host=GW1, name="fix-gateway.service")) == 5
    for name in ("node_netstat_Udp_RcvbufErrors", "node_vmstat_pswpin", "pg_stat_database_xact_commit"):
        found = rec.matching(name)
        assert found and all(r.counter for r in found), name  # counters without `_total`, as written
    smart = rec.matching("smartctl_device_attribute", host=DB1, device="sdb", attribute_id="5")
    assert {r.labels["attribute_value_type"] for r in smart} == {"raw", "value"}
    assert {r.labels["attribute_name"] for r in smart} == {"Reallocated_Sector_Ct"}
    timex = rec.matching("node_timex_sync_status", host=GW1)
    assert timex and timex[0].labels["instance"] == f"{GW1}:9100"


def test_a_pool_appears_when_the_batch_connects(recorded: dict[str, Recording]) -> None:
    """pgbouncer lists a (database, user) pool once a client of it connected: the EOD batch's from 14:44."""
    start = HOSTS_SCENARIOS["pgbouncer_eod_batch"].inject["eod.start"]
    assert isinstance(start, float)
    rec = recorded["pgbouncer_eod_batch"]
    pool = rec.matching("pgbouncer_pools_server_active_connections", user="eod_batch")[0]
    times, values = pool.kept
    assert times[0] >= start and values.max() == 30
    assert not recorded["clock_falseticker"].matching(
        "pgbouncer_pools_server_active_connections", user="eod_batch"
    )


def test_a_restart_or_a_reboot_counts_from_zero_and_answers_up_0(recorded: dict[str, Recording]) -> None:
    rec = recorded["replica_long_query"]
    boot = HOSTS_SCENARIOS["replica_long_query"].inject[f"reboot.{BATCH}"]
    assert isinstance(boot, float)
    up = rec.matching("up", host=BATCH, job="node")[0]
    down = (up.times >= boot) & (up.times < boot + 180)
    assert (up.values[down] == 0).all() and up.values[up.keep & ~down].min() == 1
    cpu = rec.matching("node_cpu_seconds_total", host=BATCH, cpu="0", mode="idle")[0]
    times, values = cpu.kept
    assert (np.diff(values) < 0).sum() == 1 and values[times > boot][0] < 200
    booted = rec.matching("node_boot_time_seconds", host=BATCH)[0]
    assert booted.values[-1] > boot > booted.values[0]
    nginx = HOSTS_SCENARIOS["replica_long_query"].inject[f"restart.{WEB}:9113"]
    requests = rec.matching("nginx_http_requests_total")[0]
    times, values = requests.kept
    assert (np.diff(values) < 0).sum() == 1 and times[np.argmin(np.diff(values)) + 1] >= nginx


def test_a_timestamp_keeps_its_seconds_in_the_written_samples(
    recorded: dict[str, Recording], tmp_path: Path
) -> None:
    """The drop-copy staleness rule reads a Unix time: written to the second, not rounded to 1000 s."""
    rec = copy.copy(recorded["dropcopy_restart_loop"])
    rec.families = {"risk_last_fill_timestamp_seconds": rec.families["risk_last_fill_timestamp_seconds"]}
    path = tmp_path / "ts.om"
    rec.write_openmetrics(path)
    sample = next(line for line in path.read_text().splitlines() if line.startswith("risk_"))
    value, at = map(float, sample.rsplit(" ", 2)[1:])
    assert 0 < at - value < 30


@pytest.mark.parametrize("name", list(HOSTS_SCENARIOS))
def test_unrelated_movers_beside_each_incident(name: str, recorded: dict[str, Recording]) -> None:
    """Redis or nginx restarted within a quarter hour before the alert, the hourly logship cron, the quote
    cache's memory growing, a target down for a minute, the market open."""
    scenario = HOSTS_SCENARIOS[name]
    rec = recorded[name]
    restarts = [scenario.inject.get(f"restart.{key}") for key in RESTARTED]
    when = [t for t in restarts if isinstance(t, float)]
    assert len(when) == 1 and 0 < scenario.alert.starts - when[0] < 15 * 60
    logship = rec.matching("namedprocess_namegroup_num_procs", host=BATCH, groupname="logship")[0]
    assert logship.values.max() == 1 and len(LOGSHIP) == 5
    memory = rec.matching("redis_memory_used_bytes")[0]
    assert memory.values[-1] > memory.values[0] + 1e9
    assert [k for k in scenario.inject if k.startswith(("down.", "reboot."))]
    assert [r for r in rec.families["up"] if (r.values[r.keep] == 0).any()]
    orders = rec.matching("fix_messages_sent_total", host=GW1, session="NYSE", msg_type="D")[0]
    times, values = jumps.per_second(*orders.kept, True)
    assert values[times > MARKET_OPEN + 300][:10].mean() > 5 * values[times < MARKET_OPEN - 300][-10:].mean()


def test_the_truths_single_out_one_host(recorded: dict[str, Recording]) -> None:
    """A cause on one host of two (gateways, feed handlers, databases) selects none of the other's series."""
    for name, other in (
        ("clock_falseticker", GW1),
        ("udp_rcvbuf_drops", "ny4-md-02"),
        ("replica_long_query", DB1),
        ("risk_gc_storm", GW1),
    ):
        truth = HOSTS_SCENARIOS[name].truth
        causes = [r for r in recorded[name].rows() if truth.is_cause(r)]
        assert causes and not [r for r in causes if r.labels.get("host") == other], name
    hosts = {r.labels["host"] for r in recorded["udp_rcvbuf_drops"].rows() if r.labels.get("host")}
    assert hosts == set(HOSTS) and {MD1, RISK} <= hosts
    pgbouncer = recorded["udp_rcvbuf_drops"].matching("pgbouncer_databases_current_connections")[0]
    assert pgbouncer.labels["host"] == DB1 and pgbouncer.labels["exported_host"] == "127.0.0.1"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(HOSTS_SCENARIOS))
def test_the_alerts_rule_holds_from_its_activation_to_its_start_in_prometheus(
    name: str, tmp_path: Path, recorded: dict[str, Recording]
) -> None:
    """Every scenario's rule evaluated by Prometheus over the backfilled recording (the families it reads): it
    holds from the activation to startsAt and not in the hour before (a comparison keeps the metric's name,
    which an alert drops)."""
    a = HOSTS_SCENARIOS[name].alert
    result = rule_results(as_the_rule_reads(recorded[name], a), a, tmp_path)
    assert [{k: v for k, v in s["metric"].items() if k != "__name__"} for s in result] == [a.labels]
    held = [float(t) for t, _ in result[0]["values"]]
    assert held[0] == pytest.approx(a.active, abs=1) and held[-1] == pytest.approx(a.starts, abs=1)
    assert len(held) == (a.starts - a.active) / 15 + 1  # every evaluation between
