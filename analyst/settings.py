"""Settings of the analyst (analyst.*): which backend, playbooks, dependency graph."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AnalystSettings(BaseModel):
    """Validated `analyst.*` options; the defaults run the built-in analyst with the shipped playbooks."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["builtin", "anthropic", "openai", "openai_compatible"] = "builtin"
    playbooks_file: str | None = Field(
        default=None,
        description="YAML file whose categories extend or override the shipped playbooks.",
    )
    dependency_graph_file: str | None = Field(
        default=None,
        description="YAML mapping caller: [callees], used when the evidence carries no topology.",
    )
    max_alternatives: int = Field(
        default=4, ge=0, le=20, description="Alternative hypotheses kept besides the primary."
    )
    reuse_confirmed: bool = Field(
        default=True,
        description="A repeat with the same evidence signature as a diagnosis judged correct reuses it"
        " (no analyst, no LLM call).",
    )
