"""alert-analyst's own health rules pass `promtool check rules` and their `promtool test rules` units."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "alertmanager" / "rules"
UNIT_TESTS = RULES / "tests" / "alert-analyst.rules.test.yml"


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (.ci/run does)")
    return subprocess.run(
        [binary, *map(str, args)], capture_output=True, text=True, timeout=60, check=False, cwd=cwd
    )


def test_self_health_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", RULES / "alert-analyst.rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "14 rules found" in result.stdout


def test_self_health_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", UNIT_TESTS.name, cwd=UNIT_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unit_tests_catch_a_rule_that_never_fires(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    broken = (RULES / "alert-analyst.rules.yml").read_text().replace('{outcome="failed"}', '{outcome="nope"}')
    (tmp_path / "alert-analyst.rules.yml").write_text(broken)
    (tmp_path / "tests" / UNIT_TESTS.name).write_text(UNIT_TESTS.read_text())
    result = promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path / "tests")
    assert result.returncode != 0
    assert "AlertAnalystDeliveriesFailing" in result.stdout + result.stderr
