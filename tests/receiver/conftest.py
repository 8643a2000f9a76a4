"""Receiver fixtures: a real aiohttp server on loopback over a temporary SQLite file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from receiver.config import Settings, load_settings
from receiver.web.app import build_app
from receiver.web.resources import PipelineParts as Components

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def make_settings(tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    overrides: dict[str, Any] = {
        "storage": {"path": str(tmp_path / "aa.db")},
        "detection": {"enabled": False},
    }
    overrides.update(sections)
    return load_settings(None, environ={}, overrides=overrides)


async def no_components(app: Any, settings: Settings, store: Any) -> Components:
    return Components()


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path) -> ClientFactory:
    async def factory(components: Any = no_components, **sections: dict[str, Any]) -> TestClient[Any, Any]:
        settings = make_settings(tmp_path, **sections)
        return await aiohttp_client(build_app(settings, components))

    return factory
