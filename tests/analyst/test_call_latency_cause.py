"""Per-call latency from both sides of a call: time lost on the way is `network`, a slow callee is not."""

from __future__ import annotations

import numpy as np

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.builtin.calls import call_ends, callee_view, callers_view_of, side_of
from analyst.builtin.entities import SeriesKind, rank_entities, series_kind
from analyst.diagnosis import Category
from analyst.evidence import Evidence, SeriesEvidence, SeriesValues
from tests.analyst.grid_evidence import ALERT_AT, POINTS, START, STEP, grid_evidence


def _values(level: float, seed: int, after: float | None) -> SeriesValues:
    values = level + np.random.default_rng(seed).normal(0.0, level / 20, POINTS)
    if after is not None:
        values[113:] = after + np.random.default_rng(seed + 1).normal(0.0, after / 20, POINTS - 113)
    return SeriesValues(START, STEP, tuple(float(v) for v in values))


def _own(metric: str, service: str, level: float, seed: int, after: float | None = None) -> SeriesEvidence:
    return SeriesEvidence(
        series_id=f'{metric}{{service="{service}"}}',
        metric=metric,
        labels={"__name__": metric, "service": service},
        role="related",
        component=service,
        values=_values(level, seed, after),
    )


def _call(
    caller: str, callee: str, side: str, level: float, seed: int, after: float | None = None
) -> SeriesEvidence:
    labels = {"__name__": "call_latency", "callee": callee, "caller": caller, "measured_by": side}
    return SeriesEvidence(
        series_id=f'call_latency{{callee="{callee}",caller="{caller}",measured_by="{side}"}}',
        metric="call_latency",
        labels=labels,
        role="related",
        component=callee,
        values=_values(level, seed, after),
    )


def _incident(payment_inside: float | None, payment_outside: float) -> Evidence:
    """Frontend -> checkout -> payment; checkout's callers see payment slow by `payment_outside` ms, its
    own proxy by `payment_inside` (None: unchanged)."""
    series = [
        _own("service_latency_seconds", "frontend", 0.2, 1, after=0.9),
        _own("service_latency_seconds", "checkout", 0.1, 2, after=0.7),
        _own("service_latency_seconds", "payment", 0.02, 3, after=payment_inside and payment_inside / 1000),
        _own("cpu_usage_percent", "payment", 20.0, 4),
        _call("frontend", "checkout", "caller", 110.0, 5, after=700.0),
        _call("frontend", "checkout", "callee", 100.0, 6, after=690.0),
        _call("checkout", "payment", "caller", 25.0, 7, after=payment_outside),
        _call("checkout", "payment", "callee", 20.0, 8, after=payment_inside),
    ]
    return grid_evidence(series, topology={"frontend": ("checkout",), "checkout": ("payment",)})


def test_time_lost_between_caller_and_callee_is_network() -> None:
    evidence = _incident(payment_inside=None, payment_outside=600.0)

    result = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT, max_alternatives=9)

    assert rank_entities(evidence)[0].name == "payment"
    primary = result.primary_hypothesis
    assert (primary.suspect, primary.category) == ("payment", Category.NETWORK)
    assert primary.supporting_evidence[0].startswith(
        'call_latency{callee="payment",caller="checkout",measured_by="caller"} rose from 24.86 to 594.3'
    )
    own_view = "payment's own view of the same calls went from 20"
    assert any(line.startswith(own_view) for line in primary.supporting_evidence)


def test_a_callee_slow_from_both_sides_is_a_failing_dependency() -> None:
    evidence = _incident(payment_inside=590.0, payment_outside=600.0)

    result = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT, max_alternatives=9)

    primary = result.primary_hypothesis
    assert (primary.suspect, primary.category) == ("payment", Category.DEPENDENCY_SERVICE)


def test_without_a_view_from_inside_the_callee_the_delay_is_not_called_network() -> None:
    evidence = _incident(payment_inside=None, payment_outside=600.0)
    outside_only = tuple(
        s
        for s in evidence.series
        if s.component != "payment" or s.labels.get("measured_by") == "caller" or s.metric.startswith("cpu")
    )

    result = diagnose_evidence(
        Evidence(**{**evidence.__dict__, "series": outside_only}), load_playbooks(None), now=ALERT_AT
    )

    primary = result.primary_hypothesis
    assert (primary.suspect, primary.category) == ("payment", Category.DEPENDENCY_SERVICE)


def test_a_meshs_own_series_say_which_side_timed_them_and_which_call():
    source = {"reporter": "source", "source_workload": "checkout", "destination_workload": "payment"}
    destination = {**source, "reporter": "destination"}
    outbound = {"direction": "outbound", "deployment": "web", "dst_deployment": "store"}

    assert (side_of(source), call_ends(source), callers_view_of(source)) == (
        "caller",
        ("checkout", "payment"),
        "payment",
    )
    assert (side_of(destination), callers_view_of(destination)) == ("callee", None)
    assert callee_view(destination, "checkout") and not callee_view(destination, "frontend")
    assert callers_view_of(outbound) == "store"
    assert side_of({"span_kind": "SPAN_KIND_CLIENT"}) == "caller" and side_of({"pod": "x"}) is None


def test_a_callers_view_of_a_named_callee_is_the_callees_latency_else_the_callers_wait():
    named = {"reporter": "source", "source_workload": "checkout", "destination_workload": "payment"}

    assert series_kind("istio_request_duration_milliseconds:mean", named) is SeriesKind.LATENCY
    assert series_kind("duration_milliseconds:mean", {"span_kind": "SPAN_KIND_CLIENT"}) is (
        SeriesKind.OUTBOUND_LATENCY
    )
