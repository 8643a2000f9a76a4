"""A page on another site cannot make a browser that holds the receiver's credentials change anything
(CSRF); the receiver's own pages, non-browser clients and trusted origins can."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from receiver.config import WebSettings
from receiver.web.cross_origin import refusal, stranger
from receiver.web.resources import pipeline_parts as build_components

from .conftest import ClientFactory

AUTH = {"Authorization": "Bearer tok"}
RULE = {"name": "pnl_drop", "query": "demo_pnl_usd"}
HOST = "alerts.internal:9099"


@pytest.mark.parametrize(
    ("method", "headers", "refused"),
    [
        ("POST", {}, False),  # Alertmanager, Slack, curl: no browser headers
        ("POST", {"Sec-Fetch-Site": "same-origin", "Origin": f"http://{HOST}"}, False),
        ("POST", {"Sec-Fetch-Site": "none"}, False),  # typed or bookmarked by the user
        ("POST", {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, True),
        ("POST", {"Sec-Fetch-Site": "same-site", "Origin": "http://wiki.internal:80"}, True),
        ("DELETE", {"Sec-Fetch-Site": "cross-site"}, True),
        ("GET", {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, False),
        ("HEAD", {"Sec-Fetch-Site": "cross-site"}, False),
        ("POST", {"Origin": f"http://{HOST}"}, False),  # an older browser, same host
        ("POST", {"Origin": "https://evil.example"}, True),
        ("POST", {"Origin": "null"}, True),  # a sandboxed frame or a file
        ("POST", {"Sec-Fetch-Site": "cross-site", "Origin": "https://portal.internal"}, False),  # trusted
        ("PUT", {"Origin": "HTTPS://PORTAL.INTERNAL"}, False),
    ],
)
def test_refusal_follows_fetch_metadata_then_origin(method: str, headers: dict[str, str], refused: bool):
    why = refusal(method, headers, HOST, {"https://portal.internal"})

    assert (why is not None) is refused


async def test_a_cross_site_form_post_changes_nothing_and_says_why(make_client: ClientFactory) -> None:
    client = await make_client(
        build_components,
        webhook={"bearer_token": "tok"},
        prometheus={"url": "http://127.0.0.1:9", "retries": 0},
        detection={"enabled": False},
    )
    attack = {**AUTH, "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}

    answer = await client.post("/api/v1/rules", json=RULE, headers=attack)

    assert answer.status == 403
    assert "cross-origin request refused" in (await answer.json())["error"]
    assert (await (await client.get("/api/v1/rules", headers=AUTH)).json())["data"] == []
    same = {**AUTH, "Sec-Fetch-Site": "same-origin"}
    assert (await client.post("/api/v1/rules", json=RULE, headers=same)).status == 201


async def test_external_url_and_trusted_origins_may_post(make_client: ClientFactory) -> None:
    client = await make_client(
        build_components,
        webhook={"bearer_token": "tok"},
        web={
            "external_url": "https://alerts.example.com/analyst/",
            "trusted_origins": ["https://portal.example"],
        },
        prometheus={"url": "http://127.0.0.1:9", "retries": 0},
        detection={"enabled": False},
    )
    for origin, status in (
        ("https://alerts.example.com", 201),
        ("https://portal.example", 409),  # allowed through: the name is taken by then
        ("https://evil.example", 403),
    ):
        headers = {**AUTH, "Sec-Fetch-Site": "cross-site", "Origin": origin}
        assert (await client.post("/api/v1/rules", json=RULE, headers=headers)).status == status


@pytest.mark.parametrize(
    ("path", "host", "refused"),
    [
        ("/ui/", "127.0.0.1:9099", False),
        ("/ui/", "localhost:8080", False),  # an ssh tunnel or a port-forward
        ("/api/v1/incidents", "[::1]:9099", False),
        ("/api/v1/incidents", "evil.test:9099", True),  # a name rebound to 127.0.0.1
        ("/ui/overview", "EVIL.test", True),
        ("/-/reload", "evil.test", True),
        ("/ui/", "alerts.example.com", False),  # external_url's
        ("/webhook/alertmanager", "alert-analyst:9099", False),  # not a browser's business
        ("/-/healthy", "evil.test", False),
        ("/metrics", "evil.test", False),
    ],
)
def test_a_loopback_listener_answers_its_pages_only_under_loopback_and_known_names(
    path: str, host: str, refused: bool
):
    assert (stranger(path, host, {"alerts.example.com"}) is not None) is refused


@pytest.mark.parametrize(("listen", "status"), [("127.0.0.1:9099", 421), ("0.0.0.0:9099", 200)])
async def test_a_rebound_name_is_refused_only_while_listening_on_loopback(
    make_client: ClientFactory, listen: str, status: int
) -> None:
    client = await make_client(web={"listen_address": listen})

    answer = await client.get("/api/v1/incidents", headers={"Host": "evil.test:9099"})

    assert answer.status == status
    if status == 421:
        assert "DNS rebinding" in (await answer.json())["error"]
    assert (await client.get("/-/healthy", headers={"Host": "evil.test:9099"})).status == 200


@pytest.mark.parametrize("host", ["[::1", "a]b:9099", "", ":::"])
async def test_a_host_header_that_is_no_host_is_refused_not_a_server_error(
    make_client: ClientFactory, host: str
) -> None:
    client = await make_client()

    answer = await client.get("/api/v1/incidents", headers={"Host": host})

    assert answer.status == 421


async def test_an_origin_that_is_no_url_is_refused_not_a_server_error(make_client: ClientFactory) -> None:
    client = await make_client(prometheus={"url": "http://127.0.0.1:9", "retries": 0})

    answer = await client.post("/api/v1/rules", json=RULE, headers={"Origin": "http://[::1"})

    assert answer.status == 403


@pytest.mark.parametrize(
    "origin", ["portal.example", "ftp://portal.example", "https://portal.example/path", "http://[::1"]
)
def test_trusted_origins_must_be_origins(origin: str) -> None:
    with pytest.raises(ValidationError, match="is no origin"):
        WebSettings(trusted_origins=[origin])


async def test_a_cross_site_load_of_the_api_is_refused_but_a_link_to_the_workbench_opens(
    make_client: ClientFactory,
) -> None:
    client = await make_client(webhook={"bearer_token": "tok"})
    other_site = {**AUTH, "Sec-Fetch-Site": "cross-site"}
    load = {**other_site, "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
    link = {**other_site, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}

    assert (await client.get("/api/v1/incidents", headers=load)).status == 403
    assert (await client.get("/ui/", headers=link)).status == 200
    assert (await client.get("/-/healthy", headers=load)).status == 200  # not the API's or workbench's
