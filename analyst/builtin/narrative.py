"""Concrete sentences about series, hypotheses and the analysis steps (no decisions are made here)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from analyst.builtin.categories import MetricFamily
from analyst.builtin.entities import BASELINE_SECONDS, ONSET_MARGIN_SECONDS, usable_activation
from analyst.builtin.limits import AT_LIMIT, utilisation
from analyst.builtin.ranking import WEAK_CORRELATION, RankedCause, find_alert_series
from analyst.builtin.units import format_change, format_difference
from analyst.evidence import Evidence, SeriesEvidence

# detectors.change clips z here when the history had no spread (a flat series): no number is honest
OFF_SCALE_Z = 1e6
# A change this long after the alert began came after what fired it (onset estimates are this rough).
AFTER_THE_ALERT_SECONDS = 60.0
# A label value longer than this is cut in the text, titles and playbook steps included (the suspect, which
# finds its series again at the alert's resolution, keeps it whole).
LONGEST_LABEL_VALUE = 60
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
# A series whose last sample is this much older than the window's end (and at least this many steps) has
# stopped reporting; a scrape or two late is not news.
STOPPED_SECONDS, STOPPED_STEPS = 300.0, 3
_RESOURCE_FAMILIES = (MetricFamily.CPU, MetricFamily.MEMORY, MetricFamily.DISK)
# The outermost comparison of an alerting expression: `... > 0.5`, `... <= bool 10`.
_CONDITION = re.compile(
    r"(?<![=!<>])(>=|<=|>|<)\s*(?:bool\s+)?([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


def format_duration(seconds: float) -> str:
    """'4m 10s' / '4m' / '30s'."""
    minutes, secs = divmod(round(abs(seconds)), 60)
    return f"{minutes}m {secs}s" if minutes and secs else (f"{minutes}m" if minutes else f"{secs}s")


def format_offset(seconds: float) -> str:
    """'4m 10s before the alert' / '30s after the alert' / 'at the alert'."""
    if abs(seconds) < 1:
        return "at the alert"
    return f"{format_duration(seconds)} {'before' if seconds < 0 else 'after'} the alert"


def _quoted(value: str) -> str:
    """A label value as a selector quotes it, without the quotes."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _cut_short(value: str) -> str:
    """A label value longer than LONGEST_LABEL_VALUE, quoted as in a selector, cut, with its length."""
    short = value[:LONGEST_LABEL_VALUE].rstrip("\\")
    return f"{_quoted(short)}... ({len(value)} characters)"


def readable_id(series: SeriesEvidence) -> str:
    """The series' id for a sentence: label values longer than LONGEST_LABEL_VALUE are cut short."""
    text = series.series_id
    for value in series.labels.values():
        if len(value) > LONGEST_LABEL_VALUE:
            text = text.replace(_quoted(value), _cut_short(value))
    return text


def readable_selector(text: str) -> str:
    """A selector (a suspect, a series id) with its quoted values longer than LONGEST_LABEL_VALUE cut short,
    as `readable_id` cuts a series' label values."""

    def cut(match: re.Match[str]) -> str:
        value = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), match.group(1))
        return match.group(0) if len(value) <= LONGEST_LABEL_VALUE else f'"{_cut_short(value)}"'

    return _QUOTED.sub(cut, text)


def readable_suspect(suspect: str, series: SeriesEvidence) -> str:
    """`suspect` for a title or a playbook step: the series' `readable_id` when the suspect is that series."""
    return readable_id(series) if suspect == series.series_id else suspect


def _z_text(z: float) -> str:
    """z as text; the detectors' bound (a change against a history with no spread) reads as such."""
    if abs(z) >= OFF_SCALE_Z:
        return "z off scale: no spread before it"
    return f"z={z:.1f}"


def describe_change(series: SeriesEvidence) -> str:
    """What the detector saw in a series: direction, baseline -> current (in its unit), z, p."""
    verb = {"up": "rose", "down": "fell"}.get(series.direction or "", "changed")
    parts = [f"{readable_id(series)} {verb}"]
    if series.baseline is not None and series.current is not None:
        before, after = format_change(series.metric, series.baseline, series.current, series.query)
        parts.append(f"from {before} to {after}")
    elif series.magnitude is not None:
        parts.append(f"by {format_difference(series.metric, series.magnitude, series.query)}")
    stats = []
    if series.z_score is not None:
        stats.append(_z_text(series.z_score))
    if series.p_value is not None:
        stats.append(f"p={series.p_value:.2g}" if series.p_value >= 1e-16 else "p<1e-16")
    if series.anomaly_type:
        stats.append(series.anomaly_type)
    text = " ".join(parts)
    return f"{text} ({', '.join(stats)})" if stats else text


