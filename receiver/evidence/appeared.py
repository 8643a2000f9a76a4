"""A status that became true inside the window.

kube-state-metrics exports a container's reasons only once they hold, one series per reason:
`kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}` appears at a container's first OOM
kill, at 1, and stays. A series that begins at 1 holds one value, so the change test finds nothing in it,
though its first sample is the change. Where a series of 0/1 values labelled with the `reason` it states
begins well after its subject's other series (the pod's, else the scrape target's: they were reporting, so
its absence was real), it is read as 0 from the subject's first sample to its own. Other 0/1 series are
left as they are: a target's `up` begins with its first scrape, which says nothing of it being down
before; and a new subject's series (a new pod) begin together: their start is a rollout, which the
evidence judges by other series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from analyst.builtin.exporters import pod_in

STATUS_VALUES = (0.0, 1.0)
REASON = "reason"


def subject_of(labels: Mapping[str, str]) -> str | None:
    """What a series describes, for telling its first sample from its subject's: the pod, else the scrape
    target (`instance`)."""
    pod = pod_in(labels)
    if pod:
        return f"pod:{pod}"
    instance = labels.get("instance")
    return f"instance:{instance}" if instance else None


def states_a_reason(labels: Mapping[str, str]) -> bool:
    """The series is one of those an exporter writes for the reason that holds (`reason` label)."""
    return bool(labels.get(REASON))


def status_appeared(
    values: np.ndarray,
    labels: Sequence[Mapping[str, str]],
    min_before: int,
    counters: Sequence[bool] | None = None,
) -> np.ndarray:
    """`values` (series x grid points, NaN where absent; `labels` each row's) with each series stating a
    reason (`states_a_reason`; not one of the `counters`, read raw) of 0/1 values that began at least
    `min_before` points after its subject's (`subject_of`) first sample read as 0 from that sample on; the
    array itself when there is none."""
    subjects = [subject_of(one) for one in labels]
    reasons = [states_a_reason(one) and not (counters and counters[i]) for i, one in enumerate(labels)]
    present = np.isfinite(values)
    n = values.shape[1] if values.ndim == 2 else 0
    first = np.where(present.any(axis=1), present.argmax(axis=1), n).tolist() if n else []
    earliest: dict[str, int] = {}
    for subject, start in zip(subjects, first, strict=True):
        if subject is not None:
            earliest[subject] = min(earliest.get(subject, n), start)
    out = values
    for row, (subject, start) in enumerate(zip(subjects, first, strict=True)):
        if (
            not reasons[row]
            or subject is None
            or start >= n
            or start - (since := earliest[subject]) < min_before
        ):
            continue
        seen = values[row, present[row]]
        if not (np.isin(seen, STATUS_VALUES).all() and seen.any()):
            continue
        if out is values:
            out = values.copy()
        out[row, since:start] = 0.0
    return out
