"""The parts of a MetricSource that most test fakes answer alike: no rules, no external labels, no declared
metric types, nothing to close. A fake defines `query_range` and `series` on top of it."""

from __future__ import annotations

from receiver.evidence.source import RuleInfo


class QuietSource:
    """A MetricSource's rules, external labels, metric types and close, all empty."""

    async def rules(self) -> list[RuleInfo]:
        return []

    async def external_labels(self) -> dict[str, str]:
        return {}

    async def metric_types(self) -> dict[str, str]:
        return {}

    async def close(self) -> None:
        return None
