"""Series points in the evidence survive storage exactly, gaps included."""

from __future__ import annotations

import dataclasses
import json

from analyst.evidence import SeriesValues, evidence_from_dict, evidence_to_dict
from tests.analyst.grid_evidence import grid_evidence as _evidence
from tests.analyst.test_entities import _series


def test_points_round_trip_through_json_with_their_gaps() -> None:
    series = _series("pod_cpu_usage_percent", "cart", 20.0, 1.0, 1)
    assert series.values is not None
    gappy = SeriesValues(series.values.start, series.values.step, (1.5, None, -2.25e-9, 3.0))
    evidence = _evidence([dataclasses.replace(series, values=gappy), series])

    stored = json.loads(json.dumps(evidence_to_dict(evidence)))

    assert isinstance(stored["series"][0]["values"]["values"], str)  # packed: one base64 string
    assert evidence_from_dict(stored) == evidence


def test_evidence_without_points_still_loads() -> None:
    evidence = _evidence([_series("pod_cpu_usage_percent", "cart", 20.0, 1.0, 2)])
    stored = evidence_to_dict(evidence)
    del stored["series"][0]["values"]
    assert evidence_from_dict(stored).series[0].values is None
