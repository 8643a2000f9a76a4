"""The Nezha benchmark harness: alert choice, ranking extraction, scoring and the largest-jump baseline."""

from __future__ import annotations

import dataclasses
import itertools
import json
from urllib.parse import unquote

import numpy as np
import pytest

from analyst.evidence import AlertInfo, Evidence, SeriesEvidence, SeriesValues, evidence_to_dict
from bench import rca, rca_replay, rca_signal
from bench.rca_data import (
    ENTRY_COLUMNS,
    POD_COLUMNS,
    Day,
    Fault,
    Table,
    parse_time,
    read_day,
    service_of_pod,
    twin,
    write_openmetrics,
)

START = 1_661_140_000.0
TIMES = START + 60.0 * np.arange(40)
AT = START + 60.0 * 30 + 5  # the injection, between two samples


def _table(columns: list[str], jump: dict[str, float] | None = None) -> Table:
    data = {c: 10.0 + np.sin(np.arange(40)) * 0.1 for c in columns}
    for column, after in (jump or {}).items():
        data[column] = data[column].copy()
        data[column][TIMES >= AT] = after
    return Table(TIMES, data)


def _day(front_jump: dict[str, float], pod_jumps: dict[str, dict[str, float]]) -> Day:
    pods = {
        pod: _table(list(POD_COLUMNS), pod_jumps.get(pod))
        for pod in ("frontend-5b9-t2dbm", "cartservice-579f-wc2lz", "adservice-5f6-fnmft")
    }
    return Day(
        name="day",
        system="OnlineBoutique",
        namespace="hipster",
        entry="frontend",
        pods=pods,
        front=_table(["SuccessRate(%)", "LatencyP90(s)"], front_jump),
        faults=(Fault("day", AT, "cartservice-579f-wc2lz", "cartservice", "cpu_contention"),),
        graph={"frontend": ("cartservice", "adservice")},
    )


def test_pod_names_and_times_parse_as_the_readme_says() -> None:
    assert service_of_pod("cartservice-579f59597d-wc2lz") == "cartservice"
    assert service_of_pod("ts-ui-dashboard-5477b965f-2chkr") == "ts-ui-dashboard"
    assert parse_time("2022-08-22 03:51:19.640328427 +0000 UTC m=+0.146282408") == 1661140279.640328427


def test_the_alert_follows_the_larger_robust_shift_of_the_entry_slo() -> None:
    falling = rca.alert_for(_day({"SuccessRate(%)": 1.0}, {}), _day({}, {}).faults[0])
    rising = rca.alert_for(_day({"LatencyP90(s)": 30.0}, {}), _day({}, {}).faults[0])
    assert falling["labels"]["alertname"] == "EntrySuccessRateLow"  # type: ignore[index]
    assert rising["labels"]["alertname"] == "EntryLatencyHigh"  # type: ignore[index]
    assert "entry_latency_p90_seconds" in unquote(str(rising["generatorURL"]))
    assert rising["startsAt"] == rca.iso(AT + 60)


def test_the_ranking_maps_suspects_to_services_and_drops_duplicates() -> None:
    diagnosis = {
        "primary_hypothesis": {"suspect": 'pod_cpu_usage_percent{pod="cartservice-1",service="cartservice"}'},
        "alternative_hypotheses": [{"suspect": "cartservice"}, {"suspect": "adservice"}, {"suspect": "?"}],
    }
    assert rca.ranking_of(diagnosis, ["adservice", "cartservice", "frontend"]) == ("cartservice", "adservice")


def test_a_suspect_maps_by_its_pod_before_its_service_label() -> None:
    kubelet = 'cpu_seconds_total{pod="cartservice-579f-wc2lz",service="kube-prometheus-stack-kubelet"}'
    assert rca.service_of_suspect(kubelet, ["adservice", "cartservice"]) == "cartservice"
    assert rca.service_of_suspect('x{service="adservice"}', ["adservice", "cartservice"]) == "adservice"


