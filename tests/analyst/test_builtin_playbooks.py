"""Playbooks ship as defaults and are extended or overridden by user YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyst.builtin import MetricFamily, PlaybookError, load_playbooks
from analyst.diagnosis import Category

VALUES = {"suspect": "orders-db", "component": "orders", "metric": "db_pool_in_use", "alertname": "X"}


def test_defaults_cover_every_category() -> None:
    playbooks = load_playbooks(None)
    for category in Category:
        playbook = playbooks.for_cause(category, None, VALUES)
        assert playbook.immediate_actions, category


def test_specific_family_steps_come_before_category_steps_with_placeholders_filled() -> None:
    playbook = load_playbooks(None).for_cause(Category.DEPENDENCY_DATABASE, MetricFamily.DB_POOL, VALUES)
    assert playbook.title == "Database connection-pool exhaustion"
    assert "db_pool_in_use" in playbook.immediate_actions[0]
    assert any("orders-db" in action for action in playbook.immediate_actions)


def test_user_yaml_overrides_a_field_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "playbooks.yaml"
    path.write_text("playbooks:\n  resource.cpu:\n    immediate_actions: ['Page the platform team']\n")
    playbook = load_playbooks(str(path)).for_cause(Category.RESOURCE_CPU, None, VALUES)
    assert playbook.immediate_actions == ("Page the platform team",)
    assert playbook.title == "CPU saturation"
    assert playbook.preventive_measures


def test_user_yaml_with_extend_appends(tmp_path: Path) -> None:
    path = tmp_path / "playbooks.yaml"
    path.write_text(
        "playbooks:\n  market.funding:\n    extend: true\n    immediate_actions: ['Call {suspect}']\n"
    )
    playbook = load_playbooks(str(path)).for_cause(Category.MARKET_FUNDING, None, VALUES)
    assert playbook.immediate_actions[-1] == "Call orders-db"
    assert len(playbook.immediate_actions) > 1


def test_user_yaml_can_add_a_family_specific_entry(tmp_path: Path) -> None:
    path = tmp_path / "playbooks.yaml"
    path.write_text(
        "playbooks:\n  resource.memory:cpu:\n    title: odd but allowed\n    immediate_actions: [a]\n"
    )
    assert "resource.memory:cpu" in load_playbooks(str(path)).entries


def test_unknown_category_key_is_rejected_with_the_valid_ones(tmp_path: Path) -> None:
    path = tmp_path / "playbooks.yaml"
    path.write_text("playbooks:\n  resource.gpu:\n    immediate_actions: [x]\n")
    with pytest.raises(PlaybookError, match=r"resource\.cpu"):
        load_playbooks(str(path))


def test_unknown_field_and_missing_file_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "playbooks.yaml"
    path.write_text("playbooks:\n  resource.cpu:\n    actions: [x]\n")
    with pytest.raises(PlaybookError):
        load_playbooks(str(path))
    with pytest.raises(PlaybookError, match="cannot read"):
        load_playbooks(str(tmp_path / "missing.yaml"))
