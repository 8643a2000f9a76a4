"""`bench.nab_detectors.AlertLayer`: the scheduler's dedupe (runs, cooldown) over streaming scores, alerts
ranked above every other point, the other points in the detector's order."""

import numpy as np
import pytest

from bench.nab_detectors import UNDER_ALERTS, AlertLayer


class Replay:
    """A detector that returns given scores in order."""

    def __init__(self, scores):
        self._scores = iter(scores)

    def update(self, timestamp, value):
        return next(self._scores)


def _alerts(scores, hole=2, cooldown=600.0):
    layer = AlertLayer(Replay(scores), hole=hole, cooldown=cooldown)  # type: ignore[arg-type]
    return [layer.update(60.0 * i, 0.0) for i in range(len(scores))]


def test_a_run_alerts_once_at_its_first_flagged_point_and_the_rest_rank_under_it():
    out = _alerts([0, 0.6, 0.9, 0.3, 0.8, 0], cooldown=0)
    assert out == pytest.approx([0, 0.6, UNDER_ALERTS * 0.9, UNDER_ALERTS * 0.3, UNDER_ALERTS * 0.8, 0])


def test_a_new_run_after_the_cooldown_alerts_again():
    scores = [0.7] + [0.0] * 10 + [0.8]
    assert _alerts(scores)[-1] == 0.8  # 11 minutes later, cooldown 10 minutes


def test_a_new_run_within_the_cooldown_is_the_same_incident():
    scores = [0.7] + [0.0] * 5 + [0.8]
    assert _alerts(scores)[-1] == pytest.approx(UNDER_ALERTS * 0.8)


def test_every_alert_outranks_every_other_point_and_the_others_keep_the_detectors_order():
    rng = np.random.default_rng(4)
    scores = rng.random(500) ** 3  # mostly low, some flagged runs
    out = np.array(_alerts(scores.tolist(), hole=2, cooldown=1200.0))
    alert = out >= 0.5
    assert alert.any() and (~alert & (scores >= 0.5)).any()  # some flagged points open no alert
    assert out[~alert].max() < out[alert].min()
    rest = np.flatnonzero(~alert)
    assert np.array_equal(np.argsort(out[rest], kind="stable"), np.argsort(scores[rest], kind="stable"))
