"""llm.* settings: defaults that run, strict keys, key sources."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from analyst.llm import LLMConfigError, LLMSettings


def test_defaults_match_the_spec() -> None:
    settings = LLMSettings()
    assert settings.timeout_seconds == 60
    assert settings.attempts == 3
    assert settings.prompt_token_budget == 1500
    assert settings.verify is False
    assert settings.temperature is None


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(pydantic.ValidationError):
        LLMSettings.model_validate({"modle": "x"})


def test_key_and_key_file_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="not both"):
        LLMSettings(api_key="a", api_key_file=tmp_path / "k")


def test_key_file_is_read_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("secret-value\n")
    assert LLMSettings(api_key_file=tmp_path / "k").resolve_api_key("openai") == "secret-value"


def test_missing_key_file_says_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match=r"llm\.api_key_file"):
        LLMSettings(api_key_file=tmp_path / "missing").resolve_api_key("anthropic")


def test_backend_defaults_for_model_and_base_url() -> None:
    settings = LLMSettings()
    assert settings.model_for("anthropic") == "claude-sonnet-5-5"
    assert settings.base_url_for("openai_compatible") == "http://localhost:11434/v1"
    assert settings.base_url_for("openai") is None
    assert settings.resolve_api_key("openai_compatible") == "not-needed"


def test_api_key_is_not_shown_in_repr() -> None:
    assert "hunter2" not in repr(LLMSettings(api_key="hunter2"))
