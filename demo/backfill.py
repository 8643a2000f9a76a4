"""Calm history for the demo's Prometheus, so detectors see a baseline from the first alert on.

`history_openmetrics` renders the scenario's pre-start values (pure); `backfill_history` turns them into
TSDB blocks with `promtool tsdb create-blocks-from openmetrics` before Prometheus starts.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from demo.scenario import DEFAULT_SCHEDULE, METRICS, Schedule, sample
from receiver.errors import ReceiverError


def _label_text(labels: Mapping[str, str]) -> str:
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"') for value in labels.values())
    return ",".join(f'{name}="{value}"' for name, value in zip(labels, escaped, strict=True))


def history_openmetrics(
    start_unix: float,
    seconds: int,
    labels: Mapping[str, str],
    step: float = 1.0,
    schedule: Schedule = DEFAULT_SCHEDULE,
) -> str:
    """OpenMetrics text with `seconds` of samples ending just before `start_unix` (scenario time 0)."""
    times = [-seconds + i * step for i in range(int(seconds / step))]
    values = [sample(t, schedule) for t in times]
    label_text = _label_text(labels)
    lines: list[str] = []
    for name, spec in METRICS.items():
        family = name.removesuffix("_total") if spec.kind == "counter" else name
        lines.append(f"# TYPE {family} {spec.kind}")
        for t, row in zip(times, values, strict=True):
            lines.append(f"{name}{{{label_text}}} {row[name]!r} {start_unix + t:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill_history(promtool: str, openmetrics: str, data_dir: Path) -> None:
    """Write `openmetrics` as TSDB blocks into Prometheus's (not yet running) data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "history.om"
    source.write_text(openmetrics)
    result = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise ReceiverError(f"promtool could not backfill demo history: {result.stderr.strip()}")
