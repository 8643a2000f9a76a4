"""The base of every settings section: unknown keys are errors, so a typo in the YAML is reported."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
