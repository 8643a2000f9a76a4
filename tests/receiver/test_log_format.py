"""Every log line, structlog's and the stdlib's (aiohttp, asyncio, urllib3), comes out in one format."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from receiver.logs import configure_logging

pytestmark = pytest.mark.usefixtures("restore_logging")


def test_stdlib_records_are_json_lines_with_level_logger_and_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")
    logging.getLogger("aiohttp.server").error("Error handling request from %s", "127.0.0.1")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
    structlog.get_logger("receiver.app").info("started", listen="127.0.0.1:9099")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["level"], e.get("logger"), e["event"]) for e in lines] == [
        ("error", "aiohttp.server", "Error handling request from 127.0.0.1"),
        ("error", "asyncio", "Task exception was never retrieved"),
        ("info", None, "started"),
    ]
    assert "RuntimeError: boom" in lines[1]["exception"]
    assert all("timestamp" in e for e in lines)


def test_reconfiguring_replaces_the_handler_and_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    configure_logging("warning", "console")
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert err.count("shown") == 1 and not err.lstrip().startswith("{")
