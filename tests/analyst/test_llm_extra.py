"""The LLM SDKs are the optional `llm` extra: the built-in analyst serves without them, and an LLM backend
without its SDK is a configuration error that names the extra."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from analyst.llm import LLMConfigError, LLMSettings, create_backend
from demo.processes import free_port, wait_http_ok

# Runs the CLI with both SDKs unimportable, as in an install without the `llm` extra.
WITHOUT_SDKS = (
    "import runpy, sys; sys.modules['openai'] = sys.modules['anthropic'] = None; "
    "runpy.run_module('receiver', run_name='__main__')"
)


@pytest.mark.parametrize(("backend", "package"), [("openai", "openai"), ("anthropic", "anthropic")])
def test_an_llm_backend_without_its_sdk_names_the_extra(
    backend: str, package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, package, None)
    monkeypatch.delitem(sys.modules, f"analyst.llm.{package}_backend", raising=False)
    with pytest.raises(LLMConfigError, match=r"alert-analyst\[llm\]") as error:
        create_backend(LLMSettings(), backend)  # type: ignore[arg-type]
    assert package in str(error.value)


def test_the_builtin_analyst_serves_without_the_sdks(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "receiver.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WITHOUT_SDKS,
            "serve",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.path={tmp_path / 'aa.db'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/-/ready", timeout=30, proc=proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert b"alert_analyst_build_info" in answer.read()
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    assert proc.returncode == 0, (tmp_path / "receiver.log").read_text()
