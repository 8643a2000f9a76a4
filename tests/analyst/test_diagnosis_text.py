"""What the built-in analyst writes is true to its evidence: as an on-call engineer reads it at 3 am.

The summary's words match the confidence, numbers carry their units, actions fit what was seen, and the
text says what speaks against a hypothesis and what evidence was missing. The ranking is not at stake here.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from analyst.builtin import MetricFamily, categorize_series, diagnose_evidence, load_playbooks
from analyst.builtin.entities import CHANGE_Z, RankedEntity, SeriesKind, SeriesShift
from analyst.builtin.entity_causes import EntityCause, contradicting_lines
from analyst.builtin.units import format_value
from analyst.diagnosis import Category, DiagnosisResult
from analyst.evidence import Evidence, SeriesEvidence, SeriesValues
from analyst.report import render_text_report
from tests.analyst.grid_evidence import ALERT_AT, CHANGED_AT, POINTS, START, STEP, grid_evidence, grid_series

from .conftest import incident, series


def _grid(
    metric: str,
    service: str,
    level: float,
    noise: float,
    seed: int,
    after: float | None = None,
    at: int = CHANGED_AT,
    *,
    role: str = "related",
    flagged: bool = False,
) -> SeriesEvidence:
    """`level` + noise on the two-hour grid, `after` from point `at` on; `flagged`: the detector saw the
    change (anomalous, with its onset)."""
    values = level + np.random.default_rng(seed).normal(0.0, noise, POINTS)
    if after is not None:
        values[at:] = after + np.random.default_rng(seed + 1).normal(0.0, noise, POINTS - at)
    return grid_series(
        metric,
        service,
        values,
        role,
        anomalous=flagged,
        onset=START + at * STEP if flagged else None,
        direction=("up" if (after or level) >= level else "down") if flagged else None,
    )


def _diagnose(evidence: Evidence, **kwargs: object) -> DiagnosisResult:
    return diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT, **kwargs)  # type: ignore[arg-type]


def _text(result: DiagnosisResult) -> str:
    return render_text_report(result)


# -- actions fit what was seen ------------------------------------------------------------------------


def test_the_pool_action_names_the_pool_not_the_components_strongest_symptom() -> None:
    """Before: 'Pool demo_order_error_ratio is saturated' (the component's strongest series filled
    `{metric}`, not the pool that named the category)."""
    evidence = grid_evidence(
        [
            _grid("demo_db_pool_in_use", "gateway", 20.0, 1.0, 1, after=50.0, at=110),
            _grid("demo_order_error_ratio", "gateway", 0.002, 0.0005, 3, after=0.25, role="alert"),
            _grid("demo_cpu_usage_ratio", "gateway", 0.3, 0.01, 5),
            _grid("demo_pnl_usd", "strategy", 1000.0, 40.0, 7),
        ],
        alert_service="gateway",
        alertname="OrderErrorsHigh",
    )
    result = _diagnose(evidence)

    assert result.primary_hypothesis.category is Category.DEPENDENCY_DATABASE
    assert "Pool demo_db_pool_in_use is saturated" in result.immediate_actions[0]
    assert not any("demo_order_error_ratio is saturated" in action for action in result.immediate_actions)


def _own_latency_only() -> Evidence:
    return grid_evidence(
        [
            _grid("demo_order_latency_seconds", "gateway", 0.02, 0.0007, 11, after=0.45, role="alert"),
            _grid("demo_cpu_usage_ratio", "gateway", 0.3, 0.01, 13),
            _grid("demo_volatility", "marketdata", 0.3, 0.01, 15),
        ],
        alert_service="gateway",
        alertname="ExecutionDelay",
    )


def test_a_change_inferred_from_the_components_own_symptoms_does_not_claim_a_restart() -> None:
    """Before: 'A restart/rollout of gateway preceded the alert (demo_order_latency_seconds)' with no
    restart or rollout series in the evidence."""
    result = _diagnose(_own_latency_only())
    primary = result.primary_hypothesis

    assert (primary.category, primary.suspect) == (Category.CHANGE_DEPLOYMENT, "gateway")
    assert primary.title == "Code or configuration change: gateway"
    assert not any("restart/rollout" in action for action in result.immediate_actions)
    assert any("no restart or rollout of gateway was seen" in line for line in primary.contradicting_evidence)


def test_a_restart_the_detector_saw_is_named_and_takes_the_restart_steps() -> None:
    """A restart steps `process_start_time_seconds` on a flat history: the robust z sees nothing, the
    detector does. Before: the restart was not mentioned, and `{metric}` was the error ratio."""
    start_times = _grid("process_start_time_seconds", "web", 1.6e9, 0.0, 21, after=1.6e9 + 86_400, at=112)
    evidence = grid_evidence(
        [
            dataclasses.replace(start_times, anomalous=True, onset=START + 112 * STEP, direction="up"),
            _grid("http_error_ratio", "web", 0.001, 0.0002, 23, after=0.2, role="alert"),
            _grid("process_cpu_usage_ratio", "web", 0.3, 0.01, 25),
            _grid("process_cpu_usage_ratio", "db", 0.3, 0.01, 27),
        ],
        alert_service="web",
        alertname="WebErrors",
    )
    result = _diagnose(evidence)
    primary = result.primary_hypothesis

    assert primary.title == "Recent deployment or restart: web"
    assert any("web restarted or was redeployed" in line for line in primary.supporting_evidence)
    assert result.immediate_actions[0].startswith(
        "A restart/rollout of web preceded the alert (process_start_time_seconds)"
    )


def _funding_swing(at: int = 110) -> Evidence:
    """A funding-rate swing on `marketdata` from point `at` (three minutes before the PnL drop by default),
    the strategy's PnL (the alert's own series) dropping two minutes before the alert."""
    return grid_evidence(
        [
            _grid("demo_funding_rate", "marketdata", 0.0001, 0.00001, 31, after=-0.003, at=at),
            _grid("demo_pnl_usd", "strategy", 1000.0, 40.0, 33, after=-3000.0, role="alert"),
            _grid("demo_order_latency_seconds", "gateway", 0.02, 0.0007, 35),
        ],
        alert_service="strategy",
        alertname="PnLDrop",
    )


def test_the_strategy_playbook_does_not_rule_out_a_market_cause_it_was_shown() -> None:
    """Before: 'PnL/performance of demo_pnl_usd{...} degraded without an upstream market or
    infrastructure cause', with a funding-rate swing among the alternatives. The swing here changes after
    the PnL: one that came first, or with it, leads (tests/analyst/test_builtin_precedence.py)."""
    result = _diagnose(_funding_swing(at=CHANGED_AT + 3))

    assert result.primary_hypothesis.category is Category.STRATEGY_DEGRADATION
    assert any(h.category is Category.MARKET_FUNDING for h in result.alternative_hypotheses)
    assert not any("without an upstream market" in action for action in result.immediate_actions)


def test_a_dependency_playbook_does_not_vouch_for_dependencies_nobody_checked() -> None:
    """Before: 'its own dependencies are normal, so start there', with no call graph at all; and in the
    series ranking, 'Roll back http_latency_p90_seconds{...}' (a series filled `{suspect}`)."""
    evidence = incident(
        series("order_errors_ratio", component="orders", onset_min=0, z=8),
        series("http_latency_p90_seconds", component="orders", onset_min=-1, z=6),
    )
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)

    assert result.primary_hypothesis.category is Category.DEPENDENCY_SERVICE
    actions = " ".join(result.immediate_actions)
    assert "dependencies are normal" not in actions
    assert "Roll back orders if" in actions and "Roll back http_latency" not in actions


def test_a_job_queue_is_not_an_order_book() -> None:
    """Before: `job_queue_depth` was market liquidity, so a worker's backlog got 'check spreads and
    book depth; reduce order size'."""
    assert categorize_series("job_queue_depth", {}) is not Category.MARKET_LIQUIDITY
    assert categorize_series("orderbook_depth", {}) is Category.MARKET_LIQUIDITY
    evidence = incident(series("job_queue_depth", component="worker", onset_min=-2, z=9))
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)
    assert not any("spread" in action for action in result.immediate_actions)


