"""A status that became true inside the window (`receiver.evidence.appeared`): kube-state-metrics exports
`kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}` from the first OOM kill on, at 1.
Begun at 1, it holds one value and the change test finds nothing; read as 0 from its pod's first sample,
it is a change at the kill. A new pod's series, begun together, stay as they are."""

from __future__ import annotations

import numpy as np

from detectors import SeriesChange, characterize_changes
from receiver.evidence.appeared import states_a_reason, status_appeared, subject_of

N = 240
KILL = 200


def _rows() -> tuple[np.ndarray, list[dict[str, str]]]:
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
    up = np.full(N, np.nan)
    up[KILL:] = 1.0  # scraped from here on (backfilled history before): not down before
    rows = np.array([memory, reason, new_pod_info, new_pod_cpu, gauge, up])
    labels = [
        {"pod": "enricher-7b9d8c6f5-r8v6c", "container": "enricher"},
        {"pod": "enricher-7b9d8c6f5-r8v6c", "reason": "OOMKilled", "job": "kube-state-metrics"},
        {"pod": "enricher-7b9d8c6f5-x2x2x", "reason": "ContainerCreating"},
        {"pod": "enricher-7b9d8c6f5-x2x2x"},
        {"pod": "enricher-7b9d8c6f5-r8v6c", "queue": "new"},
        {"pod": "enricher-7b9d8c6f5-r8v6c", "job": "enricher"},
    ]
    return rows, labels


def test_a_status_that_appears_after_its_pods_other_series_is_a_change_from_zero() -> None:
    rows, labels = _rows()
    ts = np.arange(N) * 30.0
    before = characterize_changes(ts, rows)
    filled = status_appeared(rows, labels, 10)
    after = characterize_changes(ts, filled)
    assert not (isinstance(before[1], SeriesChange) and before[1].anomalous)  # flat: nothing to judge
    change = after[1]
    assert isinstance(change, SeriesChange) and change.anomalous and change.direction == "up"
    assert change.onset == ts[KILL] and change.baseline == 0.0
    assert np.isnan(filled[2, :KILL]).all() and np.isnan(filled[3, :KILL]).all()  # a new pod's own
    assert np.isnan(filled[4, :KILL]).all()  # not 0/1: a new series is not a status
    assert np.isnan(filled[5, :KILL]).all()  # `up` states no reason: its first scrape is not a recovery
    assert np.array_equal(filled[0], rows[0])


def test_nothing_to_read_leaves_the_array_as_it_is() -> None:
    rows, labels = _rows()
    same = rows[[0, 2, 3, 4, 5]]
    assert status_appeared(same, [labels[i] for i in (0, 2, 3, 4, 5)], 10) is same
    late = rows[[0, 1]]  # began too soon after its pod's first sample to judge
    assert status_appeared(late, labels[:2], KILL + 1) is late
    counted = rows[[0, 1]]  # a counter is read raw, whatever its labels
    assert status_appeared(counted, labels[:2], 10, counters=[False, True]) is counted
    assert states_a_reason(labels[1]) and not states_a_reason(labels[5])
    assert subject_of({"instance": "10.0.0.1:9100"}) == "instance:10.0.0.1:9100"
    assert subject_of({"job": "x"}) is None
