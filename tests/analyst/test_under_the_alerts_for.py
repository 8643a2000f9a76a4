"""A cause under way before the analysis window opened, but after its alert's condition began to hold (an
alert with `for: 5m` fires five minutes after that): judged in full, from where it began, not as a
leftover of something earlier. A change that began long before stays a leftover.

Prometheus sends an alert's `startsAt` when it fires, after the rule's `for:`; the window opens five
minutes before that, so under the most common rule a cause began before the window.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analyst.builtin.entities import (
    EARLIER_CHANGE_DISCOUNT,
    ONSET_MARGIN_SECONDS,
    causes_could_start,
    rank_entities,
    series_shifts,
    stepped_since,
    usable_activation,
)
from analyst.builtin.narrative import data_examination
from analyst.evidence import Evidence
from tests.analyst.grid_evidence import (
    ALERT_AT,
    ALERT_POINT,
    START,
    STEP,
    grid_evidence,
    grid_noise,
    grid_series,
)

SYMPTOM_AT = ALERT_POINT - 4  # the gateway slowed down four minutes before the alert (the window's 2nd point)
VOLUME_AT = ALERT_POINT - 6  # the traded volume rose two minutes before that: before the window opened


def _stepped(level: float, noise: float, seed: int, at: int, by: float) -> np.ndarray:
    values = grid_noise(level, noise, seed)
    values[at:] += by
    return values


def _slower(at: int) -> np.ndarray:
    """The gateway's ack latency: 40 ms, doubled from `at`."""
    return _stepped(0.04, 0.001, 3, at, 0.04)


def _surge(symptom_at: int = SYMPTOM_AT, volume_at: int = VOLUME_AT) -> Evidence:
    """The order gateway alerts on its ack latency (z about 40 from `symptom_at`); the market's traded
    volume rose about 11 spreads from `volume_at`; the reporting job's CPU is noise."""
    return grid_evidence(
        [
            grid_series("order_ack_latency_seconds", "order-gateway", _slower(symptom_at), "alert"),
            grid_series("demo_volume_usd_total", "market-data", _stepped(2.5e6, 0.02e6, 5, volume_at, 0.3e6)),
            grid_series("container_cpu_usage_percent", "reporting", grid_noise(30.0, 1.0, 7)),
            grid_series("container_cpu_usage_percent", "order-gateway", grid_noise(40.0, 1.0, 9)),
        ],
        alert_service="order-gateway",
        alertname="OrderAckLatencyHigh",
    )


def test_causes_could_start_five_minutes_before_the_alerts_own_series_left_its_noise() -> None:
    evidence = _surge()
    alert_series = evidence.series[0]

    assert causes_could_start(alert_series, ALERT_AT) == START + SYMPTOM_AT * STEP - ONSET_MARGIN_SECONDS
    assert causes_could_start(None, ALERT_AT) == ALERT_AT - ONSET_MARGIN_SECONDS


def test_a_volume_surge_under_way_when_the_window_opened_counts_in_full_from_where_it_began() -> None:
    """Before: beyond its noise at the window's first point, so counted half as a leftover, with its onset
    at the window's opening: the gateway's own latency ranked first."""
    evidence = _surge()
    since = causes_could_start(evidence.series[0], ALERT_AT)
    volume = series_shifts(evidence.series, ALERT_AT, since)[1]
    assert volume is not None

    assert volume.weighted == pytest.approx(volume.z)  # a market driver, in full
    assert volume.onset == START + VOLUME_AT * STEP
    default = series_shifts(evidence.series, ALERT_AT)[1]  # the window's opening as the earliest cause
    assert default is not None and default.weighted == pytest.approx(EARLIER_CHANGE_DISCOUNT * default.z)

    ranked = rank_entities(evidence)
    assert ranked[0].name == "market-data"
    assert ranked[0].onset == START + VOLUME_AT * STEP


def test_a_change_that_began_long_before_the_alerts_condition_stays_a_leftover() -> None:
    """The same volume, risen ten minutes before the alert (six before its condition began, one more than
    the margin), and still up: before any cause of it could start."""
    evidence = _surge(volume_at=ALERT_POINT - 10)
    since = causes_could_start(evidence.series[0], ALERT_AT)
    volume = series_shifts(evidence.series, ALERT_AT, since)[1]
    assert volume is not None and volume.z > 3

    assert volume.weighted == pytest.approx(EARLIER_CHANGE_DISCOUNT * volume.z)
    assert rank_entities(evidence)[0].name == "order-gateway"


def test_under_a_ten_minute_for_the_window_opens_before_the_cause_and_judges_it_against_the_hour_before() -> (
    None
):
    """The gateway slowed down ten minutes before the alert (a `for: 10m` rule), the volume rose two
    minutes before that. Before: the window opened five minutes before the alert, so the surge's first
    seven minutes were part of the volume's own baseline hour, widened its spread, and the surge read as
    noise (z under 3); the gateway's latency was blamed."""
    evidence = _surge(ALERT_POINT - 10, ALERT_POINT - 12)
    since = causes_could_start(evidence.series[0], ALERT_AT)
    assert since == START + (ALERT_POINT - 10) * STEP - ONSET_MARGIN_SECONDS

    volume = series_shifts(evidence.series, ALERT_AT, since)[1]
    assert volume is not None and volume.z > 10
    assert volume.onset == START + (ALERT_POINT - 12) * STEP
    ranked = rank_entities(evidence)
    assert ranked[0].name == "market-data"


