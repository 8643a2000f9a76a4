"""Settings of the LLM backends (llm.*)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = ""
