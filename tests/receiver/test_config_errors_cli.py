"""`alert-analyst check-config` on every way a configuration can be wrong: exit 1 (as documented, and as
Prometheus exits on a bad --config.file) and one line naming the key or the file, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def check_config(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ALERT_ANALYST_", "ANTHROPIC_"))}
    return subprocess.run(
        [sys.executable, "-m", "receiver", "check-config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **(env or {})},
        check=False,
    )


def the_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one line after `configuration error:`; fails on a traceback or a wrong exit code."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    header, *lines = result.stderr.strip().splitlines()
    assert header == "configuration error:"
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes("web:\n  external_url: http://caf\xe9\n".encode("latin-1"))
    assert the_error(check_config(f"--config.file={path}")).startswith(f"{path}: not UTF-8 text")


def test_invalid_yaml_is_one_line_with_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("web:\n  listen_address: [unclosed\n")
    line = the_error(check_config(f"--config.file={path}"))
    assert line.startswith(f"{path}: invalid YAML: line 3, column 1:"), line


def test_a_list_at_the_top_level_says_what_was_found(tmp_path: Path) -> None:
    path = tmp_path / "list.yml"
    path.write_text("- web\n- storage\n")
    assert "the top level must be a mapping of sections" in the_error(check_config(f"--config.file={path}"))


def test_an_environment_map_that_is_not_yaml_names_the_variable() -> None:
    line = the_error(check_config(env={"ALERT_ANALYST_PROMETHEUS__HEADERS": "{X-Scope-OrgID: ["}))
    assert line.startswith("environment variable ALERT_ANALYST_PROMETHEUS__HEADERS: not a YAML flow"), line


def test_a_variable_below_a_plain_key_names_the_variable() -> None:
    line = the_error(check_config(env={"ALERT_ANALYST_PROMETHEUS__URL__HOST": "prom"}))
    assert line.startswith("prometheus.url: "), line
    assert line.endswith("(from environment variable ALERT_ANALYST_PROMETHEUS__URL__HOST)"), line


def test_a_bad_listen_address_names_its_key() -> None:
    line = the_error(check_config("--web.listen-address=9099"))
    assert line.startswith("web.listen_address: "), line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "is a directory, not a file"),
        (b"", "is empty"),
        (b" \n", "is empty"),
        (b"\xff\xfe\x00token", "is not UTF-8 text"),
    ],
    ids=["directory", "empty", "whitespace", "not-utf8"],
)
def test_a_secret_file_that_cannot_be_a_secret_is_refused(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    secret = tmp_path / "token"
    if content is None:
        secret.mkdir()
    else:
        secret.write_bytes(content)
    line = the_error(check_config(env={"ALERT_ANALYST_WEBHOOK__BEARER_TOKEN_FILE": str(secret)}))
    assert line.startswith("webhook.bearer_token_file: ") and expected in line, line


def test_a_secret_file_with_a_trailing_newline_is_fine(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    result = check_config(env={"ALERT_ANALYST_WEBHOOK__BEARER_TOKEN_FILE": str(secret)})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variables", "key"),
    [
        ({"ALERT_ANALYST_WEBHOOK__BEARER_TOKEN": ""}, "webhook.bearer_token"),
        (
            {
                "ALERT_ANALYST_WEBHOOK__BASIC_AUTH__USERNAME": "am",
                "ALERT_ANALYST_WEBHOOK__BASIC_AUTH__PASSWORD": "",
            },
            "webhook.basic_auth",
        ),
    ],
)
def test_an_empty_webhook_credential_is_refused_not_a_way_in(variables: dict[str, str], key: str) -> None:
    """`-e ALERT_ANALYST_WEBHOOK__BEARER_TOKEN=$TOKEN` with TOKEN unset used to accept `Bearer` alone."""
    line = the_error(check_config(env=variables))
    assert line.startswith(f"{key}: ") and "empty" in line, line


def test_an_llm_backend_without_a_key_fails_check_config_as_it_fails_serve() -> None:
    line = the_error(check_config(env={"ALERT_ANALYST_ANALYST__BACKEND": "anthropic"}))
    assert "has no API key" in line, line