def after_the_alert(offset: float | None) -> bool:
    """A change `offset` seconds from the alert's start came after what fired the alert."""
    return offset is not None and offset > AFTER_THE_ALERT_SECONDS


def supporting_lines(cause: RankedCause) -> tuple[str, ...]:
    s = cause.series
    lines = [describe_change(s)]
    if cause.onset_offset is not None and not after_the_alert(cause.onset_offset):
        lines.append(f"{readable_id(s)} changed {format_offset(cause.onset_offset)}")
    if cause.lead_seconds is not None and cause.lead_seconds > 0:
        lines.append(f"it leads the alert's series by {cause.lead_seconds:.0f}s (changed first)")
    if s.correlation is not None and abs(s.correlation) >= 0.5 and not cause.is_alert_series:
        lines.append(f"correlation with the alert's series {s.correlation:+.2f}")
    if cause.topology_score >= 0.6:
        lines.append(f"topology: {cause.topology_note}")
    if cause.family_score >= 1.0 and not cause.is_alert_series:
        lines.append(f"{s.metric} is a {cause.family.value} signal, a typical cause rather than an effect")
    return tuple(lines)


def below_limit(metric: str, value: float | None, reached: str = "was at") -> str | None:
    """'cpu_ratio was at 57% of its limit: busy, but short of saturation' for a utilisation series below
    AT_LIMIT (None for any other)."""
    return short_of_limit(metric, None if value is None else utilisation(metric, value), reached)


def short_of_limit(metric: str, share: float | None, reached: str = "was at") -> str | None:
    """The same line for a value that is `share` of its limit (by its name or a size series beside it);
    None when the share is unknown or AT_LIMIT or more."""
    if share is None or share >= AT_LIMIT:
        return None
    return f"{metric} {reached} {share:.0%} of its limit: busy, but short of saturation"


def contradicting_lines(cause: RankedCause) -> tuple[str, ...]:
    s = cause.series
    lines = []
    if cause.is_alert_series:
        lines.append("only the alert's own series is anomalous; nothing upstream of it was seen changing")
    elif cause.family_score < 0.5:
        lines.append(f"{s.metric} in the alerting component is more likely an effect than a cause")
    if after_the_alert(cause.onset_offset):
        lines.append(
            f"{readable_id(s)} changed {format_offset(cause.onset_offset or 0.0)}: after the alert fired, so "
            "more likely an effect than its cause"
        )
    if cause.lead_seconds is not None and cause.lead_seconds < 0:
        lines.append(
            f"{readable_id(s)} changed {-cause.lead_seconds:.0f}s after the alert's series (lags it)"
        )
    if s.correlation is not None and abs(s.correlation) < WEAK_CORRELATION:
        lines.append(f"weak correlation with the alert's series ({s.correlation:+.2f})")
    if s.z_score is not None and abs(s.z_score) < 3:
        lines.append(f"modest deviation (z={s.z_score:.1f})")
    if cause.topology_score < 0.5:
        lines.append(f"topology: {cause.topology_note}")
    if cause.family in _RESOURCE_FAMILIES and (limit := below_limit(s.metric, s.current)):
        lines.append(limit)
    if cause.ended_before is not None:
        lines.append(
            f"{readable_id(s)} was back to normal {format_duration(cause.ended_before)} before the alert's "
            "series began to change: an earlier episode, not an ongoing cause"
        )
    return tuple(lines)