def test_the_kubernetes_layout_writes_cadvisor_counters_under_the_kubelets_labels(tmp_path) -> None:
    day = dataclasses.replace(
        _day({}, {"cartservice-579f-wc2lz": {"CpuUsage(m)": 500.0}}), front=_table(list(ENTRY_COLUMNS))
    )
    path = tmp_path / "k8s.om"
    samples = write_openmetrics([day], path, layout="kubernetes")
    text = path.read_text()
    assert "# TYPE container_cpu_usage_seconds counter" in text and "pod_cpu_usage_percent" not in text
    cart = [
        float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("container_cpu_usage_seconds_total{") and 'pod="cartservice-579f-wc2lz"' in line
    ]
    assert 'service="kube-prometheus-stack-kubelet"' in text and len(cart) == TIMES.size
    assert all(b >= a for a, b in itertools.pairwise(cart))  # a counter
    assert cart[-1] - cart[-2] == pytest.approx(0.5 * 60.0)  # 500 millicores for a minute
    assert samples == sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def test_the_mesh_writes_each_calls_latency_as_istios_histogram_from_both_sides(tmp_path) -> None:
    latency = {"frontend_cartservice": 0.004 + 0.0 * TIMES, "frontend_adservice": np.full(TIMES.size, np.nan)}
    latency["frontend_cartservice"][-1] = 0.25  # a call never seen in the slice (adservice) writes nothing
    calls = {
        "source": Table(TIMES, latency),
        "destination": Table(TIMES, {"frontend_cartservice": 0.003 + 0.0 * TIMES}),
    }
    day = dataclasses.replace(_day({}, {}), front=_table(list(ENTRY_COLUMNS)), calls=calls)
    path = tmp_path / "mesh.om"
    write_openmetrics([day], path, mesh=True)
    text = path.read_text()

    def counter(part: str, reporter: str) -> list[float]:
        head = f"istio_request_duration_milliseconds_{part}{{"
        return [
            float(line.split(" ")[1])
            for line in text.splitlines()
            if line.startswith(head) and f'reporter="{reporter}"' in line
        ]

    count, total = counter("count", "source"), counter("sum", "source")
    istio = [line for line in text.splitlines() if line.startswith("istio_")]
    assert len(count) == TIMES.size and all('source_workload="frontend",' in line for line in istio)
    # as scraped from the sidecars: the reporting proxy's pod (the caller's for reporter="source")
    source = [line for line in istio if 'reporter="source"' in line]
    destination = [line for line in istio if 'reporter="destination"' in line]
    assert source and all('namespace="hipster",pod="frontend-5b9-t2dbm",' in line for line in source)
    assert not any('destination_workload="adservice"' in line for line in istio)
    assert destination and all('pod="cartservice-579f-wc2lz",' in line for line in destination)
    assert (total[-2] - total[-3]) / (count[-2] - count[-3]) == pytest.approx(4.0)  # ms
    assert (total[-1] - total[-2]) / (count[-1] - count[-2]) == pytest.approx(250.0)
    inside = counter("sum", "destination")
    assert inside[-1] - inside[-2] == pytest.approx(3.0 * 60)  # a call a second at 3 ms


def test_the_twin_runs_the_same_workloads_in_another_namespace_one_fault_gap_late(tmp_path) -> None:
    day = dataclasses.replace(
        _day({}, {}),
        front=_table(list(ENTRY_COLUMNS)),
        faults=(
            Fault("day", AT, "cartservice-579f-wc2lz", "cartservice", "cpu_contention"),
            Fault("day", AT + 430, "adservice-5f6-fnmft", "adservice", "exception"),
        ),
    )

    staging = twin(day)

    assert staging.namespace == "hipster-staging" and staging.faults == ()
    assert sorted(map(service_of_pod, staging.pods)) == sorted(map(service_of_pod, day.pods))
    assert not set(staging.pods) & set(day.pods)  # another ReplicaSet's pods
    (cart,) = [t for pod, t in staging.pods.items() if pod.startswith("cartservice-")]
    assert np.array_equal(cart.times, TIMES + 420.0)  # 430 s between the faults, in whole minutes
    path = tmp_path / "twins.om"
    write_openmetrics([day, staging], path)
    cpu = [line for line in path.read_text().splitlines() if line.startswith("pod_cpu_usage_percent{")]
    assert {line.split('namespace="')[1].split('"')[0] for line in cpu} == {"hipster", "hipster-staging"}