# -- what speaks against a hypothesis is said --------------------------------------------------------


def test_the_alerts_own_series_as_the_cause_is_said_to_restate_the_alert() -> None:
    """The funding swing comes after the PnL drop, so the strategy leads; when it came first the strategy
    is an alternative (the earlier swing leads), and says so too."""
    together = _diagnose(_funding_swing(at=CHANGED_AT + 3))
    against = together.primary_hypothesis.contradicting_evidence

    assert any("demo_pnl_usd is the alert's own series" in line for line in against)
    assert "Against it: demo_pnl_usd is the alert's own series" in together.executive_summary

    strategy = next(
        h for h in _diagnose(_funding_swing()).alternative_hypotheses if h.suspect.startswith("demo_pnl")
    )
    assert any("demo_pnl_usd is the alert's own series" in line for line in strategy.contradicting_evidence)
    assert any(
        "marketdata changed" in line and "before strategy did" in line
        for line in strategy.contradicting_evidence
    )


def test_a_component_that_changed_after_the_alert_does_not_count_that_as_support() -> None:
    """Before: '+ api first changed 2m after the alert' was evidence for api."""
    evidence = grid_evidence(
        [
            _grid("pod_cpu_usage_percent", "web", 30.0, 1.0, 41, after=98.0),
            _grid("http_latency_p90_seconds", "web", 0.1, 0.003, 43, after=0.8, role="alert"),
            _grid("http_latency_p90_seconds", "api", 0.05, 0.002, 45, after=0.3, at=117),
        ],
        alert_service="web",
    )
    result = _diagnose(evidence)
    api = next(h for h in result.alternative_hypotheses if h.suspect == "api")

    assert not any("after the alert" in line for line in api.supporting_evidence)
    assert any(
        "api first changed 2m after the alert: after the alert fired" in line
        for line in api.contradicting_evidence
    )


