"""Every answer code of POST /webhook/alertmanager, through a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from receiver.testing import drain
from receiver.web.keys import MATERIALIZER, SETTINGS

from .conftest import ClientFactory

FIRING = "captured-am025-prom242-firing.json"
BEARER = {"webhook": {"bearer_token": "s3cr3t-token"}}


def body(corpus: Path, name: str = FIRING) -> bytes:
    return (corpus / name).read_bytes()


def count_stored(client: TestClient[Any, Any]) -> int:
    """Notifications plus incidents in SQLite (a rejected webhook must leave both empty)."""
    path = client.app[SETTINGS].storage.path
    with sqlite3.connect(path) as conn:
        return sum(
            int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("notifications", "incidents")
        )


async def post(client: TestClient[Any, Any], data: bytes, **headers: str) -> ClientResponse:
    headers.setdefault("Content-Type", "application/json")
    return await client.post("/webhook/alertmanager", data=data, headers=headers)


async def test_every_valid_corpus_payload_is_accepted(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    files = sorted(webhook_corpus.glob("*.json"))
    assert len(files) == 9
    for path in files:
        resp = await post(client, path.read_bytes())
        assert resp.status == 200, (path.name, await resp.text())
        expected = len(json.loads(path.read_bytes())["alerts"])
        assert len((await resp.json())["incidents"]) == expected


async def test_200_is_sent_only_after_the_notification_is_committed(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    resp = await post(client, body(webhook_corpus))
    data = await resp.json()
    assert resp.status == 200 and len(data["incidents"]) == 2 and data["alerts"] == 2
    # Read with a separate connection: the notification must already be committed.
    path = client.app[SETTINGS].storage.path
    with sqlite3.connect(path) as conn:
        (stored,) = conn.execute(
            "SELECT body FROM notifications WHERE id=?", (data["notification_id"],)
        ).fetchone()
    assert stored.encode() == body(webhook_corpus)
    # ... and its incidents, with the ids the answer named, follow right behind it.
    await drain(client.app[MATERIALIZER], 10)
    with sqlite3.connect(path) as conn:
        ids = {r[0] for r in conn.execute("SELECT id FROM incidents")}
        pending = conn.execute("SELECT count(*) FROM notifications WHERE pending = 1").fetchone()[0]
    assert ids == set(data["incidents"]) and pending == 0


async def test_malformed_json_is_400_and_nothing_is_stored(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    resp = await post(client, (webhook_corpus / "invalid" / "kubernaut-invalid-payload.json").read_bytes())
    assert resp.status == 400
    assert "malformed JSON" in (await resp.json())["error"]
    assert count_stored(client) == 0


async def test_schema_violation_is_400_naming_the_field(make_client: ClientFactory) -> None:
    client = await make_client()
    payload = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "startsAt": "yesterday"}],
    }
    resp = await post(client, json.dumps(payload).encode())
    data = await resp.json()
    assert resp.status == 400
    assert data["field"] == "alerts[0].startsAt"


@pytest.mark.parametrize("field", ["startsAt", "endsAt"])
async def test_a_time_after_the_year_9999_in_utc_is_400_naming_it_and_nothing_is_stored(
    make_client: ClientFactory, webhook_corpus: Path, field: str
) -> None:
    client = await make_client()
    data = json.loads(body(webhook_corpus))
    data["alerts"][1][field] = "9999-12-31T23:59:59-01:00"  # 10000-01-01T00:59:59Z
    resp = await post(client, json.dumps(data).encode())
    assert resp.status == 400
    assert (await resp.json())["field"] == f"alerts[1].{field}"
    assert count_stored(client) == 0


async def test_missing_alerts_is_400_naming_alerts(make_client: ClientFactory) -> None:
    client = await make_client()
    resp = await post(client, b'{"version":"4","status":"firing"}')
    assert resp.status == 400
    assert (await resp.json())["field"] == "alerts"


async def test_unsupported_version_is_422(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    data = json.loads(body(webhook_corpus))
    data["version"] = "1"
    resp = await post(client, json.dumps(data).encode())
    assert resp.status == 422
    assert (await resp.json())["field"] == "version"


async def test_non_json_content_type_is_415(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    resp = await post(client, body(webhook_corpus), **{"Content-Type": "text/plain"})
    assert resp.status == 415
    assert "Accept-Encoding" not in resp.headers  # it names the encodings for a refused Content-Encoding only
    assert count_stored(client) == 0


async def test_body_over_max_body_bytes_is_413(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client(webhook={"max_body_bytes": 1024})
    data = body(webhook_corpus)
    assert len(data) > 1024
    resp = await post(client, data)
    assert resp.status == 413
    assert count_stored(client) == 0


async def test_chunked_body_over_the_limit_is_413(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client(webhook={"max_body_bytes": 1024})
    data = body(webhook_corpus)

    async def chunks():  # no Content-Length: the limit is enforced while reading
        for i in range(0, len(data), 256):
            yield data[i : i + 256]

    resp = await client.post(
        "/webhook/alertmanager", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413


async def raw_post(
    client: TestClient[Any, Any], head: bytes, parts: list[bytes], pause: float = 0.2
) -> bytes:
    """POST over a plain socket, the body in `parts` written `pause` s apart (TCP segments that arrive
    one by one, as from a slow or distant sender); the answer's status line and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(head)
    for part in parts:
        await writer.drain()
        await asyncio.sleep(pause)
        writer.write(part)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def test_a_body_that_arrives_in_several_segments_is_read_whole(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    """One read of the stream returned only the first segment: the rest of the body was cut and a valid
    webhook got 400 ("malformed JSON"), each time Alertmanager retried."""
    client = await make_client()
    data = (webhook_corpus / "calert-mock-payload-31-alerts.json").read_bytes()
    head = (
        "POST /webhook/alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = await raw_post(client, head, [data[:1000], data[1000:]])
    assert status_of(answer) == 200, answer[-300:]
    chunked = head.replace(f"Content-Length: {len(data)}".encode(), b"Transfer-Encoding: chunked")
    parts = [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (data[:1000], data[1000:])] + [b"0\r\n\r\n"]
    assert status_of(await raw_post(client, chunked, parts)) == 200
    await drain(client.app[MATERIALIZER], 10)
    with sqlite3.connect(client.app[SETTINGS].storage.path) as conn:
        (incidents,) = conn.execute("SELECT count(*) FROM incidents").fetchone()
    assert incidents == len({json.dumps(a["labels"], sort_keys=True) for a in json.loads(data)["alerts"]})


async def test_a_webhook_of_several_megabytes_under_the_limit_is_accepted(make_client: ClientFactory) -> None:
    client = await make_client()
    alert = {
        "status": "firing",
        "labels": {"alertname": "Big", "pod": ""},
        "annotations": {"description": "x" * 400},
    }
    alerts = [
        {**alert, "labels": {"alertname": "Big", "pod": f"p-{i}"}, "startsAt": "2026-01-01T00:00:00Z"}
        for i in range(5000)
    ]
    data = json.dumps({"version": "4", "status": "firing", "receiver": "r", "alerts": alerts}).encode()
    assert 2_000_000 < len(data) < client.app[SETTINGS].webhook.max_body_bytes
    resp = await post(client, data)
    assert resp.status == 200, await resp.text()
    assert len((await resp.json())["incidents"]) == 5000


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
async def test_a_body_in_another_unicode_encoding_is_400_not_accepted_and_lost(
    make_client: ClientFactory, webhook_corpus: Path, encoding: str
) -> None:
    """json.loads(bytes) reads UTF-16 and UTF-32 too: such a body got 200, was stored as mangled UTF-8,
    and its incidents never appeared."""
    client = await make_client()
    data = body(webhook_corpus).decode("utf-8").encode(encoding)
    resp = await post(client, data)
    assert resp.status == 400
    assert "not UTF-8" in (await resp.json())["error"]
    assert count_stored(client) == 0


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("GZIP", gzip.compress),
        ("identity", bytes),
        ("gzip", lambda data: gzip.compress(data[:500]) + gzip.compress(data[500:])),
    ],
    ids=["gzip", "deflate", "upper-case", "identity", "two-gzip-members"],
)
async def test_a_gzip_or_deflate_body_is_decoded_and_accepted(
    make_client: ClientFactory, webhook_corpus: Path, encoding: str, compress: Any
) -> None:
    client = await make_client()
    resp = await post(client, compress(body(webhook_corpus)), **{"Content-Encoding": encoding})
    assert resp.status == 200, await resp.text()
    path = client.app[SETTINGS].storage.path
    with sqlite3.connect(path) as conn:
        (stored,) = conn.execute("SELECT body FROM notifications").fetchone()
    assert stored.encode() == body(webhook_corpus)


