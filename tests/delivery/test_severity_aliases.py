"""Severity labels as other tools write them page as their names say."""

from __future__ import annotations

import pytest

from receiver.delivery.severity import normalise_severity, severity_at_least


@pytest.mark.parametrize(
    ("label", "level"),
    [
        ("SEV-1", "critical"),
        ("sev0", "critical"),
        ("S1", "critical"),
        ("sev_2", "error"),
        ("Sev 3", "warning"),
        ("sev4", "info"),
        ("disaster", "critical"),  # Zabbix
        ("Average", "warning"),
        ("Not classified", "info"),
        ("emerg", "critical"),  # syslog
        ("notice", "info"),
        (" Critical ", "critical"),
        ("p1", "critical"),
        ("whatever", "warning"),
    ],
)
def test_a_severity_label_maps_to_its_pagerduty_level(label: str, level: str) -> None:
    assert normalise_severity(label) == level


def test_a_sev1_pages_at_the_default_threshold_and_a_sev3_does_not() -> None:
    assert severity_at_least("SEV-1", "critical")
    assert not severity_at_least("sev3", "critical")
