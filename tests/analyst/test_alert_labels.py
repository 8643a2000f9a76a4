"""What the alert is about, by its labels: a series of another component that carries the alert's `book`
(or `desk`, `device`, `route`) is tied to what fired; a CPU burst in a batch job that carries none is not.

Exporters of one trading deployment share only a few labels: the book's PnL and the book's market data
carry `book`, the reporting job's container does not. Without a call graph those labels are the only tie.
"""

from __future__ import annotations

import dataclasses

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.builtin.entities import (
    SHARED_LABEL_FACTOR,
    alert_label_values,
    on_the_alerts_labels,
    rank_entities,
    series_shifts,
)
from analyst.diagnosis import Category
from analyst.evidence import Evidence
from tests.analyst.grid_evidence import (
    ALERT_AT,
    grid_evidence,
    grid_noise,
    grid_series,
    grid_step,
    labelled,
)

BOOK = {"book": "ust-10y", "desk": "rates"}


def _drawdown(alert_labels: dict[str, str], everywhere: dict[str, str] | None = None) -> Evidence:
    """The book's drawdown fires on the PnL engine; in the same two minutes the book's volatility rises
    (z about 8) and the reporting job's CPU bursts (z about 12, a saturation like the volatility's weight).
    `everywhere`: labels every series carries."""
    extra = everywhere or {}
    series = [
        labelled(
            grid_series("book_pnl_drawdown_ratio", "pnl-engine", grid_step(0.02, 0.004, 3, 0.3), "alert"),
            **BOOK,
            **extra,
        ),
        labelled(
            grid_series("demo_volatility", "market-data", grid_step(0.12, 0.004, 5, 0.152)), **BOOK, **extra
        ),
        labelled(
            grid_series("demo_volatility", "market-data-eu", grid_noise(0.2, 0.004, 7)),
            book="bund",
            desk="rates-eu",
            **extra,
        ),
        labelled(
            grid_series("container_cpu_usage_percent", "reporting", grid_step(30.0, 1.0, 9, 42.0)),
            **extra,
        ),
    ]
    evidence = grid_evidence(series, alert_service="pnl-engine", alertname="PnLDrawdownHigh")
    labels = {**evidence.alert.labels, **alert_labels}
    return dataclasses.replace(evidence, alert=dataclasses.replace(evidence.alert, labels=labels))


def _diagnose(evidence: Evidence) -> tuple[str, Category]:
    """The component of the primary hypothesis' suspect series, and its category."""
    primary = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT).primary_hypothesis
    suspect = next(s for s in evidence.series if s.series_id == primary.suspect)
    return suspect.component or "", primary.category


def test_the_books_volatility_leads_a_batch_jobs_cpu_burst_when_the_alert_names_the_book() -> None:
    """Before: the reporting job's CPU burst first (it moved more), the book's volatility second."""
    assert _diagnose(_drawdown(BOOK)) == ("market-data", Category.MARKET_VOLATILITY)


def test_without_the_books_label_on_the_alert_the_stronger_move_leads() -> None:
    """The tie is the alert's label: an alert that does not name the book leaves the burst first."""
    assert _diagnose(_drawdown({}))[0] == "reporting"


def test_a_label_every_series_carries_ties_nothing() -> None:
    """A value every series carries (one cluster) tells no series apart: no factor, the burst leads."""
    evidence = _drawdown({"cluster": "prod"}, everywhere={"cluster": "prod"})

    assert alert_label_values(evidence) == frozenset()
    assert _diagnose(evidence)[0] == "reporting"


def test_a_label_only_some_exporters_add_with_one_value_ties_nothing() -> None:
    """`env="prod"` on the application's series (the PnL, the market data) and not on the container's:
    it marks which exporter wrote a series, not what the alert is about; the burst leads."""
    evidence = _drawdown({"env": "prod"})
    evidence = dataclasses.replace(
        evidence,
        series=tuple(s if "cpu" in s.metric else labelled(s, env="prod") for s in evidence.series),
    )

    assert alert_label_values(evidence) == frozenset()
    assert _diagnose(evidence)[0] == "reporting"


def test_classifiers_unrelated_series_share_by_chance_tie_nothing() -> None:
    """`cpu="0"`, `code="500"`, `device="sda"`, `partition="0"`: many series of every component carry
    them; a value of them on the alert is no tie, though other series carry other values of the labels."""
    chance = {"cpu": "0", "code": "500", "device": "sda", "partition": "0", "statefulset": "pnl-engine"}
    evidence = _drawdown(chance)
    others = {"cpu": "1", "code": "200", "device": "sdb", "partition": "1", "statefulset": "reporting"}
    evidence = dataclasses.replace(
        evidence,
        series=tuple(
            labelled(s, **(others if s.component == "market-data-eu" else chance)) for s in evidence.series
        ),
    )

    assert alert_label_values(evidence) == frozenset()


def test_component_scope_and_rule_labels_say_nothing_of_what_the_alert_is_about() -> None:
    evidence = _drawdown({**BOOK, "namespace": "trading", "pod": "pnl-engine-1", "quantile": "0.99"})

    assert alert_label_values(evidence) == frozenset(BOOK.items())


def test_only_other_components_series_that_carry_the_label_count_more() -> None:
    """The alerting component's own series (its PnL carries the book) and the other book's market data
    keep their weight; the book's volatility counts SHARED_LABEL_FACTOR times."""
    evidence = _drawdown(BOOK)
    shifts = {
        s.series.component or "": [s]
        for s in series_shifts(evidence.series, evidence.alert.starts_at)
        if s is not None
    }
    tied = on_the_alerts_labels(shifts, evidence, "pnl-engine")

    for name in ("pnl-engine", "market-data-eu", "reporting"):
        assert tied[name][0].weighted == shifts[name][0].weighted
    assert tied["market-data"][0].weighted == SHARED_LABEL_FACTOR * shifts["market-data"][0].weighted
    assert rank_entities(evidence)[0].name == "market-data"


def test_the_diagnosis_says_what_tied_the_series_to_the_alert() -> None:
    primary = diagnose_evidence(_drawdown(BOOK), load_playbooks(None), now=ALERT_AT).primary_hypothesis

    assert 'demo_volatility carries the alert\'s book="ust-10y", desk="rates": tied to what fired' in (
        primary.supporting_evidence
    )
