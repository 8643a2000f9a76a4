"""`alert-analyst diagnose` with a metric source that fails (down, 5xx, another service's JSON) still
prints its diagnosis and exits 0, and says on stderr, in one line, that and why it rests on the alert
alone; the JSON on stdout keeps its shape."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from demo.processes import free_port

ALERT = {
    "labels": {"alertname": "OrderErrorsHigh", "service": "orders"},
    "startsAt": "2026-11-25T14:00:00Z",
    "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28errors_total%5B5m%5D%29+%3E+1",
}
WARNING = re.compile(
    r"alert-analyst diagnose: warning: no evidence from (?P<url>\S+) \((?P<reason>.+)\); "
    r"the diagnosis rests on the alert alone"
)


async def diagnose(tmp_path: Path, url: str, *extra: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `diagnose` run as its own process (the test's loop keeps serving)."""
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(ALERT))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_ANALYST_")}
    env = {**environ, "ALERT_ANALYST_PROMETHEUS__RETRIES": "0"}
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "receiver", "diagnose", "--alert", str(alert), "--prometheus.url", url),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def the_warning(stderr: str) -> re.Match[str]:
    assert "Traceback" not in stderr, stderr
    [line] = stderr.strip().splitlines()
    match = WARNING.fullmatch(line)
    assert match, line
    return match


def answering(status: int, body: Any) -> web.Application:
    """Every path answers `status` with `body` as JSON."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


def prometheus_without_data() -> web.Application:
    """The API's documented answers for a Prometheus that holds no series and no rules."""

    def success(data: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response({"status": "success", "data": data})

        return handler

    app = web.Application()
    app.router.add_route("*", "/api/v1/query_range", success({"resultType": "matrix", "result": []}))
    app.router.add_route("*", "/api/v1/series", success([]))
    app.router.add_get("/api/v1/rules", success({"groups": []}))
    app.router.add_get("/api/v1/status/config", success({"yaml": "global: {}\n"}))
    return app


async def test_prometheus_down_still_gives_a_diagnosis_and_warns_why(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    code, out, err = await diagnose(tmp_path, url)

    assert code == 0 and "ALERT OrderErrorsHigh" in out
    warning = the_warning(err)
    assert warning["url"] == url
    assert re.fullmatch(
        r"unreachable: cannot connect: \[Errno \d+\] Connection refused; check prometheus\.url",
        warning["reason"],
    )


async def test_with_json_output_the_warning_goes_to_stderr_and_stdout_stays_the_report(
    tmp_path: Path,
) -> None:
    code, out, err = await diagnose(tmp_path, f"http://127.0.0.1:{free_port()}", "--format", "json")

    assert code == 0
    report = json.loads(out)
    assert set(report) == {"incident_id", "evidence", "diagnosis"}
    assert [s["available"] for s in report["evidence"]["series"]] == [False]
    assert the_warning(err)["reason"].startswith("unreachable: ")


async def test_a_server_error_is_named_in_the_warning(aiohttp_server, tmp_path: Path) -> None:
    server = await aiohttp_server(answering(500, {"status": "error", "error": "storage down"}))

    code, out, err = await diagnose(tmp_path, str(server.make_url("")).rstrip("/"))

    assert code == 0 and "ALERT OrderErrorsHigh" in out
    assert the_warning(err)["reason"] == (
        "other: HTTP 500: storage down (check prometheus.url, credentials and the path prefix)"
    )


async def test_a_proxys_html_error_page_is_one_line_of_the_warning(aiohttp_server, tmp_path: Path) -> None:
    """Before: the page came through as it was, so the 'one line on stderr' was eleven."""
    page = (
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    )
    page += "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=502, text=page, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = await aiohttp_server(app)

    code, out, err = await diagnose(tmp_path, str(server.make_url("")).rstrip("/"))

    assert code == 0 and "ALERT OrderErrorsHigh" in out
    reason = the_warning(err)["reason"]
    assert reason.startswith(
        "unreachable: HTTP 502: <html> <head><title>502 Bad Gateway</title></head> <body>"
    )


async def test_another_services_json_is_named_in_the_warning(aiohttp_server, tmp_path: Path) -> None:
    server = await aiohttp_server(answering(200, "hello"))
    url = str(server.make_url("")).rstrip("/")

    code, _, err = await diagnose(tmp_path, url)

    assert code == 0
    assert the_warning(err)["reason"] == (
        f"other: unexpected response from {url}/api/v1/query_range: not a Prometheus API answer "
        "(is prometheus.url the PromQL API?)"
    )


async def test_a_reachable_prometheus_without_data_gives_no_warning(aiohttp_server, tmp_path: Path) -> None:
    server = await aiohttp_server(prometheus_without_data())

    code, out, err = await diagnose(tmp_path, str(server.make_url("")).rstrip("/"))

    assert code == 0 and "ALERT OrderErrorsHigh" in out
    assert err == ""
