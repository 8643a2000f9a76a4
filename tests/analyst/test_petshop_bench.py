"""The PetShop benchmark harness: data layout in, rankings and recall out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import petshop
from tests.support.paths import SHARED

NODES = ("PetSite", "search-lb_remote", "search_AWS::ECS::Fargate", "db_AWS::DynamoDB")
EDGES = {
    "PetSite": ("search-lb_remote", "search_AWS::ECS::Fargate"),
    "search_AWS::ECS::Fargate": ("db_AWS::DynamoDB",),
}
REAL_DATA = SHARED / "petshop"


def write_metrics(path: Path, timestamps: np.ndarray, latency: dict[str, np.ndarray]) -> None:
    """PetShop's 4-header-line layout, latency/Average and availability/Average only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [(n, "latency", "Average") for n in NODES] + [(n, "availability", "Average") for n in NODES]
    lines = [
        "microservice," + ",".join(c[0] for c in columns),
        "metric," + ",".join(c[1] for c in columns),
        "statistic," + ",".join(c[2] for c in columns),
        "unix_timestamp" + "," * len(columns),
    ]
    for i, ts in enumerate(timestamps):
        cells = [f"{latency[n][i]:.6f}" for n in NODES] + ["100.0"] * len(NODES)
        lines.append(f"{ts:.1f}," + ",".join(cells))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def mini_petshop(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    scenario = tmp_path / "mini_traffic"
    scenario.mkdir()
    header = "," + ",".join(NODES)
    rows = [n + "," + ",".join("1.0" if m in EDGES.get(n, ()) else "0.0" for m in NODES) for n in NODES]
    (scenario / "graph.csv").write_text("\n".join([header, *rows]) + "\n")
    base = {
        "PetSite": 0.09,
        "search-lb_remote": 0.012,
        "search_AWS::ECS::Fargate": 0.006,
        "db_AWS::DynamoDB": 0.015,
    }
    normal_ts = 1_690_000_000 + 300.0 * np.arange(60)
    write_metrics(
        scenario / "noissue" / "metrics.csv",
        normal_ts,
        {n: b * (1 + 0.03 * rng.standard_normal(60)) for n, b in base.items()},
    )
    t0 = 1_681_000_000.0
    fault = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    incident = {n: b * np.ones(5) for n, b in base.items()}
    incident["search_AWS::ECS::Fargate"] += 0.03 * fault
    incident["search-lb_remote"] += 0.1 * fault
    incident["PetSite"] += 0.04 * fault
    issue = scenario / "train" / "issue_0"
    write_metrics(issue / "metrics.csv", t0 + 300.0 * np.arange(5), incident)
    target = {
        "target": {"node": "PetSite", "metric": "latency", "agg": "Average", "timestamp": t0 + 450},
        "root_cause": {"node": "search_AWS::ECS::Fargate", "metric": None},
        "metadata": {},
    }
    (issue / "target.json").write_text(json.dumps(target))
    return tmp_path


def test_read_metrics_parses_the_three_level_header(mini_petshop: Path) -> None:
    metrics = petshop.read_metrics(mini_petshop / "mini_traffic" / "train" / "issue_0" / "metrics.csv")
    assert len(metrics.timestamps) == 5
    assert metrics.nodes("latency") == list(NODES)


def test_bench_ranks_the_faulty_service_first_and_writes_json_lines(
    mini_petshop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rows.jsonl"
    assert petshop.main(["--data", str(mini_petshop), "--split", "train", "--out", str(out)]) == 0
    record = json.loads(out.read_text().splitlines()[0])
    assert (
        record["scenario"] == "mini_traffic"
        and record["issue"] == "issue_0"
        and record["metric"] == "latency"
    )
    assert record["ranking"][:2] == ["search_AWS::ECS::Fargate", "search-lb_remote"]
    assert 0.0 < record["confidence"] <= 1.0
    printed = capsys.readouterr().out
    assert "mini_traffic latency" in printed and "overall" in printed and "calibration error" in printed


def test_missing_split_is_an_error(mini_petshop: Path) -> None:
    assert petshop.main(["--data", str(mini_petshop), "--split", "test"]) == 1


@pytest.mark.skipif(not (REAL_DATA / "low_traffic" / "train").exists(), reason="PetShop data not present")
def test_train_split_top1_recall_is_at_least_085() -> None:
    rows, _ = petshop.run(REAL_DATA, "train", petshop.load_playbooks(None))
    assert len(rows) == 20
    assert sum(r.hit(1) for r in rows) / len(rows) >= 0.85
