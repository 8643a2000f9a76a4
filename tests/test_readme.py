"""The README's first-use path: every relative link points at a file of the repository, and every
`alert-analyst` command in its shell blocks is one the CLI accepts."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
LINKS = sorted(
    {m.group(1) for m in re.finditer(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README) if "://" not in m.group(1)}
)
SHELL_BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
COMMANDS = sorted(
    {
        line.split("#")[0].strip()
        for block in SHELL_BLOCKS
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip().startswith("alert-analyst ")
    }
)


@pytest.mark.parametrize("target", LINKS)
def test_relative_links_point_at_files_of_the_repository(target: str) -> None:
    path = (REPO / target).resolve()
    assert path.is_relative_to(REPO), f"{target} points outside the repository"
    assert path.exists(), f"{target} does not exist"


@pytest.mark.parametrize("command", COMMANDS)
def test_cli_examples_parse(command: str) -> None:
    """Each example's subcommand and flags are accepted (`--help` after them stops before running it)."""
    words = [w for w in shlex.split(command)[1:] if not w.startswith("[")]
    words = [w for w in words if not re.fullmatch(r"[\]|a-z]*\]", w)]
    result = subprocess.run(
        [sys.executable, "-m", "receiver", *words, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{command}: {result.stderr}"


def test_the_readme_has_examples_to_check() -> None:
    assert len(LINKS) >= 5 and len(COMMANDS) >= 5
