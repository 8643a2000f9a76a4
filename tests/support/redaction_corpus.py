"""The shared redaction corpus (tests/data/redaction_corpus.yaml) and a leak counter for what was sent."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).resolve().parents[1] / "data" / "redaction_corpus.yaml"
LEAK_WINDOW = 12


@dataclass(frozen=True)
class SecretSample:
    kind: str
    text: str
    secret: str


@dataclass(frozen=True)
class BenignSample:
    text: str
    context: str = ""


@cache
def _corpus() -> dict[str, Any]:
    return yaml.safe_load(CORPUS.read_text(encoding="utf-8"))


def secret_samples() -> list[SecretSample]:
    return [
        SecretSample(kind, sample["text"], sample["secret"])
        for kind, samples in _corpus()["secrets"].items()
        for sample in samples
    ]


def benign_samples() -> list[BenignSample]:
    return [BenignSample(sample["text"], sample.get("context", "")) for sample in _corpus()["benign"]]


def _forms(secret: str) -> set[str]:
    """The secret as it may appear once sent: raw, JSON-escaped, or mrkdwn/HTML-escaped."""
    escaped = secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {secret, json.dumps(secret)[1:-1], escaped, escaped.replace('"', "&quot;").replace("'", "&#x27;")}


def leaked(secret: str, sent: str) -> bool:
    """The whole secret, or for long secrets any 12-character window of it, appears in `sent`."""
    for form in _forms(secret):
        if form in sent:
            return True
        windows = (form[i : i + LEAK_WINDOW] for i in range(len(form) - LEAK_WINDOW + 1))
        if len(form) > LEAK_WINDOW and any(w in sent for w in windows):
            return True
    return False


def leak_counts(samples: Iterable[SecretSample], sent: str) -> dict[str, int]:
    """Per secret kind, how many samples leaked into `sent` (every kind listed, 0 when none did)."""
    counts: dict[str, int] = {}
    for sample in samples:
        counts[sample.kind] = counts.get(sample.kind, 0) + leaked(sample.secret, sent)
    return counts