async def test_a_large_gzip_body_is_decoded_whole(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    data = json.loads(body(webhook_corpus))
    data["alerts"][0]["annotations"]["description"] = os.urandom(200_000).hex()  # does not compress away
    raw = json.dumps(data).encode()
    resp = await post(client, gzip.compress(raw), **{"Content-Encoding": "gzip"})
    assert resp.status == 200, await resp.text()
    with sqlite3.connect(client.app[SETTINGS].storage.path) as conn:
        assert conn.execute("SELECT body FROM notifications").fetchone()[0].encode() == raw


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("br", bytes), ("zstd", bytes), ("x-unknown", bytes), ("compress", bytes), ("gzip, br", gzip.compress)],
)
async def test_an_unsupported_content_encoding_is_415_naming_it_and_nothing_is_stored(
    make_client: ClientFactory, webhook_corpus: Path, encoding: str, compress: Any
) -> None:
    """aiohttp answered br and zstd with its own plain-text 400 before the handler ran, and passed other
    codings through undecoded (a valid JSON body labelled x-unknown was accepted)."""
    client = await make_client()
    resp = await post(client, compress(body(webhook_corpus)), **{"Content-Encoding": encoding})
    assert resp.status == 415
    assert resp.headers["Accept-Encoding"] == "gzip, deflate"
    error = (await resp.json())["error"]
    assert repr(encoding) in error and "identity, gzip, deflate" in error
    assert count_stored(client) == 0


