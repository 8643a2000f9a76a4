"""The exporters benchmark: a deterministic generator, a judge that names only the true cause, and a run
through a real Prometheus whose printed ranks are the ones its diagnoses give.

The generator (`bench.exporters_data`, `bench.exporters_scenarios`) is the audit's: the same seed gives the
same samples, each scenario's truth selects series that exist, and the no-ksm variant only drops
kube-state-metrics. The judge (`bench.exporters.judge`) matches components and series exactly: the
alert's own label values in a suspect (the audit's kafka_lag "rank 1") or a title naming another
component do not count.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench import exporters
from bench.exporters_data import KSM_JOB
from bench.exporters_scenarios import OG_B, SCENARIOS, recording


def _samples(name: str, ksm: bool = True) -> list[tuple[str, tuple[tuple[str, str], ...], np.ndarray]]:
    return [
        (row.name, tuple(sorted(row.labels.items())), row.values[row.keep])
        for row in recording(exporters.ALL_SCENARIOS[name], ksm).rows()
    ]


@pytest.mark.parametrize(
    ("name", "another"),
    [("gc_pause", "hikari_exhaust"), ("nic_errors", "dns_servfail"), ("enricher_oom", "zk_disk_full")],
)
def test_a_scenario_draws_the_same_samples_every_time_and_another_scenario_others(
    name: str, another: str
) -> None:
    first, again = _samples(name), _samples(name)
    assert [(n, labels) for n, labels, _ in first] == [(n, labels) for n, labels, _ in again]
    for (_, _, a), (_, _, b) in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    other = dict(((n, labels), v) for n, labels, v in _samples(another))
    differs = [not np.array_equal(v, other[(n, labels)]) for n, labels, v in first if (n, labels) in other]
    assert sum(differs) > len(differs) / 2


@pytest.mark.parametrize("name", list(exporters.ALL_SCENARIOS))  # every set
def test_every_truth_selects_series_of_its_components_in_both_variants(name: str) -> None:
    scenario = exporters.ALL_SCENARIOS[name]
    for ksm in (True, False):
        rows = recording(scenario, ksm).rows()
        causes = [row for row in rows if scenario.truth.is_cause(row)]
        assert causes, (name, ksm)
        assert {row.owner for row in causes} <= set(scenario.truth.components)
        assert scenario.alert.starts - 3600 > rows[0].times[0]  # an hour of history before the alert


@pytest.mark.parametrize("name", ["xc_fds", "bad_deploy", "loader_bad_deploy"])
def test_the_no_ksm_variant_drops_kube_state_metrics_and_nothing_else(name: str) -> None:
    full, without = _samples(name), _samples(name, ksm=False)
    dropped = {(n, labels) for n, labels, _ in full} - {(n, labels) for n, labels, _ in without}
    assert dropped
    assert all(n.startswith("kube_") or dict(labels)["job"] == KSM_JOB for n, labels in dropped)
    assert len(full) - len(without) == len(dropped)


@pytest.fixture(scope="module")
def kafka_index() -> exporters.Index:
    return exporters.Index(recording(SCENARIOS["kafka_lag"]))


def test_the_alerts_own_label_value_in_a_suspect_is_not_the_cause(kafka_index: exporters.Index) -> None:
    """The audit's kafka_lag "rank 1": consumergroup="risk-engine" is the alert's label, not its cause."""
    own = '{__name__="sum(kafka_consumergroup_lag) by (consumergroup)",consumergroup="risk-engine"}'
    ranked = exporters.judge(
        f"Undetermined cause: {own}", own, 0.5, SCENARIOS["kafka_lag"].truth, kafka_index
    )
    assert not ranked.right_component and not ranked.cause


def test_a_title_naming_another_component_is_not_the_cause_whatever_its_suspect(
    kafka_index: exporters.Index,
) -> None:
    suspect = 'go_sql_in_use_connections{db_name="orders",pod="risk-engine-5b6f7c9d8-h7rtn"}'
    truth = SCENARIOS["kafka_lag"].truth
    right = exporters.judge(
        "Database connection-pool exhaustion: risk-engine", suspect, 0.4, truth, kafka_index
    )
    assert right.right_component and right.cause
    title = "Database connection-pool exhaustion: kube-prometheus-stack-kube-state-metrics"
    wrong = exporters.judge(title, suspect, 0.4, truth, kafka_index)
    assert wrong.component == "kube-state-metrics" and not wrong.cause


def test_a_derived_suspect_names_its_familys_series_and_a_bare_name_only_its_component() -> None:
    index = exporters.Index(recording(SCENARIOS["gc_pause"]))
    truth = SCENARIOS["gc_pause"].truth
    derived = f'jvm_gc_pause_seconds:mean{{cause="G1 Evacuation Pause",pod="{OG_B}"}}'
    assert exporters.judge("Memory pressure / GC: order-gateway", derived, 0.6, truth, index).cause
    other_pod = derived.replace(OG_B, "order-gateway-7d9f8b6c4-x2lqp")
    assert not exporters.judge("Memory pressure / GC: order-gateway", other_pod, 0.6, truth, index).cause
    bare = exporters.judge("Recent deployment or restart: order-gateway", "order-gateway", 0.6, truth, index)
    assert bare.right_component and not bare.cause


SMALL = ("gc_pause", "kafka_lag")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[dict[str, object]]]:
    if not (shutil.which("promtool") and shutil.which("prometheus")):
        pytest.skip("promtool and prometheus are not installed")
    out = tmp_path_factory.mktemp("exporters") / "rows.jsonl"
    printed = io.StringIO()
    argv = ["--scenarios", ",".join(SMALL), "--variants", "scraped", "--out", str(out)]
    with contextlib.redirect_stdout(printed):
        assert exporters.main(argv) == 0
    return printed.getvalue(), [json.loads(line) for line in Path(out).read_text().splitlines()]


def _independent_rank(
    hypotheses: list[dict[str, str]], component: str, pod: str, metric: re.Pattern[str]
) -> int:
    """The first hypothesis whose title names `component` and whose suspect is a `metric` series of `pod`
    (0: none), read straight from the diagnosis' titles and suspects."""
    return next(
        (
            i
            for i, h in enumerate(hypotheses, 1)
            if h["title"].endswith(f": {component}")
            and f'pod="{pod}"' in h["suspect"]
            and metric.match(h["suspect"])
        ),
        0,
    )


