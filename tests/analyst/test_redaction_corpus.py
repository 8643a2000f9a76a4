"""The shared redaction corpus, directly and through the real LLM request path (bytes on the wire)."""

from __future__ import annotations

import json
import random
import string
from collections.abc import AsyncIterator, Iterator

import pytest
import yaml

from analyst.evidence import Evidence
from analyst.llm import LLMAnalyst, LLMSettings, redact_secrets
from analyst.llm.redact import REDACTED, clean_mapping, looks_random
from tests.fakes.llm import FakeLLMServer, FixedAnalyst, answer, answer_json, make_evidence, make_series
from tests.support.paths import SHARED
from tests.support.redaction_corpus import (
    BenignSample,
    SecretSample,
    benign_samples,
    leak_counts,
    leaked,
    secret_samples,
)

SECRETS = secret_samples()
BENIGN = benign_samples()
NEW_KINDS = {
    "aws_secret_access_key_bare",
    "github_token_hex40",
    "url_password_empty_user",
    "card_number",
    "password_prose",
    "private_key_body",
    "azure_account_key",
    "azure_sas_sig",
    "hex_private_key_0x",
}


def test_corpus_covers_every_kind_of_issue_17_with_several_samples() -> None:
    per_kind = {kind: sum(s.kind == kind for s in SECRETS) for kind in NEW_KINDS}
    assert all(count >= 3 for count in per_kind.values()), per_kind
    assert len(BENIGN) >= 40


@pytest.mark.parametrize("sample", SECRETS, ids=lambda s: s.kind)
def test_each_secret_sample_is_removed(sample: SecretSample) -> None:
    redacted = redact_secrets(sample.text)
    assert not leaked(sample.secret, redacted), redacted
    assert REDACTED in redacted


@pytest.mark.parametrize("sample", BENIGN, ids=lambda s: s.text[:40])
def test_each_benign_lookalike_survives(sample: BenignSample) -> None:
    assert redact_secrets(sample.text, context=sample.context) == sample.text


def test_benign_lookalikes_survive_as_label_values() -> None:
    labelled = [s for s in BENIGN if s.context]
    for sample in labelled:
        cleaned = clean_mapping({sample.context: sample.text}, limit=400, max_items=4)
        assert cleaned == {sample.context: sample.text}


def test_a_git_sha_outside_a_revision_context_is_redacted() -> None:
    sha = "3f786850e387550fdab836ed7e6dc881de23001b"
    assert redact_secrets(f"deployed {sha}") == f"deployed {REDACTED}"
    assert clean_mapping({"note": sha}, limit=100, max_items=1) == {"note": REDACTED}


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("4111 1111 1111 1112", False),  # fails Luhn
        ("7111 1111 1111 1114", False),  # passes Luhn, no card prefix
        ("4111 1111 1111 1111", True),
        ("4111-1111 1111-1111", False),  # mixed separators are not how cards are written
        ("4111 11111111 1111", False),  # nor is this grouping
    ],
)
def test_card_numbers_need_luhn_a_card_prefix_and_card_grouping(text: str, redacted: bool) -> None:
    assert (redact_secrets(text) == REDACTED) is redacted


def test_random_looking_runs_are_keys_and_word_runs_are_not() -> None:
    assert looks_random("Ql0cV5Ac4NCbLrrWVWOi6AC4ewcJ3P+rt1FRoR7e")
    assert not looks_random("KubernetesPodCrashLoopingTooOftenCritical")
    assert not looks_random("d/rYdddlPWk9Z/kubernetes-compute-resources-namespace-pods")
    assert not looks_random("Ql0cV5Ac4NCbLrrWVWOi6AC4")  # too short to tell


def _strings_in(node: object, name: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings_in(value, str(key))
    elif isinstance(node, list):
        for item in node:
            yield from _strings_in(item, name)
    elif isinstance(node, str):
        yield name, node


def test_no_string_of_the_shared_rule_webhook_and_benchmark_data_is_redacted() -> None:
    """Real alert rules (awesome-prometheus-alerts, kube-prometheus), webhook bodies, PetShop and Nezha
    metadata: thousands of alert names, PromQL, label values and annotations, none of them a secret."""
    files = [
        path
        for folder in ("corpus", "petshop", "nezha")
        for path in sorted((SHARED / folder).rglob("*"))
        if path.suffix in (".json", ".yml", ".yaml") and path.stat().st_size <= 3_000_000
    ]
    if not files:
        pytest.skip(f"shared data not found under {SHARED}")
    strings: set[tuple[str, str]] = set()
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError):
            continue  # the deliberately malformed webhook body
        strings.update(_strings_in(document))
    assert len(strings) > 5000
    changed = [(name, value) for name, value in strings if redact_secrets(value, context=name) != value]
    assert changed == []


