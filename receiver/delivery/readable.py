"""Diagnosis text for people: series selectors lose the labels the alert itself carries.

A diagnosis names series by their full selector (`demo_db_pool_in_use{book="eurusd",desk="fx-spot",
instance="10.0.0.7:9100",job="trading-exporter"}`), a dozen times in one Slack reply. The alert's labels are
shown once at the top of its Slack thread and in its PagerDuty event's details, so there a selector keeps
only the labels that tell it apart from the alert (`demo_db_pool_in_use`, `container_cpu{pod="api-7"}`).
Grafana's org-wide annotations, the outgoing webhook and the API keep the full selectors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import TypeAdapter

from analyst.diagnosis import DiagnosisResult

_VALUE = r'"(?:[^"\\]|\\.)*+"'
_NAME = rf"(?:[A-Za-z_]\w*+|{_VALUE})"  # a label name, or a quoted one (Prometheus 3's UTF-8 names)
_LABEL = rf"{_NAME}\s*+=\s*+{_VALUE}"
# A name from the start of a word, pairs separated by commas, every quantifier possessive: linear on any
# text (an LLM's included).
_LABELS = rf"\s*+(?:{_LABEL}(?:\s*+,\s*+{_LABEL})*+)?+\s*+,?\s*+"
_SELECTOR = re.compile(rf"(?<![\w:])([A-Za-z_:][\w:]*+)\{{({_LABELS})\}}")
_PAIR = re.compile(rf"({_NAME})\s*+=\s*+({_VALUE})")
_DIAGNOSIS = TypeAdapter(DiagnosisResult)


def _unquoted(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value[1:-1]) if value.startswith('"') else value


def without_alert_labels(text: str, labels: Mapping[str, str]) -> str:
    """`text` with every selector's label pairs that equal the alert's removed (and `{}` with them)."""

    def shorten(match: re.Match[str]) -> str:
        pairs = _PAIR.findall(match.group(2))
        kept = [f"{k}={v}" for k, v in pairs if labels.get(_unquoted(k)) != _unquoted(v)]
        return f"{match.group(1)}{{{','.join(kept)}}}" if kept else match.group(1)

    return _SELECTOR.sub(shorten, text)


def readable_diagnosis(diagnosis: DiagnosisResult, labels: Mapping[str, str]) -> DiagnosisResult:
    """The diagnosis with `without_alert_labels` applied to every text in it."""
    if not labels:
        return diagnosis
    data = _DIAGNOSIS.dump_python(diagnosis)
    return _DIAGNOSIS.validate_python(_map_text(data, lambda text: without_alert_labels(text, labels)))


def _map_text(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value) if "{" in value else value
    if isinstance(value, Mapping):
        return {k: _map_text(v, change) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_map_text(v, change) for v in value)
    return value