async def test_a_decompressed_body_over_max_body_bytes_is_413(make_client: ClientFactory) -> None:
    """The limit applies to the decoded body: 10 MB of zeros compress to a few kB."""
    client = await make_client(webhook={"max_body_bytes": 1024 * 1024})
    data = gzip.compress(b"0" * 10_000_000)
    assert len(data) < 1024 * 1024
    resp = await post(client, data, **{"Content-Encoding": "gzip"})
    assert resp.status == 413
    assert "limit of 1048576" in (await resp.json())["error"]
    assert count_stored(client) == 0


@pytest.mark.parametrize(
    ("encoding", "data"),
    [("gzip", b"not gzip at all"), ("deflate", gzip.compress(b"{}")), ("gzip", gzip.compress(b"{}")[:-4])],
    ids=["garbage-as-gzip", "gzip-as-deflate", "truncated-gzip"],
)
async def test_a_body_that_does_not_decode_as_its_content_encoding_is_400(
    make_client: ClientFactory, encoding: str, data: bytes
) -> None:
    client = await make_client()
    resp = await post(client, data, **{"Content-Encoding": encoding})
    assert resp.status == 400
    assert f"does not decode as Content-Encoding {encoding!r}" in (await resp.json())["error"]
    assert count_stored(client) == 0


@pytest.mark.parametrize(
    ("section", "header"),
    [
        (BEARER, b"Bearer \xff\xfe"),
        ({"webhook": {"basic_auth": {"username": "am", "password": "pw"}}}, b"Basic \xff"),
    ],
)
async def test_an_authorization_header_that_is_not_text_is_401(
    make_client: ClientFactory, webhook_corpus: Path, section: dict[str, Any], header: bytes
) -> None:
    client = await make_client(**section)
    data = body(webhook_corpus)
    for path in (b"/webhook/alertmanager", b"/api/v1/incidents"):
        method = b"POST" if path.startswith(b"/webhook") else b"GET"
        head = (
            method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Authorization: "
            + header
            + b"\r\nContent-Length: "
            + str(len(data)).encode()
            + b"\r\nConnection: close\r\n\r\n"
        )
        assert status_of(await raw_post(client, head, [data], 0)) == 401, path
    assert count_stored(client) == 0


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dXNlcjpwYXNz", "Bearer"])
async def test_missing_or_wrong_bearer_is_401(
    make_client: ClientFactory, webhook_corpus: Path, header: str | None
) -> None:
    client = await make_client(**BEARER)
    headers = {"Authorization": header} if header else {}
    resp = await post(client, body(webhook_corpus), **headers)
    assert resp.status == 401
    assert count_stored(client) == 0


