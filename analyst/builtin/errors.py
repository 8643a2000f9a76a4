"""Errors of the built-in analyst: configuration files that cannot be used."""

from __future__ import annotations

from analyst.errors import AnalystError


class PlaybookError(AnalystError):
    """A playbook YAML file is missing or malformed."""


class DependencyGraphError(AnalystError):
    """A dependency-graph YAML file is missing or malformed."""
