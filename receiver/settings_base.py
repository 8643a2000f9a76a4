"""The base of every settings section: unknown keys are errors, so a typo in the YAML is reported."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def changed_fields(old: BaseModel, new: BaseModel) -> list[str]:
    """The fields of two settings of one model whose values differ, in the model's order."""
    return [name for name in type(old).model_fields if getattr(old, name) != getattr(new, name)]


def read_secret_file(path: str | Path) -> str:
    """A secret from its file, without the trailing newline editors and `echo` add."""
    return Path(path).read_text(encoding="utf-8").strip()