async def test_right_bearer_is_accepted(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client(**BEARER)
    resp = await post(client, body(webhook_corpus), Authorization="Bearer s3cr3t-token")
    assert resp.status == 200


async def test_basic_auth_from_password_file(
    make_client: ClientFactory, webhook_corpus: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    client = await make_client(webhook={"basic_auth": {"username": "am", "password_file": str(secret)}})
    good = "Basic " + base64.b64encode(b"am:hunter2").decode()
    bad = "Basic " + base64.b64encode(b"am:hunter3").decode()
    assert (await post(client, body(webhook_corpus), Authorization=bad)).status == 401
    assert (await post(client, body(webhook_corpus), Authorization=good)).status == 200


@pytest.mark.parametrize(
    ("webhook", "challenges"),
    [
        ({"bearer_token": "s3cr3t-token"}, ['Bearer realm="alert-analyst"']),
        ({"basic_auth": {"username": "am", "password": "hunter2"}}, ['Basic realm="alert-analyst"']),
        (
            {"bearer_token": "s3cr3t-token", "basic_auth": {"username": "am", "password": "hunter2"}},
            ['Basic realm="alert-analyst"', 'Bearer realm="alert-analyst"'],
        ),
    ],
    ids=["bearer", "basic", "both"],
)
async def test_a_401_challenges_for_the_credentials_configured(
    make_client: ClientFactory, webhook_corpus: Path, webhook: dict[str, Any], challenges: list[str]
) -> None:
    """It always said Bearer, also when only basic auth was configured (the API said Basic)."""
    client = await make_client(webhook=webhook)
    for answer in (await post(client, body(webhook_corpus)), await client.get("/api/v1/incidents")):
        assert answer.status == 401
        assert answer.headers.getall("WWW-Authenticate") == challenges


async def test_unknown_fields_are_ignored(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    data = json.loads(body(webhook_corpus))
    data["notification_reason"] = "repeat"
    data["routeLabels"] = {"team": "trading"}
    data["alerts"][0]["somethingNew"] = {"x": 1}
    resp = await post(client, json.dumps(data).encode())
    assert resp.status == 200


async def test_answer_codes_are_counted_on_metrics(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    await post(client, body(webhook_corpus))
    await post(client, b"{", **{"Content-Type": "application/json"})
    text = await (await client.get("/metrics")).text()
    assert 'alert_analyst_webhook_requests_total{code="200"} 1.0' in text
    assert 'alert_analyst_webhook_requests_total{code="400"} 1.0' in text
    assert 'alert_analyst_alerts_received_total{status="firing"} 2.0' in text


@pytest.mark.parametrize(
    ("data", "status", "answer"),
    [
        (
            b"\xff{}",
            400,
            b'{"status": "error", "error": "the body is not UTF-8 (byte 0: invalid start byte)"}',
        ),
        (
            b"{not json",
            400,
            b'{"status": "error", "error": "malformed JSON: Expecting property name enclosed in double '
            b'quotes: line 1 column 2 (char 1)"}',
        ),
        (b"[]", 400, b'{"status": "error", "error": "the body must be a JSON object", "field": "(root)"}'),
        (
            b'{"version": "3", "alerts": []}',
            422,
            b'{"status": "error", "error": "unsupported payload version \'3\': only Alertmanager webhook '
            b'version 4 is accepted (Grafana contact points: use an Alertmanager-compatible receiver)", '
            b'"field": "version"}',
        ),
        (b"[" * 100_000, 400, b'{"status": "error", "error": "JSON nested too deeply"}'),
    ],
    ids=["not-utf8", "not-json", "not-an-object", "v3", "too-deep"],
)
async def test_a_body_that_does_not_decode_gets_the_same_answer_byte_for_byte(
    make_client: ClientFactory, data: bytes, status: int, answer: bytes
) -> None:
    """The decoding steps are shared with `alert-analyst diagnose --alert`; the webhook's answers stay."""
    client = await make_client()
    resp = await post(client, data)
    assert (resp.status, await resp.read()) == (status, answer)
    assert count_stored(client) == 0