def data_examination(evidence: Evidence) -> str:
    available = [s for s in evidence.series if s.available]
    missing = [s for s in evidence.series if not s.available]
    flat = sum(map(is_flat, available))
    anomalous = evidence.anomalous
    span = evidence.window_end - evidence.window_start
    text = (
        f"Examined {len(evidence.series)} series over a {span / 60:.0f}-minute window around the alert "
        f"({len(available)} with data{f', {flat} of them flat' if flat else ''}, {len(missing)} unavailable);"
        f" {len(anomalous)} anomalous"
    )
    if anomalous:
        shown = ", ".join(readable_id(s) for s in anomalous[:8])
        text += f": {shown}{' ...' if len(anomalous) > 8 else ''}"
    if missing:
        reasons = "; ".join(f"{readable_id(s)}: {s.unavailable_reason or 'no data'}" for s in missing[:5])
        text += f". Unavailable: {reasons}"
    if stopped := stopped_series(evidence):
        shown = ", ".join(
            f"{readable_id(s)} ({format_duration(age)} before the window's end)" for s, age in stopped[:5]
        )
        text += (
            f". No usable samples at the end of the window (stopped reporting, or not finite; last one): "
            f"{shown}{' ...' if len(stopped) > 5 else ''}"
        )
    if short := late_starts(evidence):
        text += (
            f". {len(short)} of {len(available)} series with data begin less than"
            f" {format_duration(ONSET_MARGIN_SECONDS + BASELINE_SECONDS)} before the alert (the shortest"
            f" {format_duration(min(short))}): each is judged against what little came before, not an hour"
            " of its normal behaviour"
        )
    if evidence.topology:
        text += f". A call graph of {len(evidence.topology)} callers was available"
    if available:
        text += f". {alert_series_sentence(evidence)}"
    if (active := evidence.alert.active_since) is not None and active < evidence.alert.starts_at:
        held = format_duration(evidence.alert.starts_at - active)
        text += f". Its condition held for {held} before it fired (the rule's `for:`; ALERTS_FOR_STATE)"
        if usable_activation(evidence) is None:
            text += ", longer than the evidence's history allows to judge from there (an hour before it)"
    if against := against_the_alert(evidence):
        text += f". {against}"
    return text + "."


def is_flat(series: SeriesEvidence) -> bool:
    """A series read whose every point has one value (a limit, a size, a rate of nothing): it did not
    change, and has no noise of its own to judge a change by."""
    if not series.available or series.values is None:
        return False
    points = [v for v in series.values.values if v is not None and math.isfinite(v)]
    return len(points) >= 2 and all(v == points[0] for v in points)


def alert_series_sentence(evidence: Evidence) -> str:
    """What the alert's own series did, or that it is not in the evidence."""
    alert_series = find_alert_series(evidence)
    if alert_series is None:
        return "The alert's own series is not in the evidence"
    if not alert_series.available:
        return f"The alert's own series {readable_id(alert_series)} could not be read"
    if not alert_series.anomalous:
        return f"The alert's own series {readable_id(alert_series)} stayed within its usual range"
    return f"The alert's own series: {describe_change(alert_series)}"


def alert_condition(expr: str | None) -> tuple[str, float] | None:
    """('above' | 'below', threshold) of an alerting expression's outermost comparison with a number."""
    match = _CONDITION.search(expr or "")
    if match is None:
        return None
    return ("above" if match.group(1).startswith(">") else "below"), float(match.group(2))


def against_the_alert(evidence: Evidence) -> str | None:
    """A sentence when the alert's own series moved away from the alert's condition (fell, for an alert
    that fires above a threshold): the evidence then does not show what fired the alert."""
    alert_series = find_alert_series(evidence)
    condition = alert_condition(evidence.alert.expr)
    if alert_series is None or condition is None or not alert_series.anomalous:
        return None
    side, threshold = condition
    away = "down" if side == "above" else "up"
    if alert_series.direction != away:
        return None
    return (
        f"The alert's own series {'fell' if away == 'down' else 'rose'} although "
        f"{evidence.alert.alertname} fires when it is {side} {threshold:g}: the evidence shows it moving "
        "away from the alert's condition, not the change that fired it (an earlier episode, or a stale alert)"
    )


def stopped_series(evidence: Evidence) -> list[tuple[SeriesEvidence, float]]:
    """Series with data whose samples end well before the window does, with how long before."""
    stopped = []
    for s in evidence.series:
        if (span := _sample_span(s)) is None:
            continue
        _, last, step = span
        age = evidence.window_end - last
        if age >= max(STOPPED_SECONDS, STOPPED_STEPS * step):
            stopped.append((s, age))
    return stopped


