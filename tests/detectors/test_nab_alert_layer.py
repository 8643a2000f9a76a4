"""`bench.nab_detectors.AlertLayer`: the scheduler's dedupe (runs, cooldown) over streaming scores."""

from bench.nab_detectors import AlertLayer


class Replay:
    """A detector that returns given scores in order."""

    def __init__(self, scores):
        self._scores = iter(scores)

    def update(self, timestamp, value):
        return next(self._scores)


def _alerts(scores, hole=2, cooldown=600.0):
    layer = AlertLayer(Replay(scores), hole=hole, cooldown=cooldown)  # type: ignore[arg-type]
    return [layer.update(60.0 * i, 0.0) for i in range(len(scores))]


def test_a_run_alerts_once_at_its_first_flagged_point():
    assert _alerts([0, 0.6, 0.9, 0.3, 0.8, 0], cooldown=0) == [0, 0.6, 0, 0, 0, 0]


def test_a_new_run_after_the_cooldown_alerts_again():
    scores = [0.7] + [0.0] * 10 + [0.8]
    assert _alerts(scores)[-1] == 0.8  # 11 minutes later, cooldown 10 minutes


def test_a_new_run_within_the_cooldown_is_the_same_incident():
    scores = [0.7] + [0.0] * 5 + [0.8]
    assert _alerts(scores)[-1] == 0.0