def test_a_resource_short_of_its_limit_says_so_under_a_saturation_title() -> None:
    """Before: 'CPU saturation: payment' with its CPU at 55 % and nothing said about it."""
    evidence = grid_evidence(
        [
            _grid("pod_cpu_usage_percent", "payment", 20.0, 1.0, 51, after=55.0),
            _grid("http_latency_p90_seconds", "frontend", 0.1, 0.003, 53, after=0.3, role="alert"),
        ]
    )
    primary = _diagnose(evidence).primary_hypothesis

    assert primary.title == "CPU saturation: payment"
    assert any(
        re.fullmatch(
            r"pod_cpu_usage_percent peaked at 5\d% of its limit: busy, but short of saturation", line
        )
        for line in primary.contradicting_evidence
    )


def _shift(metric: str, kind: SeriesKind, z: float, peak: float = 0.2) -> SeriesShift:
    series = SeriesEvidence(series_id=f'{metric}{{service="api"}}', metric=metric, labels={}, role="related")
    return SeriesShift(series, kind, z, z * 0.5, ALERT_AT - 60, 0.1, peak)


def test_a_category_named_by_a_series_within_its_noise_says_so() -> None:
    """api's CPU moved less than its noise; its latency moved a little more, at half weight: the CPU still
    names the category. Before: 'CPU saturation: api' with only a latency line for it."""
    cpu = _shift("process_cpu_usage_ratio", SeriesKind.SATURATION, CHANGE_Z - 0.7)
    latency = _shift("http_latency_p90_seconds", SeriesKind.LATENCY, CHANGE_Z + 0.1)
    entity = RankedEntity("api", 2.3, ALERT_AT - 60, (cpu, latency))
    cause = EntityCause(
        entity, cpu, Category.RESOURCE_CPU, MetricFamily.CPU, cpu.series.series_id, 0.2, False
    )

    lines = contradicting_lines(cause, [cause], ALERT_AT, None)

    assert any(
        "which names this category, stayed within its usual noise (robust z=2.3)" in line for line in lines
    )


def test_resources_that_moved_later_are_not_said_to_have_stayed_normal() -> None:
    """Before: 'its resources stayed within their normal range (pod_cpu_usage_percent)' while its memory
    had moved (after its latency did)."""
    evidence = grid_evidence(
        [
            _grid("http_latency_p90_seconds", "web", 0.1, 0.003, 61, after=0.9, role="alert"),
            _grid("pod_cpu_usage_percent", "web", 30.0, 1.0, 63),
            _grid("pod_memory_usage_percent", "web", 40.0, 1.0, 65, after=60.0, at=116),
            _grid("pod_cpu_usage_percent", "api", 30.0, 1.0, 67),
        ],
        alert_service="web",
    )
    primary = _diagnose(evidence).primary_hypothesis

    assert primary.category is Category.CHANGE_DEPLOYMENT
    assert not any("stayed within their normal range" in line for line in primary.supporting_evidence)
    assert any(
        "only pod_memory_usage_percent moved, and not before" in line for line in primary.supporting_evidence
    )


# -- the words match the confidence ------------------------------------------------------------------


def _six_equal_suspects() -> Evidence:
    services = ("a", "b", "c", "d", "e", "f")
    return grid_evidence(
        [
            _grid("http_latency_p90_seconds", "web", 0.1, 0.003, 71, after=0.8, role="alert"),
            *(
                _grid("pod_cpu_usage_percent", s, 30.0, 1.0, 72 + i, after=60.0)
                for i, s in enumerate(services)
            ),
        ],
        alert_service="web",
    )


