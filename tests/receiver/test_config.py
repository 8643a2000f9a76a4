"""Configuration: defaults that run, YAML + env overrides, errors naming the key path, check-config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from receiver.config import load_settings
from receiver.errors import ConfigError
from receiver.web.auth import load_credentials


def test_defaults_run_without_a_file() -> None:
    settings = load_settings(None, environ={})
    assert settings.web.listen_address == "127.0.0.1:9099"
    assert settings.storage.path == "alert-analyst.db"
    assert settings.analyst.backend == "builtin"
    assert settings.webhook.max_body_bytes == 4 * 1024 * 1024


def test_env_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("web:\n  listen_address: 127.0.0.1:1111\nwebhook:\n  max_body_bytes: 10\n")
    settings = load_settings(
        path,
        environ={
            "ALERT_ANALYST_WEBHOOK__MAX_BODY_BYTES": "2048",
            "ALERT_ANALYST_WEBHOOK__BASIC_AUTH__USERNAME": "am",
            "ALERT_ANALYST_WEBHOOK__BASIC_AUTH__PASSWORD": "pw",
        },
    )
    assert settings.web.listen_address == "127.0.0.1:1111"
    assert settings.webhook.max_body_bytes == 2048
    assert load_credentials(settings.webhook).password == "pw"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("webhook:\n  max_body_bytes: -1\n", "webhook.max_body_bytes: Input should be greater than 0"),
        ("web:\n  listen_addres: x\n", "web.listen_addres: Extra inputs are not permitted"),
        ("webhook:\n  basic_auth: {username: a}\n", "webhook.basic_auth: Value error, set exactly one"),
        ("analyst:\n  backend: gpt\n", "analyst.backend: Input should be"),
        ("- not a mapping\n", "the top level must be a mapping"),
        ("web: [unclosed\n", "invalid YAML"),
        (
            "analyst: {backend: openai_compatible}\nllm: {total_timeout_seconds: 150}\n",
            "llm.total_timeout_seconds (150) must be below pipeline.stage_timeout_seconds (120)",
        ),
    ],
)
def test_errors_name_the_key_path_and_reason(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert expected in str(info.value)


def test_unreadable_secret_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"webhook\.bearer_token_file"):
        load_settings(None, environ={"ALERT_ANALYST_WEBHOOK__BEARER_TOKEN_FILE": str(tmp_path / "missing")})


def test_every_file_key_is_checked_at_load(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"prometheus\.basic_auth\.password_file"):
        load_settings(
            None,
            environ={},
            overrides={"prometheus": {"basic_auth": {"username": "u", "password_file": missing}}},
        )
    with pytest.raises(ConfigError, match=r"slack\.token_file"):
        load_settings(None, environ={}, overrides={"slack": {"token_file": missing, "channel": "C1"}})


def test_secrets_are_masked_in_repr() -> None:
    settings = load_settings(None, environ={"ALERT_ANALYST_WEBHOOK__BEARER_TOKEN": "topsecret-123"})
    assert "topsecret-123" not in repr(settings)
    assert "topsecret-123" not in repr(load_credentials(settings.webhook))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "receiver", *args], capture_output=True, text=True, timeout=60
    )


def test_check_config_exits_nonzero_on_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("pipeline:\n  workers: 0\n")
    result = run_cli("check-config", f"--config.file={bad}")
    assert result.returncode == 1
    assert "pipeline.workers" in result.stderr


def test_check_config_accepts_a_valid_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("web:\n  listen_address: 0.0.0.0:9099\nwebhook:\n  bearer_token: abc\n")
    result = run_cli("check-config", f"--config.file={good}")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("web:\n  listen_addres: x\n", "did you mean web.listen_address? (in "),
        ("prometheus:\n  timeout: 3\n", "did you mean prometheus.timeout_seconds?"),
        ("prometheus:\n  tls:\n    ca: x\n", "did you mean prometheus.tls.ca_file?"),
        ("slak:\n  channel: x\n", "slak: Extra inputs are not permitted; did you mean slack?"),
    ],
)
def test_an_unknown_key_in_the_file_gets_the_closest_key_and_the_file(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    path = tmp_path / "typo.yml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_an_unknown_key_from_the_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={"ALERT_ANALYST_PROMETHEUS__URLL": "http://x"})
    assert "prometheus.urll" in str(info.value)
    assert "did you mean prometheus.url?" in str(info.value)
    assert "(from environment variable ALERT_ANALYST_PROMETHEUS__URLL)" in str(info.value)


def test_a_variable_with_one_underscore_is_an_error_not_ignored() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={"ALERT_ANALYST_PROMETHEUS_URL": "http://prom:9090"})
    assert "ALERT_ANALYST_PROMETHEUS_URL" in str(info.value)
    assert "did you mean ALERT_ANALYST_PROMETHEUS__URL?" in str(info.value)


def test_variables_that_are_not_configuration_keys_are_left_alone() -> None:
    settings = load_settings(None, environ={"ALERT_ANALYST_REVISION": "abc", "ALERT_ANALYST_SHARED": "/x"})
    assert settings.web.listen_address == "127.0.0.1:9099"


def test_the_defaults_file_ranks_below_the_config_file_and_the_environment(tmp_path: Path) -> None:
    defaults = tmp_path / "defaults.yml"
    defaults.write_text("web:\n  listen_address: 0.0.0.0:9099\nstorage:\n  path: /data/image.db\n")
    config = tmp_path / "c.yml"
    config.write_text("storage:\n  path: /data/wanted.db\n")
    environ = {"ALERT_ANALYST_DEFAULTS_FILE": str(defaults)}
    assert load_settings(None, environ=environ).storage.path == "/data/image.db"
    settings = load_settings(config, environ=environ)
    assert (settings.web.listen_address, settings.storage.path) == ("0.0.0.0:9099", "/data/wanted.db")
    overridden = load_settings(config, environ={**environ, "ALERT_ANALYST_STORAGE__PATH": "/data/env.db"})
    assert overridden.storage.path == "/data/env.db"
