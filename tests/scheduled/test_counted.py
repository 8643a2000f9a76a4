"""Which detections of a batch may open an incident: the rule's gap setting and its materiality floor."""

from __future__ import annotations

import numpy as np

from detectors import DetectionRule, detect_batch
from detectors.types import BatchResult
from receiver.scheduled.scheduler import latest_counted
from receiver.scheduled.settings import RuleSettings
from tests.scheduled.conftest import QUERY

TS = 1_700_000_000.0 + 60.0 * np.arange(600)


def _result() -> BatchResult:
    """Spikes of several sizes in three series, one with a hole: some detections move far, some not."""
    values = 100.0 + np.random.default_rng(4).normal(0.0, 1.0, (3, TS.size))
    for row, at, size in ((0, 300, 6.0), (0, 500, 30.0), (1, 400, 8.0), (2, 450, 25.0)):
        values[row, at] += size
    values[1, 200:230] = np.nan
    return detect_batch(DetectionRule("r", method="zscore"), TS, values, ["a", "b", "c"], workers=1)


def test_latest_counted_with_gaps_alerting_is_the_batch_results_latest_beyond_the_floor():
    result = _result()
    rule = RuleSettings(name="floored", query=QUERY, min_delta=20.0, alert_on_gaps=True)
    floored = result.latest_per_series(TS[0], min_delta=20.0)
    assert result.table.records(latest_counted(rule, result, TS[0])) == floored
    assert floored != result.latest_per_series(TS[0])  # the floor holds some back


def test_latest_counted_without_the_floor_keeps_the_detections_that_moved_little():
    result = _result()
    rule = RuleSettings(name="floored", query=QUERY, min_delta=20.0, alert_on_gaps=True)
    unfloored = result.table.records(latest_counted(rule, result, TS[0], floor=False))
    assert unfloored == result.latest_per_series(TS[0])