def test_largest_jump_baseline_ranks_the_service_that_jumped() -> None:
    day = _day({}, {"adservice-5f6-fnmft": {"CpuUsageRate(%)": 90.0}})
    assert rca.largest_jump_ranking(day, AT)[0] == "adservice"


def test_accuracy_counts_the_true_service_within_the_first_k() -> None:
    fault = _day({}, {}).faults[0]
    hit_second = rca.Outcome(
        fault, "OnlineBoutique", ("a", "cartservice"), ("cartservice",), 1.0, 0.1, "x", "y"
    )
    scores = rca.accuracy([hit_second])
    assert (scores["AS@1"], scores["AS@3"], scores["Avg@5"]) == (0.0, 100.0, 80.0)
    assert rca.accuracy([hit_second], baseline=True)["AS@1"] == 100.0


def test_the_report_says_how_well_the_confidence_matches_the_first_place_hits() -> None:
    fault = _day({}, {}).faults[0]

    def outcome(first: str, confidence: float) -> rca.Outcome:
        return rca.Outcome(fault, "OnlineBoutique", (first,), (), 1.0, 0.1, "x", "y", confidence=confidence)

    # right at 0.9 and 0.7, wrong at 0.9 and 0.3: mean 0.70 against a hit rate of 0.50
    outcomes = [
        outcome("cartservice", 0.9),
        outcome("cartservice", 0.7),
        outcome("a", 0.9),
        outcome("a", 0.3),
    ]
    line = rca.calibration_line("OnlineBoutique", outcomes)
    assert line is not None
    assert "mean 0.70 against a first-place hit rate of 0.50" in line
    assert "median 0.80 when right, 0.60 when wrong" in line
    # bins: 0.3 (1 wrong: 0.3 off), 0.7 (1 right: 0.3 off), 0.9 (1 of 2 right: 0.4 off) -> (0.3+0.3+0.8)/4
    assert "expected calibration error 0.350" in line
    assert rca.calibration_line("OnlineBoutique", [rca.Outcome(fault, "x", (), (), 1.0, 0.1, "", "")]) is None
    assert "primary confidence" in rca.report(outcomes)


def test_the_signal_audit_finds_the_injected_service_only_where_its_own_series_moved() -> None:
    moved = _day({}, {"cartservice-579f-wc2lz": {"CpuUsageRate(%)": 60.0}})
    largest, ranks = rca_signal.fault_signal(moved, moved.faults[0])
    assert largest > 100 and min(ranks) == 0.0  # first on its CPU column
    quiet = _day({}, {"adservice-5f6-fnmft": {"CpuUsageRate(%)": 60.0}})
    largest, ranks = rca_signal.fault_signal(quiet, quiet.faults[0])
    assert largest < 3 and max(ranks) > 0.0  # nothing of its own moved; adservice is ahead on CPU
    assert "| OnlineBoutique cpu_contention | 1 | 1 |" in rca_signal.signal_table([moved])


