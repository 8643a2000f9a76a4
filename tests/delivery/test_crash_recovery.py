"""No double post after kill -9: a reply that reached Slack but whose answer was lost is found again."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

from tests.support.polling import eventually

REPO = Path(__file__).resolve().parents[2]


def outbox(db_path: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute("SELECT id, kind, status FROM delivery_outbox ORDER BY id").fetchall()


async def run_phase(db_path: Path, slack_url: str, phase: str, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.delivery.run_service",
            str(db_path),
            slack_url,
            phase,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )


async def test_kill_9_after_parent_ack_then_restart_completes_thread_without_double_posts(slack, tmp_path):
    fake, url = slack
    fake.hold_replies = asyncio.Event()
    db_path, log = tmp_path / "crash.db", tmp_path / "service.log"

    first = await run_phase(db_path, url, "fire", log)
    try:
        await eventually(
            lambda: len(fake.messages) == 2 and db_path.exists() and (1, "parent", "sent") in outbox(db_path),
            within=20,
        )
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert first.returncode == -signal.SIGKILL, log.read_text()
    assert outbox(db_path) == [(1, "parent", "sent"), (2, "diagnosis", "in_flight")]
    fake.hold_replies.set()
    fake.hold_replies = None

    second = await run_phase(db_path, url, "resolve", log)
    assert await asyncio.wait_for(second.wait(), 30) == 0, log.read_text()

    [parent] = fake.parents()
    replies = fake.replies(parent["ts"])
    assert [r["text"].split(" ")[0] for r in replies] == ["Diagnosis", "[RESOLVED]"]
    assert len(fake.messages) == 3
    assert [(u["channel"], u["ts"]) for u in fake.updates] == [("C0ALERTS", parent["ts"])]
    assert any(method == "conversations.replies" for method, _ in fake.requests)
    assert [status for _, _, status in outbox(db_path)] == ["sent"] * 4


async def test_kill_9_while_the_parent_is_in_flight_finds_it_in_the_channel_history(slack, tmp_path):
    fake, url = slack
    fake.hold_parents = asyncio.Event()
    db_path, log = tmp_path / "crash.db", tmp_path / "service.log"

    first = await run_phase(db_path, url, "fire", log)
    try:
        await eventually(
            lambda: (
                len(fake.messages) == 1 and db_path.exists() and (1, "parent", "in_flight") in outbox(db_path)
            ),
            within=20,
        )
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    fake.hold_parents.set()
    fake.hold_parents = None

    second = await run_phase(db_path, url, "resolve", log)
    assert await asyncio.wait_for(second.wait(), 30) == 0, log.read_text()
    [parent] = fake.parents()
    assert [r["text"].split(" ")[0] for r in fake.replies(parent["ts"])] == ["Diagnosis", "[RESOLVED]"]
    assert any(method == "conversations.history" for method, _ in fake.requests)
    assert [status for _, _, status in outbox(db_path)] == ["sent"] * 4
