"""Settings: unknown keys rejected, secrets inline or from files, routes validated."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from receiver.delivery import GrafanaSettings, NoiseSettings, PagerDutySettings, SlackRoute, SlackSettings


def test_absent_settings_disable_every_destination() -> None:
    assert not GrafanaSettings().enabled
    assert not SlackSettings().enabled
    assert not PagerDutySettings().enabled


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError, match="extra"):
        SlackSettings.model_validate({"tokn": "x"})


def test_secret_files_are_read_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("xoxb-from-file\n")
    settings = SlackSettings(token_file=tmp_path / "token", channel="C1")
    assert settings.token_value() == "xoxb-from-file"
    assert "xoxb" not in repr(SlackSettings(token=SecretStr("xoxb-inline"), channel="C1"))


def test_inline_and_file_secret_are_mutually_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="mutually exclusive"):
        PagerDutySettings(routing_key=SecretStr("k"), routing_key_file=tmp_path / "k")
    with pytest.raises(ValidationError, match="mutually exclusive"):
        GrafanaSettings(url="http://g", token=SecretStr("t"), username="admin")


def test_slack_token_needs_a_channel_or_routes() -> None:
    with pytest.raises(ValidationError, match="set a channel"):
        SlackSettings(token=SecretStr("xoxb"))


def test_routes_match_anchored_regexes_first_match_wins() -> None:
    settings = SlackSettings(
        token=SecretStr("xoxb"),
        channel="C-default",
        routes=[
            SlackRoute(matchers={"team": "trading", "severity": "critical|page"}, channel="C-trading"),
            SlackRoute(matchers={"desk": "fx-.*"}, channel="C-fx"),
        ],
    )
    assert settings.channel_for({"team": "trading", "severity": "page"}) == "C-trading"
    assert settings.channel_for({"team": "trading-ops", "severity": "page", "desk": "fx-spot"}) == "C-fx"
    assert settings.channel_for({"desk": "rates"}) == "C-default"


def test_invalid_route_regex_is_rejected() -> None:
    with pytest.raises(ValidationError, match="not a valid regex"):
        SlackRoute(matchers={"team": "("}, channel="C1")


def test_noise_threshold_is_one_of_the_four_levels() -> None:
    with pytest.raises(ValidationError):
        NoiseSettings(severity_threshold="loud")


def test_loaded_sections_differ_when_a_secret_files_contents_do(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("xoxb-first\n")
    loaded = SlackSettings(token_file=token, channel="C1")
    loaded.note_secret_files()
    again = SlackSettings(token_file=token, channel="C1")
    again.note_secret_files()
    assert again == loaded

    token.write_text("xoxb-second\n")
    rotated = SlackSettings(token_file=token, channel="C1")
    rotated.note_secret_files()

    assert rotated != loaded
    assert "xoxb" not in repr(rotated.__pydantic_private__)
