"""`prometheus.tls` holds for every call (range, series, rules, config), also when REQUESTS_CA_BUNDLE or
CURL_CA_BUNDLE names another bundle (requests lets them override a session's own CA otherwise)."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings

CONFIG = "global:\n  external_labels:\n    cluster: eu-1\n"
RULE = {"name": "Down", "query": "up == 0", "type": "alerting", "labels": {}}


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (cert.pem, key.pem)."""
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", f"/CN={name}"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def backend() -> web.Application:
    def answer(data: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response({"status": "success", "data": data})

        return handler

    app = web.Application()
    app.router.add_get("/api/v1/query_range", answer({"resultType": "matrix", "result": []}))
    app.router.add_get("/api/v1/series", answer([{"__name__": "up", "job": "x"}]))
    app.router.add_get("/api/v1/rules", answer({"groups": [{"name": "g", "rules": [RULE]}]}))
    app.router.add_get("/api/v1/status/config", answer({"yaml": CONFIG}))
    return app


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
@pytest.mark.parametrize("tls", ["ca_file", "insecure_skip_verify"])
async def test_rules_and_config_use_prometheus_tls_despite_a_ca_bundle_variable(
    aiohttp_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, tls: str
) -> None:
    cert, key = self_signed(tmp_path, "prometheus")
    other, _ = self_signed(tmp_path, "elsewhere")
    monkeypatch.setenv(variable, str(other))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = await aiohttp_server(backend(), ssl=context)
    settings = {"ca_file": str(cert)} if tls == "ca_file" else {"insecure_skip_verify": True}
    source = PrometheusSource(
        PrometheusSettings(url=str(server.make_url("")).rstrip("/"), retries=0, tls=settings)
    )
    try:
        assert await source.query_range("up", 100, 130, 15) == []
        assert await source.series(["up"], 100, 130) == [{"__name__": "up", "job": "x"}]
        [rule] = await source.rules()
        assert (rule.name, rule.query) == ("Down", "up == 0")
        assert await source.external_labels() == {"cluster": "eu-1"}
    finally:
        await source.close()
