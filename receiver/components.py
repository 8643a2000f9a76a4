"""Builds the pipeline's plug-ins (metric source, analyst, delivery, scheduler) from the settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from receiver.config import Settings
from receiver.pipeline import ResolveFn, StageFn
from receiver.storage.database import Store

Hook = Callable[[], Awaitable[None]]


@dataclass
class Components:
    stages: dict[str, StageFn] = field(default_factory=dict)
    on_resolved: ResolveFn | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    starters: list[Hook] = field(default_factory=list)
    intake_stoppers: list[Hook] = field(default_factory=list)
    closers: list[Hook] = field(default_factory=list)

    async def start(self) -> None:
        for hook in self.starters:
            await hook()

    async def stop_intake(self) -> None:
        for hook in self.intake_stoppers:
            await hook()


async def build_components(app: web.Application, settings: Settings, store: Store) -> Components:
    return Components()


async def close_components(components: Components) -> None:
    for hook in reversed(components.closers):
        await hook()
