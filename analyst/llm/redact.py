"""Secret redaction and length caps for untrusted text (labels, annotations, series names, diagnoses).

One redactor for every way out of the process: LLM prompts, Slack, PagerDuty, Grafana, the outgoing
webhook and the log. Three kinds of rule, applied in order:

- structure: PEM blocks, key bodies without BEGIN/END lines, credentials in URLs, `Bearer`/`Basic`,
  JWTs and vendor-prefixed tokens (`AKIA`, `ghp_`, `xoxb-`, `sk_live_`, `AIza`, `npm_`...);
- key names: the value after `password=`, `token: `, `AccountKey=`, `?sig=`, "password is ...";
- shape: card numbers (Luhn and an issuer prefix), `0x` + 64 hex, bare hex of 40+ digits (except
  after a revision/digest/container key or prefix), and long random-looking base64 runs (entropy,
  mixed case, many short CamelCase pieces, not made of words), which is how a bare AWS secret key is
  caught.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REDACTED = "[REDACTED]"

Replacement = str | Callable[[re.Match[str], str], str]

_SENSITIVE_NAME = re.compile(
    r"pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential"
    r"|auth|cookie|session|signature|bearer",
    re.IGNORECASE,
)
_KEY_NAMES = (
    r"password|passwd|passphrase|pwd|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token"
    r"|auth[_-]?token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|credentials?"
    r"|aws_secret_access_key|signature|account[_-]?key|shared[_-]?access[_-]?(?:key|signature)"
)
_QUERY_NAMES = rf"{_KEY_NAMES}|sig"
_NOT_A_VALUE = r"(?!\[REDACTED\])"

# Words that follow "password is/was" in ordinary prose ("the password is expired").
_PROSE_WORDS = (
    r"not|too|about|due|being|still|going|also|only|never|always|the|a|an|in|on|of|for|to|at|by|from"
    r"|expired|expiring|expires|invalid|incorrect|wrong|missing|empty|required|rotated|reset|changed"
    r"|locked|valid|correct|weak|stale|older|unset|blank|present|stored|needed|shown|used|updated"
)

# A hex run right after one of these is an identifier operators need, not a secret.
_HEX_ID_PREFIX = re.compile(
    r"(?:(?:sha1|sha224|sha256|sha384|sha512|md5)[:=-]|(?:containerd|docker|cri-o|crio)://|(?:^|[^/])/"
    r"|(?:docker|crio|containerd|libpod)-)$",
    re.IGNORECASE,
)
_HEX_ID_KEY = re.compile(
    r"(?<![a-z])(?:commit|revision|rev|sha\d*|digest|checksum|hash|image_?id|container_?id)"
    r"[\w/.-]{0,16}\\?[\"']?\s*[:=]?\s*\\?[\"']?$",  # also inside JSON: revision=\"...
    re.IGNORECASE,
)
_WORD_PART = re.compile(r"[A-Z]?[a-z]{5,}")
_NAME_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")  # Http, Error, AWS, 5, xx: CamelCase pieces
_CARD_GROUPS = ((4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 5), (4, 4, 4, 1))
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[0-9]|6")

MIN_RANDOM_RUN = 32
MIN_RANDOM_ENTROPY = 4.0  # bits per character; 40 random base64 characters give about 4.9
MIN_CLASS_CHANGES = 0.3  # share of neighbours in different classes; random base64 about 0.6, words 0.1-0.2
# CamelCase pieces per character: random base64 about 0.52 (0.1 % below 0.33), names of words such as
# EtcdHighNumberOfFailedGrpcRequestsCritical or ClickHouseErrorMetric_ALL_REPLICAS_LOST 0.15-0.27.
MIN_PIECES_PER_CHAR = 0.3


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _redact_card(match: re.Match[str], context: str) -> str:
    """Card numbers: 13-19 digits, grouped like a card if separated, issuer prefix, Luhn."""
    text = match.group(0)
    groups = re.split(r"[ -]", text)
    separators = set(re.findall(r"[ -]", text))
    digits = "".join(groups)
    if len(separators) > 1 or (separators and tuple(map(len, groups)) not in _CARD_GROUPS):
        return text
    if not 13 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits) or not _luhn_valid(digits):
        return text
    return REDACTED


def _redact_hex(match: re.Match[str], context: str) -> str:
    """Bare hex of 40+ digits (GitHub's 40-hex tokens, raw keys), unless it is a revision or digest."""
    before = (f"{context}=" if context else "") + match.string[max(0, match.start() - 64) : match.start()]
    if _HEX_ID_PREFIX.search(before) or _HEX_ID_KEY.search(before):
        return match.group(0)
    return REDACTED


def shannon_entropy(text: str) -> float:
    """Bits per character of `text`'s own character distribution."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _char_class(char: str) -> int:
    return 0 if char.islower() else 1 if char.isupper() else 2 if char.isdigit() else 3


def looks_random(token: str) -> bool:
    """A key-like run: long, mixed case, class changes and entropy of random text, not a path of words."""
    token = token.rstrip("=")
    if len(token) < MIN_RANDOM_RUN:
        return False
    if not (any(c.islower() for c in token) and any(c.isupper() for c in token)):
        return False
    if sum(bool(_WORD_PART.fullmatch(part)) for part in re.split(r"[/_-]", token)) >= 2:
        return False  # a path or a name made of words: /subscriptions/.../providers, kube-state-metrics
    if len(_NAME_TOKEN.findall(token)) < MIN_PIECES_PER_CHAR * len(token):
        return False  # a name made of CamelCase words, not random characters
    changes = sum(_char_class(a) != _char_class(b) for a, b in itertools.pairwise(token))
    return changes / (len(token) - 1) >= MIN_CLASS_CHANGES and shannon_entropy(token) >= MIN_RANDOM_ENTROPY


def _redact_random(match: re.Match[str], context: str) -> str:
    return REDACTED if looks_random(match.group(0)) else match.group(0)


_KEY_BODY_LINE = r"(?:[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9+/]{1,15}={1,2})"
_KEY_TRIGGERS = ("pass", "pwd", "secret", "token", "key", "credential", "signature")


@dataclass(frozen=True)
class _Rule:
    """A pattern and its replacement; skipped unless the lower-cased text holds one of `triggers`."""

    pattern: re.Pattern[str]
    replacement: Replacement
    triggers: tuple[str, ...] = ()


def _rule(pattern: str, replacement: Replacement, *triggers: str, flags: int = 0) -> _Rule:
    return _Rule(re.compile(pattern, flags), replacement, triggers)


# Order matters: whole-structure patterns (PEM, URLs) before token-shaped ones, shapes last.
_RULES: tuple[_Rule, ...] = (
    _rule(
        r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)",
        REDACTED,
        "-----begin",
        flags=re.DOTALL,
    ),
    # DER (MII..., short MC4CAQ/MHcCAQ) or OpenSSH key bodies without BEGIN/END lines, split by real or
    # JSON-escaped newlines.
    _rule(
        r"(?<![A-Za-z0-9+/])(?:MII|M[A-H][A-Za-z0-9+/]CAQ|b3BlbnNzaC1rZXktdj)[A-Za-z0-9+/]{16,}={0,2}"
        rf"(?:(?:\s|\\[nr])+{_KEY_BODY_LINE}(?![A-Za-z0-9+/=]))*",
        REDACTED,
        "mii",
        "caq",
        "b3blbnnzac1rzxktdj",
    ),
    _rule(
        r"\b([a-z][a-z0-9+.-]*://)[^/\s:@\"']*:[^/\s\"'?#]*@", rf"\1{REDACTED}@", "://", flags=re.IGNORECASE
    ),
    _rule(r"\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}", rf"\1 {REDACTED}", "bearer", flags=re.IGNORECASE),
    _rule(
        r"\b(basic)\s+(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}=*",
        rf"\1 {REDACTED}",
        "basic",
        flags=re.IGNORECASE,
    ),
    _rule(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", REDACTED, "eyj"),
    _rule(r"\bxox[abeoprs]-[A-Za-z0-9-]{6,}", REDACTED, "xox"),
    _rule(r"\bxapp-[A-Za-z0-9-]{6,}", REDACTED, "xapp-"),
    _rule(
        r"hooks\.slack\.com/(services|workflows|triggers)/[A-Za-z0-9/_-]+",
        rf"hooks.slack.com/{REDACTED}",
        "hooks.slack.com",
    ),
    _rule(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}\b", REDACTED),
    _rule(r"\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}", REDACTED, "gh"),
    _rule(r"\bglpat-[A-Za-z0-9_-]{20,}", REDACTED, "glpat-"),
    _rule(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}", REDACTED, "sk-"),
    _rule(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}", REDACTED, "k_live_", "k_test_"),
    _rule(r"\bAIza[0-9A-Za-z_-]{30,}", REDACTED, "aiza"),
    _rule(r"\bnpm_[A-Za-z0-9]{30,}", REDACTED, "npm_"),
    _rule(
        rf"((?:^|[?&;\s])(?:{_QUERY_NAMES})=)[^&\s#\"'<>|]+",
        rf"\1{REDACTED}",
        *_KEY_TRIGGERS,
        "sig=",
        flags=re.IGNORECASE,
    ),
    _rule(
        rf"((?:{_KEY_NAMES})[\w.-]*[\"']?\s*[:=]\s*)([\"']){_NOT_A_VALUE}[^\"'\n]*\2",
        rf"\1\2{REDACTED}\2",
        *_KEY_TRIGGERS,
        flags=re.IGNORECASE,
    ),
    _rule(
        rf"((?:{_KEY_NAMES})[\w.-]*[\"']?\s*[:=]\s*[\"']?){_NOT_A_VALUE}[^\s\"'&,;{{}}\[\]]+",
        rf"\1{REDACTED}",
        *_KEY_TRIGGERS,
        flags=re.IGNORECASE,
    ),
    # Prose: "the password is: hunter2", "password was 'x y z'", "passphrase is now ...".
    _rule(
        r"\b((?:password|passwd|passphrase|passcode|pwd)(?:\s+(?:for|of)\s+[\w.@-]+)?\s+"
        r"(?:is\s+now|is\s+set\s+to|was\s+changed\s+to|changed\s+to|set\s+to|is|was|:)\s*:?\s*)"
        rf"{_NOT_A_VALUE}(?!(?:{_PROSE_WORDS})(?:[\s.,;:!?)]|$))(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"'<>]+)",
        rf"\1{REDACTED}",
        "pass",
        "pwd",
        flags=re.IGNORECASE,
    ),
    _rule(r"(?<![\w.])(?:\d[ -]?){12,18}\d(?!\w|[.,]\d)", _redact_card),
    _rule(r"(?<![0-9A-Za-z])0x[0-9a-fA-F]{64,}(?![0-9A-Za-z])", REDACTED, "0x"),
    _rule(r"(?<![0-9A-Za-z])[0-9a-fA-F]{40,}(?![0-9A-Za-z])", _redact_hex),
    _rule(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/_=-])", _redact_random),
)


_UNTRIGGERED = tuple(rule for rule in _RULES if not rule.triggers)
_ANY_TRIGGER = re.compile("|".join(sorted({re.escape(t) for rule in _RULES for t in rule.triggers})))


def _bound(replacement: Replacement, context: str) -> str | Callable[[re.Match[str]], str]:
    if isinstance(replacement, str):
        return replacement
    return lambda match: replacement(match, context)


def redact_secrets(text: str, extra_secrets: Iterable[str] = (), *, context: str = "") -> str:
    """Replace anything that looks like a credential with [REDACTED]; `extra_secrets` are exact values.

    `context` is the name the text is the value of (a label name), which can mark a hex run as a revision.
    """
    for secret in extra_secrets:
        if len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    lowered = text.lower()
    rules = _RULES if _ANY_TRIGGER.search(lowered) else _UNTRIGGERED  # most log values: no trigger
    for rule in rules:
        if rule.triggers and not any(map(lowered.__contains__, rule.triggers)):
            continue
        text = rule.pattern.sub(_bound(rule.replacement, context), text)
    return text


def is_sensitive_name(name: str) -> bool:
    """True for label/annotation names whose values are secrets by name (password, api_key, ...)."""
    return bool(_SENSITIVE_NAME.search(name))


def redact_label(name: str, value: str, extra_secrets: Iterable[str] = ()) -> str:
    """A label value: dropped whole under a sensitive name, else redacted with the name as context."""
    return REDACTED if is_sensitive_name(name) else redact_secrets(value, extra_secrets, context=name)


def _redact_key(key: str) -> str:
    """A short identifier (a field or label name) cannot hold any shape the rules look for."""
    return key if len(key) <= 32 and key.isidentifier() else redact_secrets(key)


def redact_document(value: Any, keep: Iterable[str] = ()) -> Any:
    """A JSON-like document with every string redacted (values of sensitive-named keys dropped whole).

    Values under a key in `keep` are left as they are (ids the receiver must get verbatim).
    """
    kept = frozenset(keep)

    def walk(node: Any, name: str) -> Any:
        if isinstance(node, str):
            return redact_label(name, node) if name else redact_secrets(node)
        if isinstance(node, Mapping):
            return {_redact_key(str(k)): v if k in kept else walk(v, str(k)) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(item, name) for item in node]
        return node

    return walk(value, "")


def cap_length(text: str, limit: int) -> str:
    """Cut to `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def clean_untrusted(text: str, limit: int, extra_secrets: Iterable[str] = (), *, context: str = "") -> str:
    """Redact first (so a cut never leaves half a secret), drop control characters, then cap."""
    redacted = redact_secrets(text, extra_secrets, context=context)
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
        value = (
            REDACTED if is_sensitive_name(key) else clean_untrusted(values[key], limit, extra, context=key)
        )
        cleaned[safe_key] = value
    return cleaned
