"""alert-analyst.example.yml documents every configuration key with its default, and loads as is."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from receiver.config import Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "alert-analyst.example.yml"


def model_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from model_keys(annotation, f"{prefix}{name}.")
        else:
            yield prefix + name


def file_keys(data: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for name, value in data.items():
        if isinstance(value, dict) and value and prefix + name != "llm.prices":
            yield from file_keys(value, f"{prefix}{name}.")
        else:
            yield prefix + name


def test_example_names_every_key_of_the_settings_model() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert sorted(file_keys(data)) == sorted(model_keys(Settings))


def test_example_loads_as_the_defaults() -> None:
    assert load_settings(EXAMPLE, environ={}) == Settings()


def test_every_key_line_has_a_comment() -> None:
    lines = [
        line
        for line in EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for index, line in enumerate(lines):
        section = line.rstrip().endswith(":")  # a section or a mapping: its comment is on the line above
        if section or re.match(r"\s+[\w.-]+: \{input:", line):
            continue
        assert "  # " in line, f"no comment: {line!r} (line {index})"