def late_starts(evidence: Evidence) -> list[float]:
    """For each series with data that begins later than the hour before a cause could start (the alert
    less ONSET_MARGIN_SECONDS and BASELINE_SECONDS: a new pod, history the source no longer holds), how
    long before the alert it begins."""
    need = ONSET_MARGIN_SECONDS + BASELINE_SECONDS
    starts = []
    for s in evidence.series:
        if (span := _sample_span(s)) is None:
            continue
        first, _, step = span
        history = evidence.alert.starts_at - first
        if history < need - step:  # a grid point's rounding is not a missing hour
            starts.append(max(history, 0.0))
    return starts


def _sample_span(series: SeriesEvidence) -> tuple[float, float, float] | None:
    """When an available series' first and last finite samples are, and its grid step; None without any."""
    if not series.available or series.values is None:
        return None
    points, start, step = series.values.values, series.values.start, series.values.step
    first = next((i for i, v in enumerate(points) if _is_sample(v)), None)
    if first is None:
        return None
    last = next(i for i in range(len(points) - 1, first - 1, -1) if _is_sample(points[i]))
    return start + first * step, start + last * step, step


def _is_sample(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def pattern_recognition(evidence: Evidence, ranked: Sequence[RankedCause]) -> str:
    start = evidence.alert.starts_at
    timed = sorted((s for s in evidence.anomalous if s.onset is not None), key=lambda s: s.onset or 0.0)
    if timed:
        order = ", then ".join(f"{readable_id(s)} ({_onset_note(s, start)})" for s in timed[:6])
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


@dataclass(frozen=True)
class Recovery:
    """How a resolved alert recovered, as far as the evidence shows: a sentence, and whether the suspect
    series is back within its baseline band (None: the evidence does not say)."""

    text: str
    suspect_back: bool | None


def recovery(evidence: Evidence, suspect: SeriesEvidence | None) -> Recovery:
    """When the alert resolved, after how long, and whether the suspect series and the alert's own are
    back within their baseline bands (the detectors' `recovered`); never more than the evidence shows."""
    alert = evidence.alert
    if alert.ends_at is None:
        text = f"{alert.alertname} has resolved"
    else:
        ended = datetime.fromtimestamp(alert.ends_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        text = (
            f"{alert.alertname} resolved at {ended} after {format_duration(alert.ends_at - alert.starts_at)}"
        )
    watched = [suspect] if suspect is not None else []
    alert_series = find_alert_series(evidence)
    if (
        alert_series is not None
        and alert_series.anomalous
        and all(s.series_id != alert_series.series_id for s in watched)
    ):
        watched.append(alert_series)
    states = [_series_recovery(s, alert.starts_at, alert.ends_at) for s in watched]
    for sentence, _ in states:
        text += f"; {sentence}"
    return Recovery(text + ".", states[0][1] if suspect is not None else None)


def _last_value(series: SeriesEvidence, until: float | None) -> float | None:
    """The series' last point at or before `until` (its last point without one), from its values."""
    grid = series.values
    if grid is None:
        return None
    for i in range(len(grid.values) - 1, -1, -1):
        value = grid.values[i]
        if value is not None and (until is None or grid.start + i * grid.step <= until):
            return value
    return None


def _series_recovery(series: SeriesEvidence, start: float, end: float | None) -> tuple[str, bool | None]:
    name = readable_id(series)
    if not series.available:
        return f"{name} could not be read, so its recovery is not shown", None
    if not series.anomalous:
        return f"the evidence does not show whether {name} is back at its baseline", None
    if series.recovered is not None:
        return f"{name} was back within its usual range {format_offset(series.recovered - start)}", True
    level, last = "", _last_value(series, end)
    if series.baseline is not None and last is not None:  # what it read when the alert ended
        before, after = format_change(series.metric, series.baseline, last, series.query)
        level = f" ({after} against a baseline of {before})"
    elif series.baseline is not None and series.current is not None:  # no points: the level it changed to
        before, after = format_change(series.metric, series.baseline, series.current, series.query)
        level = f" (it had changed to {after} from a baseline of {before})"
    return (
        f"{name} was still off its baseline at the end of the evidence window{level}: the evidence does not "
        "show it recovered",
        False,
    )
