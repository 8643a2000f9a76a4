"""A scenario's alert rule evaluated by a real Prometheus over its backfilled recording: the exporters sets'
checks that each rule holds from its activation to startsAt and never in the hour before."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench.exporters import NAME
from bench.exporters_data import Recording
from bench.exporters_scenarios import Alert
from bench.rca import blocks_from, serve_blocks

STEP = 15  # seconds between the rule's evaluations


def as_the_rule_reads(rec: Recording, alert: Alert) -> Recording:
    """`rec` with only the families the rule reads, over the window its query reads (quick to backfill)."""
    read = set(NAME.findall(alert.expr))
    cut = copy.copy(rec)
    cut.families = {
        family: [
            dataclasses.replace(
                row, keep=row.keep & (row.times > alert.active - 3600 - 600) & (row.times <= alert.starts)
            )
            for row in rows
        ]
        for family, rows in rec.families.items()
        if family in read
    }
    return cut


def rule_results(rec: Recording, alert: Alert, workdir: Path) -> list[dict[str, Any]]:
    """The rule's `query_range` result series from an hour before its activation to startsAt, every STEP
    seconds, with `rec` backfilled into a Prometheus of its own (skips without promtool and prometheus)."""
    if not (shutil.which("promtool") and shutil.which("prometheus")):
        pytest.skip("promtool and prometheus are not installed")
    source = workdir / "scenario.om"
    blocks_from(source, rec.write_openmetrics(source), workdir)
    prometheus = serve_blocks(workdir)
    try:
        query = {"query": alert.expr, "start": alert.active - 3600, "end": alert.starts, "step": STEP}
        with urllib.request.urlopen(
            f"{prometheus.url}/api/v1/query_range?{urllib.parse.urlencode(query)}"
        ) as r:
            result: list[dict[str, Any]] = json.load(r)["data"]["result"]
    finally:
        prometheus.stop()
    return result