def test_a_leading_hypothesis_at_low_confidence_is_not_called_most_likely() -> None:
    result = _diagnose(_six_equal_suspects())

    assert result.confidence_score < 0.5
    assert "most likely" not in result.executive_summary
    assert "no cause stands out; the leading candidate is CPU saturation" in result.executive_summary
    text = _text(result)
    assert "\nLEADING HYPOTHESIS (LOW CONFIDENCE)\n" in text and "MOST LIKELY CAUSE" not in text


def test_the_summary_says_what_speaks_against_the_leading_hypothesis() -> None:
    evidence = incident(
        series("node_cpu_utilisation", component="node-1", onset_min=0, z=6), alertname="HighCPU"
    )
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)

    assert "Against it: only the alert's own series is anomalous" in result.executive_summary


def test_a_leading_cause_that_is_only_the_alerting_components_symptom_is_capped() -> None:
    """Order latency fired; the only other change is the PnL of the same component, two minutes later.
    Before: 'most likely PnL drop' at 91 %, with both lines of its evidence against it."""
    evidence = incident(
        series("demo_order_latency_seconds", component="desk", onset_min=-2, z=40),
        series("demo_pnl_usd", component="desk", onset_min=0, direction="down", z=-7.6, corr=-0.9),
        alertname="ExecutionDelay",
    )
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)
    primary = result.primary_hypothesis

    assert primary.category is Category.STRATEGY_DEGRADATION
    assert primary.confidence <= 0.5
    assert any("more likely an effect than a cause" in line for line in primary.contradicting_evidence)
    assert "most likely" not in result.executive_summary


# -- missing and contrary evidence is said -----------------------------------------------------------


def _unreachable(evidence: Evidence, reason: str = "unreachable: connection refused") -> Evidence:
    return dataclasses.replace(
        evidence,
        series=tuple(
            dataclasses.replace(s, available=False, unavailable_reason=reason, points=0)
            for s in evidence.series
        ),
        notes=(f"alert expression unavailable ({reason})",),
    )


def test_metrics_that_could_not_be_read_are_not_reported_as_calm() -> None:
    """Before: 'No anomalous series found' and 'No series deviated from its baseline' when Prometheus was
    down, and the first action was to look at logs."""
    evidence = _unreachable(incident(series("http_latency_p90_seconds", component="web", anomalous=False)))
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)
    steps = {step.step: step.findings for step in result.detailed_analysis}

    assert result.primary_hypothesis.title == "Metric evidence unavailable"
    assert "No series deviated" not in steps["pattern_recognition"]
    assert result.immediate_actions[0].startswith("The metrics could not be read: restore access")


def test_evidence_that_could_only_partly_be_read_is_said_in_the_summary() -> None:
    lost = dataclasses.replace(
        series("process_cpu_usage_ratio", component="api", anomalous=False),
        available=False,
        unavailable_reason="timeout after 10s",
        points=0,
    )
    evidence = incident(
        series("http_errors_ratio", component="api", onset_min=0),
        series("db_pool_connections_in_use", component="api", onset_min=-3),
        lost,
    )
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)

    assert "1 of 3 series could not be read (timeout after 10s)" in result.executive_summary


def test_an_alert_series_moving_away_from_the_alerts_condition_is_pointed_out() -> None:
    """HighLatency fires above 0.5 s, but its series fell from 0.6 s to 0.05 s in the window. Before:
    'most likely CPU saturation' at 6 %, and nothing about the alert's own series."""
    alert = series(
        "http_latency_p90_seconds",
        component="web",
        onset_min=-2,
        direction="down",
        z=-26,
        baseline=0.6,
        current=0.05,
    )
    evidence = incident(alert, series("process_cpu_usage_ratio", component="web", anomalous=False))
    evidence = dataclasses.replace(
        evidence,
        alert=dataclasses.replace(
            evidence.alert, alertname="HighLatency", expr="http_latency_p90_seconds > 0.5"
        ),
    )
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)

    said = "The alert's own series fell although HighLatency fires when it is above 0.5"
    assert said in result.executive_summary
    examination = result.detailed_analysis[0].findings
    assert "The alert's own series: http_latency_p90_seconds fell from 600 ms to 50 ms" in examination


