"""Start a real Prometheus (or VictoriaMetrics) on loopback, pre-loaded with synthetic series (for the
tests and benchmarks; the demo's own history is `backfill`).

Prometheus is backfilled with `promtool tsdb create-blocks-from openmetrics` before it starts;
VictoriaMetrics gets the same series through its JSON-lines import API.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from demo.processes import (
    ManagedProcess,
    create_blocks,
    find_binary,
    free_port,
    start_prometheus,
    wait_http_ok,
)


@dataclass(frozen=True, eq=False)
class SyntheticSeries:
    """`values[i]` at Unix second `timestamps[i]`; counters must be named `*_total`."""

    metric: str
    labels: Mapping[str, str]
    timestamps: np.ndarray
    values: np.ndarray
    kind: Literal["gauge", "counter"] = "gauge"
    help: str = field(default="synthetic series")


def _label_text(labels: Mapping[str, str]) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{{{body}}}" if body else ""


def write_openmetrics(series: Iterable[SyntheticSeries], path: Path) -> None:
    """One family per metric name, samples in time order, `# EOF` at the end."""
    by_metric: dict[str, list[SyntheticSeries]] = {}
    for s in series:
        by_metric.setdefault(s.metric, []).append(s)
    with path.open("w") as out:
        for metric, members in by_metric.items():
            kind = members[0].kind
            family = metric.removesuffix("_total") if kind == "counter" else metric
            out.write(f"# HELP {family} {members[0].help}\n# TYPE {family} {kind}\n")
            for s in members:
                labels = _label_text(s.labels)
                out.writelines(
                    f"{metric}{labels} {float(v)!r} {int(t)}\n"
                    for t, v in zip(s.timestamps, s.values, strict=True)
                )
        out.write("# EOF\n")


def start_backfilled_prometheus(
    workdir: Path,
    series: Sequence[SyntheticSeries],
    *,
    external_labels: Mapping[str, str] | None = None,
    rules_yaml: str | None = None,
) -> ManagedProcess:
    """Backfill `series` into a fresh TSDB under `workdir`, then start Prometheus on it (no scrapes)."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "series.om"
    write_openmetrics(series, source)
    create_blocks(source, workdir / "data")
    config = "global:\n  evaluation_interval: 1h\n"
    if external_labels:
        config += "  external_labels:\n" + "".join(f"    {k}: {v}\n" for k, v in external_labels.items())
    if rules_yaml:
        (workdir / "rules.yml").write_text(rules_yaml)
        config += f"rule_files:\n  - {workdir / 'rules.yml'}\n"
    config += "scrape_configs: []\n"
    return start_prometheus(workdir, config)


def start_victoria_metrics(workdir: Path, series: Sequence[SyntheticSeries]) -> ManagedProcess:
    """Start single-node VictoriaMetrics, import `series` (JSON lines, ms timestamps) and flush."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / "victoria-metrics.log"
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [
                find_binary("victoria-metrics"),
                f"-storageDataPath={workdir / 'vm-data'}",
                f"-httpListenAddr=127.0.0.1:{port}",
                "-search.latencyOffset=0s",
                "-retentionPeriod=100y",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    managed = ManagedProcess("victoria-metrics", port, proc, workdir, log_path)
    try:
        wait_http_ok(f"{managed.url}/health", proc=proc)
        lines = [
            json.dumps(
                {
                    "metric": {"__name__": s.metric, **s.labels},
                    "values": [float(v) for v in s.values],
                    "timestamps": [int(t * 1000) for t in s.timestamps],
                }
            )
            for s in series
        ]
        request = urllib.request.Request(
            f"{managed.url}/api/v1/import", data="\n".join(lines).encode(), method="POST"
        )
        urllib.request.urlopen(request, timeout=60).close()
        urllib.request.urlopen(f"{managed.url}/internal/force_flush", timeout=60).close()
    except Exception:
        managed.stop()
        raise
    return managed


def noisy(
    timestamps: np.ndarray,
    level: float,
    noise: float,
    seed: int,
    *,
    steps: Sequence[tuple[float, float]] = (),
) -> np.ndarray:
    """`level` + Gaussian noise, plus (time, new_level) steps: from that time on the level changes."""
    rng = np.random.default_rng(seed)
    values = np.full(timestamps.size, level, dtype=np.float64)
    for at, new_level in steps:
        values[timestamps >= at] = new_level
    return values + rng.normal(0.0, noise, timestamps.size)