def _random_tokens(alphabet: str, length: int, count: int) -> list[str]:
    rng = random.Random(17)
    return ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(count)]


def test_random_keys_are_nearly_all_caught() -> None:
    """The figures in README: 1 miss in 20,000 random 40-character base64 keys (AWS secret key shape)
    and 18 in 20,000 random 32-character base64url tokens (the shortest run the detector looks at)."""
    base64 = string.ascii_letters + string.digits + "+/"
    base64url = string.ascii_letters + string.digits + "-_"
    assert sum(not looks_random(t) for t in _random_tokens(base64, 40, 20_000)) <= 1
    assert sum(not looks_random(t) for t in _random_tokens(base64url, 32, 20_000)) <= 18


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


def _evidence_carrying(text: str, index: int) -> Evidence:
    """The text everywhere untrusted text enters a prompt: label, annotation, series, topology, note."""
    series = (
        make_series(0, role="alert"),
        make_series(1, series_id=f'leaky{{src="{text}"}}', labels={"src": text}, component="leaky"),
    )
    return make_evidence(
        incident_id=f"inc-corpus-{index}",
        labels={"carrier": text},
        annotations={"description": text},
        series=series,
        topology={"api": (text,)},
        notes=(text,),
    )


def _prompt_text(body: bytes) -> str:
    """The user prompt of an OpenAI or Anthropic request."""
    messages = json.loads(body)["messages"]
    content = messages[-1]["content"]
    return content if isinstance(content, str) else "".join(part["text"] for part in content)


def _settings(fake: FakeLLMServer, backend: str) -> LLMSettings:
    base_url = fake.anthropic_base_url if backend == "anthropic" else fake.openai_base_url
    return LLMSettings(
        base_url=base_url,
        api_key="sk-test-configured-key-000111222333",
        prompt_token_budget=4000,
        untrusted_text_max_chars=400,
        backoff_seconds=0.01,
        cache_ttl_seconds=0,
    )


@pytest.mark.parametrize("backend", ["anthropic", "openai", "openai_compatible"])
async def test_no_secret_kind_leaks_into_llm_requests(fake: FakeLLMServer, backend: str) -> None:
    samples = SECRETS
    supporting = tuple(s.text for s in samples[:3])
    analyst = LLMAnalyst(_settings(fake, backend), backend, FixedAnalyst(supporting=supporting))
    try:
        for index, sample in enumerate(samples):
            fake.enqueue(answer(answer_json()))
            result = await analyst.diagnose(_evidence_carrying(sample.text, index))
            assert result.backend == backend
    finally:
        await analyst.aclose()

    assert len(fake.requests) == len(samples)
    for request in fake.requests:  # each sample really was in its request, as [REDACTED]
        prompt = _prompt_text(request.body)
        assert '"carrier"' in prompt and REDACTED in prompt
    counts = leak_counts(samples, fake.all_bodies().decode())
    print(f"\nLLM request leaks per kind ({backend}): {counts}")
    assert set(counts) >= NEW_KINDS
    assert counts == dict.fromkeys(counts, 0)


async def test_benign_lookalikes_reach_the_llm_unchanged(fake: FakeLLMServer) -> None:
    analyst = LLMAnalyst(_settings(fake, "openai"), "openai", FixedAnalyst())
    try:
        for index, sample in enumerate(BENIGN):
            fake.enqueue(answer(answer_json()))
            name = sample.context or "lookalike"
            await analyst.diagnose(
                make_evidence(incident_id=f"inc-benign-{index}", labels={name: sample.text})
            )
    finally:
        await analyst.aclose()

    for sample, request in zip(BENIGN, fake.requests, strict=True):
        prompt = _prompt_text(request.body)
        as_json = json.dumps(sample.text, ensure_ascii=False)[1:-1]
        fenced = as_json.replace("<", "\\u003c").replace(">", "\\u003e")  # the prompt's fence escaping
        assert fenced in prompt, sample.text
