"""The workbench's forms read their bodies as the JSON routes do (`json_errors.read_body`): the
`webhook.max_body_bytes` limit, gzip and deflate decoded, br and zstd refused with 415, UTF-8 only. The
/ui pages answer with the page and its error; the feedback form answers JSON, as it always did."""

from __future__ import annotations

import gzip
import html
import zlib
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.feedback.conftest import stored_incident

from .conftest import ClientFactory

FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}
LIMIT = 4096
# A form each page refuses after reading it, saying something only the decoded fields can make it say.
DIAGNOSE = {"expr": "rate(typed_here[5m])", "start": "now", "end": "-1h"}
BACKTEST = {"name": "typed_here", "query": "up", "labels": "team"}
PAGES = [("/ui/diagnose", DIAGNOSE, "typed_here"), ("/ui/backtest", BACKTEST, "typed_here")]


async def _client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client(webhook={"max_body_bytes": LIMIT})


def _error_of(page: str) -> str:
    """The text of the page's error paragraph."""
    start = page.index('class="error"')
    return html.unescape(page[start : page.index("</p>", start)])


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", lambda body: body)],
)
@pytest.mark.parametrize(("url", "form", "typed"), PAGES)
async def test_a_compressed_form_is_decoded_like_a_json_body(
    make_client: ClientFactory, url: str, form: dict[str, str], typed: str, encoding: str, encode: Any
) -> None:
    client = await _client(make_client)
    body = encode(urlencode(form).encode())
    answer = await client.post(url, data=body, headers={**FORM_TYPE, "Content-Encoding": encoding})
    assert answer.status == 400  # the page's own refusal of what was typed: it was read
    assert typed in await answer.text()


async def test_a_gzip_feedback_form_is_stored(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    incident_id = await stored_incident(client)
    body = gzip.compress(urlencode({"verdict": "wrong", "who": "ana"}).encode())
    answer = await client.post(
        f"/ui/incidents/{incident_id}/feedback",
        data=body,
        headers={**FORM_TYPE, "Content-Encoding": "gzip"},
        allow_redirects=False,
    )
    assert answer.status == 303
    listed = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json()
    assert [(c["who"], c["verdict"]) for c in listed["current"]] == [("ana", "wrong")]


@pytest.mark.parametrize(("url", "form", "typed"), PAGES)
@pytest.mark.parametrize("compressed", [False, True])
async def test_a_form_over_max_body_bytes_is_413_on_the_page(
    make_client: ClientFactory, url: str, form: dict[str, str], typed: str, compressed: bool
) -> None:
    client = await _client(make_client)
    body = urlencode({**form, "padding": "x" * LIMIT}).encode()
    headers = {**FORM_TYPE, "Content-Encoding": "gzip"} if compressed else FORM_TYPE
    answer = await client.post(url, data=gzip.compress(body) if compressed else body, headers=headers)
    assert answer.status == 413
    assert answer.content_type == "text/html"
    assert "exceeds the limit of 4096" in _error_of(await answer.text())


@pytest.mark.parametrize("encoding", ["br", "zstd"])
@pytest.mark.parametrize(("url", "form", "typed"), PAGES)
async def test_a_form_in_an_encoding_not_decoded_is_415_naming_the_accepted_ones(
    make_client: ClientFactory, url: str, form: dict[str, str], typed: str, encoding: str
) -> None:
    client = await _client(make_client)
    body = urlencode(form).encode()  # what the header says does not matter: it is not decoded
    answer = await client.post(url, data=body, headers={**FORM_TYPE, "Content-Encoding": encoding})
    assert answer.status == 415
    assert answer.headers["Accept-Encoding"] == "gzip, deflate"
    assert f"Content-Encoding {encoding!r} is not supported" in _error_of(await answer.text())


@pytest.mark.parametrize(("url", "form", "typed"), PAGES)
@pytest.mark.parametrize("body", [b"expr=\xff&name=\xff", b"expr=%ff&name=%ff"])
async def test_a_form_that_is_not_utf8_is_400_on_the_page(
    make_client: ClientFactory, url: str, form: dict[str, str], typed: str, body: bytes
) -> None:
    client = await _client(make_client)
    answer = await client.post(url, data=body, headers=FORM_TYPE)
    assert answer.status == 400
    assert "not UTF-8" in _error_of(await answer.text())


@pytest.mark.parametrize(
    ("headers", "body", "status", "says"),
    [
        ({"Content-Encoding": "gzip"}, b"abc", 400, "does not decode"),
        ({"Content-Encoding": "br"}, b"abc", 415, "Content-Encoding 'br' is not supported"),
        ({}, b"who=" + b"x" * LIMIT, 413, "exceeds the limit of 4096"),
        ({}, b"verdict=%ff", 400, "not UTF-8"),
    ],
)
async def test_the_feedback_form_refuses_a_body_as_the_feedback_api_does(
    make_client: ClientFactory, headers: dict[str, str], body: bytes, status: int, says: str
) -> None:
    client = await _client(make_client)
    incident_id = await stored_incident(client)
    answer = await client.post(
        f"/ui/incidents/{incident_id}/feedback",
        data=body,
        headers={**FORM_TYPE, **headers},
        allow_redirects=False,
    )
    assert answer.status == status
    assert says in (await answer.json())["error"]
    listed = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json()
    assert listed["current"] == []


@pytest.mark.parametrize(("url", "form", "typed"), PAGES)
async def test_a_multipart_form_of_text_fields_is_read(
    make_client: ClientFactory, url: str, form: dict[str, str], typed: str
) -> None:
    client = await _client(make_client)
    data = aiohttp.FormData()
    for name, value in form.items():
        data.add_field(name, value)
    answer = await client.post(url, data=data)
    assert answer.status == 400
    assert typed in await answer.text()


@pytest.mark.parametrize(("url", "form", "typed"), PAGES)
async def test_a_file_sent_to_a_page_form_is_400_naming_its_field(
    make_client: ClientFactory, url: str, form: dict[str, str], typed: str
) -> None:
    client = await _client(make_client)
    data = aiohttp.FormData()
    data.add_field("expr", b"up", filename="query.txt")
    answer = await client.post(url, data=data)
    assert answer.status == 400
    assert "expr must be text, not a file" in _error_of(await answer.text())


async def test_a_body_that_is_not_a_form_is_415(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    answer = await client.post("/ui/diagnose", json=DIAGNOSE)
    assert answer.status == 415
    assert "is not a form" in _error_of(await answer.text())
