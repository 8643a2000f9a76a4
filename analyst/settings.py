"""Settings of the analyst (analyst.*): which backend, playbooks, dependency graph."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class AnalystSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["builtin", "anthropic", "openai", "openai_compatible"] = "builtin"
