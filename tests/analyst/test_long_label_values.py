"""A label value of thousands of characters (a note, a stack, a query) on the suspect series: cut wherever
the diagnosis writes it for a reader, as titles cut it; whole in the suspect, which finds the series again
when the alert resolves."""

from __future__ import annotations

import dataclasses

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.evidence import Evidence

from .conftest import ALERT_AT, incident, series

NOTE = "x" * 3000
CUT = f'note="{"x" * 60}... (3000 characters)"'


def _pool_incident(**alert: object) -> Evidence:
    pool = dataclasses.replace(
        series("db_pool_connections_in_use", component="api", onset_min=-3, z=9, baseline=10, current=50),
        series_id=f'db_pool_connections_in_use{{note="{NOTE}",service="api"}}',
        labels={"note": NOTE, "service": "api"},
    )
    evidence = incident(series("http_errors_ratio", component="api", onset_min=0), pool)
    return dataclasses.replace(evidence, alert=dataclasses.replace(evidence.alert, **alert))


def test_the_playbook_steps_cut_a_long_label_value_of_the_suspect() -> None:
    """Before: "Check the database behind db_pool_connections_in_use{note="xxx…" with all 3,000."""
    result = diagnose_evidence(_pool_incident(), load_playbooks(None), now=0.0)

    assert result.primary_hypothesis.suspect.count("x") == 3000
    step = next(a for a in result.immediate_actions if a.startswith("Check the database behind"))
    assert CUT in step and NOTE not in step


def test_the_follow_ups_of_a_resolved_alert_cut_it_too() -> None:
    evidence = _pool_incident(status="resolved", ends_at=ALERT_AT + 300)
    result = diagnose_evidence(evidence, load_playbooks(None), now=0.0)

    assert any(CUT in action for action in result.immediate_actions)
    assert not [action for action in result.immediate_actions if NOTE in action]
