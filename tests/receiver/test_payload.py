"""Payload parsing: native time parsing matches `parse_timestamp`; senders' quirks are normalised or named."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from receiver.errors import PayloadError
from receiver.payload import parse_alert, parse_webhook
from receiver.times import parse_timestamp

FIRING = "captured-am025-prom242-firing.json"


def payload_with(corpus: Path, **alert_fields: Any) -> bytes:
    data = json.loads((corpus / FIRING).read_bytes())
    data["alerts"][1].update(alert_fields)
    return json.dumps(data).encode()


def test_times_are_exactly_those_of_parse_timestamp(webhook_corpus: Path) -> None:
    # Incident ids hash startsAt: any drift (rounding instead of truncating nanoseconds) would re-create
    # every incident stored before an upgrade.
    rng = random.Random(3)
    for _ in range(300):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 9)))
        offset = rng.choice(["Z", "+02:00", "-07:30", "+00:00"])
        day = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        text = f"{day}T{rng.randint(0, 23):02d}:07:09.{digits}{offset}"
        alert = parse_webhook(payload_with(webhook_corpus, startsAt=text, endsAt=text)).alerts[1]
        assert alert.starts_at == parse_timestamp(text) and alert.ends_at == parse_timestamp(text)


def test_go_zero_and_empty_end_times_mean_still_firing(webhook_corpus: Path) -> None:
    for ends in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "", None):
        assert parse_webhook(payload_with(webhook_corpus, endsAt=ends)).alerts[1].ends_at is None


def test_null_maps_become_empty(webhook_corpus: Path) -> None:
    data = json.loads((webhook_corpus / FIRING).read_bytes())
    data.update(groupLabels=None, commonLabels=None, commonAnnotations=None)
    data["alerts"][0]["annotations"] = None
    payload = parse_webhook(json.dumps(data).encode())
    assert payload.group_labels == {} and payload.common_annotations == {}
    assert payload.alerts[0].annotations == {}
    assert (
        payload.alerts[1].annotations
        == json.loads((webhook_corpus / FIRING).read_bytes())["alerts"][1]["annotations"]
    )


@pytest.mark.parametrize(
    ("starts", "reason"),
    [
        ("0001-01-01T00:00:00Z", "zero time"),
        ("0001-01-01T00:00:00+01:00", "out of range"),  # the year 0 in UTC
        ("9999-12-31T23:59:59-01:00", "out of range"),  # the year 10000 in UTC
        ("2026-11-24T20:49:52", "timezone"),
        ("yesterday", "datetime"),
        (1795553392, "datetime"),
    ],
)
def test_a_bad_start_time_is_400_naming_the_alert(webhook_corpus: Path, starts: object, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_webhook(payload_with(webhook_corpus, startsAt=starts))
    assert caught.value.status == 400
    assert caught.value.field == "alerts[1].startsAt"
    assert reason in str(caught.value)


@pytest.mark.parametrize("null_map", [False, True], ids=["fast-path", "slow-path"])
def test_an_end_time_after_the_year_9999_in_utc_is_400_naming_the_alert(
    webhook_corpus: Path, null_map: bool
) -> None:
    """It was stored; `format_time` then wrote it as "10000-01-01T00:59:59Z", which is not RFC 3339."""
    data = json.loads(payload_with(webhook_corpus, endsAt="9999-12-31T23:59:59-01:00"))
    if null_map:
        data["commonAnnotations"] = None
    with pytest.raises(PayloadError) as caught:
        parse_webhook(json.dumps(data).encode())
    assert caught.value.status == 400 and caught.value.field == "alerts[1].endsAt"
    assert "out of range" in str(caught.value) and "9999" in str(caught.value)


def test_a_bare_alert_after_the_year_9999_in_utc_is_refused(webhook_corpus: Path) -> None:
    raw = json.loads((webhook_corpus / FIRING).read_bytes())["alerts"][0]
    with pytest.raises(PayloadError, match="out of range"):
        parse_alert({**raw, "startsAt": "9999-12-31T23:59:59-01:00"})


def test_the_last_second_of_the_year_9999_in_utc_is_accepted(webhook_corpus: Path) -> None:
    last = "9999-12-31T23:59:59Z"
    data = payload_with(webhook_corpus, startsAt=last, endsAt="9999-12-31T23:59:59+01:00")
    alert = parse_webhook(data).alerts[1]
    assert alert.starts_at == parse_timestamp(last) and alert.ends_at == parse_timestamp(last) - 3600


def test_fast_and_slow_paths_agree_on_every_corpus_payload(webhook_corpus: Path) -> None:
    for path in sorted(webhook_corpus.glob("*.json")):
        fast = parse_webhook(path.read_bytes())
        # A trailing unknown field keeps the fast path; a null map sends the same payload down the slow one.
        data = json.loads(path.read_bytes())
        data["commonAnnotations"] = None
        slow = parse_webhook(json.dumps(data).encode())
        assert [a.model_dump() for a in fast.alerts] == [a.model_dump() for a in slow.alerts], path.name


def test_parse_alert_accepts_a_bare_alert_object(webhook_corpus: Path) -> None:
    raw = json.loads((webhook_corpus / FIRING).read_bytes())["alerts"][0]
    alert = parse_alert({**raw, "annotations": None, "endsAt": ""})
    assert alert.annotations == {} and alert.ends_at is None
    assert alert.starts_at == parse_timestamp(raw["startsAt"])
