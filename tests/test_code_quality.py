"""The repository stays ruff- and mypy-clean (STYLE.md habit 11), checked where CI runs the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_lint_is_clean() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout[-4000:]


def test_ruff_format_is_clean() -> None:
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_is_clean() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout[-4000:]


def test_no_file_holds_a_merge_conflicts_markers() -> None:
    """A merge's conflict left `<<<<<<< HEAD` in README.md once, and every other check passed."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    markers = ("<<<<<<< ", ">>>>>>> ")
    found = []
    for name in listed.stdout.splitlines():
        path = ROOT / name
        if name.startswith("tests/support/promql_grammar/node_modules") or not path.is_file():
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError):
            continue  # binary files
        found += [f"{name}:{n}" for n, line in enumerate(lines, 1) if line.startswith(markers)]
    assert not found, found
