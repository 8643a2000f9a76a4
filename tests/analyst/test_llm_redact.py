"""Secrets in labels, annotations and series names never leave the process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from analyst.evidence import Evidence
from analyst.llm import LLMAnalyst, LLMSettings, redact_secrets
from analyst.llm.redact import REDACTED, clean_mapping, clean_untrusted
from tests.fakes.llm import FakeLLMServer, FixedAnalyst, answer, answer_json, make_evidence, make_series

CONFIGURED_KEY = "sk-test-configured-key-000111222333"

# (text that carries a secret, the secret part that must not appear)
SECRET_CORPUS: list[tuple[str, str]] = [
    ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIjKlMnOpQrStUvWx"),
    ("user token xoxp-111111111111-222222222222-333333333333-abcdef0123", "abcdef0123"),
    ("https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/XXXXXXXXXXXXXXXXXXXXXXXX", "XXXXXXXXXXXXXXXXXXXX"),
    ("key id AKIAIOSFODNN7EXAMPLE in us-east-1", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG"),
    (
        "jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3",
        "dozjgNryP4J3jVmNHl0w5N",
    ),
    ("Authorization: Bearer abc123def456ghi789jkl", "abc123def456ghi789jkl"),
    ("curl -H 'Authorization: Basic YWRtaW46aHVudGVyMg=='", "YWRtaW46aHVudGVyMg"),
    ("dsn postgres://admin:S3cr3tPassw0rd@db.internal:5432/app", "S3cr3tPassw0rd"),
    ("https://grafana.example/api?user=bob&password=hunter2hunter2&x=1", "hunter2hunter2"),
    ("https://feed.example/stream?token=tok_9f8e7d6c5b4a3", "tok_9f8e7d6c5b4a3"),
    ("login with password=correcthorsebattery", "correcthorsebattery"),
    ('config {"api_key": "zx81spectrum48kxyz"}', "zx81spectrum48kxyz"),
    ("client_secret: q8w7e6r5t4y3u2i1", "q8w7e6r5t4y3u2i1"),
    ('db password = "correct horse battery staple"', "horse battery staple"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bqPEMBODYLINE\nxyz\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA7bqPEMBODYLINE",
    ),
    ("ghp_0123456789abcdefghijABCDEFGHIJ012345 leaked", "ghp_0123456789abcdefghij"),
    ("openai sk-proj-abcdefghijklmnopqrstuvwxyz123456", "abcdefghijklmnopqrstuvwxyz123456"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    (f"copied key {CONFIGURED_KEY}", "configured-key-000111222333"),
]


@pytest.mark.parametrize(("text", "secret"), SECRET_CORPUS)
def test_redact_secrets_removes_each_kind(text: str, secret: str) -> None:
    redacted = redact_secrets(text, extra_secrets=(CONFIGURED_KEY,))
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "p99 latency above 1s on api (basic authentication flow)",
        "token bucket exhausted on the rate limiter",
        'http_requests_total{job="api",instance="10.0.0.1:9100"}',
        "https://grafana.example/d/abc?orgId=1&from=now-1h",
    ],
)
def test_redact_secrets_leaves_ordinary_text_alone(text: str) -> None:
    assert redact_secrets(text) == text


def test_clean_untrusted_redacts_before_capping() -> None:
    cleaned = clean_untrusted("x" * 10 + " password=abcdefghijklmnop", limit=30)
    assert "abcdef" not in cleaned
    assert len(cleaned) <= 30


def test_values_of_sensitive_label_names_are_dropped_whole() -> None:
    cleaned = clean_mapping({"db_password": "plainvalue42", "service": "api"}, limit=50, max_items=10)
    assert cleaned == {"db_password": REDACTED, "service": "api"}


def _evidence_full_of_secrets() -> Evidence:
    texts = [text for text, _ in SECRET_CORPUS]
    labels = {f"l{i}": text for i, text in enumerate(texts)} | {"db_password": "plainvalue42xyz"}
    annotations = {"description": " ; ".join(texts[:6]), "runbook_url": texts[8], "token": "annot-tok-42xyz"}
    series = tuple(
        make_series(i, series_id=f'leaky{{src="{text}"}}', labels={"src": text}, component=f"c{i}")
        for i, text in enumerate(texts)
    )
    return make_evidence(
        labels=labels,
        annotations=annotations,
        series=series,
        topology={texts[3]: (texts[4],)},
        notes=(texts[10], texts[11]),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.mark.parametrize("backend", ["anthropic", "openai", "openai_compatible"])
async def test_no_secret_reaches_the_llm_api(fake: FakeLLMServer, backend: str) -> None:
    base_url = fake.anthropic_base_url if backend == "anthropic" else fake.openai_base_url
    settings = LLMSettings(
        base_url=base_url,
        api_key=CONFIGURED_KEY,
        verify=True,
        prompt_token_budget=6000,
        untrusted_text_max_chars=400,
        backoff_seconds=0.01,
    )
    verdict = json.dumps(
        {"ranking": [{"index": 0, "confidence": 0.5, "reason": "ok"}], "confidence_score": 0.5, "comment": ""}
    )
    fake.enqueue(answer(answer_json()), answer(verdict))
    builtin = FixedAnalyst(supporting=tuple(text for text, _ in SECRET_CORPUS))
    analyst = LLMAnalyst(settings, backend, builtin)
    try:
        result = await analyst.diagnose(_evidence_full_of_secrets())
    finally:
        await analyst.aclose()

    assert result.backend == backend
    assert len(fake.requests) == 2
    sent = fake.all_bodies()
    assert b"HighLatency" in sent
    for _, secret in SECRET_CORPUS:
        assert secret.encode() not in sent, secret
    for value in (b"plainvalue42xyz", b"annot-tok-42xyz"):
        assert value not in sent