def test_replay_ranks_captured_evidence_with_the_entity_ranking() -> None:
    def cpu(service: str, after: float) -> SeriesEvidence:
        values = 20.0 + np.sin(np.arange(120.0))
        values[112:] = after
        return SeriesEvidence(
            series_id=f'pod_cpu_usage_percent{{service="{service}"}}',
            metric="pod_cpu_usage_percent",
            labels={"__name__": "pod_cpu_usage_percent", "service": service},
            role="related",
            component=service,
            values=SeriesValues(START, 60.0, tuple(float(v) for v in values)),
            points=120,
        )

    alert_at = START + 115 * 60.0
    alert = AlertInfo("EntryLatencyHigh", "firing", {"service": "frontend"}, {}, alert_at)
    evidence = Evidence("inc", alert, (cpu("adservice", 21.0), cpu("cartservice", 90.0)), START, alert_at)
    fault = Fault("day", alert_at - 60, "cartservice-579f-wc2lz", "cartservice", "cpu_contention")
    outcome = rca.Outcome(fault, "OnlineBoutique", (), ("adservice",), 1.0, 0.1, "", "EntryLatencyHigh")
    row = {**rca.outcome_row(outcome), "services": ["adservice", "cartservice"]}
    row["evidence"] = json.loads(json.dumps(evidence_to_dict(evidence)))
    replayed = rca_replay.replay_row(row)
    assert replayed.ranking == ("cartservice", "adservice")
    assert replayed.fault == fault and replayed.baseline == ("adservice",)


def test_held_out_days_read_even_when_their_files_differ_a_little(tmp_path) -> None:
    assert parse_time("2022-08-22 03:51:19") == parse_time("2022-08-22T03:51:19") == 1661140279.0
    assert parse_time("2022-08-22 03:51:19.5") == 1661140279.5
    metric = tmp_path / "2023-02-01" / "metric"
    metric.mkdir(parents=True)
    header = "Time," + ",".join(POD_COLUMNS)
    good = ",".join(["1.0"] * len(POD_COLUMNS))
    for pod in ("ts-order-service-1a-b2", "ts-route-service-3c-d4"):  # no ts-ui-dashboard pod file
        (metric / f"{pod}_metric.csv").write_text(
            f"{header}\n2023-02-01 10:00:00.1 +0000 UTC,{good}\n{header}\n"  # a repeated header
            f"2023-02-01 10:01:00,{good}\n2023-02-01 10:0"  # and a torn last line
        )
    (metric / "front_service.csv").write_text(
        "Time,SuccessRate(%),LatencyP90(s)\n2023-02-01 10:00:00,0,0.1\n"
    )
    faults = {
        "10": [
            {
                "inject_time": "2023-02-01 10:00:30",
                "inject_pod": "ts-order-service-9z-x",
                "inject_type": "return",
            }
        ]
    }
    (metric.parent / "2023-02-01-fault_list.json").write_text(json.dumps(faults))
    (metric / "dependency.csv").write_text(
        "source, target\nts-order-service,ts-route-service\n,\nloadgenerator,ts-order-service\n"
    )
    day = read_day(metric.parent)
    assert day.graph == {"ts-order-service": ("ts-route-service",)}  # any case; blank rows skipped
    assert (day.system, day.namespace, day.entry) == ("TrainTicket", "ts", "ts-ui-dashboard")
    assert day.pods["ts-order-service-1a-b2"].times.size == 2  # the repeated header and torn line skipped
    assert day.faults == (
        Fault("2023-02-01", 1675245630.0, "ts-order-service-9z-x", "ts-order-service", "return"),
    )


def test_a_diagnosis_that_fails_counts_as_a_miss_and_the_run_goes_on(tmp_path, monkeypatch, capsys) -> None:
    day = _day({}, {"cartservice-579f-wc2lz": {"CpuUsageRate(%)": 90.0}})

    def broken(argv: list[str]) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(rca, "run_diagnose", broken)
    outcome = rca.diagnose_fault(day, day.faults[0], "http://127.0.0.1:9", tmp_path / "c.yml", tmp_path)
    assert outcome.ranking == () and outcome.category == "failed"
    assert outcome.baseline[0] == "cartservice"  # the baseline is still scored
    assert "RuntimeError: boom" in capsys.readouterr().err
    monkeypatch.setattr(rca, "run_diagnose", lambda argv: 2)
    assert rca.diagnose_fault(day, day.faults[0], "http://x", tmp_path / "c.yml", tmp_path).ranking == ()


