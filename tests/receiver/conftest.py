"""Receiver fixtures: a real aiohttp server on loopback over a temporary SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from aiohttp.test_utils import TestClient

from demo.processes import ManagedProcess
from demo.tsdb import start_backfilled_prometheus
from receiver.config import Settings, load_settings
from receiver.storage import migrations
from receiver.web.app import build_app
from receiver.web.resources import PipelineParts as Components
from tests.evidence.scenario import Scenario, causal_scenario
from tests.support.browser import WORKBENCH_AUTH, chromium

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def make_settings(tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    overrides: dict[str, Any] = {
        "storage": {"path": str(tmp_path / "aa.db")},
        "detection": {"enabled": False},
    }
    for name, section in sections.items():  # a test's storage options keep the temporary path
        overrides[name] = {**overrides.get(name, {}), **section}
    return load_settings(None, environ={}, overrides=overrides)


def open_with_first_migrations(
    path: Path, version: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[sqlite3.Connection, sqlite_utils.Database]:
    """A database at `path`, with `migrations.MIGRATIONS` cut to the first `version` until
    `monkeypatch.undo()`: what `migrate` builds then is the schema an older release left."""
    conn = sqlite3.connect(path, isolation_level=None)
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:version])
    return conn, sqlite_utils.Database(conn)


async def no_components(app: Any, settings: Settings, store: Any) -> Components:
    return Components()


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path) -> ClientFactory:
    async def factory(components: Any = no_components, **sections: dict[str, Any]) -> TestClient[Any, Any]:
        settings = make_settings(tmp_path, **sections)
        return await aiohttp_client(build_app(settings, components))

    return factory


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """The DB pool saturates 3 minutes before order errors rise (a known cause)."""
    return causal_scenario()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, scenario: Scenario) -> Iterator[ManagedProcess]:
    """A real Prometheus backfilled with `scenario`'s series."""
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("prom"), scenario.series)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for a test module's pages, logged in as WORKBENCH_AUTH."""
    with chromium(auth=WORKBENCH_AUTH) as driver:
        yield driver
