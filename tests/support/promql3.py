"""Prometheus 3's PromQL grammar (`@prometheus-io/lezer-promql`, run by Node.js) as a test oracle.

Debian ships Prometheus 2, whose parser has no quoted (UTF-8) label names; Prometheus 3 reads them. Its
web UI parses PromQL with this grammar, built from the same repository; `.ci/run` installs it with npm
into `tests/support/promql_grammar/node_modules`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

GRAMMAR = Path(__file__).with_name("promql_grammar")


def grammar_available() -> bool:
    package = GRAMMAR / "node_modules" / "@prometheus-io" / "lezer-promql"
    return bool(shutil.which("node")) and package.is_dir()


def syntax_errors(queries: Sequence[str]) -> list[list[int]]:
    """Per query, the offsets at which Prometheus 3's grammar found an error ([] where it parses)."""
    done = subprocess.run(
        ["node", str(GRAMMAR / "check.mjs")],
        input=json.dumps(list(queries)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    errors: list[list[int]] = json.loads(done.stdout)
    return errors