def test_under_a_fifteen_minute_for_the_alerts_step_is_found_where_its_own_hour_hides_it() -> None:
    """The gateway slowed down twenty minutes before the alert: fifteen of its baseline hour's sixty
    points are the step, so against that hour it no longer stands out (the window's walk back finds
    nothing). Judged against the time before its final run, it began there; the volume two minutes
    before it is the cause. Before: the window opened five minutes before the alert and the gateway was
    blamed."""
    evidence = _surge(ALERT_POINT - 20, ALERT_POINT - 22)

    assert stepped_since(evidence.series[0], ALERT_AT) == START + (ALERT_POINT - 20) * STEP
    assert causes_could_start(evidence.series[0], ALERT_AT) == START + (ALERT_POINT - 25) * STEP
    assert rank_entities(evidence)[0].name == "market-data"


def test_noise_and_a_change_inside_the_window_give_no_older_step() -> None:
    quiet = grid_series("order_ack_latency_seconds", "order-gateway", grid_noise(0.04, 0.001, 3), "alert")
    recent = grid_series("order_ack_latency_seconds", "order-gateway", _slower(ALERT_POINT - 3), "alert")

    assert stepped_since(quiet, ALERT_AT) is None
    assert stepped_since(recent, ALERT_AT) is None
    assert causes_could_start(quiet, ALERT_AT) == ALERT_AT - ONSET_MARGIN_SECONDS
    assert causes_could_start(recent, ALERT_AT) == START + (ALERT_POINT - 3) * STEP - ONSET_MARGIN_SECONDS


def _activated(evidence: Evidence, at_point: int) -> Evidence:
    """`evidence` with the time its alert became active, as Prometheus' ALERTS_FOR_STATE holds it."""
    return dataclasses.replace(
        evidence, alert=dataclasses.replace(evidence.alert, active_since=START + at_point * STEP)
    )


def test_under_a_long_for_the_alerts_activation_opens_the_window_where_its_series_cannot() -> None:
    """The gateway slowed down 45 minutes before the alert (a `for: 45m` rule): most of its baseline hour is
    the step, so its series no longer tells where it began, and the gateway is blamed. Prometheus' record
    of when the alert became active opens the window there; the volume two minutes before is the cause."""
    evidence = _surge(ALERT_POINT - 45, ALERT_POINT - 47)
    assert causes_could_start(evidence.series[0], ALERT_AT) == ALERT_AT - ONSET_MARGIN_SECONDS
    assert rank_entities(evidence)[0].name == "order-gateway"

    active = _activated(evidence, ALERT_POINT - 45)
    since = causes_could_start(active.series[0], ALERT_AT, active.alert.active_since)
    assert since == START + (ALERT_POINT - 45) * STEP - ONSET_MARGIN_SECONDS
    assert rank_entities(active)[0].name == "market-data"
    assert "Its condition held for 45m before it fired" in data_examination(active)


def test_without_the_alerts_own_series_its_activation_still_opens_the_window() -> None:
    """The alert's expression could not be read (its series is not in the evidence): the window opened
    five minutes before the alert, after the surge began, and the alerting gateway came first."""
    evidence = dataclasses.replace(_surge(ALERT_POINT - 30, ALERT_POINT - 32), alert_series_id=None)
    evidence = dataclasses.replace(evidence, series=evidence.series[1:])
    assert rank_entities(evidence)[0].name == "order-gateway"
    assert rank_entities(_activated(evidence, ALERT_POINT - 30))[0].name == "market-data"


def test_an_activation_after_the_series_left_its_noise_does_not_close_the_window() -> None:
    """The alert's series began to move ten minutes before the alert, its threshold was crossed five
    minutes later: the earlier of the two opens the window."""
    evidence = _activated(_surge(ALERT_POINT - 10, ALERT_POINT - 12), ALERT_POINT - 5)
    since = causes_could_start(evidence.series[0], ALERT_AT, evidence.alert.active_since)
    assert since == START + (ALERT_POINT - 10) * STEP - ONSET_MARGIN_SECONDS
    assert rank_entities(evidence)[0].name == "market-data"


def test_an_activation_without_an_hour_of_evidence_before_it_leaves_the_window_as_it_was() -> None:
    """Active 55 minutes before it fired, on two hours of evidence: the hour before the window it would
    open is not all there, so the window opens as without it, and the narrative says why."""
    evidence = _surge(ALERT_POINT - 55, ALERT_POINT - 57)
    active = _activated(evidence, ALERT_POINT - 55)
    assert usable_activation(active) is None
    assert [e.name for e in rank_entities(active)] == [e.name for e in rank_entities(evidence)]
    assert "Its condition held for 55m before it fired" in data_examination(active)
    assert "longer than the evidence's history allows" in data_examination(active)
    assert "longer than" not in data_examination(_activated(evidence, ALERT_POINT - 45))


def test_the_examination_says_which_series_begin_without_the_hour_they_are_judged_against() -> None:
    """A new pod's series, or a recording that starts just before the fault (Nezha's first faults of each
    hour): said, with the shortest history; a series with the full hour is not counted."""
    late = grid_noise(30.0, 1.0, 11)
    late[: ALERT_POINT - 20] = np.nan  # begins 20 minutes before the alert
    evidence = grid_evidence(
        [
            grid_series("order_ack_latency_seconds", "order-gateway", _slower(SYMPTOM_AT), "alert"),
            grid_series("container_cpu_usage_percent", "order-gateway-new", late),
        ],
        alert_service="order-gateway",
        alertname="OrderAckLatencyHigh",
    )
    assert "1 of 2 series with data begin less than 65m before the alert (the shortest 20m)" in (
        data_examination(evidence)
    )
    assert "begin less than" not in data_examination(_surge())
