"""What every LLM backend offers the analyst: one structured completion call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Completion:
    """The model's text answer and the usage the API reported (0 when it reported none); when the text is
    empty, `empty_because` says where the answer went instead (a reasoning field, a tool call, nowhere)."""

    text: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    stop_reason: str | None = None
    empty_because: str = ""


class LLMBackend(Protocol):
    """One chat call that asks for JSON matching `schema`; raises LLMCallError or LLMOutputError."""

    name: str
    model: str

    async def complete(
        self, system: str, user: str, schema: dict[str, Any], schema_name: str
    ) -> Completion: ...

    async def aclose(self) -> None: ...
