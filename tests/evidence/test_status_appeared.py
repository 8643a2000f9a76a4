"""A status that became true inside the window (`receiver.evidence.appeared`): kube-state-metrics exports
`kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}` from the first OOM kill on, at 1.
Begun at 1, it holds one value and the change test finds nothing; read as 0 from its pod's first sample,
it is a change at the kill. A new pod's series, begun together, stay as they are."""

from __future__ import annotations

import numpy as np

from detectors import SeriesChange, characterize_changes
from receiver.evidence.appeared import status_appeared, subject_of

N = 240
KILL = 200


def _rows() -> tuple[np.ndarray, list[str | None]]:
    rng = np.random.default_rng(0)
    memory = 1e9 + rng.normal(0, 1e7, N)
    reason = np.full(N, np.nan)
    reason[KILL:] = 1.0  # appears at the first OOM kill
    new_pod_info = np.full(N, np.nan)
    new_pod_info[KILL:] = 1.0  # a new pod: its series all begin here
    new_pod_cpu = np.full(N, np.nan)
    new_pod_cpu[KILL:] = 0.2 + rng.normal(0, 0.01, N - KILL)
    gauge = np.full(N, np.nan)
    gauge[KILL:] = 40.0 + rng.normal(0, 1, N - KILL)  # a new series, but not a status
    rows = np.array([memory, reason, new_pod_info, new_pod_cpu, gauge])
    subjects = [
        subject_of({"pod": "enricher-7b9d8c6f5-r8v6c", "container": "enricher"}),
        subject_of({"pod": "enricher-7b9d8c6f5-r8v6c", "reason": "OOMKilled", "job": "kube-state-metrics"}),
        subject_of({"pod": "enricher-7b9d8c6f5-x2x2x"}),
        subject_of({"pod": "enricher-7b9d8c6f5-x2x2x"}),
        subject_of({"pod": "enricher-7b9d8c6f5-r8v6c", "queue": "new"}),
    ]
    return rows, subjects


def test_a_status_that_appears_after_its_pods_other_series_is_a_change_from_zero() -> None:
    rows, subjects = _rows()
    ts = np.arange(N) * 30.0
    before = characterize_changes(ts, rows)
    filled = status_appeared(rows, subjects, 10)
    after = characterize_changes(ts, filled)
    assert not (isinstance(before[1], SeriesChange) and before[1].anomalous)  # flat: nothing to judge
    change = after[1]
    assert isinstance(change, SeriesChange) and change.anomalous and change.direction == "up"
    assert change.onset == ts[KILL] and change.baseline == 0.0
    assert np.isnan(filled[2, :KILL]).all() and np.isnan(filled[3, :KILL]).all()  # a new pod's own
    assert np.isnan(filled[4, :KILL]).all()  # not 0/1: a new series is not a status
    assert np.array_equal(filled[0], rows[0])


def test_nothing_to_read_leaves_the_array_as_it_is() -> None:
    rows, subjects = _rows()
    assert status_appeared(rows[[0, 2, 3]], [subjects[0], subjects[2], subjects[3]], 10) is not None
    same = rows[[0, 4]]
    assert status_appeared(same, [subjects[0], subjects[4]], 10) is same
    late = rows[[0, 1]]  # began too soon after its pod's first sample to judge
    assert status_appeared(late, [subjects[0], subjects[1]], KILL + 1) is late
    assert subject_of({"instance": "10.0.0.1:9100"}) == "instance:10.0.0.1:9100"
    assert subject_of({"job": "x"}) is None
