"""Secret redaction and length caps for untrusted text (labels, annotations, series names) sent to LLMs."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"

_SENSITIVE_NAME = re.compile(
    r"pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential"
    r"|auth|cookie|session|signature|bearer",
    re.IGNORECASE,
)
_KEY_NAMES = (
    r"password|passwd|passphrase|pwd|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token"
    r"|auth[_-]?token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|credentials?"
    r"|aws_secret_access_key|signature"
)

# Order matters: whole-structure patterns (PEM, URLs) before token-shaped ones.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL), REDACTED),
    (re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s:@\"']+:[^/\s@\"']*@", re.IGNORECASE), rf"\1{REDACTED}@"),
    (re.compile(r"\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE), rf"\1 {REDACTED}"),
    (
        re.compile(r"\b(basic)\s+(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}=*", re.IGNORECASE),
        rf"\1 {REDACTED}",
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]{6,}"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{6,}"), REDACTED),
    (
        re.compile(r"hooks\.slack\.com/(services|workflows|triggers)/[A-Za-z0-9/_-]+"),
        rf"hooks.slack.com/{REDACTED}",
    ),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}\b"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), REDACTED),
    (re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), REDACTED),
    (re.compile(r"\bnpm_[A-Za-z0-9]{30,}"), REDACTED),
    (
        re.compile(rf"([?&;](?:{_KEY_NAMES})=)[^&\s#\"']+", re.IGNORECASE),
        rf"\1{REDACTED}",
    ),
    (
        re.compile(
            rf"((?:{_KEY_NAMES})[\w.-]*[\"']?\s*[:=]\s*)([\"'])(?!\[REDACTED\])[^\"'\n]*\2", re.IGNORECASE
        ),
        rf"\1\2{REDACTED}\2",
    ),
    (
        re.compile(
            rf"((?:{_KEY_NAMES})[\w.-]*[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\])[^\s\"'&,;{{}}\[\]]+",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
)


def redact_secrets(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Replace anything that looks like a credential with [REDACTED]; `extra_secrets` are exact values."""
    for secret in extra_secrets:
        if len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def is_sensitive_name(name: str) -> bool:
    """True for label/annotation names whose values are secrets by name (password, api_key, ...)."""
    return bool(_SENSITIVE_NAME.search(name))


def cap_length(text: str, limit: int) -> str:
    """Cut to `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def clean_untrusted(text: str, limit: int, extra_secrets: Iterable[str] = ()) -> str:
    """Redact first (so a cut never leaves half a secret), drop control characters, then cap."""
    redacted = redact_secrets(text, extra_secrets)
    printable = "".join(ch if ch.isprintable() else " " for ch in redacted)
    return cap_length(printable, limit)


def clean_mapping(
    values: dict[str, str], limit: int, max_items: int, extra_secrets: Iterable[str] = ()
) -> dict[str, str]:
    """Clean keys and values of labels/annotations; values of sensitive-named keys are dropped whole."""
    extra = tuple(extra_secrets)
    cleaned: dict[str, str] = {}
    for key in sorted(values)[:max_items]:
        safe_key = clean_untrusted(key, 64, extra)
        value = REDACTED if is_sensitive_name(key) else clean_untrusted(values[key], limit, extra)
        cleaned[safe_key] = value
    return cleaned
