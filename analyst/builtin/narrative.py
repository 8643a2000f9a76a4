"""Concrete sentences about series, hypotheses and the analysis steps (no decisions are made here)."""

from __future__ import annotations

from collections.abc import Sequence

from analyst.builtin.ranking import WEAK_CORRELATION, RankedCause
from analyst.evidence import Evidence, SeriesEvidence

# detectors.change clips z here when the history had no spread (a flat series): no number is honest
OFF_SCALE_Z = 1e6


def _duration(seconds: float) -> str:
    """'4m 10s' / '4m' / '30s'."""
    minutes, secs = divmod(round(abs(seconds)), 60)
    return f"{minutes}m {secs}s" if minutes and secs else (f"{minutes}m" if minutes else f"{secs}s")


def format_offset(seconds: float) -> str:
    """'4m 10s before the alert' / '30s after the alert' / 'at the alert'."""
    if abs(seconds) < 1:
        return "at the alert"
    return f"{_duration(seconds)} {'before' if seconds < 0 else 'after'} the alert"


def _number(value: float) -> str:
    return f"{value:.4g}"


def _z_text(z: float) -> str:
    """z as text; the detectors' bound (a change against a history with no spread) reads as such."""
    if abs(z) >= OFF_SCALE_Z:
        return "z off scale: no spread before it"
    return f"z={z:.1f}"


def describe_change(series: SeriesEvidence) -> str:
    """What the detector saw in a series: direction, baseline -> current, z, p."""
    verb = {"up": "rose", "down": "fell"}.get(series.direction or "", "changed")
    parts = [f"{series.series_id} {verb}"]
    if series.baseline is not None and series.current is not None:
        parts.append(f"from {_number(series.baseline)} to {_number(series.current)}")
    elif series.magnitude is not None:
        parts.append(f"by {_number(series.magnitude)}")
    stats = []
    if series.z_score is not None:
        stats.append(_z_text(series.z_score))
    if series.p_value is not None:
        stats.append(f"p={series.p_value:.2g}" if series.p_value >= 1e-16 else "p<1e-16")
    if series.anomaly_type:
        stats.append(series.anomaly_type)
    text = " ".join(parts)
    return f"{text} ({', '.join(stats)})" if stats else text


def supporting_lines(cause: RankedCause) -> tuple[str, ...]:
    s = cause.series
    lines = [describe_change(s)]
    if cause.onset_offset is not None:
        lines.append(f"{s.series_id} changed {format_offset(cause.onset_offset)}")
    if cause.lead_seconds is not None and cause.lead_seconds > 0:
        lines.append(f"it leads the alert's series by {cause.lead_seconds:.0f}s (changed first)")
    if s.correlation is not None and abs(s.correlation) >= 0.5 and not cause.is_alert_series:
        lines.append(f"correlation with the alert's series {s.correlation:+.2f}")
    if cause.topology_score >= 0.6:
        lines.append(f"topology: {cause.topology_note}")
    if cause.family_score >= 1.0 and not cause.is_alert_series:
        lines.append(f"{s.metric} is a {cause.family.value} signal, a typical cause rather than an effect")
    return tuple(lines)


def contradicting_lines(cause: RankedCause) -> tuple[str, ...]:
    s = cause.series
    lines = []
    if cause.lead_seconds is not None and cause.lead_seconds < 0:
        lines.append(f"{s.series_id} changed {-cause.lead_seconds:.0f}s after the alert's series (lags it)")
    if s.correlation is not None and abs(s.correlation) < WEAK_CORRELATION:
        lines.append(f"weak correlation with the alert's series ({s.correlation:+.2f})")
    if s.z_score is not None and abs(s.z_score) < 3:
        lines.append(f"modest deviation (z={s.z_score:.1f})")
    if cause.topology_score < 0.5:
        lines.append(f"topology: {cause.topology_note}")
    if cause.ended_before is not None:
        lines.append(
            f"{s.series_id} was back to normal {_duration(cause.ended_before)} before the alert's series "
            "began to change: an earlier episode, not an ongoing cause"
        )
    if cause.is_alert_series:
        lines.append("only the alert's own series is anomalous; nothing upstream of it was seen changing")
    elif cause.family_score < 0.5:
        lines.append(f"{s.metric} in the alerting component is more likely an effect than a cause")
    return tuple(lines)


def data_examination(evidence: Evidence) -> str:
    available = [s for s in evidence.series if s.available]
    missing = [s for s in evidence.series if not s.available]
    anomalous = evidence.anomalous
    span = evidence.window_end - evidence.window_start
    text = (
        f"Examined {len(evidence.series)} series over a {span / 60:.0f}-minute window around the alert "
        f"({len(available)} with data, {len(missing)} unavailable); {len(anomalous)} anomalous"
    )
    if anomalous:
        shown = ", ".join(s.series_id for s in anomalous[:8])
        text += f": {shown}{' ...' if len(anomalous) > 8 else ''}"
    if missing:
        reasons = "; ".join(f"{s.series_id}: {s.unavailable_reason or 'no data'}" for s in missing[:5])
        text += f". Unavailable: {reasons}"
    if evidence.topology:
        text += f". A call graph of {len(evidence.topology)} callers was available"
    return text + "."


def pattern_recognition(evidence: Evidence, ranked: Sequence[RankedCause]) -> str:
    start = evidence.alert.starts_at
    timed = sorted((s for s in evidence.anomalous if s.onset is not None), key=lambda s: s.onset or 0.0)
    if timed:
        order = ", then ".join(f"{s.series_id} ({_onset_note(s, start)})" for s in timed[:6])
        text = f"Onset order: {order}."
    else:
        text = "No onset times were available, so the order of changes is unknown."
    deep = [r for r in ranked if r.topology_score >= 1.0]
    if deep:
        text += (
            " Deepest anomalous components on the call path: " + ", ".join(r.suspect for r in deep[:4]) + "."
        )
    explained = [r for r in ranked if r.explained_by]
    if explained:
        text += (
            " Explained by other anomalous components: "
            + ", ".join(f"{r.suspect} (by {', '.join(r.explained_by)})" for r in explained[:4])
            + "."
        )
    return text


def _onset_note(series: SeriesEvidence, start: float) -> str:
    """'2m before the alert' and, for a change that was over, when it was back to normal."""
    note = format_offset((series.onset or start) - start)
    if series.recovered is not None:
        note += f", back to normal {format_offset(series.recovered - start)}"
    return note


def evidence_evaluation(hypotheses: Sequence[tuple[str, RankedCause, float]]) -> str:
    parts = []
    for title, cause, confidence in hypotheses:
        parts.append(
            f"{title}: score {cause.score:.2f} (topology {cause.topology_score:.2f}, "
            f"onset {cause.onset_score:.2f}, "
            f"strength {cause.strength:.2f}, correlation {cause.correlation_score:.2f}, "
            f"family {cause.family_score:.2f}) -> confidence {confidence:.0%}"
        )
    return "; ".join(parts) + "."
