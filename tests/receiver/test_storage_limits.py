"""SQLite under pressure: the WAL stays bounded under continuous writes and is truncated when idle;
/-/ready tells the truth when the database cannot take a write (locked elsewhere, full), quickly."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlite_utils
from structlog.testing import capture_logs

from receiver.storage import checkpoint
from receiver.storage.database import Store
from receiver.web.keys import STORE
from tests.support.polling import eventually

from .conftest import ClientFactory

WEBHOOKS = Path(__file__).resolve().parents[1] / "data" / "webhooks"
FIRING = (WEBHOOKS / "captured-am025-prom242-firing.json").read_bytes()
MIB = 1024 * 1024


def _scratch(db: sqlite_utils.Database, blob: bytes) -> None:
    db.conn.execute("CREATE TABLE IF NOT EXISTS scratch (x BLOB)")
    db.conn.execute("INSERT INTO scratch VALUES (?)", (blob,))
    db.conn.execute("DELETE FROM scratch WHERE rowid < (SELECT max(rowid) - 8 FROM scratch)")


def _checkpoint_until(path: str, stop: threading.Event) -> None:
    """Another connection checkpointing all the time (a backup tool, the sqlite3 shell, or a slow fsync
    of the service's own background checkpoint): it holds the checkpoint lock most of the time."""
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        while not stop.is_set():
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        conn.close()


async def test_wal_stays_bounded_under_continuous_writes_and_is_truncated_when_idle(tmp_path: Path) -> None:
    cap, blob = 2 * MIB, bytes(256 * 1024)
    store = await asyncio.to_thread(Store, tmp_path / "wal.db", max_wal_bytes=cap)
    stop = threading.Event()
    other = threading.Thread(target=_checkpoint_until, args=(store.path, stop))
    other.start()
    try:
        written, largest = 0, 0
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:  # never idle for a second: only the cap can truncate
            await store.write(_scratch, blob)
            written += len(blob)
            largest = max(largest, store.wal_bytes())
        stop.set()
        assert written > 10 * cap, written
        assert store.checkpointer is not None and store.checkpointer.truncations >= 1
        # The cap plus what one batch adds before the writer truncates (about 0.3 MiB per 256-KiB blob),
        # however fast the disk. Writing on while the other checkpoint held the lock, the WAL reached 98 MiB
        # in CI (1.2 GiB written in 6 s) and 100-190 MiB here with the checkpointing thread above.
        assert largest < cap + 4 * len(blob), (largest, written)
        await eventually(lambda: store.wal_bytes() == 0, within=5)
    finally:
        stop.set()
        await asyncio.to_thread(other.join)
        await asyncio.to_thread(store.close)


async def test_with_little_space_left_the_wal_keeps_half_of_it_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint grows the database by up to the WAL's size: a WAL that took the space freed after a
    full disk (the backlog of acknowledged work, written without a pause) could never be checkpointed,
    and the disk stayed full. Under `storage.wal_max_bytes`, the cap is half the space left."""
    monkeypatch.setattr(checkpoint, "free_bytes", lambda path: 4 * MIB)
    blob = bytes(256 * 1024)
    store = await asyncio.to_thread(Store, tmp_path / "small.db")  # wal_max_bytes: 64 MiB
    try:
        written, largest = 0, 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # never idle for a second: only the cap can truncate
            await store.write(_scratch, blob)
            written += len(blob)
            largest = max(largest, store.wal_bytes())
        assert written > 10 * 2 * MIB, written
        assert largest < 2 * MIB + 4 * len(blob), (largest, written)
    finally:
        await asyncio.to_thread(store.close)


def test_the_wal_cap_is_the_setting_on_a_roomy_disk_and_never_below_a_mebibyte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "a.db")
    for free, cap in ((10_000 * MIB, 64 * MIB), (40 * MIB, 20 * MIB), (0, MIB), (None, 64 * MIB)):
        monkeypatch.setattr(checkpoint, "free_bytes", lambda path, free=free: free)
        assert checkpoint.wal_cap(path, 64 * MIB) == cap, free


async def test_a_reader_pinning_the_wal_costs_each_write_over_the_cap_the_busy_timeout_not_a_hang(
    tmp_path: Path,
) -> None:
    """Another connection in a read transaction keeps TRUNCATE from finishing: the writer waits for it up to
    its busy timeout, says so, and writes on; once the reader is gone the next write truncates."""
    cap, blob = 1 * MIB, bytes(256 * 1024)
    store = await asyncio.to_thread(Store, tmp_path / "pinned.db", busy_timeout=0.3, max_wal_bytes=cap)
    reader = sqlite3.connect(store.path, isolation_level=None)
    try:
        await store.write(_scratch, blob)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM scratch").fetchone()  # holds its snapshot of the WAL
        with capture_logs() as logs:
            started = time.monotonic()
            for _ in range(8):
                await store.write(_scratch, blob)
            waited = time.monotonic() - started
        busy = [e for e in logs if e["event"] == "wal_truncate_busy"]
        assert busy and all(e["waited_seconds"] == 0.3 for e in busy)
        assert waited < 8 * 2 * 0.3 + 2  # each write over the cap waits about the busy timeout, no more
        assert store.wal_bytes() > cap
        reader.execute("COMMIT")
        await store.write(_scratch, blob)
        await eventually(lambda: store.wal_bytes() < cap, within=5)
    finally:
        reader.close()
        await asyncio.to_thread(store.close)


async def test_wal_size_is_on_metrics(make_client: ClientFactory) -> None:
    client = await make_client()
    text = await (await client.get("/metrics")).text()
    assert "alert_analyst_storage_wal_bytes " in text and "alert_analyst_storage_database_bytes " in text


async def test_a_write_lock_held_elsewhere_makes_ready_503_quickly(make_client: ClientFactory) -> None:
    client = await make_client(storage={"busy_timeout_seconds": 1})
    path = client.app[STORE].path
    assert (await client.get("/-/ready")).status == 200
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert (await client.get("/-/ready")).status == 200  # a writer busy for a moment is no reason
        webhook = await client.post(
            "/webhook/alertmanager", data=FIRING, headers={"Content-Type": "application/json"}
        )
        assert webhook.status == 503
        ready = await client.get("/-/ready")  # held past the busy timeout: webhooks are refused
        assert ready.status == 503
        assert "the write lock has been held by another connection" in json.dumps(await ready.json())
        assert time.monotonic() - started < 6  # the 1-s busy timeout, twice, not 30-s waits
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (await client.get("/-/ready")).status == 200


@pytest.mark.parametrize("begin", ["BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"])
async def test_ready_answers_within_a_second_while_another_connection_writes(
    make_client: ClientFactory, begin: str
) -> None:
    """The probe waited for the write lock as long as a write does (storage.busy_timeout_seconds, 5 s):
    past Kubernetes' 1-s probe timeout, so a writer busy for two seconds failed the probe."""
    client = await make_client()
    other = sqlite3.connect(client.app[STORE].path, isolation_level=None)
    other.execute(begin)
    try:
        started = time.monotonic()
        ready = await client.get("/-/ready")
        assert time.monotonic() - started < 3
        assert ready.status == 200
        assert "the write lock is held by another connection" in await ready.text()
    finally:
        other.execute("ROLLBACK")
        other.close()
    ready = await client.get("/-/ready")
    assert ready.status == 200 and await ready.text() == "OK\n"


async def test_ready_is_503_once_the_write_lock_is_held_past_the_busy_timeout(
    make_client: ClientFactory,
) -> None:
    client = await make_client(storage={"busy_timeout_seconds": 1})
    other = sqlite3.connect(client.app[STORE].path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        assert (await client.get("/-/ready")).status == 200
        await asyncio.sleep(1)
        started = time.monotonic()
        ready = await client.get("/-/ready")
        assert time.monotonic() - started < 3
        assert ready.status == 503
        [problem] = (await ready.json())["problems"]
        assert "the write lock has been held by another connection for" in problem
        assert "storage.busy_timeout_seconds (1 s)" in problem
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (await client.get("/-/ready")).status == 200


async def test_a_full_database_makes_ready_503_until_a_write_succeeds(make_client: ClientFactory) -> None:
    client = await make_client()
    store = client.app[STORE]
    pages = await store.run(lambda db: db.conn.execute("PRAGMA page_count").fetchone()[0])
    await store.run(lambda db: db.conn.execute(f"PRAGMA max_page_count={pages}"))
    headers = {"Content-Type": "application/json"}
    big = json.loads(FIRING)
    big["commonAnnotations"] = {"padding": "x" * 200_000}
    assert (await client.post("/webhook/alertmanager", json=big, headers=headers)).status == 503
    ready = await client.get("/-/ready")
    assert ready.status == 503
    assert "full" in json.dumps(await ready.json())
    await store.run(lambda db: db.conn.execute("PRAGMA max_page_count=1073741823"))
    assert (await client.post("/webhook/alertmanager", data=FIRING, headers=headers)).status == 200
    assert (await client.get("/-/ready")).status == 200


def _slow_count(db: sqlite_utils.Database, seconds: float) -> int:
    time.sleep(seconds)  # a long analytical read (similar incidents over a large history)
    return int(db.conn.execute("SELECT count(*) FROM notifications").fetchone()[0])


async def test_a_long_read_does_not_hold_up_the_writes_webhooks_wait_for(tmp_path: Path) -> None:
    from receiver.payload import parse_webhook
    from receiver.storage.incidents import accept_notification

    store = await asyncio.to_thread(Store, tmp_path / "read.db")
    payload = parse_webhook(FIRING)
    await store.write(accept_notification, payload, FIRING)
    reading = asyncio.create_task(store.read(_slow_count, 1.5))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await store.write(accept_notification, payload, FIRING)
    assert time.monotonic() - started < 0.5  # on the writer's thread it would wait out the read
    assert await reading >= 1  # and the read sees committed data
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await store.read(lambda db: db.conn.execute("DELETE FROM notifications"))
    await asyncio.to_thread(store.close)