@pytest.mark.slow
def test_the_printed_rank_and_primary_are_the_diagnosis(
    small_run: tuple[str, list[dict[str, object]]],
) -> None:
    table, rows = small_run
    assert [r["scenario"] for r in rows] == list(SMALL)
    pods = {"gc_pause": OG_B, "kafka_lag": "risk-engine-5b6f7c9d8-h7rtn"}
    metrics = {
        "gc_pause": re.compile(r"jvm_(memory_used_bytes|gc_pause_seconds)"),
        "kafka_lag": re.compile("go_sql_"),
    }
    components = {"gc_pause": "order-gateway", "kafka_lag": "risk-engine"}
    for row in rows:
        name = str(row["scenario"])
        hypotheses = row["hypotheses"]
        assert isinstance(hypotheses, list) and hypotheses, name
        line = next(line for line in table.splitlines() if line.startswith(f"| {name} | scraped |"))
        cells = line.strip("| ").split(" | ")
        expected = _independent_rank(hypotheses, components[name], pods[name], metrics[name])
        assert cells[3] == f"**{expected or '-'}**", line
        assert (row["cause_rank"] or 0) == expected
        primary = hypotheses[0]
        assert cells[5] == f"{primary['title']} ({primary['confidence']:.0%})".replace("|", "\\|")


@pytest.mark.slow
def test_the_summary_counts_the_rows(small_run: tuple[str, list[dict[str, object]]]) -> None:
    table, rows = small_run
    cells = (
        next(line for line in table.splitlines() if line.startswith("| scraped | ")).strip("| ").split(" | ")
    )
    ranks = [r["cause_rank"] for r in rows]
    assert int(cells[1]) == len(rows)
    assert cells[2] == f"**{sum(r == 1 for r in ranks)}**"
    assert int(cells[3]) == sum(isinstance(r, int) and r <= 3 for r in ranks)
    baseline = [r["baseline_cause_rank"] for r in rows]
    assert (
        cells[6]
        == f"{sum(r == 1 for r in baseline)} / {sum(isinstance(r, int) and r <= 3 for r in baseline)}"
    )