def test_the_disturbed_copy_renames_pods_everywhere_and_drops_minutes(tmp_path) -> None:
    from bench import rca_disturb

    day = tmp_path / "in" / "2022-08-22"
    (day / "metric").mkdir(parents=True)
    header = "Time," + ",".join(POD_COLUMNS)
    lines = [f"2022-08-22 04:{m:02d}:00," + ",".join(["1.0"] * len(POD_COLUMNS)) for m in range(60)]
    pod_csv = day / "metric" / "cartservice-579f59597d-wc2lz_metric.csv"
    pod_csv.write_text("\n".join([header, *lines]) + "\n")
    (day / "metric" / "front_service.csv").write_text("Time,SuccessRate(%)\n2022-08-22 04:00:00,100\n")
    faults = {"04": [{"inject_time": "2022-08-22 04:30:00", "inject_pod": "cartservice-579f59597d-wc2lz"}]}
    (day / "2022-08-22-fault_list.json").write_text(json.dumps(faults))
    calls = ["time,timestamp,frontend_cartservice,checkoutservice_cartservice"]
    calls += [f"2022-08-22 04:{m:02d}:00.1 +0000 UTC,{m},0.004,0.005" for m in range(60)]
    (day / "metric" / "source_50.csv").write_text("\n".join(calls) + "\n")
    rca_disturb.main(["--data", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--missing", "0.5"])
    out = tmp_path / "out" / "2022-08-22"
    (pod_file,) = (out / "metric").glob("cartservice-*_metric.csv")
    pod = pod_file.name.removesuffix("_metric.csv")
    assert pod != "cartservice-579f59597d-wc2lz" and service_of_pod(pod) == "cartservice"
    assert 10 < len(pod_file.read_text().splitlines()) - 1 < 50  # about half the minutes kept
    assert json.loads((out / "2022-08-22-fault_list.json").read_text())["04"][0]["inject_pod"] == pod
    assert (out / "metric" / "front_service.csv").exists()
    rows = (out / "metric" / "source_50.csv").read_text().splitlines()
    cells = [cell for row in rows[1:] for cell in row.split(",")[2:]]
    assert rows[0] == calls[0] and len(rows) == 61 and all(row.split(",")[1] for row in rows[1:])
    assert 20 < cells.count("") < 100  # about half of the 120 calls' cells blanked, each on its own


def test_the_report_says_whether_the_faults_named_first_get_their_category() -> None:
    fault = _day({}, {}).faults[0]  # a cartservice cpu_contention

    def outcome(first: str, category: str) -> rca.Outcome:
        return rca.Outcome(fault, "OnlineBoutique", (first,), (), 1.0, 0.1, category, "y")

    outcomes = [
        outcome("cartservice", "resource.cpu"),
        outcome("cartservice", "resource.memory"),
        outcome("a", "x"),
    ]
    assert rca.category_line("OnlineBoutique", outcomes) == (
        "OnlineBoutique: category of the faults named first: cpu_contention 1 of 2 as resource.cpu"
    )
    assert rca.category_line("OnlineBoutique", outcomes[2:]) is None


def test_a_kept_workdir_backfilled_another_way_is_refused(tmp_path) -> None:
    day = _day({}, {})
    (tmp_path / "data").mkdir()
    with pytest.raises(SystemExit, match="holds data backfilled as unknown"):
        rca.start_backfilled([day], tmp_path, mesh="calls")
    (tmp_path / "backfill.json").write_text(
        json.dumps({"days": ["day"], "graph_metrics": False, "layout": "protocol", "mesh": False})
    )
    with pytest.raises(SystemExit, match="use another --keep-workdir"):
        rca.start_backfilled([day], tmp_path, mesh="calls")  # the kept one has no mesh