def test_a_series_that_stopped_reporting_is_named() -> None:
    """A backend's latency turned to +Inf at the fault (no usable samples since): before, only 'no series
    of api moved beyond its usual noise'."""
    stopped = _grid("backend_latency_ratio", "api", 0.1, 0.003, 81)
    assert stopped.values is not None
    points = stopped.values.values[:100] + (None,) * (POINTS - 100)
    stopped = dataclasses.replace(stopped, values=SeriesValues(START, STEP, points))
    evidence = grid_evidence(
        [
            _grid("pod_cpu_usage_percent", "web", 30.0, 1.0, 83, after=95.0),
            _grid("http_latency_p90_seconds", "web", 0.1, 0.003, 85, after=0.8, role="alert"),
            stopped,
        ],
        alert_service="web",
    )
    examination = _diagnose(evidence).detailed_analysis[0].findings

    assert "No usable samples at the end of the window" in examination
    assert 'backend_latency_ratio{service="api"} (20m before the window\'s end)' in examination


# -- numbers carry their units; labels stay readable ---------------------------------------------------


def test_values_are_written_in_the_unit_their_metric_declares() -> None:
    assert format_value("http_request_duration_seconds", 0.4507) == "450.7 ms"
    assert format_value("http_request_duration_seconds:mean", 2.5) == "2.5 s"
    assert format_value("process_resident_memory_bytes", 1.907e9) == "1.907 GB"
    assert format_value("process_start_time_seconds", 1_700_000_000.0) == "2023-11-14 22:13:20 UTC"
    assert format_value("http_requests_total", 401.8, "rate(http_requests_total[1m])") == "401.8/s"
    assert format_value("node_network_transmit_bytes_total", 2.5e6, "rate(x[1m])") == "2.5 MB/s"
    assert format_value("container_cpu_usage_seconds_total", 0.95, "rate(x[1m])") == "0.95"
    assert format_value("pod_cpu_usage_percent", 55.0) == "55 %"
    assert format_value("demo_cpu_usage_ratio", 0.5655) == "0.5655"


def test_a_restart_reads_as_two_times_not_as_two_equal_numbers() -> None:
    """Before: 'rose from 1.7e+09 to 1.7e+09' for a restart a day later."""
    restart = series(
        "process_start_time_seconds", component="web", onset_min=-3, z=5e4, baseline=1.6999e9, current=1.7e9
    )
    evidence = incident(series("http_errors_ratio", component="web", onset_min=0), restart)
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)

    assert "rose from 2023-11-13 18:26:40 UTC to 2023-11-14 22:13:20 UTC" in result.executive_summary


def test_long_label_values_are_cut_in_sentences_but_the_suspect_keeps_them() -> None:
    note = "**bold** <script>alert(1)</script> [click](http://evil.example) " + "x" * 400
    hot = dataclasses.replace(
        series("pod_cpu_usage_percent", component="api", onset_min=-3, z=9, baseline=30.0, current=97.0),
        series_id=f'pod_cpu_usage_percent{{note="{note}",service="api"}}',
        labels={"note": note, "service": "api"},
    )
    evidence = incident(series("http_latency_seconds", component="api", onset_min=0), hot)
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)

    assert result.primary_hypothesis.suspect == hot.series_id
    assert note not in result.executive_summary and note not in result.primary_hypothesis.title
    assert "... (464 characters)" in result.executive_summary
    assert len(result.executive_summary) < 600


def test_one_hypothesis_is_not_written_as_several() -> None:
    evidence = incident(series("job_queue_depth", component="worker", onset_min=-2, z=9))
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)

    assert result.detailed_analysis[2].findings.startswith("1 hypothesis from the anomalous series")


def test_series_read_but_not_judgeable_are_not_called_unread() -> None:
    """A constant series (a pool's maximum, `up`) was read: it is not judged, but the metrics are not
    'unavailable' and the evidence not 'incomplete' for it (the demo's PnL diagnosis said both)."""
    constant = dataclasses.replace(
        series("db_pool_connections_max", component="api", anomalous=False),
        available=False,
        unavailable_reason="insufficient data: constant series: nothing to compare against",
    )
    evidence = incident(
        series("http_errors_ratio", component="api", onset_min=0),
        series("db_pool_connections_in_use", component="api", onset_min=-3),
        constant,
    )
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)
    assert "could not be read" not in result.executive_summary

    only_constant = incident(constant)
    quiet = diagnose_evidence(only_constant, load_playbooks(None), now=0.0)
    assert quiet.primary_hypothesis.title != "Metric evidence unavailable"
    assert "unavailable" not in quiet.executive_summary
